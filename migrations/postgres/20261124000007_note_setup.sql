-- A posted note whose pin (and, for a new ticket, the copy of the
-- description's attachment) is not done yet: a job interrupted after the
-- note was saved finishes these on its next run instead of skipping them.
ALTER TABLE tickets ADD COLUMN note_setup_pending BOOLEAN NOT NULL DEFAULT FALSE;
