-- Every relayed message and its copy on the other side (DESIGN §12), so a
-- reply or an edit on one side finds its counterpart with one indexed read.
CREATE TABLE message_pairs (
    origin_chat     BIGINT NOT NULL,
    origin_message  BIGINT NOT NULL,
    copy_chat       BIGINT NOT NULL,
    copy_message    BIGINT NOT NULL,
    ticket_id       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (origin_chat, origin_message)
);
CREATE UNIQUE INDEX message_pairs_by_copy ON message_pairs (copy_chat, copy_message);
