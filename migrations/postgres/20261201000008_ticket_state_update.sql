-- The update that last closed or reopened a ticket: a replay of that update
-- (after a crash before its inbox mark) recognises its own change and
-- finishes what it started instead of reporting "already closed".
ALTER TABLE tickets ADD COLUMN state_update_id BIGINT;
