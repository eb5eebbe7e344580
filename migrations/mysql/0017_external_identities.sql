-- Logins through identity providers; see migrations/sqlite/0017_external_identities.sql.
CREATE TABLE IF NOT EXISTS external_identities (
    provider VARCHAR(32) NOT NULL,
    subject VARCHAR(255) NOT NULL,
    account_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT NULL,
    PRIMARY KEY (provider, subject),
    KEY external_identities_account (account_id),
    CONSTRAINT external_identities_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS external_logins (
    id_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    purpose VARCHAR(16) NOT NULL,
    provider VARCHAR(32) NOT NULL,
    presession_hash VARCHAR(64) NOT NULL,
    payload VARCHAR(8000) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    KEY external_logins_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
