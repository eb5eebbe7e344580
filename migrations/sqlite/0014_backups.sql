-- Backups of whole wikis (database copy, uploaded files, settings) under the backups folder,
-- each in backups/{wiki key}/{id}/. kind: scheduled, manual. state: queued, running,
-- verified (written, then read back and checked), failed, pruned (removed by retention).
CREATE TABLE backups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,
    -- The settings revision the backup holds.
    settings_revision INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX backups_wiki ON backups (wiki_id, id);
CREATE INDEX backups_state ON backups (state, id);

-- Restores of a wiki to one of its backups. state: queued, running, done, failed. One found
-- running at start is run again from the beginning (the backup does not change).
CREATE TABLE restores (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    backup_id INTEGER NOT NULL REFERENCES backups (id) ON DELETE CASCADE,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX restores_state ON restores (state, id);
CREATE INDEX restores_wiki ON restores (wiki_id, id);
