-- Premium override (DESIGN §6): when a premium ticket's first-response
-- deadline passes, the sweeper re-routes it to any available agent.
-- override_due_at is set while a deadline is pending and cleared by the first
-- agent response or closing; the partial index makes finding overdue tickets
-- cost O(overdue), not O(all tickets).
ALTER TABLE tickets ADD COLUMN override_due_at BIGINT;
ALTER TABLE tickets ADD COLUMN escalation_count BIGINT NOT NULL DEFAULT 0;
CREATE INDEX tickets_override_due ON tickets (override_due_at) WHERE override_due_at IS NOT NULL;

-- One row per re-assignment by the override; (ticket, deadline) is unique,
-- so no deadline is acted on twice, however many instances sweep.
CREATE TABLE escalations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  BIGINT NOT NULL REFERENCES tickets (id),
    due_at     BIGINT NOT NULL,
    from_agent BIGINT,
    to_agent   BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    UNIQUE (ticket_id, due_at)
);
