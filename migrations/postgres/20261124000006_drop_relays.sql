-- The relay log is replaced by the outbox, whose dedupe keys make every
-- effect of an update (not only relays) exactly-once across replays.
DROP TABLE relays;
