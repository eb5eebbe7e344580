//! Starters: every new wiki begins with real pages (a Main Page, help and policy pages, an
//! infobox built with ParserFunctions, a Lua module, a sidebar) in its language, made by the
//! farm's user at the wiki's creation; operators add their own from a Special:Export file.

use crate::common;

use std::collections::BTreeSet;

use common::{ControlStore, Farmd, WikiClient};
use serde_json::{json, Value};

const MARIADB_WIKIS: &[(&str, &str)] = &[("FARM_MARIADB_URL", common::LOCAL_MARIADB)];

/// A wiki created with `starter` (`None`: the default) and `language`, once active.
async fn starter_wiki(
    farm: &Farmd,
    token: &str,
    name: &str,
    starter: Option<&str>,
    language: &str,
    backend: Option<&str>,
) -> Value {
    let mut body = json!({"name": name, "sitename": format!("Wiki {name}"), "language": language});
    if let Some(starter) = starter {
        body["starter"] = json!(starter);
    }
    if let Some(backend) = backend {
        body["backend"] = json!(backend);
    }
    let (status, created) = farm.create_wiki(token, body).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(token, name, &["active"]).await
}

fn unix_of(rfc3339: &str) -> i64 {
    farm_core::platform::time::parse_rfc3339(rfc3339).expect("timestamp")
}

/// Checks what MediaWiki serves for a wiki made from a starter whose pages are `pages`.
async fn assert_starter_content(farm: &Farmd, wiki: &WikiClient, wiki_view: &Value, pages: &[String], heading: &str) {
    let created_at = unix_of(wiki_view["created_at"].as_str().expect("created_at"));
    // The pages are dated while the wiki is made (when its owner is put in place): between the
    // creation and the moment it was ready, however long a busy machine took.
    let ready_at = wiki_view["activated_at"].as_str().map_or(created_at + 30, unix_of);
    // Every page of the starter exists, and nothing else.
    let titles = pages.join("|");
    let answer = wiki
        .api_get(&[("action", "query"), ("titles", &titles), ("prop", "revisions"), ("rvprop", "user|timestamp")])
        .await;
    let found = answer["query"]["pages"].as_array().expect("pages");
    assert_eq!(found.len(), pages.len(), "{answer}");
    for page in found {
        assert!(page.get("missing").is_none(), "a starter page is missing: {page}");
        let revision = &page["revisions"][0];
        assert_eq!(revision["user"], "Wiki farm", "starter pages are the farm's edits: {page}");
        let at = unix_of(revision["timestamp"].as_str().expect("timestamp"));
        assert!(
            (created_at - 2..=ready_at + 2).contains(&at),
            "dated to the creation ({created_at}..{ready_at}): {page}"
        );
    }
    // Recent changes show them, as the farm's edits, and nothing from the installer.
    let changes = wiki
        .api_get(&[("action", "query"), ("list", "recentchanges"), ("rcprop", "title|user"), ("rclimit", "100")])
        .await;
    let changes = changes["query"]["recentchanges"].as_array().expect("changes").clone();
    assert_eq!(changes.len(), pages.len(), "{changes:?}");
    assert!(changes.iter().all(|c| c["user"] == "Wiki farm"), "{changes:?}");
    // The site statistics are what MediaWiki counts itself.
    let stats = wiki.api_get(&[("action", "query"), ("meta", "siteinfo"), ("siprop", "statistics")]).await;
    let stats = &stats["query"]["statistics"];
    assert_eq!(stats["pages"].as_u64(), Some(pages.len() as u64), "{stats}");
    assert_eq!(stats["edits"].as_u64(), Some(pages.len() as u64), "{stats}");
    // Articles: content pages that link somewhere (MediaWiki's 'link' count).
    let content = pages.iter().filter(|t| !t.contains(':')).count() as u64;
    assert!((1..=content).contains(&stats["articles"].as_u64().unwrap_or(0)), "{stats}");
    assert_eq!(stats["jobs"].as_u64(), Some(0), "no jobs left from the import: {stats}");
    let name = wiki_view["name"].as_str().expect("name");
    let recount = farm.maintenance("initSiteStats.php", &["--wiki", name, "--update"]);
    assert!(recount.status.success(), "{}", String::from_utf8_lossy(&recount.stderr));
    let again = wiki.api_get(&[("action", "query"), ("meta", "siteinfo"), ("siprop", "statistics")]).await;
    for counter in ["pages", "articles", "edits", "images", "users"] {
        assert_eq!(again["query"]["statistics"][counter], stats[counter], "MediaWiki counts {counter} the same");
    }
    // The Main Page (each starter's first page) greets with the wiki's name; the sidebar
    // links the help.
    let (status, main) = wiki.get(&format!("/index.php?title={}", pages[0].replace(' ', "_"))).await;
    assert_eq!(status, 200);
    assert!(main.contains(heading), "the heading {heading:?}:\n{main}");
    assert!(!main.contains("MediaWiki has been installed"), "{main}");
    assert!(main.contains("id=\"n-"), "a sidebar: {main}");
    // Every page renders without a template or script error.
    for title in pages {
        let parsed = wiki.api_get(&[("action", "parse"), ("page", title), ("prop", "text")]).await;
        let html = parsed["parse"]["text"].as_str().unwrap_or_else(|| panic!("{title}: {parsed}"));
        for error in ["scribunto-error", "Lua error", "Script error", "Template loop", "error\">"] {
            assert!(!html.contains(error), "{title} renders with {error:?}:\n{html}");
        }
    }
}

/// The help page about templates uses the infobox (ParserFunctions) and the Lua list.
async fn assert_templates_work(wiki: &WikiClient, page: &str, items: &[&str]) {
    let parsed = wiki.api_get(&[("action", "parse"), ("page", page), ("prop", "text|templates")]).await;
    let html = parsed["parse"]["text"].as_str().expect("html");
    assert!(html.contains("class=\"infobox\""), "the infobox renders:\n{html}");
    assert!(html.contains("<th"), "its rows with labels render:\n{html}");
    let list: String = items.iter().map(|i| format!("<li>{i}</li>")).collect();
    assert!(html.contains(&format!("<ul class=\"farm-list\">{list}</ul>")), "Module:List renders the list:\n{html}");
}

/// Every starter, on SQLite wikis (the pooled default's first view being a parser cache hit is
/// in tests/scale.rs).
#[tokio::test]
async fn every_starter_gives_a_wiki_real_pages_in_its_language() {
    let farm = Farmd::start().await;
    let token = farm.token("stella", "member");
    let (status, listed) = farm.get_json(&token, "/api/v1/starters").await;
    assert_eq!(status, 200, "{listed}");
    let starters = listed["starters"].as_array().expect("starters").clone();
    let ids: Vec<&str> = starters.iter().map(|s| s["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["blank", "community", "course", "docs"]);
    assert!(starters.iter().all(|s| !s["description"].as_str().unwrap_or("").is_empty() && s["has_preview"] == true));
    assert_eq!(starters.iter().filter(|s| s["default"] == true).count(), 1);
    assert_eq!(starters[0]["default"], true, "the friendly blank is the default");
    // Each starter's preview picture is served as an image.
    let preview = farm.http.get(farm.url("/api/v1/starters/course/preview")).send().await.expect("preview");
    assert_eq!(preview.status(), 200);
    assert_eq!(preview.headers()["content-type"], "image/svg+xml");
    assert!(preview.text().await.expect("svg").starts_with("<svg"));

    for (index, id) in ids.iter().enumerate() {
        let name = format!("start-{id}");
        // The default starter when none is named.
        let starter = (index > 0).then_some(*id);
        let view = starter_wiki(&farm, &token, &name, starter, "en", None).await;
        assert_eq!(view["starter"], *id, "{view}");
        let pages: Vec<String> = starters[index]["pages"]
            .as_array()
            .expect("pages")
            .iter()
            .map(|p| p.as_str().expect("page").into())
            .collect();
        assert!(pages.len() >= 9, "{id} has a Main Page, help, policy, templates, a module and a sidebar: {pages:?}");
        let wiki = farm.wiki_client(&name);
        assert_starter_content(&farm, &wiki, &view, &pages, &format!("Welcome to Wiki {name}")).await;
        assert_templates_work(&wiki, "Help:Templates", &["one", "two", "three"]).await;
    }

    // German wikis get the German pages.
    let (_, german) = farm.get_json(&token, "/api/v1/starters?language=de").await;
    let community = &german["starters"][1];
    assert_eq!(community["title"], "Gemeinschafts- oder Projektwiki");
    let pages: Vec<String> =
        community["pages"].as_array().expect("pages").iter().map(|p| p.as_str().expect("page").into()).collect();
    assert!(pages.contains(&"Hauptseite".to_owned()), "{pages:?}");
    let view = starter_wiki(&farm, &token, "gemeinde", Some("community"), "de", None).await;
    let wiki = farm.wiki_client("gemeinde");
    assert_starter_content(&farm, &wiki, &view, &pages, "Willkommen bei Wiki gemeinde").await;
    assert_templates_work(&wiki, "Help:Vorlagen", &["eins", "zwei", "drei"]).await;
    let (_, main) = wiki.get("/index.php?title=Hauptseite").await;
    assert!(main.contains("Gemeinschaftsportal"), "{main}");

    // Starting pages are not people's edits: the language can still change.
    let (status, body) = patch_language(&farm, &token, "start-course", "de").await;
    assert_eq!(status, 200, "{body}");
}

async fn patch_language(farm: &Farmd, token: &str, name: &str, language: &str) -> (u16, Value) {
    let response = farm
        .http
        .patch(farm.url(&format!("/api/v1/wikis/{name}/settings")))
        .bearer_auth(token)
        .json(&json!({"base_revision": 1, "settings": {"language": language}}))
        .send()
        .await
        .expect("patch");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The same on MariaDB wikis: the default starter (from the warm pool) and another.
#[tokio::test]
async fn mariadb_wikis_begin_with_their_starter_too() {
    let farm = Farmd::start_on(ControlStore::Sqlite, &[MARIADB_WIKIS[0], ("FARM_POOL_MARIADB", "1")]).await;
    let admin = farm.token("ada", "admin");
    let (_, listed) = farm.get_json(&admin, "/api/v1/starters").await;
    for (index, id) in [(0, "blank"), (3, "docs")] {
        let name = format!("maria-{id}");
        let view = starter_wiki(&farm, &admin, &name, Some(id), "en", Some("mariadb")).await;
        assert_eq!(view["storage"]["backend"], "mariadb", "{view}");
        let pages: Vec<String> = listed["starters"][index]["pages"]
            .as_array()
            .expect("pages")
            .iter()
            .map(|p| p.as_str().expect("page").into())
            .collect();
        let wiki = farm.wiki_client(&name);
        assert_starter_content(&farm, &wiki, &view, &pages, &format!("Welcome to Wiki {name}")).await;
        assert_templates_work(&wiki, "Help:Templates", &["one", "two", "three"]).await;
    }
    farm.drop_templates_on_local_mariadb();
}

/// An unknown starter is refused before anything is made, alone and in a batch row; a batch
/// row names its starter like a single creation.
#[tokio::test]
async fn an_unknown_starter_is_refused_and_batch_rows_choose_theirs() {
    let farm = Farmd::start().await;
    let token = farm.token("bert", "member");
    for bad in [json!("nope"), json!("../blank"), json!(""), json!(7)] {
        let (status, body) =
            farm.create_wiki(&token, json!({"name": "nowhere", "sitename": "N", "starter": bad})).await;
        assert!(status == 422 || status == 400, "{bad}: {status} {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    let (status, body) = farm.create_wiki(&token, json!({"name": "nowhere", "sitename": "N", "starter": "nope"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["field"].as_str()),
        (422, Some("starter_unknown"), Some("starter"))
    );
    let (status, _) = farm.get_json(&token, "/api/v1/wikis/nowhere").await;
    assert_eq!(status, 404, "nothing was made");
    let (status, _) = farm.get_json(&token, "/api/v1/starters?language=xx").await;
    assert_eq!(status, 422);
    let (status, _) = farm.get_json(&token, "/api/v1/starters/nope/preview").await;
    assert_eq!(status, 404);

    let batch = json!({"wikis": [
        {"name": "batch-docs", "sitename": "Docs", "starter": "docs"},
        {"name": "batch-bad", "sitename": "Bad", "starter": "nope"},
    ]});
    let response =
        farm.http.post(farm.url("/api/v1/wiki-batches")).bearer_auth(&token).json(&batch).send().await.expect("batch");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["results"][0]["status"], "created", "{body}");
    assert_eq!(body["results"][1]["error"]["code"], "starter_unknown", "{body}");
    let view = farm.wait_for_state(&token, "batch-docs", &["active"]).await;
    assert_eq!(view["starter"], "docs");
    let wiki = farm.wiki_client("batch-docs");
    let answer = wiki.api_get(&[("action", "query"), ("titles", "FAQ|Template:Note")]).await;
    let pages = answer["query"]["pages"].as_array().expect("pages");
    assert!(pages.iter().all(|p| p.get("missing").is_none()), "{answer}");
}

/// A starter made with Special:Export on a wiki of this farm: dropped into `starters_dir`, it
/// is offered after a restart, and a wiki made from it holds those pages as the farm's edits.
#[tokio::test]
async fn an_operator_adds_a_starter_exported_with_special_export() {
    let mut farm = Farmd::start().await;
    let token = farm.token("olaf", "member");
    let (status, created) = farm.create_wiki(&token, json!({"name": "source", "sitename": "Source"})).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(&token, "source", &["active"]).await;
    let source = farm.wiki_client("source");
    let user = created["owner_credentials"]["username"].as_str().expect("user");
    let password = created["owner_credentials"]["password"].as_str().expect("password");
    assert_eq!(source.login(user, password).await["clientlogin"]["status"], "PASS");
    assert_eq!(source.edit("Team handbook", "How we work, version 1.").await["edit"]["result"], "Success");
    assert_eq!(source.edit("Team handbook", "How '''we''' work, version 2.").await["edit"]["result"], "Success");
    let (status, export) =
        source.get("/index.php?title=Special:Export&pages=Team_handbook%0AMain_Page&history=1&action=submit").await;
    assert_eq!(status, 200);
    assert!(export.contains("<mediawiki") && export.contains("version 1."), "a full-history export:\n{export}");

    let starters_dir = farm.data_dir.join("starters");
    std::fs::create_dir_all(&starters_dir).expect("dir");
    std::fs::write(starters_dir.join("team.xml"), &export).expect("starter");
    std::fs::write(starters_dir.join("Broken Name.xml"), &export).expect("bad name");
    farm.terminate();
    farm.spawn();
    farm.wait_healthy().await;
    let (_, listed) = farm.get_json(&token, "/api/v1/starters").await;
    let ids: Vec<&str> =
        listed["starters"].as_array().expect("starters").iter().map(|s| s["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["blank", "community", "course", "docs", "team"], "a starter with a bad name is left out");
    assert!(farm.log().contains("starter left out"), "and the log says why");

    let view = starter_wiki(&farm, &token, "team-copy", Some("team"), "en", None).await;
    let wiki = farm.wiki_client("team-copy");
    let answer = wiki
        .api_get(&[
            ("action", "query"),
            ("titles", "Team handbook"),
            ("prop", "revisions"),
            ("rvprop", "user|content"),
            ("rvslots", "main"),
            ("rvlimit", "max"),
        ])
        .await;
    let page = answer["query"]["pages"][0].clone();
    let revisions = page["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 1, "only the latest revision is kept: {page}");
    assert_eq!(revisions[0]["user"], "Wiki farm");
    assert_eq!(revisions[0]["slots"]["main"]["content"], "How '''we''' work, version 2.");
    let (status, main) = wiki.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    assert!(!main.contains("MediaWiki has been installed"), "its Main Page replaced the installer's: {main}");
    assert_eq!(view["starter"], "team");
    let changes =
        wiki.api_get(&[("action", "query"), ("list", "recentchanges"), ("rcprop", "user"), ("rclimit", "50")]).await;
    let users: BTreeSet<&str> =
        changes["query"]["recentchanges"].as_array().expect("rc").iter().filter_map(|c| c["user"].as_str()).collect();
    assert_eq!(users, BTreeSet::from(["Wiki farm"]), "{changes}");
}
