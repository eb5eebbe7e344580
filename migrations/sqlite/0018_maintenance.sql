-- Maintenance runs: one MediaWiki maintenance script (by its path in the codebase) over a
-- selection of wikis, a few at a time. The selection is resolved when the run is made: one
-- row per wiki in maintenance_run_wikis, which is the run's work list and its report.
-- state: queued (another run goes first), running, done (every wiki finished, some maybe
-- failed), cancelled.
CREATE TABLE maintenance_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Relative to the codebase: maintenance/update.php, extensions/NAME/maintenance/x.php.
    script TEXT NOT NULL,
    -- The script's arguments as a JSON list, sealed with credentials.key (one may be a
    -- password: createAndPromote.php).
    args_sealed TEXT NOT NULL,
    args_count INTEGER NOT NULL,
    -- JSON: the selection as it was asked for, for the record.
    selection TEXT NOT NULL,
    parallel INTEGER NOT NULL,
    timeout_secs INTEGER NOT NULL,
    -- How many more times a wiki whose script failed, timed out or was interrupted runs.
    retries INTEGER NOT NULL,
    -- update.php only: 1 runs it on wikis whose schema is current too.
    force_all INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    state TEXT NOT NULL,
    total INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX maintenance_runs_state ON maintenance_runs (state, id);

-- One wiki of a run. state: pending, running, done, failed (non-zero exit), timed_out (killed
-- at the time-out), interrupted (farmd stopped while it ran), skipped (nothing to do, or the
-- wiki is no longer served), cancelled. A row found running at start is interrupted, or
-- pending again while the run has retries left for it (attempts counts the starts).
CREATE TABLE maintenance_run_wikis (
    run_id INTEGER NOT NULL REFERENCES maintenance_runs (id) ON DELETE CASCADE,
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    -- The wiki's name when the run was made.
    wiki TEXT NOT NULL,
    -- Order of work; a retry moves to the end.
    position INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER,
    duration_ms INTEGER,
    -- The end of what the script wrote (stdout and stderr), at most a few KiB.
    output TEXT,
    reason TEXT,
    started_at INTEGER,
    finished_at INTEGER,
    PRIMARY KEY (run_id, wiki_id)
);
CREATE INDEX maintenance_run_wikis_state ON maintenance_run_wikis (run_id, state, position);

-- What each wiki's schema was last brought up to by a successful update.php through the
-- runner: a fingerprint of the codebase's version and the extensions the wiki loads. A run
-- of update.php skips wikis whose fingerprint is the current one (unless forced).
CREATE TABLE wiki_update_fingerprints (
    wiki_id INTEGER PRIMARY KEY REFERENCES wikis (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    run_id INTEGER,
    updated_at INTEGER NOT NULL
);
