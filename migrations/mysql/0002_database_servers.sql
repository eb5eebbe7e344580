-- Same logical change as migrations/sqlite/0002_database_servers.sql.
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS db_server VARCHAR(32) NULL, ADD COLUMN IF NOT EXISTS db_password_sealed VARCHAR(255) NULL;
CREATE INDEX IF NOT EXISTS wikis_db_server ON wikis (db_server, state);

CREATE TABLE IF NOT EXISTS db_cleanups (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    db_server VARCHAR(32) NOT NULL,
    resource_key VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
