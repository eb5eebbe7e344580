//! Codebase upgrades with two codebases on this machine: Debian's MediaWiki and a copy of it
//! whose `MW_VERSION` says a later point release (and whose `update.php` fails on purpose for
//! the wikis listed in a file of the copy).
//!
//! What this proves: farmd notices a codebase and its version, serves each wiki from its own
//! codebase, moves wikis one at a time (read-only for readers meanwhile, jobs drained, the
//! target's `update.php`, then served by the target) while the others keep answering, puts
//! canaries first, leaves a failed wiki read-only, mails the admins, and retries; and that a
//! codebase changed in place is noticed while farmd runs and upgraded by itself. What it does
//! not prove: a real schema migration between two MediaWiki versions (the copy's schema is
//! the same; `update.php` finds nothing to change).

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::smtp::SmtpServer;
use common::{wait_until, Farmd};
use serde_json::{json, Value};

const MEDIAWIKI: &str = "/usr/share/mediawiki";

/// A second codebase: hard links to the installed one where it is on the same file system (a
/// copy elsewhere), with its own `includes/Defines.php` saying `version` and an `update.php`
/// that fails for the wikis named in `farm-test-fail` beside it, and for those named in
/// `farm-test-slow` says it started (`farm-test-started-WIKI`) and takes two minutes.
fn second_codebase(dir: &Path, version: &str) -> PathBuf {
    let copy = dir.join("mediawiki");
    let linked = std::process::Command::new("cp").arg("-al").arg(MEDIAWIKI).arg(&copy).status();
    if !linked.is_ok_and(|s| s.success()) {
        let _ = std::fs::remove_dir_all(&copy);
        let copied = std::process::Command::new("cp").arg("-a").arg(MEDIAWIKI).arg(&copy).status().expect("cp");
        assert!(copied.success(), "cannot copy {MEDIAWIKI}");
    }
    set_version(&copy, version);
    let update = copy.join("maintenance/update.php");
    let text = std::fs::read_to_string(&update).expect("update.php");
    let failing = "<?php\n$farmTestFail = __DIR__ . '/../farm-test-fail';\n\
        $farmTestWiki = $argv[ array_search( '--wiki', $argv ) + 1 ] ?? '';\n\
        if ( is_file( $farmTestFail ) && in_array( $farmTestWiki, file( $farmTestFail, FILE_IGNORE_NEW_LINES ), true ) ) {\n\
        \tfwrite( STDERR, \"farm test: injected failure for $farmTestWiki\\n\" );\n\texit( 3 );\n}\n\
        $farmTestSlow = __DIR__ . '/../farm-test-slow';\n\
        if ( is_file( $farmTestSlow ) && in_array( $farmTestWiki, file( $farmTestSlow, FILE_IGNORE_NEW_LINES ), true ) ) {\n\
        \ttouch( __DIR__ . \"/../farm-test-started-$farmTestWiki\" );\n\tsleep( 120 );\n}\n";
    let patched = text.replacen("<?php", failing, 1);
    // A new file, never the hard link's shared one.
    std::fs::remove_file(&update).expect("unlink update.php");
    std::fs::write(&update, patched).expect("write update.php");
    copy
}

/// Gives the codebase at `dir` its own `Defines.php` with `MW_VERSION` = `version`.
fn set_version(dir: &Path, version: &str) {
    let defines = dir.join("includes/Defines.php");
    let text = std::fs::read_to_string(&defines).expect("Defines.php");
    let replaced: Vec<String> = text
        .lines()
        .map(|line| {
            if line.trim().starts_with("define( 'MW_VERSION', '") {
                format!("define( 'MW_VERSION', '{version}' );")
            } else {
                line.to_owned()
            }
        })
        .collect();
    // A new file, never the hard link's shared one.
    std::fs::remove_file(&defines).expect("unlink Defines.php");
    std::fs::write(&defines, replaced.join("\n") + "\n").expect("write Defines.php");
}

async fn post(farm: &Farmd, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = farm.http.post(farm.url(path)).bearer_auth(token).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// What the wiki's MediaWiki says about itself: its version and whether it is read-only.
async fn siteinfo(farm: &Farmd, wiki: &str) -> (String, bool) {
    let info = farm.wiki_client(wiki).api_get(&[("action", "query"), ("meta", "siteinfo")]).await;
    let general = &info["query"]["general"];
    let version = general["generator"].as_str().unwrap_or_default().trim_start_matches("MediaWiki ").to_owned();
    (version, general["readonly"].as_bool().unwrap_or(false))
}

async fn wait_run_done(farm: &Farmd, admin: &str, id: i64) -> Value {
    wait_until("the upgrade to end", Duration::from_secs(600), || async {
        let (_, run) = farm.get_json(admin, &format!("/api/v1/maintenance-runs/{id}")).await;
        if run["state"] == "done" {
            Ok(run)
        } else {
            Err(run.to_string())
        }
    })
    .await
}

async fn run_wikis(farm: &Farmd, admin: &str, id: i64) -> Vec<Value> {
    let (status, page) = farm.get_json(admin, &format!("/api/v1/maintenance-runs/{id}/wikis?limit=500")).await;
    assert_eq!(status, 200, "{page}");
    page["wikis"].as_array().cloned().unwrap_or_default()
}

/// Reads every wiki's Main Page in turn until stopped: each answer's status (0: no answer at
/// all), per wiki.
fn probe(farm: &Farmd, wikis: &[String], stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<(String, u16)>> {
    let clients: Vec<(String, common::WikiClient)> = wikis.iter().map(|w| (w.clone(), farm.wiki_client(w))).collect();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            for (wiki, client) in &clients {
                let url = format!("{}/index.php?title=Main_Page", client.base);
                let status = match client.http.get(url).send().await {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                };
                seen.push((wiki.clone(), status));
            }
        }
        seen
    })
}

#[tokio::test]
async fn an_upgrade_between_two_codebases_keeps_the_others_serving_and_a_failure_is_retried() {
    common::require_mediawiki();
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let installed = common::mediawiki_version();
    let next_version = format!("{installed}.1");
    let next = second_codebase(work.path(), &next_version);
    let smtp = SmtpServer::start().await;
    let config = format!(
        "[[codebases]]\nname = \"lts\"\npath = \"{MEDIAWIKI}\"\n\
         [[codebases]]\nname = \"next\"\npath = \"{}\"\n\
         [[codebases]]\nname = \"broken\"\npath = \"{}\"\n\
         [upgrades]\ncodebase = \"lts\"\ncanary = [\"up-canary\"]\nparallel = 1\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Wiki farm <farm@example.org>\"\n",
        next.display(),
        work.path().join("not-a-mediawiki").display(),
        smtp.port
    );
    std::fs::create_dir_all(work.path().join("not-a-mediawiki")).expect("mkdir");
    let mut farm = Farmd::new(&[]);
    farm.set_config(&config);
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");

    let wikis: Vec<String> = ["up-canary", "up-a", "up-b", "up-fails"].iter().map(|s| s.to_string()).collect();
    for name in &wikis {
        let (status, body) = farm.create_wiki(&admin, json!({"name": name, "sitename": name})).await;
        assert_eq!(status, 202, "{body}");
    }
    for name in &wikis {
        farm.wait_for_state(&admin, name, &["active"]).await;
        assert_eq!(siteinfo(&farm, name).await, (installed.clone(), false), "{name} starts on lts");
    }
    let (status, codebases) = farm.get_json(&admin, "/api/v1/codebases").await;
    assert_eq!(status, 200, "{codebases}");
    let list = codebases["codebases"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 3, "{codebases}");
    assert_eq!(list[0]["name"], "lts");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[0]["wikis"], 4);
    assert_eq!(list[1]["version"], next_version.as_str());
    assert!(list[2]["problem"].as_str().is_some_and(|p| p.contains("no MediaWiki codebase")), "{codebases}");

    // Bad input: nothing is queued.
    for (body, code) in [
        (json!({"codebase": "nope"}), "codebase_unknown"),
        (json!({"codebase": "../etc"}), "codebase_unknown"),
        (json!({"codebase": "broken"}), "codebase_invalid"),
        (json!({"codebase": "next", "wikis": ["no-such-wiki"]}), "selection_unknown"),
    ] {
        let (status, answer) = post(&farm, &admin, "/api/v1/upgrades", body.clone()).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some(code)), "{body}: {answer}");
    }
    let (status, answer) = post(&farm, &admin, "/api/v1/upgrades", json!({"codebase": "next", "surprise": 1})).await;
    assert!((400..500).contains(&status), "{answer}");
    let member = farm.token("mel", "member");
    let (status, _) = post(&farm, &member, "/api/v1/upgrades", json!({"codebase": "next"})).await;
    assert_eq!(status, 403);
    let (_, runs) = farm.get_json(&admin, "/api/v1/maintenance-runs").await;
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(0), "nothing was queued: {runs}");

    // One wiki's update fails; the others move while all of them are read all along.
    std::fs::write(next.join("farm-test-fail"), "up-fails\n").expect("fail list");
    let stop = Arc::new(AtomicBool::new(false));
    let probes = probe(&farm, &wikis, stop.clone());
    let (status, run) = post(&farm, &admin, "/api/v1/upgrades", json!({"codebase": "next"})).await;
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["upgrade_to"], "next");
    let id = run["id"].as_i64().expect("run id");
    let (status, second) = post(&farm, &admin, "/api/v1/upgrades", json!({"codebase": "next"})).await;
    assert_eq!((status, second["error"]["code"].as_str()), (409, Some("conflict")), "a second upgrade: {second}");
    let done = wait_run_done(&farm, &admin, id).await;
    stop.store(true, Ordering::Relaxed);
    let seen = probes.await.expect("probes");
    for wiki in &wikis {
        let answers: Vec<u16> = seen.iter().filter(|(w, _)| w == wiki).map(|(_, s)| *s).collect();
        assert!(answers.len() >= 3, "{wiki} was probed {} times", answers.len());
        assert!(answers.iter().all(|s| *s == 200), "{wiki} answered {answers:?} during the upgrade");
    }
    assert_eq!(done["counts"]["done"], 3, "{done}");
    assert_eq!(done["counts"]["failed"], 1, "{done}");
    let report = run_wikis(&farm, &admin, id).await;
    let row = |name: &str| report.iter().find(|w| w["wiki"] == name).cloned().unwrap_or(Value::Null);
    assert_eq!(row("up-canary")["canary"], true);
    let canary_finished = row("up-canary")["finished_at"].as_str().unwrap_or_default().to_owned();
    for other in ["up-a", "up-b", "up-fails"] {
        let started = row(other)["started_at"].as_str().unwrap_or_default().to_owned();
        assert!(started >= canary_finished, "{other} started {started}, before the canary ended {canary_finished}");
    }
    assert!(row("up-fails")["output"].as_str().is_some_and(|o| o.contains("injected failure")), "{report:?}");

    for wiki in ["up-canary", "up-a", "up-b"] {
        assert_eq!(siteinfo(&farm, wiki).await, (next_version.clone(), false), "{wiki} is on next, writable");
        let edit = farm.wiki_client(wiki).edit("After upgrade", "on the next codebase").await;
        assert!(edit.get("error").is_none(), "{wiki}: {edit}");
    }
    // On a codebase other than the current one, a wiki's settings wait for its upgrade there.
    let response = farm
        .http
        .patch(farm.url("/api/v1/wikis/up-a/settings"))
        .bearer_auth(&admin)
        .json(&json!({"base_revision": 1, "extensions": {"Cite": false}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status().as_u16(), 409, "{:?}", response.text().await);
    assert_eq!(siteinfo(&farm, "up-fails").await, (installed.clone(), true), "the failed wiki stays read-only on lts");
    assert!(farm.wiki_dir("up-fails").join("upgrade-failed").exists());
    assert!(!farm.wiki_dir("up-a").join("upgrading").exists());
    // root owns the wikis too: its "ready" mails name them as well.
    let mail = smtp.wait_for("root@example.org", "the upgrade of the wiki \"up-fails\"").await;
    assert!(
        mail.body.contains("injected failure") && mail.body.contains(&format!("/maintenance-runs/{id}/retry")),
        "{}",
        mail.body
    );

    // Fixed: the retry takes only the failed wiki, and it ends on next, writable.
    std::fs::remove_file(next.join("farm-test-fail")).expect("fixed");
    let (status, retried) = post(&farm, &admin, &format!("/api/v1/maintenance-runs/{id}/retry"), json!({})).await;
    assert_eq!(status, 202, "{retried}");
    let done = wait_run_done(&farm, &admin, id).await;
    assert_eq!((done["counts"]["done"].as_i64(), done["failures"].as_i64()), (Some(4), Some(0)), "{done}");
    assert_eq!(siteinfo(&farm, "up-fails").await, (next_version.clone(), false));
    assert!(!farm.wiki_dir("up-fails").join("upgrade-failed").exists());
    let (status, again) = post(&farm, &admin, &format!("/api/v1/maintenance-runs/{id}/retry"), json!({})).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("conflict")), "nothing left to retry: {again}");
    let (_, codebases) = farm.get_json(&admin, "/api/v1/codebases").await;
    assert_eq!(codebases["codebases"][1]["wikis"], 4, "{codebases}");

    // A wiki on a current schema is skipped by the next upgrade; across a restart every wiki
    // is still served by next.
    let (status, run) = post(&farm, &admin, "/api/v1/upgrades", json!({"codebase": "next"})).await;
    assert_eq!(status, 202, "{run}");
    let done = wait_run_done(&farm, &admin, run["id"].as_i64().expect("id")).await;
    assert_eq!(done["counts"]["skipped"], 4, "{done}");
    farm.terminate();
    farm.spawn();
    farm.wait_healthy().await;
    for wiki in &wikis {
        assert_eq!(siteinfo(&farm, wiki).await.0, next_version, "{wiki} after a restart");
    }
}

#[tokio::test]
async fn a_codebase_changed_in_place_is_noticed_while_farmd_runs_and_every_wiki_is_upgraded_by_itself() {
    common::require_mediawiki();
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let installed = common::mediawiki_version();
    let codebase = second_codebase(work.path(), &installed);
    let dir = codebase.to_string_lossy().into_owned();
    let mut farm = Farmd::new(&[("FARM_UPGRADES__CHECK_INTERVAL", "1s"), ("FARM_MEDIAWIKI_DIR", &dir)]);
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");
    let wikis: Vec<String> = ["inplace-a", "inplace-b"].iter().map(|s| s.to_string()).collect();
    for name in &wikis {
        let (status, body) = farm.create_wiki(&admin, json!({"name": name, "sitename": name})).await;
        assert_eq!(status, 202, "{body}");
    }
    for name in &wikis {
        farm.wait_for_state(&admin, name, &["active"]).await;
    }
    let before = farm.pid();

    // A point release installed in place, as apt does while farmd runs.
    let point_release = format!("{installed}.2");
    set_version(&codebase, &point_release);
    let stop = Arc::new(AtomicBool::new(false));
    let probes = probe(&farm, &wikis, stop.clone());
    let run = wait_until("an upgrade queued by farmd itself", Duration::from_secs(120), || async {
        let response = farm.http.get(farm.url("/api/v1/maintenance-runs")).bearer_auth(&admin).send().await;
        let Ok(response) = response else { return Err("farmd restarting".to_owned()) };
        let page: Value = response.json().await.unwrap_or(Value::Null);
        let first = page["runs"].as_array().and_then(|r| r.first()).cloned().unwrap_or(Value::Null);
        if first["requested_by"] == "farmd" && first["state"] == "done" {
            Ok(first)
        } else {
            Err(page.to_string())
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let seen = probes.await.expect("probes");
    assert_eq!(farm.pid(), before, "farmd restarted in place (exec), as the same process");
    assert!(farm.log().contains("changed in place"), "the log says why it restarted");
    assert_eq!(run["upgrade_to"], "default", "{run}");
    assert_eq!((run["counts"]["done"].as_i64(), run["failures"].as_i64()), (Some(2), Some(0)), "{run}");
    for wiki in &wikis {
        assert_eq!(siteinfo(&farm, wiki).await, (point_release.clone(), false), "{wiki}");
    }
    // The listening socket stayed open across the restart: no read was refused; while the new
    // PHP servers started, some may have been asked to try again (503).
    assert!(seen.iter().all(|(_, s)| matches!(s, 200 | 503)), "{seen:?}");
    let (_, health) = farm.get_json(&admin, "/healthz").await;
    assert_eq!(health["mediawiki_version"], point_release.as_str(), "farmd opened the new code: {health}");
    assert!(
        farm.entries("templates").iter().any(|t| t.starts_with(&format!("{point_release}-"))),
        "templates for the new version: {:?}",
        farm.entries("templates")
    );
}

/// `kill -9` while a wiki's update.php runs: its script dies with farmd, and the next farmd
/// takes the wiki again (an upgrade run allows one retry), so every wiki ends on the target,
/// writable, with no marker and no process left behind.
#[tokio::test]
async fn an_upgrade_killed_in_the_middle_of_a_wiki_finishes_after_a_restart() {
    common::require_mediawiki();
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let installed = common::mediawiki_version();
    let next_version = format!("{installed}.1");
    let next = second_codebase(work.path(), &next_version);
    let config = format!(
        "[[codebases]]\nname = \"lts\"\npath = \"{MEDIAWIKI}\"\n\
         [[codebases]]\nname = \"next\"\npath = \"{}\"\n\
         [upgrades]\ncodebase = \"lts\"\nparallel = 1\n",
        next.display(),
    );
    let mut farm = Farmd::new(&[]);
    farm.set_config(&config);
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");
    let wikis: Vec<String> = ["kill-up-a", "kill-up-b", "kill-up-c"].iter().map(|s| s.to_string()).collect();
    for name in &wikis {
        let (status, body) = farm.create_wiki(&admin, json!({"name": name, "sitename": name})).await;
        assert_eq!(status, 202, "{body}");
    }
    for name in &wikis {
        farm.wait_for_state(&admin, name, &["active"]).await;
    }

    std::fs::write(next.join("farm-test-slow"), "kill-up-b\n").expect("slow list");
    let (status, run) = post(&farm, &admin, "/api/v1/upgrades", json!({"codebase": "next"})).await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_i64().expect("run id");
    let started = next.join("farm-test-started-kill-up-b");
    wait_until("kill-up-b's update.php to run", Duration::from_secs(300), || async {
        if started.exists() {
            Ok(())
        } else {
            Err(format!("{:?}", run_wikis(&farm, &admin, id).await))
        }
    })
    .await;
    assert!(farm.wiki_dir("kill-up-b").join("upgrading").exists(), "read-only for readers meanwhile");
    assert_eq!(siteinfo(&farm, "kill-up-b").await, (installed.clone(), true));
    let update_php = || {
        let found = std::process::Command::new("pgrep").args(["-f", "update.php.*kill-up-b"]).output().expect("pgrep");
        String::from_utf8_lossy(&found.stdout).trim().to_owned()
    };
    assert!(!update_php().is_empty(), "kill-up-b's update.php is running");
    farm.kill9();
    // Its update.php went with it (PHP children die with farmd).
    wait_until("the killed farmd's update.php gone", Duration::from_secs(10), || async {
        match update_php() {
            running if running.is_empty() => Ok(()),
            running => Err(running),
        }
    })
    .await;

    std::fs::remove_file(next.join("farm-test-slow")).expect("fast again");
    farm.spawn();
    farm.wait_healthy().await;
    let done = wait_run_done(&farm, &admin, id).await;
    assert_eq!((done["counts"]["done"].as_i64(), done["failures"].as_i64()), (Some(3), Some(0)), "{done}");
    let report = run_wikis(&farm, &admin, id).await;
    let killed = report.iter().find(|w| w["wiki"] == "kill-up-b").cloned().unwrap_or(Value::Null);
    assert_eq!(killed["attempts"], 2, "taken again after the kill: {killed}");
    for wiki in &wikis {
        assert_eq!(siteinfo(&farm, wiki).await, (next_version.clone(), false), "{wiki} on next, writable");
        for marker in ["upgrading", "upgrade-failed"] {
            assert!(!farm.wiki_dir(wiki).join(marker).exists(), "{wiki}: {marker}");
        }
        let edit = farm.wiki_client(wiki).edit("After the kill", "upgraded all the same").await;
        assert!(edit.get("error").is_none(), "{wiki}: {edit}");
    }
}
