-- Relays already delivered, by the update that caused them: a replayed update
-- (after a crash between Telegram accepting the copy and the inbox being
-- marked handled) is not relayed twice.
CREATE TABLE relays (
    update_id         BIGINT PRIMARY KEY,
    ticket_id         BIGINT NOT NULL,
    direction         TEXT   NOT NULL,
    target_chat       BIGINT NOT NULL,
    target_message_id BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);
