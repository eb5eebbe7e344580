-- The wiki registry and the provisioning pipeline's record of finished steps.
CREATE TABLE wikis (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The name while it is taken: live wikis and recently deleted ones. Set to NULL when a
    -- deleted wiki's name is released, so the unique index frees it for a new wiki.
    name TEXT UNIQUE,
    -- The name the wiki had, kept for the record after the name is released.
    label TEXT NOT NULL,
    -- Opaque key of the wiki's resources (directory, database, cookie prefix): 'w' + 16 hex.
    resource_key TEXT NOT NULL UNIQUE,
    sitename TEXT NOT NULL,
    language TEXT NOT NULL,
    owner TEXT NOT NULL,
    backend TEXT NOT NULL,
    state TEXT NOT NULL,
    failure TEXT,
    -- The owner's initial password, hashed in MediaWiki's format, until the owner account
    -- exists in the wiki's database; then NULL.
    owner_password_hash TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    activated_at INTEGER,
    deleted_at INTEGER
);
CREATE INDEX wikis_owner_id ON wikis (owner, id);
CREATE INDEX wikis_state_id ON wikis (state, id);

CREATE TABLE wiki_steps (
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    done_at INTEGER NOT NULL,
    PRIMARY KEY (wiki_id, step)
);
