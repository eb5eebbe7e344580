//! Backups of whole wikis and restores to them, on both backends: a backup holds the
//! database, the uploaded files and the settings and is verified once written; a restore
//! brings all of it back in one call (read-only meanwhile); bad restores change nothing; a
//! kill during a backup or a restore leaves nothing half-made after the restart.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{csrf_of, ControlStore, Farmd, WikiClient, LOCAL_MARIADB};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Mariadb,
}

/// SQLite wikis on a SQLite control store; MariaDB wikis (on the machine's server) on a
/// MariaDB control store.
async fn farm_for(backend: Backend, env: &[(&str, &str)]) -> Farmd {
    match backend {
        Backend::Sqlite => Farmd::start_on(ControlStore::Sqlite, env).await,
        Backend::Mariadb => {
            let mut env = env.to_vec();
            env.extend([("FARM_MARIADB_URL", LOCAL_MARIADB), ("FARM_DEFAULT_BACKEND", "mariadb")]);
            Farmd::start_on(ControlStore::Mariadb, &env).await
        }
    }
}

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite_wikis {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::Backend::Sqlite).await } )*
        }
        mod mariadb_wikis {
            $( #[tokio::test] async fn $scenario() { super::$scenario(super::Backend::Mariadb).await } )*
        }
    };
}

/// A wiki of `owner`'s, active, with its owner logged in to it; and the owner's MediaWiki
/// user name and password.
async fn logged_in_wiki(farm: &Farmd, owner: &str, name: &str) -> (WikiClient, String, String) {
    let (status, created) = farm.create_wiki(owner, json!({"name": name, "sitename": name})).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(owner, name, &["active"]).await;
    let wiki = farm.wiki_client(name);
    let user = created["owner_credentials"]["username"].as_str().expect("user").to_owned();
    let password = created["owner_credentials"]["password"].as_str().expect("password").to_owned();
    assert_eq!(wiki.login(&user, &password).await["clientlogin"]["status"], "PASS");
    (wiki, user, password)
}

fn png(colour: u32) -> Vec<u8> {
    common::png(20, colour)
}

async fn upload(wiki: &WikiClient, name: &str, bytes: Vec<u8>) {
    let uploaded = wiki.upload(name, bytes).await;
    assert_eq!(uploaded["upload"]["result"], "Success", "{uploaded}");
}

/// The bytes MediaWiki serves for `File:{name}`, or `None` when it knows no such file.
async fn served_file(wiki: &WikiClient, name: &str) -> Option<Vec<u8>> {
    let title = format!("File:{name}");
    let info = wiki.api_get(&[("action", "query"), ("titles", &title), ("prop", "imageinfo"), ("iiprop", "url")]).await;
    let url = info["query"]["pages"][0]["imageinfo"][0]["url"].as_str()?.to_owned();
    let path = url.split_once("localhost").map_or(url.as_str(), |(_, rest)| rest);
    let path = path.split_once('/').map_or(path.to_owned(), |(_, rest)| format!("/{rest}"));
    let response = wiki.http.get(format!("{}{path}", wiki.base)).send().await.expect("file");
    assert_eq!(response.status(), 200, "{url}");
    Some(response.bytes().await.expect("bytes").to_vec())
}

async fn raw(wiki: &WikiClient, title: &str) -> (u16, String) {
    let (status, text) = wiki.get(&format!("/index.php?title={title}&action=raw")).await;
    (status, text.trim().to_owned())
}

async fn post(farm: &Farmd, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = farm.http.post(farm.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn wait_state(farm: &Farmd, token: &str, path: &str, ends: &[&str]) -> Value {
    common::wait_until(path, Duration::from_secs(180), || async {
        let (_, body) = farm.get_json(token, path).await;
        if body["state"].as_str().is_some_and(|s| ends.contains(&s)) {
            Ok(body)
        } else {
            Err(body.to_string())
        }
    })
    .await
}

async fn back_up(farm: &Farmd, token: &str, wiki: &str) -> Value {
    let (status, queued) = post(farm, token, &format!("/api/v1/wikis/{wiki}/backups"), None).await;
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_i64().expect("id");
    let done = wait_state(farm, token, &format!("/api/v1/backups/{id}"), &["verified", "failed"]).await;
    assert_eq!(done["state"], "verified", "{done}\n{}", farm.log());
    done
}

fn key_of(farm: &Farmd, wiki: &str) -> String {
    farm.wiki_dir(wiki).file_name().expect("key").to_string_lossy().into_owned()
}

/// Everything under `dir` whose name says it was left half-made.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".partial")
                || name.ends_with(".restoring")
                || name.ends_with(".old")
                || name == "restoring"
            {
                found.push(entry.path());
            }
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                pending.push(entry.path());
            }
        }
    }
    found
}

on_both_backends!(
    a_restore_brings_back_the_pages_files_and_settings_of_a_backup_and_bad_restores_change_nothing,
    a_kill_during_a_backup_leaves_no_half_made_backup,
    a_kill_during_a_restore_finishes_it_after_the_restart,
);

async fn a_restore_brings_back_the_pages_files_and_settings_of_a_backup_and_bad_restores_change_nothing(
    backend: Backend,
) {
    let farm = farm_for(backend, &[]).await;
    let owner = farm.token("bea", "member");
    let (wiki, user, password) = logged_in_wiki(&farm, &owner, "snap").await;
    assert_eq!(wiki.edit("Keep", "Before the backup").await["edit"]["result"], "Success");
    let blue = png(0x3366cc);
    upload(&wiki, "Blue.png", blue.clone()).await;

    // Others see no backups.
    let stranger = farm.token("mo", "member");
    let (status, _) = post(&farm, &stranger, "/api/v1/wikis/snap/backups", None).await;
    assert_eq!(status, 404);
    let started = std::time::Instant::now();
    let backup = back_up(&farm, &owner, "snap").await;
    let backup_ms = started.elapsed().as_millis();
    let id = backup["id"].as_i64().expect("id");
    assert_eq!(backup["kind"], "manual");
    assert!(backup["pages"].as_i64().expect("pages") >= 3, "Main Page, Keep, File:Blue.png: {backup}");
    let (status, _) = farm.get_json(&stranger, &format!("/api/v1/backups/{id}")).await;
    assert_eq!(status, 404, "another member sees no backup");
    let folder = farm.data_dir.join("backups").join(key_of(&farm, "snap")).join(id.to_string());
    assert!(folder.join("manifest.json").is_file() && folder.join("settings.json").is_file());
    let database = match backend {
        Backend::Sqlite => folder.join("database").join(format!("{}.sqlite", key_of(&farm, "snap"))),
        Backend::Mariadb => folder.join("database").join("database.sql"),
    };
    assert!(database.is_file(), "{}", database.display());
    assert_eq!(std::fs::metadata(&folder).expect("folder").permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(&database).expect("db").permissions().mode() & 0o077, 0, "private");
    if backend == Backend::Mariadb {
        let dump = std::fs::read_to_string(&database).expect("dump");
        assert!(dump.contains("Before the backup") || dump.contains("INSERT INTO `text`"), "the dump holds the text");
    }

    // Changes after the backup: an edit, a new page, a new file, a setting.
    assert_eq!(wiki.edit("Keep", "After the backup").await["edit"]["result"], "Success");
    assert_eq!(wiki.edit("Later", "Made after the backup").await["edit"]["result"], "Success");
    upload(&wiki, "Red.png", png(0xcc3333)).await;
    let (_, settings) = farm.get_json(&owner, "/api/v1/wikis/snap/settings").await;
    let base = settings["revision"].as_i64().expect("revision");
    let response = farm
        .http
        .patch(farm.url("/api/v1/wikis/snap/settings"))
        .bearer_auth(&owner)
        .json(&json!({"base_revision": base, "settings": {"sitename": "Renamed after the backup"}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());

    // Bad restores: each a clear 4xx, nothing changed.
    logged_in_wiki(&farm, &owner, "elsewhere").await;
    let foreign = back_up(&farm, &owner, "elsewhere").await["id"].as_i64().expect("id");
    for (body, status, code) in [
        (json!({"backup": foreign}), 422, "backup_other_wiki"),
        (json!({"backup": 987_654}), 422, "backup_unknown"),
        (json!({"backup": "latest"}), 422, "invalid_body"),
    ] {
        let (got, answer) = post(&farm, &owner, "/api/v1/wikis/snap/restore", Some(body)).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (status, Some(code)), "{answer}");
    }
    let (got, _) = post(&farm, &stranger, "/api/v1/wikis/snap/restore", Some(json!({"backup": id}))).await;
    assert_eq!(got, 404, "a stranger's restore");
    assert_eq!(raw(&wiki, "Keep").await, (200, "After the backup".to_owned()), "nothing changed");

    // The restore, and a second one while it runs.
    let started = std::time::Instant::now();
    let (got, restore) = post(&farm, &owner, "/api/v1/wikis/snap/restore", Some(json!({"backup": id}))).await;
    assert_eq!(got, 202, "{restore}");
    let (got, again) = post(&farm, &owner, "/api/v1/wikis/snap/restore", Some(json!({"backup": id}))).await;
    if got != 202 {
        assert_eq!((got, again["error"]["code"].as_str()), (409, Some("restore_running")), "{again}");
    }
    let restore_id = restore["id"].as_i64().expect("id");
    let done = wait_state(&farm, &owner, &format!("/api/v1/restores/{restore_id}"), &["done", "failed"]).await;
    let restore_ms = started.elapsed().as_millis();
    assert_eq!(done["state"], "done", "{done}\n{}", farm.log());
    if got == 202 {
        let again_id = again["id"].as_i64().expect("id");
        wait_state(&farm, &owner, &format!("/api/v1/restores/{again_id}"), &["done", "failed"]).await;
    }
    eprintln!("{backend:?}: backup {backup_ms} ms, restore {restore_ms} ms (API call to done)");

    // What MediaWiki serves is the backup's.
    assert_eq!(raw(&wiki, "Keep").await, (200, "Before the backup".to_owned()));
    assert_eq!(raw(&wiki, "Later").await.0, 404, "the page made after the backup is gone");
    assert_eq!(served_file(&wiki, "Blue.png").await, Some(blue), "the uploaded file is back");
    assert_eq!(served_file(&wiki, "Red.png").await, None, "the file uploaded after the backup is gone");
    let (status, page) = wiki.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    let title = page.split("<title>").nth(1).and_then(|t| t.split("</title>").next()).unwrap_or("");
    assert_eq!(title, "snap", "the backup's site name is back");
    let (_, settings) = farm.get_json(&owner, "/api/v1/wikis/snap/settings").await;
    assert_eq!(settings["settings"]["sitename"], "snap");
    // And it is writable again (in a new session: the sessions belong to the database).
    let fresh = farm.wiki_client("snap");
    assert_eq!(fresh.login(&user, &password).await["clientlogin"]["status"], "PASS");
    let edit = fresh.edit("After the restore", "Writable").await;
    assert_eq!(edit["edit"]["result"], "Success", "not read-only: {edit}");
    assert!(leftovers(&farm.data_dir).is_empty(), "{:?}", leftovers(&farm.data_dir));

    // The same from the command line.
    let url = farm.url("");
    let output = farm.cli(&["backup", "snap", "--token", &owner, "--url", &url], None);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.contains("verified"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let newest: i64 = stdout.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("the backup's id");
    // Retention keeps one backup a day: the first one of today is gone now.
    let (_, first) = farm.get_json(&owner, &format!("/api/v1/backups/{id}")).await;
    assert_eq!(first["state"], "pruned", "{first}");
    let output = farm.cli(&["restore", "snap", &newest.to_string(), "--token", &owner, "--url", &url], None);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success() && stdout.contains("done"), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let output = farm.cli(&["restore", "snap", &foreign.to_string(), "--token", &owner, "--url", &url], None);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("backup_other_wiki"));

    // The list and the metrics.
    let (status, list) = farm.get_json(&owner, "/api/v1/wikis/snap/backups").await;
    assert_eq!(status, 200);
    assert!(list["backups"].as_array().expect("backups").len() >= 2, "{list}");
    assert!(list["last_good_age_seconds"].as_i64().is_some());
    let metrics = farm.http.get(farm.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("farm_backup_last_good_age_seconds{wiki=\"snap\"}"), "{metrics}");
    assert!(metrics.contains("farm_backup_failures_total 0"), "{metrics}");
    if backend == Backend::Mariadb {
        farm.drop_templates_on_local_mariadb();
    }
}

/// A file big enough that copying it takes a moment, put straight into the upload folder.
fn add_bulk(farm: &Farmd, wiki: &str) -> PathBuf {
    let dir = farm.wiki_dir(wiki).join("images").join("bulk");
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("blob.bin");
    let block: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut out = std::fs::File::create(&file).expect("create");
    for _ in 0..300 {
        std::io::Write::write_all(&mut out, &block).expect("write");
    }
    file
}

async fn a_kill_during_a_backup_leaves_no_half_made_backup(backend: Backend) {
    let mut farm = farm_for(backend, &[]).await;
    let owner = farm.token("kim", "member");
    logged_in_wiki(&farm, &owner, "heavy").await;
    add_bulk(&farm, "heavy");
    let key = key_of(&farm, "heavy");
    let (status, queued) = post(&farm, &owner, "/api/v1/wikis/heavy/backups", None).await;
    assert_eq!(status, 202);
    let id = queued["id"].as_i64().expect("id");
    let partial = farm.data_dir.join("backups").join(&key).join(format!("{id}.partial"));
    common::wait_until("the backup is being written", Duration::from_secs(60), || async {
        if partial.join("images").exists() {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
    farm.kill9();
    farm.spawn();
    farm.wait_healthy().await;
    let after = wait_state(&farm, &owner, &format!("/api/v1/backups/{id}"), &["verified", "failed"]).await;
    assert_eq!(after["state"], "failed", "{after}");
    assert!(after["error"].as_str().unwrap_or("").contains("interrupted"), "{after}");
    common::wait_until("the half-made backup is removed", Duration::from_secs(30), || async {
        let left = leftovers(&farm.data_dir.join("backups"));
        if left.is_empty() && !farm.data_dir.join("backups").join(&key).join(id.to_string()).exists() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    })
    .await;
    assert!(common::processes_mentioning("mariadb-dump").iter().all(|(_, c)| !c.contains(&key)), "no dump left");
    // The next backup works, and the failure is counted.
    back_up(&farm, &owner, "heavy").await;
    let metrics = farm.http.get(farm.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("farm_backup_failures_total 1"), "{metrics}");
    if backend == Backend::Mariadb {
        farm.drop_templates_on_local_mariadb();
    }
}

async fn a_kill_during_a_restore_finishes_it_after_the_restart(backend: Backend) {
    let mut farm = farm_for(backend, &[]).await;
    let owner = farm.token("kira", "member");
    let (wiki, _, _) = logged_in_wiki(&farm, &owner, "phoenix").await;
    assert_eq!(wiki.edit("Keep", "Before the backup").await["edit"]["result"], "Success");
    let bulk = add_bulk(&farm, "phoenix");
    let id = back_up(&farm, &owner, "phoenix").await["id"].as_i64().expect("id");
    assert_eq!(wiki.edit("Keep", "After the backup").await["edit"]["result"], "Success");
    std::fs::remove_file(&bulk).expect("remove");
    let (status, restore) = post(&farm, &owner, "/api/v1/wikis/phoenix/restore", Some(json!({"backup": id}))).await;
    assert_eq!(status, 202, "{restore}");
    let restore_id = restore["id"].as_i64().expect("id");
    let wiki_dir = farm.wiki_dir("phoenix");
    common::wait_until("the restore is under way", Duration::from_secs(60), || async {
        if wiki_dir.join("restoring").exists() {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
    // Read-only while it runs.
    let edit = wiki.edit("Keep", "During the restore").await;
    assert_eq!(edit["error"]["code"], "readonly", "{edit}");
    farm.kill9();
    farm.spawn();
    farm.wait_healthy().await;
    let done = wait_state(&farm, &owner, &format!("/api/v1/restores/{restore_id}"), &["done", "failed"]).await;
    assert_eq!(done["state"], "done", "{done}\n{}", farm.log());
    assert_eq!(raw(&wiki, "Keep").await, (200, "Before the backup".to_owned()));
    assert!(bulk.is_file(), "the upload folder is the backup's");
    assert!(leftovers(&farm.data_dir).is_empty(), "{:?}", leftovers(&farm.data_dir));
    if backend == Backend::Mariadb {
        farm.drop_templates_on_local_mariadb();
    }
}

/// Scheduled backups every 2 s with one kept a day: the older ones are removed.
#[tokio::test]
async fn scheduled_backups_run_and_retention_removes_the_old_ones() {
    let farm = Farmd::start_with(&[
        ("FARM_BACKUPS__INTERVAL", "2s"),
        ("FARM_BACKUPS__KEEP_DAILY", "1"),
        ("FARM_BACKUPS__KEEP_WEEKLY", "0"),
    ])
    .await;
    let owner = farm.token("sam", "member");
    farm.create_wiki(&owner, json!({"name": "ticking", "sitename": "Ticking"})).await;
    farm.wait_for_state(&owner, "ticking", &["active"]).await;
    let list = common::wait_until("three scheduled backups", Duration::from_secs(90), || async {
        let (_, list) = farm.get_json(&owner, "/api/v1/wikis/ticking/backups").await;
        let backups = list["backups"].as_array().cloned().unwrap_or_default();
        let pruned = backups.iter().filter(|b| b["state"] == "pruned").count();
        if backups.len() >= 3 && pruned >= 2 {
            Ok(backups)
        } else {
            Err(list.to_string())
        }
    })
    .await;
    assert!(list.iter().all(|b| b["kind"] == "scheduled"));
    let key = key_of(&farm, "ticking");
    let verified: Vec<String> = list.iter().filter(|b| b["state"] == "verified").map(|b| b["id"].to_string()).collect();
    let folders: Vec<String> = std::fs::read_dir(farm.data_dir.join("backups").join(&key))
        .expect("backups")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".partial"))
        .collect();
    assert!(folders.len() <= 2, "one kept a day (and maybe one being verified): {folders:?}");
    assert!(verified.iter().any(|v| folders.contains(v)), "{verified:?} {folders:?}");
}

const PORTAL_PASSWORD: &str = "correct horse battery";

async fn portal_page(farm: &Farmd, client: &reqwest::Client, path: &str) -> String {
    let response = client.get(farm.url(path)).send().await.expect("page");
    assert_eq!(response.status(), 200, "{path}");
    // minijinja escapes `/` too.
    response.text().await.expect("html").replace("&#x2f;", "/")
}

async fn portal_login(farm: &Farmd, name: &str) -> reqwest::Client {
    common::portal_login(farm, name, PORTAL_PASSWORD).await
}

/// The owner backs a wiki up and restores it through the portal's pages (plain HTTP, forms
/// with the session's token); a form without the token changes nothing; another member sees
/// no backups page.
#[tokio::test]
async fn the_owner_backs_up_and_restores_a_wiki_through_the_portal() {
    let farm = Farmd::start().await;
    assert!(farm.create_account("pia", "member", Some(PORTAL_PASSWORD)));
    assert!(farm.create_account("nosy", "member", Some(PORTAL_PASSWORD)));
    let token = farm.token("pia", "member");
    // The owner has a farm password, so no one-time wiki password: edits are anonymous here.
    let (status, created) = farm.create_wiki(&token, json!({"name": "pia-wiki", "sitename": "Pia"})).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(&token, "pia-wiki", &["active"]).await;
    let wiki = farm.wiki_client("pia-wiki");
    let edit = wiki.edit("Keep", "Before the backup").await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");
    let pia = portal_login(&farm, "pia").await;
    let page = portal_page(&farm, &pia, "/wikis/pia-wiki").await;
    assert!(page.contains("href=\"/wikis/pia-wiki/backups\""), "the wiki page links its backups");
    let page = portal_page(&farm, &pia, "/wikis/pia-wiki/backups").await;
    assert!(page.contains("id=\"no-backups\""), "{page}");
    let response =
        pia.post(farm.url("/wikis/pia-wiki/backups")).form(&[("csrf", "forged")]).send().await.expect("post");
    assert_eq!(response.status(), 403, "no token, no backup");
    let response =
        pia.post(farm.url("/wikis/pia-wiki/backups")).form(&[("csrf", csrf_of(&page))]).send().await.expect("post");
    assert_eq!(response.status(), 303);
    let page = common::wait_until("a verified backup on the page", Duration::from_secs(60), || async {
        let page = portal_page(&farm, &pia, "/wikis/pia-wiki/backups").await;
        if page.contains("data-state=\"verified\"") {
            Ok(page)
        } else {
            Err(page)
        }
    })
    .await;
    let action = page
        .split("action=\"/wikis/pia-wiki/backups/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a restore button")
        .to_owned();
    let nosy = portal_login(&farm, "nosy").await;
    let response = nosy.get(farm.url("/wikis/pia-wiki/backups")).send().await.expect("page");
    assert_eq!(response.status(), 404, "another member sees no backups");
    assert_eq!(wiki.edit("Keep", "After the backup").await["edit"]["result"], "Success");
    let response = pia
        .post(farm.url(&format!("/wikis/pia-wiki/backups/{action}")))
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .expect("restore");
    assert_eq!(response.status(), 303);
    common::wait_until("the restore is done", Duration::from_secs(60), || async {
        let page = portal_page(&farm, &pia, "/wikis/pia-wiki/backups").await;
        if page.contains("data-state=\"done\"") {
            Ok(())
        } else {
            Err(page)
        }
    })
    .await;
    assert_eq!(raw(&wiki, "Keep").await, (200, "Before the backup".to_owned()));
}
