//! The control store: the registry of wikis, accounts, requests, the pipeline's progress, the
//! warm pool, the outbox and the audit log, one file per table or two.
//!
//! It speaks through sqlx's `Any` driver with SQL that SQLite and MariaDB both accept; the two
//! dialects differ in four places, each a [`Dialect`] branch here. Rows are decoded into
//! typed records at this boundary: a value the code does not know is an error, never a quiet
//! default. SQLite gets one writer connection (WAL lets readers go on beside it) and a pool of
//! readers.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::error::FarmError;

mod accounts;
mod audit;
mod backups;
mod codebases;
mod exports;
mod external;
mod maintenance;
mod managers;
mod outbox;
mod pool;
mod requests;
mod settings;
mod steps;
mod transfers;
mod wikis;

pub use accounts::{AccountRecord, NewAccount, PortalSessionRecord, SessionRecord};
pub use audit::{AuditEntry, AuditFilter, AuditRecord};
pub use backups::{BackupRecord, LastGoodBackup, RestoreRecord};
pub use exports::ExportRecord;
pub use external::ExternalLoginRecord;
pub use maintenance::{
    JobQueueWiki, MaintenanceMetricRows, MaintenanceRunRecord, NewRun, RunWikiOutcome, RunWikiRecord, SelectableWiki,
};
pub use managers::{ManagerRecord, RightsPending};
pub use outbox::{OutgoingMail, QueuedMail};
pub use pool::{PoolLevelRow, PoolSlot, UnfinishedEntry};
pub use requests::{request_exists, RequestEvent, RequestFields, RequestFilter, RequestRecord};
pub use settings::{NewRevision, SettingsRevision};
pub use transfers::TransferRecord;
pub use wikis::{NewWiki, WikiFilter, WikiRecord};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static MYSQL_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/mysql");

pub use crate::platform::time::now;

#[derive(Debug, Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    dialect: Dialect,
}

/// Which SQL the control store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Mysql,
}

/// A write transaction: a change, its audit entry and its mail commit together or not at all.
/// Never hold one across slow work (hashing, network): on SQLite it blocks every writer.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    dialect: Dialect,
}

impl Tx {
    pub async fn commit(self) -> Result<(), FarmError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Whether an insert failed on a unique index (a name, an address, a key taken meanwhile).
fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Whether a write failed only because another transaction held what it needed (a MariaDB
/// deadlock or lock wait time-out, a busy SQLite file): the same write may simply be tried
/// again.
pub fn is_transient(err: &FarmError) -> bool {
    let FarmError::Internal(inner) = err else { return false };
    let Some(sqlx::Error::Database(db)) = inner.downcast_ref::<sqlx::Error>() else { return false };
    match db.code().as_deref() {
        // MariaDB: deadlock (SQLSTATE 40001, error 1213), lock wait time-out (1205, HY000).
        Some("40001" | "1213" | "1205") => true,
        Some("HY000") => db.message().contains("Lock wait timeout"),
        // SQLite: SQLITE_BUSY and its extended codes.
        Some("5" | "261" | "517") => true,
        _ => false,
    }
}

/// A 0/1 column as a boolean.
fn flag(column: &str, value: i64) -> Result<bool, FarmError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(unknown(column, &other.to_string())),
    }
}

/// A column held a value this code does not know: the registry is newer than the daemon, or
/// was edited by hand. An error, never a silent default.
fn unknown(column: &str, value: &str) -> FarmError {
    FarmError::Internal(anyhow::anyhow!("the control store holds an unknown {column} {value:?}"))
}

impl Store {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let dialect = if is_sqlite { Dialect::Sqlite } else { Dialect::Mysql };
        if !is_sqlite && !url.starts_with("mysql:") && !url.starts_with("mariadb:") {
            anyhow::bail!("the control store URL must start with sqlite:// or mysql://");
        }
        let url = url.replacen("mariadb:", "mysql:", 1);
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = |max: u32| {
            AnyPoolOptions::new().max_connections(max).acquire_timeout(Duration::from_secs(10)).after_connect(
                move |conn, _| {
                    Box::pin(async move {
                        if is_sqlite {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                        }
                        Ok(())
                    })
                },
            )
        };
        let (read, write) = if is_sqlite {
            let write = pool(1).connect_with(options.clone()).await?;
            (pool(8).connect_with(options).await?, write)
        } else {
            let shared = pool(16).connect_with(options).await?;
            (shared.clone(), shared)
        };
        Ok(Self { read, write, dialect })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        if self.dialect == Dialect::Sqlite {
            SQLITE_MIGRATIONS.run(&self.write).await?;
            return Ok(());
        }
        // MariaDB commits DDL statement by statement: a kill during a migration leaves it
        // marked unfinished. Our MySQL migrations are idempotent, so forget the mark and run
        // the migration again.
        let table: Option<(String,)> = sqlx::query_as(
            "SELECT CAST(TABLE_NAME AS CHAR) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '_sqlx_migrations'",
        )
        .fetch_optional(&self.write)
        .await?;
        if table.is_some() {
            let redone = sqlx::query("DELETE FROM _sqlx_migrations WHERE success = FALSE").execute(&self.write).await?;
            if redone.rows_affected() > 0 {
                tracing::warn!("a migration was interrupted; running it again");
            }
        }
        MYSQL_MIGRATIONS.run(&self.write).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    pub async fn ping(&self) -> Result<(), FarmError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn begin(&self) -> Result<Tx, FarmError> {
        Ok(Tx { tx: self.write.begin().await?, dialect: self.dialect })
    }
}
