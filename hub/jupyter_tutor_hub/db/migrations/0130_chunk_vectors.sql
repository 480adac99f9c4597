-- Each chunk's embedding in a narrow table of its own, partitioned per course as chunks are
-- (0120). A course's exact vector scan (course/search.py) then reads vectors and nothing
-- else, and a chunk's row, without its 1.5 kB vector, keeps its full-text vector in the
-- row: before, a row of text, tsv and vector passed PostgreSQL's 2 kB toasting threshold
-- and the tsv (the largest compressible part) went out of line, so every full-text match
-- cost a TOAST lookup. A 5,000-chunk course's hybrid search went from 8.8 / 11.6 to
-- 6.3 / 9.2 ms (p50 / p95, docs/performance.md).
--
-- The database keeps the two in step: a vector goes with its chunk (the trigger below, and
-- with its course by the foreign key) and carries its chunk's visibility, which search
-- filters on. Ingest writes both in one statement.
--
-- Upgrading moves every vector and rewrites every chunk once (its tsv computed again).

CREATE TABLE chunk_vectors (
    chunk_id       bigint NOT NULL,
    course_id      text NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    visibility     text NOT NULL,
    embedding_dim  integer NOT NULL,
    -- In the row (a vector does not compress; a row of one fits a page with room).
    embedding      vector STORAGE MAIN NOT NULL
) PARTITION BY LIST (course_id);

-- A new course's tables, both made as its row is inserted (0120's trigger calls this).
CREATE OR REPLACE FUNCTION tutor_chunks_partition(course text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    suffix text := left(md5(course), 16);
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF chunks FOR VALUES IN (%L)',
                   'chunks_of_' || suffix, course);
    EXECUTE format('COMMENT ON TABLE %I IS %L', 'chunks_of_' || suffix,
                   'Chunks of course ' || course);
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF chunk_vectors'
                   ' FOR VALUES IN (%L)', 'chunk_vectors_of_' || suffix, course);
    EXECUTE format('COMMENT ON TABLE %I IS %L', 'chunk_vectors_of_' || suffix,
                   'Chunk embeddings of course ' || course);
END $$;
SELECT tutor_chunks_partition(id) FROM courses;

INSERT INTO chunk_vectors (chunk_id, course_id, visibility, embedding_dim, embedding)
SELECT id, course_id, visibility, embedding_dim, embedding
FROM chunks WHERE embedding IS NOT NULL AND embedding_dim IS NOT NULL;

CREATE INDEX chunk_vectors_chunk ON chunk_vectors (chunk_id);

-- The HNSW index for one embedding dimension, on every course's partition: made here for
-- the dimensions in use (384 always), and by ingest when a course brings a new one
-- (course/vector_index.py, whose search expression it must match).
CREATE FUNCTION tutor_vector_index(dim integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS %I ON chunk_vectors'
        ' USING hnsw ((embedding::vector(%s)) vector_cosine_ops) WHERE embedding_dim = %s',
        'chunk_vectors_embedding_' || dim, dim, dim);
END $$;
SELECT tutor_vector_index(dim) FROM (
    SELECT 384 UNION SELECT embedding_dim FROM courses
    WHERE embedding_dim IS NOT NULL AND embedding_dim <= 2000
) AS in_use (dim);

-- Dropping the columns drops their HNSW indexes; setting the generated column's (same)
-- expression rewrites every row without them, so the tsv comes back into the row.
ALTER TABLE chunks DROP COLUMN embedding, DROP COLUMN embedding_dim;
ALTER TABLE chunks ALTER COLUMN tsv SET EXPRESSION AS (
    setweight(to_tsvector('english', coalesce(heading, '')), 'A')
    || setweight(to_tsvector('english', text), 'B')
);

CREATE FUNCTION tutor_chunk_vectors_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM chunk_vectors WHERE course_id = OLD.course_id AND chunk_id = OLD.id;
    ELSE
        UPDATE chunk_vectors SET visibility = NEW.visibility
        WHERE course_id = NEW.course_id AND chunk_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER chunks_vectors_follow AFTER DELETE OR UPDATE OF visibility ON chunks
    FOR EACH ROW EXECUTE FUNCTION tutor_chunk_vectors_follow();
