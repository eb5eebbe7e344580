-- The wiki registry and the provisioning pipeline's record of finished steps.
-- Same logical schema as migrations/sqlite/0001_wikis.sql; see the comments there. Strings
-- compare bytewise (utf8mb4_bin) like SQLite. No TEXT columns: sqlx's Any driver reads
-- MariaDB's TEXT as a BLOB, so long strings are bounded VARCHARs.
-- Every statement is idempotent (IF NOT EXISTS): MariaDB commits each DDL statement on its
-- own, so a daemon killed in the middle of a migration leaves it half applied, and the next
-- start runs it again from the top (see `Store::migrate`).
CREATE TABLE IF NOT EXISTS wikis (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(63) NULL,
    label VARCHAR(63) NOT NULL,
    resource_key VARCHAR(32) NOT NULL,
    sitename VARCHAR(400) NOT NULL,
    language VARCHAR(40) NOT NULL,
    owner VARCHAR(64) NOT NULL,
    backend VARCHAR(16) NOT NULL,
    state VARCHAR(16) NOT NULL,
    failure VARCHAR(2000) NULL,
    owner_password_hash VARCHAR(255) NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    activated_at BIGINT NULL,
    deleted_at BIGINT NULL,
    UNIQUE KEY wikis_name (name),
    UNIQUE KEY wikis_resource_key (resource_key),
    KEY wikis_owner_id (owner, id),
    KEY wikis_state_id (state, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS wiki_steps (
    wiki_id BIGINT NOT NULL,
    step VARCHAR(32) NOT NULL,
    done_at BIGINT NOT NULL,
    PRIMARY KEY (wiki_id, step),
    CONSTRAINT wiki_steps_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
