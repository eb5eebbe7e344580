//! A wiki's managers: named by its owner, they see the wiki and change its settings, and
//! nothing more; removed, they lose it all. Every change is audited and mailed.

use crate::common;

use std::time::Duration;

use common::smtp::SmtpServer;
use common::{ControlStore, Farmd};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

async fn send(farm: &Farmd, method: reqwest::Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = farm.http.request(method, farm.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn add(farm: &Farmd, token: &str, username: &str) -> (u16, Value) {
    send(farm, reqwest::Method::POST, token, "/api/v1/wikis/crew/managers", Some(json!({"username": username}))).await
}

fn names(list: &Value) -> Vec<String> {
    list["managers"]
        .as_array()
        .expect("managers")
        .iter()
        .filter_map(|m| m["username"].as_str().map(str::to_owned))
        .collect()
}

fn listed(list: &Value, name: &str) -> bool {
    list["wikis"].as_array().expect("wikis").iter().any(|w| w["name"] == name)
}

async fn sitename(farm: &Farmd, name: &str) -> String {
    let info = farm.wiki_client(name).api_get(&[("action", "query"), ("meta", "siteinfo")]).await;
    info["query"]["general"]["sitename"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn managers_change_settings_and_nothing_more_until_removed() {
    let smtp = SmtpServer::start().await;
    let config = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Farm <farm@example.org>\"\n",
        smtp.port
    );
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("olga", "member", Some(PASSWORD)));
    assert!(farm.create_account("max", "member", Some(PASSWORD)));
    let (olga, max, mel, ada) = (
        farm.token("olga", "member"),
        farm.token("max", "member"),
        farm.token("mel", "member"),
        farm.token("ada", "admin"),
    );
    let (status, created) = farm.create_wiki(&olga, json!({"name": "crew", "sitename": "Crew"})).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(&olga, "crew", &["active"]).await;

    // Bad input is refused and changes nothing.
    for (username, code) in
        [("nobody-here", "manager_unknown"), ("olga", "manager_is_owner"), ("no such!", "manager_unknown")]
    {
        let (status, body) = add(&farm, &olga, username).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some(code)), "{username}: {body}");
    }
    let (status, body) = send(&farm, reqwest::Method::DELETE, &olga, "/api/v1/wikis/crew/managers/mel", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "removing a non-manager");
    let (status, _) = add(&farm, &max, "max").await;
    assert_eq!(status, 404, "a stranger does not even see the wiki");
    let (status, list) = farm.get_json(&olga, "/api/v1/wikis/crew/managers").await;
    assert_eq!((status, names(&list)), (200, Vec::<String>::new()), "{list}");

    // The owner adds max: once (twice is a conflict), audited and mailed.
    let (status, list) = add(&farm, &olga, "max").await;
    assert_eq!((status, names(&list)), (201, vec!["max".to_owned()]), "{list}");
    assert_eq!(list["managers"][0]["added_by"], "olga");
    let (status, body) = add(&farm, &olga, "Max").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    let mail = smtp.wait_for("max@", "You now manage the wiki").await;
    assert!(mail.body.contains("olga made you a manager") && mail.body.contains("/wikis/crew"), "{}", mail.body);

    // max sees it in his list and its page, and changes its settings; MediaWiki follows.
    let (_, mine) = farm.get_json(&max, "/api/v1/wikis").await;
    assert!(listed(&mine, "crew"), "{mine}");
    let (status, wiki) = farm.get_json(&max, "/api/v1/wikis/crew").await;
    assert_eq!((status, wiki["managers"].clone()), (200, json!(["max"])), "{wiki}");
    let (_, settings) = farm.get_json(&max, "/api/v1/wikis/crew/settings").await;
    let base = settings["revision"].as_i64().expect("revision");
    let (status, body) = send(
        &farm,
        reqwest::Method::PATCH,
        &max,
        "/api/v1/wikis/crew/settings",
        Some(json!({"base_revision": base, "settings": {"sitename": "Crew Deck"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    common::wait_until("the new site name in MediaWiki", Duration::from_secs(30), || async {
        match sitename(&farm, "crew").await {
            name if name == "Crew Deck" => Ok(()),
            other => Err(other),
        }
    })
    .await;
    let (status, _) = farm.get_json(&max, "/api/v1/wikis/crew/settings/history").await;
    assert_eq!(status, 200);

    // ... and nothing that is the owner's.
    use reqwest::Method;
    for (method, path, body) in [
        (Method::DELETE, "/api/v1/wikis/crew", None),
        (Method::POST, "/api/v1/wikis/crew/rename", Some(json!({"name": "crew-two"}))),
        (Method::POST, "/api/v1/wikis/crew/transfer", Some(json!({"to": "max"}))),
        (Method::POST, "/api/v1/wikis/crew/managers", Some(json!({"username": "mel"}))),
        (Method::DELETE, "/api/v1/wikis/crew/managers/max", None),
        (Method::POST, "/api/v1/wikis/crew/exports", None),
        (Method::GET, "/api/v1/wikis/crew/backups", None),
    ] {
        let (status, answer) = send(&farm, method.clone(), &max, path, body).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {answer}");
    }
    let (_, wiki) = farm.get_json(&olga, "/api/v1/wikis/crew").await;
    assert_eq!((wiki["state"].as_str(), wiki["owner"].as_str()), (Some("active"), Some("olga")), "{wiki}");
    // A stranger still sees nothing.
    for path in ["/api/v1/wikis/crew", "/api/v1/wikis/crew/managers", "/api/v1/wikis/crew/settings"] {
        let (status, _) = farm.get_json(&mel, path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (_, theirs) = farm.get_json(&mel, "/api/v1/wikis").await;
    assert!(!listed(&theirs, "crew"), "{theirs}");

    // The portal: max finds it in "My wikis", sees the managers and reaches the settings, with
    // no add form; the owner adds and removes a manager with the page's forms.
    let max_portal = common::portal_login(&farm, "max", PASSWORD).await;
    let page = |client: &reqwest::Client, path: &str| {
        let (client, url) = (client.clone(), farm.url(path));
        async move {
            let response = client.get(url).send().await.expect("page");
            (response.status().as_u16(), response.text().await.expect("body"))
        }
    };
    let (_, my_wikis) = page(&max_portal, "/wikis").await;
    assert!(my_wikis.contains("/wikis/crew"), "{my_wikis}");
    let (status, wiki_page) = page(&max_portal, "/wikis/crew").await;
    assert_eq!(status, 200);
    assert!(wiki_page.contains("id=\"managers\"") && wiki_page.contains("data-manager=\"max\""), "{wiki_page}");
    assert!(wiki_page.contains("id=\"wiki-settings\""), "the settings link");
    assert!(!wiki_page.contains("id=\"add-manager-form\"") && !wiki_page.contains("id=\"delete-form\""));
    let (status, _) = page(&max_portal, "/wikis/crew/settings").await;
    assert_eq!(status, 200);
    let olga_portal = common::portal_login(&farm, "olga", PASSWORD).await;
    let (_, owner_page) = page(&olga_portal, "/wikis/crew").await;
    assert!(owner_page.contains("id=\"add-manager-form\""), "{owner_page}");
    let csrf = common::csrf_of(&owner_page);
    let response = olga_portal
        .post(farm.url("/wikis/crew/managers"))
        .form(&[("csrf", csrf.as_str()), ("username", "nobody-here")])
        .send()
        .await
        .expect("add");
    assert_eq!(response.status(), 422);
    assert!(response.text().await.expect("body").contains("data-code=\"manager_unknown\""));
    let response = olga_portal
        .post(farm.url("/wikis/crew/managers"))
        .form(&[("csrf", csrf.as_str()), ("username", "mel")])
        .send()
        .await
        .expect("add");
    assert_eq!(response.status(), 303);
    let (_, owner_page) = page(&olga_portal, "/wikis/crew?manager_added=1").await;
    assert!(owner_page.contains("data-manager=\"mel\""), "{owner_page}");
    let response = olga_portal
        .post(farm.url("/wikis/crew/managers/mel/remove"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("remove");
    assert_eq!(response.status(), 303);
    let response = olga_portal.post(farm.url("/wikis/crew/managers")).form(&[("username", "mel")]).send().await;
    assert_ne!(response.expect("no token").status(), 303, "no CSRF token, no change");
    let (_, list) = farm.get_json(&olga, "/api/v1/wikis/crew/managers").await;
    assert_eq!(names(&list), vec!["max".to_owned()], "{list}");

    // Removed, max loses it all.
    let (status, list) = send(&farm, Method::DELETE, &olga, "/api/v1/wikis/crew/managers/max", None).await;
    assert_eq!((status, names(&list)), (200, Vec::<String>::new()), "{list}");
    smtp.wait_for("max@", "You no longer manage the wiki").await;
    for path in ["/api/v1/wikis/crew", "/api/v1/wikis/crew/settings", "/api/v1/wikis/crew/managers"] {
        let (status, _) = farm.get_json(&max, path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (_, mine) = farm.get_json(&max, "/api/v1/wikis").await;
    assert!(!listed(&mine, "crew"), "{mine}");
    let (status, _) = page(&max_portal, "/wikis/crew/settings").await;
    assert_eq!(status, 404);

    // Every change is in the audit log, naming the manager.
    let (_, audit) = farm.get_json(&ada, "/api/v1/audit?target=wiki:crew").await;
    let entries: Vec<(String, String)> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"].as_str().is_some_and(|a| a.starts_with("wiki.manager_")))
        .map(|e| (e["action"].as_str().unwrap_or("").to_owned(), e["details"].as_str().unwrap_or("").to_owned()))
        .collect();
    for expected in [
        ("wiki.manager_added", "max"),
        ("wiki.manager_added", "mel"),
        ("wiki.manager_removed", "mel"),
        ("wiki.manager_removed", "max"),
    ] {
        assert!(entries.iter().any(|(a, d)| a == expected.0 && d == expected.1), "{expected:?} in {entries:?}");
    }
    assert_eq!(entries.len(), 4, "nothing else was recorded: {entries:?}");
}

/// A manager who takes the wiki over stops being its manager; a wiki deleted for good takes
/// its managers with it, so nothing is left in the registry.
#[tokio::test]
async fn managers_follow_the_wiki_through_a_transfer_and_a_purge() {
    let farm = Farmd::start_with(&[("FARM_DELETED_RETENTION", "1day")]).await;
    for name in ["olga", "max", "zoe"] {
        assert!(farm.create_account(name, "member", Some(PASSWORD)));
    }
    let (olga, max, admin) = (farm.token("olga", "member"), farm.token("max", "member"), farm.token("ada", "admin"));
    let (status, created) = farm.create_wiki(&olga, json!({"name": "crew", "sitename": "Crew"})).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(&olga, "crew", &["active"]).await;
    for name in ["max", "zoe"] {
        assert_eq!(add(&farm, &olga, name).await.0, 201);
    }
    // Someone who signed up but never confirmed their address is not named.
    let signup = json!({"username": "una", "email": "una@example.org", "password": PASSWORD});
    let response = farm.http.post(farm.url("/api/v1/accounts")).json(&signup).send().await.expect("sign up");
    assert_eq!(response.status(), 201);
    let (status, body) = add(&farm, &olga, "una").await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("manager_unconfirmed")), "{body}");
    let (status, offer) =
        send(&farm, reqwest::Method::POST, &olga, "/api/v1/wikis/crew/transfer", Some(json!({"to": "max"}))).await;
    assert_eq!(status, 202, "{offer}");
    let accept = format!("/api/v1/transfers/{}/accept", offer["id"]);
    let (status, accepted) = send(&farm, reqwest::Method::POST, &max, &accept, None).await;
    assert_eq!(status, 200, "{accepted}");
    let (_, list) = send(&farm, reqwest::Method::GET, &max, "/api/v1/wikis/crew/managers", None).await;
    assert_eq!(names(&list), ["zoe"], "the new owner is no longer a manager: {list}");

    let (status, deleted) = farm.delete(&max, "/api/v1/wikis/crew").await;
    assert_eq!((status, deleted["state"].as_str()), (202, Some("trashed")), "{deleted}");
    let (status, _) = send(&farm, reqwest::Method::POST, &admin, "/api/v1/wikis/crew/purge", None).await;
    assert_eq!(status, 202);
    farm.wait_for_state(&admin, "crew", &["deleted"]).await;
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut store = sqlx::AnyConnection::connect(&farm.store_url).await.expect("control store");
    let (left,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM wiki_managers").fetch_one(&mut store).await.expect("count");
    assert_eq!(left, 0, "a purged wiki leaves no managers behind");
}
