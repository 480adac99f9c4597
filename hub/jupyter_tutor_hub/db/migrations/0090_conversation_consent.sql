-- Consent, recorded per conversation when it is created: whether the student had been told
-- that this course's instructors may read their conversations (tutor.yaml
-- privacy.instructors_read_conversations, as published at that moment). The dashboard shows
-- a conversation only where this is true *and* the course still allows it, so switching the
-- setting on later never exposes what was said under the promise of privacy. Conversations
-- created before consent was recorded count as not consented.
ALTER TABLE conversations ADD COLUMN instructors_may_read boolean NOT NULL DEFAULT false;
