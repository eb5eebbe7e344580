//! MariaDB wikis against real servers: the one on 127.0.0.1:3306 and private `mariadbd`s the
//! tests start. Placement, least-privilege isolation, the end-to-end suite, deletion that
//! leaves nothing, crash recovery without orphans, and a server outage during creation.

use crate::common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::mariadb::{can_connect, query_strings, TempMariaDb};
use common::{ControlStore, Farmd, KillAt, LOCAL_MARIADB};
use serde_json::{json, Value};

fn servers_toml(servers: &[(&str, &str, u32, bool)], default_backend: &str) -> String {
    let mut toml = format!("default_backend = \"{default_backend}\"\n");
    for (name, url, weight, draining) in servers {
        toml.push_str(&format!(
            "\n[[database_servers]]\nname = \"{name}\"\nadmin_url = \"{url}\"\nweight = {weight}\ndraining = {draining}\n"
        ));
    }
    toml
}

async fn create_all(farm: &Farmd, token: &str, names: &[String]) {
    for name in names {
        let (status, body) = farm.create_wiki(token, json!({"name": name, "sitename": name})).await;
        assert_eq!(status, 202, "{body}");
    }
}

async fn server_of(farm: &Farmd, admin: &str, name: &str) -> String {
    let (status, wiki) = farm.get_json(admin, &format!("/api/v1/wikis/{name}")).await;
    assert_eq!(status, 200, "{wiki}");
    wiki["storage"]["server"].as_str().expect("server").to_owned()
}

/// `wiki_…` databases and accounts on a server.
async fn wiki_databases(url: &str) -> BTreeSet<String> {
    query_strings(url, "SHOW DATABASES").await.into_iter().filter(|d| d.starts_with("wiki_")).collect()
}

async fn wiki_accounts(url: &str) -> BTreeSet<String> {
    query_strings(url, "SELECT User FROM mysql.user WHERE User LIKE 'wiki\\_%' OR User LIKE 'farminst\\_%'")
        .await
        .into_iter()
        .collect()
}

/// The database password MediaWiki uses for a wiki, from its secrets file.
fn wiki_password(farm: &Farmd, key: &str) -> String {
    let secrets = std::fs::read_to_string(farm.data_dir.join("wikis").join(key).join("secrets.php")).expect("secrets");
    let line = secrets.lines().find(|l| l.starts_with("$wgDBpassword")).expect("password line");
    line.split('\'').nth(1).expect("quoted").to_owned()
}

#[tokio::test]
async fn placement_spreads_wikis_by_weight_and_respects_draining() {
    let one = TempMariaDb::new();
    let two = TempMariaDb::new();
    let config = servers_toml(&[("one", &one.admin_url, 1, false), ("two", &two.admin_url, 2, false)], "mariadb");
    let mut farm = Farmd::new_on(ControlStore::Sqlite, common::UNLIMITED_MEMBERS, Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");
    let member = farm.token("mia", "member");

    let names: Vec<String> = (0..6).map(|i| format!("spread-{i}")).collect();
    create_all(&farm, &member, &names).await;
    let mut on_one = 0;
    for name in &names {
        farm.wait_for_state(&member, name, &["active"]).await;
        if server_of(&farm, &admin, name).await == "one" {
            on_one += 1;
        }
    }
    // Weights 1 and 2: two wikis on "one", four on "two".
    assert_eq!(on_one, 2, "weighted fewest-wikis placement");
    assert_eq!(wiki_databases(&one.admin_url).await.len(), 2);
    assert_eq!(wiki_databases(&two.admin_url).await.len(), 4);

    let (status, servers) = farm.get_json(&admin, "/api/v1/servers").await;
    assert_eq!(status, 200, "{servers}");
    let listed: Vec<(String, i64, bool)> = servers["servers"]
        .as_array()
        .expect("servers")
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap_or("").to_owned(), s["wiki_count"].as_i64().unwrap_or(-1), s["healthy"] == true)
        })
        .collect();
    assert_eq!(listed, [("one".to_owned(), 2, true), ("two".to_owned(), 4, true)]);
    assert!(servers["servers"][1]["size_bytes"].as_u64().unwrap_or(0) > 0);
    assert!(!servers.to_string().contains(&two.root_password), "admin credentials never leave the daemon");
    assert_eq!(farm.get_json(&member, "/api/v1/servers").await.0, 403, "members do not see servers");

    // A draining server keeps its wikis and takes no new ones.
    farm.terminate();
    farm.set_config(&servers_toml(&[("one", &one.admin_url, 1, false), ("two", &two.admin_url, 2, true)], "mariadb"));
    farm.spawn();
    farm.wait_healthy().await;
    let more: Vec<String> = (0..3).map(|i| format!("drained-{i}")).collect();
    create_all(&farm, &member, &more).await;
    for name in &more {
        farm.wait_for_state(&member, name, &["active"]).await;
        assert_eq!(server_of(&farm, &admin, name).await, "one", "{name} went to a draining server");
    }
    let (_, servers) = farm.get_json(&admin, "/api/v1/servers").await;
    assert_eq!(servers["servers"][1]["draining"], true);
    for name in names.iter().chain(&more) {
        let (status, _) = farm.wiki_client(name).get("/index.php?title=Main_Page").await;
        assert_eq!(status, 200, "{name} is served");
    }

    // Members may not pick a backend; admins may, and bad values are refused.
    let (status, body) =
        farm.create_wiki(&member, json!({"name": "picky", "sitename": "P", "backend": "sqlite"})).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = farm.create_wiki(&admin, json!({"name": "picky", "sitename": "P", "backend": "oracle"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("backend_unknown")), "{body}");
    let (status, body) = farm.create_wiki(&admin, json!({"name": "lite", "sitename": "L", "backend": "sqlite"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["storage"]["backend"], "sqlite");
}

#[tokio::test]
async fn a_wiki_account_reaches_its_own_database_only() {
    let server = TempMariaDb::new();
    let config = servers_toml(&[("solo", &server.admin_url, 1, false)], "mariadb");
    let mut farm = Farmd::new_on(ControlStore::Sqlite, common::UNLIMITED_MEMBERS, Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");
    create_all(&farm, &admin, &["iso-a".to_owned(), "iso-b".to_owned()]).await;
    let a = farm.wait_for_state(&admin, "iso-a", &["active"]).await;
    let b = farm.wait_for_state(&admin, "iso-b", &["active"]).await;
    let key_a = a["storage"]["key"].as_str().expect("key").to_owned();
    let db_a = a["storage"]["database"].as_str().expect("db").to_owned();
    let db_b = b["storage"]["database"].as_str().expect("db").to_owned();
    assert_eq!(db_a, format!("wiki_{key_a}"));

    let password = wiki_password(&farm, &key_a);
    assert_eq!(password.len(), 32);
    let as_a = server.url_as(&db_a, &password);
    assert!(can_connect(&as_a).await, "the wiki's own account logs in");
    assert!(!can_connect(&server.url_as(&db_b, &password)).await, "another wiki's account needs another password");

    // Its own database: yes. Anything else: no.
    let users = query_strings(&as_a, &format!("SELECT user_name FROM `{db_a}`.user")).await;
    assert!(users.contains(&"Root".to_owned()), "{users:?}");
    let visible: BTreeSet<String> = query_strings(&as_a, "SHOW DATABASES").await.into_iter().collect();
    assert_eq!(visible, BTreeSet::from(["information_schema".to_owned(), db_a.clone()]));
    for forbidden in [
        format!("SELECT * FROM `{db_b}`.user"),
        "SELECT User FROM mysql.user".to_owned(),
        "CREATE DATABASE stolen".to_owned(),
        format!("CREATE DATABASE `wikiX{}`", &db_a[5..]),
        format!("GRANT SELECT ON `{db_b}`.* TO CURRENT_USER"),
    ] {
        let opts = mysql_async::Opts::from_url(&as_a).expect("url");
        let mut conn = mysql_async::Conn::new(opts).await.expect("connect");
        let result = mysql_async::prelude::Queryable::query_drop(&mut conn, &forbidden).await;
        assert!(result.is_err(), "wiki A's account could run: {forbidden}");
        let _ = conn.disconnect().await;
    }

    // The password is stored sealed, written only to the wiki's secrets file (not world
    // readable), and never shown by the API or the log.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(farm.data_dir.join("wikis").join(&key_a).join("secrets.php")).expect("meta").permissions(),
    );
    assert_eq!(mode & 0o077 & !0o040, 0, "secrets.php is 0640 or tighter");
    let store = std::fs::read(farm.data_dir.join("control.sqlite")).expect("the control store");
    assert!(!String::from_utf8_lossy(&store).contains(&password), "the control store holds the password in clear");
    // The write-ahead log exists only until SQLite checkpoints it.
    if let Ok(wal) = std::fs::read(farm.data_dir.join("control.sqlite-wal")) {
        assert!(!String::from_utf8_lossy(&wal).contains(&password), "the control store's WAL holds the password");
    }
    assert!(!a.to_string().contains(&password));
    assert!(!farm.log().contains(&password));
    let shard =
        std::fs::read_to_string(farm.data_dir.join("wikis").join(&key_a).join("LocalSettings.php")).expect("shard");
    assert!(shard.contains(&format!("$wgDBuser = '{db_a}';")) && !shard.contains(&password), "{shard}");
}

#[tokio::test]
async fn a_mariadb_wiki_serves_logs_in_edits_and_is_dropped_on_delete() {
    // The wikis live on the machine's own MariaDB server; the registry too.
    let config = servers_toml(&[("local", LOCAL_MARIADB, 1, false)], "mariadb");
    let mut farm = Farmd::new_on(ControlStore::Mariadb, common::UNLIMITED_MEMBERS, Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let token = farm.token("nora", "member");
    let admin = farm.token("root", "admin");
    let (status, created) = farm.create_wiki(&token, json!({"name": "maria-wiki", "sitename": "Maria's Wiki"})).await;
    assert_eq!(status, 202, "{created}");
    let password = created["owner_credentials"]["password"].as_str().expect("password").to_owned();
    farm.wait_for_state(&token, "maria-wiki", &["active"]).await;
    let (_, wiki) = farm.get_json(&admin, "/api/v1/wikis/maria-wiki").await;
    assert_eq!(wiki["storage"]["backend"], "mariadb");
    let db = wiki["storage"]["database"].as_str().expect("db").to_owned();

    let client = farm.wiki_client("maria-wiki");
    let (status, page) = client.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Maria's Wiki</title>"), "{page}");
    let login = client.login("Nora", &password).await;
    assert_eq!(login["clientlogin"]["status"], "PASS", "{login}");
    let edit = client.edit("On MariaDB", "Stored in '''MariaDB'''.").await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");
    let (status, raw) = client.get("/index.php?title=On_MariaDB&action=raw").await;
    assert_eq!((status, raw.trim()), (200, "Stored in '''MariaDB'''."));
    let stored =
        query_strings(LOCAL_MARIADB, &format!("SELECT COUNT(*) FROM `{db}`.page WHERE page_title = 'On_MariaDB'"))
            .await;
    assert_eq!(stored, ["1"], "the edit is in the wiki's own database");
    let found = client.api_get(&[("action", "query"), ("list", "search"), ("srsearch", "MariaDB")]).await;
    let titles: Vec<&str> = found["query"]["search"]
        .as_array()
        .map_or(vec![], |hits| hits.iter().filter_map(|h| h["title"].as_str()).collect());
    assert_eq!(titles, ["On MariaDB"], "search works on the farm's InnoDB search index: {found}");
    let output = farm.maintenance("update.php", &["--wiki", "maria-wiki", "--quick"]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let (status, _) = farm.delete(&token, "/api/v1/wikis/maria-wiki").await;
    assert_eq!(status, 202);
    farm.wait_for_state(&token, "maria-wiki", &["deleted"]).await;
    assert!(!wiki_databases(LOCAL_MARIADB).await.contains(&db), "the database is dropped");
    assert!(!wiki_accounts(LOCAL_MARIADB).await.contains(&db), "the account is dropped");
    let (status, _) = client.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 404);
    farm.drop_templates_on_local_mariadb();
}

/// Every server holds exactly the databases and accounts of the registry's live wikis.
async fn assert_no_orphans(farm: &Farmd, admin: &str, servers: &[(&str, &TempMariaDb)]) {
    let registry = farm.registry().await;
    for (name, server) in servers {
        let mut expected = BTreeSet::new();
        for (label, key, state) in &registry {
            if matches!(state.as_str(), "active" | "provisioning" | "deleting")
                && server_of(farm, admin, label).await == *name
            {
                expected.insert(format!("wiki_{key}"));
            }
        }
        assert_eq!(wiki_databases(&server.admin_url).await, expected, "databases on {name}");
        assert_eq!(wiki_accounts(&server.admin_url).await, expected, "accounts on {name} (no installer accounts left)");
    }
}

#[tokio::test]
async fn kill_9_during_mariadb_provisioning_leaves_no_orphans() {
    let one = TempMariaDb::new();
    let two = TempMariaDb::new();
    let config = servers_toml(&[("one", &one.admin_url, 1, false), ("two", &two.admin_url, 1, false)], "mariadb");
    let mut farm = Farmd::new_on(ControlStore::Sqlite, common::UNLIMITED_MEMBERS, Some(&config));
    farm.spawn();
    // First kill: while MediaWiki's installer builds the templates.
    farm.wait_for_template_build().await;
    farm.kill9();
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");
    let mut names = Vec::new();
    let points = [KillAt::Accepted, KillAt::FirstStep, KillAt::Active(1), KillAt::Active(3)];
    for (round, point) in points.into_iter().enumerate() {
        let batch: Vec<String> = (0..4).map(|i| format!("kill-{round}-{i}")).collect();
        create_all(&farm, &admin, &batch).await;
        farm.wait_for(point, &admin, &batch).await;
        farm.kill9();
        farm.spawn();
        farm.wait_healthy().await;
        names.extend(batch);
    }
    // Delete one during the last recovery too. (Had it never gone live, its name is free
    // again at once and it reads as not found.)
    let (status, _) = farm.delete(&admin, "/api/v1/wikis/kill-0-0").await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, wiki) = farm.get_json(&admin, "/api/v1/wikis/kill-0-0").await;
        if status == 404 || wiki["state"] == "deleted" {
            break;
        }
        assert!(Instant::now() < deadline, "kill-0-0 was never deleted: {wiki}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for name in &names[1..] {
        let wiki = farm.wait_for_state(&admin, name, &["active", "failed", "deleted"]).await;
        if wiki["state"] == "active" {
            let (status, _) = farm.wiki_client(name).get("/index.php?title=Main_Page").await;
            assert_eq!(status, 200, "{name}");
        }
    }
    assert_no_orphans(&farm, &admin, &[("one", &one), ("two", &two)]).await;
    let active = farm.registry().await.iter().filter(|(_, _, s)| s == "active").count();
    assert!(active >= names.len() - 1, "wikis were finished after the crashes: {active}");
}

#[tokio::test]
async fn a_server_outage_during_creation_moves_on_and_recovers() {
    let steady = TempMariaDb::new();
    let mut flaky = TempMariaDb::new();
    // "flaky" weighs more, so new wikis go there while it is up.
    let config =
        servers_toml(&[("steady", &steady.admin_url, 1, false), ("flaky", &flaky.admin_url, 10, false)], "mariadb");
    let mut farm = Farmd::new_on(ControlStore::Sqlite, common::UNLIMITED_MEMBERS, Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");
    // Warm the templates so the outage hits wikis, not the installer.
    create_all(&farm, &admin, &["warm-flaky".to_owned()]).await;
    farm.wait_for_state(&admin, "warm-flaky", &["active"]).await;
    assert_eq!(server_of(&farm, &admin, "warm-flaky").await, "flaky");

    // The outage starts just before the creation calls, so the farm still believes "flaky"
    // is up when it places them there; the pipeline finds out and moves them.
    let names: Vec<String> = (0..4).map(|i| format!("outage-{i}")).collect();
    flaky.stop();
    create_all(&farm, &admin, &names).await;
    for name in &names {
        let wiki = farm.wait_for_state(&admin, name, &["active", "failed"]).await;
        assert_eq!(wiki["state"], "active", "{name} should have moved on: {wiki}");
        assert_eq!(server_of(&farm, &admin, name).await, "steady", "{name}");
        let (status, _) = farm.wiki_client(name).get("/index.php?title=Main_Page").await;
        assert_eq!(status, 200, "{name}");
    }
    // The API keeps answering and says the server is down.
    let started = Instant::now();
    let (status, servers) = farm.get_json(&admin, "/api/v1/servers").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(10));
    let flaky_status = servers["servers"]
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["name"] == "flaky")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(flaky_status["healthy"], false, "{servers}");
    assert!(flaky_status["size_bytes"].is_null());

    // Back up: the server is used again without any manual step, and whatever the moved
    // wikis had begun there is dropped.
    flaky.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, servers) = farm.get_json(&admin, "/api/v1/servers").await;
        if servers["servers"].as_array().is_some_and(|l| l.iter().all(|s| s["healthy"] == true)) {
            break;
        }
        assert!(Instant::now() < deadline, "flaky never came back: {servers}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    create_all(&farm, &admin, &["after-outage".to_owned()]).await;
    farm.wait_for_state(&admin, "after-outage", &["active"]).await;
    assert_eq!(server_of(&farm, &admin, "after-outage").await, "flaky");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let leftover = wiki_databases(&flaky.admin_url).await.len() + wiki_accounts(&flaky.admin_url).await.len();
        if leftover == 4 {
            break; // warm-flaky and after-outage: a database and an account each
        }
        assert!(Instant::now() < deadline, "partial databases stayed on flaky: {leftover}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_no_orphans(&farm, &admin, &[("steady", &steady), ("flaky", &flaky)]).await;

    // With its only usable server down, the farm refuses new MariaDB wikis cleanly (503,
    // nothing recorded) and takes them again once the server is back.
    flaky.stop();
    farm.terminate();
    farm.set_config(&servers_toml(
        &[("steady", &steady.admin_url, 1, true), ("flaky", &flaky.admin_url, 10, false)],
        "mariadb",
    ));
    farm.spawn();
    farm.wait_healthy().await;
    let (status, body) = farm.create_wiki(&admin, json!({"name": "patient", "sitename": "Patient"})).await;
    assert_eq!(status, 503, "no server takes new wikis: {body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(farm.registry().await.iter().all(|(n, _, _)| n != "patient"), "a refused creation changes nothing");
    flaky.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = farm.create_wiki(&admin, json!({"name": "patient", "sitename": "Patient"})).await;
        if status == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "creation never resumed after the server came back");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    farm.wait_for_state(&admin, "patient", &["active"]).await;
    assert_eq!(server_of(&farm, &admin, "patient").await, "flaky");
}
