-- Finding what one update changed (its replay posts the notes of the
-- tickets it assigned) is an indexed read.
CREATE INDEX tickets_state_update ON tickets (state_update_id) WHERE state_update_id IS NOT NULL;
