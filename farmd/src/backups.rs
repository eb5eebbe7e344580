//! `farmd backup WIKI` and `farmd restore WIKI BACKUP_ID`: through the API of a running farm,
//! waiting for the outcome and printing it. Exit status 0 only when the backup is verified or
//! the restore is done.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};

/// How long the command waits for the background work.
const WAIT: Duration = Duration::from_secs(6 * 3600);

pub struct Api<'a> {
    pub url: &'a str,
    pub token: &'a str,
}

impl Api<'_> {
    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let response = request.bearer_auth(self.token).send().await.with_context(|| format!("calling {}", self.url))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Polls `path` until its `state` is one of `ends`.
    async fn wait(&self, http: &reqwest::Client, path: &str, ends: &[&str]) -> anyhow::Result<Value> {
        let started = Instant::now();
        loop {
            let (status, body) = self.call(http.get(format!("{}{path}", self.url))).await?;
            anyhow::ensure!(status == 200, "{}", describe_error(status, &body));
            if body["state"].as_str().is_some_and(|s| ends.contains(&s)) {
                return Ok(body);
            }
            anyhow::ensure!(started.elapsed() < WAIT, "still {} after {} s", body["state"], WAIT.as_secs());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn describe_error(status: u16, body: &Value) -> String {
    match (body["error"]["code"].as_str(), body["error"]["message"].as_str()) {
        (Some(code), Some(message)) => format!("{message} ({code}, HTTP {status})"),
        _ => format!("the farm answered HTTP {status}"),
    }
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?)
}

/// Backs `wiki` up now; true when the backup is verified.
pub async fn backup(api: Api<'_>, wiki: &str) -> anyhow::Result<bool> {
    let http = http()?;
    let (status, body) = api.call(http.post(format!("{}/api/v1/wikis/{wiki}/backups", api.url))).await?;
    anyhow::ensure!(status == 202, "{}", describe_error(status, &body));
    let id = body["id"].as_i64().context("the farm's answer has no backup id")?;
    eprintln!("backup {id} of {wiki}: {}", body["state"].as_str().unwrap_or("?"));
    let done = api.wait(&http, &format!("/api/v1/backups/{id}"), &["verified", "failed", "pruned"]).await?;
    let verified = done["state"] == "verified";
    if verified {
        println!(
            "backup {id} of {wiki}: verified, {} pages, {} bytes, settings revision {}",
            done["pages"], done["bytes"], done["settings_revision"]
        );
    } else {
        println!(
            "backup {id} of {wiki}: {}: {}",
            done["state"].as_str().unwrap_or("?"),
            done["error"].as_str().unwrap_or("")
        );
    }
    Ok(verified)
}

/// Restores `wiki` to its backup `backup`; true when the restore is done.
pub async fn restore(api: Api<'_>, wiki: &str, backup: i64) -> anyhow::Result<bool> {
    let http = http()?;
    let request = http.post(format!("{}/api/v1/wikis/{wiki}/restore", api.url)).json(&json!({ "backup": backup }));
    let (status, body) = api.call(request).await?;
    anyhow::ensure!(status == 202, "{}", describe_error(status, &body));
    let id = body["id"].as_i64().context("the farm's answer has no restore id")?;
    eprintln!("restore {id} of {wiki} to backup {backup}: {}", body["state"].as_str().unwrap_or("?"));
    let done = api.wait(&http, &format!("/api/v1/restores/{id}"), &["done", "failed"]).await?;
    let ok = done["state"] == "done";
    if ok {
        println!("restore {id} of {wiki} to backup {backup}: done");
    } else {
        println!("restore {id} of {wiki} to backup {backup}: failed: {}", done["error"].as_str().unwrap_or(""));
    }
    Ok(ok)
}
