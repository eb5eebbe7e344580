-- Managers of a wiki: other farm accounts its owner named, who change its settings too.
-- username is the account's name as written (like wikis.owner); added_by who named them.
CREATE TABLE wiki_managers (
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    username TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (wiki_id, username)
);
CREATE INDEX wiki_managers_username ON wiki_managers (username);
