//! `farmd backup WIKI` and `farmd restore WIKI BACKUP_ID`: through the API of a running farm,
//! waiting for the outcome and printing it. Exit status 0 only when the backup is verified or
//! the restore is done.

use anyhow::Context;
use serde_json::json;

use crate::remote::{describe_error, http, Api};

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
