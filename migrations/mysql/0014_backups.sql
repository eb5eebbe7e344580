-- Backups of whole wikis and restores; see migrations/sqlite/0014_backups.sql.
CREATE TABLE IF NOT EXISTS backups (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    wiki_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    requested_by VARCHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    settings_revision BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    pages BIGINT NOT NULL DEFAULT 0,
    error VARCHAR(2000) NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT NULL,
    finished_at BIGINT NULL,
    KEY backups_wiki (wiki_id, id),
    KEY backups_state (state, id),
    CONSTRAINT backups_wiki_fk FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS restores (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    wiki_id BIGINT NOT NULL,
    backup_id BIGINT NOT NULL,
    requested_by VARCHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    error VARCHAR(2000) NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT NULL,
    KEY restores_state (state, id),
    KEY restores_wiki (wiki_id, id),
    CONSTRAINT restores_wiki_fk FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE,
    CONSTRAINT restores_backup_fk FOREIGN KEY (backup_id) REFERENCES backups (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
