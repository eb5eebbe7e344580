//! The OpenID provider of the tests: `node tests/oidc/provider.mjs` (panva's oidc-provider,
//! pinned in tests/oidc/package-lock.json) on a free loopback port, which a test can make
//! misbehave; and a browser-like walk through a login with reqwest.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use super::{csrf_of, Farmd};

const INSTALL_HINT: &str = "run deploy/install-deps.sh --test (it runs npm ci in tests/oidc)";

pub const CLIENT_ID: &str = "farmd-test";
pub const CLIENT_SECRET: &str = "test-client-secret-0123456789";

pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    http: reqwest::Client,
}

impl OidcProvider {
    pub fn start() -> Self {
        let root = super::browser::workspace_root();
        let package = root.join("tests/oidc/node_modules/oidc-provider/package.json");
        assert!(package.is_file(), "{} is missing: {INSTALL_HINT}", package.display());
        let mut child = Command::new("node")
            .arg(root.join("tests/oidc/provider.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("node: {e}: {INSTALL_HINT}"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    let _ = tx.send(issuer.to_owned());
                }
                eprintln!("[oidc-provider] {line}");
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[oidc-provider] {line}");
            }
        });
        let issuer = rx.recv_timeout(Duration::from_secs(60)).expect("the OpenID provider says where it listens");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        Self { child, issuer, http }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(format!("{}{path}", self.issuer)).json(&body).send().await.expect("provider");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.expect("json")
    }

    /// Registers the farm as a client, with its callback for `provider_id`.
    pub async fn register(&self, farm: &Farmd, provider_id: &str) {
        let redirect = format!("{}/login/oidc/{provider_id}/callback", portal(farm));
        self.post(
            "/__test/setup",
            json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [redirect]}),
        )
        .await;
    }

    pub async fn set_mode(&self, mode: &str) {
        self.post("/__test/mode", json!({ "mode": mode })).await;
    }

    /// Claims the provider gives `login` (over the defaults: sub and preferred_username are
    /// the login, email `login@example.org`, verified, no groups).
    pub async fn set_claims(&self, login: &str, claims: Value) {
        self.post("/__test/account", json!({ "login": login, "claims": claims })).await;
    }

    pub async fn rotate_keys(&self) {
        self.post("/__test/rotate", json!({})).await;
    }

    pub async fn stats(&self) -> Value {
        self.http.get(format!("{}/__test/stats", self.issuer)).send().await.expect("stats").json().await.expect("json")
    }

    /// `[[login.oidc]]` for this provider (the secret comes from `TEST_OIDC_SECRET`).
    pub fn config(&self, id: &str, extra: &str) -> String {
        format!(
            "[[login.oidc]]\nid = \"{id}\"\nname = \"Test ID {id}\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret_env = \"TEST_OIDC_SECRET\"\nscopes = [\"openid\", \"email\", \"profile\", \"groups\"]\n{extra}\n",
            self.issuer
        )
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment a farm with [`OidcProvider::config`] needs.
pub const SECRET_ENV: (&str, &str) = ("TEST_OIDC_SECRET", CLIENT_SECRET);

/// The portal's public address (`http://localhost:PORT`), where the provider sends people back.
pub fn portal(farm: &Farmd) -> String {
    format!("http://localhost:{}", farm.port)
}

/// A browser: one cookie jar, redirects not followed (the walk follows them), `localhost`
/// resolved to the farm.
pub fn browser(farm: &Farmd) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve("localhost", farm.addr())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|l| l.to_str().ok()).expect("a redirect has a Location").to_owned()
}

/// An attribute's text with the entities the portal's templates write decoded.
fn unescape_html(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A Location against the address it came from.
fn absolute(base: &str, location: &str) -> String {
    reqwest::Url::parse(base).and_then(|b| b.join(location)).map(String::from).expect("a redirect's address")
}

/// Clicks the provider's button on the portal's login page and logs in at the provider as
/// `login`; returns the callback address the provider sent the browser to (not yet followed).
pub async fn login_at_provider(client: &reqwest::Client, farm: &Farmd, provider_id: &str, login: &str) -> String {
    let page = client.get(format!("{}/login", portal(farm))).send().await.expect("login page");
    let page = page.text().await.expect("page");
    assert!(page.contains(&format!("id=\"oidc-{provider_id}\"")), "the login page has the provider's button: {page}");
    let start = client
        .post(format!("{}/login/oidc/{provider_id}", portal(farm)))
        .form(&[("csrf", csrf_of(&page)), ("next", "/wikis".into())])
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), 200, "the button's page moves on to the provider");
    let page = start.text().await.expect("page");
    let mut url = page
        .split("http-equiv=\"refresh\" content=\"0; url=")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(unescape_html)
        .unwrap_or_else(|| panic!("the page moves on to the provider: {page}"));
    for _ in 0..10 {
        if url.starts_with(&portal(farm)) {
            return url;
        }
        let response = client.get(&url).send().await.expect("provider");
        if response.status().is_redirection() {
            url = absolute(&url, &location(&response));
            continue;
        }
        let page = response.text().await.expect("page");
        let action = page
            .split("<form autocomplete=\"off\" action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("the provider's login form: {page}"))
            .to_owned();
        let submitted = client
            .post(&action)
            .form(&[("prompt", "login"), ("login", login), ("password", "any")])
            .send()
            .await
            .expect("provider login");
        assert!(submitted.status().is_redirection(), "the provider takes any login: {}", submitted.status());
        url = absolute(&action, &location(&submitted));
    }
    panic!("the provider never sent the browser back; last {url}");
}

/// A whole login: the callback's answer.
pub async fn log_in(client: &reqwest::Client, farm: &Farmd, provider_id: &str, login: &str) -> reqwest::Response {
    let callback = login_at_provider(client, farm, provider_id, login).await;
    client.get(&callback).send().await.expect("callback")
}

/// The account the browser's portal session belongs to (`GET /api/v1/account`).
pub async fn account(client: &reqwest::Client, farm: &Farmd) -> (u16, Value) {
    let response = client.get(format!("{}/api/v1/account", portal(farm))).send().await.expect("account");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `data-code` of a refusal page.
pub fn code_of(page: &str) -> String {
    page.split("data-code=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("").to_owned()
}
