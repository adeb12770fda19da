-- The update that made a roster change: the change and its audit row are
-- written together, at most once per update, so a replay after a crash
-- finds the change made instead of making (and logging) it again.
ALTER TABLE audit_log ADD COLUMN update_id BIGINT;
CREATE UNIQUE INDEX audit_log_update ON audit_log (update_id) WHERE update_id IS NOT NULL;
