-- The course passages an answer was grounded in, stored with the answer when it starts, so a
-- conversation reopened from the history shows its sources as it did when it streamed.
ALTER TABLE messages ADD COLUMN citations jsonb NOT NULL DEFAULT '[]'::jsonb;
