//! Maintenance runs and the background job queues: update.php over 30 wikis on each backend
//! with a kill -9 in the middle (every wiki run exactly once), bad input that runs nothing,
//! scripts that hang or fail, cancel, the portal's pages, and jobs that run without any
//! page view.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::mariadb::TempMariaDb;
use common::{wait_until, ControlStore, Farmd};
use serde_json::{json, Value};

/// A `php` that notes every `update.php` it starts (its arguments, one line each) in
/// `{dir}/updates.log`, then becomes the real PHP. While `{dir}/hold` exists, an update.php
/// that starts notes itself in `{dir}/held.log` too and waits for the file to go, so that the
/// test can kill farmd while scripts are certainly under way. Anything else goes to PHP at once.
fn counting_php(dir: &Path) -> PathBuf {
    let script = dir.join("php");
    let d = dir.display();
    let text = format!(
        "#!/bin/sh\ncase \"$*\" in\n  *maintenance/update.php*)\n    printf '%s\\n' \"$*\" >> '{d}/updates.log'\n\
         \x20   if [ -e '{d}/hold' ]; then printf '%s\\n' \"$*\" >> '{d}/held.log'; fi\n\
         \x20   while [ -e '{d}/hold' ]; do sleep 0.05; done ;;\nesac\nexec php \"$@\"\n"
    );
    std::fs::write(&script, text).expect("write the php wrapper");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    script
}

/// Holds every update.php that starts from now on (see [`counting_php`]).
fn hold(dir: &Path) {
    // Only the scripts held from now on count.
    let _ = std::fs::remove_file(dir.join("held.log"));
    std::fs::write(dir.join("hold"), b"").expect("hold");
}

/// Once `count` of the wikis the run says are running are held, farmd is killed (-9): those
/// scripts were certainly started and not done. Then the hold ends. Returns the held wikis.
async fn kill_when_held(farm: &mut Farmd, admin: &str, dir: &Path, id: i64, count: usize) -> Vec<String> {
    let held = wait_until("scripts held", Duration::from_secs(300), || async {
        let (_, run) = farm.get_json(admin, &format!("/api/v1/maintenance-runs/{id}")).await;
        let running: Vec<String> =
            run["running"].as_array().into_iter().flatten().filter_map(|w| w.as_str().map(str::to_owned)).collect();
        let held = started_updates(&dir.join("held.log"));
        if running.len() == count && running.iter().all(|w| held.contains_key(w)) {
            Ok(running)
        } else {
            Err(format!("running {running:?}, held {held:?}"))
        }
    })
    .await;
    farm.kill9();
    farm.wait_no_php_server_left().await;
    std::fs::remove_file(dir.join("hold")).expect("release");
    held
}

/// The wikis `update.php` was started for, with how many times, from the wrapper's log.
fn started_updates(log: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        while let Some(word) = words.next() {
            if word == "--wiki" {
                *counts.entry(words.next().unwrap_or_default().to_owned()).or_insert(0) += 1;
            }
        }
    }
    counts
}

async fn post(farm: &Farmd, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = farm.http.post(farm.url(path)).bearer_auth(token).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn start_run(farm: &Farmd, token: &str, body: Value) -> Value {
    let (status, run) = post(farm, token, "/api/v1/maintenance-runs", body).await;
    assert_eq!(status, 202, "{run}\n{}", farm.log().lines().rev().take(10).collect::<Vec<_>>().join("\n"));
    run
}

/// Waits until the run is done or cancelled; its final view.
async fn wait_run(farm: &Farmd, token: &str, id: i64) -> Value {
    wait_until(&format!("maintenance run {id} to end"), Duration::from_secs(600), || async {
        let (status, run) = farm.get_json(token, &format!("/api/v1/maintenance-runs/{id}")).await;
        if status == 200 && matches!(run["state"].as_str(), Some("done" | "cancelled")) {
            Ok(run)
        } else {
            Err(format!("{status} {run}"))
        }
    })
    .await
}

/// Every wiki's report of the run, by name.
async fn reports(farm: &Farmd, token: &str, id: i64) -> BTreeMap<String, Value> {
    let (status, page) = farm.get_json(token, &format!("/api/v1/maintenance-runs/{id}/wikis?limit=500")).await;
    assert_eq!(status, 200, "{page}");
    page["wikis"]
        .as_array()
        .expect("wikis")
        .iter()
        .map(|w| (w["wiki"].as_str().expect("name").to_owned(), w.clone()))
        .collect()
}

/// Creates `count` wikis `PREFIX-i` in one batch and waits until all are active.
async fn create_wikis(farm: &Farmd, token: &str, prefix: &str, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    let rows: Vec<Value> = names.iter().map(|n| json!({"name": n, "sitename": n})).collect();
    let (status, body) = post(farm, token, "/api/v1/wiki-batches", json!({ "wikis": rows })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"].as_u64(), Some(count as u64), "{body}");
    for name in &names {
        farm.wait_for_state(token, name, &["active"]).await;
    }
    names
}

/// States of the run's wikis read from the control store itself (farmd may be dead).
async fn stored_states(farm: &Farmd, run: i64) -> BTreeMap<String, (String, i64)> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&farm.store_url).await.expect("open control store");
    let rows = sqlx::query("SELECT wiki, state, attempts FROM maintenance_run_wikis WHERE run_id = ?")
        .bind(run)
        .fetch_all(&mut conn)
        .await
        .expect("query");
    rows.iter().map(|r| (r.get::<String, _>(0), (r.get::<String, _>(1), r.get::<i64, _>(2)))).collect()
}

/// update.php over 30 wikis, killed (-9) while two scripts are under way: after the restart
/// the run goes on where it was and ends, every wiki's update.php having been started exactly
/// once (the two under way at the kill are `interrupted` and not run again: the run asked for
/// no retries). A second run updates those two and skips the rest, whose schema is current;
/// killed in turn, with a retry asked for, it runs them again after the restart.
async fn update_survives_a_kill(backend: &str) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    let log = dir.join("updates.log");
    let php = counting_php(dir);
    let server = (backend == "mariadb").then(TempMariaDb::new);
    let mut config = format!("php_binary = \"{}\"\n", php.display());
    if let Some(server) = &server {
        config.push_str(&format!(
            "default_backend = \"mariadb\"\n\n[[database_servers]]\nname = \"db\"\nadmin_url = \"{}\"\n",
            server.admin_url
        ));
    }
    let store = if backend == "mariadb" { ControlStore::Mariadb } else { ControlStore::Sqlite };
    let mut farm = Farmd::new_on(store, common::UNLIMITED_MEMBERS, Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");
    let names = create_wikis(&farm, &admin, &format!("up-{backend}"), 30).await;

    let run = start_run(
        &farm,
        &admin,
        json!({"script": "update.php", "args": ["--quick"], "selection": {"backend": backend}, "parallel": 2}),
    )
    .await;
    let id = run["id"].as_i64().expect("id");
    assert_eq!(run["total"].as_i64(), Some(30), "{run}");
    assert!(matches!(run["state"].as_str(), Some("queued" | "running")), "{run}");
    wait_until("a few wikis updated", Duration::from_secs(300), || async {
        let (_, run) = farm.get_json(&admin, &format!("/api/v1/maintenance-runs/{id}")).await;
        if run["counts"]["done"].as_i64().unwrap_or(0) >= 4 {
            Ok(())
        } else {
            Err(run.to_string())
        }
    })
    .await;
    hold(dir);
    let interrupted = kill_when_held(&mut farm, &admin, dir, id, 2).await;
    let at_kill = stored_states(&farm, id).await;
    let pending = at_kill.values().filter(|(state, _)| state == "pending").count();
    assert!(pending > 0, "the kill came in the middle of the run: {at_kill:?}");
    for wiki in &interrupted {
        assert_eq!(at_kill[wiki], ("running".to_owned(), 1), "{wiki}");
    }

    farm.spawn();
    farm.wait_healthy().await;
    let done = wait_run(&farm, &admin, id).await;
    assert_eq!(done["state"], "done", "{done}");
    let started = started_updates(&log);
    assert_eq!(started.len(), 30, "every wiki's update.php started: {started:?}");
    for name in &names {
        assert_eq!(started.get(name), Some(&1), "{name} exactly once: {started:?}");
    }
    let first_reports = reports(&farm, &admin, id).await;
    for name in &names {
        let report = &first_reports[name];
        assert_eq!(report["attempts"], 1, "{report}");
        if interrupted.contains(name) {
            assert_eq!(report["state"], "interrupted", "{report}");
            assert!(report["reason"].as_str().is_some_and(|r| r.contains("farmd stopped")), "{report}");
        } else {
            assert_eq!(
                (report["state"].as_str(), report["exit_code"].as_i64()),
                (Some("done"), Some(0)),
                "{report}\nheld {interrupted:?}, at the kill {at_kill:?}\n{}",
                farm.log().lines().filter(|l| l.contains("maintenance")).collect::<Vec<_>>().join("\n")
            );
            assert!(report["output"].as_str().is_some_and(|o| o.contains("Done in")), "update.php's output: {report}");
        }
    }
    assert_eq!((done["counts"]["done"].as_i64(), done["failures"].as_i64()), (Some(28), Some(2)), "{done}");

    // Again, with a retry: the two interrupted wikis need their update, the others are current
    // and skipped. Killed while both are under way, the run gives them another start.
    hold(dir);
    let again = start_run(
        &farm,
        &admin,
        json!({"script": "update.php", "args": ["--quick"], "selection": {"all": true}, "retries": 1, "parallel": 2}),
    )
    .await;
    let again_id = again["id"].as_i64().expect("id");
    let held = kill_when_held(&mut farm, &admin, dir, again_id, 2).await;
    assert_eq!(held.iter().collect::<std::collections::BTreeSet<_>>(), interrupted.iter().collect(), "the two");
    farm.spawn();
    farm.wait_healthy().await;
    let finished = wait_run(&farm, &admin, again_id).await;
    let got = reports(&farm, &admin, again_id).await;
    for name in &names {
        if interrupted.contains(name) {
            assert_eq!(
                (got[name]["state"].as_str(), got[name]["attempts"].as_i64()),
                (Some("done"), Some(2)),
                "{name}"
            );
        } else {
            assert_eq!(got[name]["state"], "skipped", "{name}: {}", got[name]);
        }
    }
    assert_eq!((finished["counts"]["skipped"].as_i64(), finished["failures"].as_i64()), (Some(28), Some(0)));
    let started = started_updates(&log);
    for name in &names {
        let expected = if interrupted.contains(name) { 3 } else { 1 };
        assert_eq!(started[name], expected, "{name}: {started:?}");
    }
    let metrics = farm.http.get(farm.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("farm_maintenance_runs{state=\"done\"} 2"), "{metrics}");
    assert!(metrics.contains("farm_maintenance_wiki_failures_total 2"), "{metrics}");
    drop(server);
}

#[tokio::test]
async fn update_php_over_30_sqlite_wikis_finishes_after_a_kill_9_with_every_wiki_run_once() {
    update_survives_a_kill("sqlite").await;
}

#[tokio::test]
async fn update_php_over_30_mariadb_wikis_finishes_after_a_kill_9_with_every_wiki_run_once() {
    update_survives_a_kill("mariadb").await;
}

/// Bad runs are refused with a 4xx in the one error shape and leave nothing behind: no run,
/// no audit entry. Shell metacharacters in arguments are plain text to the script.
#[tokio::test]
async fn bad_input_runs_nothing_and_arguments_never_reach_a_shell() {
    let farm = Farmd::start_with(&[]).await;
    let admin = farm.token("root", "admin");
    let member = farm.token("mel", "member");
    create_wikis(&farm, &admin, "bad", 2).await;
    let all = json!({"all": true});
    let cases = [
        (json!({"script": "noSuchScript.php", "selection": all}), 422, "script_unknown"),
        (json!({"script": "extensions/NoSuchExtension/maintenance/x.php", "selection": all}), 422, "script_unknown"),
        (json!({"script": "../LocalSettings.php", "selection": all}), 422, "script_outside_codebase"),
        (json!({"script": "/etc/passwd.php", "selection": all}), 422, "script_outside_codebase"),
        (json!({"script": "includes/WebStart.php", "selection": all}), 422, "script_outside_codebase"),
        (json!({"script": "maintenance/../index.php", "selection": all}), 422, "script_outside_codebase"),
        (json!({"script": "update.sh", "selection": all}), 422, "script_invalid"),
        (json!({"script": "update.php; rm -rf /", "selection": all}), 422, "script_invalid"),
        (json!({"script": "update.php", "selection": {}}), 422, "selection_missing"),
        (json!({"script": "update.php", "selection": {"backend": "mariadb"}}), 422, "selection_empty"),
        (json!({"script": "update.php", "selection": {"extension": "Math"}}), 422, "selection_empty"),
        (json!({"script": "update.php", "selection": {"state": "locked"}}), 422, "selection_empty"),
        (json!({"script": "update.php", "selection": {"wikis": ["bad-0", "ghost"]}}), 422, "selection_unknown"),
        (json!({"script": "update.php", "selection": {"wikis": ["Not A Name"]}}), 422, "selection_invalid"),
        (json!({"script": "update.php", "selection": {"all": true, "backend": "sqlite"}}), 422, "selection_invalid"),
        (json!({"script": "update.php", "selection": {"state": "trashed"}}), 422, "selection_invalid"),
        (json!({"script": "update.php", "selection": {"extension": "NoSuchExtension"}}), 422, "selection_invalid"),
        (json!({"script": "update.php", "selection": {"server": "nowhere"}}), 422, "selection_invalid"),
        (json!({"script": "update.php", "args": ["a\u{0}b"], "selection": all}), 422, "argument_invalid"),
        (json!({"script": "update.php", "args": ["x".repeat(5000)], "selection": all}), 422, "argument_invalid"),
        (json!({"script": "update.php", "args": ["--wiki=other"], "selection": all}), 422, "argument_reserved"),
        (json!({"script": "update.php", "args": ["--conf", "/tmp/x.php"], "selection": all}), 422, "argument_reserved"),
        (json!({"script": "update.php", "selection": all, "parallel": 0}), 422, "out_of_range"),
        (json!({"script": "update.php", "selection": all, "parallel": 65}), 422, "out_of_range"),
        (json!({"script": "update.php", "selection": all, "timeout_seconds": 0}), 422, "out_of_range"),
        (json!({"script": "update.php", "selection": all, "retries": 6}), 422, "out_of_range"),
        (json!({"script": "runJobs.php", "selection": all, "force": true}), 422, "force_not_update"),
        (json!({"script": "update.php", "selection": all, "parallel": -1}), 422, "invalid_body"),
        (json!({"script": "update.php", "selection": all, "shell": true}), 422, "invalid_body"),
        (json!({"selection": all}), 422, "invalid_body"),
    ];
    for (body, status, code) in &cases {
        let (got, answer) = post(&farm, &admin, "/api/v1/maintenance-runs", body.clone()).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (*status, Some(*code)), "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
    }
    let ok = json!({"script": "update.php", "selection": all});
    assert_eq!(post(&farm, &member, "/api/v1/maintenance-runs", ok.clone()).await.0, 403, "members may not");
    assert_eq!(farm.get_json(&member, "/api/v1/maintenance-runs").await.0, 403);
    let anonymous = farm.http.post(farm.url("/api/v1/maintenance-runs")).json(&ok).send().await.expect("send");
    assert_eq!(anonymous.status(), 401);
    for path in ["/api/v1/maintenance-runs/999", "/api/v1/maintenance-runs/999/wikis"] {
        assert_eq!(farm.get_json(&admin, path).await.0, 404, "{path}");
    }
    assert_eq!(farm.get_json(&admin, "/api/v1/maintenance-runs/x").await.0, 400);
    assert_eq!(post(&farm, &admin, "/api/v1/maintenance-runs/999/cancel", json!({})).await.0, 404);
    // Nothing was made.
    let (_, list) = farm.get_json(&admin, "/api/v1/maintenance-runs").await;
    assert_eq!(list["runs"], json!([]), "{list}");
    let (_, audit) = farm.get_json(&admin, "/api/v1/audit?action=maintenance.run").await;
    assert_eq!(audit["entries"], json!([]), "{audit}");

    // Shell metacharacters are one literal argument: pageExists.php names it back.
    let marker = farm.data_dir.with_file_name("pwned");
    let literal =
        format!("x; touch {m}1 && $(touch {m}2) | `touch {m}3` > {m}4 & echo $HOME '\"", m = marker.display());
    let run = start_run(
        &farm,
        &admin,
        json!({"script": "pageExists.php", "args": [literal], "selection": {"wikis": ["bad-0"]}}),
    )
    .await;
    let id = run["id"].as_i64().expect("id");
    assert_eq!(run["args"], json!([literal]), "{run}");
    wait_run(&farm, &admin, id).await;
    let report = &reports(&farm, &admin, id).await["bad-0"];
    let output = report["output"].as_str().expect("output");
    assert!(output.contains(&format!("{literal} doesn't exist")), "the argument arrived as written: {output}");
    for i in 1..=4 {
        assert!(!Path::new(&format!("{}{i}", marker.display())).exists(), "nothing was run by a shell");
    }
    assert_eq!(report["exit_code"], 1, "pageExists.php says the page does not exist: {report}");
    let (_, audit) = farm.get_json(&admin, "/api/v1/audit?action=maintenance.run").await;
    let details = audit["entries"][0]["details"].as_str().expect("details");
    assert!(details.contains("maintenance/pageExists.php with 1 argument(s) over 1 wiki(s)"), "{details}");
    assert!(!details.contains("touch"), "argument values stay out of the audit log: {details}");
    // A finished run is not cancelled.
    let (status, answer) = post(&farm, &admin, &format!("/api/v1/maintenance-runs/{id}/cancel"), json!({})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("conflict")), "{answer}");

    // The command line: a script with arguments after `--`, a report line per wiki, exit 0.
    let output = farm.cli(
        &[
            "maintenance",
            "run",
            "getText.php",
            "--wiki",
            "bad-1",
            "--url",
            &farm.url(""),
            "--token",
            &admin,
            "--",
            "Main Page",
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.lines().any(|l| l.starts_with("done") && l.contains("bad-1") && l.contains("exit 0")), "{stdout}");
    assert!(stdout.contains("1 done, 0 skipped, 0 failed"), "{stdout}");
}

/// A script that hangs (runJobs.php --wait waits for jobs forever) is killed at its time-out,
/// process group and all; a wiki whose script fails does not stop the run; retries run a
/// failed wiki again; a cancel stops the scripts under way and leaves the rest undone; the
/// portal shows runs to admins.
#[tokio::test]
async fn hanging_and_failing_scripts_do_not_stop_a_run_and_a_run_can_be_cancelled() {
    let farm = Farmd::start_with(&[]).await;
    let admin = farm.token("root", "admin");
    create_wikis(&farm, &admin, "odd", 3).await;
    let hang = |wikis: &[&str], parallel: u32, timeout: u64| {
        json!({
            "script": "runJobs.php", "args": ["--wait"], "selection": {"wikis": wikis},
            "parallel": parallel, "timeout_seconds": timeout,
        })
    };
    // This test's hanging scripts (the job queue runner never waits).
    let waiting = || {
        common::processes_mentioning("runJobs.php --wiki odd-")
            .into_iter()
            .filter(|(_, c)| c.contains("--wait"))
            .count()
    };

    // Time-out: both wikis' scripts killed, the run goes on to the next and ends.
    let run = start_run(&farm, &admin, hang(&["odd-0", "odd-1"], 1, 2)).await;
    let id = run["id"].as_i64().expect("id");
    let done = wait_run(&farm, &admin, id).await;
    assert_eq!((done["state"].as_str(), done["counts"]["timed_out"].as_i64()), (Some("done"), Some(2)), "{done}");
    for (name, report) in reports(&farm, &admin, id).await {
        assert_eq!(report["state"], "timed_out", "{name}: {report}");
        assert!(report["reason"].as_str().is_some_and(|r| r.contains("process group was killed")), "{report}");
        assert!(report["duration_ms"].as_i64().is_some_and(|ms| ms >= 2000), "it ran until the time-out: {report}");
    }
    wait_until("the hanging scripts gone", Duration::from_secs(10), || async {
        match waiting() {
            0 => Ok(()),
            n => Err(format!("{n} left")),
        }
    })
    .await;

    // A page on one wiki only: getText.php fails on the others, and the run covers all three.
    let edit = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo 'The page of odd-1' | MW_CONFIG_FILE='{}' php '{}/maintenance/edit.php' --wiki odd-1 'Only here'",
            farm.data_dir.join("mediawiki/FarmSettings.php").display(),
            common::MEDIAWIKI_DIR
        ))
        .output()
        .expect("edit.php");
    assert!(edit.status.success(), "{}", String::from_utf8_lossy(&edit.stdout));
    let run = start_run(
        &farm,
        &admin,
        json!({"script": "getText.php", "args": ["Only here"], "selection": {"all": true}, "retries": 1}),
    )
    .await;
    let id = run["id"].as_i64().expect("id");
    let done = wait_run(&farm, &admin, id).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!((done["counts"]["done"].as_i64(), done["counts"]["failed"].as_i64()), (Some(1), Some(2)), "{done}");
    let got = reports(&farm, &admin, id).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got["odd-1"]["state"], "done");
    assert_eq!(got["odd-1"]["attempts"], 1);
    assert!(got["odd-1"]["output"].as_str().is_some_and(|o| o.contains("The page of odd-1")), "{got:?}");
    for name in ["odd-0", "odd-2"] {
        let report = &got[name];
        assert_eq!((report["state"].as_str(), report["attempts"].as_i64()), (Some("failed"), Some(2)), "{report}");
        assert!(report["exit_code"].as_i64().is_some_and(|c| c != 0), "{report}");
    }

    // Cancel: the wiki under way is killed, the others are never started.
    let run = start_run(&farm, &admin, hang(&["odd-0", "odd-1", "odd-2"], 1, 3600)).await;
    let id = run["id"].as_i64().expect("id");
    let first = wait_until("the first script under way", Duration::from_secs(60), || async {
        let (_, run) = farm.get_json(&admin, &format!("/api/v1/maintenance-runs/{id}")).await;
        match run["running"].as_array().map(Vec::as_slice) {
            Some([first]) if waiting() == 1 => Ok(first.as_str().expect("name").to_owned()),
            _ => Err(run.to_string()),
        }
    })
    .await;
    let output = farm.cli(&["maintenance", "cancel", &id.to_string(), "--url", &farm.url(""), "--token", &admin], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let cancelled = wait_until("the cancelled script to end", Duration::from_secs(30), || async {
        let reports = reports(&farm, &admin, id).await;
        if reports.values().all(|r| r["state"] == "cancelled") {
            Ok(reports)
        } else {
            Err(format!("{reports:?}"))
        }
    })
    .await;
    for (name, report) in &cancelled {
        if *name == first {
            assert_eq!(report["attempts"], 1, "the first was started, then killed: {report}");
            assert!(report["reason"].as_str().is_some_and(|r| r.contains("killed")), "{report}");
        } else {
            assert_eq!(report["attempts"], 0, "{name} never started: {report}");
        }
    }
    let (_, run) = farm.get_json(&admin, &format!("/api/v1/maintenance-runs/{id}")).await;
    assert_eq!(run["state"], "cancelled");
    wait_until("no script left", Duration::from_secs(10), || async {
        match waiting() {
            0 => Ok(()),
            n => Err(format!("{n} left")),
        }
    })
    .await;

    // The portal: the list and a run's page with each wiki's report, for admins only.
    farm.create_account("portaladmin", "admin", Some("portal-password-123"));
    let portal = common::portal_login(&farm, "portaladmin", "portal-password-123").await;
    let list = portal.get(farm.url("/admin/maintenance")).send().await.expect("page");
    assert_eq!(list.status(), 200);
    let list = list.text().await.expect("html");
    assert!(list.contains(&format!("id=\"run-{id}\"")) && list.contains("getText.php"), "{list}");
    let page = portal.get(farm.url(&format!("/admin/maintenance/{id}"))).send().await.expect("page");
    let page = page.text().await.expect("html");
    assert!(page.contains("id=\"wiki-odd-0\" data-state=\"cancelled\""), "{page}");
    assert!(!page.contains("id=\"cancel-form\""), "a cancelled run offers no cancel: {page}");
    farm.create_account("portalmember", "member", Some("portal-password-123"));
    let member = common::portal_login(&farm, "portalmember", "portal-password-123").await;
    assert_eq!(member.get(farm.url("/admin/maintenance")).send().await.expect("page").status(), 403);
}

/// The wiki's SQLite database, opened read-only (the test reads what MediaWiki wrote).
async fn wiki_sqlite(farm: &Farmd, name: &str, file: &str) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let dir = farm.wiki_dir(name);
    let key = dir.file_name().expect("key").to_string_lossy().into_owned();
    let path = dir.join("db").join(format!("{key}{file}"));
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
    sqlx::SqliteConnection::connect_with(&options).await.expect("open the wiki's database")
}

/// Where a wiki's tables are read from.
enum WikiTables<'a> {
    Sqlite,
    Mariadb(&'a TempMariaDb),
}

impl WikiTables<'_> {
    /// The first column of each row of `sql` (text), run on the wiki's main database or its
    /// job queue.
    async fn strings(&self, farm: &Farmd, name: &str, sql: &str, job_queue: bool) -> Vec<String> {
        match self {
            Self::Sqlite => {
                use sqlx::Row;
                let file = if job_queue { "_jobqueue.sqlite" } else { ".sqlite" };
                let mut db = wiki_sqlite(farm, name, file).await;
                let rows = sqlx::query(sql).fetch_all(&mut db).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
            Self::Mariadb(server) => {
                let key = farm.wiki_dir(name).file_name().expect("key").to_string_lossy().into_owned();
                common::mariadb::query_strings(&format!("{}/wiki_{key}", server.admin_url), sql).await
            }
        }
    }
}

/// An edit of a template queues jobs (its pages' links tables, caches); nobody views a page
/// afterwards, and farmd's background runner runs them: the page using the template lands in
/// the template's category and the queue is empty. Web requests run no jobs themselves
/// (`$wgJobRunRate` is 0).
async fn jobs_run_without_page_views(backend: &str) {
    let server = (backend == "mariadb").then(TempMariaDb::new);
    let mut config = String::new();
    if let Some(server) = &server {
        config = format!(
            "default_backend = \"mariadb\"\n\n[[database_servers]]\nname = \"db\"\nadmin_url = \"{}\"\n",
            server.admin_url
        );
    }
    let mut env = common::UNLIMITED_MEMBERS.to_vec();
    env.push(("FARM_JOBS__POLL_INTERVAL", "300ms"));
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &env, Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let tables = match &server {
        Some(server) => WikiTables::Mariadb(server),
        None => WikiTables::Sqlite,
    };
    let admin = farm.token("root", "admin");
    let (status, created) = farm.create_wiki(&admin, json!({"name": "jobs", "sitename": "Jobs"})).await;
    assert_eq!(status, 202, "{created}");
    let user = created["owner_credentials"]["username"].as_str().expect("user").to_owned();
    let password = created["owner_credentials"]["password"].as_str().expect("password").to_owned();
    farm.wait_for_state(&admin, "jobs", &["active"]).await;
    let (_, wiki) = farm.get_json(&admin, "/api/v1/wikis/jobs").await;
    assert_eq!(wiki["storage"]["backend"], backend, "{wiki}");
    let rate =
        farm.maintenance("getConfiguration.php", &["--wiki", "jobs", "--settings", "wgJobRunRate", "--format", "json"]);
    let rate = String::from_utf8_lossy(&rate.stdout).into_owned();
    assert!(rate.contains("\"wgJobRunRate\":0"), "web requests run no jobs: {rate}");

    let wiki = farm.wiki_client("jobs");
    assert_eq!(wiki.login(&user, &password).await["clientlogin"]["status"], "PASS");
    assert_eq!(wiki.edit("Template:Sign", "A sign").await["edit"]["result"], "Success");
    assert_eq!(wiki.edit("Uses the sign", "Here: {{Sign}}").await["edit"]["result"], "Success");
    // The template's new category reaches the page using it only through a refreshLinks job.
    let edit = wiki.edit("Template:Sign", "A sign [[Category:Signed pages]]").await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");
    // From here on no request reaches the wiki.

    let members_sql = "SELECT CAST(page_title AS CHAR) FROM categorylinks JOIN page ON page_id = cl_from \
                       WHERE cl_to = 'Signed_pages'";
    let members = wait_until("the job to put the page in the category", Duration::from_secs(120), || async {
        let members = tables.strings(&farm, "jobs", members_sql, false).await;
        if members.iter().any(|m| m == "Uses_the_sign") {
            Ok(members)
        } else {
            Err(format!("{members:?}\n{}", farm.log().lines().rev().take(5).collect::<Vec<_>>().join("\n")))
        }
    })
    .await;
    assert!(members.contains(&"Sign".to_owned()), "the template itself too: {members:?}");
    wait_until("the queue emptied", Duration::from_secs(120), || async {
        let left = tables.strings(&farm, "jobs", "SELECT CAST(COUNT(*) AS CHAR) FROM job", true).await;
        if left == ["0"] {
            Ok(())
        } else {
            Err(format!("{left:?} jobs left"))
        }
    })
    .await;
    // The runner's own account of it, once its turn is over.
    let metric = |metrics: &str, name: &str| {
        metrics.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).and_then(|v| v.parse::<f64>().ok())
    };
    let metrics = wait_until("the runner's turn to end", Duration::from_secs(60), || async {
        let metrics = farm.http.get(farm.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
        let ran = metric(&metrics, "farm_jobs_run_total").unwrap_or(0.0);
        if ran >= 1.0 && metric(&metrics, "farm_jobs_queued") == Some(0.0) {
            Ok(metrics)
        } else {
            Err(metrics)
        }
    })
    .await;
    assert!(metric(&metrics, "farm_job_queue_turns_total").is_some_and(|t| t >= 1.0), "{metrics}");
    assert!(metrics.contains("# HELP farm_jobs_queued"), "{metrics}");
    farm.terminate();
    drop(server);
}

#[tokio::test]
async fn jobs_queued_by_an_edit_run_without_any_page_view_sqlite() {
    jobs_run_without_page_views("sqlite").await;
}

#[tokio::test]
async fn jobs_queued_by_an_edit_run_without_any_page_view_mariadb() {
    jobs_run_without_page_views("mariadb").await;
}
