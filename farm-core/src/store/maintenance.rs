//! Maintenance runs, the wikis of each (its work list and its report), and the fingerprint of
//! each wiki's last successful `update.php`. Every change of a wiki's row is guarded by the
//! state it leaves (`WHERE state = 'running'`), so a late or repeated write changes nothing.

use super::{flag, now, unknown, Dialect, Store, Tx};
use crate::domain::maintenance::{RunState, RunWikiState};
use crate::domain::{Backend, WikiState};
use crate::error::FarmError;

/// A run as stored.
#[derive(Debug, Clone)]
pub struct MaintenanceRunRecord {
    pub id: i64,
    pub script: String,
    pub args_sealed: String,
    pub args_count: i64,
    /// The selection as asked for (JSON).
    pub selection: String,
    pub parallel: i64,
    pub timeout_secs: i64,
    pub retries: i64,
    pub force_all: bool,
    pub requested_by: String,
    pub state: RunState,
    pub total: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// An upgrade: the codebase its wikis move to.
    pub upgrade_to: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RunRow {
    id: i64,
    script: String,
    args_sealed: String,
    args_count: i64,
    selection: String,
    parallel: i64,
    timeout_secs: i64,
    retries: i64,
    force_all: i64,
    requested_by: String,
    state: String,
    total: i64,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    upgrade_to: Option<String>,
}

impl TryFrom<RunRow> for MaintenanceRunRecord {
    type Error = FarmError;

    fn try_from(row: RunRow) -> Result<Self, FarmError> {
        Ok(Self {
            id: row.id,
            script: row.script,
            args_sealed: row.args_sealed,
            args_count: row.args_count,
            selection: row.selection,
            parallel: row.parallel,
            timeout_secs: row.timeout_secs,
            retries: row.retries,
            force_all: flag("force_all", row.force_all)?,
            requested_by: row.requested_by,
            state: RunState::parse(&row.state).ok_or_else(|| unknown("maintenance run state", &row.state))?,
            total: row.total,
            created_at: row.created_at,
            started_at: row.started_at,
            finished_at: row.finished_at,
            upgrade_to: row.upgrade_to,
        })
    }
}

const RUN_COLUMNS: &str =
    "id, script, args_sealed, args_count, selection, parallel, timeout_secs, retries, force_all, \
                           requested_by, state, total, created_at, started_at, finished_at, upgrade_to";

/// One wiki of a run.
#[derive(Debug, Clone)]
pub struct RunWikiRecord {
    pub run_id: i64,
    pub wiki_id: i64,
    pub wiki: String,
    pub position: i64,
    pub state: RunWikiState,
    pub attempts: i64,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub output: Option<String>,
    pub reason: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// An upgrade's canary: goes first, and the others wait for it.
    pub canary: bool,
}

#[derive(sqlx::FromRow)]
struct RunWikiRow {
    run_id: i64,
    wiki_id: i64,
    wiki: String,
    position: i64,
    state: String,
    attempts: i64,
    exit_code: Option<i64>,
    duration_ms: Option<i64>,
    output: Option<String>,
    reason: Option<String>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    canary: i64,
}

impl TryFrom<RunWikiRow> for RunWikiRecord {
    type Error = FarmError;

    fn try_from(row: RunWikiRow) -> Result<Self, FarmError> {
        Ok(Self {
            run_id: row.run_id,
            wiki_id: row.wiki_id,
            wiki: row.wiki,
            position: row.position,
            state: RunWikiState::parse(&row.state).ok_or_else(|| unknown("maintenance wiki state", &row.state))?,
            attempts: row.attempts,
            exit_code: row.exit_code,
            duration_ms: row.duration_ms,
            output: row.output,
            reason: row.reason,
            started_at: row.started_at,
            finished_at: row.finished_at,
            canary: flag("canary", row.canary)?,
        })
    }
}

fn decode_wikis(rows: Vec<RunWikiRow>) -> Result<Vec<RunWikiRecord>, FarmError> {
    rows.into_iter().map(RunWikiRecord::try_from).collect()
}

const WIKI_COLUMNS: &str = "run_id, wiki_id, wiki, position, state, attempts, exit_code, duration_ms, output, reason, \
                            started_at, finished_at, canary";

/// A run to insert.
pub struct NewRun<'a> {
    pub script: &'a str,
    pub args_sealed: &'a str,
    pub args_count: i64,
    pub selection: &'a str,
    pub parallel: i64,
    pub timeout_secs: i64,
    pub retries: i64,
    pub force_all: bool,
    pub requested_by: &'a str,
    pub upgrade_to: Option<&'a str>,
}

/// How one wiki's script ended, as recorded.
pub struct RunWikiOutcome<'a> {
    pub state: RunWikiState,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub output: Option<&'a str>,
    pub reason: Option<&'a str>,
}

/// A served wiki a selection may take, with what its criteria look at.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SelectableWiki {
    pub id: i64,
    pub name: String,
    pub settings_revision: i64,
    /// The current revision's configuration (JSON), when asked for.
    pub configuration: Option<String>,
}

/// A served wiki whose job queue farmd runs.
#[derive(Debug, Clone)]
pub struct JobQueueWiki {
    pub id: i64,
    pub name: String,
    pub key: String,
    pub backend: Backend,
    pub server: Option<String>,
    pub codebase: String,
}

/// Rows per multi-row insert.
const INSERT_CHUNK: usize = 200;

impl Tx {
    /// Inserts a run and its wikis (`(id, name, canary)`, in order), all `pending`; its id.
    pub async fn insert_maintenance_run(
        &mut self,
        run: &NewRun<'_>,
        wikis: &[(i64, String, bool)],
    ) -> Result<i64, FarmError> {
        let state = RunState::Queued.as_str();
        let done = sqlx::query(
            "INSERT INTO maintenance_runs (script, args_sealed, args_count, selection, parallel, timeout_secs, retries, \
             force_all, requested_by, state, total, created_at, upgrade_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(run.script)
        .bind(run.args_sealed)
        .bind(run.args_count)
        .bind(run.selection)
        .bind(run.parallel)
        .bind(run.timeout_secs)
        .bind(run.retries)
        .bind(i64::from(run.force_all))
        .bind(run.requested_by)
        .bind(state)
        .bind(i64::try_from(wikis.len()).unwrap_or(i64::MAX))
        .bind(now())
        .bind(run.upgrade_to)
        .execute(&mut *self.tx)
        .await?;
        let id = match done.last_insert_id() {
            Some(id) => id,
            // The Any driver does not say for every backend: the sealed arguments are unique
            // (a fresh nonce each), so they find the row.
            None => {
                let (id,): (i64,) = sqlx::query_as("SELECT id FROM maintenance_runs WHERE args_sealed = ?")
                    .bind(run.args_sealed)
                    .fetch_one(&mut *self.tx)
                    .await?;
                id
            }
        };
        for (chunk_index, chunk) in wikis.chunks(INSERT_CHUNK).enumerate() {
            let values = vec!["(?, ?, ?, ?, 'pending', 0, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO maintenance_run_wikis (run_id, wiki_id, wiki, position, state, attempts, canary) \
                 VALUES {values}"
            );
            let mut query = sqlx::query(&sql);
            for (i, (wiki_id, name, canary)) in chunk.iter().enumerate() {
                let position = i64::try_from(chunk_index * INSERT_CHUNK + i).unwrap_or(i64::MAX);
                query = query.bind(id).bind(*wiki_id).bind(name.as_str()).bind(position).bind(i64::from(*canary));
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(id)
    }

    /// A finished run's wikis that failed, timed out or were interrupted (and an upgrade's
    /// wikis a failed canary held back) go back to `pending` and the run to `queued`: tried
    /// once more. How many; 0 if the run is not `done`.
    pub async fn requeue_failed_run_wikis(&mut self, id: i64) -> Result<u64, FarmError> {
        let run = sqlx::query(
            "UPDATE maintenance_runs SET state = 'queued', finished_at = NULL WHERE id = ? AND state = 'done' \
             AND EXISTS (SELECT 1 FROM maintenance_run_wikis WHERE run_id = ? \
             AND (state IN ('failed', 'timed_out', 'interrupted') OR (state = 'cancelled' AND upgrade_to IS NOT NULL)))",
        )
        .bind(id)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        if run.rows_affected() != 1 {
            return Ok(0);
        }
        let wikis = sqlx::query(
            "UPDATE maintenance_run_wikis SET state = 'pending', attempts = 0, reason = 'tried again (retry)' \
             WHERE run_id = ? AND (state IN ('failed', 'timed_out', 'interrupted') \
             OR (state = 'cancelled' AND EXISTS (SELECT 1 FROM maintenance_runs r WHERE r.id = ? \
             AND r.upgrade_to IS NOT NULL)))",
        )
        .bind(id)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(wikis.rows_affected())
    }

    /// `queued` or `running` → `cancelled`, and its pending wikis with it; false if the run had
    /// finished already.
    pub async fn cancel_maintenance_run(&mut self, id: i64) -> Result<bool, FarmError> {
        let done = sqlx::query(
            "UPDATE maintenance_runs SET state = 'cancelled', finished_at = ? WHERE id = ? AND state IN ('queued', 'running')",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE maintenance_run_wikis SET state = 'cancelled', reason = 'the run was cancelled before its turn', \
             finished_at = ? WHERE run_id = ? AND state = 'pending'",
        )
        .bind(now())
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    /// Records how a wiki's script ended (it must be `running`); false if it was not.
    pub async fn finish_run_wiki(
        &mut self,
        run_id: i64,
        wiki_id: i64,
        outcome: &RunWikiOutcome<'_>,
    ) -> Result<bool, FarmError> {
        let done = sqlx::query(
            "UPDATE maintenance_run_wikis SET state = ?, exit_code = ?, duration_ms = ?, output = ?, reason = ?, \
             finished_at = ? WHERE run_id = ? AND wiki_id = ? AND state = 'running'",
        )
        .bind(outcome.state.as_str())
        .bind(outcome.exit_code)
        .bind(outcome.duration_ms)
        .bind(outcome.output)
        .bind(outcome.reason)
        .bind(now())
        .bind(run_id)
        .bind(wiki_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The wiki's schema is now what `fingerprint` says. One upsert: a delete and an insert
    /// would take gap locks on MariaDB that two wikis finishing together deadlock on.
    pub async fn set_update_fingerprint(
        &mut self,
        wiki_id: i64,
        fingerprint: &str,
        run_id: i64,
    ) -> Result<(), FarmError> {
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "INSERT INTO wiki_update_fingerprints (wiki_id, fingerprint, run_id, updated_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (wiki_id) DO UPDATE SET fingerprint = excluded.fingerprint, run_id = excluded.run_id, \
                 updated_at = excluded.updated_at"
            }
            Dialect::Mysql => {
                "INSERT INTO wiki_update_fingerprints (wiki_id, fingerprint, run_id, updated_at) VALUES (?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE fingerprint = VALUES(fingerprint), run_id = VALUES(run_id), \
                 updated_at = VALUES(updated_at)"
            }
        };
        sqlx::query(sql).bind(wiki_id).bind(fingerprint).bind(run_id).bind(now()).execute(&mut *self.tx).await?;
        Ok(())
    }
}

impl Store {
    pub async fn maintenance_run(&self, id: i64) -> Result<Option<MaintenanceRunRecord>, FarmError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM maintenance_runs WHERE id = ?");
        let row: Option<RunRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&self.write).await?;
        row.map(MaintenanceRunRecord::try_from).transpose()
    }

    /// Farmd no longer knows what the wiki's schema is (its database was replaced by a
    /// restore): the next update.php runs it.
    pub async fn forget_update_fingerprint(&self, wiki_id: i64) -> Result<(), FarmError> {
        sqlx::query("DELETE FROM wiki_update_fingerprints WHERE wiki_id = ?")
            .bind(wiki_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Runs, newest first, below `before` (an id).
    pub async fn maintenance_runs(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MaintenanceRunRecord>, FarmError> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM maintenance_runs WHERE id < ? ORDER BY id DESC LIMIT ?");
        let rows: Vec<RunRow> =
            sqlx::query_as(&sql).bind(before.unwrap_or(i64::MAX)).bind(i64::from(limit)).fetch_all(&self.read).await?;
        rows.into_iter().map(MaintenanceRunRecord::try_from).collect()
    }

    /// The run to work on: one found `running` (farmd stopped during it) first, else the
    /// oldest queued.
    pub async fn next_maintenance_run(&self) -> Result<Option<MaintenanceRunRecord>, FarmError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM maintenance_runs WHERE state IN ('running', 'queued') \
             ORDER BY CASE state WHEN 'running' THEN 0 ELSE 1 END, id LIMIT 1"
        );
        let row: Option<RunRow> = sqlx::query_as(&sql).fetch_optional(&self.write).await?;
        row.map(MaintenanceRunRecord::try_from).transpose()
    }

    /// `queued` → `running` (a run found running stays so); false if it is neither.
    pub async fn start_maintenance_run(&self, id: i64) -> Result<bool, FarmError> {
        let done = sqlx::query(
            "UPDATE maintenance_runs SET state = 'running', started_at = COALESCE(started_at, ?) \
             WHERE id = ? AND state IN ('queued', 'running')",
        )
        .bind(now())
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `running` → `done` once none of its wikis is pending or running.
    pub async fn finish_maintenance_run(&self, id: i64) -> Result<bool, FarmError> {
        let done = sqlx::query(
            "UPDATE maintenance_runs SET state = 'done', finished_at = ? WHERE id = ? AND state = 'running' \
             AND NOT EXISTS (SELECT 1 FROM maintenance_run_wikis WHERE run_id = ? AND state IN ('pending', 'running'))",
        )
        .bind(now())
        .bind(id)
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The run's next pending wikis, in order.
    pub async fn pending_run_wikis(&self, run_id: i64, limit: u32) -> Result<Vec<RunWikiRecord>, FarmError> {
        let sql = format!(
            "SELECT {WIKI_COLUMNS} FROM maintenance_run_wikis WHERE run_id = ? AND state = 'pending' \
             ORDER BY canary DESC, position LIMIT ?"
        );
        decode_wikis(sqlx::query_as(&sql).bind(run_id).bind(i64::from(limit)).fetch_all(&self.write).await?)
    }

    /// `pending` → `running`, one more attempt; committed before the script starts, so that a
    /// kill at any later point finds the wiki running. False if it was not pending.
    pub async fn claim_run_wiki(&self, run_id: i64, wiki_id: i64) -> Result<bool, FarmError> {
        let done = sqlx::query(
            "UPDATE maintenance_run_wikis SET state = 'running', attempts = attempts + 1, started_at = ?, \
             finished_at = NULL WHERE run_id = ? AND wiki_id = ? AND state = 'pending'",
        )
        .bind(now())
        .bind(run_id)
        .bind(wiki_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A running wiki goes back to `pending` for another attempt, after every other wiki of
    /// the run (`total` places later); what the last attempt said is kept meanwhile.
    pub async fn retry_run_wiki(&self, run_id: i64, wiki_id: i64, total: i64, reason: &str) -> Result<bool, FarmError> {
        let done = sqlx::query(
            "UPDATE maintenance_run_wikis SET state = 'pending', position = position + ?, reason = ? \
             WHERE run_id = ? AND wiki_id = ? AND state = 'running'",
        )
        .bind(total.max(1))
        .bind(reason)
        .bind(run_id)
        .bind(wiki_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every wiki found `running` (at start: farmd stopped while their scripts ran).
    pub async fn running_run_wikis(&self) -> Result<Vec<RunWikiRecord>, FarmError> {
        let sql = format!(
            "SELECT {WIKI_COLUMNS} FROM maintenance_run_wikis WHERE state = 'running' ORDER BY run_id, position"
        );
        decode_wikis(sqlx::query_as(&sql).fetch_all(&self.write).await?)
    }

    /// How many of the run's wikis are in each state.
    pub async fn run_wiki_counts(&self, run_id: i64) -> Result<Vec<(RunWikiState, i64)>, FarmError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM maintenance_run_wikis WHERE run_id = ? GROUP BY state")
                .bind(run_id)
                .fetch_all(&self.read)
                .await?;
        rows.into_iter()
            .map(|(state, count)| {
                Ok((RunWikiState::parse(&state).ok_or_else(|| unknown("maintenance wiki state", &state))?, count))
            })
            .collect()
    }

    /// The run's wikis in order (in one state, if given), after `after` (a position).
    pub async fn run_wikis(
        &self,
        run_id: i64,
        state: Option<RunWikiState>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RunWikiRecord>, FarmError> {
        let filter = if state.is_some() { " AND state = ?" } else { "" };
        let sql = format!(
            "SELECT {WIKI_COLUMNS} FROM maintenance_run_wikis WHERE run_id = ? AND position > ?{filter} \
             ORDER BY position LIMIT ?"
        );
        let mut query = sqlx::query_as(&sql).bind(run_id).bind(after.unwrap_or(-1));
        if let Some(state) = state {
            query = query.bind(state.as_str());
        }
        decode_wikis(query.bind(i64::from(limit)).fetch_all(&self.read).await?)
    }

    /// Runs by state, and for each queued or running run its wikis by state (for the metrics).
    pub async fn maintenance_metrics(&self) -> Result<MaintenanceMetricRows, FarmError> {
        let runs: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM maintenance_runs GROUP BY state").fetch_all(&self.read).await?;
        let wikis: Vec<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT r.id, r.script, w.state, COUNT(*) FROM maintenance_runs r \
             JOIN maintenance_run_wikis w ON w.run_id = r.id WHERE r.state IN ('queued', 'running') \
             GROUP BY r.id, r.script, w.state",
        )
        .fetch_all(&self.read)
        .await?;
        let failures: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM maintenance_run_wikis WHERE state IN ('failed', 'timed_out', 'interrupted')",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(MaintenanceMetricRows { runs, wikis, failures: failures.0 })
    }

    /// The fingerprint of the wiki's last successful `update.php` through the runner.
    pub async fn update_fingerprint(&self, wiki_id: i64) -> Result<Option<String>, FarmError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT fingerprint FROM wiki_update_fingerprints WHERE wiki_id = ?")
                .bind(wiki_id)
                .fetch_optional(&self.write)
                .await?;
        Ok(row.map(|(fingerprint,)| fingerprint))
    }

    /// Served wikis (`active` or `locked`, or only `state`) on `backend` and `server` if given,
    /// in id order; with their current configuration when `with_configuration` (extension
    /// criteria), prefiltered by `configuration_like`.
    pub async fn selectable_wikis(
        &self,
        backend: Option<Backend>,
        server: Option<&str>,
        state: Option<WikiState>,
        configuration_like: Option<&str>,
    ) -> Result<Vec<SelectableWiki>, FarmError> {
        let mut sql = String::from(if configuration_like.is_some() {
            "SELECT w.id, w.label AS name, w.settings_revision, s.configuration FROM wikis w \
             JOIN wiki_settings s ON s.wiki_id = w.id AND s.revision = w.settings_revision WHERE "
        } else {
            "SELECT w.id, w.label AS name, w.settings_revision, NULL AS configuration FROM wikis w WHERE "
        });
        sql.push_str(if state.is_some() { "w.state = ?" } else { "w.state IN ('active', 'locked')" });
        if backend.is_some() {
            sql.push_str(" AND w.backend = ?");
        }
        if server.is_some() {
            sql.push_str(" AND w.db_server = ?");
        }
        if configuration_like.is_some() {
            sql.push_str(" AND s.configuration LIKE ?");
        }
        sql.push_str(" ORDER BY w.id");
        let mut query = sqlx::query_as(&sql);
        if let Some(state) = state {
            query = query.bind(state.as_str());
        }
        if let Some(backend) = backend {
            query = query.bind(backend.as_str());
        }
        if let Some(server) = server {
            query = query.bind(server);
        }
        if let Some(like) = configuration_like {
            query = query.bind(like);
        }
        Ok(query.fetch_all(&self.read).await?)
    }

    /// Active wikis (locked ones are read-only: their jobs wait), for the job queue runner.
    pub async fn job_queue_wikis(&self) -> Result<Vec<JobQueueWiki>, FarmError> {
        let rows: Vec<(i64, String, String, String, Option<String>, String)> = sqlx::query_as(
            "SELECT id, label, resource_key, backend, db_server, codebase FROM wikis WHERE state = 'active' ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(id, name, key, backend, server, codebase)| {
                Ok(JobQueueWiki {
                    id,
                    name,
                    key,
                    backend: Backend::parse(&backend).ok_or_else(|| unknown("backend", &backend))?,
                    server,
                    codebase,
                })
            })
            .collect()
    }
}

/// What [`Store::maintenance_metrics`] reads.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceMetricRows {
    /// (run state, runs)
    pub runs: Vec<(String, i64)>,
    /// (run, script, wiki state, wikis) of queued and running runs.
    pub wikis: Vec<(i64, String, String, i64)>,
    /// Wikis whose script failed, timed out or was interrupted, ever.
    pub failures: i64,
}
