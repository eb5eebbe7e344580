//! Deleting puts a served wiki in the trash: not served at once, intact, restorable until its
//! time is over, then purged as before (or sooner by an admin).

use crate::common;

use std::time::Duration;

use common::{ControlStore, Farmd};
use serde_json::{json, Value};

async fn post(farm: &Farmd, token: &str, path: &str) -> (u16, Value) {
    let response = farm.http.post(farm.url(path)).bearer_auth(token).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

crate::on_both_stores!(a_deleted_wiki_waits_in_the_trash_and_comes_back_exactly_as_it_was);

async fn a_deleted_wiki_waits_in_the_trash_and_comes_back_exactly_as_it_was(store: ControlStore) {
    let mut farm = Farmd::start_on(store, &[("FARM_DELETED_RETENTION", "1day")]).await;
    let owner = farm.token("tia", "member");
    let (status, created) = farm.create_wiki(&owner, json!({"name": "keepsake", "sitename": "Keepsake"})).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(&owner, "keepsake", &["active"]).await;
    let wiki = farm.wiki_client("keepsake");
    let user = created["owner_credentials"]["username"].as_str().expect("user");
    let password = created["owner_credentials"]["password"].as_str().expect("password");
    assert_eq!(wiki.login(user, password).await["clientlogin"]["status"], "PASS");
    assert_eq!(wiki.edit("Memories", "Precious text").await["edit"]["result"], "Success");
    let (status, _) = farm
        .http
        .patch(farm.url("/api/v1/wikis/keepsake/settings"))
        .bearer_auth(&owner)
        .json(&json!({"base_revision": 1, "settings": {"sitename": "Kept"}}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("patch");
    assert_eq!(status, 200);
    let dir = farm.wiki_dir("keepsake");

    // Delete: not served at once, everything kept, restorable until a day later.
    let (status, deleted) = farm.delete(&owner, "/api/v1/wikis/keepsake").await;
    assert_eq!(status, 202, "{deleted}");
    assert_eq!(deleted["state"], "trashed");
    let until = deleted["restorable_until"].as_str().expect("restorable_until");
    let until = farm_core::platform::time::parse_rfc3339(until).expect("an RFC 3339 time");
    let in_a_day = farm_core::platform::time::now() + 24 * 3600;
    assert!((until - in_a_day).abs() < 300, "restorable a day from now: {until} vs {in_a_day}");
    let (status, _) = farm.wiki_client("keepsake").get("/index.php?title=Memories").await;
    assert_eq!(status, 404, "a trashed wiki is not served");
    for kept in ["LocalSettings.php", "secrets.php", "db", "images"] {
        assert!(dir.join(kept).exists(), "{kept} is kept in the trash");
    }
    // The name stays taken; members cannot purge; a second delete changes nothing.
    let (status, body) =
        farm.create_wiki(&farm.token("zed", "member"), json!({"name": "keepsake", "sitename": "X"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("name_taken")), "{body}");
    let (status, _) = post(&farm, &owner, "/api/v1/wikis/keepsake/purge").await;
    assert_eq!(status, 403);
    let (status, again) = farm.delete(&owner, "/api/v1/wikis/keepsake").await;
    assert_eq!((status, again["state"].as_str()), (202, Some("trashed")));
    // Another member sees nothing; undelete of an active wiki is a conflict.
    let (status, _) = post(&farm, &farm.token("zed", "member"), "/api/v1/wikis/keepsake/undelete").await;
    assert_eq!(status, 404);

    // A kill right after a delete, before the link went: the start puts it right. Simulated by
    // restoring the link while farmd is down.
    farm.kill9();
    let key = dir.file_name().expect("key").to_owned();
    std::os::unix::fs::symlink(std::path::Path::new("../wikis").join(&key), farm.data_dir.join("hosts/keepsake"))
        .expect("link");
    farm.spawn();
    farm.wait_healthy().await;
    common::wait_until("the trashed wiki's link removed at start", Duration::from_secs(30), || async {
        if farm.data_dir.join("hosts/keepsake").symlink_metadata().is_err() {
            Ok(())
        } else {
            Err("still linked".to_owned())
        }
    })
    .await;

    // Undelete: served again with its pages, accounts and settings.
    let (status, back) = post(&farm, &owner, "/api/v1/wikis/keepsake/undelete").await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["state"], "active");
    assert!(back.get("restorable_until").is_none());
    let wiki = farm.wiki_client("keepsake");
    let (status, page) = wiki.get("/index.php?title=Memories").await;
    assert!(status == 200 && page.contains("Precious text"), "{status}");
    assert_eq!(wiki.login(user, password).await["clientlogin"]["status"], "PASS", "its accounts are back");
    let info = wiki.api_get(&[("action", "query"), ("meta", "siteinfo")]).await;
    assert_eq!(info["query"]["general"]["sitename"], "Kept", "its settings are back");
    let (status, body) = post(&farm, &owner, "/api/v1/wikis/keepsake/undelete").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");

    // An admin purges a trashed wiki: everything goes, as a delete did before.
    farm.delete(&owner, "/api/v1/wikis/keepsake").await;
    let admin = farm.token("ada", "admin");
    let (status, purging) = post(&farm, &admin, "/api/v1/wikis/keepsake/purge").await;
    assert_eq!(status, 202, "{purging}");
    farm.wait_for_state(&admin, "keepsake", &["deleted"]).await;
    assert!(!dir.exists(), "purged: the wiki's directory is gone");
    let (status, body) = post(&farm, &owner, "/api/v1/wikis/keepsake/undelete").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    let (_, audit) = farm.get_json(&admin, "/api/v1/audit?target=wiki:keepsake").await;
    let actions: Vec<&str> =
        audit["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["wiki.delete", "wiki.undelete", "wiki.purge", "wiki.deleted"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

/// When its time in the trash is over, a wiki is purged by itself.
#[tokio::test]
async fn a_wiki_whose_time_in_the_trash_is_over_is_purged() {
    let farm = Farmd::start_with(&[("FARM_DELETED_RETENTION", "2s"), ("FARM_LIFECYCLE_INTERVAL", "1s")]).await;
    let owner = farm.token("uma", "member");
    farm.create_wiki(&owner, json!({"name": "brief", "sitename": "Brief"})).await;
    farm.wait_for_state(&owner, "brief", &["active"]).await;
    let dir = farm.wiki_dir("brief");
    let (_, deleted) = farm.delete(&owner, "/api/v1/wikis/brief").await;
    assert_eq!(deleted["state"], "trashed");
    farm.wait_for_state(&owner, "brief", &["deleted"]).await;
    assert!(!dir.exists());
    let (status, body) = post(&farm, &owner, "/api/v1/wikis/brief/undelete").await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
}

/// A rename keeps everything, the old address redirects and its name stays taken; a kill right
/// after the commit is put right at start; when the window is over the old name is free.
#[tokio::test]
async fn a_renamed_wiki_keeps_its_data_and_its_old_address_redirects() {
    let smtp = common::smtp::SmtpServer::start().await;
    let config = format!(
        "deleted_name_retention = \"10s\"\nlifecycle_interval = \"1s\"\n\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Farm <farm@example.org>\"\n",
        smtp.port
    );
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let owner = farm.token("rob", "member");
    let (_, created) = farm.create_wiki(&owner, json!({"name": "oldname", "sitename": "Moving"})).await;
    farm.wait_for_state(&owner, "oldname", &["active"]).await;
    let user = created["owner_credentials"]["username"].as_str().expect("user");
    let password = created["owner_credentials"]["password"].as_str().expect("password");
    let wiki = farm.wiki_client("oldname");
    assert_eq!(wiki.login(user, password).await["clientlogin"]["status"], "PASS");
    assert_eq!(wiki.edit("Notes", "Still here").await["edit"]["result"], "Success");
    let rename = |to: &str| {
        let (http, url, owner) = (farm.http.clone(), farm.url("/api/v1/wikis/oldname/rename"), owner.clone());
        let body = json!({"name": to});
        async move {
            let response = http.post(url).bearer_auth(owner).json(&body).send().await.expect("rename");
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Bad names change nothing.
    for (to, status, code) in [
        ("www", 422, "name_reserved"),
        ("Bad Name", 422, "name_invalid_characters"),
        ("oldname", 422, "name_unchanged"),
    ] {
        let (got, body) = rename(to).await;
        assert_eq!((got, body["error"]["code"].as_str()), (status, Some(code)), "{to}: {body}");
    }
    farm.create_wiki(&owner, json!({"name": "taken", "sitename": "Taken"})).await;
    let (got, body) = rename("taken").await;
    assert_eq!((got, body["error"]["code"].as_str()), (409, Some("name_taken")), "{body}");

    let (status, renamed) = rename("newname").await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "newname");
    assert_eq!(renamed["url"], format!("http://newname.localhost:{}/", farm.port));
    let moved = farm.wiki_client("newname");
    let (status, page) = moved.get("/index.php?title=Notes").await;
    assert!(status == 200 && page.contains("Still here"), "{status}");
    assert_eq!(moved.login(user, password).await["clientlogin"]["status"], "PASS");
    let (status, _) = farm.wiki_client("oldname").get("/index.php?title=Notes").await;
    assert_eq!(status, 301);
    let response = farm
        .wiki_client("oldname")
        .http
        .get(format!("http://oldname.localhost:{}/index.php?title=Notes", farm.port))
        .send()
        .await
        .expect("old");
    assert_eq!(
        response.headers()["location"],
        format!("http://newname.localhost:{}/index.php?title=Notes", farm.port).as_str()
    );
    let (status, body) =
        farm.create_wiki(&farm.token("ann", "member"), json!({"name": "oldname", "sitename": "Mine"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("name_taken")), "{body}");
    smtp.wait_for("rob@", "has a new address").await;
    let (_, audit) = farm.get_json(&farm.token("ada", "admin"), "/api/v1/audit?target=wiki:newname").await;
    assert!(
        audit["entries"].as_array().expect("entries").iter().any(|e| e["details"] == "oldname -> newname"),
        "{audit}"
    );

    // A kill after the commit, before the files: the start puts the links and redirect right.
    farm.kill9();
    let hosts = farm.data_dir.join("hosts");
    let key = farm.data_dir.join("hosts/newname").read_link().expect("link");
    std::fs::remove_file(hosts.join("newname")).expect("rm");
    std::os::unix::fs::symlink(&key, hosts.join("oldname")).expect("old link");
    std::fs::remove_file(farm.data_dir.join("redirects/oldname")).expect("rm redirect");
    farm.spawn();
    farm.wait_healthy().await;
    common::wait_until("links put right", Duration::from_secs(30), || async {
        let (new, _) = farm.wiki_client("newname").get("/index.php?title=Notes").await;
        let (old, _) = farm.wiki_client("oldname").get("/index.php?title=Notes").await;
        if (new, old) == (200, 301) {
            Ok(())
        } else {
            Err(format!("new {new}, old {old}"))
        }
    })
    .await;
    // After the window the old name is free: no redirect, anyone may take it.
    common::wait_until("the old name freed", Duration::from_secs(30), || async {
        match farm.wiki_client("oldname").get("/").await.0 {
            404 => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    let (status, body) =
        farm.create_wiki(&farm.token("ann", "member"), json!({"name": "oldname", "sitename": "Mine"})).await;
    assert_eq!(status, 202, "{body}");
}

/// A wiki changes hands only when the recipient accepts; both hear of it by mail.
#[tokio::test]
async fn a_wiki_is_handed_to_another_account_when_the_recipient_accepts() {
    let smtp = common::smtp::SmtpServer::start().await;
    let config = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Farm <farm@example.org>\"\n",
        smtp.port
    );
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let (olga, bob, eve) = (farm.token("olga", "member"), farm.token("bob", "member"), farm.token("eve", "member"));
    farm.create_wiki(&olga, json!({"name": "handover", "sitename": "Handover"})).await;
    farm.wait_for_state(&olga, "handover", &["active"]).await;
    let offer = |token: &str, to: &str| {
        let (http, url, token, body) =
            (farm.http.clone(), farm.url("/api/v1/wikis/handover/transfer"), token.to_owned(), json!({"to": to}));
        async move {
            let response = http.post(url).bearer_auth(token).json(&body).send().await.expect("offer");
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (to, code) in [("nobody-here", "recipient_unknown"), ("olga", "recipient_is_owner")] {
        let (status, body) = offer(&olga, to).await;
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some(code)), "{body}");
    }
    let (status, _) = offer(&bob, "eve").await;
    assert_eq!(status, 404, "only the owner (or an admin) offers");
    let (status, transfer) = offer(&olga, "bob").await;
    assert_eq!(status, 202, "{transfer}");
    assert_eq!((transfer["state"].as_str(), transfer["to"].as_str()), (Some("pending"), Some("bob")));
    let id = transfer["id"].as_i64().expect("id");
    smtp.wait_for("bob@", "offers you the wiki").await;
    // Nothing moves until bob accepts; others cannot decide for him.
    let (_, wiki) = farm.get_json(&olga, "/api/v1/wikis/handover").await;
    assert_eq!(wiki["owner"], "olga");
    let (status, _) = post(&farm, &eve, &format!("/api/v1/transfers/{id}/accept")).await;
    assert_eq!(status, 404);
    let (status, _) = post(&farm, &olga, &format!("/api/v1/transfers/{id}/accept")).await;
    assert_eq!(status, 403, "the offerer does not accept for the recipient");
    let (_, mine) = farm.get_json(&bob, "/api/v1/transfers").await;
    assert_eq!(mine["transfers"][0]["id"], id);
    let (status, accepted) = post(&farm, &bob, &format!("/api/v1/transfers/{id}/accept")).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["state"], "accepted");
    let (status, wiki) = farm.get_json(&bob, "/api/v1/wikis/handover").await;
    assert_eq!((status, wiki["owner"].as_str()), (200, Some("bob")), "{wiki}");
    let (status, _) = farm.get_json(&olga, "/api/v1/wikis/handover").await;
    assert_eq!(status, 404, "the former owner no longer sees it");
    let (status, body) = post(&farm, &bob, &format!("/api/v1/transfers/{id}/accept")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")));
    smtp.wait_for("olga@", "now belongs to bob").await;
    smtp.wait_for("bob@", "now belongs to bob").await;
    // A declined offer changes nothing; a cancelled one cannot be accepted.
    let offer_back = |to: &str| {
        let (http, url, token, body) =
            (farm.http.clone(), farm.url("/api/v1/wikis/handover/transfer"), bob.clone(), json!({"to": to}));
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("offer")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let second = offer_back("eve").await["id"].as_i64().expect("id");
    assert_eq!(post(&farm, &eve, &format!("/api/v1/transfers/{second}/decline")).await.0, 200);
    let third = offer_back("eve").await["id"].as_i64().expect("id");
    assert_eq!(post(&farm, &bob, &format!("/api/v1/transfers/{third}/cancel")).await.0, 200);
    let (status, _) = post(&farm, &eve, &format!("/api/v1/transfers/{third}/accept")).await;
    assert_eq!(status, 409);
    let (_, wiki) = farm.get_json(&bob, "/api/v1/wikis/handover").await;
    assert_eq!(wiki["owner"], "bob");
    let (_, audit) = farm.get_json(&farm.token("ada", "admin"), "/api/v1/audit?target=wiki:handover").await;
    let actions: Vec<&str> =
        audit["entries"].as_array().expect("entries").iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["wiki.transfer_offer", "wiki.transfer", "wiki.transfer_decline", "wiki.transfer_cancel"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}
