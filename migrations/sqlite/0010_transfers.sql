-- Ownership transfers: offered by the owner (or an admin), taking effect when the recipient
-- accepts. state: pending, accepted, declined, cancelled.
CREATE TABLE wiki_transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    from_owner TEXT NOT NULL,
    to_owner TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    decided_at INTEGER
);
CREATE INDEX wiki_transfers_to_state ON wiki_transfers (to_owner, state);
CREATE INDEX wiki_transfers_wiki_state ON wiki_transfers (wiki_id, state);
