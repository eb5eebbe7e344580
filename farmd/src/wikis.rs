//! A wiki's life from the command line, through the API of a running farm: `farmd wiki
//! export|import|delete|undelete|purge|rename|transfer`, `farmd transfer accept|decline|cancel`
//! and `farmd starters`. One call each (and the wait for background work), the outcome
//! printed; the exit status is 0 only when it happened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use farm_core::domain::WikiName;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::remote::{describe_error, http, Api};

/// The wiki's name, checked here so that it can only ever be one path segment.
fn wiki_path(name: &str) -> anyhow::Result<String> {
    let name = WikiName::parse(name).map_err(|e| anyhow::anyhow!("{name:?}: {e}"))?;
    Ok(format!("/api/v1/wikis/{name}"))
}

/// A client for uploads and downloads, which may take longer than a minute.
fn transfer_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().connect_timeout(Duration::from_secs(30)).build()?)
}

/// Exports `wiki`, waits for the archive and downloads it to `output` (default
/// `WIKI-export-ID.tar.gz`); returns where it is.
pub async fn export(api: Api<'_>, wiki: &str, output: Option<&Path>) -> anyhow::Result<PathBuf> {
    let http = http()?;
    let (status, body) = api.call(http.post(format!("{}{}/exports", api.url, wiki_path(wiki)?))).await?;
    anyhow::ensure!(status == 202, "{}", describe_error(status, &body));
    let id = body["id"].as_i64().context("the farm's answer has no export id")?;
    eprintln!("export {id} of {wiki}: {}", body["state"].as_str().unwrap_or("?"));
    let done = api.wait(&http, &format!("/api/v1/exports/{id}"), &["done", "failed", "expired"]).await?;
    anyhow::ensure!(
        done["state"] == "done",
        "export {id} of {wiki}: {}: {}",
        done["state"].as_str().unwrap_or("?"),
        done["error"].as_str().unwrap_or("")
    );
    let target = output.map_or_else(|| PathBuf::from(format!("{wiki}-export-{id}.tar.gz")), Path::to_path_buf);
    let request = transfer_client()?.get(format!("{}/api/v1/exports/{id}/archive", api.url)).bearer_auth(api.token);
    let mut response = request.send().await.context("downloading the archive")?;
    let status = response.status().as_u16();
    if status != 200 {
        let body = response.json().await.unwrap_or(Value::Null);
        anyhow::bail!("{}", describe_error(status, &body));
    }
    // Whole or absent: written under another name, renamed when complete.
    let partial = target.with_extension("part");
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .await
        .with_context(|| format!("writing {}", partial.display()))?;
    let mut bytes = 0u64;
    while let Some(chunk) = response.chunk().await.context("downloading the archive")? {
        file.write_all(&chunk).await?;
        bytes += chunk.len() as u64;
    }
    file.sync_all().await?;
    tokio::fs::rename(&partial, &target).await?;
    println!("export {id} of {wiki}: {bytes} bytes in {}", target.display());
    Ok(target)
}

/// Creates `name` from the archive `file` and waits until it is active.
pub async fn import(
    api: Api<'_>,
    file: &Path,
    name: &str,
    sitename: &str,
    language: Option<&str>,
) -> anyhow::Result<bool> {
    let path = wiki_path(name)?;
    let upload = tokio::fs::File::open(file).await.with_context(|| format!("reading {}", file.display()))?;
    let length = upload.metadata().await?.len();
    let mut query = vec![("name", name), ("sitename", sitename)];
    query.extend(language.map(|l| ("language", l)));
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(upload));
    let request = transfer_client()?
        .post(format!("{}/api/v1/wiki-imports", api.url))
        .query(&query)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .header(reqwest::header::CONTENT_LENGTH, length)
        .body(body);
    let (status, created) = api.call(request).await?;
    anyhow::ensure!(status == 202, "{}", describe_error(status, &created));
    eprintln!("{name}: {} from {}", created["wiki"]["state"].as_str().unwrap_or("provisioning"), file.display());
    let wiki = api.wait(&http()?, &path, &["active", "failed"]).await?;
    let active = wiki["state"] == "active";
    match active {
        true => println!("{name}: active at {}", wiki["url"].as_str().unwrap_or("")),
        false => println!("{name}: failed: {}", wiki["failure"].as_str().unwrap_or("")),
    }
    Ok(active)
}

/// What can be done to a wiki in one call.
pub enum Change<'a> {
    Delete,
    Undelete,
    Purge,
    Rename(&'a str),
    Transfer(&'a str),
    AddManager(&'a str),
    RemoveManager(&'a str),
}

/// Applies `change` to `wiki` and prints the outcome.
pub async fn change(api: Api<'_>, wiki: &str, change: Change<'_>) -> anyhow::Result<()> {
    let http = http()?;
    let base = format!("{}{}", api.url, wiki_path(wiki)?);
    let about_managers = matches!(change, Change::AddManager(_) | Change::RemoveManager(_));
    let request = match change {
        Change::Delete => http.delete(&base),
        Change::Undelete => http.post(format!("{base}/undelete")),
        Change::Purge => http.post(format!("{base}/purge")),
        Change::Rename(to) => http.post(format!("{base}/rename")).json(&json!({ "name": to })),
        Change::Transfer(to) => http.post(format!("{base}/transfer")).json(&json!({ "to": to })),
        Change::AddManager(who) => http.post(format!("{base}/managers")).json(&json!({ "username": who })),
        Change::RemoveManager(who) => {
            let who = farm_core::domain::Username::parse(who).map_err(|e| anyhow::anyhow!("{who:?}: {e}"))?;
            http.delete(format!("{base}/managers/{}", who.as_str()))
        }
    };
    let (status, body) = api.call(request).await?;
    anyhow::ensure!((200..300).contains(&status), "{}", describe_error(status, &body));
    if about_managers {
        let names: Vec<&str> =
            body["managers"].as_array().into_iter().flatten().filter_map(|m| m["username"].as_str()).collect();
        println!("{wiki}: managers: {}", if names.is_empty() { "none".into() } else { names.join(", ") });
    } else if let Some(id) = body["id"].as_i64() {
        println!(
            "{wiki}: transfer {id} to {} offered; it takes effect when they accept",
            body["to"].as_str().unwrap_or("?")
        );
    } else {
        let until =
            body["restorable_until"].as_str().map(|t| format!(", can be restored until {t}")).unwrap_or_default();
        println!("{}: {}{until}", body["name"].as_str().unwrap_or(wiki), body["state"].as_str().unwrap_or("?"));
    }
    Ok(())
}

/// Accepts, declines or cancels transfer `id` (`action` is one of those words).
pub async fn answer_transfer(api: Api<'_>, id: i64, action: &str) -> anyhow::Result<()> {
    let request = http()?.post(format!("{}/api/v1/transfers/{id}/{action}", api.url));
    let (status, body) = api.call(request).await?;
    anyhow::ensure!(status == 200, "{}", describe_error(status, &body));
    println!("transfer {id} of {}: {}", body["wiki"].as_str().unwrap_or("?"), body["state"].as_str().unwrap_or("?"));
    Ok(())
}

/// Lists the farm's starters, described in `language`.
pub async fn starters(api: Api<'_>, language: Option<&str>) -> anyhow::Result<()> {
    let mut request = http()?.get(format!("{}/api/v1/starters", api.url));
    if let Some(language) = language {
        request = request.query(&[("language", language)]);
    }
    let (status, body) = api.call(request).await?;
    anyhow::ensure!(status == 200, "{}", describe_error(status, &body));
    for starter in body["starters"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let default = if starter["default"] == true { " (default)" } else { "" };
        let languages: Vec<&str> =
            starter["languages"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        println!(
            "{:<12} {}{default} [{}]\n             {}",
            starter["id"].as_str().unwrap_or("?"),
            starter["title"].as_str().unwrap_or(""),
            languages.join(", "),
            starter["description"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
