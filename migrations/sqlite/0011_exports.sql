-- Exports of whole wikis: asked for, built in the background into data/exports/, downloadable
-- until expires_at. state: queued, running, done, failed, expired.
CREATE TABLE exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,
    -- What it is doing: "pages", "files", "done".
    phase TEXT NOT NULL,
    done_items INTEGER NOT NULL DEFAULT 0,
    total_items INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER,
    expires_at INTEGER
);
CREATE INDEX exports_state ON exports (state, id);
