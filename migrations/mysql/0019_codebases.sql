-- See migrations/sqlite/0019_codebases.sql.
ALTER TABLE wikis ADD COLUMN codebase VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE maintenance_runs ADD COLUMN upgrade_to VARCHAR(64) NULL;
ALTER TABLE maintenance_run_wikis ADD COLUMN canary BIGINT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS codebase_versions (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    path VARCHAR(1000) NOT NULL,
    version VARCHAR(128) NOT NULL,
    seen_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
