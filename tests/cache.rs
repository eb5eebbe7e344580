//! The read caches, end to end: farmd's own in its wiki proxy (the one-command default), and
//! Debian's Varnish from deploy/varnish/farmd.vcl in front of nginx and php-fpm from the recipe.
//! Both are driven by MediaWiki's CDN support and held to the same assertions: a second
//! anonymous view is a hit, an edit is visible to anonymous readers within 1 s, logged-in
//! readers get their own page, the sign-on hint and a browser's unchecked first view reach PHP,
//! a relayed PURGE is refused, and a private wiki's pages are never stored, also when a wiki
//! becomes private or is deleted after its pages were stored. SQLite and MariaDB wikis on each.

use crate::common;
use crate::production::{binary, free_port, render, Front};

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_until, Farmd};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";
const PAGE: &str = "/index.php/Cache_test";

/// The farm as people reach it: every host of `domain` on loopback port `port`.
pub(crate) struct Site {
    pub(crate) domain: &'static str,
    pub(crate) port: u16,
}

impl Site {
    pub(crate) fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    pub(crate) fn host(&self, wiki: &str) -> String {
        format!("{wiki}.{}:{}", self.domain, self.port)
    }

    pub(crate) fn url(&self, wiki: &str, path: &str) -> String {
        format!("http://{}{path}", self.host(wiki))
    }

    /// Cookies kept (a reader who logs in) or not (an anonymous reader); redirects not followed.
    pub(crate) fn client(&self, wiki: &str, cookies: bool) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(cookies)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .resolve(&format!("{wiki}.{}", self.domain), self.addr())
            .build()
            .expect("client")
    }
}

/// One answer: status, `X-Cache`, headers, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) cache: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

pub(crate) async fn get(http: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = http.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let cache = headers.get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    Answer { status, cache, headers, body: response.text().await.unwrap_or_default() }
}

async fn api(http: &reqwest::Client, site: &Site, wiki: &str, form: &[(&str, &str)]) -> Value {
    let mut fields = vec![("format", "json"), ("formatversion", "2")];
    fields.extend_from_slice(form);
    let response = http.post(site.url(wiki, "/api.php")).form(&fields).send().await.expect("api");
    response.json().await.expect("json")
}

pub(crate) async fn login(site: &Site, wiki: &str, user: &str, password: &str) -> reqwest::Client {
    let http = site.client(wiki, true);
    let tokens = api(&http, site, wiki, &[("action", "query"), ("meta", "tokens"), ("type", "login")]).await;
    let token = tokens["query"]["tokens"]["logintoken"].as_str().expect("login token").to_owned();
    let back = site.url(wiki, "/");
    let form = [
        ("action", "clientlogin"),
        ("username", user),
        ("password", password),
        ("logintoken", &token),
        ("loginreturnurl", &back),
    ];
    let login = api(&http, site, wiki, &form).await;
    assert_eq!(login["clientlogin"]["status"], "PASS", "{user}: {login}");
    http
}

pub(crate) async fn edit(http: &reqwest::Client, site: &Site, wiki: &str, text: &str) {
    let tokens = api(http, site, wiki, &[("action", "query"), ("meta", "tokens")]).await;
    let csrf = tokens["query"]["tokens"]["csrftoken"].as_str().expect("csrf").to_owned();
    let done =
        api(http, site, wiki, &[("action", "edit"), ("title", "Cache test"), ("text", text), ("token", &csrf)]).await;
    assert_eq!(done["edit"]["result"], "Success", "{done}");
}

pub(crate) async fn jobs_done(http: &reqwest::Client, site: &Site, wiki: &str) {
    wait_until("the wiki's job queue empty", Duration::from_secs(60), || async {
        let stats = api(http, site, wiki, &[("action", "query"), ("meta", "siteinfo"), ("siprop", "statistics")]).await;
        match stats["query"]["statistics"]["jobs"].as_i64() {
            Some(0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// Who the page's personal tools say is reading (None: an anonymous reader).
fn reader_of(page: &str) -> Option<String> {
    // Vector 2022: <li id="pt-userpage-2" …><a href="/index.php/User:NAME" …> (php-fpm:
    // /index.php?title=User:NAME).
    let (_, rest) = page.split_once("id=\"pt-userpage")?;
    let (_, rest) = rest.split_once("User:")?;
    Some(rest.split(['"', '&', '?']).next().unwrap_or("").to_owned())
}

/// `PURGE` of a page as MediaWiki sends it (absolute URL, as to a proxy), optionally relayed.
async fn purge(site: &Site, wiki: &str, relayed: bool) -> u16 {
    let host = site.host(wiki);
    let relay = if relayed { "X-Forwarded-For: 203.0.113.7\r\n" } else { "" };
    let request = format!("PURGE http://{host}{PAGE} HTTP/1.1\r\nHost: {host}\r\n{relay}Connection: close\r\n\r\n");
    common::raw_request(site.addr(), &request).await.0
}

/// What every cache must do on `wiki` (its owner and a second account of it log in).
async fn behaves_like_a_cdn(
    site: &Site,
    wiki: &str,
    owner: (&str, &str),
    other: (&str, &str),
    logs: &dyn Fn() -> String,
) {
    let editor = login(site, wiki, owner.0, owner.1).await;
    edit(&editor, site, wiki, "First version of the cached page.").await;
    // The edit's jobs purge the page again when they run: let them, so that what follows is
    // about one purge at a time.
    jobs_done(&editor, site, wiki).await;
    let anonymous = site.client(wiki, false);
    let url = site.url(wiki, PAGE);

    // Stored on the first anonymous view, answered from the cache on the second.
    let first = get(&anonymous, &url, &[]).await;
    assert_eq!((first.status, first.cache.as_str()), (200, "MISS"), "{wiki}: {}", logs());
    assert!(first.body.contains("First version"), "{wiki}");
    let second = get(&anonymous, &url, &[]).await;
    assert_eq!(
        (second.status, second.cache.as_str()),
        (200, "HIT"),
        "{wiki}: {:?} then {:?}",
        first.headers,
        second.headers
    );
    assert_eq!(second.body, first.body);
    assert!(reader_of(&second.body).is_none(), "the stored page is the anonymous one");
    let cache_control = second.headers.get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(cache_control.contains("s-maxage=0"), "clients are told not to keep it: {cache_control}");
    // The Main Page under each address MediaWiki purges.
    for path in ["/index.php/Main_Page", "/index.php?title=Main_Page"] {
        let _ = get(&anonymous, &site.url(wiki, path), &[]).await;
        let again = get(&anonymous, &site.url(wiki, path), &[]).await;
        assert_eq!((again.status, again.cache.as_str()), (200, "HIT"), "{wiki}{path}: {:?}", again.headers);
    }

    // An edit purges the page: after the edit returns, polling every 50 ms for up to 1 s
    // finds the new text.
    edit(&editor, site, wiki, "Second version of the cached page.").await;
    let edited = Instant::now();
    let mut seen = None;
    while edited.elapsed() <= Duration::from_secs(1) {
        let answer = get(&anonymous, &url, &[]).await;
        if answer.body.contains("Second version") {
            seen = Some(edited.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = seen.unwrap_or_else(|| panic!("{wiki}: the edit was not visible to anonymous readers within 1 s"));
    eprintln!("{wiki}: the edit was visible to anonymous readers after {seen:?}");
    let stored = wait_until("the new version stored", Duration::from_secs(5), || async {
        let answer = get(&anonymous, &url, &[]).await;
        if answer.cache == "HIT" {
            Ok(answer.body)
        } else {
            Err(answer.cache)
        }
    })
    .await;
    assert!(stored.contains("Second version") && !stored.contains("First version"));

    // PURGE only from this machine and never relayed by a proxy; a refused one drops nothing.
    assert_eq!(purge(site, wiki, true).await, 403, "a relayed PURGE");
    assert_eq!(get(&anonymous, &url, &[]).await.cache, "HIT", "still stored");
    assert_eq!(purge(site, wiki, false).await, 200, "MediaWiki's PURGE");
    assert_eq!(get(&anonymous, &url, &[]).await.cache, "MISS", "purged");

    // Logged-in readers get their own page, never the stored one nor each other's.
    let other_reader = login(site, wiki, other.0, other.1).await;
    for (http, name) in [(&editor, owner.0), (&other_reader, other.0), (&editor, owner.0)] {
        let page = get(http, &url, &[]).await;
        assert_eq!(page.status, 200);
        assert_ne!(page.cache, "HIT", "{name} is not served from the cache");
        assert_eq!(reader_of(&page.body).as_deref(), Some(name), "{name} sees their own personal tools");
        assert!(page.body.contains("Second version"));
    }
    assert!(reader_of(&get(&anonymous, &url, &[]).await.body).is_none(), "anonymous readers see nobody's page");

    // The portal's sign-on hint, and a browser's first page view the wiki has not checked
    // against the portal, reach MediaWiki (which sends the browser through the silent sign-on).
    let hinted = get(&anonymous, &url, &[("cookie", "farm_signed_in=1")]).await;
    assert_eq!(hinted.cache, "PASS", "the hint passes");
    let navigation = [("sec-fetch-mode", "navigate"), ("sec-fetch-dest", "document"), ("accept", "text/html")];
    let browser = get(&anonymous, &url, &navigation).await;
    assert_eq!(browser.cache, "PASS");
    let location = browser.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(browser.status == 302 && location.contains("FarmSignOn"), "{} {location}", browser.status);
}

/// The test page as anonymous readers get it the second time (a HIT once stored).
async fn stored_page(site: &Site, wiki: &str) -> Answer {
    let anonymous = site.client(wiki, false);
    get(&anonymous, &site.url(wiki, PAGE), &[]).await;
    get(&anonymous, &site.url(wiki, PAGE), &[]).await
}

/// A private wiki's pages: the login-required page for anonymous readers, never stored.
async fn private_wiki_is_never_cached(site: &Site, wiki: &str) {
    let anonymous = site.client(wiki, false);
    for path in ["/index.php/Main_Page", PAGE, "/index.php/Main_Page"] {
        let answer = get(&anonymous, &site.url(wiki, path), &[]).await;
        assert_ne!(answer.cache, "HIT", "{wiki}{path}");
        assert!(answer.body.contains("Special:UserLogin"), "{wiki}{path}: the login-required page");
        assert!(!answer.body.contains("version of the cached page"), "{wiki}{path}: no content");
    }
}

async fn make_private(farmd: &Farmd, token: &str, wiki: &str) {
    let response = farmd
        .http
        .patch(farmd.url(&format!("/api/v1/wikis/{wiki}/settings")))
        .bearer_auth(token)
        .json(&json!({"base_revision": 1, "settings": {"private": true}}))
        .send()
        .await
        .expect("settings");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

/// A wiki of `backend`, owned by the account behind `token`; its owner's credentials.
pub(crate) async fn new_wiki(farmd: &Farmd, token: &str, name: &str, backend: &str) -> (String, String) {
    let (status, created) =
        farmd.create_wiki(token, json!({"name": name, "sitename": format!("Cache {name}"), "backend": backend})).await;
    assert_eq!(status, 202, "{created}");
    farmd.wait_for_state(token, name, &["active"]).await;
    let credentials = &created["owner_credentials"];
    match (credentials["username"].as_str(), credentials["password"].as_str()) {
        (Some(user), Some(password)) => (user.to_owned(), password.to_owned()),
        _ => ("Olga".to_owned(), PASSWORD.to_owned()),
    }
}

/// A second account of the wiki, made by MediaWiki's own script (as `user`, when given).
fn second_account(farmd: &Farmd, wiki: &str, run_as: Option<&str>) {
    let script = format!("{}/maintenance/createAndPromote.php", common::MEDIAWIKI_DIR);
    let config = farmd.data_dir.join("mediawiki/FarmSettings.php");
    let mut command = match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--", "php"]);
            c
        }
        None => Command::new("php"),
    };
    let output = command
        .arg(script)
        .args(["--wiki", wiki, "Petra", "Petra-Password-123"])
        .env("MW_CONFIG_FILE", config)
        .output()
        .expect("createAndPromote.php");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) async fn wait_served(site: &Site, wiki: &str) {
    let http = site.client(wiki, false);
    wait_until("the wiki served", Duration::from_secs(60), || async {
        match http.get(site.url(wiki, "/index.php/Main_Page")).send().await {
            Ok(r) if r.status() == 200 => Ok(()),
            Ok(r) => Err(r.status().to_string()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
}

/// The one-command default: farmd's own PHP servers behind its proxy's cache, which MediaWiki
/// purges at farmd's own address. Its counters are in /metrics.
#[tokio::test]
async fn the_built_in_cache_serves_anonymous_views_and_follows_purges() {
    let farmd = Farmd::start_with(&[("FARM_MARIADB_URL", common::LOCAL_MARIADB)]).await;
    assert!(farmd.create_account("olga", "admin", Some(PASSWORD)));
    let token = farmd.token("olga", "admin");
    let site = Site { domain: "localhost", port: farmd.port };
    for (wiki, backend) in [("cachelite", "sqlite"), ("cachemaria", "mariadb")] {
        let owner = new_wiki(&farmd, &token, wiki, backend).await;
        wait_served(&site, wiki).await;
        second_account(&farmd, wiki, None);
        behaves_like_a_cdn(&site, wiki, (&owner.0, &owner.1), ("Petra", "Petra-Password-123"), &|| farmd.log()).await;
    }
    new_wiki(&farmd, &token, "cachesecret", "sqlite").await;
    make_private(&farmd, &token, "cachesecret").await;
    private_wiki_is_never_cached(&site, "cachesecret").await;
    // A wiki turned private keeps nothing it stored while public (farmd's cache keeps no page
    // across a settings change).
    let anonymous = site.client("cachelite", false);
    let stored = get(&anonymous, &site.url("cachelite", PAGE), &[]).await;
    let again = get(&anonymous, &site.url("cachelite", PAGE), &[]).await;
    assert_eq!((stored.body.contains("Second version"), again.cache.as_str()), (true, "HIT"));
    make_private(&farmd, &token, "cachelite").await;
    private_wiki_is_never_cached(&site, "cachelite").await;

    let metrics = farmd.http.get(farmd.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    let value = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    assert!(value("farm_read_cache_hits_total") >= 10, "{metrics}");
    assert!(value("farm_read_cache_misses_total") >= 4);
    assert!(value("farm_read_cache_passes_total") >= 4);
    assert!(value("farm_read_cache_purges_total") >= 4, "MediaWiki's purges and the test's");
    assert!(value("farm_read_cache_bytes") > 0);
}

/// Varnish from the recipe, as a process of the test (stopped when dropped).
pub(crate) struct Varnish {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Varnish {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Varnish {
    pub(crate) fn start(port: u16, nginx: u16, domain: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // varnishd's workers run as Debian's varnish users: they reach the work directory.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let values = [
            ("@NGINX_HOST@", "127.0.0.1".to_owned()),
            ("@NGINX_PORT@", nginx.to_string()),
            ("@BASE_DOMAIN_RE@", domain.replace('.', "\\.")),
        ];
        let vcl = dir.path().join("farmd.vcl");
        std::fs::write(&vcl, render(include_str!("../deploy/varnish/farmd.vcl"), &values)).expect("vcl");
        let log = std::fs::File::create(dir.path().join("varnishd.log")).expect("log");
        let child = Command::new(binary(&["/usr/sbin/varnishd"]))
            .args(["-F", "-a", &format!("127.0.0.1:{port}"), "-T", "127.0.0.1:0", "-s", "malloc,64m", "-f"])
            .arg(&vcl)
            .arg("-n")
            .arg(dir.path().join("work"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start varnishd");
        let varnish = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "varnishd did not start: {}", varnish.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        varnish
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("varnishd.log")).unwrap_or_default()
    }
}

/// The production recipe with its cache: Varnish on the farm's public port, nginx behind it,
/// php-fpm as www-data behind that, and MediaWiki purging Varnish ([cache] purge).
#[tokio::test]
async fn varnish_from_the_recipe_caches_in_front_of_nginx_and_php_fpm() {
    const DOMAIN: &str = "cache.test";
    let (public, nginx) = (free_port(), free_port());
    let purge = format!("[\"127.0.0.1:{public}\"]");
    let mut farmd = Farmd::new(&[
        ("FARM_BASE_DOMAIN", DOMAIN),
        ("FARM_PUBLIC_PORT", &public.to_string()),
        ("FARM_PHP_WORKERS", "0"),
        ("FARM_WEB_GROUP", "www-data"),
        ("FARM_MARIADB_URL", common::LOCAL_MARIADB),
        ("FARM_CACHE__PURGE", &purge),
    ]);
    let parent = farmd.data_dir.parent().expect("parent").to_path_buf();
    std::fs::set_permissions(&parent, std::os::unix::fs::PermissionsExt::from_mode(0o711)).expect("chmod");
    farmd.spawn();
    farmd.wait_healthy().await;
    let front = Front::start_for(DOMAIN, nginx, farmd.addr(), &farmd.data_dir);
    let varnish = Varnish::start(public, nginx, DOMAIN);
    let site = Site { domain: DOMAIN, port: public };
    let logs = || format!("{}\n--- varnishd\n{}", front.logs(), varnish.log());

    assert!(farmd.create_account("olga", "admin", Some(PASSWORD)));
    let token = farmd.token("olga", "admin");
    for (wiki, backend) in [("varnishlite", "sqlite"), ("varnishmaria", "mariadb")] {
        let owner = new_wiki(&farmd, &token, wiki, backend).await;
        wait_served(&site, wiki).await;
        // As www-data, like php-fpm: what MediaWiki writes stays the web server's.
        second_account(&farmd, wiki, Some("www-data"));
        behaves_like_a_cdn(&site, wiki, (&owner.0, &owner.1), ("Petra", "Petra-Password-123"), &logs).await;
    }
    new_wiki(&farmd, &token, "varnishsecret", "sqlite").await;
    make_private(&farmd, &token, "varnishsecret").await;
    private_wiki_is_never_cached(&site, "varnishsecret").await;

    // MediaWiki sends no purge when a wiki changes; farmd bans the wiki's pages in Varnish.
    // Turned private: nothing it stored while public is served once the API has answered.
    let again = stored_page(&site, "varnishlite").await;
    assert_eq!((again.body.contains("Second version"), again.cache.as_str()), (true, "HIT"), "{}", logs());
    make_private(&farmd, &token, "varnishlite").await;
    private_wiki_is_never_cached(&site, "varnishlite").await;
    // Deleted: its pages go from Varnish within the next sweep (a second).
    let again = stored_page(&site, "varnishmaria").await;
    assert_eq!(again.cache, "HIT");
    let (status, deleted) = farmd.delete(&token, "/api/v1/wikis/varnishmaria").await;
    assert_eq!(status, 202, "{deleted}");
    let deleted_at = Instant::now();
    let anonymous = site.client("varnishmaria", false);
    wait_until("the deleted wiki's pages gone from Varnish", Duration::from_secs(5), || async {
        let answer = get(&anonymous, &site.url("varnishmaria", PAGE), &[]).await;
        match answer.cache.as_str() {
            "HIT" => Err(format!("still a HIT after {:?}", deleted_at.elapsed())),
            _ if answer.body.contains("Second version") => Err(format!("served: {}", answer.status)),
            _ => Ok(()),
        }
    })
    .await;
    let ban = reqwest::Client::builder().no_proxy().build().expect("client");
    let relayed = ban
        .request(reqwest::Method::from_bytes(b"BAN").expect("method"), format!("http://127.0.0.1:{public}/"))
        .header("host", format!("varnishlite.{DOMAIN}"))
        .header("x-forwarded-for", "192.0.2.7")
        .send()
        .await
        .expect("ban");
    assert_eq!(relayed.status(), 403, "a relayed BAN is refused");

    // The portal and the API pass through Varnish to farmd.
    let portal = reqwest::Client::builder().resolve(DOMAIN, site.addr()).build().expect("client");
    let home = portal.get(format!("http://{DOMAIN}:{public}/healthz")).send().await.expect("health");
    assert_eq!(home.headers().get("x-cache").and_then(|v| v.to_str().ok()), Some("PASS"));
    assert_eq!(home.status(), 200);
}
