-- Agents, their skills, and an audit trail of every roster change.
CREATE TABLE agents (
    user_id      BIGINT  PRIMARY KEY,
    display_name TEXT    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'available',
    capacity     BIGINT  NOT NULL DEFAULT 5,
    -- When the agent last got a ticket or became available (longest idle first).
    idle_since   BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL
);

CREATE TABLE agent_skills (
    user_id BIGINT NOT NULL REFERENCES agents (user_id) ON DELETE CASCADE,
    skill   TEXT   NOT NULL,
    level   BIGINT NOT NULL CHECK (level BETWEEN 1 AND 3),
    PRIMARY KEY (user_id, skill)
);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       BIGINT NOT NULL,
    actor_id BIGINT NOT NULL,
    action   TEXT   NOT NULL,
    subject  BIGINT,
    details  TEXT   NOT NULL DEFAULT ''
);

-- Routing results kept with the ticket for audits (DESIGN §5).
ALTER TABLE tickets ADD COLUMN enrichment TEXT;
ALTER TABLE tickets ADD COLUMN routing_rule TEXT;
ALTER TABLE tickets ADD COLUMN assigned_at BIGINT;

-- The queue: open, unassigned, by priority then age.
CREATE INDEX tickets_queue ON tickets (priority DESC, created_at, id) WHERE status = 'open' AND assignee_id IS NULL;
CREATE INDEX tickets_open_by_assignee ON tickets (assignee_id) WHERE status = 'open' AND assignee_id IS NOT NULL;
