//! Benchmark for the maintenance runner: `update.php` over WIKIS wikis (default 200) through
//! farmd's runner (`POST /api/v1/maintenance-runs`, from the call until the run is done)
//! against a sequential shell loop of `php maintenance/update.php --quick --wiki X` with the
//! farm's entry file (what `foreachwiki` does), once when every wiki needs the update and once
//! when none does. Prints figures and ratios; asserts nothing about speed.
//!
//! "Every wiki needs the update" is made the way a new release of the codebase looks to each
//! wiki: before each side, every wiki's database loses two tables a release adds (core's
//! `user_autocreate_serial`, OATHAuth's `oathauth_users`) and ten of update.php's recorded
//! migrations (`updatelog` rows: data migrations such as `populate rev_len and ar_len`, and
//! the site_stats table rebuild), which update.php then creates and runs again; and farmd's
//! record of each wiki's schema (`wiki_update_fingerprints`) is cleared, as a new codebase
//! version makes every fingerprint stale. The runner's compiled-PHP cache is emptied too, as
//! it is for a new codebase. "None needs it" follows at once: every schema is current.
//!
//! Run: `cargo bench -p farmd --bench maintenance`
//! Knobs: WIKIS (200), BACKENDS (`sqlite`; `sqlite,mariadb` adds a private MariaDB server's
//! wikis), PARALLEL (the runner's; default the farm's, one per core), SERIAL=1 adds a runner
//! pass with `parallel` 1 (what the shared compiled-PHP cache alone gives).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::mariadb::TempMariaDb;
use common::{ControlStore, Farmd, MEDIAWIKI_DIR};
use serde_json::{json, Value};

/// What the wikis' databases lose before an "every wiki needs it" side.
const STALE_TABLES: &[&str] = &["user_autocreate_serial", "oathauth_users"];
const STALE_UPDATES: &[&str] = &[
    "populate rev_len and ar_len",
    "populate rev_sha1",
    "cleanup empty categories",
    "populate *_from_namespace",
    "populate pp_sortkey",
    "populate ip_changes",
    "PopulateChangeTagDef",
    "FixDefaultJsonContentPages",
    "DeleteDefaultMessages",
    "site_stats-patch-site_stats-modify.sql",
];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The farm's wikis: (name, resource key).
async fn wikis_of(farm: &Farmd) -> Vec<(String, String)> {
    farm.registry().await.into_iter().filter(|(_, _, state)| state == "active").map(|(n, k, _)| (n, k)).collect()
}

async fn make_stale(farm: &Farmd, wikis: &[(String, String)], server: Option<&TempMariaDb>) {
    let drops: Vec<String> = STALE_TABLES.iter().map(|t| format!("DROP TABLE IF EXISTS {t}")).collect();
    let keys: Vec<String> = STALE_UPDATES.iter().map(|k| format!("'{}'", k.replace('\'', "''"))).collect();
    let forget = format!("DELETE FROM updatelog WHERE ul_key IN ({})", keys.join(", "));
    for (_, key) in wikis {
        match server {
            None => {
                use sqlx::Connection;
                let file = farm.data_dir.join("wikis").join(key).join("db").join(format!("{key}.sqlite"));
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&file);
                let mut db = sqlx::SqliteConnection::connect_with(&options).await.expect("open a wiki's database");
                for sql in drops.iter().chain([&forget]) {
                    sqlx::query(sql).execute(&mut db).await.expect("make the schema stale");
                }
                db.close().await.expect("close");
            }
            Some(server) => {
                for sql in drops.iter().chain([&forget]) {
                    common::mariadb::execute(&format!("{}/wiki_{key}", server.admin_url), sql).await;
                }
            }
        }
    }
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let store = farm.store_url.replace("mode=ro", "mode=rw");
    let mut conn = sqlx::AnyConnection::connect(&store).await.expect("open the control store");
    sqlx::query("DELETE FROM wiki_update_fingerprints").execute(&mut conn).await.expect("forget the fingerprints");
    conn.close().await.expect("close");
    // A new codebase is compiled again.
    let opcache = farm.data_dir.join("cache").join(format!("opcache-{}", common::mediawiki_version()));
    for entry in std::fs::read_dir(&opcache).into_iter().flatten().flatten() {
        let _ = std::fs::remove_dir_all(entry.path());
    }
}

/// The sequential loop: (time, wikis whose update.php failed).
fn shell_loop(farm: &Farmd, wikis: &[(String, String)]) -> (Duration, usize) {
    let list = farm.data_dir.with_file_name("wikis.txt");
    let names: Vec<&str> = wikis.iter().map(|(n, _)| n.as_str()).collect();
    std::fs::write(&list, names.join("\n") + "\n").expect("list");
    let script = format!(
        "failed=0; for w in $(cat '{}'); do php {MEDIAWIKI_DIR}/maintenance/update.php --quick --wiki \"$w\" > /dev/null 2>&1 \
         || failed=$((failed + 1)); done; echo $failed",
        list.display()
    );
    let started = Instant::now();
    let output = Command::new("bash")
        .args(["-c", &script])
        .env("MW_CONFIG_FILE", farm.data_dir.join("mediawiki/FarmSettings.php"))
        .output()
        .expect("bash");
    let elapsed = started.elapsed();
    let failed = String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(usize::MAX);
    (elapsed, failed)
}

/// A run of update.php over all wikis through the API, from the call until it is done: (time,
/// the run's final view).
async fn runner(farm: &Farmd, admin: &str, parallel: Option<usize>) -> (Duration, Value) {
    let mut body = json!({"script": "update.php", "args": ["--quick"], "selection": {"all": true}});
    if let Some(parallel) = parallel {
        body["parallel"] = json!(parallel);
    }
    let started = Instant::now();
    let response = farm.http.post(farm.url("/api/v1/maintenance-runs")).bearer_auth(admin).json(&body).send().await;
    let run: Value = response.expect("send").json().await.expect("json");
    let id = run["id"].as_i64().unwrap_or_else(|| panic!("no run: {run}"));
    loop {
        let (_, run) = farm.get_json(admin, &format!("/api/v1/maintenance-runs/{id}")).await;
        if matches!(run["state"].as_str(), Some("done" | "cancelled")) {
            return (started.elapsed(), run);
        }
        assert!(started.elapsed() < Duration::from_secs(7200), "the run never ended: {run}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn create(farm: &Farmd, admin: &str, backend: &str, count: usize) {
    let names: Vec<String> = (0..count).map(|i| format!("m-{backend}-{i}")).collect();
    for chunk in names.chunks(100) {
        let rows: Vec<Value> = chunk.iter().map(|n| json!({"name": n, "sitename": n, "backend": backend})).collect();
        let response = farm
            .http
            .post(farm.url("/api/v1/wiki-batches"))
            .bearer_auth(admin)
            .json(&json!({ "wikis": rows }))
            .send()
            .await
            .expect("send");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["created"].as_u64(), Some(chunk.len() as u64), "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(1800);
    while farm.get_json(admin, "/api/v1/wikis?state=provisioning&limit=1").await.1["wikis"]
        .as_array()
        .is_some_and(|l| !l.is_empty())
    {
        assert!(Instant::now() < deadline, "the wikis never became active");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn line(label: &str, loop_time: Duration, runner_time: Duration, count: usize) {
    let per = |d: Duration| secs(d) * 1000.0 / count as f64;
    println!(
        "  {label:<30} loop {:>7.1} s ({:>6.1} ms/wiki)   runner {:>7.2} s ({:>6.1} ms/wiki)   {:>6.1}x",
        secs(loop_time),
        per(loop_time),
        secs(runner_time),
        per(runner_time),
        secs(loop_time) / secs(runner_time)
    );
}

async fn bench(backend: &str, count: usize, parallel: Option<usize>, serial: bool) {
    let server = (backend == "mariadb").then(TempMariaDb::new);
    let config =
        server.as_ref().map(|s| format!("[[database_servers]]\nname = \"bench\"\nadmin_url = \"{}\"\n", s.admin_url));
    // Nothing else runs meanwhile: no job queue runner, no warm pool refills, one idle PHP server.
    let env = [("FARM_JOBS__ENABLED", "false"), ("FARM_POOL_SQLITE", "0"), ("FARM_PHP_WORKERS", "1")];
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &env, config.as_deref());
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("bench", "admin");
    let started = Instant::now();
    create(&farm, &admin, backend, count).await;
    let wikis = wikis_of(&farm).await;
    assert_eq!(wikis.len(), count);
    let (_, run) = farm.get_json(&admin, "/api/v1/maintenance-runs?limit=1").await;
    assert_eq!(run["runs"], json!([]));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\n== update.php over {count} {backend} wikis ({cores} cores; made in {:.1} s); runner parallel {}",
        secs(started.elapsed()),
        parallel.map_or_else(|| "default (one per core)".to_owned(), |p| p.to_string())
    );

    make_stale(&farm, &wikis, server.as_ref()).await;
    let (loop_all, failed) = shell_loop(&farm, &wikis);
    assert_eq!(failed, 0, "the loop's update.php failed for some wikis");
    if serial {
        make_stale(&farm, &wikis, server.as_ref()).await;
        let (one, run) = runner(&farm, &admin, Some(1)).await;
        assert_eq!(run["counts"]["done"].as_u64(), Some(count as u64), "{run}");
        line("every wiki needs it, parallel 1", loop_all, one, count);
    }
    make_stale(&farm, &wikis, server.as_ref()).await;
    let (runner_all, run) = runner(&farm, &admin, parallel).await;
    assert_eq!(run["counts"]["done"].as_u64(), Some(count as u64), "every wiki updated: {run}");
    line("every wiki needs the update", loop_all, runner_all, count);

    let (loop_none, failed) = shell_loop(&farm, &wikis);
    assert_eq!(failed, 0);
    let (runner_none, run) = runner(&farm, &admin, parallel).await;
    assert_eq!(run["counts"]["skipped"].as_u64(), Some(count as u64), "every wiki skipped: {run}");
    line("no wiki needs it", loop_none, runner_none, count);
    println!(
        "  targets: 1.8x when every wiki needs it ({:.2}x), 20x when none does ({:.1}x)",
        secs(loop_all) / secs(runner_all),
        secs(loop_none) / secs(runner_none)
    );
    farm.terminate();
    drop(server);
}

#[tokio::main]
async fn main() {
    let count = env_number("WIKIS", 200);
    let parallel = std::env::var("PARALLEL").ok().and_then(|p| p.parse().ok());
    let serial = std::env::var("SERIAL").is_ok_and(|v| v == "1");
    let backends = std::env::var("BACKENDS").unwrap_or_else(|_| "sqlite".into());
    println!("maintenance runner against a foreachwiki-style loop (MediaWiki {MEDIAWIKI_DIR})");
    for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        bench(backend, count, parallel, serial).await;
    }
}
