//! End to end against the real MediaWiki: wikis created through the API are served by the
//! shared codebase, editable by their owner, isolated from each other, maintainable with
//! MediaWiki's own scripts, and survive a `kill -9` of the daemon at any moment.

use crate::common;

#[tokio::test]
async fn a_php_server_that_dies_is_restarted() {
    let farm = Farmd::start_on(ControlStore::Sqlite, &[]).await;
    let token = farm.token("fay", "member");
    farm.create_wiki(&token, json!({"name": "sturdy", "sitename": "Sturdy"})).await;
    farm.wait_for_state(&token, "sturdy", &["active"]).await;
    let servers = farm.php_server_pids();
    assert_eq!(servers.len(), 2, "the harness runs two PHP servers");
    for pid in &servers {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL).expect("kill php");
    }
    // Both come back (new processes) and the wiki is served again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let health: serde_json::Value =
            farm.http.get(farm.url("/healthz")).send().await.expect("health").json().await.expect("json");
        let (status, _) = farm.wiki_client("sturdy").get("/index.php?title=Main_Page").await;
        if health["checks"]["php_servers"]["ready"] == 2 && status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "PHP servers were not restarted: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = farm.php_server_pids();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|pid| !servers.contains(pid)), "new processes replaced the killed ones");
}

crate::on_both_stores!(
    a_created_wiki_is_served_editable_and_isolated,
    deleting_a_wiki_removes_it_and_keeps_its_name_taken,
    kill_9_during_provisioning_then_restart_finishes_or_cleans_up,
    sigterm_stops_cleanly_and_a_restart_serves_the_same_wikis,
);

use std::time::Duration;

use common::{ControlStore, Farmd};
use serde_json::json;

async fn a_created_wiki_is_served_editable_and_isolated(store: ControlStore) {
    let farm = Farmd::start_on(store, &[]).await;
    let token = farm.token("alice", "member");

    let (status, created) = farm.create_wiki(&token, json!({"name": "alpha", "sitename": "Alpha's Wiki"})).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["state"], "provisioning");
    assert_eq!(created["url"], format!("http://alpha.localhost:{}/", farm.port));
    assert_eq!(created["owner"], "alice");
    assert!(created.get("storage").is_none(), "members do not see storage details");
    let username = created["owner_credentials"]["username"].as_str().expect("username").to_owned();
    let password = created["owner_credentials"]["password"].as_str().expect("password").to_owned();
    assert_eq!(username, "Alice");
    assert!(password.len() >= 16);

    let (status, _) =
        farm.create_wiki(&token, json!({"name": "beta-wiki", "sitename": "Beta", "language": "de"})).await;
    assert_eq!(status, 202);

    let alpha = farm.wait_for_state(&token, "alpha", &["active"]).await;
    assert!(alpha["progress"].as_array().expect("progress").iter().all(|s| s["done"] == true), "{alpha}");
    assert!(alpha.get("owner_credentials").is_none(), "the password is shown once");
    farm.wait_for_state(&token, "beta-wiki", &["active"]).await;

    // MediaWiki serves the Main Page with the wiki's own name.
    let wiki = farm.wiki_client("alpha");
    let (status, page) = wiki.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    // MediaWiki titles the main page with the site name alone.
    assert!(page.contains("<title>Alpha's Wiki</title>"), "{page}");
    let siteinfo = wiki.api_get(&[("action", "query"), ("meta", "siteinfo")]).await;
    assert_eq!(siteinfo["query"]["general"]["sitename"], "Alpha's Wiki");
    assert_eq!(siteinfo["query"]["general"]["server"], format!("http://alpha.localhost:{}", farm.port));

    // The owner logs in with the one-time password and is the wiki's administrator.
    let login = wiki.login(&username, &password).await;
    assert_eq!(login["clientlogin"]["status"], "PASS", "{login}");
    let me = wiki.api_get(&[("action", "query"), ("meta", "userinfo"), ("uiprop", "groups")]).await;
    assert_eq!(me["query"]["userinfo"]["name"], "Alice");
    let groups: Vec<&str> =
        me["query"]["userinfo"]["groups"].as_array().expect("groups").iter().filter_map(|g| g.as_str()).collect();
    for group in ["sysop", "bureaucrat", "interface-admin"] {
        assert!(groups.contains(&group), "owner lacks {group}: {groups:?}");
    }

    // Edit a page and read it back.
    let edit = wiki.edit("Farm test", "Hello from '''farmd'''.").await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");
    let (status, raw) = wiki.get("/index.php?title=Farm_test&action=raw").await;
    assert_eq!(status, 200);
    assert_eq!(raw.trim(), "Hello from '''farmd'''.");
    let (status, rendered) = wiki.get("/index.php?title=Farm_test").await;
    assert_eq!(status, 200);
    assert!(rendered.contains("Hello from <b>farmd</b>."), "{rendered}");

    // The other wiki is another world: its own name, language, no such page, no such session.
    let beta = farm.wiki_client("beta-wiki");
    let (status, _) = beta.get("/index.php?title=Farm_test&action=raw").await;
    assert_eq!(status, 404);
    let beta_info = beta.api_get(&[("action", "query"), ("meta", "siteinfo")]).await;
    assert_eq!(beta_info["query"]["general"]["sitename"], "Beta");
    assert_eq!(beta_info["query"]["general"]["lang"], "de");
    let (status, main) = beta.get("/index.php?title=Hauptseite").await;
    assert_eq!(status, 200, "a German wiki has its main page under the German title");
    assert!(main.contains("<title>Beta</title>") && main.contains("\"wgPageName\":\"Hauptseite\""), "{main}");
    let wrong = beta.login(&username, &password).await;
    assert_ne!(wrong["clientlogin"]["status"], "PASS", "alpha's owner has no account on beta");

    // Per-wiki secrets differ and are not world-readable.
    let secrets: Vec<String> = farm
        .entries("wikis")
        .iter()
        .map(|key| {
            let path = farm.data_dir.join("wikis").join(key).join("secrets.php");
            let mode =
                std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).expect("secrets").permissions());
            assert_eq!(mode & 0o007, 0, "secrets.php must not be world-readable");
            std::fs::read_to_string(path).expect("read")
        })
        .collect();
    assert_eq!(secrets.len(), 2);
    assert_ne!(secrets[0], secrets[1]);

    // MediaWiki's own maintenance scripts work on farm wikis, hyphenated names included.
    for name in ["alpha", "beta-wiki"] {
        let output = farm.maintenance("update.php", &["--wiki", name, "--quick"]);
        assert!(
            output.status.success(),
            "update.php --wiki {name}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = farm.maintenance("update.php", &["--wiki", "nosuchwiki", "--quick"]);
    assert!(!output.status.success(), "an unknown wiki must fail");

    // Unknown hosts get a plain 404 page, never MediaWiki's installer or a PHP warning.
    for host in ["nosuchwiki", "gamma"] {
        let (status, body) = farm.wiki_client(host).get("/index.php?title=Main_Page").await;
        assert_eq!(status, 404, "{host}");
        assert!(!body.contains("LocalSettings") && !body.contains("Warning") && !body.contains("mw-config"), "{body}");
    }
    let (status, _) = wiki.get("/mw-config/index.php").await;
    assert_eq!(status, 404, "the web installer is never reachable");
}

async fn deleting_a_wiki_removes_it_and_keeps_its_name_taken(store: ControlStore) {
    let farm = Farmd::start_on(store, &[]).await;
    let owner = farm.token("carol", "member");
    let admin = farm.token("root", "admin");
    let other = farm.token("mallory", "member");
    farm.create_wiki(&owner, json!({"name": "doomed", "sitename": "Doomed"})).await;
    let active = farm.wait_for_state(&owner, "doomed", &["active"]).await;
    let (status, admin_view) = farm.get_json(&admin, "/api/v1/wikis/doomed").await;
    assert_eq!(status, 200);
    assert_eq!(admin_view["storage"]["backend"], "sqlite", "admins see where the wiki lives");
    let key = admin_view["storage"]["key"].as_str().expect("key").to_owned();
    assert!(farm.data_dir.join("wikis").join(&key).join("db").join(format!("{key}.sqlite")).is_file());
    assert_eq!(active["owner"], "carol");

    // Someone else cannot see or delete it.
    assert_eq!(farm.delete(&other, "/api/v1/wikis/doomed").await.0, 404);
    let (status, _) = farm.wiki_client("doomed").get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);

    let (status, body) = farm.delete(&owner, "/api/v1/wikis/doomed").await;
    assert_eq!(status, 202, "{body}");
    farm.wait_for_state(&owner, "doomed", &["deleted"]).await;
    let (status, _) = farm.wiki_client("doomed").get("/index.php?title=Main_Page").await;
    assert_eq!(status, 404, "a deleted wiki is no longer served");
    assert!(!farm.data_dir.join("wikis").join(&key).exists(), "its files are gone");
    assert!(farm.entries("hosts").is_empty());

    // The name stays taken through the retention window.
    let (status, body) = farm.create_wiki(&owner, json!({"name": "doomed", "sitename": "Again"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "name_taken");
    let (status, _) = farm.delete(&owner, "/api/v1/wikis/doomed").await;
    assert_eq!(status, 409, "already deleted");
}

/// Processes whose command line mentions `needle` (to find PHP servers left behind).
async fn kill_9_during_provisioning_then_restart_finishes_or_cleans_up(store: ControlStore) {
    let mut farm = Farmd::new_on(store, &[("FARM_PROVISION_WORKERS", "2")], None);
    farm.build_own_template();
    farm.spawn();
    // The first round kills during start-up, while MediaWiki's installer builds the template.
    farm.wait_for_template_build().await;
    farm.kill9();
    farm.wait_no_php_server_left().await;
    farm.spawn();
    farm.wait_healthy().await;
    let token = farm.token("dave", "member");

    // Then kills at four points of provisioning a batch of five wikis on two workers: right
    // after the requests, once a first step is done, once one is active, once three are.
    let mut names = Vec::new();
    for (round, kill_at) in
        [common::KillAt::Accepted, common::KillAt::FirstStep, common::KillAt::Active(1), common::KillAt::Active(3)]
            .into_iter()
            .enumerate()
    {
        let batch: Vec<String> = (0..5).map(|i| format!("crash-{round}-{i}")).collect();
        for name in &batch {
            let (status, body) = farm.create_wiki(&token, json!({"name": name, "sitename": name})).await;
            assert_eq!(status, 202, "{body}");
        }
        farm.wait_for(kill_at, &token, &batch).await;
        farm.kill9();
        farm.wait_no_php_server_left().await;
        farm.spawn();
        farm.wait_healthy().await;
        names.extend(batch);
    }

    for name in &names {
        let wiki = farm.wait_for_state(&token, name, &["active", "failed"]).await;
        match wiki["state"].as_str() {
            Some("active") => {
                let (status, page) = farm.wiki_client(name).get("/index.php?title=Main_Page").await;
                assert_eq!(status, 200, "{name} is active but not served");
                assert!(page.contains(&format!("<title>{name}</title>")), "{name}");
            }
            _ => {
                let (status, _) = farm.wiki_client(name).get("/").await;
                assert_eq!(status, 404, "a failed wiki is not served");
            }
        }
    }

    // Nothing orphaned: every wiki directory and host link belongs to a wiki the registry
    // holds as active, and no scratch files are left.
    let registry = farm.registry().await;
    let active_keys: Vec<&str> =
        registry.iter().filter(|(_, _, s)| s == "active").map(|(_, k, _)| k.as_str()).collect();
    let mut dirs = farm.entries("wikis");
    dirs.sort();
    let mut expected: Vec<String> = active_keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(dirs, expected, "wiki directories must match the active wikis");
    for key in &dirs {
        let files = farm.entries(&format!("wikis/{key}"));
        assert!(
            files.iter().all(|f| !f.contains(".tmp") && !f.contains("building")),
            "scratch files in {key}: {files:?}"
        );
    }
    let hosts = farm.entries("hosts");
    let active_names: Vec<String> =
        registry.iter().filter(|(_, _, s)| s == "active").map(|(n, _, _)| n.clone()).collect();
    let mut sorted_names = active_names.clone();
    sorted_names.sort();
    assert_eq!(hosts, sorted_names, "host links must match the active wikis");
    let templates = farm.entries(&format!("templates/{}", common::template_version()));
    assert!(templates.iter().any(|t| t.starts_with("sqlite-en-blank-")), "the template was built: {templates:?}");
    assert!(templates.iter().all(|t| !t.starts_with('.')), "half-built templates left: {templates:?}");
    assert!(!active_names.is_empty(), "at least some wikis were finished after the crashes");
}

async fn sigterm_stops_cleanly_and_a_restart_serves_the_same_wikis(store: ControlStore) {
    let mut farm = Farmd::start_on(store, &[]).await;
    let token = farm.token("erin", "member");
    farm.create_wiki(&token, json!({"name": "stays", "sitename": "Stays"})).await;
    farm.wait_for_state(&token, "stays", &["active"]).await;
    let status = farm.terminate();
    assert!(status.success(), "farmd exits 0 on SIGTERM, got {status}");
    farm.wait_no_php_server_left().await;
    farm.spawn();
    farm.wait_healthy().await;
    let (status, page) = farm.wiki_client("stays").get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Stays</title>"), "{page}");
    // The token from before the restart still works: the signing key persisted.
    assert_eq!(farm.get_json(&token, "/api/v1/wikis/stays").await.0, 200);
}
