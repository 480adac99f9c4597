-- Full-text search is always scoped to one course (course/search.py): index the course with
-- the words, so a search reads only its own course's matches. The index over every course's
-- tsv matched a word in all of them and left the course to a second index and a BitmapAnd
-- (at 60 courses of 5,000 chunks: 12,404 entries read for the course's 201). btree_gin gives
-- GIN the course_id column; it ships with PostgreSQL and is trusted (13+), so the
-- database's owner may create it. Protected chunks are never text-searched.
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX chunks_course_tsv ON chunks USING gin (course_id, tsv)
    WHERE visibility = 'student';
DROP INDEX chunks_tsv;
