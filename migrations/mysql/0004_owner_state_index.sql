-- Same logical change as migrations/sqlite/0004_owner_state_index.sql.
CREATE INDEX IF NOT EXISTS wikis_owner_state_id ON wikis (owner, state, id);
