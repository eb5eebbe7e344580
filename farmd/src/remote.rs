//! What the commands that work through a running farm's API share: the address and token, one
//! call, waiting for background work, and the error shape read back as a sentence.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

/// How long a command waits for background work (an export, a backup, ...).
const WAIT: Duration = Duration::from_secs(6 * 3600);

pub struct Api<'a> {
    pub url: &'a str,
    pub token: &'a str,
}

impl Api<'_> {
    /// Sends `request` with the token; the status and the JSON body (`null` if none).
    pub async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
        let response = request.bearer_auth(self.token).send().await.with_context(|| format!("calling {}", self.url))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Polls `path` until its `state` is one of `ends`.
    pub async fn wait(&self, http: &reqwest::Client, path: &str, ends: &[&str]) -> anyhow::Result<Value> {
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

/// The farm's error answer as one line: message, code and status.
pub fn describe_error(status: u16, body: &Value) -> String {
    match (body["error"]["code"].as_str(), body["error"]["message"].as_str()) {
        (Some(code), Some(message)) => format!("{message} ({code}, HTTP {status})"),
        _ => format!("the farm answered HTTP {status}"),
    }
}

pub fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?)
}
