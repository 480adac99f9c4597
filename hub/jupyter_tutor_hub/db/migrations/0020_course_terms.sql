-- Document frequencies of the words in each course's student-visible chunks, refreshed by
-- ingest.  Full-text ranking weighs each question word by its rarity in the course (BM25's
-- inverse document frequency) and takes candidates from the rarer words only; counting
-- matches at query time instead made a search of a 100k-chunk course take ~0.3-0.7 s.
CREATE TABLE course_terms (
    course_id  text NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    lexeme     text NOT NULL,
    chunks     integer NOT NULL,
    PRIMARY KEY (course_id, lexeme)
);
ALTER TABLE courses ADD COLUMN student_chunks integer NOT NULL DEFAULT 0;
