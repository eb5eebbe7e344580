-- Old names of renamed wikis; see migrations/sqlite/0009_renames.sql.
CREATE TABLE IF NOT EXISTS wiki_redirects (
    name VARCHAR(63) NOT NULL PRIMARY KEY,
    wiki_id BIGINT NOT NULL,
    until BIGINT NOT NULL,
    CONSTRAINT wiki_redirects_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
