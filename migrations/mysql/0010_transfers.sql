-- Ownership transfers; see migrations/sqlite/0010_transfers.sql.
CREATE TABLE IF NOT EXISTS wiki_transfers (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    wiki_id BIGINT NOT NULL,
    from_owner VARCHAR(64) NOT NULL,
    to_owner VARCHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT NULL,
    KEY wiki_transfers_to_state (to_owner, state),
    KEY wiki_transfers_wiki_state (wiki_id, state),
    CONSTRAINT wiki_transfers_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
