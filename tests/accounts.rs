//! Accounts, farm policy, quotas, rate limits, audit log and mail, over HTTP against the real
//! daemon, with a real SMTP server on loopback receiving the mail.

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::smtp::SmtpServer;
use common::{ControlStore, Farmd};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

fn config(policy: &str, smtp_port: u16, extra: &str) -> String {
    format!(
        "policy = \"{policy}\"\nlifecycle_interval = \"1s\"\n{extra}\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nfrom = \"Wiki farm <farm@example.org>\"\n"
    )
}

async fn start(policy: &str, smtp_port: u16, extra: &str) -> Farmd {
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &[], Some(&config(policy, smtp_port, extra)));
    farm.spawn();
    farm.wait_healthy().await;
    farm
}

/// A client whose requests come from 127.0.0.`last` (every 127/8 address is loopback).
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

async fn call(
    http: &reqwest::Client,
    farm: &Farmd,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method.parse().expect("method"), farm.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(farm: &Farmd, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    call(&farm.http, farm, "POST", path, token, Some(body)).await
}

async fn get(farm: &Farmd, path: &str, token: Option<&str>) -> (u16, Value) {
    call(&farm.http, farm, "GET", path, token, None).await
}

fn email_of(username: &str) -> String {
    format!("{}@example.org", username.to_lowercase())
}

/// Signs up, follows the link in the confirmation mail, logs in: an API token.
async fn member(farm: &Farmd, smtp: &SmtpServer, username: &str) -> String {
    let (status, body) = post(
        farm,
        "/api/v1/accounts",
        None,
        json!({"username": username, "email": email_of(username), "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mail = smtp.wait_for(&email_of(username), "Confirm your email").await;
    let link = SmtpServer::link_path(&mail, &format!("{}/confirm-email", farm_public_url(farm)));
    let path = link.trim_start_matches(&farm_public_url(farm)).to_owned();
    let response = farm.http.get(farm.url(&path)).send().await.expect("follow the link");
    assert_eq!(response.status(), 200, "{path}");
    log_in(farm, username).await
}

fn farm_public_url(farm: &Farmd) -> String {
    format!("http://localhost:{}", farm.port)
}

async fn log_in(farm: &Farmd, login: &str) -> String {
    let (status, body) = post(farm, "/api/v1/tokens", None, json!({"login": login, "password": PASSWORD})).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

async fn wait_state(farm: &Farmd, token: &str, name: &str, states: &[&str]) -> Value {
    farm.wait_for_state(token, name, states).await
}

async fn audit(farm: &Farmd, admin: &str, query: &str) -> Vec<Value> {
    let (status, body) = get(farm, &format!("/api/v1/audit?{query}"), Some(admin)).await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn sign_up_confirm_create_in_open_mode_and_the_wiki_is_served() {
    let smtp = SmtpServer::start().await;
    let farm = start("open", smtp.port, "").await;

    // Before confirming, the account can log in but not create.
    let (status, _) = post(
        &farm,
        "/api/v1/accounts",
        None,
        json!({"username": "ada", "email": "ada@example.org", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201);
    let unconfirmed = log_in(&farm, "ada").await;
    let (status, body) = farm.create_wiki(&unconfirmed, json!({"name": "too-early", "sitename": "Early"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("email_unconfirmed")), "{body}");

    // Follow the link in the mail.
    let mail = smtp.wait_for("ada@example.org", "Confirm your email").await;
    let token = SmtpServer::link_param(&mail, "token");
    let response =
        farm.http.get(farm.url(&format!("/confirm-email?token={token}"))).send().await.expect("follow the link");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("page").contains("confirmed"));
    let (_, me) = get(&farm, "/api/v1/account", Some(&unconfirmed)).await;
    assert_eq!(me["email_confirmed"], true, "{me}");
    // The link works once.
    let again = farm.http.get(farm.url(&format!("/confirm-email?token={token}"))).send().await.expect("again");
    assert_eq!(again.status(), 400);

    let (status, body) = farm.create_wiki(&unconfirmed, json!({"name": "ada-notes", "sitename": "Ada's notes"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["owner_credentials"]["username"], "Ada");
    assert!(body["owner_credentials"].get("password").is_none(), "the farm password is the wiki password: {body}");
    wait_state(&farm, &unconfirmed, "ada-notes", &["active"]).await;

    // Served by MediaWiki; the owner logs in with the farm account's name and password and edits.
    let wiki = farm.wiki_client("ada-notes");
    let (status, page) = wiki.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
    assert!(page.contains("Ada&#039;s notes") || page.contains("Ada's notes"), "sitename in the page");
    let login = wiki.login("Ada", PASSWORD).await;
    assert_eq!(login["clientlogin"]["status"], "PASS", "{login}");
    let groups = wiki.api_get(&[("action", "query"), ("meta", "userinfo"), ("uiprop", "groups")]).await;
    let groups = groups["query"]["userinfo"]["groups"].to_string();
    assert!(groups.contains("sysop") && groups.contains("bureaucrat"), "{groups}");
    let edit = wiki.edit("Hello", "Written by the owner").await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");

    // The owner hears that the wiki is ready, with its address.
    let ready = smtp.wait_for("ada@example.org", "is ready").await;
    assert!(ready.body.contains(&format!("http://ada-notes.localhost:{}/", farm.port)), "{}", ready.body);

    // Logout revokes the token at once; another token of the account still works until revoked.
    let second = log_in(&farm, "ada@example.org").await;
    let (status, _) = call(&farm.http, &farm, "DELETE", "/api/v1/tokens/current", Some(&unconfirmed), None).await;
    assert_eq!(status, 204);
    let (status, body) = get(&farm, "/api/v1/wikis", Some(&unconfirmed)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("token_revoked")));
    let (status, tokens) = get(&farm, "/api/v1/tokens", Some(&second)).await;
    assert_eq!(status, 200);
    let id = tokens["tokens"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(tokens["tokens"].as_array().map(Vec::len), Some(1), "the logged-out session is gone: {tokens}");
    let (status, _) = call(&farm.http, &farm, "DELETE", &format!("/api/v1/tokens/{id}"), Some(&second), None).await;
    assert_eq!(status, 204);
    let (status, _) = get(&farm, "/api/v1/wikis", Some(&second)).await;
    assert_eq!(status, 401);

    // Password reset by mail: the new password works, the old one does not.
    let (status, _) = post(&farm, "/api/v1/password-resets", None, json!({"email": "ada@example.org"})).await;
    assert_eq!(status, 202);
    let (status, _) = post(&farm, "/api/v1/password-resets", None, json!({"email": "nobody@example.org"})).await;
    assert_eq!(status, 202, "the answer does not tell who has an account");
    let mail = smtp.wait_for("ada@example.org", "Reset your password").await;
    let secret = SmtpServer::link_param(&mail, "token");
    let form = farm.http.get(farm.url(&format!("/reset-password?token={secret}"))).send().await.expect("form");
    assert_eq!(form.status(), 200);
    let new_password = "a brand new passphrase";
    let (status, body) =
        post(&farm, "/api/v1/password-resets/confirm", None, json!({"token": secret, "password": new_password})).await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = post(&farm, "/api/v1/tokens", None, json!({"login": "ada", "password": PASSWORD})).await;
    assert_eq!(status, 401);
    let (status, _) = post(&farm, "/api/v1/tokens", None, json!({"login": "ada", "password": new_password})).await;
    assert_eq!(status, 201);
    assert_eq!(smtp.count_to("nobody@example.org"), 0);

    // The audit log has it all, with the source address.
    let admin = farm.token("root", "admin");
    let entries = audit(&farm, &admin, "actor=ada").await;
    let actions: Vec<&str> = entries.iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["account.signup", "account.confirm", "wiki.create", "session.login", "token.revoke"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert!(entries.iter().all(|e| e["source"] == "127.0.0.1"), "{entries:?}");
    let page = audit(&farm, &admin, "actor=ada&limit=2").await;
    assert_eq!(page.len(), 2);
    assert!(page[0]["id"].as_i64() > page[1]["id"].as_i64(), "newest first");
}

#[tokio::test]
async fn review_mode_request_needs_more_info_answer_approve_and_decline() {
    let smtp = SmtpServer::start().await;
    let farm = start("review", smtp.port, "").await;
    let mia = member(&farm, &smtp, "mia").await;
    let reviewer = farm.token("rev", "reviewer");

    // Members cannot create directly here.
    let (status, body) = farm.create_wiki(&mia, json!({"name": "direct", "sitename": "Direct"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("review_required")));

    let request = json!({"name": "mia-class", "sitename": "Mia's class", "purpose": "Class notes",
                         "reason": "Our school needs a wiki"});
    let (status, created) = post(&farm, "/api/v1/wiki-requests", Some(&mia), request.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "pending");
    let id = created["id"].as_i64().expect("id");
    smtp.wait_for("mia@example.org", "was received").await;

    // A second open request for the same name is refused, whoever sends it.
    let other = member(&farm, &smtp, "otto").await;
    let (status, body) = post(&farm, "/api/v1/wiki-requests", Some(&other), request.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("request_exists")), "{body}");

    // The requester edits while pending, the starter too (an unknown one is refused).
    let path = format!("/api/v1/wiki-requests/{id}");
    let (status, body) = call(&farm.http, &farm, "PATCH", &path, Some(&mia), Some(json!({"starter": "nope"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("starter_unknown")), "{body}");
    let change = json!({"purpose": "Class notes for 7B", "starter": "course"});
    let (status, edited) = call(&farm.http, &farm, "PATCH", &path, Some(&mia), Some(change)).await;
    assert_eq!((status, edited["purpose"].as_str()), (200, Some("Class notes for 7B")), "{edited}");
    assert_eq!(edited["starter"], "course");

    // Needs more info → mail → the answer puts it back in the queue.
    let review = format!("/api/v1/wiki-requests/{id}/review");
    let (status, body) =
        post(&farm, &review, Some(&reviewer), json!({"decision": "needs-more-info", "comment": "Which school?"})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("needs-more-info")), "{body}");
    let mail = smtp.wait_for("mia@example.org", "needs more details").await;
    assert!(mail.body.contains("Which school?"));
    let (status, body) =
        post(&farm, &format!("/api/v1/wiki-requests/{id}/comments"), Some(&mia), json!({"comment": "Hill School"}))
            .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("pending")), "{body}");

    // Approve → the wiki is built for the requester and served; "ready" mail.
    let (status, body) = post(&farm, &review, Some(&reviewer), json!({"decision": "approve"})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("approved")), "{body}");
    smtp.wait_for("mia@example.org", "was approved").await;
    let wiki = wait_state(&farm, &mia, "mia-class", &["active"]).await;
    assert_eq!(wiki["owner"], "mia");
    assert_eq!(wiki["starter"], "course", "the approved wiki begins with the starter asked for");
    let client = farm.wiki_client("mia-class");
    assert_eq!(client.get("/index.php?title=Main_Page").await.0, 200);
    assert_eq!(client.get("/index.php?title=Syllabus").await.0, 200);
    assert_eq!(client.login("Mia", PASSWORD).await["clientlogin"]["status"], "PASS");
    let ready = smtp.wait_for("mia@example.org", "is ready").await;
    assert!(ready.body.contains("mia-class.localhost"), "{}", ready.body);

    // The history holds every change and comment, in order.
    let (_, full) = get(&farm, &format!("/api/v1/wiki-requests/{id}"), Some(&mia)).await;
    let actions: Vec<&str> =
        full["history"].as_array().expect("history").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["submitted", "edited", "needs-more-info", "answered", "approved"], "{full}");
    assert_eq!(full["history"][2]["comment"], "Which school?");
    // A decided request cannot be decided again or edited.
    let (status, _) = post(&farm, &review, Some(&reviewer), json!({"decision": "decline", "comment": "no"})).await;
    assert_eq!(status, 409);

    // Decline with a reason; declining without one is refused.
    let (_, second) = post(
        &farm,
        "/api/v1/wiki-requests",
        Some(&other),
        json!({"name": "otto-shop", "sitename": "Shop", "purpose": "Selling", "reason": "Ads"}),
    )
    .await;
    let second_id = second["id"].as_i64().expect("id");
    let decline = format!("/api/v1/wiki-requests/{second_id}/review");
    let (status, body) = post(&farm, &decline, Some(&reviewer), json!({"decision": "decline"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("comment_required")));
    let (status, body) =
        post(&farm, &decline, Some(&reviewer), json!({"decision": "decline", "comment": "No commercial wikis"})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("declined")), "{body}");
    let mail = smtp.wait_for("otto@example.org", "was declined").await;
    assert!(mail.body.contains("No commercial wikis"));
    let (status, _) = farm.get_json(&reviewer, "/api/v1/wikis/otto-shop").await;
    assert_eq!(status, 404, "a declined request makes no wiki");

    // Withdraw; the name is free for a new request afterwards.
    let (_, third) = post(
        &farm,
        "/api/v1/wiki-requests",
        Some(&other),
        json!({"name": "otto-club", "sitename": "Club", "purpose": "Club", "reason": "Members"}),
    )
    .await;
    let third_id = third["id"].as_i64().expect("id");
    let (status, body) =
        post(&farm, &format!("/api/v1/wiki-requests/{third_id}/withdraw"), Some(&other), json!({})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("withdrawn")));
    let (status, _) = post(
        &farm,
        "/api/v1/wiki-requests",
        Some(&other),
        json!({"name": "otto-club", "sitename": "Club", "purpose": "Club", "reason": "Members"}),
    )
    .await;
    assert_eq!(status, 201);

    // Reviewers see the queue; members only their own requests.
    let (_, queue) = get(&farm, "/api/v1/wiki-requests?state=pending", Some(&reviewer)).await;
    assert_eq!(queue["requests"].as_array().map(Vec::len), Some(1), "{queue}");
    let (_, own) = get(&farm, "/api/v1/wiki-requests", Some(&mia)).await;
    assert!(own["requests"].as_array().expect("list").iter().all(|r| r["requester"] == "mia"));
    let (status, _) = get(&farm, &format!("/api/v1/wiki-requests/{second_id}"), Some(&mia)).await;
    assert_eq!(status, 404, "others' requests are not found");
}

#[tokio::test]
async fn sandbox_wikis_warn_lock_and_delete_unless_kept() {
    let smtp = SmtpServer::start().await;
    let extra = "[sandbox]\nlifetime = \"8s\"\nwarnings = [\"5s\"]\nlocked_for = \"5s\"\n";
    let farm = start("sandbox", smtp.port, extra).await;
    let sam = member(&farm, &smtp, "sam").await;
    let reviewer = farm.token("rev", "reviewer");

    for name in ["sam-temp", "sam-keeper"] {
        let (status, body) = farm.create_wiki(&sam, json!({"name": name, "sitename": "Sandbox"})).await;
        assert_eq!(status, 202, "{body}");
        assert!(body["expires_at"].is_string(), "{body}");
    }
    wait_state(&farm, &sam, "sam-temp", &["active"]).await;
    wait_state(&farm, &sam, "sam-keeper", &["active"]).await;
    // Keep one: it stops expiring.
    let (status, kept) = post(&farm, "/api/v1/wikis/sam-keeper/keep", Some(&reviewer), json!({})).await;
    assert_eq!(status, 200, "{kept}");
    assert!(kept.get("expires_at").is_none(), "{kept}");
    let (status, _) = post(&farm, "/api/v1/wikis/sam-keeper/keep", Some(&sam), json!({})).await;
    assert_eq!(status, 403, "members cannot keep their own sandbox");

    let wiki = farm.wiki_client("sam-temp");
    assert_eq!(wiki.login("Sam", PASSWORD).await["clientlogin"]["status"], "PASS");
    smtp.wait_for("sam@example.org", "expires on").await;
    wait_state(&farm, &sam, "sam-temp", &["locked"]).await;
    smtp.wait_for("sam@example.org", "is now read-only").await;
    // Locked = served read-only.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let edit = wiki.edit("Late", "too late").await;
        if edit["error"]["code"] == "readonly" {
            break;
        }
        assert!(Instant::now() < deadline, "a locked wiki still takes edits: {edit}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(wiki.get("/index.php?title=Main_Page").await.0, 200);
    wait_state(&farm, &sam, "sam-temp", &["deleted"]).await;
    smtp.wait_for("sam@example.org", "was deleted").await;

    // The kept wiki outlived the lifetime and still takes edits.
    let keeper = farm.wiki_client("sam-keeper");
    assert_eq!(keeper.login("Sam", PASSWORD).await["clientlogin"]["status"], "PASS");
    assert_eq!(keeper.edit("Still", "here").await["edit"]["result"], "Success");
    let (_, body) = farm.get_json(&sam, "/api/v1/wikis/sam-keeper").await;
    assert_eq!(body["state"], "active");
    assert_eq!(smtp.messages().iter().filter(|m| m.subject.contains("sam-keeper")).count(), 0, "no warning for it");
    let admin = farm.token("root", "admin");
    let system = audit(&farm, &admin, "actor=system&target=wiki:sam-temp").await;
    let actions: Vec<&str> = system.iter().filter_map(|e| e["action"].as_str()).collect();
    // The pipeline's own changes are the system's too: ready at the start, deleted at the end.
    assert_eq!(
        actions,
        ["wiki.deleted", "wiki.delete", "wiki.lock", "wiki.expiry_warning", "wiki.ready"],
        "{system:?}"
    );
}

#[tokio::test]
async fn quotas_rate_limits_and_deny_list() {
    let smtp = SmtpServer::start().await;
    let extra = "deny_name_patterns = [\".*casino.*\"]\n\
                 [quotas]\nmax_wikis_per_account = 2\n\
                 [rate_limits]\nsignup_per_source = { count = 3, per = \"1h\" }\n\
                 login_per_account = { count = 3, per = \"1h\" }\n";
    let farm = start("open", smtp.port, extra).await;
    let qa = member(&farm, &smtp, "qa").await;

    // Quota: two wikis, then a clear refusal.
    for name in ["qa-one", "qa-two"] {
        assert_eq!(farm.create_wiki(&qa, json!({"name": name, "sitename": "Q"})).await.0, 202);
    }
    let (status, body) = farm.create_wiki(&qa, json!({"name": "qa-three", "sitename": "Q"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("quota_exceeded")), "{body}");
    let (status, body) = farm.create_wiki(&qa, json!({"name": "big-casino-wiki", "sitename": "Q"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("name_denied")), "{body}");

    // Failed logins for one account from one source are limited (429 with Retry-After)...
    let flood = client_from(9);
    for _ in 0..3 {
        let (status, _) = call(
            &flood,
            &farm,
            "POST",
            "/api/v1/tokens",
            None,
            Some(json!({"login": "qa", "password": "wrong-wrong"})),
        )
        .await;
        assert_eq!(status, 401);
    }
    let response = flood
        .post(farm.url("/api/v1/tokens"))
        .json(&json!({"login": "qa", "password": PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_some());
    // ...but the flood does not lock the owner out from elsewhere.
    let (status, _) = call(
        &client_from(1),
        &farm,
        "POST",
        "/api/v1/tokens",
        None,
        Some(json!({"login": "qa", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201);

    // Sign-ups per source: the fourth from one address is refused, other addresses go on.
    let spam = client_from(7);
    for i in 0..4 {
        let body =
            json!({"username": format!("spam{i}"), "email": format!("spam{i}@example.org"), "password": PASSWORD});
        let (status, _) = call(&spam, &farm, "POST", "/api/v1/accounts", None, Some(body)).await;
        assert_eq!(status, if i < 3 { 201 } else { 429 }, "sign-up {i}");
    }
    let body = json!({"username": "honest", "email": "honest@example.org", "password": PASSWORD});
    assert_eq!(call(&client_from(8), &farm, "POST", "/api/v1/accounts", None, Some(body)).await.0, 201);
}

#[tokio::test]
async fn authorization_table_every_endpoint_and_role() {
    let smtp = SmtpServer::start().await;
    let farm = start("review", smtp.port, "").await;
    let admin = farm.token("root", "admin");
    let reviewer = farm.token("rev", "reviewer");
    let member_token = member(&farm, &smtp, "mem").await;
    let (status, _) = post(
        &farm,
        "/api/v1/accounts",
        None,
        json!({"username": "newbie", "email": "newbie@example.org", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 201);
    let unconfirmed = log_in(&farm, "newbie").await;
    // A request by the member, for the per-request endpoints.
    let (_, request) = post(
        &farm,
        "/api/v1/wiki-requests",
        Some(&member_token),
        json!({"name": "mem-wiki", "sitename": "M", "purpose": "p", "reason": "r"}),
    )
    .await;
    let id = request["id"].as_i64().expect("id");

    let roles: [(&str, Option<&str>); 5] = [
        ("anonymous", None),
        ("unconfirmed", Some(&unconfirmed)),
        ("member", Some(&member_token)),
        ("reviewer", Some(&reviewer)),
        ("admin", Some(&admin)),
    ];
    // (method, path, body, expected status per role in the order above). Rows run in order, so
    // later rows see earlier effects: the reviewer creates x-wiki (the admin then gets
    // name_taken), the member's request takes req-wiki, the reviewer's decision leaves the
    // request in needs-more-info (the admin's is then a conflict).
    let table: Vec<(&str, String, Option<Value>, [u16; 5])> = vec![
        ("GET", "/api/v1/account".into(), None, [401, 200, 200, 200, 200]),
        ("GET", "/api/v1/accounts".into(), None, [401, 403, 403, 403, 200]),
        ("GET", "/api/v1/audit".into(), None, [401, 403, 403, 403, 200]),
        ("GET", "/api/v1/tokens".into(), None, [401, 200, 200, 200, 200]),
        ("GET", "/api/v1/wikis".into(), None, [401, 200, 200, 200, 200]),
        ("GET", "/api/v1/wikis?owner=mem".into(), None, [401, 403, 403, 200, 200]),
        ("GET", "/api/v1/servers".into(), None, [401, 403, 403, 403, 200]),
        ("GET", "/api/v1/pool".into(), None, [401, 403, 403, 403, 200]),
        ("POST", "/api/v1/wikis".into(), Some(json!({"name": "x-wiki", "sitename": "X"})), [401, 403, 403, 202, 409]),
        ("GET", "/api/v1/wiki-requests".into(), None, [401, 200, 200, 200, 200]),
        ("GET", format!("/api/v1/wiki-requests/{id}"), None, [401, 404, 200, 200, 200]),
        (
            "POST",
            "/api/v1/wiki-requests".into(),
            Some(json!({"name": "req-wiki", "sitename": "R", "purpose": "p", "reason": "r"})),
            [401, 403, 201, 409, 409],
        ),
        (
            "POST",
            format!("/api/v1/wiki-requests/{id}/comments"),
            Some(json!({"comment": "hi"})),
            [401, 404, 200, 200, 200],
        ),
        (
            "POST",
            format!("/api/v1/wiki-requests/{id}/review"),
            Some(json!({"decision": "needs-more-info", "comment": "why?"})),
            [401, 403, 403, 200, 409],
        ),
        ("PATCH", format!("/api/v1/wiki-requests/{id}"), Some(json!({"reason": "rr"})), [401, 404, 200, 403, 403]),
        ("POST", "/api/v1/wikis/x-wiki/keep".into(), Some(json!({})), [401, 403, 403, 200, 200]),
        // The owner deletes theirs; the admin deletes another of the reviewer's (the first may
        // be gone already, which would be a conflict, not a refusal). 0: not asked.
        ("DELETE", "/api/v1/wikis/x-wiki".into(), None, [401, 404, 404, 202, 0]),
        ("DELETE", "/api/v1/wikis/z-wiki".into(), None, [401, 404, 404, 0, 202]),
        ("PATCH", "/api/v1/accounts/mem".into(), Some(json!({"role": "member"})), [401, 403, 403, 403, 200]),
        ("POST", format!("/api/v1/wiki-requests/{id}/withdraw"), Some(json!({})), [401, 404, 200, 403, 403]),
    ];
    let (status, _) = farm.create_wiki(&reviewer, json!({"name": "z-wiki", "sitename": "Z"})).await;
    assert_eq!(status, 202);
    let mut failures = Vec::new();
    for (method, path, body, expected) in &table {
        for ((role, token), want) in roles.iter().zip(expected) {
            if *want == 0 {
                continue;
            }
            let (status, answer) = call(&farm.http, &farm, method, path, *token, body.clone()).await;
            if status != *want {
                failures.push(format!("{method} {path} as {role}: {status} (want {want}) {answer}"));
            }
            if status >= 400 {
                assert!(answer["error"]["code"].is_string(), "{method} {path} as {role}: error shape {answer}");
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn bad_input_on_account_and_request_endpoints_changes_nothing() {
    let smtp = SmtpServer::start().await;
    // Every sign-up attempt counts against the per-source limit; this test makes many.
    let unlimited = "[rate_limits]\nsignup_per_source = { count = 0, per = \"1h\" }\n";
    let farm = start("review", smtp.port, unlimited).await;
    let token = member(&farm, &smtp, "bea").await;
    let admin = farm.token("root", "admin");
    let long = "x".repeat(5000);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/api/v1/accounts",
            json!({"username": "ok-name", "email": "not-an-email", "password": PASSWORD}),
            422,
            "email_invalid",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "1bad", "email": "a@example.org", "password": PASSWORD}),
            422,
            "username_invalid",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "has space", "email": "a@example.org", "password": PASSWORD}),
            422,
            "username_invalid",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "shorty", "email": "a@example.org", "password": "short"}),
            422,
            "password_length",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "longpw", "email": "a@example.org", "password": long}),
            422,
            "password_length",
        ),
        (
            "/api/v1/accounts",
            json!({"username": &long, "email": "a@example.org", "password": PASSWORD}),
            422,
            "username_invalid",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "x", "email": format!("{long}@example.org"), "password": PASSWORD}),
            422,
            "email_invalid",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "bea", "email": "other@example.org", "password": PASSWORD}),
            409,
            "username_taken",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "Bea", "email": "other@example.org", "password": PASSWORD}),
            409,
            "username_taken",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "bee", "email": "BEA@example.org", "password": PASSWORD}),
            409,
            "email_taken",
        ),
        (
            "/api/v1/accounts",
            json!({"username": "extra", "email": "e@example.org", "password": PASSWORD, "role": "admin"}),
            422,
            "invalid_body",
        ),
        ("/api/v1/accounts/confirm", json!({"token": "nothex"}), 422, "link_invalid"),
        ("/api/v1/accounts/confirm", json!({"token": "a".repeat(64)}), 422, "link_invalid"),
        ("/api/v1/password-resets", json!({"email": "nope"}), 422, "email_invalid"),
        (
            "/api/v1/password-resets/confirm",
            json!({"token": "b".repeat(64), "password": PASSWORD}),
            422,
            "link_invalid",
        ),
        ("/api/v1/tokens", json!({"login": "", "password": ""}), 401, "invalid_credentials"),
        ("/api/v1/tokens", json!({"login": &long, "password": PASSWORD}), 401, "invalid_credentials"),
        ("/api/v1/tokens", json!({"login": "bea"}), 422, "invalid_body"),
    ];
    for (path, body, status, code) in &cases {
        let (got, answer) = post(&farm, path, None, body.clone()).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (*status, Some(*code)), "{path} {body}: {answer}");
    }
    let request_cases: Vec<(Value, &str)> = vec![
        (json!({"name": "ok-name", "sitename": "S", "purpose": "", "reason": "r"}), "text_empty"),
        (json!({"name": "ok-name", "sitename": "S", "purpose": &long, "reason": "r"}), "text_too_long"),
        (json!({"name": "ok-name", "sitename": "S", "purpose": "p", "reason": "a\u{0}b"}), "text_control_characters"),
        (json!({"name": "Bad_Name", "sitename": "S", "purpose": "p", "reason": "r"}), "name_invalid_characters"),
        (json!({"name": "www", "sitename": "S", "purpose": "p", "reason": "r"}), "name_reserved"),
        (json!({"name": "ok-name", "sitename": "", "purpose": "p", "reason": "r"}), "sitename_empty"),
        (
            json!({"name": "ok-name", "sitename": "S", "language": "xx-nope", "purpose": "p", "reason": "r"}),
            "language_unknown",
        ),
        (json!({"name": "ok-name", "sitename": "S", "purpose": "p"}), "invalid_body"),
    ];
    for (body, code) in &request_cases {
        let (got, answer) = post(&farm, "/api/v1/wiki-requests", Some(&token), body.clone()).await;
        assert_eq!(answer["error"]["code"].as_str(), Some(*code), "{body}: {got} {answer}");
        assert!((400..500).contains(&got), "{body}: {got}");
    }
    for (path, body) in [
        ("/api/v1/wiki-requests/0/review", json!({"decision": "approve"})),
        ("/api/v1/wiki-requests/abc/comments", json!({"comment": "x"})),
        ("/api/v1/wiki-requests/99999999999999999999/withdraw", json!({})),
    ] {
        let (got, answer) = post(&farm, path, Some(&admin), body).await;
        assert_eq!((got, answer["error"]["code"].as_str()), (404, Some("not_found")), "{path}");
    }
    for query in ["since=yesterday", "cursor=-1", "limit=0", "limit=100000", "bogus=1"] {
        let (got, answer) = get(&farm, &format!("/api/v1/audit?{query}"), Some(&admin)).await;
        assert!((400..500).contains(&got), "{query}: {got} {answer}");
        assert!(answer["error"]["code"].is_string());
    }
    // Nothing changed: one member account (plus root made by the CLI), no requests.
    let (_, accounts) = get(&farm, "/api/v1/accounts", Some(&admin)).await;
    let names: Vec<&str> =
        accounts["accounts"].as_array().expect("list").iter().filter_map(|a| a["username"].as_str()).collect();
    assert_eq!(names, ["bea", "root"], "{accounts}");
    let (_, requests) = get(&farm, "/api/v1/wiki-requests", Some(&admin)).await;
    assert_eq!(requests["requests"].as_array().map(Vec::len), Some(0), "{requests}");
}

#[tokio::test]
async fn queued_mail_survives_a_kill_and_a_restart() {
    // The SMTP server says "try later" to everything: the mail waits in the outbox.
    let smtp = SmtpServer::start().await;
    smtp.refuse_mail(true);
    let mut farm = start("open", smtp.port, "").await;
    for name in ["una", "ulf", "uma"] {
        let (status, _) = post(
            &farm,
            "/api/v1/accounts",
            None,
            json!({"username": name, "email": email_of(name), "password": PASSWORD}),
        )
        .await;
        assert_eq!(status, 201);
    }
    smtp.wait_for_refused(3).await;
    farm.kill9();
    smtp.refuse_mail(false);
    farm.spawn();
    farm.wait_healthy().await;
    for name in ["una", "ulf", "uma"] {
        let mail = smtp.wait_for(&email_of(name), "Confirm your email").await;
        assert!(mail.body.contains("/confirm-email?token="), "{}", mail.body);
    }
    // Each went once: once the outbox is empty, nothing more can come.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, health) = get(&farm, "/healthz", None).await;
        assert_eq!(health["details"]["mail"], "on");
        if health["details"]["mail_queued"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the outbox never emptied: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(smtp.messages().len(), 3, "{:?}", smtp.messages());
}

#[tokio::test]
async fn without_smtp_mail_is_off_and_healthz_says_so() {
    let farm = Farmd::start_on(ControlStore::Sqlite, &[("FARM_PHP_WORKERS", "0")]).await;
    let (_, health) = get(&farm, "/healthz", None).await;
    assert!(health["details"]["mail"].as_str().is_some_and(|m| m.starts_with("off")), "{health}");
    assert!(farm.log().contains("mail is off"));
}

#[tokio::test]
async fn portal_sessions_use_an_http_only_cookie_and_need_the_csrf_token_to_change_things() {
    let smtp = SmtpServer::start().await;
    let farm = start("open", smtp.port, "").await;
    member(&farm, &smtp, "cora").await;
    let browser = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let response = browser
        .post(farm.url("/api/v1/sessions"))
        .json(&json!({"login": "cora", "password": PASSWORD}))
        .send()
        .await
        .expect("log in");
    assert_eq!(response.status(), 201);
    let cookie = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(
        cookie.starts_with("farm_session=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let csrf = response.json::<Value>().await.expect("json")["csrf_token"].as_str().expect("csrf").to_owned();

    // Reading needs only the cookie; changing needs the CSRF token too.
    assert_eq!(browser.get(farm.url("/api/v1/account")).send().await.expect("me").status(), 200);
    let body = json!({"name": "cora-wiki", "sitename": "Cora"});
    let refused = browser.post(farm.url("/api/v1/wikis")).json(&body).send().await.expect("create");
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<Value>().await.expect("json")["error"]["code"], "csrf_failed");
    let forged =
        browser.post(farm.url("/api/v1/wikis")).header("x-csrf-token", "0".repeat(64)).json(&body).send().await;
    assert_eq!(forged.expect("create").status(), 403);
    let created =
        browser.post(farm.url("/api/v1/wikis")).header("x-csrf-token", &csrf).json(&body).send().await.expect("create");
    assert_eq!(created.status(), 202);

    // Logout ends the session and clears the cookie.
    let out = browser.delete(farm.url("/api/v1/sessions/current")).header("x-csrf-token", &csrf).send().await;
    assert_eq!(out.expect("logout").status(), 204);
    assert_eq!(browser.get(farm.url("/api/v1/account")).send().await.expect("me").status(), 401);
}
