-- The durable outbox (DESIGN §9): every message the bot sends is a row here
-- before it is sent, and marked done once Telegram accepted it. Rows of one
-- lane (a ticket's topic, a customer's chat) are sent in id order.
CREATE TABLE outbox (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    lane              TEXT    NOT NULL,
    priority          INTEGER NOT NULL,
    job               TEXT    NOT NULL,
    -- "<update id>:<n>" for the n-th effect of an update: a replayed update
    -- enqueues nothing twice.
    dedupe_key        TEXT    UNIQUE,
    ticket_id         BIGINT,
    created_at        BIGINT  NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    done_at           BIGINT,
    failed_at         BIGINT,
    error             TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE done_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_finished ON outbox (created_at) WHERE done_at IS NOT NULL OR failed_at IS NOT NULL;
