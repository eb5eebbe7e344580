-- MariaDB wikis: the server a wiki's database lives on and its sealed database password
-- (encrypted with the key in data/credentials.key). NULL for SQLite wikis.
ALTER TABLE wikis ADD COLUMN db_server TEXT;
ALTER TABLE wikis ADD COLUMN db_password_sealed TEXT;
CREATE INDEX wikis_db_server ON wikis (db_server, state);

-- Databases and users that may exist on a server without a wiki to own them: left behind
-- when a wiki moved to another server because its first one was down. Dropped once the
-- server answers again.
CREATE TABLE db_cleanups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    db_server TEXT NOT NULL,
    resource_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
