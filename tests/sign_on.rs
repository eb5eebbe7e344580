//! Single sign-on from the portal to the wikis (farm-sign-on.php on the wikis' side): one login
//! on the portal is a login on every wiki, as the same user, with the account made on the first
//! visit; a logout, lock or password reset on the farm ends it on the wikis; no password reaches
//! a wiki; what is not the portal's own, fresh, signed answer for that wiki and that request
//! gives an anonymous visitor. And the wikis' administrators follow their owners and managers.
//!
//! The farms run on a base domain that is not `localhost` (the portal's hint cookie is for the
//! parent domain), resolved to loopback by the clients.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::browser::{require_browser, try_scenario};
use common::smtp::SmtpServer;
use common::{csrf_of, wait_until, ControlStore, Farmd};
use reqwest::cookie::Jar;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";
const DOMAIN: &str = "farm.example.test";

/// A farm with the default wiki accounts (farm accounts only), MariaDB wikis available.
async fn start(smtp_port: Option<u16>) -> Farmd {
    start_with(smtp_port, &[]).await
}

async fn start_with(smtp_port: Option<u16>, extra_env: &[(&str, &str)]) -> Farmd {
    let mut config = format!(
        "base_domain = \"{DOMAIN}\"\n[quotas]\nmax_wikis_per_account = 1000\n[rate_limits]\n\
         create_per_source = {{ count = 0, per = \"1h\" }}\ncreate_per_account = {{ count = 0, per = \"1h\" }}\n"
    );
    if let Some(port) = smtp_port {
        config.push_str(&format!(
            "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"Wiki farm <farm@example.org>\"\n"
        ));
    }
    let mut env = vec![("FARM_WIKI_ACCOUNTS__LOCAL_ACCOUNTS", "false"), ("FARM_MARIADB_URL", common::LOCAL_MARIADB)];
    env.extend_from_slice(extra_env);
    let mut farm = Farmd::new_on(ControlStore::Sqlite, &env, Some(&config));
    farm.spawn();
    farm.wait_healthy().await;
    farm
}

/// `name` for `owner`, on `backend`, once active (only admins choose the backend: owners of
/// MariaDB wikis are made admins).
async fn wiki(farm: &Farmd, owner: &str, name: &str, backend: &str) {
    let token = farm.token(owner, "member");
    let mut body = json!({"name": name, "sitename": format!("Wiki {name}")});
    if backend != "sqlite" {
        body["backend"] = json!(backend);
    }
    let (status, body) = farm.create_wiki(&token, body).await;
    assert_eq!(status, 202, "{body}");
    assert!(body.get("initial_password").is_none_or(Value::is_null), "no password for the wiki: {body}");
    farm.wait_for_state(&token, name, &["active"]).await;
}

/// The form the portal answers a wiki's sign-on with.
#[derive(Debug, Clone)]
struct SignOnForm {
    action: String,
    fields: Vec<(String, String)>,
    /// The name of the wiki's state cookie and its value, as the wiki set it.
    state_cookie: (String, String),
}

impl SignOnForm {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn with(&self, name: &str, value: &str) -> Self {
        let mut form = self.clone();
        form.fields.retain(|(k, _)| k != name);
        form.fields.push((name.to_owned(), value.to_owned()));
        form
    }
}

/// A browser as far as the sign-on goes: one cookie jar for the portal and the wikis, no
/// automatic redirects, and the `Origin` it would send.
struct Visitor {
    http: reqwest::Client,
    jar: Arc<Jar>,
    portal: String,
    port: u16,
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of `attribute="…"` in `tag`.
fn attribute(tag: &str, attribute: &str) -> Option<String> {
    let start = tag.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

impl Visitor {
    fn new(farm: &Farmd, wikis: &[&str]) -> Self {
        let jar = Arc::new(Jar::default());
        let mut builder = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .resolve(DOMAIN, farm.addr());
        for name in wikis {
            builder = builder.resolve(&format!("{name}.{DOMAIN}"), farm.addr());
        }
        let port = farm.addr().port();
        Self { http: builder.build().expect("client"), jar, portal: format!("http://{DOMAIN}:{port}"), port }
    }

    fn wiki(&self, name: &str) -> String {
        format!("http://{name}.{DOMAIN}:{}", self.port)
    }

    async fn log_in(&self, login: &str) {
        let page = self.http.get(format!("{}/login", self.portal)).send().await.expect("login page");
        let csrf = csrf_of(&page.text().await.expect("page"));
        let form = [("csrf", csrf.as_str()), ("login", login), ("password", PASSWORD)];
        let response = self
            .http
            .post(format!("{}/login", self.portal))
            .header("origin", &self.portal)
            .form(&form)
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 303, "{login} logs in to the portal");
    }

    async fn log_out(&self) {
        let page = self.http.get(format!("{}/wikis", self.portal)).send().await.expect("page");
        let csrf = csrf_of(&page.text().await.expect("page"));
        let response = self
            .http
            .post(format!("{}/logout", self.portal))
            .header("origin", &self.portal)
            .form(&[("csrf", csrf)])
            .send()
            .await
            .expect("logout");
        assert_eq!(response.status(), 303);
    }

    /// Starts a sign-on on `wiki` (as its "Log in" would) and follows it to the portal's
    /// answer, without posting it.
    async fn ask(&self, wiki: &str) -> SignOnForm {
        let start = self
            .http
            .get(format!("{}/index.php", self.wiki(wiki)))
            .query(&[("title", "Special:FarmSignOn"), ("returnto", "/index.php?title=Main_Page")])
            .send()
            .await
            .expect("start");
        assert_eq!(start.status(), 302, "the wiki sends the browser to the portal");
        let state_cookie = start
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                let pair = v.split(';').next()?;
                let (name, value) = pair.split_once('=')?;
                name.ends_with("FarmSignOnState").then(|| (name.to_owned(), value.to_owned()))
            })
            .expect("the wiki's state cookie");
        let location = start.headers()["location"].to_str().expect("location").to_owned();
        assert!(location.starts_with(&format!("{}/sign-on?", self.portal)), "{location}");
        let answer = self.http.get(&location).send().await.expect("portal");
        assert_eq!(answer.status(), 200, "the portal answers the wiki");
        let policy = answer.headers()["content-security-policy"].to_str().expect("csp").to_owned();
        assert!(policy.contains(&format!("form-action 'self' {}", self.wiki(wiki))), "{policy}");
        let html = answer.text().await.expect("html");
        let form_tag = html.split("<form id=\"sign-on\"").nth(1).expect("the sign-on form");
        let action = attribute(form_tag.split('>').next().expect("tag"), "action").expect("action");
        let fields = form_tag
            .split("<input ")
            .skip(1)
            .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
            .collect();
        SignOnForm { action, fields, state_cookie }
    }

    /// Posts the portal's answer to the wiki as the browser would (from `origin`); returns
    /// where the wiki sends the browser next.
    async fn post(&self, form: &SignOnForm, origin: &str) -> String {
        let response =
            self.http.post(&form.action).header("origin", origin).form(&form.fields).send().await.expect("post");
        assert_eq!(response.status(), 302, "a sign-on answer always sends the browser back, never an error page");
        response.headers()["location"].to_str().expect("location").to_owned()
    }

    /// Puts a cookie of the wiki's host in the jar (a browser that kept it, or an attacker's
    /// toss).
    fn set_state_cookie(&self, wiki: &str, (name, value): &(String, String)) {
        let url: reqwest::Url = self.wiki(wiki).parse().expect("url");
        self.jar.add_cookie_str(&format!("{name}={value}; Path=/"), &url);
    }

    async fn api(&self, wiki: &str, query: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(format!("{}/api.php", self.wiki(wiki)))
            .query(&[("format", "json"), ("formatversion", "2")])
            .query(query)
            .send()
            .await
            .expect("api");
        response.json().await.expect("json")
    }

    /// Who the wiki takes this visitor for: (name, groups); an anonymous visitor has id 0.
    async fn user_on(&self, wiki: &str) -> (String, Vec<String>) {
        let info = self.api(wiki, &[("action", "query"), ("meta", "userinfo"), ("uiprop", "groups")]).await;
        let user = &info["query"]["userinfo"];
        let name = if user["id"].as_i64().unwrap_or(0) == 0 { String::new() } else { user["name"].to_string() };
        let groups = user["groups"].as_array().into_iter().flatten().filter_map(|g| g.as_str().map(str::to_owned));
        (name.trim_matches('"').to_owned(), groups.collect())
    }

    async fn edit(&self, wiki: &str, title: &str, text: &str) -> Value {
        let tokens = self.api(wiki, &[("action", "query"), ("meta", "tokens")]).await;
        let token = tokens["query"]["tokens"]["csrftoken"].as_str().expect("csrf").to_owned();
        let form = [
            ("action", "edit"),
            ("format", "json"),
            ("formatversion", "2"),
            ("title", title),
            ("text", text),
            ("token", &token),
        ];
        let response = self.http.post(format!("{}/api.php", self.wiki(wiki))).form(&form).send().await.expect("edit");
        response.json().await.expect("json")
    }

    /// Signs on to `wiki` all the way.
    async fn sign_on(&self, wiki: &str) {
        let form = self.ask(wiki).await;
        assert!(form.field("assertion").is_some(), "a logged-in visitor gets an assertion: {form:?}");
        let back = self.post(&form, &self.portal).await;
        assert_eq!(back, format!("{}/index.php?title=Main_Page", self.wiki(wiki)));
    }
}

/// An assertion signed with the farm's own key (read from its data directory), so that the
/// wiki's checks past the signature can be tried: PHP's sodium signs with the key's seed.
fn sign_with_farm_key(farm: &Farmd, claims: &Value) -> String {
    let key = std::fs::read_to_string(farm.data_dir.join("sign-on.key")).expect("the sign-on key");
    let code = "$k = hex2bin(trim(getenv('KEY'))); $sk = sodium_crypto_sign_secretkey(sodium_crypto_sign_seed_keypair(substr($k, 16, 32))); \
        $b = fn($s) => rtrim(strtr(base64_encode($s), '+/', '-_'), '='); \
        $m = $b('{\"typ\":\"JWT\",\"alg\":\"EdDSA\"}') . '.' . $b(getenv('CLAIMS')); \
        echo $m . '.' . $b(sodium_crypto_sign_detached($m, $sk));";
    let output = std::process::Command::new("php")
        .args(["-r", code])
        .env("KEY", key)
        .env("CLAIMS", claims.to_string())
        .output()
        .expect("php");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("jwt")
}

/// The claims of an assertion (not checked: the test reads what the farm wrote).
fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let body = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(body).expect("base64");
    serde_json::from_slice(&bytes).expect("claims")
}

fn sign_on_files(farm: &Farmd) -> usize {
    std::fs::read_dir(farm.data_dir.join("sign-on")).map(|dir| dir.count()).unwrap_or(0)
}

/// One login on the portal: the same user on a SQLite and a MariaDB wiki, the account made on
/// the first visit, edits on both; a logout on the portal ends both wiki sessions at once.
#[tokio::test]
async fn one_portal_login_is_a_login_on_every_wiki_until_the_portal_logout() {
    let farm = start(None).await;
    assert!(farm.create_account("alice", "member", Some(PASSWORD)));
    assert!(farm.create_account("bob", "admin", Some(PASSWORD)));
    wiki(&farm, "alice", "alpha", "sqlite").await;
    wiki(&farm, "bob", "beta", "mariadb").await;
    let visitor = Visitor::new(&farm, &["alpha", "beta"]);

    // Not logged in to the portal: the answer is "anonymous", and the wiki stays so.
    let form = visitor.ask("alpha").await;
    assert_eq!(form.field("result"), Some("anonymous"), "{form:?}");
    assert!(form.field("assertion").is_none());
    visitor.post(&form, &visitor.portal).await;
    assert_eq!(visitor.user_on("alpha").await.0, "");

    visitor.log_in("alice").await;
    visitor.sign_on("alpha").await;
    visitor.sign_on("beta").await;
    let (name, groups) = visitor.user_on("alpha").await;
    assert_eq!(name, "Alice");
    assert!(groups.contains(&"sysop".to_owned()), "the owner administers her wiki: {groups:?}");
    let (name, groups) = visitor.user_on("beta").await;
    assert_eq!(name, "Alice", "the same user on the other wiki");
    assert!(!groups.contains(&"sysop".to_owned()), "but no rights on a wiki she does not own: {groups:?}");

    // The account on beta was made by the visit, and MediaWiki logged it as an auto-creation.
    let log = visitor.api("beta", &[("action", "query"), ("list", "logevents"), ("letype", "newusers")]).await;
    let entries = log["query"]["logevents"].as_array().expect("log");
    assert!(entries.iter().any(|e| e["action"] == "autocreate" && e["user"] == "Alice"), "{log}");

    for wiki in ["alpha", "beta"] {
        let edit = visitor.edit(wiki, "Signed on", &format!("Alice was here on {wiki}.")).await;
        assert_eq!(edit["edit"]["result"], "Success", "{edit}");
        let history = visitor.api(wiki, &[("action", "query"), ("prop", "revisions"), ("titles", "Signed on")]).await;
        assert_eq!(history["query"]["pages"][0]["revisions"][0]["user"], "Alice", "{history}");
    }
    assert_eq!(sign_on_files(&farm), 1, "one farm session is honoured");

    // No password reaches a wiki: the farm password does not log in there, nor is there a
    // way to make an account of the wiki's own.
    let direct = farm.client_for_host(&format!("alpha.{DOMAIN}"));
    let login = direct.login("Alice", PASSWORD).await;
    assert_ne!(login["clientlogin"]["status"], "PASS", "{login}");
    let (status, _) = direct.get("/index.php?title=Special:CreateAccount").await;
    assert_eq!(status, 302, "account creation goes to the portal's sign-up");
    let (status, _) = direct.get("/index.php?title=Special:UserLogin&returnto=Signed_on").await;
    assert_eq!(status, 302, "the login goes through the portal");

    visitor.log_out().await;
    for wiki in ["alpha", "beta"] {
        assert_eq!(visitor.user_on(wiki).await.0, "", "logged out of {wiki} at once");
    }
    assert_eq!(sign_on_files(&farm), 0, "the ended session is honoured nowhere");
}

/// What is not the portal's own, fresh answer for this wiki and this request gives an
/// anonymous visitor back on the page, never an error: posted from another origin (a wiki's
/// page), a wrong state, a forged signature, another wiki's assertion, an expired one, one
/// used before. The portal answers only for a known wiki and a well-formed request.
#[tokio::test]
async fn forged_expired_replayed_and_misdirected_sign_ons_give_an_anonymous_visitor() {
    let farm = start(None).await;
    assert!(farm.create_account("alice", "member", Some(PASSWORD)));
    wiki(&farm, "alice", "alpha", "sqlite").await;
    wiki(&farm, "alice", "beta", "sqlite").await;
    let visitor = Visitor::new(&farm, &["alpha", "beta"]);
    visitor.log_in("alice").await;
    let back_home = format!("{}/index.php?title=Main_Page", visitor.wiki("alpha"));
    let anonymous = || async { visitor.user_on("alpha").await.0 };

    // Posted by a page of another wiki (which the browser names in Origin).
    let form = visitor.ask("alpha").await;
    assert_eq!(visitor.post(&form, &visitor.wiki("beta")).await, back_home);
    assert_eq!(anonymous().await, "", "a post from another origin logs nobody in");

    // The state does not match the wiki's cookie (or the cookie is missing).
    let form = visitor.ask("alpha").await;
    visitor.post(&form.with("state", &"0".repeat(32)), &visitor.portal).await;
    assert_eq!(anonymous().await, "");

    // A forged signature: the assertion with its signature changed.
    let form = visitor.ask("alpha").await;
    let real = form.field("assertion").expect("assertion").to_owned();
    let (signed, signature) = real.rsplit_once('.').expect("jwt");
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{signed}.{flipped}{}", &signature[1..]);
    visitor.post(&form.with("assertion", &forged), &visitor.portal).await;
    assert_eq!(anonymous().await, "", "a forged assertion logs nobody in");

    // Another wiki's assertion, with that wiki's state planted in this one's cookie.
    let for_beta = visitor.ask("beta").await;
    let on_alpha = visitor.ask("alpha").await;
    let beta_state = for_beta.field("state").expect("state").to_owned();
    visitor.set_state_cookie("alpha", &(on_alpha.state_cookie.0.clone(), beta_state.clone()));
    let misdirected =
        on_alpha.with("state", &beta_state).with("assertion", for_beta.field("assertion").expect("assertion"));
    visitor.post(&misdirected, &visitor.portal).await;
    assert_eq!(anonymous().await, "", "an assertion for beta logs nobody in on alpha");

    // Expired, though signed with the farm's key; the same claims with a future expiry do
    // log in, so it is the expiry that was refused.
    let form = visitor.ask("alpha").await;
    let mut claims = claims_of(form.field("assertion").expect("assertion"));
    let now = claims["iat"].as_i64().expect("iat");
    claims["iat"] = json!(now - 120);
    claims["exp"] = json!(now - 60);
    visitor.post(&form.with("assertion", &sign_with_farm_key(&farm, &claims)), &visitor.portal).await;
    assert_eq!(anonymous().await, "", "an expired assertion logs nobody in");
    let form = visitor.ask("alpha").await;
    let mut claims = claims_of(form.field("assertion").expect("assertion"));
    claims["jti"] = json!("ab".repeat(16));
    let resigned = sign_with_farm_key(&farm, &claims);
    visitor.post(&form.with("assertion", &resigned), &visitor.portal).await;
    assert_eq!(anonymous().await, "Alice", "the test's own signing is sound");

    // Used before: another browser (no wiki session) that got hold of that answer and its
    // state cookie.
    let thief = Visitor::new(&farm, &["alpha"]);
    thief.set_state_cookie("alpha", &(form.state_cookie.0.clone(), form.field("state").expect("state").to_owned()));
    thief.post(&form.with("assertion", &resigned), &visitor.portal).await;
    assert_eq!(thief.user_on("alpha").await.0, "", "a used assertion logs nobody in");

    // Each refusal is in the wikis' sign-on log, with its reason.
    let log = std::fs::read_to_string(farm.data_dir.join("logs/mediawiki-farm-sign-on.log")).expect("sign-on log");
    for why in ["not posted from the portal", "state does not match", "invalid assertion", "assertion used before"] {
        assert!(log.contains(&format!("wiki alpha: a sign-on refused: {why}")), "{why}:\n{log}");
    }

    // Session fixation: a session id planted in a browser before its sign-on (a tossed cookie)
    // is not the one it is logged in with afterwards.
    let victim = Visitor::new(&farm, &["alpha"]);
    victim.log_in("alice").await;
    let form = victim.ask("alpha").await;
    let prefix = form.state_cookie.0.trim_end_matches("FarmSignOnState").to_owned();
    let planted = (format!("{prefix}_session"), "f".repeat(32));
    victim.set_state_cookie("alpha", &planted);
    victim.post(&form, &victim.portal).await;
    assert_eq!(victim.user_on("alpha").await.0, "Alice");
    let attacker = Visitor::new(&farm, &["alpha"]);
    attacker.set_state_cookie("alpha", &planted);
    assert_eq!(attacker.user_on("alpha").await.0, "", "the planted session id got no login");

    // The portal answers only for a wiki of the farm and a well-formed state.
    let ask = |query: &'static str| visitor.http.get(format!("{}/sign-on?{query}", visitor.portal)).send();
    assert_eq!(ask("wiki=nowhere&state=00000000000000000000000000000000&return=/").await.expect("ask").status(), 404);
    assert_eq!(ask("wiki=alpha&state=%3Cscript%3E&return=/").await.expect("ask").status(), 400);
    let off_the_wiki = ask("wiki=alpha&state=00000000000000000000000000000000&return=//evil.example/").await;
    let body = off_the_wiki.expect("ask").text().await.expect("html");
    assert!(body.contains("name=\"return\" value=\"&#x2f;\""), "a return address off the wiki becomes its root");
}

/// A lock, a password reset and a role change on the farm end the person's wiki sessions too;
/// a locked account cannot log in again.
#[tokio::test]
async fn a_lock_a_password_reset_and_a_role_change_end_the_wiki_sessions() {
    let smtp = SmtpServer::start().await;
    let farm = start(Some(smtp.port)).await;
    assert!(farm.create_account("alice", "member", Some(PASSWORD)));
    wiki(&farm, "alice", "alpha", "sqlite").await;
    let admin = farm.token("root", "admin");
    let visitor = Visitor::new(&farm, &["alpha"]);
    let patch =
        |body: Value| farm.http.patch(farm.url("/api/v1/accounts/alice")).bearer_auth(&admin).json(&body).send();

    visitor.log_in("alice").await;
    visitor.sign_on("alpha").await;
    assert_eq!(visitor.user_on("alpha").await.0, "Alice");
    let locked = patch(json!({"locked": true})).await.expect("patch");
    assert_eq!(locked.status(), 200);
    assert_eq!(locked.json::<Value>().await.expect("json")["locked"], true);
    assert_eq!(visitor.user_on("alpha").await.0, "", "the lock ends her wiki session");
    let login = farm
        .http
        .post(farm.url("/api/v1/sessions"))
        .json(&json!({"login": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 403);
    assert_eq!(login.json::<Value>().await.expect("json")["error"]["code"], "account_locked");
    let empty = patch(json!({})).await.expect("patch");
    assert_eq!(empty.status(), 400);
    assert_eq!(patch(json!({"locked": false})).await.expect("patch").status(), 200);

    visitor.log_in("alice").await;
    visitor.sign_on("alpha").await;
    assert_eq!(visitor.user_on("alpha").await.0, "Alice");
    assert_eq!(patch(json!({"role": "reviewer"})).await.expect("patch").status(), 200);
    assert_eq!(visitor.user_on("alpha").await.0, "", "a role change ends her wiki session");

    visitor.log_in("alice").await;
    visitor.sign_on("alpha").await;
    let asked = farm
        .http
        .post(farm.url("/api/v1/password-resets"))
        .json(&json!({"email": "alice@example.org"}))
        .send()
        .await
        .expect("reset");
    assert!(asked.status().is_success());
    let mail = smtp.wait_for("alice@example.org", "Reset your password").await;
    let secret = SmtpServer::link_param(&mail, "token");
    let reset = farm
        .http
        .post(farm.url("/api/v1/password-resets/confirm"))
        .json(&json!({"token": secret, "password": "a new password, long enough"}))
        .send()
        .await
        .expect("confirm");
    assert!(reset.status().is_success(), "{}", reset.status());
    assert_eq!(visitor.user_on("alpha").await.0, "", "the password reset ends her wiki session");
}

/// Farm admins have no rights on others' wikis, unless the operator turns the staff group on:
/// then they are `farm-staff` there, and each such sign-on is in the audit log.
#[tokio::test]
async fn staff_get_rights_on_others_wikis_only_with_the_staff_group_and_audited() {
    for staff_group in [false, true] {
        let flag = staff_group.to_string();
        let farm = start_with(None, &[("FARM_WIKI_ACCOUNTS__STAFF_GROUP", &flag)]).await;
        assert!(farm.create_account("alice", "member", Some(PASSWORD)));
        assert!(farm.create_account("root", "admin", Some(PASSWORD)));
        wiki(&farm, "alice", "alpha", "sqlite").await;
        let visitor = Visitor::new(&farm, &["alpha"]);
        visitor.log_in("root").await;
        visitor.sign_on("alpha").await;
        let (name, groups) = visitor.user_on("alpha").await;
        assert_eq!(name, "Root");
        assert_eq!(groups.contains(&"farm-staff".to_owned()), staff_group, "staff_group = {staff_group}: {groups:?}");
        assert!(!groups.contains(&"sysop".to_owned()), "{groups:?}");
        let can_delete = visitor.api("alpha", &[("action", "query"), ("meta", "userinfo"), ("uiprop", "rights")]).await
            ["query"]["userinfo"]["rights"]
            .as_array()
            .is_some_and(|rights| rights.iter().any(|r| r == "delete"));
        assert_eq!(can_delete, staff_group, "an administrator's rights only with the staff group");
        let admin = farm.token("root", "admin");
        let (_, audit) = farm.get_json(&admin, "/api/v1/audit?action=wiki.staff_sign_on").await;
        let entries = audit["entries"].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!(entries > 0, staff_group, "{audit}");
    }
}

/// A private wiki lets the sign-on through, and reads are for the people its owner puts in the
/// `reader` group: another farm account signs on and sees nothing until the owner grants it.
#[tokio::test]
async fn a_private_wiki_admits_the_farm_accounts_its_owner_grants() {
    let farm = start(None).await;
    assert!(farm.create_account("alice", "member", Some(PASSWORD)));
    assert!(farm.create_account("bob", "member", Some(PASSWORD)));
    wiki(&farm, "alice", "alpha", "sqlite").await;
    let alice_token = farm.token("alice", "member");
    let private = farm
        .http
        .patch(farm.url("/api/v1/wikis/alpha/settings"))
        .bearer_auth(&alice_token)
        .json(&json!({"base_revision": 1, "settings": {"private": true}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(private.status(), 200);
    let main_page = [("action", "parse"), ("page", "Main Page"), ("prop", "text")];

    let bob = Visitor::new(&farm, &["alpha"]);
    bob.log_in("bob").await;
    bob.sign_on("alpha").await;
    // Logged in (the page says so) but not a reader: the wiki's permission error, and the API
    // refuses to read.
    let page = bob.http.get(format!("{}/index.php?title=Main_Page", bob.wiki("alpha"))).send().await.expect("page");
    let page = page.text().await.expect("html");
    assert!(page.contains(r#""wgUserName":"Bob""#), "the sign-on goes through on a private wiki");
    assert!(!page.contains("This wiki is new and it is yours"), "but he reads nothing yet");
    let refused = bob.api("alpha", &main_page).await;
    assert_eq!(refused["error"]["code"], "readapidenied", "{refused}");

    // The owner grants him the reader group, as an administrator of her wiki does.
    let alice = Visitor::new(&farm, &["alpha"]);
    alice.log_in("alice").await;
    alice.sign_on("alpha").await;
    let tokens = alice.api("alpha", &[("action", "query"), ("meta", "tokens"), ("type", "userrights")]).await;
    let token = tokens["query"]["tokens"]["userrightstoken"].as_str().expect("token").to_owned();
    let form =
        [("action", "userrights"), ("format", "json"), ("user", "Bob"), ("add", "reader"), ("token", token.as_str())];
    let granted = alice.http.post(format!("{}/api.php", alice.wiki("alpha"))).form(&form).send().await.expect("post");
    let granted: Value = granted.json().await.expect("json");
    assert_eq!(granted["userrights"]["added"][0], "reader", "{granted}");
    let read = bob.api("alpha", &main_page).await;
    assert!(read["parse"]["text"].as_str().is_some_and(|t| t.contains("This wiki is new")), "{read}");
    let (name, groups) = bob.user_on("alpha").await;
    assert_eq!(name, "Bob");
    assert!(groups.contains(&"reader".to_owned()), "{groups:?}");
}

/// The groups of `user` on `wiki` (an anonymous query).
async fn groups_of(visitor: &Visitor, wiki: &str, user: &str) -> Vec<String> {
    let answer =
        visitor.api(wiki, &[("action", "query"), ("list", "users"), ("ususers", user), ("usprop", "groups")]).await;
    let groups = answer["query"]["users"][0]["groups"].as_array().cloned().unwrap_or_default();
    groups.into_iter().filter_map(|g| g.as_str().map(str::to_owned)).collect()
}

/// A manager the owner adds becomes sysop and bureaucrat on the wiki (the account made if they
/// never visited), and loses both when removed; both changes are in the wiki's rights log, by
/// the farm's user. On both backends.
#[tokio::test]
async fn managers_become_administrators_of_the_wiki_and_stop_being_ones() {
    let farm = start(None).await;
    assert!(farm.create_account("alice", "admin", Some(PASSWORD)));
    assert!(farm.create_account("bob", "member", Some(PASSWORD)));
    wiki(&farm, "alice", "alpha", "sqlite").await;
    wiki(&farm, "alice", "beta", "mariadb").await;
    let alice = farm.token("alice", "admin");
    let visitor = Visitor::new(&farm, &["alpha", "beta"]);
    for wiki in ["alpha", "beta"] {
        assert!(groups_of(&visitor, wiki, "Bob").await.is_empty());
        let added = farm
            .http
            .post(farm.url(&format!("/api/v1/wikis/{wiki}/managers")))
            .bearer_auth(&alice)
            .json(&json!({"username": "bob"}))
            .send()
            .await
            .expect("add");
        assert!(added.status().is_success(), "{}", added.status());
    }
    for wiki in ["alpha", "beta"] {
        let groups = wait_until("Bob to administer the wiki", Duration::from_secs(240), || async {
            let groups = groups_of(&visitor, wiki, "Bob").await;
            if groups.contains(&"sysop".to_owned()) {
                Ok(groups)
            } else {
                Err(format!("{groups:?}"))
            }
        })
        .await;
        assert!(groups.contains(&"bureaucrat".to_owned()), "{groups:?}");
    }

    // Bob signs on: his wiki account is the one the farm made, with the rights.
    visitor.log_in("bob").await;
    visitor.sign_on("alpha").await;
    let (name, groups) = visitor.user_on("alpha").await;
    assert_eq!(name, "Bob");
    assert!(groups.contains(&"sysop".to_owned()), "{groups:?}");

    for wiki in ["alpha", "beta"] {
        let removed = farm
            .http
            .delete(farm.url(&format!("/api/v1/wikis/{wiki}/managers/bob")))
            .bearer_auth(&alice)
            .send()
            .await
            .expect("remove");
        assert!(removed.status().is_success(), "{}", removed.status());
    }
    for wiki in ["alpha", "beta"] {
        wait_until("Bob to lose the rights", Duration::from_secs(240), || async {
            let groups = groups_of(&visitor, wiki, "Bob").await;
            if groups.contains(&"sysop".to_owned()) || groups.contains(&"bureaucrat".to_owned()) {
                Err(format!("{groups:?}"))
            } else {
                Ok(())
            }
        })
        .await;
        let log = visitor
            .api(wiki, &[("action", "query"), ("list", "logevents"), ("letype", "rights"), ("letitle", "User:Bob")])
            .await;
        let entries = log["query"]["logevents"].as_array().expect("rights log").clone();
        assert_eq!(entries.len(), 2, "granted, then removed: {log}");
        assert!(entries.iter().all(|e| e["user"] == "Wiki farm"), "{log}");
        let newest = &entries[0]["params"];
        assert!(newest["newgroups"].as_array().is_some_and(|g| g.is_empty()), "{log}");
    }
    let (_, groups) = visitor.user_on("alpha").await;
    assert!(!groups.contains(&"sysop".to_owned()), "at once in his session too: {groups:?}");
}

/// In the browser: log in once on the portal, find yourself logged in on a SQLite and a
/// MariaDB wiki as the same user, edit on both, log out on the portal and find both logged
/// out; then "Log in" on a wiki goes through the portal and back.
#[tokio::test]
async fn in_the_browser_one_login_reaches_two_wikis_and_one_logout_leaves_both() {
    require_browser();
    let farm = start(None).await;
    assert!(farm.create_account("carol", "member", Some(PASSWORD)));
    assert!(farm.create_account("dave", "admin", Some(PASSWORD)));
    wiki(&farm, "dave", "gamma", "sqlite").await;
    wiki(&farm, "dave", "delta", "mariadb").await;
    let port = farm.addr().port();
    let env = vec![
        ("BASE_URL", format!("http://{DOMAIN}:{port}")),
        ("HOST_RESOLVER_RULES", format!("MAP {DOMAIN} 127.0.0.1, MAP *.{DOMAIN} 127.0.0.1")),
        ("LOGIN", "carol".to_owned()),
        ("EXPECTED_USER", "Carol".to_owned()),
        ("WIKI_URLS", format!("http://gamma.{DOMAIN}:{port}/ http://delta.{DOMAIN}:{port}/")),
    ];
    if let Err(failure) = try_scenario("sign-on.mjs", &env) {
        let log = farm.log();
        let lines: Vec<&str> = log.lines().filter(|l| !l.contains("uri=\"/healthz\"")).collect();
        panic!("{failure}\n--- farmd log, last lines:\n{}", lines[lines.len().saturating_sub(40)..].join("\n"));
    }
}
