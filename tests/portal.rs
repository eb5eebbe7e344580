//! The portal in a real browser: headless Chromium (Debian's), driven by `playwright-core` from
//! the scripts in `tests/browser/`, against the real daemon, with a real SMTP server on
//! loopback receiving the farm's mail. Screenshots land in `target/portal-screenshots/`.
//! Needs `deploy/install-deps.sh --test` (Chromium, Node and `npm ci` in `tests/browser/`).

use crate::common;

use std::time::Duration;

use common::browser::{require_browser, try_scenario};
use common::smtp::SmtpServer;
use common::{csrf_of, ControlStore, Farmd};

const PASSWORD: &str = "correct horse battery";
const REVIEWER: &str = "rev";
const ADMIN: &str = "root";
const FARM_NAME: &str = "Wiki farm";

/// A farm with mail to a local SMTP server, a reviewer and an admin account (confirmed, with
/// passwords), and no quota or creation rate limit for members.
struct Portal {
    farm: Farmd,
    smtp: SmtpServer,
    /// Held to the end, after the farm is dropped: see [`ONE_AT_A_TIME`].
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One scenario at a time: each runs a farm, its PHP servers and a Chromium, and the machines
/// have two cores; in parallel, the 30-second step timeouts would measure the machine's load.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Portal {
    async fn start(policy: &str) -> Self {
        require_browser();
        let turn = ONE_AT_A_TIME.lock().await;
        let smtp = SmtpServer::start().await;
        let config = format!(
            "policy = \"{policy}\"\nfarm_name = \"{FARM_NAME}\"\n\
             [quotas]\nmax_wikis_per_account = 1000000\n\
             [rate_limits]\ncreate_per_source = {{ count = 0, per = \"1h\" }}\n\
             create_per_account = {{ count = 0, per = \"1h\" }}\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"Wiki farm <farm@example.org>\"\n",
            smtp.port
        );
        let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&config));
        farm.spawn();
        farm.wait_healthy().await;
        assert!(farm.create_account(REVIEWER, "reviewer", Some(PASSWORD)));
        assert!(farm.create_account(ADMIN, "admin", Some(PASSWORD)));
        Self { farm, smtp, _turn: turn }
    }

    /// What every scenario is told (see tests/browser/README.md).
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            // `localhost`, not 127.0.0.1: the links in mail and the wikis' addresses use it, and
            // the portal's cookie must be the one those pages see.
            ("BASE_URL", format!("http://localhost:{}", self.farm.port)),
            ("MAILDIR", self.smtp.maildir().display().to_string()),
            ("FARM_NAME", FARM_NAME.to_owned()),
            ("REVIEWER_LOGIN", REVIEWER.to_owned()),
            ("REVIEWER_PASSWORD", PASSWORD.to_owned()),
            ("ADMIN_LOGIN", ADMIN.to_owned()),
            ("ADMIN_PASSWORD", PASSWORD.to_owned()),
        ]
    }

    /// Runs `tests/browser/SCRIPT`; on failure the panic holds its output and farmd's log.
    fn run(&self, script: &str) {
        if let Err(failure) = try_scenario(script, &self.env()) {
            let log = strip_ansi(&self.farm.log());
            let lines: Vec<&str> = log.lines().filter(|l| !l.contains("uri=/healthz")).collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            panic!("{failure}\n--- farmd log, last lines:\n{tail}");
        }
    }
}

/// The log without terminal colours.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn smoke_chromium_opens_the_portal_and_mail_links() {
    Portal::start("open").await.run("smoke.mjs");
}

#[tokio::test]

async fn sign_up_confirm_log_in_create_a_wiki_and_open_it() {
    Portal::start("open").await.run("signup-create.mjs");
}

#[tokio::test]

async fn review_mode_request_answer_and_approve() {
    Portal::start("review").await.run("review.mjs");
}

#[tokio::test]

async fn invalid_names_are_explained_live_and_on_submit() {
    Portal::start("open").await.run("invalid-names.mjs");
}

#[tokio::test]

async fn everything_works_without_javascript() {
    Portal::start("open").await.run("no-js.mjs");
}

/// The import form in the browser: the upload's progress, an error shown in place, then a
/// MediaWiki XML dump imported into a new wiki (see `tests/browser/import.mjs`).
#[tokio::test]
async fn the_import_form_shows_the_upload_progress_and_imports_a_dump_in_the_browser() {
    Portal::start("open").await.run("import.mjs");
}

/// The settings page in the browser (with and without JavaScript): one change of site name and
/// extension, a logo upload with its preview, a stale form, the history and a restore; the
/// wiki's own API agrees, and so does the farm's.
#[tokio::test]
async fn the_owner_changes_settings_uploads_a_logo_and_restores_the_first_revision() {
    let portal = Portal::start("open").await;
    portal.run("settings.mjs");

    let farm = &portal.farm;
    let owner = farm.token("sam", "member");
    let (status, history) = farm.get_json(&owner, "/api/v1/wikis/sam-settings/settings/history").await;
    assert_eq!(status, 200, "{history}");
    let revisions = history["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 5, "{history}");
    assert_eq!(revisions[0]["restored_from"], 1, "{history}");
    assert_eq!(revisions[0]["settings"]["sitename"], "Sam settings", "{history}");
    let changed = &revisions[3]["changes"];
    assert!(
        changed.as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["setting"] == "sitename" && c["old"] == "Sam settings" && c["new"] == "Sam & Co's \"notes\"")),
        "{history}"
    );
    assert_eq!(revisions[3]["disabled"], serde_json::json!(["Poem"]), "{history}");
    let siteinfo = farm.wiki_client("sam-settings").api_get(&[("action", "query"), ("meta", "siteinfo")]).await;
    assert_eq!(siteinfo["query"]["general"]["sitename"], "Sam settings", "{siteinfo}");

    // Over plain HTTP: the page's policy adds the wiki's own origin for images and nothing
    // else; its three forms refuse a request without the session's token and change nothing;
    // nobody but the owner (and admins) sees the page.
    let settings = "/wikis/sam-settings/settings";
    let anonymous = portal_client();
    let response = anonymous.get(farm.url(settings)).send().await.expect("anonymous");
    assert_eq!(response.status(), 303, "to the login page");
    let owner_browser = logged_in(farm, "sam").await;
    let response = owner_browser.get(farm.url(settings)).send().await.expect("settings page");
    assert_eq!(response.status(), 200);
    let csp = response.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let wiki_origin = format!("http://sam-settings.localhost:{}", farm.port);
    assert!(csp.contains(&format!("img-src 'self' data: {wiki_origin};")), "{csp}");
    assert!(csp.contains("script-src 'self';") && csp.contains("connect-src 'self';"), "{csp}");
    // minijinja escapes `/` too.
    let page = response.text().await.expect("page").replace("&#x2f;", "/");
    assert!(page.contains(&format!("src=\"{wiki_origin}/farm-assets/farm-logo.svg\"")), "the farm's logo");
    for token in ["", "00000000000000000000000000000000"] {
        let form = [("csrf", token), ("base_revision", "5"), ("sitename", "Forged"), ("language", "en")];
        let response = owner_browser.post(farm.url(settings)).form(&form).send().await.expect("forged change");
        assert_eq!(response.status(), 403);
        let form = [("csrf", token), ("revision", "2")];
        let response =
            owner_browser.post(farm.url(&format!("{settings}/rollback"))).form(&form).send().await.expect("rollback");
        assert_eq!(response.status(), 403);
        let boundary = "farmtestboundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"x.svg\"\r\n\
             Content-Type: image/svg+xml\r\n\r\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>\r\n--{boundary}--\r\n"
        );
        let response = owner_browser
            .post(farm.url("/wikis/sam-settings/logo"))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .expect("forged logo");
        assert_eq!(response.status(), 403);
    }
    let (_, after) = farm.get_json(&owner, "/api/v1/wikis/sam-settings/settings").await;
    assert_eq!(after["revision"], 5, "nothing changed: {after}");
    // Another member does not learn that the wiki exists; a reviewer sees the wiki, not its settings.
    assert!(farm.create_account("nosy", "member", Some(PASSWORD)));
    let other = logged_in(farm, "nosy").await;
    let response = other.get(farm.url(settings)).send().await.expect("another member");
    assert_eq!(response.status(), 404);
    let reviewer = logged_in(farm, REVIEWER).await;
    let response = reviewer.get(farm.url(settings)).send().await.expect("a reviewer");
    assert_eq!(response.status(), 403);
    let wiki_page = reviewer.get(farm.url("/wikis/sam-settings")).send().await.expect("wiki page");
    assert_eq!(wiki_page.status(), 200);
    assert!(!wiki_page.text().await.expect("page").contains("wiki-settings"), "no settings link for a reviewer");
}

/// A client that keeps cookies and shows redirects, as the portal's tests over HTTP use.
fn portal_client() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// A client logged in to the portal as `username` (password [`PASSWORD`]).
async fn logged_in(farm: &Farmd, username: &str) -> reqwest::Client {
    common::portal_login(farm, username, PASSWORD).await
}

/// Security of the portal's forms and pages, checked over plain HTTP (no browser needed): every
/// form refuses a request without the visitor's CSRF token and changes nothing; every page has
/// the content security policy; user text is escaped.
#[tokio::test]
async fn forms_need_the_csrf_token_pages_have_a_csp_and_user_text_is_escaped() {
    let smtp = SmtpServer::start().await;
    let config = format!(
        "policy = \"review\"\n[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"F <f@example.org>\"\n",
        smtp.port
    );
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("mel", "member", Some(PASSWORD)));
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");

    let home = browser.get(farm.url("/")).send().await.expect("home");
    let csp = home.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(home.headers().get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
    let page = browser.get(farm.url("/signup")).send().await.expect("signup").text().await.expect("page");
    let csrf = csrf_of(&page);

    // Without the token (or with another one), sign-up and login change nothing.
    for token in ["", "00000000000000000000000000000000"] {
        let form = [("csrf", token), ("username", "eve"), ("email", "eve@example.org"), ("password", PASSWORD)];
        let response = browser.post(farm.url("/signup")).form(&form).send().await.expect("signup");
        assert_eq!(response.status(), 403);
        let form = [("csrf", token), ("login", "mel"), ("password", PASSWORD)];
        let response = browser.post(farm.url("/login")).form(&form).send().await.expect("login");
        assert_eq!(response.status(), 403);
        assert!(response.headers().get("set-cookie").is_none(), "no session without the token");
    }
    let admin = farm.token("root", "admin");
    let (_, accounts) = farm.get_json(&admin, "/api/v1/accounts").await;
    assert!(!accounts.to_string().contains("eve"), "{accounts}");

    // With it, login works; a request's text with markup comes back escaped.
    let login = [("csrf", csrf.as_str()), ("login", "mel"), ("password", PASSWORD), ("next", "/wikis")];
    let response = browser.post(farm.url("/login")).form(&login).send().await.expect("login");
    assert_eq!(response.status(), 303);
    let cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    // Forms are bound to the session now: the token from before the login no longer works.
    let stale = [("csrf", csrf.as_str()), ("name", "mel-stale"), ("sitename", "Stale"), ("language", "en")];
    let response = browser.post(farm.url("/wikis/new")).form(&stale).send().await.expect("stale token");
    assert_eq!(response.status(), 403);
    let page = browser.get(farm.url("/wikis/new")).send().await.expect("create form").text().await.expect("page");
    let csrf = csrf_of(&page);
    let request = [
        ("csrf", csrf.as_str()),
        ("name", "mel-wiki"),
        ("sitename", "Mel"),
        ("language", "en"),
        ("purpose", "<script>alert(1)</script>"),
        ("reason", "\"quoted\" & <b>bold</b>"),
    ];
    let response = browser.post(farm.url("/wikis/new")).form(&request).send().await.expect("request");
    assert_eq!(response.status(), 303);
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let page = browser.get(farm.url(&location)).send().await.expect("request page").text().await.expect("html");
    // minijinja escapes `/` too (`&#x2f;`).
    assert!(page.contains("&lt;script&gt;alert(1)&lt;"), "escaped purpose");
    assert!(!page.contains("<script>alert(1)"), "no raw markup from users");
    assert!(page.contains("&lt;b&gt;bold&lt;") && page.contains("&quot;quoted&quot; &amp;"));
    // A logged-in form without the token is refused too, and the request stays pending.
    let withdraw = browser.post(format!("{}/withdraw", farm.url(&location))).form(&[("csrf", "")]).send().await;
    assert_eq!(withdraw.expect("withdraw").status(), 403);
    let (_, listed) = farm.get_json(&admin, "/api/v1/wiki-requests").await;
    assert_eq!(listed["requests"][0]["state"], "pending", "{listed}");
}

/// The attack of the outside review, in the browser: a member's wiki whose `MediaWiki:Common.js`
/// tosses cookies for the parent domain and posts the portal's create, delete and login forms
/// for whoever opens it. On a base domain that is not `localhost` (Chromium maps it to
/// loopback), where such cookies work.
#[tokio::test]
async fn a_wiki_that_tosses_cookies_and_posts_the_portals_forms_changes_nothing_for_its_visitor() {
    require_browser();
    let _turn = ONE_AT_A_TIME.lock().await;
    let domain = "farm.example.test";
    let config = format!(
        "base_domain = \"{domain}\"\n[quotas]\nmax_wikis_per_account = 1000000\n\
         [rate_limits]\ncreate_per_source = {{ count = 0, per = \"1h\" }}\ncreate_per_account = {{ count = 0, per = \"1h\" }}\n"
    );
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("vera", "member", Some(PASSWORD)));
    assert!(farm.create_account("mallory", "member", Some(PASSWORD)));
    let (vera, mallory) = (farm.token("vera", "member"), farm.token("mallory", "member"));
    farm.create_wiki(&vera, serde_json::json!({"name": "precious", "sitename": "Precious"})).await;
    farm.create_wiki(&mallory, serde_json::json!({"name": "evil", "sitename": "Innocent looking"})).await;
    farm.wait_for_state(&vera, "precious", &["active"]).await;
    farm.wait_for_state(&mallory, "evil", &["active"]).await;
    let portal = format!("http://{domain}:{}", farm.port);

    // The tokens the attacker gets for himself: a pre-session with its login token, and those
    // of his own logged-in session.
    let http = reqwest::Client::builder()
        .resolve(domain, farm.addr())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login_page = http.get(format!("{portal}/login")).send().await.expect("login page");
    let presession = login_page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("farm_presession=")?.split(';').next().map(str::to_owned))
        .expect("a pre-session cookie");
    let anonymous_csrf = csrf_of(&login_page.text().await.expect("page"));
    let form = [("csrf", anonymous_csrf.as_str()), ("login", "mallory"), ("password", PASSWORD)];
    let logged_in = http.post(format!("{portal}/login")).header("origin", &portal).form(&form).send().await;
    assert_eq!(logged_in.expect("login").status(), 303);
    let own_page = http.get(format!("{portal}/wikis/new")).send().await.expect("page").text().await.expect("html");
    let session_csrf = csrf_of(&own_page);

    // His wiki's site script, saved as its owner (an interface administrator there).
    let script = include_str!("browser/cookie-tossing-common.js")
        .replace("__PORTAL__", &portal)
        .replace("__DOMAIN__", domain)
        .replace("__PRESESSION__", &presession)
        .replace("__TOKENS__", &format!("'{}', '{anonymous_csrf}', '{session_csrf}'", "a".repeat(32)))
        .replace("__VICTIM_WIKI__", "precious")
        .replace("__PASSWORD__", PASSWORD);
    let wiki = farm.client_for_host(&format!("evil.{domain}"));
    let login = wiki.login("Mallory", PASSWORD).await;
    assert_eq!(login["clientlogin"]["status"], "PASS", "{login}");
    let edit = wiki.edit("MediaWiki:Common.js", &script).await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");

    let env = vec![
        ("BASE_URL", portal.clone()),
        ("HOST_RESOLVER_RULES", format!("MAP {domain} 127.0.0.1, MAP *.{domain} 127.0.0.1")),
        ("VICTIM_LOGIN", "vera".to_owned()),
        ("VICTIM_WIKI", "precious".to_owned()),
        ("EVIL_WIKI_URL", format!("http://evil.{domain}:{}/", farm.port)),
    ];
    if let Err(failure) = try_scenario("cookie-tossing.mjs", &env) {
        let log = farm.log();
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("uri=\"/healthz\"")).collect();
        panic!("{failure}\n--- farmd log, last lines:\n{}", lines[lines.len().saturating_sub(40)..].join("\n"));
    }

    // Seen from the API as well: vera's wikis are hers alone, and the attacker got nothing.
    let admin = farm.token("root", "admin");
    let (_, all) = farm.get_json(&admin, "/api/v1/wikis?limit=500").await;
    let wikis: Vec<(String, String, String)> = all["wikis"]
        .as_array()
        .expect("wikis")
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap_or("").into(),
                w["owner"].as_str().unwrap_or("").into(),
                w["state"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert!(!wikis.iter().any(|(name, _, _)| name == "stolen-wiki"), "{wikis:?}");
    assert!(wikis.contains(&("precious".into(), "vera".into(), "active".into())), "{wikis:?}");
    let (status, second) = farm.get_json(&vera, "/api/v1/wikis/her-second").await;
    assert_eq!(status, 200, "{second}");
    assert!(["deleting", "deleted"].contains(&second["state"].as_str().unwrap_or("")), "her own delete: {second}");
}

/// The trash, through the portal's forms over plain HTTP: the owner deletes an active wiki, its
/// page says until when it can be restored and offers the undelete form (and only an admin the
/// purge), the wiki's address no longer serves; undeleting brings it back, served again. Neither
/// form does anything without the session's CSRF token, and only an admin purges.
#[tokio::test]
async fn a_deleted_wiki_waits_in_the_trash_and_its_owner_undeletes_it_through_the_portal() {
    // The harness empties the trash at once unless told otherwise.
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[("FARM_DELETED_RETENTION", "1day")], None);
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("tess", "member", Some(PASSWORD)));
    assert!(farm.create_account(ADMIN, "admin", Some(PASSWORD)));
    let token = farm.token("tess", "member");
    let name = "tess-trash";
    let page_path = format!("/wikis/{name}");
    let browser = logged_in(&farm, "tess").await;
    let page_of = |client: &reqwest::Client, path: String| {
        let request = client.get(farm.url(&path));
        async move {
            let response = request.send().await.expect("page");
            assert_eq!(response.status(), 200, "{path}");
            // minijinja escapes `/` too.
            response.text().await.expect("html").replace("&#x2f;", "/")
        }
    };
    let main_page = "/index.php?title=Main_Page";

    // Created through the portal's form; once active it serves, and the page offers the delete.
    let page = page_of(&browser, "/wikis/new".into()).await;
    let form =
        [("csrf", csrf_of(&page)), ("name", name.into()), ("sitename", "Tess".into()), ("language", "en".into())];
    let response = browser.post(farm.url("/wikis/new")).form(&form).send().await.expect("create");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers().get("location").and_then(|v| v.to_str().ok()), Some(page_path.as_str()));
    farm.wait_for_state(&token, name, &["active"]).await;
    let (status, _) = farm.wiki_client(name).get(main_page).await;
    assert_eq!(status, 200, "served while active");
    let page = page_of(&browser, page_path.clone()).await;
    assert!(page.contains("id=\"delete-form\"") && page.contains("goes to the trash"), "{page}");
    assert!(!page.contains("trash-notice") && page.contains("id=\"wiki-settings\""), "{page}");

    // Deleted through the form: to the trash, with a date; no longer served.
    let form = [("csrf", csrf_of(&page)), ("confirm", "yes".into())];
    let response = browser.post(farm.url(&format!("{page_path}/delete"))).form(&form).send().await.expect("delete");
    assert_eq!(response.status(), 303);
    let (_, wiki) = farm.get_json(&token, &format!("/api/v1/wikis/{name}")).await;
    assert_eq!(wiki["state"], "trashed", "{wiki}");
    let until = wiki["restorable_until"].as_str().expect("restorable_until").to_owned();
    // `2026-01-31T12:00:00Z` as the portal writes times: `2026-01-31 12:00 UTC`.
    let shown_until = format!("{} {} UTC", &until[..10], &until[11..16]);
    let page = page_of(&browser, page_path.clone()).await;
    assert!(page.contains(&format!("Deleted. It can be restored until {shown_until}.")), "{shown_until}: {page}");
    assert!(page.contains(&format!("action=\"{page_path}/undelete\"")), "{page}");
    assert!(page.contains("deleted, can be restored"), "the badge: {page}");
    assert!(!page.contains("id=\"delete-form\"") && !page.contains("wiki-settings"), "{page}");
    assert!(!page.contains("purge-form"), "only admins purge: {page}");
    let (status, body) = farm.wiki_client(name).get(main_page).await;
    assert_eq!(status, 404, "not served from the trash: {body}");
    let mine = page_of(&browser, "/wikis".into()).await;
    assert!(mine.contains(&format!("data-wiki=\"{name}\"")) && mine.contains("state-trashed"), "{mine}");
    let csrf = csrf_of(&page);

    // Without the session's token, neither undelete nor purge does anything; nor does a member's purge.
    for token in ["", "00000000000000000000000000000000"] {
        let response = browser
            .post(farm.url(&format!("{page_path}/undelete")))
            .form(&[("csrf", token)])
            .send()
            .await
            .expect("forged undelete");
        assert_eq!(response.status(), 403);
    }
    let response = browser
        .post(farm.url(&format!("{page_path}/purge")))
        .form(&[("csrf", csrf.as_str()), ("confirm", "yes")])
        .send()
        .await
        .expect("a member's purge");
    assert_eq!(response.status(), 403);
    let admin = logged_in(&farm, ADMIN).await;
    let admin_page = page_of(&admin, page_path.clone()).await;
    assert!(admin_page.contains("id=\"purge-form\"") && admin_page.contains("Purge now"), "{admin_page}");
    let form = [("csrf", csrf_of(&admin_page)), ("confirm", "yes".into())];
    let response = admin.post(farm.url(&format!("{page_path}/purge"))).form(&form[..1]).send().await.expect("purge");
    assert_eq!(response.status(), 303, "unconfirmed: back to the page");
    let response =
        admin.post(farm.url(&format!("{page_path}/purge"))).form(&[("csrf", "")]).send().await.expect("forged purge");
    assert_eq!(response.status(), 403);
    let (_, wiki) = farm.get_json(&token, &format!("/api/v1/wikis/{name}")).await;
    assert_eq!(wiki["state"], "trashed", "nothing changed: {wiki}");
    let (status, _) = farm.wiki_client(name).get(main_page).await;
    assert_eq!(status, 404);

    // Undeleted through the form: back to the page with the notice, active and served again.
    let response = browser
        .post(farm.url(&format!("{page_path}/undelete")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("undelete");
    assert_eq!(response.status(), 303);
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(location, format!("{page_path}?undeleted=1"));
    let page = page_of(&browser, location).await;
    assert!(page.contains("id=\"wiki-notice\"") && page.contains("the wiki is served again"), "{page}");
    assert!(page.contains("data-state=\"active\"") && !page.contains("trash-notice"), "{page}");
    assert!(page.contains("id=\"delete-form\"") && page.contains("id=\"wiki-settings\""), "{page}");
    let (status, body) = farm.wiki_client(name).get(main_page).await;
    assert_eq!(status, 200, "served again: {body}");

    // Undeleting again is refused on the wiki page, in the portal's words.
    let response = browser
        .post(farm.url(&format!("{page_path}/undelete")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("second undelete");
    assert_eq!(response.status(), 409);
    let page = response.text().await.expect("html");
    assert!(page.contains("data-code=\"conflict\"") && page.contains("can no longer be restored"), "{page}");
    assert!(page.contains("data-state=\"active\""), "{page}");
}

/// Renaming and handing over, through the portal's forms over plain HTTP: the owner renames an
/// active wiki (its page and its address move; the old address answers 301), offers it to
/// another account (the page shows the offer, which can be cancelled), and that account accepts
/// it on "My wikis": the wiki is its own, and the first account no longer sees it. No form
/// does anything without the session's CSRF token; bad input is explained next to its field.
#[tokio::test]
async fn the_owner_renames_a_wiki_and_hands_it_over_and_the_recipient_accepts_through_the_portal() {
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], None);
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("hana", "member", Some(PASSWORD)));
    assert!(farm.create_account("ivo", "member", Some(PASSWORD)));
    let token = farm.token("hana", "member");
    let (old, new) = ("hana-first", "hana-second");
    let (old_path, new_path) = (format!("/wikis/{old}"), format!("/wikis/{new}"));
    let page_of = |client: &reqwest::Client, path: String| {
        let request = client.get(farm.url(&path));
        async move {
            let response = request.send().await.expect("page");
            assert_eq!(response.status(), 200, "{path}");
            // minijinja escapes `/` too.
            response.text().await.expect("html").replace("&#x2f;", "/")
        }
    };
    let location = |response: &reqwest::Response| {
        response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    };
    let main_page = "/index.php?title=Main_Page";
    let hana = logged_in(&farm, "hana").await;
    let page = page_of(&hana, "/wikis/new".into()).await;
    let form = [("csrf", csrf_of(&page)), ("name", old.into()), ("sitename", "Hana".into()), ("language", "en".into())];
    let response = hana.post(farm.url("/wikis/new")).form(&form).send().await.expect("create");
    assert_eq!(response.status(), 303);
    farm.wait_for_state(&token, old, &["active"]).await;
    let page = page_of(&hana, old_path.clone()).await;
    assert!(page.contains(&format!("action=\"{old_path}/rename\"")), "{page}");
    assert!(page.contains(&format!("action=\"{old_path}/transfer\"")), "{page}");
    let csrf = csrf_of(&page);

    // Without the token nothing changes; a bad name is explained next to the field, kept there.
    for bad in ["", "00000000000000000000000000000000"] {
        let form = [("csrf", bad), ("new_name", new)];
        let response = hana.post(farm.url(&format!("{old_path}/rename"))).form(&form).send().await.expect("forged");
        assert_eq!(response.status(), 403);
        let form = [("csrf", bad), ("to", "ivo")];
        let response = hana.post(farm.url(&format!("{old_path}/transfer"))).form(&form).send().await.expect("forged");
        assert_eq!(response.status(), 403);
    }
    let (status, wiki) = farm.get_json(&token, &format!("/api/v1/wikis/{old}")).await;
    assert_eq!((status, wiki["owner"].as_str()), (200, Some("hana")), "nothing changed: {wiki}");
    let form = [("csrf", csrf.as_str()), ("new_name", "www")];
    let response = hana.post(farm.url(&format!("{old_path}/rename"))).form(&form).send().await.expect("bad name");
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("html");
    assert!(page.contains("id=\"new_name-error\" data-code=\"name_reserved\""), "{page}");
    assert!(page.contains("reserved by the farm") && page.contains("value=\"www\""), "{page}");

    // Renamed through the form: the page moves, with the notice; the wiki serves at its new
    // address and the old one redirects there.
    let form = [("csrf", csrf.as_str()), ("new_name", new)];
    let response = hana.post(farm.url(&format!("{old_path}/rename"))).form(&form).send().await.expect("rename");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{new_path}?renamed=1"));
    let page = page_of(&hana, location(&response)).await;
    assert!(page.contains("id=\"wiki-notice\"") && page.contains("old address redirects here for a while"), "{page}");
    assert!(page.contains(&format!("data-wiki=\"{new}\"")) && page.contains("data-state=\"active\""), "{page}");
    let (status, body) = farm.wiki_client(new).get(main_page).await;
    assert_eq!(status, 200, "served at the new address: {body}");
    let (status, _) = farm.wiki_client(old).get(main_page).await;
    assert_eq!(status, 301, "the old address redirects");
    let response = hana.get(farm.url(&old_path)).send().await.expect("old page");
    assert_eq!(response.status(), 404, "the portal page moved");

    // Offered to nobody, then to ivo; the page shows the offer with a cancel button.
    let form = [("csrf", csrf.as_str()), ("to", "nobody-here")];
    let response = hana.post(farm.url(&format!("{new_path}/transfer"))).form(&form).send().await.expect("offer");
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("html");
    assert!(page.contains("data-code=\"recipient_unknown\"") && page.contains("No account has that user name"));
    let offer = |to: &'static str| {
        let request =
            hana.post(farm.url(&format!("{new_path}/transfer"))).form(&[("csrf", csrf.clone()), ("to", to.into())]);
        async move { request.send().await.expect("offer") }
    };
    let response = offer("ivo").await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{new_path}?offered=1"));
    let page = page_of(&hana, location(&response)).await;
    assert!(page.contains("Offered to ivo; it is theirs when they accept."), "{page}");
    assert!(page.contains("id=\"transfer-pending\"") && page.contains("Cancel offer"), "{page}");
    let id = page.split("action=\"/transfers/").nth(1).and_then(|r| r.split('/').next()).expect("id").to_owned();
    let cancel = format!("/transfers/{id}/cancel");
    let response = hana.post(farm.url(&cancel)).form(&[("csrf", "")]).send().await.expect("forged cancel");
    assert_eq!(response.status(), 403);
    let response = hana.post(farm.url(&cancel)).form(&[("csrf", csrf.as_str())]).send().await.expect("cancel");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), format!("{new_path}?cancelled=1"));
    let page = page_of(&hana, location(&response)).await;
    assert!(page.contains("Offer cancelled") && !page.contains("id=\"transfer-pending\""), "{page}");
    let response = offer("ivo").await;
    assert_eq!(response.status(), 303);

    // ivo sees the offer on "My wikis"; a forged accept does nothing; the real one makes the
    // wiki his: listed, its page his to manage, and hana no longer sees it.
    let ivo = logged_in(&farm, "ivo").await;
    let mine = page_of(&ivo, "/wikis".into()).await;
    assert!(mine.contains("id=\"offers\"") && mine.contains("Offers to you"), "{mine}");
    assert!(mine.contains(&format!("data-wiki=\"{new}\"")) && mine.contains("<td>hana</td>"), "{mine}");
    assert!(!mine.contains("id=\"my-wikis\""), "not his yet: {mine}");
    let accept = mine
        .split("action=\"/transfers/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|r| format!("/transfers/{r}"))
        .expect("accept form");
    assert!(accept.ends_with("/accept") && mine.contains(&accept.replace("/accept", "/decline")), "{mine}");
    let response = ivo.post(farm.url(&accept)).form(&[("csrf", "")]).send().await.expect("forged accept");
    assert_eq!(response.status(), 403);
    let (_, wiki) = farm.get_json(&token, &format!("/api/v1/wikis/{new}")).await;
    assert_eq!(wiki["owner"], "hana", "nothing changed: {wiki}");
    let response = ivo.post(farm.url(&accept)).form(&[("csrf", csrf_of(&mine))]).send().await.expect("accept");
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/wikis?accepted=1");
    let mine = page_of(&ivo, location(&response)).await;
    assert!(mine.contains("id=\"wikis-notice\"") && mine.contains("the wiki is yours now"), "{mine}");
    assert!(mine.contains(&format!("<tr data-wiki=\"{new}\">")) && !mine.contains("id=\"offers\""), "{mine}");
    let page = page_of(&ivo, new_path.clone()).await;
    assert!(page.contains("<dd>ivo</dd>") && page.contains("id=\"rename-form\""), "his to manage: {page}");
    let response = hana.get(farm.url(&new_path)).send().await.expect("hana's view");
    assert_eq!(response.status(), 404, "no longer hers");
    let (status, _) = farm.wiki_client(new).get(main_page).await;
    assert_eq!(status, 200, "still served");
}

/// Exporting a wiki through the portal over plain HTTP: the owner presses "Export this wiki" on
/// its page and lands on the export's page, which reloads itself (no script needed) while the
/// archive is made and then offers the download: a `.tar.gz` streamed as an attachment. Another
/// account learns nothing of the export; the button does nothing without the session's token.
#[tokio::test]
async fn the_owner_exports_a_wiki_through_the_portal_and_downloads_the_archive() {
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], None);
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("kim", "member", Some(PASSWORD)));
    assert!(farm.create_account("nosy", "member", Some(PASSWORD)));
    let token = farm.token("kim", "member");
    let name = "kim-export";
    let page_path = format!("/wikis/{name}");
    let page_of = |client: &reqwest::Client, path: String| {
        let request = client.get(farm.url(&path));
        async move {
            let response = request.send().await.expect("page");
            assert_eq!(response.status(), 200, "{path}");
            // minijinja escapes `/` too.
            response.text().await.expect("html").replace("&#x2f;", "/")
        }
    };
    let kim = logged_in(&farm, "kim").await;
    let page = page_of(&kim, "/wikis/new".into()).await;
    let form = [("csrf", csrf_of(&page)), ("name", name.into()), ("sitename", "Kim".into()), ("language", "en".into())];
    let response = kim.post(farm.url("/wikis/new")).form(&form).send().await.expect("create");
    assert_eq!(response.status(), 303);
    farm.wait_for_state(&token, name, &["active"]).await;

    // The wiki page offers the export; pressing it leads to the export's page, with the notice.
    let page = page_of(&kim, page_path.clone()).await;
    assert!(page.contains(&format!("action=\"{page_path}/export\"")) && page.contains("Export this wiki"), "{page}");
    let csrf = csrf_of(&page);
    let response = kim
        .post(farm.url(&format!("{page_path}/export")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), 303);
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let id: i64 = location
        .strip_prefix("/exports/")
        .and_then(|rest| rest.strip_suffix("?requested=1"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the export's page: {location}"));
    let page = page_of(&kim, location.clone()).await;
    assert!(page.contains("id=\"export-notice\"") && page.contains("updates itself"), "{page}");
    assert!(page.contains(&format!("href=\"{page_path}\"")), "back to the wiki: {page}");

    // While not done the page reloads itself; once done it offers the download, without reloading.
    let export_path = format!("/exports/{id}");
    let page = common::wait_until("the download link", Duration::from_secs(120), || async {
        let page = page_of(&kim, export_path.clone()).await;
        if page.contains("id=\"export-download\"") {
            return Ok(page);
        }
        assert!(!page.contains("data-state=\"failed\""), "the export failed: {page}");
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"2\">"), "reloads while under way: {page}");
        assert!(page.contains("id=\"export-progress\""), "{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        Err(page)
    })
    .await;
    assert!(page.contains(&format!("href=\"/exports/{id}/download\"")), "{page}");
    assert!(page.contains("data-state=\"done\"") && page.contains(">ready<"), "{page}");
    assert!(page.contains("Downloadable until") && page.contains("id=\"export-size\""), "{page}");
    assert!(!page.contains("http-equiv=\"refresh\""), "no more reloading: {page}");
    let (_, api) = farm.get_json(&token, &format!("/api/v1/exports/{id}")).await;
    assert_eq!(api["state"], "done", "{api}");

    // The download streams the archive as an attachment.
    let response = kim.get(farm.url(&format!("/exports/{id}/download"))).send().await.expect("download");
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(header("content-type"), "application/gzip");
    let disposition = header("content-disposition");
    assert!(disposition.starts_with("attachment") && disposition.contains(".tar.gz"), "{disposition}");
    let archive = response.bytes().await.expect("archive");
    assert!(archive.len() > 2 && archive[..2] == [0x1f, 0x8b], "a gzip file of {} bytes", archive.len());
    assert_eq!(i64::try_from(archive.len()).ok(), api["bytes"].as_i64(), "the whole archive");

    // Another account: neither the page nor the download, as if there were no such export.
    let nosy = logged_in(&farm, "nosy").await;
    for path in [export_path.clone(), format!("{export_path}/download")] {
        let response = nosy.get(farm.url(&path)).send().await.expect("another account");
        assert_eq!(response.status(), 404, "{path}");
    }
    // Logged out: the login page first.
    let response = portal_client().get(farm.url(&format!("{export_path}/download"))).send().await.expect("anonymous");
    assert_eq!(response.status(), 303);

    // Without the session's token the button does nothing: no new export.
    for bad in ["", "00000000000000000000000000000000"] {
        let response =
            kim.post(farm.url(&format!("{page_path}/export"))).form(&[("csrf", bad)]).send().await.expect("forged");
        assert_eq!(response.status(), 403);
    }
    let response = kim.get(farm.url(&format!("/exports/{}", id + 1))).send().await.expect("next export");
    assert_eq!(response.status(), 404, "no export was made");
}

/// A `multipart/form-data` body of text fields and one file (`archive`), as a browser sends the
/// import form: the fields in order, the file last.
fn import_form_body(fields: &[(&str, &str)], filename: &str, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "farmimportboundary7MA4YWxk";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Importing a wiki through the portal over plain HTTP: the create page and "My wikis" link the
/// import form (multipart, with the token); the owner uploads a MediaWiki XML dump, lands on
/// the new wiki's page, and once active the wiki serves the imported page. A file that is no
/// archive, or one past the farm's limit, gets the form back with the error and the typed values
/// and makes no wiki; without the session's token nothing happens; no upload stays on disk.
#[tokio::test]
async fn the_owner_imports_a_wiki_from_an_xml_dump_through_the_portal() {
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some("import_max_bytes = 8192\n"));
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("ivy", "member", Some(PASSWORD)));
    let token = farm.token("ivy", "member");
    let ivy = logged_in(&farm, "ivy").await;
    let page_of = |path: &str| {
        let request = ivy.get(farm.url(path));
        let path = path.to_owned();
        async move {
            let response = request.send().await.expect("page");
            assert_eq!(response.status(), 200, "{path}");
            // minijinja escapes `/` too.
            response.text().await.expect("html").replace("&#x2f;", "/")
        }
    };
    for path in ["/wikis/new", "/wikis"] {
        assert!(page_of(path).await.contains("href=\"/wikis/import\""), "{path} links the import");
    }
    let form_page = page_of("/wikis/import").await;
    assert!(form_page.contains("action=\"/wikis/import\"") && form_page.contains("multipart/form-data"), "{form_page}");
    assert!(form_page.contains("Special:Export") && form_page.contains("type=\"file\" name=\"archive\""));
    let csrf = csrf_of(&form_page);
    let post = |fields: Vec<(&'static str, String)>, filename: &'static str, file: Vec<u8>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (content_type, body) = import_form_body(&fields, filename, &file);
        let request = ivy.post(farm.url("/wikis/import")).header("content-type", content_type).body(body);
        async move { request.send().await.expect("import form") }
    };
    let fields = |csrf: &str, name: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", name.to_owned()),
            ("sitename", format!("Imported {name}")),
            ("language", String::new()),
        ]
    };

    // The dump goes up with the form: to the wiki's page, which follows the import.
    let name = "ivy-import";
    let dump = "<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.11/\" version=\"0.11\" xml:lang=\"en\">\
        <page><title>Hello</title><ns>0</ns><id>1</id><revision><id>1</id><timestamp>2020-01-01T00:00:00Z</timestamp>\
        <contributor><username>Writer</username><id>7</id></contributor><model>wikitext</model>\
        <format>text/x-wiki</format><text xml:space=\"preserve\">Imported text</text></revision></page></mediawiki>";
    let response = post(fields(&csrf, name), "dump.xml", dump.as_bytes().to_vec()).await;
    assert_eq!(response.status(), 303);
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(location, format!("/wikis/{name}"));
    let page = page_of(&location).await;
    assert!(page.contains(&format!("Imported {name}")), "{page}");
    farm.wait_for_state(&token, name, &["active"]).await;
    let (status, html) = farm.wiki_client(name).get("/index.php?title=Hello").await;
    assert_eq!(status, 200);
    assert!(html.contains("Imported text"), "{html}");

    // Not an archive: the form again, with the error next to the file and what was typed.
    let response = post(fields(&csrf, "ivy-notes"), "notes.txt", b"just some notes, no wiki in here".to_vec()).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.expect("page");
    assert!(page.contains("id=\"archive-error\" data-code=\"archive_invalid\""), "{page}");
    assert!(page.contains("value=\"ivy-notes\"") && page.contains("value=\"Imported ivy-notes\""), "{page}");
    assert!(!page.contains("just some notes"), "the file is never echoed: {page}");
    // Past the farm's limit: refused as too large while it comes in.
    let response = post(fields(&csrf, "ivy-huge"), "huge.xml", vec![b'x'; 20_000]).await;
    assert_eq!(response.status(), 413);
    let page = response.text().await.expect("page");
    assert!(page.contains("data-code=\"archive_too_large\"") && page.contains("value=\"ivy-huge\""), "{page}");

    // Without the session's token nothing happens.
    for bad in ["", "00000000000000000000000000000000"] {
        let response = post(fields(bad, "ivy-forged"), "dump.xml", dump.as_bytes().to_vec()).await;
        assert_eq!(response.status(), 403);
    }
    for refused in ["ivy-notes", "ivy-huge", "ivy-forged"] {
        let (status, body) = farm.get_json(&token, &format!("/api/v1/wikis/{refused}")).await;
        assert_eq!(status, 404, "no wiki {refused}: {body}");
    }
    assert!(farm.entries("imports").is_empty(), "no upload stays: {:?}", farm.entries("imports"));
}

/// The create form offers every starter with its description and preview picture, the default
/// chosen; the one picked is the wiki's, and an unknown one is explained on the form.
#[tokio::test]
async fn the_create_form_offers_the_starters_with_pictures_and_creates_with_the_chosen_one() {
    let farm = Farmd::start().await;
    assert!(farm.create_account("cleo", "member", Some(PASSWORD)));
    let token = farm.token("cleo", "member");
    let cleo = logged_in(&farm, "cleo").await;
    let page = cleo.get(farm.url("/wikis/new")).send().await.expect("form").text().await.expect("html");
    let page = page.replace("&#x2f;", "/");
    for id in ["blank", "community", "course", "docs"] {
        assert!(page.contains(&format!("value=\"{id}\"")), "{id} is offered:\n{page}");
        assert!(page.contains(&format!("src=\"/api/v1/starters/{id}/preview\"")), "with its picture:\n{page}");
    }
    assert!(page.contains("Documentation or knowledge base") && page.contains("a FAQ"), "described:\n{page}");
    assert!(page.contains("value=\"blank\" checked"), "the default is chosen:\n{page}");
    // The picture the form shows is served to the portal's visitor.
    let picture = cleo.get(farm.url("/api/v1/starters/docs/preview")).send().await.expect("picture");
    assert_eq!(
        (picture.status().as_u16(), picture.headers()["content-type"].to_str().ok()),
        (200, Some("image/svg+xml"))
    );

    let create = |name: &str, sitename: &str, starter: &str| {
        let form = [
            ("csrf", csrf_of(&page)),
            ("name", name.to_owned()),
            ("sitename", sitename.to_owned()),
            ("language", "en".to_owned()),
            ("starter", starter.to_owned()),
        ];
        cleo.post(farm.url("/wikis/new")).form(&form).send()
    };
    let response = create("cleo-docs", "Cleo's docs", "docs").await.expect("create");
    assert_eq!(response.status(), 303);
    let view = farm.wait_for_state(&token, "cleo-docs", &["active"]).await;
    assert_eq!(view["starter"], "docs");
    let (status, faq) = farm.wiki_client("cleo-docs").get("/index.php?title=FAQ").await;
    assert_eq!(status, 200);
    assert!(faq.contains("Where do I start?"), "{faq}");

    let response = create("cleo-odd", "Odd", "nope").await.expect("create");
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("Choose one of the starters in the list."), "{html}");
    let (status, _) = farm.get_json(&token, "/api/v1/wikis/cleo-odd").await;
    assert_eq!(status, 404, "nothing was made");
}
