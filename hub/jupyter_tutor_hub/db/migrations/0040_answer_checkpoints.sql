-- Answers are stored while they stream: the gateway writes the assistant's row when the
-- answer starts (status 'streaming') and checkpoints its content every few seconds, so a
-- gateway killed mid-answer leaves the partial answer behind. A 'streaming' row whose
-- checkpoint is stale belongs to a dead gateway and reads as 'interrupted'.
ALTER TABLE messages ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX messages_streaming ON messages (updated_at) WHERE status = 'streaming';
