-- An agent's @username as last seen in the group, so commands accept
-- `@alice` where a user id is expected (issue 11).
ALTER TABLE agents ADD COLUMN username TEXT;
