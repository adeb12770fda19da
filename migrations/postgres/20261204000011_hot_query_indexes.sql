-- Indexes for queries that ran as scans (issue 11).
-- Inbox pruning, every 30 s on SQLite's one writer: handled rows by age.
CREATE INDEX inbox_handled_by_age ON inbox (received_at) WHERE handled_at IS NOT NULL;
-- "Was a job of this lane refused lately?" (one warning per lasting problem).
CREATE INDEX outbox_refused_by_lane ON outbox (lane, failed_at) WHERE failed_at IS NOT NULL;
-- "Does this lane still have work?" (topic repair).
CREATE INDEX outbox_pending_by_lane ON outbox (lane) WHERE done_at IS NULL AND failed_at IS NULL;
-- /stats and insights read tickets by opening time.
CREATE INDEX tickets_by_created_at ON tickets (created_at);
