-- Ticket lifecycle and satisfaction (DESIGN §13): the customer's rating
-- (1-5, the last tap wins) and when it was given; the customer's latest
-- closed ticket found by index (a message within REOPEN_WINDOW reopens it).
ALTER TABLE tickets ADD COLUMN csat BIGINT;
ALTER TABLE tickets ADD COLUMN csat_at BIGINT;
CREATE INDEX tickets_by_customer ON tickets (customer_id, closed_at);
