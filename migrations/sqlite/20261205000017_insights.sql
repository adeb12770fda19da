-- Insights (DESIGN §15).
--
-- One row per CRM call made (or refused by the circuit breaker) for a
-- ticket: what `/audit` counts, kept rather than re-read from logs.
-- outcome: ok | invalid_fields | invalid_body | timeout | http_error |
--          connection | circuit_open | other
CREATE TABLE crm_calls (
    ticket_id          BIGINT  PRIMARY KEY,
    at                 BIGINT  NOT NULL,
    outcome            TEXT    NOT NULL,
    latency_ms         BIGINT,
    http_status        BIGINT,
    -- Names of the fields dropped as invalid, sorted, comma-separated.
    invalid_fields     TEXT    NOT NULL DEFAULT '',
    -- The same fields as `name value (why)`, joined with "; ".
    invalid_values     TEXT    NOT NULL DEFAULT '',
    tier               TEXT,
    preferred_agent_id BIGINT,
    opened_circuit     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX crm_calls_by_at ON crm_calls (at);

-- Messages the bot sent into the support group, per minute, and the longest
-- a message of that minute waited in the outbox: the group's budget against
-- Telegram's 20 messages per minute.
CREATE TABLE group_minutes (
    minute          BIGINT PRIMARY KEY,
    messages        BIGINT NOT NULL,
    longest_wait_ms BIGINT NOT NULL
);

-- /stats and /export read tickets by when they were opened (an index exists,
-- tickets_by_created_at); per-agent figures and closures by their own times.
CREATE INDEX tickets_by_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX escalations_by_at ON escalations (at);
CREATE INDEX audit_log_by_action_at ON audit_log (action, at);
