//! Benchmark: how long from "create a wiki" to the first 200 from its Main Page, through
//! farmd, next to MediaWiki's own installer on the same machine.
//!
//! Run: `cargo bench -p farmd --bench create_to_first_page` (WIKIS=N to change the count).
//! It prints figures and ratios; it asserts nothing about speed.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Farmd, MEDIAWIKI_DIR};
use serde_json::json;

fn summary(label: &str, samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = ms(samples[samples.len() / 2]);
    let worst = ms(samples[samples.len() - 1]);
    println!("{label:<58} n={:<3} median {median:>8.1} ms   worst {worst:>8.1} ms", samples.len());
    (median, worst)
}

/// The manual way: `install.php` then `createAndPromote.php` for the owner, per wiki (SQLite).
/// Serving the first page is not even counted here, which favours the baseline.
fn baseline(count: usize) -> Vec<Duration> {
    let scratch = tempfile::tempdir().expect("tempdir");
    (0..count)
        .map(|i| {
            let dir = scratch.path().join(format!("wiki{i}"));
            std::fs::create_dir_all(dir.join("conf")).expect("mkdir");
            let dir_arg = dir.to_string_lossy().into_owned();
            let conf = dir.join("conf");
            let started = Instant::now();
            let install = Command::new("php")
                .arg(format!("{MEDIAWIKI_DIR}/maintenance/install.php"))
                .args(["--dbtype", "sqlite", "--dbpath", &dir_arg, "--dbname", &format!("wiki{i}")])
                .args(["--confpath", &conf.to_string_lossy(), "--server", "http://bench.localhost", "--scriptpath", ""])
                .args(["--pass", "bench-password-123", &format!("Wiki {i}"), "Admin"])
                .env("MW_CONFIG_FILE", dir.join("absent.php"))
                .output()
                .expect("install.php");
            assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stdout));
            let promote = Command::new("php")
                .arg(format!("{MEDIAWIKI_DIR}/maintenance/createAndPromote.php"))
                .args(["--sysop", "--bureaucrat", "Owner", "owner-password-123"])
                .env("MW_CONFIG_FILE", conf.join("LocalSettings.php"))
                .output()
                .expect("createAndPromote.php");
            assert!(promote.status.success(), "{}", String::from_utf8_lossy(&promote.stdout));
            started.elapsed()
        })
        .collect()
}

async fn through_farmd(farm: &Farmd, token: &str, prefix: &str, count: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("{prefix}{i}");
        let client = farm.wiki_client(&name);
        let started = Instant::now();
        let (status, body) = farm.create_wiki(token, json!({"name": name, "sitename": format!("Bench {i}")})).await;
        assert_eq!(status, 202, "{body}");
        loop {
            let (status, _) = client.get("/index.php?title=Main_Page").await;
            if status == 200 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{name} never served");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples.push(started.elapsed());
    }
    samples
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("WIKIS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    println!(
        "create-to-first-200 on {} cores, {count} wikis each, one after another\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut manual = baseline(count);
    let (manual_median, manual_worst) = summary("(a) install.php + createAndPromote.php (no page served)", &mut manual);

    let farm = Farmd::start_with(&[("FARM_PHP_WORKERS", "4")]).await;
    let token = farm.token("bench", "member");
    // One wiki first so that PHP servers and the shared localisation cache are warm, as on
    // a farm that has been up for a while; reported separately.
    let mut first = through_farmd(&farm, &token, "first", 1).await;
    summary("farmd, first wiki after start (cold PHP and l10n cache)", &mut first);
    let mut samples = through_farmd(&farm, &token, "bench", count).await;
    let (median, worst) = summary("(b) farmd: POST /api/v1/wikis -> Main Page 200", &mut samples);

    println!();
    println!("ratio (a)/(b): median {:.1}x faster, worst {:.1}x faster", manual_median / median, manual_worst / worst);
}
