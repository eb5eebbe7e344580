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
    let png = common::png(30, 0x3366cc);
    let uploaded = wiki.upload("Blue.png", png.clone()).await;
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

async fn import(farm: &Farmd, token: &str, name: &str, archive: Vec<u8>) -> (u16, Value) {
    let response = farm
        .http
        .post(farm.url(&format!("/api/v1/wiki-imports?name={name}&sitename=Imported%20{name}")))
        .bearer_auth(token)
        .body(archive)
        .send()
        .await
        .expect("import");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Pages with the number of their revisions and the latest text, through the API.
async fn pages_of(wiki: &common::WikiClient) -> BTreeMap<String, (usize, String)> {
    let list = wiki.api_get(&[("action", "query"), ("list", "allpages"), ("aplimit", "500")]).await;
    let mut pages = BTreeMap::new();
    for page in list["query"]["allpages"].as_array().expect("pages") {
        let title = page["title"].as_str().expect("title").to_owned();
        let revs = wiki
            .api_get(&[
                ("action", "query"),
                ("prop", "revisions"),
                ("titles", &title),
                ("rvprop", "content"),
                ("rvslots", "main"),
                ("rvlimit", "500"),
            ])
            .await;
        let revisions = revs["query"]["pages"][0]["revisions"].as_array().expect("revisions");
        let latest = revisions[0]["slots"]["main"]["content"].as_str().unwrap_or("").to_owned();
        pages.insert(title, (revisions.len(), latest));
    }
    pages
}

/// An export imported as a new wiki holds the same pages, revisions, files and settings; a
/// dump made by MediaWiki's own dumpBackup.php imports too; bad archives change nothing.
#[tokio::test]
async fn an_archive_becomes_a_new_wiki_and_a_bad_one_changes_nothing() {
    let farm = Farmd::start().await;
    let owner = farm.token("imo", "member");
    let (_, created) = farm.create_wiki(&owner, json!({"name": "source", "sitename": "Source"})).await;
    farm.wait_for_state(&owner, "source", &["active"]).await;
    let wiki = farm.wiki_client("source");
    let user = created["owner_credentials"]["username"].as_str().expect("user");
    let password = created["owner_credentials"]["password"].as_str().expect("password");
    assert_eq!(wiki.login(user, password).await["clientlogin"]["status"], "PASS");
    for text in ["One", "Two", "Three"] {
        assert_eq!(wiki.edit("Journal", text).await["edit"]["result"], "Success");
    }
    assert_eq!(wiki.edit("Other page", "[[Journal]] and [[Category:Kept]]").await["edit"]["result"], "Success");
    let (status, _) = farm
        .http
        .patch(farm.url("/api/v1/wikis/source/settings"))
        .bearer_auth(&owner)
        .json(&json!({"base_revision": 1, "settings": {"timezone": "Europe/Berlin"}, "extensions": {"Poem": false}}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("patch");
    assert_eq!(status, 200);
    let response =
        farm.http.post(farm.url("/api/v1/wikis/source/exports")).bearer_auth(&owner).send().await.expect("post");
    let id = response.json::<Value>().await.expect("json")["id"].as_i64().expect("id");
    let done = wait_export(&farm, &owner, id).await;
    let archive = farm
        .http
        .get(farm.url(done["archive"].as_str().expect("archive")))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes")
        .to_vec();

    // Bad archives: a 4xx each, and no wiki, nothing left in data/imports.
    let dir = tempfile::tempdir().expect("tempdir");
    unpack(&archive, dir.path());
    let repack = |edit: &dyn Fn(&std::path::Path)| -> Vec<u8> {
        let copy = tempfile::tempdir().expect("tempdir");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", dir.path().display()))
            .arg(copy.path())
            .status()
            .expect("cp");
        assert!(status.success());
        std::fs::remove_file(copy.path().join("archive.tar.gz")).expect("rm");
        edit(copy.path());
        let out = copy.path().join("out.tar.gz");
        let status = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&out)
            .arg("-C")
            .arg(copy.path())
            .args(["manifest.json", "pages.xml", "logs.xml", "settings.json"])
            .status()
            .expect("tar");
        assert!(status.success());
        std::fs::read(out).expect("read")
    };
    let tampered = repack(&|d| std::fs::write(d.join("pages.xml"), "<mediawiki>changed</mediawiki>\n").expect("write"));
    let bomb = b"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>\n<mediawiki>&lol2;</mediawiki>\n".to_vec();
    let climbing = {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_mode(0o644);
        let name = b"../../evil.txt";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        builder.append(&header, &b"evil"[..]).expect("append");
        builder.into_inner().expect("tar").finish().expect("gzip")
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("not-an-archive", b"hello, this is not an archive".to_vec(), 422, "archive_invalid"),
        ("truncated", archive[..archive.len() / 2].to_vec(), 422, "archive_invalid"),
        ("tampered", tampered, 422, "archive_checksum"),
        ("bomb", bomb, 422, "archive_unsafe_xml"),
        ("climbing", climbing, 422, "archive_path"),
    ];
    for (name, bytes, status, code) in cases {
        let (got, body) = import(&farm, &owner, name, bytes).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{name}: {body}");
        let (status, _) = farm.get_json(&owner, &format!("/api/v1/wikis/{name}")).await;
        assert_eq!(status, 404, "{name}: no wiki was made");
    }
    assert!(!farm.data_dir.join("evil.txt").exists() && !farm.data_dir.join("imports/evil.txt").exists());
    assert!(farm.entries("imports").is_empty(), "nothing left behind: {:?}", farm.entries("imports"));

    // The export as a new wiki: the same pages, revisions and texts, and its settings.
    let (status, body) = import(&farm, &owner, "copy", archive).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "provisioning");
    farm.wait_for_state(&owner, "copy", &["active"]).await;
    let copy = farm.wiki_client("copy");
    let (before, after) = (pages_of(&wiki).await, pages_of(&copy).await);
    assert_eq!(before, after, "pages, revision counts and latest texts");
    let (_, settings) = farm.get_json(&owner, "/api/v1/wikis/copy/settings").await;
    assert_eq!(settings["settings"]["timezone"], "Europe/Berlin");
    assert_eq!(settings["settings"]["sitename"], "Imported copy");
    assert!(!settings["extensions"].as_array().expect("list").iter().any(|e| e == "Poem"));
    let stats = copy.api_get(&[("action", "query"), ("meta", "siteinfo"), ("siprop", "statistics")]).await;
    assert!(stats["query"]["statistics"]["edits"].as_i64().unwrap_or(0) >= 5, "site statistics rebuilt: {stats}");
    let recent = copy.api_get(&[("action", "query"), ("list", "recentchanges"), ("rclimit", "50")]).await;
    assert!(
        recent["query"]["recentchanges"].as_array().is_some_and(|r| r.iter().any(|c| c["title"] == "Journal")),
        "{recent}"
    );
    assert!(farm.entries("imports").is_empty(), "the archive went once loaded");

    // A dump made by MediaWiki's own dumpBackup.php.
    let dump = farm.maintenance("dumpBackup.php", &["--wiki", "source", "--full", "--quiet"]);
    assert!(dump.status.success());
    let (status, body) = import(&farm, &owner, "fromdump", dump.stdout).await;
    assert_eq!(status, 202, "{body}");
    farm.wait_for_state(&owner, "fromdump", &["active"]).await;
    let imported = pages_of(&farm.wiki_client("fromdump")).await;
    assert_eq!(imported.get("Journal"), before.get("Journal"));
}

/// A MediaWiki export of `count` pages with two revisions each.
fn generated_dump(count: usize) -> Vec<u8> {
    let mut xml = String::from(
        "<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.11/\" version=\"0.11\" xml:lang=\"en\">\n",
    );
    for i in 0..count {
        xml.push_str(&format!("<page><title>Generated {i}</title><ns>0</ns><id>{}</id>", i + 1));
        for (r, day) in [(1, "01"), (2, "02")] {
            xml.push_str(&format!(
                "<revision><id>{}</id><timestamp>2020-01-{day}T00:00:00Z</timestamp><contributor><username>Writer</username><id>7</id></contributor>\
                 <model>wikitext</model><format>text/x-wiki</format><text xml:space=\"preserve\">Page {i}, revision {r}</text></revision>",
                i * 2 + r
            ));
        }
        xml.push_str("</page>\n");
    }
    xml.push_str("</mediawiki>\n");
    xml.into_bytes()
}

/// A kill while MediaWiki's importer runs: after the restart the import step runs again and
/// the wiki goes live with every page once; its authors carry the importer's prefix.
#[tokio::test]
async fn a_kill_during_an_import_resumes_it() {
    let mut farm = Farmd::start().await;
    let owner = farm.token("kim", "member");
    let (status, body) = import(&farm, &owner, "resumed", generated_dump(400)).await;
    assert_eq!(status, 202, "{body}");
    common::wait_until("importDump.php running", Duration::from_secs(60), || async {
        if common::processes_mentioning("importDump.php").iter().any(|(_, c)| c.contains("pages.xml")) {
            Ok(())
        } else {
            Err("not yet".to_owned())
        }
    })
    .await;
    let (_, during) = farm.get_json(&owner, "/api/v1/wikis/resumed").await;
    assert_eq!(during["state"], "provisioning", "not live before the import is done");
    farm.kill9();
    farm.spawn();
    farm.wait_healthy().await;
    farm.wait_for_state(&owner, "resumed", &["active"]).await;
    let wiki = farm.wiki_client("resumed");
    let stats = wiki.api_get(&[("action", "query"), ("meta", "siteinfo"), ("siprop", "statistics")]).await;
    assert!(stats["query"]["statistics"]["pages"].as_i64().unwrap_or(0) >= 400, "{stats}");
    let revs = wiki
        .api_get(&[
            ("action", "query"),
            ("prop", "revisions"),
            ("titles", "Generated 399"),
            ("rvprop", "user|content"),
            ("rvslots", "main"),
            ("rvlimit", "10"),
        ])
        .await;
    let revisions = revs["query"]["pages"][0]["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 2, "each revision once: {revs}");
    assert_eq!(revisions[0]["user"], "imported>Writer");
    assert_eq!(revisions[0]["slots"]["main"]["content"], "Page 399, revision 2");
    assert!(farm.entries("imports").is_empty());
}

/// The same from the command line: `farmd wiki export` downloads the archive, `farmd wiki
/// import` makes a wiki of it, then delete, undelete, rename, a transfer and its acceptance,
/// and the starters; a name that is not one is refused before any call.
#[tokio::test]
async fn the_command_line_exports_imports_and_manages_a_wiki() {
    let farm = Farmd::start_with(&[("FARM_DELETED_RETENTION", "1day")]).await;
    let owner = farm.token("cleo", "member");
    assert!(farm.create_account("rita", "member", None));
    let rita = farm.token("rita", "member");
    let url = farm.url("");
    let (status, created) = farm.create_wiki(&owner, json!({"name": "cli-src", "sitename": "Source"})).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(&owner, "cli-src", &["active"]).await;
    let run = |args: &[&str], token: &str| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--token", token, "--url", &url]);
        let output = farm.cli(&all, None);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (output.status.success(), text(&output.stdout), text(&output.stderr))
    };

    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("cli-src.tar.gz");
    let archive_arg = archive.to_string_lossy().into_owned();
    let (ok, out, err) = run(&["wiki", "export", "cli-src", "--output", &archive_arg], &owner);
    assert!(ok, "{out}{err}");
    assert!(out.contains("bytes in") && archive.is_file(), "{out}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&archive).expect("archive").permissions());
    assert_eq!(mode & 0o777, 0o600, "the archive is the caller's alone");

    let (ok, out, err) = run(&["wiki", "import", &archive_arg, "--name", "cli-copy", "--sitename", "Copy"], &owner);
    assert!(ok, "{out}{err}");
    assert!(out.contains("cli-copy: active"), "{out}");
    let (status, main) = farm.wiki_client("cli-copy").get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    assert!(main.contains("This wiki is new"), "the exported Main Page came along: {main}");

    let (ok, out, err) = run(&["wiki", "delete", "cli-copy"], &owner);
    assert!(ok && out.contains("cli-copy: trashed, can be restored until"), "{out}{err}");
    let (ok, out, err) = run(&["wiki", "undelete", "cli-copy"], &owner);
    assert!(ok && out.contains("cli-copy: active"), "{out}{err}");
    let (ok, out, err) = run(&["wiki", "rename", "cli-copy", "cli-moved"], &owner);
    assert!(ok && out.contains("cli-moved: active"), "{out}{err}");
    let (ok, out, err) = run(&["wiki", "add-manager", "cli-moved", "rita"], &owner);
    assert!(ok && out.contains("cli-moved: managers: rita"), "{out}{err}");
    let (ok, out, err) = run(&["wiki", "remove-manager", "cli-moved", "rita"], &owner);
    assert!(ok && out.contains("cli-moved: managers: none"), "{out}{err}");
    let (ok, out, err) = run(&["wiki", "transfer", "cli-moved", "--to", "rita"], &owner);
    assert!(ok && out.contains("offered"), "{out}{err}");
    let id = out.split_whitespace().nth(2).expect("transfer id").to_owned();
    let (ok, out, err) = run(&["transfer", "accept", &id], &rita);
    assert!(ok && out.contains("accepted"), "{out}{err}");
    let (_, moved) = farm.get_json(&rita, "/api/v1/wikis/cli-moved").await;
    assert_eq!(moved["owner"], "rita", "{moved}");

    let (ok, out, _) = run(&["starters", "--language", "de"], &owner);
    assert!(ok && out.contains("blank") && out.contains("(default)") && out.contains("Freundlich leer"), "{out}");

    // Refused, with the farm's reason, and nothing changed.
    let (ok, _, err) = run(&["wiki", "delete", "../api"], &owner);
    assert!(!ok && err.contains("../api"), "{err}");
    let (ok, _, err) = run(&["wiki", "rename", "cli-src", "www"], &owner);
    assert!(!ok && err.contains("name_reserved"), "{err}");
    let (ok, _, err) = run(&["wiki", "import", "/nonexistent.tar.gz", "--name", "nope", "--sitename", "N"], &owner);
    assert!(!ok && err.contains("/nonexistent.tar.gz"), "{err}");
    let (status, _) = farm.get_json(&owner, "/api/v1/wikis/nope").await;
    assert_eq!(status, 404);
}
