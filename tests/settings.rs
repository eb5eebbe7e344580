//! Settings and extensions against the real MediaWiki: what a new wiki has (the default
//! extensions, really working), changes that MediaWiki shows at once, history and rollback,
//! private wikis, uploads with a quota, logos, bad input that changes nothing, and extension
//! tables created crash-safely on a wiki that lacks them.

use crate::common;

use std::time::{Duration, Instant};

use common::{ControlStore, Farmd, WikiClient};
use serde_json::{json, Value};

const MARIADB_WIKIS: &[(&str, &str)] = &[("FARM_MARIADB_URL", common::LOCAL_MARIADB)];

async fn patch(farm: &Farmd, token: &str, name: &str, body: Value) -> (u16, Value) {
    let response = farm
        .http
        .patch(farm.url(&format!("/api/v1/wikis/{name}/settings")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(farm: &Farmd, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = farm.http.post(farm.url(path)).bearer_auth(token).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn put_image(farm: &Farmd, token: &str, name: &str, slot: &str, bytes: Vec<u8>) -> (u16, Value) {
    let response = farm
        .http
        .put(farm.url(&format!("/api/v1/wikis/{name}/{slot}")))
        .bearer_auth(token)
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A PNG of `size` x `size` random pixels (incompressible: about 3 bytes a pixel), made by PHP's GD.
fn noise_png(size: u32) -> Vec<u8> {
    let code = format!(
        "$i = imagecreatetruecolor({size}, {size}); for ($x = 0; $x < {size}; $x++) for ($y = 0; $y < {size}; $y++) \
         imagesetpixel($i, $x, $y, random_int(0, 0xFFFFFF)); imagepng($i);"
    );
    let output = std::process::Command::new("php").args(["-r", &code]).output().expect("php");
    assert!(output.status.success() && output.stdout.starts_with(b"\x89PNG"), "php-gd made no PNG");
    output.stdout
}

async fn siteinfo(wiki: &WikiClient) -> Value {
    wiki.api_get(&[("action", "query"), ("meta", "siteinfo"), ("siprop", "general|extensions|skins|rightsinfo")]).await
}

/// The code of the default skin in a siteinfo answer.
fn default_skin(info: &Value) -> String {
    let skins = info["query"]["skins"].as_array().expect("skins");
    skins.iter().find(|s| s["default"] == true).and_then(|s| s["code"].as_str()).expect("a default skin").to_owned()
}

/// Creates a wiki as `token` (on `backend`) and waits until it is active.
async fn active_wiki(farm: &Farmd, token: &str, name: &str, backend: Option<&str>) -> Value {
    let mut body = json!({"name": name, "sitename": format!("Wiki {name}")});
    if let Some(backend) = backend {
        body["backend"] = json!(backend);
    }
    let (status, created) = farm.create_wiki(token, body).await;
    assert_eq!(status, 202, "{created}");
    farm.wait_for_state(token, name, &["active"]).await;
    created
}

async fn logged_in(farm: &Farmd, name: &str, created: &Value) -> WikiClient {
    let wiki = farm.wiki_client(name);
    let user = created["owner_credentials"]["username"].as_str().expect("user");
    let password = created["owner_credentials"]["password"].as_str().expect("password");
    let login = wiki.login(user, password).await;
    assert_eq!(login["clientlogin"]["status"], "PASS", "{login}");
    wiki
}

async fn csrf(wiki: &WikiClient) -> String {
    let tokens = wiki.api_get(&[("action", "query"), ("meta", "tokens")]).await;
    tokens["query"]["tokens"]["csrftoken"].as_str().expect("csrf").to_owned()
}

#[tokio::test]
async fn a_new_sqlite_wiki_is_a_complete_wiki() {
    a_new_wiki_is_a_complete_wiki(None).await;
}

#[tokio::test]
async fn a_new_mariadb_wiki_is_a_complete_wiki() {
    a_new_wiki_is_a_complete_wiki(Some("mariadb")).await;
}

/// The default extensions and skin are on and really work: Lua, syntax highlighting,
/// VisualEditor's parse and save through Parsoid, captchas for anonymous links, uploads up to
/// the quota, the farm's logo instead of MediaWiki's placeholder.
async fn a_new_wiki_is_a_complete_wiki(backend: Option<&str>) {
    let farm = Farmd::start_on(ControlStore::Sqlite, MARIADB_WIKIS).await;
    let admin = farm.token("ada", "admin");
    let (_, catalogue) = farm.get_json(&admin, "/api/v1/extensions").await;
    let defaults: Vec<String> = catalogue["extensions"]
        .as_array()
        .expect("extensions")
        .iter()
        .filter(|e| e["default"] == true)
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect();
    assert!(defaults.len() >= 26, "the default set: {defaults:?}");
    let created = active_wiki(&farm, &admin, "full", backend).await;
    let anonymous = farm.wiki_client("full");
    let info = siteinfo(&anonymous).await;
    let loaded: Vec<&str> =
        info["query"]["extensions"].as_array().expect("extensions").iter().filter_map(|e| e["name"].as_str()).collect();
    for name in &defaults {
        assert!(loaded.contains(&name.as_str()), "{name} is loaded: {loaded:?}");
    }
    let general = &info["query"]["general"];
    assert_eq!(default_skin(&info), "vector-2022");
    assert!(general["logo"].as_str().expect("logo").ends_with("/farm-assets/farm-logo.svg"), "{general}");
    let (status, page) = anonymous.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    assert!(!page.contains("change-your-logo") && !page.contains("Set $wgLogos"), "no placeholder logo");
    assert!(page.contains("/farm-assets/farm-logo.svg"), "the farm's logo is on the page");
    let (status, logo) = anonymous.get("/farm-assets/farm-logo.svg").await;
    assert!(status == 200 && logo.contains("<svg"), "{status}");

    let wiki = logged_in(&farm, "full", &created).await;
    // Scribunto runs a Lua module; SyntaxHighlight highlights code.
    let module =
        "local p = {}\nfunction p.hello(frame) return 'Hello from ' .. _VERSION .. ', ' .. frame.args[1] end\nreturn p";
    assert_eq!(wiki.edit("Module:Greeter", module).await["edit"]["result"], "Success");
    let text = "{{#invoke:Greeter|hello|farm}}\n<syntaxhighlight lang=\"python\">def f(): return 1</syntaxhighlight>";
    assert_eq!(wiki.edit("Features", text).await["edit"]["result"], "Success");
    let parsed = wiki.api_get(&[("action", "parse"), ("page", "Features"), ("prop", "text")]).await;
    let html = parsed["parse"]["text"].as_str().expect("html");
    assert!(html.contains("Hello from Lua 5.1, farm"), "Lua ran: {html}");
    assert!(html.contains("mw-highlight") && html.contains("<span class=\"k\">def</span>"), "highlighted: {html}");
    // VisualEditor: Parsoid's HTML for the page, and a save through its API.
    let ve = wiki.api_get(&[("action", "visualeditor"), ("paction", "parse"), ("page", "Features")]).await;
    assert_eq!(ve["visualeditor"]["result"], "success", "{ve}");
    let token = csrf(&wiki).await;
    let saved = wiki
        .api_post(&[
            ("action", "visualeditoredit"),
            ("paction", "save"),
            ("page", "Features"),
            ("html", "<p>Saved by VisualEditor</p>"),
            ("token", &token),
        ])
        .await;
    assert_eq!(saved["visualeditoredit"]["result"], "success", "{saved}");
    let (status, rest) = anonymous.get("/rest.php/v1/page/Features/html").await;
    assert_eq!(status, 200, "Parsoid through rest.php: {rest}");
    assert!(rest.contains("Saved by VisualEditor"));
    // ConfirmEdit: an anonymous edit that adds a link gets a captcha.
    let anonymous_token = "+\\";
    let spam = anonymous
        .api_post(&[
            ("action", "edit"),
            ("title", "Spam"),
            ("text", "buy http://spam.invalid/"),
            ("token", anonymous_token),
        ])
        .await;
    assert_eq!(spam["edit"]["result"], "Failure", "{spam}");
    assert!(spam["edit"]["captcha"].is_object(), "a captcha is asked: {spam}");

    // Uploads: served from the wiki's address, refused once over the quota (1 MiB here).
    let (status, body) =
        patch(&farm, &admin, "full", json!({"base_revision": 1, "settings": {"upload_quota_mb": 1}})).await;
    assert_eq!(status, 200, "{body}");
    let first = noise_png(400); // about 480 KB
    let done = wiki.upload("First.png", first.clone()).await;
    assert_eq!(done["upload"]["result"], "Success", "{done}");
    let url = done["upload"]["imageinfo"]["url"].as_str().expect("url").to_owned();
    let path = url.split_once(&format!(":{}", farm.port)).expect("on the wiki's address").1;
    let response = anonymous.http.get(format!("{}{path}", anonymous.base)).send().await.expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), first.as_slice(), "the file as uploaded");
    let refused = wiki.upload("Second.png", noise_png(450)).await; // about 610 KB: 1.09 MB in all
    assert!(refused["error"]["info"].as_str().unwrap_or("").contains("storage quota is full"), "{refused}");
}

/// A change is in MediaWiki when the API answers; the history has old and new values; a
/// rollback restores exactly; a stale write, bad values and a locked wiki change nothing.
#[tokio::test]
async fn settings_change_at_once_keep_their_history_and_roll_back() {
    let farm = Farmd::start().await;
    let owner = farm.token("olga", "member");
    let created = active_wiki(&farm, &owner, "tuned", None).await;
    let wiki = farm.wiki_client("tuned");
    let (status, first) = farm.get_json(&owner, "/api/v1/wikis/tuned/settings").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["revision"], 1);
    assert_eq!(first["applied"], true);

    let change = json!({
        "base_revision": 1,
        "settings": {"sitename": "Tuned Wiki", "timezone": "Europe/Berlin", "licence": "cc0", "skin": "timeless"},
        "extensions": {"Poem": false},
    });
    let (status, second) = patch(&farm, &owner, "tuned", change).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["revision"], 2);
    let info = siteinfo(&wiki).await;
    let general = &info["query"]["general"];
    assert_eq!(general["sitename"], "Tuned Wiki", "visible as soon as the API answered");
    assert_eq!(general["timezone"], "Europe/Berlin");
    assert_eq!(info["query"]["rightsinfo"]["text"], "Creative Commons Zero (public domain)");
    assert_eq!(default_skin(&info), "timeless");
    let loaded: Vec<&str> =
        info["query"]["extensions"].as_array().expect("list").iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(!loaded.contains(&"Poem") && loaded.contains(&"Cite"), "{loaded:?}");

    // A stale write: 409, nothing changes.
    let shard = farm.wiki_dir("tuned").join("LocalSettings.php");
    let before = std::fs::read_to_string(&shard).expect("shard");
    let (status, body) =
        patch(&farm, &owner, "tuned", json!({"base_revision": 1, "settings": {"sitename": "Late"}})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    // Bad input of every kind: a 4xx in the one shape, and nothing changes.
    let bad: &[(Value, u16, &str)] = &[
        (json!({"base_revision": 2, "settings": {"colour": "red"}}), 422, "setting_unknown"),
        (json!({"base_revision": 2, "settings": {"private": "yes"}}), 422, "setting_type"),
        (json!({"base_revision": 2, "settings": {"timezone": "Mars/Olympus"}}), 422, "setting_out_of_range"),
        (json!({"base_revision": 2, "settings": {"upload_quota_mb": 99999}}), 403, "forbidden"),
        (json!({"base_revision": 2, "settings": {"email": true}}), 403, "email_unavailable"),
        (json!({"base_revision": 2, "extensions": {"NoSuchThing": true}}), 422, "component_unknown"),
        (json!({"base_revision": 2, "extensions": {"WikiEditor": false}}), 422, "component_requires"),
        (json!({"base_revision": 2, "skins": {"Timeless": false}}), 422, "skin_disabled"),
        (json!({"base_revision": 2}), 422, "change_empty"),
        (json!({"base_revision": 2, "settings": {"sitename": ""}}), 422, "sitename_empty"),
        (json!({"base_revision": "two"}), 422, "invalid_body"),
    ];
    for (body, status, code) in bad {
        let (got, answer) = patch(&farm, &owner, "tuned", body.clone()).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (*status, Some(*code)), "{body}: {answer}");
    }
    let (_, catalogue) = farm.get_json(&owner, "/api/v1/extensions").await;
    if let Some(unavailable) =
        catalogue["extensions"].as_array().expect("list").iter().find(|e| e["available"] == false)
    {
        let id = unavailable["id"].as_str().expect("id");
        assert!(unavailable["unavailable_reason"].as_str().is_some_and(|r| !r.is_empty()));
        let (status, answer) =
            patch(&farm, &owner, "tuned", json!({"base_revision": 2, "extensions": {id: true}})).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("component_unavailable")), "{answer}");
    }
    // Logos: not an image, too large, an SVG with a script.
    let svg_script = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    for (bytes, code) in [
        (b"<html>not an image</html>".to_vec(), "image_type"),
        (svg_script, "image_svg_active"),
        ([b"\x89PNG\r\n\x1a\n".to_vec(), vec![0; 1024 * 1024]].concat(), "image_too_large"),
    ] {
        let (status, answer) = put_image(&farm, &owner, "tuned", "logo", bytes).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some(code)), "{answer}");
    }
    assert_eq!(std::fs::read_to_string(&shard).expect("shard"), before, "no bad request wrote the shard");
    assert!(!farm.wiki_dir("tuned").join("assets").exists(), "no bad image was stored");
    let (_, now) = farm.get_json(&owner, "/api/v1/wikis/tuned/settings").await;
    assert_eq!(now["revision"], 2, "no bad request made a revision");
    // Others: a member sees nothing, a reviewer may not.
    let (status, _) = farm.get_json(&farm.token("mel", "member"), "/api/v1/wikis/tuned/settings").await;
    assert_eq!(status, 404);
    let (status, _) = farm.get_json(&farm.token("rex", "reviewer"), "/api/v1/wikis/tuned/settings").await;
    assert_eq!(status, 403);

    // A logo: stored, served from the wiki's address, on its pages.
    let png = noise_png(40);
    let (status, third) = put_image(&farm, &owner, "tuned", "logo", png.clone()).await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["revision"], 3);
    let file = third["settings"]["logo"].as_str().expect("logo file").to_owned();
    let (_, page) = wiki.get("/index.php?title=Main_Page").await;
    assert!(page.contains(&format!("/farm-assets/{file}")), "the logo is on the page");
    let response = wiki.http.get(format!("{}/farm-assets/{file}", wiki.base)).send().await.expect("logo");
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), png.as_slice());

    // History, newest first, with values; paging.
    let (status, history) = farm.get_json(&owner, "/api/v1/wikis/tuned/settings/history?limit=2").await;
    assert_eq!(status, 200, "{history}");
    let revisions = history["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.iter().map(|r| r["revision"].as_i64().unwrap_or(0)).collect::<Vec<_>>(), [3, 2]);
    let changes = revisions[1]["changes"].as_array().expect("changes");
    let sitename = changes.iter().find(|c| c["setting"] == "sitename").expect("sitename changed");
    assert_eq!((&sitename["old"], &sitename["new"]), (&json!("Wiki tuned"), &json!("Tuned Wiki")));
    assert_eq!(revisions[1]["disabled"], json!(["Poem"]));
    assert_eq!(revisions[1]["actor"], "olga");
    let (_, older) =
        farm.get_json(&owner, &format!("/api/v1/wikis/tuned/settings/history?before={}", history["next_before"])).await;
    assert_eq!(older["revisions"][0]["revision"], 1);
    assert!(older.get("next_before").is_none());

    // Rollback to revision 1: exactly its values, as revision 4.
    let (status, restored) = post(&farm, &owner, "/api/v1/wikis/tuned/settings/rollback", json!({"revision": 1})).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["revision"], 4);
    for key in ["settings", "extensions", "skins"] {
        assert_eq!(restored[key], first[key], "{key} restored exactly");
    }
    let general = &siteinfo(&wiki).await["query"]["general"];
    assert_eq!((general["sitename"].as_str(), general["timezone"].as_str()), (Some("Wiki tuned"), Some("UTC")));
    // A revision this wiki does not have (another wiki's numbering goes further).
    let other = active_wiki(&farm, &owner, "other", None).await;
    let _ = other;
    let (status, answer) = post(&farm, &owner, "/api/v1/wikis/other/settings/rollback", json!({"revision": 3})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("revision_unknown")), "{answer}");
    // Every change is in the audit log with its values.
    let (_, audit) = farm.get_json(&farm.token("ada", "admin"), "/api/v1/audit?target=wiki:tuned").await;
    let details: Vec<&str> =
        audit["entries"].as_array().expect("entries").iter().filter_map(|e| e["details"].as_str()).collect();
    assert!(details.iter().any(|d| d.contains("sitename: \"Wiki tuned\" -> \"Tuned Wiki\"")), "{details:?}");
    assert!(details.iter().any(|d| d.contains("restores revision 1")), "{details:?}");
    // The language changes only while the wiki has its starting pages.
    let (status, body) =
        patch(&farm, &owner, "other", json!({"base_revision": 1, "settings": {"language": "de"}})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(siteinfo(&farm.wiki_client("other")).await["query"]["general"]["lang"], "de");
    let edited = logged_in(&farm, "tuned", &created).await;
    assert_eq!(edited.edit("Content", "real content").await["edit"]["result"], "Success");
    let (status, body) =
        patch(&farm, &owner, "tuned", json!({"base_revision": 4, "settings": {"language": "de"}})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("language_locked")), "{body}");
}

/// Settings change only on an active wiki.
#[tokio::test]
async fn a_wiki_that_is_provisioning_locked_or_deleted_keeps_its_settings() {
    let farm = Farmd::start_with(&[
        ("FARM_POLICY", "sandbox"),
        ("FARM_SANDBOX__LIFETIME", "2s"),
        ("FARM_LIFECYCLE_INTERVAL", "1s"),
    ])
    .await;
    let owner = farm.token("sam", "member");
    let (status, created) = farm.create_wiki(&owner, json!({"name": "brief", "sitename": "Brief"})).await;
    assert_eq!(status, 202, "{created}");
    let (status, body) =
        patch(&farm, &owner, "brief", json!({"base_revision": 1, "settings": {"sitename": "No"}})).await;
    assert!(status == 409 || status == 200, "provisioning (409) or already active: {body}");
    // The sandbox expires: the wiki is locked (read-only).
    farm.wait_for_state(&owner, "brief", &["locked"]).await;
    let (status, body) =
        patch(&farm, &owner, "brief", json!({"base_revision": 1, "settings": {"sitename": "No"}})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    farm.delete(&owner, "/api/v1/wikis/brief").await;
    farm.wait_for_state(&owner, "brief", &["deleted"]).await;
    let (status, _) = patch(&farm, &owner, "brief", json!({"base_revision": 1, "settings": {"sitename": "No"}})).await;
    assert_eq!(status, 409);
}

/// A private wiki answers anonymous visitors at no entry point, serves its owner, and is not
/// in the public directory.
#[tokio::test]
async fn a_private_wiki_refuses_every_anonymous_entry_point_and_serves_its_owner() {
    let farm = Farmd::start().await;
    let owner = farm.token("pia", "member");
    let created = active_wiki(&farm, &owner, "secret", None).await;
    let member = logged_in(&farm, "secret", &created).await;
    assert_eq!(
        member.edit("MediaWiki:Common.css", ".secret-marker { color: red; }").await["edit"]["result"],
        "Success"
    );
    assert_eq!(member.edit("Plans", "SECRET-PAGE").await["edit"]["result"], "Success");
    let done = member.upload("Secret.png", noise_png(20)).await;
    assert_eq!(done["upload"]["result"], "Success", "{done}");
    let (_, home) = farm.http.get(farm.url("/")).send().await.map(|r| (r.status(), r)).expect("portal");
    let home = home.text().await.expect("home");
    assert!(home.contains("secret.localhost"), "listed while public");

    let (status, body) =
        patch(&farm, &owner, "secret", json!({"base_revision": 1, "settings": {"private": true}})).await;
    assert_eq!(status, 200, "{body}");
    let anonymous = farm.wiki_client("secret");
    // The file's path in the upload area (/images/a/ab/Secret.png when it was public).
    let url = done["upload"]["imageinfo"]["url"].as_str().expect("url");
    let direct = url.split_once(&format!(":{}", farm.port)).expect("url").1.to_owned();
    let through_auth = direct.replacen("/images/", "/img_auth.php/", 1);
    let (_, page) = anonymous.get("/index.php?title=Plans").await;
    assert!(!page.contains("SECRET-PAGE") && page.contains("Special:UserLogin"), "index.php asks to log in");
    let api = anonymous
        .api_get(&[("action", "query"), ("prop", "revisions"), ("titles", "Plans"), ("rvprop", "content")])
        .await;
    assert_eq!(api["error"]["code"], "readapidenied", "{api}");
    let feed = anonymous.api_get(&[("action", "feedrecentchanges")]).await;
    assert_eq!(feed["error"]["code"], "readapidenied", "{feed}");
    for path in [
        "/rest.php/v1/page/Plans",
        "/rest.php/v1/page/Plans/html",
        "/rest.php/v1/search/page?q=SECRET",
        "/load.php?modules=site.styles&only=styles",
        &through_auth,
    ] {
        let (status, body) = anonymous.get(path).await;
        assert!(status == 403 || status == 401, "{path}: {status}");
        assert!(!body.contains("SECRET") && !body.contains("secret-marker"), "{path} leaks: {body}");
    }
    let (_, search) = anonymous.get("/index.php?title=Special:Search&search=SECRET&fulltext=1").await;
    assert!(!search.contains("SECRET-PAGE") && !search.contains("Plans"), "search finds nothing");
    let (status, _) = anonymous.get(&direct).await;
    assert_eq!(status, 404, "{direct} is not served on a private wiki");
    // The owner reads everything, files through img_auth.php.
    let (_, page) = member.get("/index.php?title=Plans").await;
    assert!(page.contains("SECRET-PAGE"));
    let (status, css) = member.get("/load.php?modules=site.styles&only=styles").await;
    assert!(status == 200 && css.contains("secret-marker"), "{status} {css}");
    let (status, _) = member.get(&through_auth).await;
    assert_eq!(status, 200, "{through_auth}");
    let home = farm.http.get(farm.url("/")).send().await.expect("portal").text().await.expect("home");
    assert!(!home.contains("secret.localhost"), "the public directory leaves private wikis out");
    // People the owner grants the reader group read; other accounts of the wiki do not.
    for (user, groups) in [("Rita", "reader"), ("Bob", "")] {
        let mut args = vec!["--wiki", "secret", user, "Reader-Password-123"];
        if !groups.is_empty() {
            args.splice(2..2, ["--custom-groups", groups]);
        }
        let output = farm.maintenance("createAndPromote.php", &args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
        let client = farm.wiki_client("secret");
        assert_eq!(client.login(user, "Reader-Password-123").await["clientlogin"]["status"], "PASS");
        let (_, page) = client.get("/index.php?title=Plans").await;
        assert_eq!(
            page.contains("SECRET-PAGE"),
            !groups.is_empty(),
            "{user} reads the private wiki: {}",
            !groups.is_empty()
        );
    }
}

/// AbuseFilter's tables in one wiki's database.
enum WikiDb {
    Sqlite(std::path::PathBuf),
    Mariadb(String),
}

const ABUSE_FILTER_TABLES: [&str; 4] =
    ["abuse_filter", "abuse_filter_action", "abuse_filter_log", "abuse_filter_history"];

impl WikiDb {
    fn of(farm: &Farmd, name: &str, backend: &str) -> Self {
        let key = farm.wiki_dir(name).file_name().expect("key").to_string_lossy().into_owned();
        match backend {
            "mariadb" => WikiDb::Mariadb(format!("wiki_{key}")),
            _ => WikiDb::Sqlite(farm.wiki_dir(name).join("db").join(format!("{key}.sqlite"))),
        }
    }

    fn sqlite(db: &std::path::Path, code: &str) -> String {
        let php = format!("$d = new PDO('sqlite:{}'); {code}", db.display());
        let out = std::process::Command::new("php").args(["-r", &php]).output().expect("php");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn abuse_filter_tables(&self) -> usize {
        match self {
            WikiDb::Sqlite(db) => Self::sqlite(
                db,
                "foreach ($d->query(\"SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'abuse_filter%'\") as $r) echo $r[0], PHP_EOL;",
            )
            .lines()
            .count(),
            WikiDb::Mariadb(db) => common::local_mariadb(&format!(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' AND table_name LIKE 'abuse_filter%'"
            ))
            .lines()
            .count(),
        }
    }

    fn drop_abuse_filter_tables(&self) {
        for table in ABUSE_FILTER_TABLES {
            match self {
                WikiDb::Sqlite(db) => {
                    Self::sqlite(db, &format!("$d->exec('DROP TABLE {table}');"));
                }
                WikiDb::Mariadb(db) => {
                    common::local_mariadb(&format!("DROP TABLE `{db}`.`{table}`"));
                }
            }
        }
    }
}

/// Edits the farm's (SQLite) control store while the farm is stopped.
fn control_store_sql(farm: &Farmd, sql: &str) {
    WikiDb::sqlite(&farm.data_dir.join("control.sqlite"), &format!("$d->exec(\"{sql}\");"));
}

#[tokio::test]
async fn enabling_an_extension_creates_its_tables_first_even_across_a_kill_sqlite() {
    enabling_an_extension_creates_its_tables_first_even_across_a_kill("sqlite").await;
}

#[tokio::test]
async fn enabling_an_extension_creates_its_tables_first_even_across_a_kill_mariadb() {
    enabling_an_extension_creates_its_tables_first_even_across_a_kill("mariadb").await;
}

/// A wiki whose database lacks AbuseFilter's tables (made before the farm carried them) gets
/// them when the extension is enabled, before MediaWiki loads it; a kill -9 in the middle
/// leaves the change either complete or not applied, and trying again completes it.
async fn enabling_an_extension_creates_its_tables_first_even_across_a_kill(backend: &str) {
    let mut farm = Farmd::start_on(ControlStore::Sqlite, MARIADB_WIKIS).await;
    let owner = farm.token("abe", "admin");
    active_wiki(&farm, &owner, "legacy", Some(backend)).await;
    let (status, body) =
        patch(&farm, &owner, "legacy", json!({"base_revision": 1, "extensions": {"AbuseFilter": false}})).await;
    assert_eq!(status, 200, "{body}");
    // Make it a wiki from before: no AbuseFilter tables, and the registry knows it.
    let db = WikiDb::of(&farm, "legacy", backend);
    assert_eq!(db.abuse_filter_tables(), 4, "the template carries AbuseFilter's tables");
    db.drop_abuse_filter_tables();
    assert_eq!(db.abuse_filter_tables(), 0);
    farm.terminate();
    control_store_sql(&farm, "UPDATE wikis SET schema_extensions = '[]' WHERE label = 'legacy'");
    farm.spawn();
    farm.wait_healthy().await;

    // Enable it and kill farmd while update.php creates the tables.
    let request = {
        let (http, url, owner) = (farm.http.clone(), farm.url("/api/v1/wikis/legacy/settings"), owner.clone());
        tokio::spawn(async move {
            http.patch(url)
                .bearer_auth(owner)
                .json(&json!({"base_revision": 2, "extensions": {"AbuseFilter": true}}))
                .send()
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !common::processes_mentioning("update.php").iter().any(|(_, c)| c.contains("legacy")) {
        assert!(Instant::now() < deadline, "update.php never ran: {}", farm.log());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    farm.kill9();
    let _ = request.await;
    farm.spawn();
    farm.wait_healthy().await;
    let wiki = farm.wiki_client("legacy");
    let (_, settings) = farm.get_json(&owner, "/api/v1/wikis/legacy/settings").await;
    let loaded = |info: &Value| -> bool {
        info["query"]["extensions"].as_array().expect("list").iter().any(|e| e["name"] == "Abuse Filter")
    };
    let enabled = settings["extensions"].as_array().expect("list").iter().any(|e| e == "AbuseFilter");
    // Either the change completed (enabled, tables there) or it is not applied at all.
    assert_eq!(loaded(&siteinfo(&wiki).await), enabled, "MediaWiki loads exactly what the settings say");
    if enabled {
        assert_eq!(db.abuse_filter_tables(), 4);
    } else {
        let base = settings["revision"].clone();
        let (status, body) =
            patch(&farm, &owner, "legacy", json!({"base_revision": base, "extensions": {"AbuseFilter": true}})).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(db.abuse_filter_tables(), 4, "AbuseFilter's tables exist");
    assert!(loaded(&siteinfo(&wiki).await));
    let (status, page) = wiki.get("/index.php?title=Special:AbuseFilter").await;
    assert_eq!(status, 200);
    assert!(page.contains("abusefilter"), "Special:AbuseFilter answers");
}

/// A kill between committing a revision and writing the shard: the next start writes it.
#[tokio::test]
async fn a_revision_committed_but_not_written_is_applied_at_the_next_start() {
    let mut farm = Farmd::start().await;
    let owner = farm.token("hal", "member");
    active_wiki(&farm, &owner, "healed", None).await;
    let shard = farm.wiki_dir("healed").join("LocalSettings.php");
    let first = std::fs::read(&shard).expect("shard");
    let (status, body) =
        patch(&farm, &owner, "healed", json!({"base_revision": 1, "settings": {"sitename": "Healed"}})).await;
    assert_eq!(status, 200, "{body}");
    farm.kill9();
    // As if the kill came before the shard write: the old shard, the registry not applied.
    std::fs::write(&shard, first).expect("old shard");
    control_store_sql(&farm, "UPDATE wikis SET applied_revision = 1 WHERE label = 'healed'");
    farm.spawn();
    farm.wait_healthy().await;
    let wiki = farm.wiki_client("healed");
    common::wait_until("the shard healed", Duration::from_secs(30), || async {
        let info = siteinfo(&wiki).await;
        match info["query"]["general"]["sitename"].as_str() {
            Some("Healed") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let (_, settings) = farm.get_json(&owner, "/api/v1/wikis/healed/settings").await;
    assert_eq!((settings["revision"].as_i64(), settings["applied"].as_bool()), (Some(2), Some(true)), "{settings}");
}

/// With the farm's mail server configured, an owner turns on the wiki's email, and MediaWiki
/// sends through that server (a password reset mail reaches the SMTP server on loopback).
#[tokio::test]
async fn wiki_email_goes_through_the_farms_mail_server() {
    let smtp = common::smtp::SmtpServer::start().await;
    let config = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Wiki farm <farm@example.org>\"\n",
        smtp.port
    );
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    let owner = farm.token("eve", "member");
    let created = active_wiki(&farm, &owner, "letters", None).await;
    let user = created["owner_credentials"]["username"].as_str().expect("user").to_owned();
    let reset = |wiki: WikiClient| async move {
        wiki.api_post(&[("action", "resetpassword"), ("user", "Eve"), ("token", "+\\")]).await
    };
    let output =
        farm.maintenance("resetUserEmail.php", &["--wiki", "letters", "--no-reset-password", &user, "eve@example.org"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
    // Email off (the default): MediaWiki refuses to send.
    let off = reset(farm.wiki_client("letters")).await;
    assert!(off.get("error").is_some(), "no mail while email is off: {off}");
    let (status, body) =
        patch(&farm, &owner, "letters", json!({"base_revision": 1, "settings": {"email": true}})).await;
    assert_eq!(status, 200, "{body}");
    let on = reset(farm.wiki_client("letters")).await;
    assert_eq!(on["resetpassword"]["status"], "success", "{on}");
    let mail = smtp.wait_for("eve@example.org", "Account details on Wiki letters").await;
    assert!(mail.body.contains("Eve"), "{}", mail.body);
}

/// A farm upgraded from before settings existed: its wikis get revision 1 (the farm's
/// defaults, their own name and language), the tables of the default extensions, and a shard
/// of the new kind at the next start.
#[tokio::test]
async fn wikis_made_before_settings_existed_get_their_first_revision_at_start() {
    let mut farm = Farmd::start().await;
    let owner = farm.token("ola", "member");
    active_wiki(&farm, &owner, "veteran", None).await;
    let db = WikiDb::of(&farm, "veteran", "sqlite");
    farm.terminate();
    // As an older farmd left it: no revisions, no extension tables, a shard of the old kind.
    db.drop_abuse_filter_tables();
    control_store_sql(
        &farm,
        "UPDATE wikis SET settings_revision = 0, applied_revision = 0, schema_extensions = '[]' WHERE label = 'veteran'; \
         DELETE FROM wiki_settings",
    );
    let shard = farm.wiki_dir("veteran").join("LocalSettings.php");
    let text = std::fs::read_to_string(&shard).expect("shard");
    let database = &text[text.find("$wgDBtype").expect("database part")..];
    std::fs::write(
        &shard,
        format!("<?php\nif ( !defined( 'MEDIAWIKI' ) ) {{\n\texit;\n}}\n$wgSitename = 'Wiki veteran';\n$wgMetaNamespace = 'Wiki_veteran';\n$wgLanguageCode = 'en';\n{database}"),
    )
    .expect("old shard");
    farm.spawn();
    farm.wait_healthy().await;
    let wiki = farm.wiki_client("veteran");
    common::wait_until("the first revision applied", Duration::from_secs(60), || async {
        let (_, settings) = farm.get_json(&owner, "/api/v1/wikis/veteran/settings").await;
        if settings["revision"] == 1 && settings["applied"] == true {
            Ok(())
        } else {
            Err(settings.to_string())
        }
    })
    .await;
    assert_eq!(db.abuse_filter_tables(), 4, "the default extensions' tables were made");
    let info = siteinfo(&wiki).await;
    let loaded: Vec<&str> =
        info["query"]["extensions"].as_array().expect("list").iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(loaded.contains(&"Abuse Filter") && loaded.contains(&"VisualEditor"), "{loaded:?}");
    assert_eq!(info["query"]["general"]["sitename"], "Wiki veteran");
    let (_, history) = farm.get_json(&owner, "/api/v1/wikis/veteran/settings/history").await;
    assert_eq!(history["revisions"][0]["actor"], "system");
}
