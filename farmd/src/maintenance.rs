//! `farmd maintenance run|status|cancel|list`: maintenance runs through the API of a running
//! farm. `run` starts one, shows its progress on the terminal and prints each wiki's report;
//! its exit status is 2 when a wiki's script failed, timed out or was interrupted, or the run
//! was cancelled.

use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::remote::{describe_error, http, Api};

/// Which wikis and how, as given on the command line.
pub struct RunOptions<'a> {
    pub script: &'a str,
    pub args: &'a [String],
    pub selection: Value,
    pub parallel: Option<u32>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub force: bool,
    pub wait: bool,
}

/// Starts the run and (unless told not to) follows it to its end; true when every wiki's
/// script succeeded or was skipped.
pub async fn run(api: Api<'_>, options: RunOptions<'_>) -> anyhow::Result<bool> {
    let mut body = json!({ "script": options.script, "args": options.args, "selection": options.selection });
    if let Some(parallel) = options.parallel {
        body["parallel"] = json!(parallel);
    }
    if let Some(timeout) = options.timeout {
        body["timeout_seconds"] = json!(timeout.as_secs().max(1));
    }
    if let Some(retries) = options.retries {
        body["retries"] = json!(retries);
    }
    if options.force {
        body["force"] = json!(true);
    }
    start_and_follow(api, "/api/v1/maintenance-runs", body, options.wait).await
}

/// POSTs `body` to `path` (which answers with a run: a new one, an upgrade, a retry) and,
/// with `wait`, follows the run to its end; true when nothing failed.
pub async fn start_and_follow(api: Api<'_>, path: &str, body: Value, wait: bool) -> anyhow::Result<bool> {
    let http = http()?;
    let (status, created) = api.call(http.post(format!("{}{path}", api.url)).json(&body)).await?;
    anyhow::ensure!(status == 202, "{}", describe_error(status, &created));
    let id = created["id"].as_i64().context("the farm's answer has no run id")?;
    let what = match created["upgrade_to"].as_str() {
        Some(codebase) => format!("upgrade to {codebase}"),
        None => created["script"].as_str().unwrap_or("?").to_owned(),
    };
    eprintln!("maintenance run {id}: {what} over {} wiki(s), {} at a time", created["total"], created["parallel"]);
    if !wait {
        println!("{id}");
        return Ok(true);
    }
    let done = follow(&api, &http, id, created["total"].as_u64().unwrap_or(0)).await?;
    report(&api, &http, id, &done).await
}

/// Polls the run until it ends, with a progress bar.
async fn follow(api: &Api<'_>, http: &reqwest::Client, id: i64, total: u64) -> anyhow::Result<Value> {
    let style =
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({elapsed}, {eta} left)")?.progress_chars("=> ");
    let bar = ProgressBar::new(total).with_style(style);
    // Quick runs end quickly: the polls start often and slow down.
    let mut pause = Duration::from_millis(50);
    loop {
        let (status, run) = api.call(http.get(format!("{}/api/v1/maintenance-runs/{id}", api.url))).await?;
        if status != 200 {
            bar.abandon();
            anyhow::bail!("{}", describe_error(status, &run));
        }
        bar.set_position(run["finished"].as_u64().unwrap_or(0));
        bar.set_message(format!("{} running, {} failed", run["counts"]["running"], run["failures"]));
        if matches!(run["state"].as_str(), Some("done" | "cancelled")) {
            bar.finish_with_message(run["state"].as_str().unwrap_or("").to_owned());
            return Ok(run);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// One line per wiki (the end of the output of those that failed) and a summary; true when
/// nothing failed.
async fn report(api: &Api<'_>, http: &reqwest::Client, id: i64, run: &Value) -> anyhow::Result<bool> {
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{}/api/v1/maintenance-runs/{id}/wikis?limit=500", api.url);
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = api.call(http.get(url)).await?;
        anyhow::ensure!(status == 200, "{}", describe_error(status, &page));
        for wiki in page["wikis"].as_array().into_iter().flatten() {
            print_wiki(wiki);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let counts = &run["counts"];
    println!(
        "maintenance run {id} {}: {} done, {} skipped, {} failed, {} timed out, {} interrupted, {} cancelled",
        run["state"].as_str().unwrap_or("?"),
        counts["done"],
        counts["skipped"],
        counts["failed"],
        counts["timed_out"],
        counts["interrupted"],
        counts["cancelled"],
    );
    Ok(run["state"] == "done" && run["failures"] == 0 && counts["cancelled"] == 0)
}

fn print_wiki(wiki: &Value) {
    let state = wiki["state"].as_str().unwrap_or("?");
    let seconds = wiki["duration_ms"].as_f64().map(|ms| format!("{:.1} s", ms / 1000.0)).unwrap_or_default();
    let exit = wiki["exit_code"].as_i64().map(|c| format!("exit {c}")).unwrap_or_default();
    let reason = wiki["reason"].as_str().unwrap_or("");
    println!("{state:<11} {:<30} {exit:<8} {seconds:>8}  {reason}", wiki["wiki"].as_str().unwrap_or("?"));
    if matches!(state, "failed" | "timed_out") {
        let output = wiki["output"].as_str().unwrap_or("");
        let lines: Vec<&str> = output.lines().collect();
        for line in &lines[lines.len().saturating_sub(5)..] {
            println!("    | {line}");
        }
    }
}

/// A run's progress and report; true when nothing failed.
pub async fn status(api: Api<'_>, id: i64) -> anyhow::Result<bool> {
    let http = http()?;
    let (status, run) = api.call(http.get(format!("{}/api/v1/maintenance-runs/{id}", api.url))).await?;
    anyhow::ensure!(status == 200, "{}", describe_error(status, &run));
    report(&api, &http, id, &run).await
}

/// Cancels a run.
pub async fn cancel(api: Api<'_>, id: i64) -> anyhow::Result<()> {
    let http = http()?;
    let (status, run) = api.call(http.post(format!("{}/api/v1/maintenance-runs/{id}/cancel", api.url))).await?;
    anyhow::ensure!(status == 200, "{}", describe_error(status, &run));
    println!("maintenance run {id}: cancelled ({} of {} wikis had finished)", run["finished"], run["total"]);
    Ok(())
}

/// The latest runs, newest first.
pub async fn list(api: Api<'_>) -> anyhow::Result<()> {
    let http = http()?;
    let (status, page) = api.call(http.get(format!("{}/api/v1/maintenance-runs?limit=20", api.url))).await?;
    anyhow::ensure!(status == 200, "{}", describe_error(status, &page));
    for run in page["runs"].as_array().into_iter().flatten() {
        println!(
            "{:>5} {:<10} {:<40} {}/{} finished, {} failed, by {} at {}",
            run["id"],
            run["state"].as_str().unwrap_or("?"),
            run["script"].as_str().unwrap_or("?"),
            run["finished"],
            run["total"],
            run["failures"],
            run["requested_by"].as_str().unwrap_or("?"),
            run["created_at"].as_str().unwrap_or("?"),
        );
    }
    Ok(())
}
