-- Exports of whole wikis; see migrations/sqlite/0011_exports.sql.
CREATE TABLE IF NOT EXISTS exports (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    wiki_id BIGINT NOT NULL,
    requested_by VARCHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    phase VARCHAR(16) NOT NULL,
    done_items BIGINT NOT NULL DEFAULT 0,
    total_items BIGINT NOT NULL DEFAULT 0,
    bytes BIGINT NOT NULL DEFAULT 0,
    error VARCHAR(2000) NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT NULL,
    expires_at BIGINT NULL,
    KEY exports_state (state, id),
    CONSTRAINT exports_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
