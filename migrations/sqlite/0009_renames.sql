-- A renamed wiki's old name redirects to the new one, and stays taken, until `until`.
CREATE TABLE wiki_redirects (
    name TEXT PRIMARY KEY,
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    until INTEGER NOT NULL
);
