-- Accounts, sessions, wiki requests, the mail outbox, the audit log, sandbox expiry.

-- People with a farm account. One account is one MediaWiki user name on every wiki it owns.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    -- MediaWiki's form of the name (first letter upper case): "alice" and "Alice" are one
    -- wiki user, so they are one account.
    username_key TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    -- The address in lower case, so one mailbox holds one account.
    email_key TEXT NOT NULL UNIQUE,
    -- argon2id (PHC string); NULL for accounts made on the command line without a password.
    password_hash TEXT,
    role TEXT NOT NULL,
    email_confirmed_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A session is one issued token (API bearer token or portal cookie), keyed by its `jti`.
-- A token is honoured only while its row exists, is unexpired and is not revoked.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_account ON sessions (account_id);

-- One-time secrets sent by mail (email confirmation, password reset); only their SHA-256
-- is kept.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX account_tokens_account ON account_tokens (account_id, purpose);

-- Requests for a wiki, in farms whose policy is `review`.
CREATE TABLE wiki_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    requester TEXT NOT NULL,
    name TEXT NOT NULL,
    -- The name while the request is open (pending or needs-more-info), else NULL: the unique
    -- index allows one open request per name.
    open_name TEXT UNIQUE,
    sitename TEXT NOT NULL,
    language TEXT NOT NULL,
    purpose TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    wiki_id INTEGER REFERENCES wikis (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX wiki_requests_state_id ON wiki_requests (state, id);
CREATE INDEX wiki_requests_requester_id ON wiki_requests (requester, id);

-- Every change and comment on a request, in order.
CREATE TABLE wiki_request_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id INTEGER NOT NULL REFERENCES wiki_requests (id),
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    comment TEXT
);
CREATE INDEX wiki_request_events_request ON wiki_request_events (request_id, id);

-- Mail to send. Written in the same transaction as the change it reports; the mailer sends
-- it later, retrying with backoff, and marks it sent.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at INTEGER,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at);

-- Who did what to which target, when, from where.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT,
    details TEXT
);
CREATE INDEX audit_log_actor_id ON audit_log (actor, id);
CREATE INDEX audit_log_action_id ON audit_log (action, id);
CREATE INDEX audit_log_target_id ON audit_log (target, id);

-- Sandbox wikis: when they expire, how many warnings went out, and whether the wiki's
-- read-only marker matches its state (the lifecycle task reconciles the two).
ALTER TABLE wikis ADD COLUMN expires_at INTEGER;
ALTER TABLE wikis ADD COLUMN expiry_warnings_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN notify_owner INTEGER NOT NULL DEFAULT 0;
ALTER TABLE wikis ADD COLUMN lock_applied INTEGER NOT NULL DEFAULT 0;
CREATE INDEX wikis_expires_at ON wikis (expires_at);
CREATE INDEX wikis_lock_applied ON wikis (lock_applied);
