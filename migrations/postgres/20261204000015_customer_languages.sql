-- A customer's chosen language (DESIGN §14: /language), over Telegram's.
CREATE TABLE customer_languages (
    customer_id BIGINT PRIMARY KEY,
    language    TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL
);
