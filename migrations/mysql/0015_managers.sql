-- Managers of a wiki; see migrations/sqlite/0015_managers.sql.
CREATE TABLE IF NOT EXISTS wiki_managers (
    wiki_id BIGINT NOT NULL,
    username VARCHAR(64) NOT NULL,
    added_by VARCHAR(64) NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (wiki_id, username),
    KEY wiki_managers_username (username),
    CONSTRAINT wiki_managers_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
