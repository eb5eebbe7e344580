//! Benchmark for "instant wikis": create-to-first-page latency against MediaWiki's installer,
//! with and without the warm pool, on SQLite and MariaDB; bulk throughput; and the API at
//! 100,000 registered wikis. Prints figures and ratios; asserts nothing about speed.
//!
//! Also settings: a change until MediaWiki shows it, first views across extension sets, and a
//! page view under the farm's configuration against a single wiki's.
//!
//! Run: `cargo bench -p farmd --bench instant_wikis`
//! Knobs: WIKIS (per latency series, default 50), BULK (default 500), REGISTRY (default
//! 100000), CHANGES (default 50), VIEWS (default 200), SECTIONS (any of
//! `latency,bulk,registry,settings`, default all), BASELINE=0 to leave out
//! MediaWiki's installer runs (a) while iterating. MariaDB series use the server on
//! 127.0.0.1:3306 (root, no password).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{local_mariadb, ControlStore, Farmd, LOCAL_MARIADB, MEDIAWIKI_DIR};
use serde_json::{json, Value};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    median: f64,
    p99: f64,
}

fn stats(label: &str, samples: &mut [Duration]) -> Stats {
    samples.sort();
    let pick = |q: f64| ms(samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1]);
    let s = Stats { median: pick(0.5), p99: pick(0.99) };
    println!("  {label:<52} n={:<4} median {:>8.1} ms   p99 {:>8.1} ms", samples.len(), s.median, s.p99);
    s
}

/// (a): `install.php` then `createAndPromote.php`, the way a wiki is made by hand. The first
/// page view is not even counted, which favours this baseline.
fn by_hand(count: usize, mariadb: bool) -> Vec<Duration> {
    let scratch = tempfile::tempdir().expect("tempdir");
    (0..count)
        .map(|i| {
            let dir = scratch.path().join(format!("wiki{i}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let dbname = format!("benchhand_{i}_{}", std::process::id());
            let dir_arg = dir.to_string_lossy().into_owned();
            let mut install = Command::new("php");
            install.arg(format!("{MEDIAWIKI_DIR}/maintenance/install.php"));
            if mariadb {
                install.args(["--dbtype", "mysql", "--dbserver", "127.0.0.1:3306", "--dbname", &dbname]);
                install.args(["--installdbuser", "root", "--installdbpass", "", "--dbuser", "root", "--dbpass", ""]);
            } else {
                install.args(["--dbtype", "sqlite", "--dbpath", &dir_arg, "--dbname", &dbname]);
            }
            install
                .args(["--confpath", &dir_arg, "--server", "http://bench.localhost", "--scriptpath", ""])
                .args(["--pass", "bench-password-123", &format!("Wiki {i}"), "Admin"])
                .env("MW_CONFIG_FILE", dir.join("absent.php"));
            let started = Instant::now();
            let output = install.output().expect("install.php");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
            let output = Command::new("php")
                .arg(format!("{MEDIAWIKI_DIR}/maintenance/createAndPromote.php"))
                .args(["--sysop", "--bureaucrat", "Owner", "owner-password-123"])
                .env("MW_CONFIG_FILE", dir.join("LocalSettings.php"))
                .output()
                .expect("createAndPromote.php");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
            let elapsed = started.elapsed();
            if mariadb {
                local_mariadb(&format!("DROP DATABASE IF EXISTS {dbname}"));
            }
            elapsed
        })
        .collect()
}

/// One wiki's timings: create call to the first 200 from its Main Page, split where the
/// API first reports it `active`.
struct Sample {
    total: Duration,
    to_active: Duration,
    active_to_page: Duration,
}

/// POST /api/v1/wikis, then wait for the first 200 from the new wiki's Main Page: poll the
/// wiki's state through the API (as the portal does) and request the page once it is active.
/// Polling the page itself would keep the PHP servers busy answering 404s.
async fn create_to_first_page(farm: &Farmd, token: &str, prefix: &str, count: usize, backend: &str) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        let client = farm.wiki_client(&name);
        let started = Instant::now();
        let (status, body) =
            farm.create_wiki(token, json!({"name": name, "sitename": format!("Bench {i}"), "backend": backend})).await;
        assert_eq!(status, 202, "{body}");
        let path = format!("/api/v1/wikis/{name}");
        let mut active_at = None;
        loop {
            if active_at.is_none() && farm.get_json(token, &path).await.1["state"] == "active" {
                active_at = Some(started.elapsed());
            }
            if active_at.is_some() && client.get("/index.php?title=Main_Page").await.0 == 200 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "{name} never served\n{}", farm.log());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let total = started.elapsed();
        let to_active = active_at.unwrap_or_default();
        samples.push(Sample { total, to_active, active_to_page: total - to_active });
    }
    samples
}

fn median(mut values: Vec<Duration>) -> f64 {
    values.sort();
    ms(values[(values.len() - 1) / 2])
}

async fn wait_pool_full(farm: &Farmd, admin: &str) {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let (_, body) = farm.get_json(admin, "/api/v1/pool").await;
        let levels = body["pool"].as_array().cloned().unwrap_or_default();
        if levels.iter().all(|l| l["ready"] == l["wanted"]) {
            return;
        }
        assert!(Instant::now() < deadline, "the pool never filled: {levels:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn mariadb_config(pool_sqlite: usize, pool_mariadb: usize) -> String {
    format!(
        "pool_sqlite = {pool_sqlite}\npool_mariadb = {pool_mariadb}\nphp_workers = 4\n\n\
         [[database_servers]]\nname = \"local\"\nadmin_url = \"{LOCAL_MARIADB}\"\n"
    )
}

async fn latency_section(count: usize, baseline: bool) {
    println!("\n== create-to-first-200 (one wiki after another, {count} per series)");
    let (a_sqlite, a_maria) = if baseline {
        let mut a_sqlite = by_hand(count, false);
        let a_sqlite = stats("(a) install.php + createAndPromote.php, SQLite", &mut a_sqlite);
        let mut a_maria = by_hand(count, true);
        let a_maria = stats("(a) install.php + createAndPromote.php, MariaDB", &mut a_maria);
        (Some(a_sqlite), Some(a_maria))
    } else {
        println!("  (a) skipped (BASELINE=0)");
        (None, None)
    };

    // The pool is sized so that the series does not drain it below the refill threshold (a quarter).
    for (label, pool) in [("(b) farmd, no pool", 0), ("(c) farmd, warm pool", count * 4 / 3 + 5)] {
        let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&mariadb_config(pool, pool)));
        farm.spawn();
        farm.wait_healthy().await;
        let admin = farm.token("bench", "admin");
        wait_pool_full(&farm, &admin).await;
        // One wiki per backend first, so PHP workers and the shared caches are warm, as on a
        // farm that has been up for a while.
        create_to_first_page(&farm, &admin, "warm-sqlite", 1, "sqlite").await;
        create_to_first_page(&farm, &admin, "warm-maria", 1, "mariadb").await;
        wait_pool_full(&farm, &admin).await;
        for (backend, baseline) in [("sqlite", &a_sqlite), ("mariadb", &a_maria)] {
            let samples = create_to_first_page(&farm, &admin, &format!("lat-{backend}"), count, backend).await;
            let mut totals: Vec<Duration> = samples.iter().map(|s| s.total).collect();
            let s = stats(&format!("{label}, {backend}"), &mut totals);
            println!(
                "  {:<52} medians: create call to active {:>6.1} ms, active to first 200 {:>6.1} ms",
                "",
                median(samples.iter().map(|s| s.to_active).collect()),
                median(samples.iter().map(|s| s.active_to_page).collect()),
            );
            if let Some(baseline) = baseline {
                println!(
                    "  {:<52} median {:>6.1}x faster than (a), p99 {:>6.1}x",
                    "",
                    baseline.median / s.median,
                    baseline.p99 / s.p99
                );
            }
        }
        cleanup_local_mariadb(&mut farm, &admin).await;
    }
}

/// Deletes the farm's MariaDB wikis, pool entries and templates from the shared server, and
/// stops the farm.
async fn cleanup_local_mariadb(farm: &mut Farmd, admin: &str) {
    let mut cursor = String::new();
    loop {
        let (_, page) = farm.get_json(admin, &format!("/api/v1/wikis?limit=500{cursor}")).await;
        for wiki in page["wikis"].as_array().cloned().unwrap_or_default() {
            if wiki["storage"]["backend"] == "mariadb" {
                farm.delete(admin, &format!("/api/v1/wikis/{}", wiki["name"].as_str().unwrap_or(""))).await;
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while farm.get_json(admin, "/api/v1/wikis?state=deleting&limit=1").await.1["wikis"]
        .as_array()
        .is_some_and(|l| !l.is_empty())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Pool entries and templates go with the farm: drop them directly, once the farm has
    // stopped, so that no refill starts an entry after they are listed.
    farm.terminate();
    for key in farm.pool_keys().await {
        local_mariadb(&format!("DROP DATABASE IF EXISTS `wiki_{key}`; DROP USER IF EXISTS 'wiki_{key}'@'%'"));
    }
    farm.drop_templates_on_local_mariadb();
}

async fn bulk_section(count: usize) {
    println!("\n== bulk creation: {count} wikis per backend, submitted in batches of 100, until all are active");
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&mariadb_config(0, 0)));
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("bench", "admin");
    // Templates first, so the figure is about wikis, not the one-off installer run.
    create_to_first_page(&farm, &admin, "warm-sqlite", 1, "sqlite").await;
    create_to_first_page(&farm, &admin, "warm-maria", 1, "mariadb").await;
    for (backend, target) in [("sqlite", 20.0), ("mariadb", 5.0)] {
        let started = Instant::now();
        let names: Vec<String> = (0..count).map(|i| format!("bulk-{backend}-{i}")).collect();
        for chunk in names.chunks(100) {
            let rows: Vec<Value> =
                chunk.iter().map(|n| json!({"name": n, "sitename": n, "backend": backend})).collect();
            let response = farm
                .http
                .post(farm.url("/api/v1/wiki-batches"))
                .bearer_auth(&admin)
                .json(&json!({"wikis": rows}))
                .send()
                .await
                .expect("send");
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["created"].as_u64(), Some(chunk.len() as u64), "{body}");
        }
        let submitted = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            let (_, page) = farm.get_json(&admin, "/api/v1/wikis?state=provisioning&limit=1").await;
            if page["wikis"].as_array().is_some_and(|l| l.is_empty()) {
                break;
            }
            assert!(Instant::now() < deadline, "bulk never finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let total = started.elapsed();
        let rate = count as f64 / total.as_secs_f64();
        println!(
            "  {backend:<8} submitted in {:>6.1} s, all active after {:>6.1} s: {rate:>6.1} wikis/s (target {target}: {:.1}x)",
            submitted.as_secs_f64(),
            total.as_secs_f64(),
            rate / target
        );
    }
    cleanup_local_mariadb(&mut farm, &admin).await;
}

async fn registry_section(count: usize) {
    println!("\n== API at {count} registered wikis");
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[("FARM_PHP_WORKERS", "1")], None);
    std::fs::create_dir_all(&farm.data_dir).expect("data dir");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_farmd"))
        .args(["registry", "seed", "--count", &count.to_string()])
        .env("FARM_DATA_DIR", &farm.data_dir)
        .output()
        .expect("seed");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    println!(
        "  registered {count} placeholder wikis in {:.1} s (farmd registry seed)",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    farm.spawn();
    farm.wait_healthy().await;
    println!("  start-up to healthy: {:.0} ms (includes building the SQLite template)", ms(started.elapsed()));
    let admin = farm.token("bench", "admin");
    let member = farm.token("owner7", "member");
    // The requests below are measured in steady state: the warm pool fills after each start,
    // and its PHP renders would otherwise share the two cores with them. A restart in between
    // shows start-up time on a data directory that already has its template.
    wait_pool_full(&farm, &admin).await;
    let first_peak = farm.peak_memory_kib().unwrap_or(0);
    farm.terminate();
    let started = Instant::now();
    farm.spawn();
    farm.wait_healthy().await;
    println!("  restart to healthy: {:.0} ms", ms(started.elapsed()));
    wait_pool_full(&farm, &admin).await;

    let mut seed = 0x2545_f491_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut get = Vec::new();
    for _ in 0..2000 {
        let path = format!("/api/v1/wikis/seed-{}", next(count));
        let started = Instant::now();
        let (status, _) = farm.get_json(&admin, &path).await;
        get.push(started.elapsed());
        assert_eq!(status, 200);
    }
    let g = stats("GET /api/v1/wikis/{name}", &mut get);
    let mut list = Vec::new();
    for _ in 0..500 {
        let path = format!("/api/v1/wikis?limit=50&cursor={}", next(count));
        let started = Instant::now();
        let (status, page) = farm.get_json(&admin, &path).await;
        list.push(started.elapsed());
        assert_eq!(status, 200);
        assert!(page["wikis"].as_array().is_some_and(|l| !l.is_empty()));
    }
    let l = stats("GET /api/v1/wikis?limit=50&cursor=… (admin)", &mut list);
    let mut filtered = Vec::new();
    for i in 0..500 {
        let (token, path) = if i % 2 == 0 {
            (&member, "/api/v1/wikis?limit=50".to_owned())
        } else {
            (&admin, format!("/api/v1/wikis?limit=50&state=active&owner=owner{}", next(1000)))
        };
        let started = Instant::now();
        let (status, page) = farm.get_json(token, &path).await;
        filtered.push(started.elapsed());
        assert_eq!(status, 200);
        assert!(page["wikis"].as_array().is_some_and(|l| !l.is_empty()), "{path}");
    }
    let f = stats("GET /api/v1/wikis filtered by owner and state", &mut filtered);
    let peak = farm.peak_memory_kib().unwrap_or(0);
    println!(
        "  farmd peak memory (VmHWM): {:.1} MB over the measurements after the restart, {:.1} MB over the first start",
        peak as f64 / 1024.0,
        first_peak as f64 / 1024.0
    );
    let peak = peak.max(first_peak);
    println!(
        "  targets: get p99 <= 5 ms ({:.1}x margin), peak memory <= 150 MB ({:.1}x margin); list p99 {:.1} ms, filtered p99 {:.1} ms",
        5.0 / g.p99,
        150.0 * 1024.0 / peak.max(1) as f64,
        l.p99,
        f.p99
    );
}

#[tokio::main]
async fn main() {
    let sections = std::env::var("SECTIONS").unwrap_or_else(|_| "latency,bulk,registry,settings".into());
    println!(
        "instant wikis on {} cores (MediaWiki {MEDIAWIKI_DIR}, MariaDB {LOCAL_MARIADB})",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if sections.contains("latency") {
        latency_section(env_number("WIKIS", 50), env_number("BASELINE", 1) != 0).await;
    }
    if sections.contains("bulk") {
        bulk_section(env_number("BULK", 500)).await;
    }
    if sections.contains("registry") {
        registry_section(env_number("REGISTRY", 100_000)).await;
    }
    if sections.contains("settings") {
        settings_section(env_number("CHANGES", 50), env_number("VIEWS", 200)).await;
    }
}

/// A PHP built-in server for the bench, with the flags farmd gives its own.
fn php_server(port: u16, config: &std::path::Path, router: Option<&std::path::Path>) -> std::process::Child {
    let mut cmd = Command::new("php");
    cmd.env("MW_CONFIG_FILE", config)
        .args(["-d", "display_errors=0", "-d", "log_errors=1", "-d", "error_log=", "-d", "expose_php=0"])
        .args(["-d", "opcache.enable_cli=1", "-d", "opcache.validate_timestamps=1", "-d", "opcache.revalidate_freq=0"])
        .args(["-S", &format!("127.0.0.1:{port}"), "-t", MEDIAWIKI_DIR])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(router) = router {
        cmd.arg(router);
    }
    cmd.spawn().expect("php -S")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `count` views of one page from `base` with `Host: host`, after 20 to warm up.
async fn views(http: &reqwest::Client, base: &str, host: &str, count: usize) -> Vec<Duration> {
    let url = format!("{base}/index.php?title=Main_Page");
    let mut samples = Vec::with_capacity(count);
    for i in 0..count + 20 {
        let started = Instant::now();
        let response = http.get(&url).header("Host", host).send().await.expect("view");
        assert_eq!(response.status(), 200, "{url}");
        response.bytes().await.expect("body");
        if i >= 20 {
            samples.push(started.elapsed());
        }
    }
    samples
}

/// Settings: a change until MediaWiki shows it; the first view of a wiki whose extensions
/// differ from the wiki rendered before it (the shared localisation cache stays valid); a page
/// view under the farm's configuration against one wiki's own LocalSettings.php with the same
/// extensions on the same codebase.
async fn settings_section(changes: usize, view_count: usize) {
    println!("\n== settings and extensions");
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some("pool_sqlite = 2\nphp_workers = 2\n"));
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("bench", "admin");
    create_to_first_page(&farm, &admin, "set", 1, "sqlite").await;
    let wiki = farm.wiki_client("set-0");
    let mut to_visible = Vec::with_capacity(changes);
    let mut calls = Vec::with_capacity(changes);
    for i in 0..changes {
        let (_, current) = farm.get_json(&admin, "/api/v1/wikis/set-0/settings").await;
        let sitename = format!("Renamed {i}");
        let started = Instant::now();
        let response = farm
            .http
            .patch(farm.url("/api/v1/wikis/set-0/settings"))
            .bearer_auth(&admin)
            .json(&json!({"base_revision": current["revision"], "settings": {"sitename": sitename}}))
            .send()
            .await
            .expect("patch");
        assert_eq!(response.status(), 200);
        let answered = Instant::now();
        calls.push(answered - started);
        loop {
            let info = wiki.api_get(&[("action", "query"), ("meta", "siteinfo")]).await;
            if info["query"]["general"]["sitename"] == sitename.as_str() {
                break;
            }
            assert!(answered.elapsed() < Duration::from_secs(30), "the change never showed");
        }
        to_visible.push(answered.elapsed());
    }
    stats(&format!("PATCH settings call ({changes} changes)"), &mut calls);
    stats("API answer to siteinfo showing it (includes one siteinfo call)", &mut to_visible);

    // Wikis with other extension sets, viewed in turn: first views, and the cache files.
    let cache_dir = farm.data_dir.join("cache").join(common::mediawiki_version());
    let cdb_mtime = || std::fs::metadata(cache_dir.join("l10n_cache-en.cdb")).and_then(|m| m.modified()).ok();
    let (status, body) = farm
        .create_wiki(&admin, json!({"name": "lean", "sitename": "Lean", "extensions": {"VisualEditor": false, "Scribunto": false, "AbuseFilter": false, "Cite": false, "Math": true}}))
        .await;
    assert_eq!(status, 202, "{body}");
    farm.wait_for_state(&admin, "lean", &["active"]).await;
    let before = cdb_mtime();
    let lean = farm.wiki_client("lean");
    let mut first_views = Vec::new();
    for (label, client) in [("lean (5 extensions differ), first view", &lean), ("set-0 again", &wiki)] {
        let started = Instant::now();
        assert_eq!(client.get("/index.php?title=Main_Page").await.0, 200);
        let took = started.elapsed();
        println!("  {label:<52} {:>8.1} ms", ms(took));
        first_views.push(took);
    }
    println!(
        "  {:<52} {}",
        "shared localisation cache rewritten meanwhile",
        if cdb_mtime() == before { "no" } else { "YES" }
    );

    // Page views: the farm's configuration against a single wiki's, each on its own PHP server.
    let farm_port = free_port();
    let farm_files = farm.data_dir.join("mediawiki");
    let mut farm_php =
        php_server(farm_port, &farm_files.join("FarmSettings.php"), Some(&farm_files.join("router.php")));
    let single = tempfile::tempdir().expect("tempdir");
    let single_port = free_port();
    let settings = single_wiki(single.path(), single_port, &farm_files);
    let mut single_php = php_server(single_port, &settings, None);
    let http = reqwest::Client::new();
    let farm_base = format!("http://127.0.0.1:{farm_port}");
    let single_base = format!("http://127.0.0.1:{single_port}");
    for base in [&farm_base, &single_base] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/")).send().await.is_err() {
            assert!(Instant::now() < deadline, "{base} never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let host = format!("set-0.localhost:{}", farm.port);
    let mut farm_views = views(&http, &farm_base, &host, view_count).await;
    let mut single_views = views(&http, &single_base, &format!("127.0.0.1:{single_port}"), view_count).await;
    let f = stats(&format!("page view, farm configuration ({view_count} views)"), &mut farm_views);
    let o = stats("page view, one wiki's own LocalSettings.php", &mut single_views);
    println!(
        "  {:<52} {:>+7.1}% at the median (target: within 5%)",
        "farm vs single",
        (f.median / o.median - 1.0) * 100.0
    );
    let _ = farm_php.kill();
    let _ = single_php.kill();
    let _ = farm_php.wait();
    let _ = single_php.wait();
    farm.terminate();
}

/// A single wiki made by MediaWiki's installer, with the farm's default extensions and their
/// configuration (farm-features.php with a public wiki's values) and the same caches.
fn single_wiki(dir: &std::path::Path, port: u16, farm_files: &std::path::Path) -> std::path::PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("conf");
    let output = Command::new("php")
        .env("MW_CONFIG_FILE", dir.join("absent.php"))
        .arg(std::path::Path::new(MEDIAWIKI_DIR).join("maintenance/install.php"))
        .args(["--dbtype", "sqlite", "--dbpath"])
        .arg(dir.join("db"))
        .arg("--confpath")
        .arg(&conf)
        .args([
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--scriptpath",
            "",
            "--pass",
            "BenchPassword123",
            "Single",
            "Admin",
        ])
        .output()
        .expect("install.php");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    let extensions: Vec<String> = farm_core::config::DEFAULT_EXTENSIONS.iter().map(|e| format!("'{e}'")).collect();
    let extra = format!(
        "\n$wgMainCacheType = CACHE_ACCEL;\n$wgSessionCacheType = CACHE_DB;\n$wgParserCacheType = CACHE_DB;\n\
         $wgCacheDirectory = '{cache}';\n$wgLocalisationCacheConf['store'] = 'files';\n\
         $wgLocalisationCacheConf['storeDirectory'] = '{cache}';\n$wgUseImageMagick = false;\n\
         $wgDefaultSkin = 'vector-2022';\n$wgEnableUploads = true;\n\
         $farmExtensions = [ {list} ];\n$farmConfig = [ 'logo' => '/farm-assets/farm-logo.svg', 'captcha' => 'simple', 'captcha_questions' => [] ];\n\
         $farmLogo = null; $farmFavicon = null; $farmLicence = null; $farmPrivate = false;\n\
         $farmAccountCreation = 'everyone'; $farmEdit = 'everyone'; $farmUploadQuotaBytes = 524288000; $farmEmail = false;\n\
         require '{features}';\n",
        cache = dir.join("cache").display(),
        list = extensions.join(", "),
        features = farm_files.join("farm-features.php").display(),
    );
    let settings = conf.join("LocalSettings.php");
    let mut text = std::fs::read_to_string(&settings).expect("LocalSettings.php");
    text.push_str(&extra);
    std::fs::write(&settings, text).expect("write");
    let update = Command::new("php")
        .env("MW_CONFIG_FILE", &settings)
        .arg(std::path::Path::new(MEDIAWIKI_DIR).join("maintenance/update.php"))
        .args(["--quick"])
        .output()
        .expect("update.php");
    assert!(update.status.success(), "{}", String::from_utf8_lossy(&update.stdout));
    settings
}
