//! Exports of whole wikis: a background job writes one archive (MediaWiki's XML with every
//! revision and the logs, the uploaded files, the settings, a manifest of checksums) that the
//! owner downloads until it expires; a kill during an export leaves nothing half-made.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{ControlStore, Farmd};
use serde_json::{json, Value};
use sha2::Digest;

async fn wait_export(farm: &Farmd, token: &str, id: i64) -> Value {
    common::wait_until("the export", Duration::from_secs(120), || async {
        let (_, export) = farm.get_json(token, &format!("/api/v1/exports/{id}")).await;
        match export["state"].as_str() {
            Some("done") | Some("failed") => Ok(export),
            _ => Err(export.to_string()),
        }
    })
    .await
}

fn unpack(archive: &[u8], into: &std::path::Path) {
    let file = into.join("archive.tar.gz");
    std::fs::write(&file, archive).expect("write");
    let status = std::process::Command::new("tar").arg("-xzf").arg(&file).arg("-C").arg(into).status().expect("tar");
    assert!(status.success(), "a tar.gz archive");
}

crate::on_both_stores!(an_export_holds_every_revision_the_files_and_the_settings_with_checksums);

async fn an_export_holds_every_revision_the_files_and_the_settings_with_checksums(store: ControlStore) {
    let farm = Farmd::start_on(store, &[]).await;
    let owner = farm.token("exa", "member");
    let (_, created) = farm.create_wiki(&owner, json!({"name": "archived", "sitename": "Archived"})).await;
    farm.wait_for_state(&owner, "archived", &["active"]).await;
    let wiki = farm.wiki_client("archived");
    let user = created["owner_credentials"]["username"].as_str().expect("user");
    let password = created["owner_credentials"]["password"].as_str().expect("password");
    assert_eq!(wiki.login(user, password).await["clientlogin"]["status"], "PASS");
    for text in ["First version", "Second version"] {
        assert_eq!(wiki.edit("History", text).await["edit"]["result"], "Success");
    }
    let tokens = wiki.api_get(&[("action", "query"), ("meta", "tokens")]).await;
    let token = tokens["query"]["tokens"]["csrftoken"].as_str().expect("csrf").to_owned();
    let png: Vec<u8> = {
        let out = std::process::Command::new("php")
            .args(["-r", "$i = imagecreatetruecolor(30, 30); imagefill($i, 0, 0, 0x3366cc); imagepng($i);"])
            .output()
            .expect("php");
        out.stdout
    };
    let form = reqwest::multipart::Form::new()
        .text("action", "upload")
        .text("format", "json")
        .text("filename", "Blue.png")
        .text("ignorewarnings", "1")
        .text("token", token)
        .part("file", reqwest::multipart::Part::bytes(png.clone()).file_name("Blue.png"));
    let uploaded: Value = wiki
        .http
        .post(format!("{}/api.php", wiki.base))
        .multipart(form)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    assert_eq!(uploaded["upload"]["result"], "Success", "{uploaded}");

    // Others see no export; the owner's runs in the background.
    let response = farm
        .http
        .post(farm.url("/api/v1/wikis/archived/exports"))
        .bearer_auth(farm.token("mo", "member"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 404);
    let response =
        farm.http.post(farm.url("/api/v1/wikis/archived/exports")).bearer_auth(&owner).send().await.expect("post");
    assert_eq!(response.status(), 202);
    let export: Value = response.json().await.expect("json");
    let id = export["id"].as_i64().expect("id");
    let done = wait_export(&farm, &owner, id).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["done_items"], done["total_items"]);
    let (status, _) = farm.get_json(&farm.token("mo", "member"), &format!("/api/v1/exports/{id}")).await;
    assert_eq!(status, 404, "another member sees no export");
    let response = farm
        .http
        .get(farm.url(done["archive"].as_str().expect("archive link")))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/gzip");
    let bytes = response.bytes().await.expect("bytes");
    assert_eq!(bytes.len() as i64, done["bytes"].as_i64().expect("bytes"));

    let dir = tempfile::tempdir().expect("tempdir");
    unpack(&bytes, dir.path());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).expect("manifest")).expect("json");
    assert_eq!(manifest["format"], "farmd-export/1");
    assert_eq!(manifest["wiki"], "archived");
    let entries: BTreeMap<String, (u64, String)> = manifest["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["path"].as_str().expect("path").to_owned(),
                (e["size"].as_u64().expect("size"), e["sha256"].as_str().expect("sum").to_owned()),
            )
        })
        .collect();
    for (path, (size, sum)) in &entries {
        let content = std::fs::read(dir.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(content.len() as u64, *size, "{path}");
        assert_eq!(&hex::encode(sha2::Sha256::digest(&content)), sum, "{path}: checksum");
    }
    let xml = std::fs::read_to_string(dir.path().join("pages.xml")).expect("pages.xml");
    assert!(
        xml.contains("<mediawiki") && xml.contains("First version") && xml.contains("Second version"),
        "every revision"
    );
    let logs = std::fs::read_to_string(dir.path().join("logs.xml")).expect("logs.xml");
    assert!(logs.contains("<logitem>") && logs.contains("<type>upload</type>"), "the logs");
    let file = entries.keys().find(|p| p.starts_with("files/") && p.ends_with("/Blue.png")).expect("the uploaded file");
    assert_eq!(std::fs::read(dir.path().join(file)).expect("file"), png);
    assert!(!entries.keys().any(|p| p.contains("/thumb/") || p.contains("/temp/")), "no thumbnails or stash");
    let settings: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("settings.json")).expect("settings")).expect("json");
    assert_eq!(settings["settings"]["sitename"], "Archived");
    assert!(std::fs::read_dir(farm.data_dir.join("exports"))
        .expect("exports")
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().contains("building")));
}

/// A kill while an export is being built: after the restart it is built again and ends done,
/// with no scratch files left.
#[tokio::test]
async fn a_kill_during_an_export_restarts_it_and_leaves_nothing_half_made() {
    let mut farm = Farmd::start().await;
    let owner = farm.token("kex", "member");
    farm.create_wiki(&owner, json!({"name": "interrupted", "sitename": "Interrupted"})).await;
    farm.wait_for_state(&owner, "interrupted", &["active"]).await;
    let response =
        farm.http.post(farm.url("/api/v1/wikis/interrupted/exports")).bearer_auth(&owner).send().await.expect("post");
    let id = response.json::<Value>().await.expect("json")["id"].as_i64().expect("id");
    common::wait_until("dumpBackup.php running", Duration::from_secs(30), || async {
        if common::processes_mentioning("dumpBackup.php").iter().any(|(_, c)| c.contains("interrupted")) {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
    farm.kill9();
    farm.spawn();
    farm.wait_healthy().await;
    let done = wait_export(&farm, &owner, id).await;
    assert_eq!(done["state"], "done", "{done}");
    let names: Vec<String> = std::fs::read_dir(farm.data_dir.join("exports"))
        .expect("exports")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [format!("{id}.tar.gz")], "only the finished archive");
}

/// A finished archive is removed when its time is over.
#[tokio::test]
async fn an_export_expires() {
    let farm = Farmd::start_with(&[("FARM_EXPORT_RETENTION", "2s"), ("FARM_LIFECYCLE_INTERVAL", "1s")]).await;
    let owner = farm.token("ext", "member");
    farm.create_wiki(&owner, json!({"name": "fleeting", "sitename": "Fleeting"})).await;
    farm.wait_for_state(&owner, "fleeting", &["active"]).await;
    let response =
        farm.http.post(farm.url("/api/v1/wikis/fleeting/exports")).bearer_auth(&owner).send().await.expect("post");
    let id = response.json::<Value>().await.expect("json")["id"].as_i64().expect("id");
    assert_eq!(wait_export(&farm, &owner, id).await["state"], "done");
    common::wait_until("the export expired", Duration::from_secs(30), || async {
        let (_, export) = farm.get_json(&owner, &format!("/api/v1/exports/{id}")).await;
        if export["state"] == "expired" {
            Ok(())
        } else {
            Err(export.to_string())
        }
    })
    .await;
    assert!(!farm.data_dir.join("exports").join(format!("{id}.tar.gz")).exists());
    let response = farm
        .http
        .get(farm.url(&format!("/api/v1/exports/{id}/archive")))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 409);
}
