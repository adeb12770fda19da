-- Tickets: one row per customer conversation; one forum topic each.
-- Times are unix milliseconds (the same on SQLite and PostgreSQL).
CREATE TABLE tickets (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id            BIGINT  NOT NULL,
    customer_chat_id       BIGINT  NOT NULL,
    customer_name          TEXT    NOT NULL,
    customer_username      TEXT,
    language               TEXT    NOT NULL,
    category               TEXT    NOT NULL,
    required_skill         TEXT    NOT NULL,
    description            TEXT    NOT NULL,
    description_message_id BIGINT  NOT NULL,
    description_has_media  BOOLEAN NOT NULL DEFAULT FALSE,
    status                 TEXT    NOT NULL DEFAULT 'open',
    thread_id              BIGINT,
    note_message_id        BIGINT,
    tier                   TEXT,
    priority               BIGINT  NOT NULL DEFAULT 0,
    assignee_id            BIGINT,
    routing_reason         TEXT,
    created_at             BIGINT  NOT NULL,
    first_response_at      BIGINT,
    closed_at              BIGINT
);
-- A customer has at most one open ticket: their private chat maps to it.
CREATE UNIQUE INDEX tickets_one_open_per_customer ON tickets (customer_id) WHERE status = 'open';
CREATE UNIQUE INDEX tickets_by_thread ON tickets (thread_id) WHERE thread_id IS NOT NULL;

-- Intake dialogue state per private chat, so a restart resumes where the customer was.
CREATE TABLE dialogues (
    chat_id    BIGINT PRIMARY KEY,
    state      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Durable inbox: every update is stored before its offset is confirmed to
-- Telegram, and marked handled once its effects are written.
CREATE TABLE inbox (
    update_id   BIGINT PRIMARY KEY,
    payload     TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    handled_at  BIGINT,
    error       TEXT
);
CREATE INDEX inbox_pending ON inbox (update_id) WHERE handled_at IS NULL;
