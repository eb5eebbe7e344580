-- The warm pool: databases built ahead of demand, claimed by new wikis. A claim deletes the
-- entry and inserts the wiki (with the entry's resource key) in one transaction.
CREATE TABLE pool_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_key TEXT NOT NULL UNIQUE,
    backend TEXT NOT NULL,
    -- The server for MariaDB entries; '' for SQLite (so it can take part in the index).
    db_server TEXT NOT NULL,
    language TEXT NOT NULL,
    mw_version TEXT NOT NULL,
    db_password_sealed TEXT,
    -- 'filling' while being built (torn down at start-up if found), then 'ready'.
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX pool_entries_claim ON pool_entries (backend, db_server, language, mw_version, state);

-- 1 when the wiki's database came from the pool: its database exists already and only the
-- owner is put in place.
ALTER TABLE wikis ADD COLUMN pooled INTEGER NOT NULL DEFAULT 0;
