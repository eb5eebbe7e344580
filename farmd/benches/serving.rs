//! Benchmark for serving page views, side by side: WIKIS wikis (default 50), anonymous Main
//! Page views spread over them by CONCURRENCY clients (default 8) for VIEW_SECONDS each (default 15),
//! through
//!   (a) nginx + php-fpm from the recipe (deploy/nginx, deploy/php-fpm),
//!   (b) the same with Varnish in front (deploy/varnish/farmd.vcl),
//!   (c) farmd's built-in PHP servers, `[cache] builtin = false`,
//!   (d) farmd's built-in PHP servers with its cache (the default).
//! Prints requests/s, median and p99 for each, the cached/uncached ratios, and how long an edit
//! takes to reach anonymous readers through each cache (EDITS edits, default 10: after the
//! edit's API call returns, polled every 10 ms). Every view is warmed once before its side is
//! timed, and the new wikis' job queues are drained first (farmd runs them in the background,
//! which would otherwise take the CPU from the first side). Asserts nothing about speed.
//!
//! Run: `cargo bench -p farmd --bench serving`

#[allow(dead_code, unused_imports)]
#[path = "../../tests/cache.rs"]
mod cache;
#[path = "../../tests/common/mod.rs"]
mod common;
#[allow(dead_code, unused_imports)] // The suite's helpers; the bench uses the recipe's processes and clients.
#[path = "../../tests/production.rs"]
mod production;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache::{Site, Varnish};
use common::Farmd;
use production::{free_port, Front};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Figures {
    rate: f64,
    median: Duration,
    p99: Duration,
    hits: usize,
    count: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// A client for every wiki host of the farm at `port`, no cookies, as anonymous readers.
fn readers(domain: &str, port: u16, wikis: &[String]) -> reqwest::Client {
    let addr = ([127, 0, 0, 1], port).into();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(8);
    for wiki in wikis {
        builder = builder.resolve(&format!("{wiki}.{domain}"), addr);
    }
    builder.build().expect("client")
}

fn main_page(domain: &str, port: u16, wiki: &str) -> String {
    format!("http://{wiki}.{domain}:{port}/index.php/Main_Page")
}

/// Main Page views, the wikis in turn, `concurrency` at a time for `duration`.
async fn load(domain: &str, port: u16, wikis: &[String], concurrency: usize, duration: Duration) -> Figures {
    let http = readers(domain, port, wikis);
    for wiki in wikis {
        let response = http.get(main_page(domain, port, wiki)).send().await.expect("warm-up");
        assert_eq!(response.status(), 200, "{wiki} on port {port}");
        let _ = response.bytes().await;
    }
    let samples = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..concurrency {
        let (http, samples, hits, stop) = (http.clone(), samples.clone(), hits.clone(), stop.clone());
        let urls: Vec<String> = wikis.iter().map(|w| main_page(domain, port, w)).collect();
        clients.push(tokio::spawn(async move {
            let mut next = client;
            let mut own = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let url = &urls[next % urls.len()];
                next += concurrency;
                let start = Instant::now();
                let response = http.get(url).send().await.expect("view");
                assert_eq!(response.status(), 200, "{url}");
                if response.headers().get("x-cache").is_some_and(|v| v == "HIT") {
                    hits.fetch_add(1, Ordering::Relaxed);
                }
                let body = response.bytes().await.expect("body");
                assert!(body.len() > 1000, "a whole page");
                own.push(start.elapsed());
            }
            samples.lock().expect("samples").extend(own);
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("client");
    }
    let elapsed = started.elapsed();
    let mut samples = std::mem::take(&mut *samples.lock().expect("samples"));
    samples.sort();
    Figures {
        rate: samples.len() as f64 / elapsed.as_secs_f64(),
        median: percentile(&samples, 0.5),
        p99: percentile(&samples, 0.99),
        hits: hits.load(Ordering::Relaxed),
        count: samples.len(),
    }
}

fn print(label: &str, f: &Figures) {
    println!(
        "  {label:<44} {:>8.1} req/s   median {:>7.2} ms   p99 {:>8.2} ms   ({} views, {} hits)",
        f.rate,
        ms(f.median),
        ms(f.p99),
        f.count,
        f.hits
    );
}

/// EDITS edits of a page, each followed by anonymous reads every 10 ms until the new text is
/// there: the time from the edit's answer to the first read that shows it.
async fn edit_to_visible(site: &Site, wiki: &str, owner: &(String, String), edits: usize) -> Vec<Duration> {
    let editor = cache::login(site, wiki, &owner.0, &owner.1).await;
    let reader = site.client(wiki, false);
    let url = site.url(wiki, "/index.php/Cache_test");
    cache::edit(&editor, site, wiki, "Edit 0 of the benchmark.").await;
    let mut times = Vec::new();
    for n in 1..=edits {
        // Stored first, so that the edit has something to purge.
        let _ = cache::get(&reader, &url, &[]).await;
        let stored = cache::get(&reader, &url, &[]).await;
        assert_eq!(stored.cache, "HIT", "{wiki}: the page is stored before edit {n}");
        let text = format!("Edit {n} of the benchmark.");
        cache::edit(&editor, site, wiki, &text).await;
        let edited = Instant::now();
        loop {
            if cache::get(&reader, &url, &[]).await.body.contains(&text) {
                times.push(edited.elapsed());
                break;
            }
            assert!(edited.elapsed() < Duration::from_secs(30), "{wiki}: edit {n} never showed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    times.sort();
    times
}

fn print_edits(label: &str, times: &[Duration]) {
    println!(
        "  edit to visible, {label:<27} median {:>7.1} ms   max {:>7.1} ms   ({} edits)",
        ms(percentile(times, 0.5)),
        ms(times.last().copied().unwrap_or_default()),
        times.len()
    );
}

async fn create(farm: &Farmd, admin: &str, names: &[String]) {
    let rows: Vec<Value> = names.iter().map(|n| json!({"name": n, "sitename": n, "backend": "sqlite"})).collect();
    let response =
        farm.http.post(farm.url("/api/v1/wiki-batches")).bearer_auth(admin).json(&json!({ "wikis": rows })).send();
    let body: Value = response.await.expect("send").json().await.expect("json");
    assert_eq!(body["created"].as_u64(), Some(names.len() as u64), "{body}");
    let deadline = Instant::now() + Duration::from_secs(1800);
    while farm.get_json(admin, "/api/v1/wikis?state=provisioning&limit=1").await.1["wikis"]
        .as_array()
        .is_some_and(|l| !l.is_empty())
    {
        assert!(Instant::now() < deadline, "the wikis never became active");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Until farmd's background runner has no job left in any wiki's queue (`/metrics`).
async fn jobs_drained(farm: &Farmd) {
    let started = Instant::now();
    // The runner counts the queues every poll_interval (5 s): let it count the new ones first.
    tokio::time::sleep(Duration::from_secs(6)).await;
    loop {
        let metrics = farm.http.get(farm.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
        let queued =
            metrics.lines().find_map(|l| l.strip_prefix("farm_jobs_queued ")).and_then(|v| v.parse::<i64>().ok());
        if queued == Some(0) {
            println!("  the new wikis' jobs ran in {:.1} s", started.elapsed().as_secs_f64());
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "the job queues never emptied: {queued:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// An admin, the wikis to view, and the wiki to edit, with every new job run; the edited
/// wiki's owner.
async fn populate(farm: &Farmd, wikis: &[String], which: &str) -> (String, String) {
    assert!(farm.create_account("olga", "admin", Some(PASSWORD)));
    let admin = farm.token("olga", "admin");
    let made = Instant::now();
    create(farm, &admin, wikis).await;
    let owner = cache::new_wiki(farm, &admin, "editbench", "sqlite").await;
    println!("  {} wikis made in {:.1} s ({which})", wikis.len(), made.elapsed().as_secs_f64());
    jobs_drained(farm).await;
    owner
}

#[tokio::main]
async fn main() {
    let count = env_number("WIKIS", 50);
    let concurrency = env_number("CONCURRENCY", 8);
    let duration = Duration::from_secs(env_number("VIEW_SECONDS", 15) as u64);
    let edits = env_number("EDITS", 10);
    let wikis: Vec<String> = (0..count).map(|i| format!("view{i}")).collect();
    println!(
        "serving: Main Page views of {count} wikis, {concurrency} clients, {} s per side, on {} cores",
        duration.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // (a) and (b): php-fpm as www-data behind nginx, Varnish in front, purged by MediaWiki.
    let domain = "bench.test";
    let (public, nginx) = (free_port(), free_port());
    let purge = format!("[\"127.0.0.1:{public}\"]");
    let mut farm = Farmd::new(&[
        ("FARM_BASE_DOMAIN", domain),
        ("FARM_PUBLIC_PORT", &public.to_string()),
        ("FARM_PHP_WORKERS", "0"),
        ("FARM_WEB_GROUP", "www-data"),
        ("FARM_CACHE__PURGE", &purge),
    ]);
    let parent = farm.data_dir.parent().expect("parent").to_path_buf();
    std::fs::set_permissions(&parent, std::os::unix::fs::PermissionsExt::from_mode(0o711)).expect("chmod");
    farm.spawn();
    farm.wait_healthy().await;
    let owner = populate(&farm, &wikis, "php-fpm farm").await;
    let front = Front::start_for(domain, nginx, farm.addr(), &farm.data_dir);
    let varnish = Varnish::start(public, nginx, domain);
    let fpm = load(domain, nginx, &wikis, concurrency, duration).await;
    print("(a) nginx + php-fpm", &fpm);
    let fpm_cached = load(domain, public, &wikis, concurrency, duration).await;
    print("(b) nginx + php-fpm + Varnish", &fpm_cached);
    let varnish_edits = edit_to_visible(&Site { domain, port: public }, "editbench", &owner, edits).await;
    drop((varnish, front));
    drop(farm);

    // (c) and (d): farmd's own PHP servers (the farm's default number), then its cache.
    let mut farm = Farmd::new(&[("FARM_PHP_WORKERS", "4")]);
    farm.set_config("[cache]\nbuiltin = false\n");
    farm.spawn();
    farm.wait_healthy().await;
    let owner = populate(&farm, &wikis, "farmd's PHP servers").await;
    let builtin = load("localhost", farm.port, &wikis, concurrency, duration).await;
    print("(c) farmd's PHP servers, no cache", &builtin);
    farm.terminate();
    farm.set_config("[cache]\nbuiltin = true\n");
    farm.spawn();
    farm.wait_healthy().await;
    let builtin_cached = load("localhost", farm.port, &wikis, concurrency, duration).await;
    print("(d) farmd's PHP servers + its cache", &builtin_cached);
    let builtin_edits =
        edit_to_visible(&Site { domain: "localhost", port: farm.port }, "editbench", &owner, edits).await;

    println!("  cached / uncached requests/s:");
    println!("    Varnish over nginx + php-fpm              {:>7.1}x", fpm_cached.rate / fpm.rate);
    println!("    farmd's cache over its PHP servers        {:>7.1}x", builtin_cached.rate / builtin.rate);
    print_edits("Varnish:", &varnish_edits);
    print_edits("farmd's cache:", &builtin_edits);
}
