-- The output guard's memory: which runs (n-grams, by a short hash) of each protected text
-- a student has been shown, and when. Within the guard's window they count toward that
-- text's limit in every later answer, so a solution asked for a line at a time, across
-- answers and conversations, is stopped like one asked for at once.
CREATE TABLE guard_reveals (
    user_name text NOT NULL,
    course_id text NOT NULL,
    fingerprint text NOT NULL,
    gram text NOT NULL,
    revealed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_name, course_id, fingerprint, gram)
);
CREATE INDEX guard_reveals_recent ON guard_reveals (user_name, course_id, revealed_at);
