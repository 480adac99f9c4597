-- What instructors publish (a course's tutor.yaml and its notebooks' tutor metadata) and
-- what the gateway learns while applying it: each student's hint ladder per exercise,
-- one row per question for the instructors' analytics, and feedback on answers.

CREATE TABLE course_policies (
    course_id     text PRIMARY KEY,
    config        jsonb NOT NULL,
    source_path   text,
    published_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notebook_policies (
    course_id  text NOT NULL REFERENCES course_policies(course_id) ON DELETE CASCADE,
    path       text NOT NULL,
    settings   jsonb NOT NULL,
    PRIMARY KEY (course_id, path)
);

-- level: the rung of the last answer (1 nudge, 2 hint, 3 worked example); pending: a
-- "still stuck" already climbed a rung that the next answer uses.
CREATE TABLE hint_ladder (
    user_name     text NOT NULL,
    course_id     text NOT NULL,
    exercise_key  text NOT NULL,
    level         smallint NOT NULL CHECK (level BETWEEN 1 AND 3),
    pending       boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_name, course_id, exercise_key)
);

-- One row per question a student asked (tool rounds of the same question excluded).
CREATE TABLE tutor_questions (
    id               bigserial PRIMARY KEY,
    course_id        text NOT NULL,
    user_name        text NOT NULL,
    conversation_id  uuid REFERENCES conversations(id) ON DELETE CASCADE,
    notebook_path    text,
    cell_index       integer,
    exercise         text,
    ladder_key       text,
    policy           text NOT NULL,
    kind             text NOT NULL DEFAULT 'question',
    hint_level       smallint,
    error_type       text,
    missing_context  boolean NOT NULL DEFAULT false,
    guarded          boolean NOT NULL DEFAULT false,
    request_id       text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tutor_questions_course_time ON tutor_questions (course_id, created_at);
CREATE INDEX tutor_questions_conversation ON tutor_questions (conversation_id, id);

-- up/down is one rating per answer (the latest counts); every "still stuck" is kept.
CREATE TABLE feedback (
    id               bigserial PRIMARY KEY,
    user_name        text NOT NULL,
    course_id        text,
    conversation_id  uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    message_id       bigint NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    vote             text NOT NULL CHECK (vote IN ('up', 'down', 'stuck')),
    comment          text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX feedback_one_rating ON feedback (message_id) WHERE vote IN ('up', 'down');
CREATE INDEX feedback_course_time ON feedback (course_id, created_at);
