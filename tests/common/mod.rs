//! Test harness: runs the real `farmd` binary on a free port with a fresh data directory,
//! against the real MediaWiki codebase, and talks to it over HTTP like any client.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod browser;
pub mod ldap;
pub mod mariadb;
pub mod oidc;
pub mod smtp;

pub const MEDIAWIKI_DIR: &str = "/usr/share/mediawiki";
const FARMD: &str = env!("CARGO_BIN_EXE_farmd");

pub fn require_mediawiki() {
    assert!(
        Path::new(MEDIAWIKI_DIR).join("includes/Defines.php").is_file(),
        "MediaWiki is not installed at {MEDIAWIKI_DIR}: run deploy/install-deps.sh (the end-to-end tests need it)"
    );
}

/// `MW_VERSION` of the codebase the tests run against (the name of `templates/<version>/`).
pub fn mediawiki_version() -> String {
    let defines = std::fs::read_to_string(Path::new(MEDIAWIKI_DIR).join("includes/Defines.php")).expect("Defines.php");
    let line = defines.lines().find(|l| l.contains("'MW_VERSION'")).expect("MW_VERSION in Defines.php");
    line.split('\'').nth(3).expect("define( 'MW_VERSION', '1.x.y' );").to_owned()
}

/// The folder under `templates/` of this codebase's templates (MediaWiki version and the set
/// of extension tables they carry).
pub fn template_version() -> String {
    sqlite_template().1.clone()
}

/// Polls `condition` until it holds; panics with `what` (and its last answer) after `timeout`.
/// Tests wait for what they need with this, never for a fixed time.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match condition().await {
            Ok(value) => return value,
            Err(last) => assert!(Instant::now() < deadline, "{what} did not happen within {timeout:?}; last: {last}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The English SQLite template with the default starter, as farmd builds it ahead of the first
/// wiki, made once per test run: MediaWiki's installer and the starter's import take seconds of
/// CPU, and most farms the tests start would run them again for an identical result. The copy
/// is taken from a real farm's data directory once it is complete. Returns where the copy is,
/// the name of the folder farms keep templates in (`templates/<MediaWiki version>-x<extension
/// tables>/`) and the template's own folder name there (`sqlite-en-blank-<hash>`).
fn sqlite_template() -> &'static (PathBuf, String, String) {
    static TEMPLATE: OnceLock<(PathBuf, String, String)> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sqlite-template-{}", std::process::id()));
        remove_caches_of_finished_runs(cache.parent().expect("target tmpdir"));
        let mut farm = Farmd::new(&[("FARM_PHP_WORKERS", "0")]);
        farm.build_own_template();
        farm.spawn();
        // farmd renames the installer's scratch folder to its final name once it is whole.
        let templates = farm.data_dir.join("templates");
        let deadline = Instant::now() + Duration::from_secs(180);
        let (version, name) = loop {
            let built = std::fs::read_dir(&templates).into_iter().flatten().flatten().find_map(|version| {
                std::fs::read_dir(version.path()).into_iter().flatten().flatten().find_map(|t| {
                    let name = t.file_name().to_string_lossy().into_owned();
                    name.starts_with("sqlite-en-blank-")
                        .then(|| (version.file_name().to_string_lossy().into_owned(), name))
                })
            });
            if let Some(built) = built {
                break built;
            }
            assert!(Instant::now() < deadline, "farmd built no SQLite template:\n{}", farm.log());
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(version.starts_with(&mediawiki_version()), "templates are named by MediaWiki version: {version}");
        assert!(farm.terminate().success(), "{}", farm.log());
        let _ = std::fs::remove_dir_all(&cache);
        copy_dir(&templates.join(&version).join(&name), &cache);
        (cache, version, name)
    })
}

fn remove_caches_of_finished_runs(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("sqlite-template-") else { continue };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Copies a folder tree, keeping file modes (farmd's files are 0600, its folders 0700).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::DirBuilder::new().mode(0o700).create(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).expect("template").map(|e| e.expect("entry")) {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Where the farm keeps its registry. The behavioural suites run on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlStore {
    Sqlite,
    /// A fresh database on the MariaDB server at 127.0.0.1:3306, dropped afterwards.
    Mariadb,
}

/// The MariaDB server every machine of this project runs (root, no password).
pub const LOCAL_MARIADB: &str = "mysql://root@127.0.0.1:3306";

/// Runs `sql` on the local MariaDB server as root through the `mariadb` client.
pub fn local_mariadb(sql: &str) -> String {
    let output = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "-N", "-B", "-e", sql])
        .output()
        .expect("the mariadb client");
    assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Generates one `#[tokio::test]` per store for each scenario `async fn NAME(ControlStore)`.
#[macro_export]
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite_store {
            $( #[tokio::test] async fn $scenario() { super::$scenario($crate::common::ControlStore::Sqlite).await } )*
        }
        mod mariadb_store {
            $( #[tokio::test] async fn $scenario() { super::$scenario($crate::common::ControlStore::Mariadb).await } )*
        }
    };
}

/// No quota and no creation rate limit for members.
pub const UNLIMITED_MEMBERS: &[(&str, &str)] = &[
    ("FARM_QUOTAS__MAX_WIKIS_PER_ACCOUNT", "1000000"),
    ("FARM_RATE_LIMITS__CREATE_PER_ACCOUNT__COUNT", "0"),
    ("FARM_RATE_LIMITS__CREATE_PER_SOURCE__COUNT", "0"),
];

pub struct Farmd {
    child: Option<Child>,
    /// The port farmd listens on: the kernel picks it at the first start (port 0, reported in
    /// `farmd.addr`), and restarts keep it, since wiki URLs name it.
    pub port: u16,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    pub http: reqwest::Client,
    /// The control store's URL.
    pub store_url: String,
    control_db: Option<String>,
    config_file: Option<PathBuf>,
    /// Whether the first start gets a copy of the run's SQLite template (see [`sqlite_template`]).
    seed_template: bool,
}

impl Farmd {
    /// A farm on a fresh data directory, started and healthy.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        Self::start_on(ControlStore::Sqlite, env).await
    }

    /// Prepared but not started (see [`Farmd::spawn`]).
    pub fn new(env: &[(&str, &str)]) -> Self {
        Self::new_on(ControlStore::Sqlite, env, None)
    }

    /// A farm on `store`, with an optional TOML configuration file.
    pub fn new_on(store: ControlStore, env: &[(&str, &str)], config_toml: Option<&str>) -> Self {
        require_mediawiki();
        let temp = tempfile::tempdir().expect("tempdir");
        let data_dir = temp.path().join("data");
        let (store_url, control_db) = match store {
            ControlStore::Sqlite => (format!("sqlite://{}?mode=ro", data_dir.join("control.sqlite").display()), None),
            ControlStore::Mariadb => {
                let db = format!("farmtest_{:08x}", rand_u32());
                local_mariadb(&format!("CREATE DATABASE {db}"));
                (format!("{LOCAL_MARIADB}/{db}"), Some(db))
            }
        };
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if config_toml.is_none() {
            // Suites about wikis (not about accounts) let members create as many as they like;
            // tests/accounts.rs sets quotas and rate limits in its configuration files.
            for (key, value) in UNLIMITED_MEMBERS {
                if !env.iter().any(|(k, _)| k == key) {
                    env.push((key.to_string(), value.to_string()));
                }
            }
        }
        // Deleting tears a wiki down at once unless a test asks for the trash (tests/trash.rs).
        if !env.iter().any(|(k, _)| k == "FARM_DELETED_RETENTION") {
            env.push(("FARM_DELETED_RETENTION".into(), "0s".into()));
        }
        // The suites older than the sign-on log in to wikis with the owner's password; the
        // farm's default (farm accounts only, through the portal) is tests/sign_on.rs's.
        if !env.iter().any(|(k, _)| k == "FARM_WIKI_ACCOUNTS__LOCAL_ACCOUNTS") {
            env.push(("FARM_WIKI_ACCOUNTS__LOCAL_ACCOUNTS".into(), "true".into()));
        }
        // No scheduled backups unless a test asks for them (tests/backups.rs).
        if !env.iter().any(|(k, _)| k == "FARM_BACKUPS__INTERVAL") {
            env.push(("FARM_BACKUPS__INTERVAL".into(), "0s".into()));
        }
        if control_db.is_some() {
            env.push(("FARM_DATABASE_URL".into(), store_url.clone()));
        }
        let config_file = config_toml.map(|toml| {
            let path = temp.path().join("farmd.toml");
            std::fs::write(&path, toml).expect("config file");
            path
        });
        Self {
            child: None,
            port: 0,
            data_dir,
            _temp: Some(temp),
            env,
            // Idle connections are dropped before farmd's own keep-alive time-out (60 s) closes
            // them: a request on a connection the server is closing fails for nothing.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_idle_timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            store_url,
            control_db,
            config_file,
            seed_template: true,
        }
    }

    pub async fn start_on(store: ControlStore, env: &[(&str, &str)]) -> Self {
        let mut farm = Self::new_on(store, env, None);
        farm.spawn();
        farm.wait_healthy().await;
        farm
    }

    /// This farm runs MediaWiki's installer for its SQLite template itself (for tests about
    /// that build; the others start from a copy of one a farm made earlier in the run).
    pub fn build_own_template(&mut self) {
        self.seed_template = false;
    }

    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "already running");
        if std::mem::take(&mut self.seed_template) && !self.data_dir.exists() {
            let (template, version, name) = sqlite_template();
            let templates = self.data_dir.join("templates").join(version);
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&templates).expect("templates dir");
            copy_dir(template, &templates.join(name));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.with_file_name("farmd.log"))
            .expect("log file");
        let mut cmd = Command::new(FARMD);
        cmd.arg("serve")
            .env("FARM_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("FARM_DATA_DIR", &self.data_dir)
            .env("FARM_MEDIAWIKI_DIR", MEDIAWIKI_DIR)
            .env("FARM_PHP_WORKERS", "2")
            .env("FARM_LOG", "info,farm_core=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone().expect("log"));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(config) = &self.config_file {
            cmd.arg("--config").arg(config);
        }
        let _ = std::fs::remove_file(self.data_dir.join("farmd.addr"));
        self.child = Some(cmd.spawn().expect("start farmd"));
        self.port = self.wait_for_listen_address().port();
    }

    /// farmd writes the address it bound to `farmd.addr` before it opens its stores.
    fn wait_for_listen_address(&mut self) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let written = std::fs::read_to_string(self.data_dir.join("farmd.addr")).unwrap_or_default();
            if let Ok(addr) = written.trim().parse() {
                return addr;
            }
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                panic!("farmd exited with {status}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "farmd never said where it listens:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Rewrites the configuration file (takes effect at the next [`Farmd::spawn`]).
    pub fn set_config(&mut self, toml: &str) {
        let path = self.config_file.clone().unwrap_or_else(|| self.data_dir.with_file_name("farmd.toml"));
        std::fs::write(&path, toml).expect("config file");
        self.config_file = Some(path);
    }

    /// Drops this farm's template databases from the machine's MariaDB server (tests that put
    /// wikis there delete the wikis themselves).
    pub fn drop_templates_on_local_mariadb(&self) {
        let Ok(id) = std::fs::read_to_string(self.data_dir.join("farm.id")) else { return };
        let id = id.trim();
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "farm id {id:?}");
        let templates = local_mariadb(&format!(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'farmtpl\\_{id}\\_%'"
        ));
        for template in templates.lines().filter(|t| !t.is_empty()) {
            local_mariadb(&format!("DROP DATABASE IF EXISTS `{template}`"));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_file_name("farmd.log")).unwrap_or_default()
    }

    pub async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("farmd exited with {status}:\n{}", self.log());
                }
            }
            if let Ok(response) = self.http.get(self.url("/healthz")).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "farmd did not become healthy:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("kill -9");
            child.wait().expect("reap");
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "farmd did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's process id (a restart by exec keeps it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// A token from `farmd token` for the account `subject` (made with `role` by `farmd
    /// account create` if it does not exist yet).
    pub fn token(&self, subject: &str, role: &str) -> String {
        self.token_with_ttl(subject, role, "1h")
    }

    /// `farmd ARGS` on this farm's data directory and configuration (the daemon may run).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        use std::io::Write;
        let mut cmd = Command::new(FARMD);
        cmd.args(args).env("FARM_DATA_DIR", &self.data_dir).env("FARM_MEDIAWIKI_DIR", MEDIAWIKI_DIR);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(config) = &self.config_file {
            cmd.arg("--config").arg(config);
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("farmd");
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.unwrap_or("").as_bytes()).expect("stdin");
        }
        child.wait_with_output().expect("farmd")
    }

    /// Creates a confirmed account from the command line; false if it existed already.
    pub fn create_account(&self, username: &str, role: &str, password: Option<&str>) -> bool {
        let email = format!("{}@example.org", username.to_lowercase());
        let mut args = vec!["account", "create", "--username", username, "--email", &email, "--role", role];
        if password.is_some() {
            args.push("--password-stdin");
        }
        let output = self.cli(&args, password.map(|p| format!("{p}\n")).as_deref());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success() || stderr.contains("taken"), "farmd account create failed: {stderr}");
        output.status.success()
    }

    pub fn token_with_ttl(&self, subject: &str, role: &str, ttl: &str) -> String {
        self.create_account(subject, role, None);
        let output = self.cli(&["token", "--username", subject, "--ttl", ttl], None);
        assert!(output.status.success(), "farmd token failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
    }

    pub async fn create_wiki(&self, token: &str, body: Value) -> (u16, Value) {
        let response =
            self.http.post(self.url("/api/v1/wikis")).bearer_auth(token).json(&body).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self.http.delete(self.url(path)).bearer_auth(token).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls the wiki until its state is one of `states`; returns the resource.
    pub async fn wait_for_state(&self, token: &str, name: &str, states: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, body) = self.get_json(token, &format!("/api/v1/wikis/{name}")).await;
            if status == 200 && states.contains(&body["state"].as_str().unwrap_or("")) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "wiki {name} never reached {states:?}; last {status} {body}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An HTTP client that reaches `{name}.localhost` at this farm, with its own cookie jar
    /// (as a browser would, without relying on the system resolver for *.localhost).
    pub fn wiki_client(&self, name: &str) -> WikiClient {
        self.client_for_host(&format!("{name}.localhost"))
    }

    /// [`Farmd::wiki_client`] for any host name (farms whose base domain is not `localhost`).
    pub fn client_for_host(&self, host: &str) -> WikiClient {
        let http = reqwest::Client::builder()
            .resolve(host, self.addr())
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        WikiClient { http, base: format!("http://{host}:{}", self.port) }
    }

    /// Runs a MediaWiki maintenance script through the farm's entry file.
    pub fn maintenance(&self, script: &str, args: &[&str]) -> std::process::Output {
        Command::new("php")
            .arg(Path::new(MEDIAWIKI_DIR).join("maintenance").join(script))
            .args(args)
            .env("MW_CONFIG_FILE", self.data_dir.join("mediawiki/FarmSettings.php"))
            .output()
            .expect("php")
    }

    /// Directory entries under `data/<sub>` (hidden ones too).
    /// The names in `sub` (a folder of the data directory), sorted; panics if it does not exist,
    /// so a check over them cannot pass on a folder that was never made.
    pub fn entries(&self, sub: &str) -> Vec<String> {
        let dir = self.data_dir.join(sub);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Resource keys of the warm pool's entries, read from the control store.
    pub async fn pool_keys(&self) -> Vec<String> {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.store_url).await.expect("open control store");
        let rows = sqlx::query("SELECT resource_key FROM pool_entries").fetch_all(&mut conn).await.expect("query");
        rows.iter().map(|r| r.get(0)).collect()
    }

    /// farmd's peak resident memory (VmHWM), in KiB.
    pub fn peak_memory_kib(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()
    }

    /// Rows of the control store, read directly: (name, resource key, state).
    pub async fn registry(&self) -> Vec<(String, String, String)> {
        use sqlx::{Connection, Row};
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.store_url).await.expect("open control store");
        let rows = sqlx::query("SELECT label, resource_key, state FROM wikis ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("query");
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
    }
}

/// When a crash test kills farmd while a batch of wikis is provisioned.
#[derive(Debug, Clone, Copy)]
pub enum KillAt {
    /// Right after the requests were accepted.
    Accepted,
    /// Once a first step of the batch is done.
    FirstStep,
    /// Once this many wikis of the batch are active.
    Active(usize),
}

impl Farmd {
    /// Waits until provisioning of `batch` (owned by the bearer of `token`) reached `point`.
    pub async fn wait_for(&self, point: KillAt, token: &str, batch: &[String]) {
        wait_until(&format!("{point:?}"), Duration::from_secs(60), || async {
            let mut steps_done = 0;
            let mut active = 0;
            for name in batch {
                let (_, wiki) = self.get_json(token, &format!("/api/v1/wikis/{name}")).await;
                active += usize::from(wiki["state"] == "active");
                steps_done +=
                    wiki["progress"].as_array().map_or(0, |steps| steps.iter().filter(|s| s["done"] == true).count());
            }
            let reached = match point {
                KillAt::Accepted => true,
                KillAt::FirstStep => steps_done > 0,
                KillAt::Active(count) => active >= count,
            };
            if reached {
                Ok(())
            } else {
                Err(format!("{steps_done} steps done, {active} active"))
            }
        })
        .await
    }

    /// Waits until MediaWiki's installer is building a template (its scratch folder exists).
    pub async fn wait_for_template_build(&self) {
        let templates = self.data_dir.join("templates").join(template_version());
        wait_until("a template build", Duration::from_secs(30), || async {
            let building = std::fs::read_dir(&templates)
                .map(|dir| dir.flatten().any(|e| e.file_name().to_string_lossy().contains(".building")))
                .unwrap_or(false);
            if building {
                Ok(())
            } else {
                Err("no scratch folder yet".to_owned())
            }
        })
        .await
    }

    /// PHP servers die with farmd (their parent-death signal): waits for the kernel to deliver it.
    pub async fn wait_no_php_server_left(&self) {
        let needle = self.data_dir.to_string_lossy().into_owned();
        wait_until("PHP servers stopping with farmd", Duration::from_secs(10), || async {
            let left = processes_mentioning(&needle);
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("{left:?}"))
            }
        })
        .await
    }
}

impl Drop for Farmd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(db) = &self.control_db {
            let _ = Command::new("mariadb")
                .args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "-e", &format!("DROP DATABASE IF EXISTS {db}")])
                .output();
        }
    }
}

/// Processes whose command line contains `needle`: (pid, command line with spaces).
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                let pid = entry.file_name().to_string_lossy().parse().unwrap_or(0);
                found.push((pid, cmdline));
            }
        }
    }
    found
}

impl Farmd {
    /// Pids of this farm's PHP built-in servers.
    pub fn php_server_pids(&self) -> Vec<i32> {
        processes_mentioning(&self.data_dir.join("mediawiki/router.php").to_string_lossy())
            .into_iter()
            .filter_map(|(pid, cmdline)| cmdline.contains(" -S ").then_some(pid))
            .collect()
    }

    /// The directory of the wiki called `name` (through its host link).
    pub fn wiki_dir(&self, name: &str) -> PathBuf {
        let link = self.data_dir.join("hosts").join(name);
        let target = std::fs::read_link(&link).expect("host link");
        self.data_dir.join("hosts").join(target)
    }
}

/// One HTTP/1.1 request written by hand to `addr` (no client library that would tidy the
/// target up): the status and the whole answer.
pub async fn raw_request(addr: SocketAddr, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// `GET path` on the wiki `host`, raw.
pub async fn raw_get(addr: SocketAddr, host: &str, path: &str) -> (u16, String) {
    raw_request(addr, &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")).await
}

fn rand_u32() -> u32 {
    let mut bytes = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .expect("urandom");
    u32::from_le_bytes(bytes)
}

/// The CSRF token in a portal page's forms.
pub fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("every page with a form has the token")
        .to_owned()
}

/// A client logged in to the portal as `username` (cookies kept, redirects not followed).
pub async fn portal_login(farm: &Farmd, username: &str, password: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client.get(farm.url("/login")).send().await.expect("login page").text().await.expect("page");
    let form = [("csrf", csrf_of(&page)), ("login", username.to_owned()), ("password", password.to_owned())];
    let response = client.post(farm.url("/login")).form(&form).send().await.expect("login");
    assert_eq!(response.status(), 303, "{username} logs in");
    client
}

/// A PNG of `side` × `side` pixels in one colour (`0xRRGGBB`), drawn by PHP's GD.
pub fn png(side: u32, colour: u32) -> Vec<u8> {
    let code = format!("$i = imagecreatetruecolor({side}, {side}); imagefill($i, 0, 0, {colour}); imagepng($i);");
    Command::new("php").args(["-r", &code]).output().expect("php").stdout
}

pub struct WikiClient {
    pub http: reqwest::Client,
    pub base: String,
}

impl WikiClient {
    /// Uploads `bytes` as `File:{filename}` (log in first); MediaWiki's answer (format 2).
    pub async fn upload(&self, filename: &str, bytes: Vec<u8>) -> Value {
        let tokens = self.api_get(&[("action", "query"), ("meta", "tokens")]).await;
        let token = tokens["query"]["tokens"]["csrftoken"].as_str().expect("csrf").to_owned();
        let form = reqwest::multipart::Form::new()
            .text("action", "upload")
            .text("format", "json")
            .text("formatversion", "2")
            .text("filename", filename.to_owned())
            .text("ignorewarnings", "1")
            .text("token", token)
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()));
        let response = self.http.post(format!("{}/api.php", self.base)).multipart(form).send().await.expect("upload");
        response.json().await.expect("json")
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    pub async fn api_get(&self, query: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .get(format!("{}/api.php", self.base))
            .query(&[("format", "json"), ("formatversion", "2")])
            .query(query)
            .send()
            .await
            .expect("api request");
        response.json().await.expect("api json")
    }

    pub async fn api_post(&self, form: &[(&str, &str)]) -> Value {
        let mut fields: Vec<(&str, &str)> = vec![("format", "json"), ("formatversion", "2")];
        fields.extend_from_slice(form);
        let response =
            self.http.post(format!("{}/api.php", self.base)).form(&fields).send().await.expect("api request");
        response.json().await.expect("api json")
    }

    /// Logs in through MediaWiki's action API (clientlogin), as a person would.
    pub async fn login(&self, username: &str, password: &str) -> Value {
        let tokens = self.api_get(&[("action", "query"), ("meta", "tokens"), ("type", "login")]).await;
        let token = tokens["query"]["tokens"]["logintoken"].as_str().expect("login token").to_owned();
        let returnurl = format!("{}/", self.base);
        self.api_post(&[
            ("action", "clientlogin"),
            ("username", username),
            ("password", password),
            ("logintoken", &token),
            ("loginreturnurl", &returnurl),
        ])
        .await
    }

    pub async fn edit(&self, title: &str, text: &str) -> Value {
        let tokens = self.api_get(&[("action", "query"), ("meta", "tokens")]).await;
        let token = tokens["query"]["tokens"]["csrftoken"].as_str().expect("csrf token").to_owned();
        self.api_post(&[("action", "edit"), ("title", title), ("text", text), ("token", &token)]).await
    }
}
