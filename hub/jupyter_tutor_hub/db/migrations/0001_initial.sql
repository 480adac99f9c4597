-- The first schema: course material (documents, chunks with embeddings and full-text
-- vectors), conversations with their messages, and metered usage.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE courses (
    id               text PRIMARY KEY,
    title            text NOT NULL DEFAULT '',
    root_path        text,
    embedding_model  text,
    embedding_dim    integer,
    settings         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE documents (
    id            bigserial PRIMARY KEY,
    course_id     text NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    path          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('notebook', 'markdown', 'python')),
    title         text NOT NULL DEFAULT '',
    content_hash  text NOT NULL,
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (course_id, path)
);

CREATE TABLE chunks (
    id             bigserial PRIMARY KEY,
    document_id    bigint NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    course_id      text NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    ordinal        integer NOT NULL,
    cell_index     integer,
    cell_end       integer,
    heading        text NOT NULL DEFAULT '',
    kind           text NOT NULL DEFAULT 'markdown',
    text           text NOT NULL,
    content_hash   text NOT NULL,
    visibility     text NOT NULL DEFAULT 'student' CHECK (visibility IN ('student', 'protected')),
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    embedding      vector,
    embedding_dim  integer,
    tsv            tsvector GENERATED ALWAYS AS (
                       setweight(to_tsvector('english', coalesce(heading, '')), 'A')
                       || setweight(to_tsvector('english', text), 'B')
                   ) STORED
);
CREATE INDEX chunks_document ON chunks (document_id);
CREATE INDEX chunks_course_visibility ON chunks (course_id, visibility);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
-- The default embedder (all-MiniLM-L6-v2) has 384 dimensions; an index for another
-- dimension is created when a course is ingested with another model.
CREATE INDEX chunks_embedding_384 ON chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WHERE embedding_dim = 384;

CREATE TABLE conversations (
    id             uuid PRIMARY KEY,
    user_name      text NOT NULL,
    course_id      text,
    title          text NOT NULL DEFAULT '',
    notebook_path  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_user ON conversations (user_name, updated_at DESC);

CREATE TABLE messages (
    id               bigserial PRIMARY KEY,
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role             text NOT NULL CHECK (role IN ('user', 'assistant')),
    content          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'complete'
                     CHECK (status IN ('complete', 'streaming', 'interrupted', 'error')),
    model            text,
    request_id       text,
    latency_ms       integer,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE usage (
    id                           bigserial PRIMARY KEY,
    user_name                    text NOT NULL,
    conversation_id              uuid REFERENCES conversations(id) ON DELETE SET NULL,
    message_id                   bigint REFERENCES messages(id) ON DELETE SET NULL,
    model                        text NOT NULL,
    input_tokens                 integer NOT NULL DEFAULT 0,
    output_tokens                integer NOT NULL DEFAULT 0,
    cache_creation_input_tokens  integer NOT NULL DEFAULT 0,
    cache_read_input_tokens      integer NOT NULL DEFAULT 0,
    cost_usd                     numeric(12, 6) NOT NULL DEFAULT 0,
    created_at                   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_user_time ON usage (user_name, created_at);
