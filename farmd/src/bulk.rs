//! `farmd wiki create --from FILE`: many wikis through the API's batch endpoint, with
//! progress on the terminal and one result per row. Safe to run again: rows whose wiki the
//! caller already has are reported as existing, not created twice.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One row of the input file: a CSV with the header `name,sitename[,language][,starter]`.
#[derive(Debug, Deserialize, Serialize)]
struct Row {
    name: String,
    sitename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    starter: Option<String>,
}

/// Rows per API call.
const CHUNK: usize = 100;

pub struct Options<'a> {
    pub file: &'a Path,
    pub api: &'a str,
    pub token: &'a str,
    pub credentials: &'a Path,
    pub wait: bool,
}

/// Returns whether every row was created or already existed.
pub async fn create_from_file(options: Options<'_>) -> anyhow::Result<bool> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(options.file)
        .with_context(|| format!("reading {}", options.file.display()))?;
    let rows: Vec<Row> = reader.deserialize().collect::<Result<_, _>>().with_context(|| {
        format!("{}: each line needs name,sitename[,language][,starter] under that header", options.file.display())
    })?;
    anyhow::ensure!(!rows.is_empty(), "{} has no rows", options.file.display());

    let http = reqwest::Client::builder().timeout(Duration::from_secs(300)).build()?;
    let style =
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")?.progress_chars("=> ");
    let bar = ProgressBar::new(rows.len() as u64).with_style(style.clone()).with_message("submitting");
    let mut results: Vec<Value> = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let response = http
            .post(format!("{}/api/v1/wiki-batches", options.api))
            .bearer_auth(options.token)
            .json(&json!({ "wikis": chunk }))
            .send()
            .await
            .with_context(|| format!("calling {}", options.api))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bar.abandon();
            anyhow::bail!(
                "the farm refused the batch ({status}): {}",
                body["error"]["message"].as_str().unwrap_or("no details")
            );
        }
        results.extend(body["results"].as_array().cloned().unwrap_or_default());
        bar.inc(chunk.len() as u64);
    }
    bar.finish_with_message("submitted");

    let mut credentials = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(options.credentials)
        .with_context(|| format!("opening {}", options.credentials.display()))?;
    let mut all_ok = true;
    let mut to_wait = Vec::new();
    for result in &results {
        let name = result["name"].as_str().unwrap_or("?");
        match result["status"].as_str() {
            Some(status @ ("created" | "exists")) => {
                let url = result["wiki"]["url"].as_str().unwrap_or("");
                println!("{status:<8} {name:<30} {url}");
                if let Some(password) = result["owner_credentials"]["password"].as_str() {
                    let username = result["owner_credentials"]["username"].as_str().unwrap_or("");
                    writeln!(credentials, "{name},{username},{password},{url}")?;
                }
                to_wait.push(name.to_owned());
            }
            _ => {
                all_ok = false;
                let code = result["error"]["code"].as_str().unwrap_or("error");
                let message = result["error"]["message"].as_str().unwrap_or("");
                println!("{:<8} {name:<30} {code}: {message}", "refused");
            }
        }
    }
    eprintln!("passwords of the new wikis' owners: {} (mode 0600)", options.credentials.display());

    if options.wait && !to_wait.is_empty() {
        let bar = ProgressBar::new(to_wait.len() as u64).with_style(style).with_message("activating");
        while !to_wait.is_empty() {
            let mut pending = Vec::new();
            for name in to_wait {
                let wiki: Value = http
                    .get(format!("{}/api/v1/wikis/{name}", options.api))
                    .bearer_auth(options.token)
                    .send()
                    .await?
                    .json()
                    .await
                    .unwrap_or(Value::Null);
                match wiki["state"].as_str() {
                    Some("active") => bar.inc(1),
                    Some("provisioning") => pending.push(name),
                    other => {
                        all_ok = false;
                        bar.inc(1);
                        bar.println(format!("{name}: {}", other.unwrap_or("unknown")));
                    }
                }
            }
            to_wait = pending;
            if !to_wait.is_empty() {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        bar.finish_with_message("active");
    }
    Ok(all_ok)
}
