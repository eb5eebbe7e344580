-- Logins through identity providers (OpenID Connect, LDAP).

-- A person at a provider (the provider's id from the configuration, and its stable id for
-- them: the ID token's `sub`, or the directory entry's entryUUID or DN) is one farm account.
-- Made at a first login that creates the account, or after the person proved they own an
-- existing account; never by matching names or addresses.
CREATE TABLE external_identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_login_at INTEGER,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX external_identities_account ON external_identities (account_id);

-- Logins under way: an OpenID Connect authorization request (`oidc`: its nonce and PKCE
-- verifier) or a first login waiting for the person's choice (`choice`: what the provider
-- said). Keyed by the SHA-256 of the value the browser carries (the `state`, or the choice's
-- token), bound to the SHA-256 of the visitor's pre-session id, single-use (deleted when
-- used) and short-lived. `payload` is sealed with the credentials key.
CREATE TABLE external_logins (
    id_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    provider TEXT NOT NULL,
    presession_hash TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX external_logins_expires ON external_logins (expires_at);
