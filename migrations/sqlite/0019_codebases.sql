-- Codebases side by side: which one each wiki runs on, upgrades (maintenance runs that move
-- wikis to a codebase), and the versions farmd last saw in each codebase.
-- '' is the one codebase of a farm from before codebases had names; farmd gives those wikis
-- the current codebase's name at its first start.
ALTER TABLE wikis ADD COLUMN codebase TEXT NOT NULL DEFAULT '';
-- An upgrade's target codebase; NULL for other maintenance runs.
ALTER TABLE maintenance_runs ADD COLUMN upgrade_to TEXT;
-- Canary wikis of an upgrade go first; the others wait until every canary succeeded.
ALTER TABLE maintenance_run_wikis ADD COLUMN canary INTEGER NOT NULL DEFAULT 0;
CREATE TABLE codebase_versions (
    name TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    -- What MW_VERSION said, and the extension tables' digest: a change means an upgrade.
    version TEXT NOT NULL,
    seen_at INTEGER NOT NULL
);
