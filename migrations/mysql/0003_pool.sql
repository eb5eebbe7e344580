-- Same logical change as migrations/sqlite/0003_pool.sql.
CREATE TABLE IF NOT EXISTS pool_entries (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    resource_key VARCHAR(32) NOT NULL,
    backend VARCHAR(16) NOT NULL,
    db_server VARCHAR(32) NOT NULL,
    language VARCHAR(40) NOT NULL,
    mw_version VARCHAR(32) NOT NULL,
    db_password_sealed VARCHAR(255) NULL,
    state VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY pool_entries_key (resource_key),
    KEY pool_entries_claim (backend, db_server, language, mw_version, state)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE wikis ADD COLUMN IF NOT EXISTS pooled BIGINT NOT NULL DEFAULT 0;
