-- Maintenance runs and their wikis, and each wiki's update fingerprint; see
-- migrations/sqlite/0018_maintenance.sql. Bounded VARCHARs, no TEXT (sqlx's Any driver reads
-- MariaDB's TEXT as a BLOB): the sealed arguments are base64 (ASCII) of at most 16000
-- characters, a selection's record 2000, an output's end 4096 bytes.
CREATE TABLE IF NOT EXISTS maintenance_runs (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    script VARCHAR(300) NOT NULL,
    args_sealed VARCHAR(16000) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    args_count BIGINT NOT NULL,
    selection VARCHAR(2000) NOT NULL,
    parallel BIGINT NOT NULL,
    timeout_secs BIGINT NOT NULL,
    retries BIGINT NOT NULL,
    force_all BIGINT NOT NULL,
    requested_by VARCHAR(64) NOT NULL,
    state VARCHAR(16) NOT NULL,
    total BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT NULL,
    finished_at BIGINT NULL,
    KEY maintenance_runs_state (state, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS maintenance_run_wikis (
    run_id BIGINT NOT NULL,
    wiki_id BIGINT NOT NULL,
    wiki VARCHAR(63) NOT NULL,
    position BIGINT NOT NULL,
    state VARCHAR(16) NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    exit_code BIGINT NULL,
    duration_ms BIGINT NULL,
    output VARCHAR(4200) NULL,
    reason VARCHAR(500) NULL,
    started_at BIGINT NULL,
    finished_at BIGINT NULL,
    PRIMARY KEY (run_id, wiki_id),
    KEY maintenance_run_wikis_state (run_id, state, position),
    CONSTRAINT maintenance_run_wikis_run_fk FOREIGN KEY (run_id) REFERENCES maintenance_runs (id) ON DELETE CASCADE,
    CONSTRAINT maintenance_run_wikis_wiki_fk FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS wiki_update_fingerprints (
    wiki_id BIGINT NOT NULL PRIMARY KEY,
    fingerprint VARCHAR(64) NOT NULL,
    run_id BIGINT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT wiki_update_fingerprints_wiki_fk FOREIGN KEY (wiki_id) REFERENCES wikis (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
