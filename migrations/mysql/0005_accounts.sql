-- Same logical change as migrations/sqlite/0005_accounts.sql; see the comments there.
CREATE TABLE IF NOT EXISTS accounts (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(64) NOT NULL,
    username_key VARCHAR(64) NOT NULL,
    email VARCHAR(254) NOT NULL,
    email_key VARCHAR(254) NOT NULL,
    password_hash VARCHAR(255) NULL,
    role VARCHAR(16) NOT NULL,
    email_confirmed_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY accounts_username_key (username_key),
    UNIQUE KEY accounts_email_key (email_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS sessions (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NULL,
    KEY sessions_account (account_id),
    CONSTRAINT sessions_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS account_tokens (
    token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    purpose VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NULL,
    KEY account_tokens_account (account_id, purpose),
    CONSTRAINT account_tokens_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS wiki_requests (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    requester VARCHAR(64) NOT NULL,
    name VARCHAR(63) NOT NULL,
    open_name VARCHAR(63) NULL,
    sitename VARCHAR(400) NOT NULL,
    language VARCHAR(40) NOT NULL,
    purpose VARCHAR(2000) NOT NULL,
    reason VARCHAR(2000) NOT NULL,
    state VARCHAR(20) NOT NULL,
    wiki_id BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE KEY wiki_requests_open_name (open_name),
    KEY wiki_requests_state_id (state, id),
    KEY wiki_requests_requester_id (requester, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS wiki_request_events (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    request_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor VARCHAR(64) NOT NULL,
    action VARCHAR(32) NOT NULL,
    from_state VARCHAR(20) NULL,
    to_state VARCHAR(20) NULL,
    comment VARCHAR(2000) NULL,
    KEY wiki_request_events_request (request_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS outbox (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    recipient VARCHAR(254) NOT NULL,
    subject VARCHAR(400) NOT NULL,
    body VARCHAR(8000) NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    sent_at BIGINT NULL,
    last_error VARCHAR(2000) NULL,
    KEY outbox_due (sent_at, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS audit_log (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor VARCHAR(64) NOT NULL,
    action VARCHAR(64) NOT NULL,
    target VARCHAR(200) NOT NULL,
    source VARCHAR(64) NULL,
    details VARCHAR(2000) NULL,
    KEY audit_log_actor_id (actor, id),
    KEY audit_log_action_id (action, id),
    KEY audit_log_target_id (target, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

ALTER TABLE wikis ADD COLUMN IF NOT EXISTS expires_at BIGINT NULL;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS expiry_warnings_sent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS notify_owner BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN IF NOT EXISTS lock_applied BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS wikis_expires_at ON wikis (expires_at);
CREATE INDEX IF NOT EXISTS wikis_lock_applied ON wikis (lock_applied);
