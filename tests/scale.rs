//! Instant wikis: the warm pool (claims, refills, crash safety) and bulk creation (API and
//! CLI, one result per row, safe to repeat).

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::mariadb::{query_strings, TempMariaDb};
use common::{ControlStore, Farmd};
use serde_json::{json, Value};

async fn pool_levels(farm: &Farmd, admin: &str) -> Vec<Value> {
    let (status, body) = farm.get_json(admin, "/api/v1/pool").await;
    assert_eq!(status, 200, "{body}");
    body["pool"].as_array().cloned().unwrap_or_default()
}

async fn wait_pool_full(farm: &Farmd, admin: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let levels = pool_levels(farm, admin).await;
        if !levels.is_empty() && levels.iter().all(|l| l["ready"] == l["wanted"] && l["filling"] == 0) {
            return levels;
        }
        assert!(Instant::now() < deadline, "the pool never filled: {levels:?}\n{}", farm.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pool entries hold the default starter's pages: when the operator makes another starter the
/// default, the next start removes the old entries (databases and folders) and fills the pool
/// with the new one's, which new wikis then take.
#[tokio::test]
async fn pool_entries_of_a_former_default_starter_are_replaced() {
    let mut farm = Farmd::start_with(&[("FARM_POOL_SQLITE", "2")]).await;
    let admin = farm.token("root", "admin");
    wait_pool_full(&farm, &admin).await;
    let old = farm.pool_keys().await;
    assert_eq!(old.len(), 2);
    farm.terminate();
    farm.set_config("[new_wikis]\nstarter = \"docs\"\n");
    farm.spawn();
    farm.wait_healthy().await;
    common::wait_until("the pool refilled with the new default", Duration::from_secs(120), || async {
        let keys = farm.pool_keys().await;
        let full = pool_levels(&farm, &admin).await.iter().all(|l| l["ready"] == 2);
        if full && keys.len() == 2 && keys.iter().all(|k| !old.contains(k)) {
            Ok(())
        } else {
            Err(format!("{keys:?}"))
        }
    })
    .await;
    for key in &old {
        assert!(!farm.data_dir.join("pool").join(key).exists(), "the old entry {key} is removed");
    }
    let pooled = farm.pool_keys().await;
    let (status, created) = farm.create_wiki(&admin, json!({"name": "new-default", "sitename": "N"})).await;
    assert_eq!(status, 202, "{created}");
    let wiki = farm.wait_for_state(&admin, "new-default", &["active"]).await;
    assert_eq!(wiki["starter"], "docs");
    assert!(pooled.contains(&wiki["storage"]["key"].as_str().expect("key").to_owned()), "it took a pooled one: {wiki}");
    assert_eq!(farm.wiki_client("new-default").get("/index.php?title=FAQ").await.0, 200);
}

#[tokio::test]
async fn wikis_take_pooled_databases_and_the_pool_refills() {
    let server = TempMariaDb::new();
    let config = format!(
        "pool_sqlite = 3\npool_mariadb = 2\n\n[[database_servers]]\nname = \"pooled\"\nadmin_url = \"{}\"\n",
        server.admin_url
    );
    let mut farm = Farmd::new_on(ControlStore::Sqlite, common::UNLIMITED_MEMBERS, Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let admin = farm.token("root", "admin");
    let member = farm.token("pia", "member");
    assert_eq!(farm.get_json(&member, "/api/v1/pool").await.0, 403);
    let levels = wait_pool_full(&farm, &admin).await;
    assert_eq!(levels.len(), 2, "{levels:?}");
    let pooled_dirs = farm.entries("pool");
    assert_eq!(pooled_dirs.len(), 3);
    for dir in &pooled_dirs {
        let files: Vec<String> = std::fs::read_dir(farm.data_dir.join("pool").join(dir))
            .expect("pool entry")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files, ["db"], "a ready SQLite entry holds its databases only (no shard)");
    }

    // Five SQLite wikis: the first three take pooled databases, the rest are built on demand
    // (or from a refilled entry); all become active and serve their owner.
    let mut keys = Vec::new();
    for i in 0..5 {
        let name = format!("pooled-{i}");
        let (status, created) =
            farm.create_wiki(&member, json!({"name": name, "sitename": format!("Pooled {i}")})).await;
        assert_eq!(status, 202, "{created}");
        let password = created["owner_credentials"]["password"].as_str().expect("password").to_owned();
        farm.wait_for_state(&member, &name, &["active"]).await;
        let (_, wiki) = farm.get_json(&admin, &format!("/api/v1/wikis/{name}")).await;
        keys.push(wiki["storage"]["key"].as_str().expect("key").to_owned());
        let client = farm.wiki_client(&name);
        let (status, page) = client.get("/index.php?title=Main_Page").await;
        assert_eq!(status, 200);
        // The first view shows the wiki's own sitename and the default starter's Main Page.
        assert!(page.contains(&format!("<title>Pooled {i}</title>")), "{page}");
        assert!(page.contains(&format!(">Welcome to Pooled {i}</h1>")), "{page}");
        let login = client.login("Pia", &password).await;
        assert_eq!(login["clientlogin"]["status"], "PASS", "{login}");
        let users = client.api_get(&[("action", "query"), ("list", "allusers")]).await;
        let names: Vec<&str> =
            users["query"]["allusers"].as_array().expect("users").iter().filter_map(|u| u["name"].as_str()).collect();
        assert!(!names.contains(&"FarmTemplateOwner"), "the template's administrator is renamed: {names:?}");
    }
    for key in &keys[..3] {
        assert!(pooled_dirs.contains(key), "the first wikis took pooled databases: {key} not in {pooled_dirs:?}");
    }
    assert!(farm.entries("pool").iter().all(|k| !keys.contains(k)), "claimed databases left the pool");

    // A MariaDB wiki takes a pooled database on its server.
    let (status, created) =
        farm.create_wiki(&admin, json!({"name": "pooled-maria", "sitename": "M", "backend": "mariadb"})).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(&admin, "pooled-maria", &["active"]).await;
    let (status, page) = farm.wiki_client("pooled-maria").get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>M</title>"), "{page}");
    assert!(page.contains(">Welcome to M</h1>") && page.contains("This wiki is new"), "{page}");

    // The pool refills, and every database on the server belongs to a wiki or the pool.
    let levels = wait_pool_full(&farm, &admin).await;
    assert!(levels.iter().any(|l| l["backend"] == "mariadb" && l["server"] == "pooled" && l["ready"] == 2));
    assert_eq!(farm.entries("pool").len(), 3, "MariaDB entries keep nothing in pool/");
    let databases = query_strings(&server.admin_url, "SHOW DATABASES LIKE 'wiki\\_%'").await;
    assert_eq!(databases.len(), 3, "one wiki and two pooled: {databases:?}");

    // The same levels for Prometheus.
    let metrics = farm.http.get(farm.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    let line = |name: &str, labels: &[&str]| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
            .map(str::to_owned)
    };
    let maria_ready = line("farm_pool_ready", &["backend=\"mariadb\"", "server=\"pooled\""]).expect("pool metric");
    assert!(maria_ready.ends_with(" 2"), "{maria_ready}");
    let sqlite_ready = line("farm_pool_ready", &["backend=\"sqlite\""]).expect("pool metric");
    assert!(sqlite_ready.ends_with(" 3"), "{sqlite_ready}");
    assert!(line("farm_wikis", &["state=\"active\""]).expect("wikis metric").ends_with(" 6"), "{metrics}");
    assert!(line("farm_database_server_up", &["server=\"pooled\""]).expect("up metric").ends_with(" 1"));
    assert!(metrics.contains("# HELP farm_pool_ready"), "metrics carry help text");

    // A kill -9 while the pool refills leaves nothing half-built behind. MariaDB entries take
    // long enough to build (a template copy is some 60 CREATE TABLEs) to be caught filling;
    // a SQLite one is a file copy.
    for i in 0..3 {
        let body = json!({"name": format!("drain-{i}"), "sitename": "D", "backend": "mariadb"});
        farm.create_wiki(&admin, body).await;
    }
    common::wait_until("a refill", Duration::from_secs(60), || async {
        let levels = pool_levels(&farm, &admin).await;
        if levels.iter().any(|l| l["filling"].as_u64() > Some(0)) {
            Ok(())
        } else {
            Err(format!("{levels:?}"))
        }
    })
    .await;
    farm.kill9();
    farm.spawn();
    farm.wait_healthy().await;
    wait_pool_full(&farm, &admin).await;
    for i in 0..3 {
        farm.wait_for_state(&admin, &format!("drain-{i}"), &["active"]).await;
    }
    let registry_keys: Vec<String> = farm.registry().await.into_iter().map(|(_, key, _)| key).collect();
    assert_eq!(farm.entries("pool").len(), 3);
    for dir in farm.entries("pool") {
        assert!(!registry_keys.contains(&dir), "a claimed database stayed in the pool: {dir}");
        assert!(
            farm.data_dir.join("pool").join(&dir).join("db").join(format!("{dir}.sqlite")).is_file(),
            "{dir} is complete"
        );
        assert!(!farm.data_dir.join("pool").join(&dir).join("secrets.php").exists(), "{dir} holds no shard or secrets");
    }
    // Four MariaDB wikis and two pooled databases, nothing half-built.
    let databases = query_strings(&server.admin_url, "SHOW DATABASES LIKE 'wiki\\_%'").await;
    assert_eq!(databases.len(), 6, "{databases:?}");
}

#[tokio::test]
async fn bulk_creation_gives_one_result_per_row_and_is_safe_to_repeat() {
    let farm = Farmd::start_on(ControlStore::Sqlite, &[]).await;
    let teacher = farm.token("teacher", "member");
    let other = farm.token("other", "member");
    assert_eq!(farm.create_wiki(&other, json!({"name": "taken-by-other", "sitename": "T"})).await.0, 202);

    let mut rows: Vec<Value> =
        (0..40).map(|i| json!({"name": format!("class-{i}"), "sitename": format!("Class {i}")})).collect();
    rows.push(json!({"name": "Bad Name", "sitename": "x"}));
    rows.push(json!({"name": "taken-by-other", "sitename": "x"}));
    rows.push(json!({"name": "www", "sitename": "x"}));
    let url = farm.url("/api/v1/wiki-batches");
    let response = farm.http.post(&url).bearer_auth(&teacher).json(&json!({"wikis": rows})).send().await.expect("send");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (body["created"].as_u64(), body["existing"].as_u64(), body["refused"].as_u64()),
        (Some(40), Some(0), Some(3)),
        "{body}"
    );
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 43);
    for (i, result) in results.iter().take(40).enumerate() {
        assert_eq!(result["name"], format!("class-{i}"), "results keep the input order");
        assert_eq!(result["status"], "created");
        assert!(result["owner_credentials"]["password"].as_str().is_some_and(|p| p.len() >= 16));
    }
    assert_eq!(results[40]["error"]["code"], "name_invalid_characters");
    assert_eq!(results[41]["error"]["code"], "name_taken");
    assert_eq!(results[42]["error"]["code"], "name_reserved");

    // The same batch again creates nothing: the teacher's wikis exist, the rest are refused.
    let again: Value = farm
        .http
        .post(&url)
        .bearer_auth(&teacher)
        .json(&json!({"wikis": rows}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (again["created"].as_u64(), again["existing"].as_u64(), again["refused"].as_u64()),
        (Some(0), Some(40), Some(3)),
        "{again}"
    );
    assert!(again["results"][0].get("owner_credentials").is_none(), "passwords are shown once");
    assert_eq!(farm.registry().await.len(), 41, "40 wikis and the other owner's one");

    // Bad batches: empty, too large, malformed.
    for (batch, status) in [
        (json!({"wikis": []}), 422),
        (
            json!({"wikis": (0..1001).map(|i| json!({"name": format!("x{i}"), "sitename": "x"})).collect::<Vec<_>>()}),
            422,
        ),
        (json!({"rows": []}), 422),
    ] {
        let response = farm.http.post(&url).bearer_auth(&teacher).json(&batch).send().await.expect("send");
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.expect("json");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    assert_eq!(farm.registry().await.len(), 41);
    for i in 0..40 {
        farm.wait_for_state(&teacher, &format!("class-{i}"), &["active"]).await;
    }
}

async fn comma_starter(farm: &Farmd, token: &str) -> String {
    let (_, wiki) = farm.get_json(token, "/api/v1/wikis/pupil-0").await;
    wiki["starter"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_cli_creates_from_a_file_with_one_line_per_row() {
    let farm = Farmd::start_on(ControlStore::Sqlite, &[]).await;
    let token = farm.token("teacher", "member");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("class.csv");
    let mut csv = String::from("name,sitename,language,starter\n");
    for i in 0..12 {
        csv.push_str(&format!("pupil-{i},\"Pupil {i}, class of 2027\",en,\n"));
    }
    csv.push_str("pupil-de,Schüler,de,course\nNOPE,x,en,\n");
    std::fs::write(&file, csv).expect("write");
    let credentials = dir.path().join("passwords.csv");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_farmd"))
            .args(["wiki", "create", "--from"])
            .arg(&file)
            .args(["--url", &farm.url("")])
            .arg("--credentials")
            .arg(&credentials)
            .env("FARM_TOKEN", &token)
            .env("FARM_DATA_DIR", &farm.data_dir)
            .output()
            .expect("farmd wiki create")
    };
    let first = run();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(2), "a refused row makes the exit code 2\n{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("created")).count(), 13, "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("refused") && l.contains("NOPE") && l.contains("name_invalid_characters")),
        "{stdout}"
    );
    let saved = std::fs::read_to_string(&credentials).expect("credentials");
    assert_eq!(saved.lines().count(), 13);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&credentials).expect("meta").permissions());
    assert_eq!(mode & 0o777, 0o600);
    // The CLI waited: every wiki is active now.
    let (_, list) = farm.get_json(&token, "/api/v1/wikis?state=active&limit=100").await;
    assert_eq!(list["wikis"].as_array().expect("list").len(), 13);
    let (_, de) = farm.get_json(&token, "/api/v1/wikis/pupil-de").await;
    assert_eq!((de["sitename"].as_str(), de["language"].as_str()), (Some("Schüler"), Some("de")));
    assert_eq!(de["starter"], "course", "a row names its starter");
    assert_eq!(comma_starter(&farm, &token).await, "blank", "an empty cell is the default");
    let (_, comma) = farm.get_json(&token, "/api/v1/wikis/pupil-3").await;
    assert_eq!(comma["sitename"], "Pupil 3, class of 2027");

    let second = run();
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("exists")).count(), 13, "{stdout}");
    assert_eq!(std::fs::read_to_string(&credentials).expect("credentials").lines().count(), 13, "no new passwords");
    assert_eq!(farm.registry().await.len(), 13);
}
