-- Which protected exercises the output guard withheld in the answer to each question
-- (the exercise whose solution was reproduced, which need not be the one the student is
-- on), so the instructors' dashboard can count withheld answers per exercise.
ALTER TABLE tutor_questions ADD COLUMN withheld text[] NOT NULL DEFAULT '{}';
