-- Each course's chunks in a partition of their own (LIST on course_id). Every search is
-- scoped to one course (course/search.py), so PostgreSQL reads only that course's table:
-- its own full-text index (the composite (course_id, tsv) index over every course read
-- posting lists that spanned all of them), its own rows for the exact vector scan, and,
-- for courses large enough to search through HNSW, an HNSW graph of that course alone
-- (a filtered graph over every course loses recall when the course is a small share).
-- At 200 courses of 5,000 chunks a search costs what the course alone in its own
-- database does (docs/performance.md).
--
-- A new course gets its partition when its row is inserted (the trigger below), in the
-- inserting transaction, so no code path can write chunks for a course without one; there
-- is no default partition, so a chunk that somehow had none would fail loudly instead of
-- landing in a table every search would have to read. Partitions are named from a hash of
-- the course id (ids are free text) and carry the id in their comment.
--
-- Rows are moved from the old table; their full-text vectors are computed again (about
-- 40 s per 100,000 chunks on 2 cores).

CREATE FUNCTION tutor_chunks_partition(course text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := 'chunks_of_' || left(md5(course), 16);
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF chunks FOR VALUES IN (%L)',
                   name, course);
    EXECUTE format('COMMENT ON TABLE %I IS %L', name, 'Chunks of course ' || course);
END $$;

CREATE FUNCTION tutor_chunks_partition_for_new_course() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tutor_chunks_partition(NEW.id);
    RETURN NULL;
END $$;

ALTER TABLE chunks RENAME TO chunks_before_0120;
ALTER SEQUENCE chunks_id_seq OWNED BY NONE;

-- The same columns (defaults, the generated full-text vector, checks, storage) as before.
CREATE TABLE chunks (
    LIKE chunks_before_0120
        INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING STORAGE,
    FOREIGN KEY (document_id) REFERENCES documents(id) ON DELETE CASCADE,
    FOREIGN KEY (course_id) REFERENCES courses(id) ON DELETE CASCADE
) PARTITION BY LIST (course_id);
ALTER SEQUENCE chunks_id_seq OWNED BY chunks.id;

SELECT tutor_chunks_partition(id) FROM courses;
CREATE TRIGGER courses_chunks_partition AFTER INSERT ON courses
    FOR EACH ROW EXECUTE FUNCTION tutor_chunks_partition_for_new_course();

INSERT INTO chunks (id, document_id, course_id, ordinal, cell_index, cell_end, heading, kind,
                    text, content_hash, visibility, metadata, embedding, embedding_dim)
SELECT id, document_id, course_id, ordinal, cell_index, cell_end, heading, kind,
       text, content_hash, visibility, metadata, embedding, embedding_dim
FROM chunks_before_0120;
DROP TABLE chunks_before_0120;

-- The indexes, on every partition (and on those created later). Each partition holds one
-- course, so the course id no longer leads them: a course's rows are found by id within its
-- partition, and its full-text index holds its own words only. Ids stay unique by their
-- one sequence but have no key constraint: a partition's inherited constraint cannot be
-- dropped on its own, which `pg_restore --clean` (`jupyter-tutor db restore`) does.
CREATE INDEX chunks_id ON chunks (id);
CREATE INDEX chunks_document ON chunks (document_id);
CREATE INDEX chunks_visibility ON chunks (visibility);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv) WHERE visibility = 'student';
-- One HNSW index per embedding dimension in use (course/vector_index.py), 384 always.
DO $$
DECLARE
    dim integer;
BEGIN
    FOR dim IN
        SELECT 384 UNION SELECT embedding_dim FROM courses
        WHERE embedding_dim IS NOT NULL AND embedding_dim <= 2000
    LOOP
        EXECUTE format(
            'CREATE INDEX %I ON chunks USING hnsw ((embedding::vector(%s)) vector_cosine_ops)'
            ' WHERE embedding_dim = %s', 'chunks_embedding_' || dim, dim, dim);
    END LOOP;
END $$;
