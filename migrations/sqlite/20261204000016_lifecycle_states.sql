-- Ticket lifecycle states (DESIGN §13): waiting -> assigned -> answered ->
-- closed, each with its timestamp. `answered_at` is the first agent message
-- that reached the customer since the ticket was (re)opened; a reopen clears
-- it and records `reopened_at` (first_response_at keeps the very first, for
-- first-response-time figures).
ALTER TABLE tickets ADD COLUMN answered_at BIGINT;
ALTER TABLE tickets ADD COLUMN reopened_at BIGINT;
UPDATE tickets SET answered_at = first_response_at;
