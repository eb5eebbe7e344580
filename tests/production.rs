//! The production recipe (deploy/nginx/farmd.conf, deploy/php-fpm/farmd.conf), run by the test
//! itself on loopback: Debian's nginx in front (the portal and the API to farmd, static files
//! from the codebase, each wiki host to php-fpm over a unix socket) and Debian's php-fpm running
//! the wikis as www-data, with farmd's `web_group = "www-data"` sharing the wikis' files with
//! it. farmd runs no PHP server of its own here, so every wiki page comes from php-fpm. Create,
//! log in, edit, upload, read back and delete through nginx, on both backends.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{wait_until, Farmd};
use serde_json::{json, Value};

const DOMAIN: &str = "prod.test";
const PASSWORD: &str = "correct horse battery";

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port()
}

/// nginx and php-fpm from the recipe, as processes of the test (stopped when dropped).
pub(crate) struct Front {
    nginx: Child,
    php_fpm: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Front {
    fn drop(&mut self) {
        for child in [&mut self.nginx, &mut self.php_fpm] {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGQUIT,
            );
            let _ = child.wait();
        }
    }
}

pub(crate) fn render(template: &str, values: &[(&str, String)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(name, value);
    }
    assert!(!text.contains("@\n") && !text.contains("@;"), "a placeholder left: {text}");
    text
}

pub(crate) fn binary(candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("none of {candidates:?} is installed: run deploy/install-deps.sh --test"))
}

impl Front {
    fn start(port: u16, farmd: std::net::SocketAddr, data_dir: &Path) -> Self {
        Self::start_for(DOMAIN, port, farmd, data_dir)
    }

    /// nginx on `port` for the farm of `domain` (tests/cache.rs puts Varnish in front of it).
    pub(crate) fn start_for(domain: &str, port: u16, farmd: std::net::SocketAddr, data_dir: &Path) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // nginx's workers and php-fpm's run as www-data: they reach the socket and the logs.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
        let socket = dir.path().join("php-fpm.sock");
        let values = [
            ("@LISTEN@", format!("127.0.0.1:{port}")),
            ("@BASE_DOMAIN_RE@", domain.replace('.', "\\.")),
            ("@BASE_DOMAIN@", domain.to_owned()),
            ("@FARMD@", farmd.to_string()),
            ("@MEDIAWIKI@", "/usr/share/mediawiki".to_owned()),
            ("@DATA_DIR@", data_dir.display().to_string()),
            ("@PHP_SOCKET@", socket.display().to_string()),
        ];
        let pool = render(include_str!("../deploy/php-fpm/farmd.conf"), &values);
        let d = dir.path().display();
        let fpm_conf =
            format!("[global]\npid = {d}/php-fpm.pid\nerror_log = {d}/php-fpm.log\ndaemonize = no\n\n{pool}");
        std::fs::write(dir.path().join("php-fpm.conf"), fpm_conf).expect("php-fpm.conf");
        let site = render(include_str!("../deploy/nginx/farmd.conf"), &values);
        let nginx_conf = format!(
            "user www-data;\nworker_processes 2;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 256; }}\nhttp {{\n include /etc/nginx/mime.types;\n access_log {d}/access.log;\n\
             client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{site}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), nginx_conf).expect("nginx.conf");
        // The recipe includes Debian's fastcgi_params, as from /etc/nginx.
        std::fs::copy("/etc/nginx/fastcgi_params", dir.path().join("fastcgi_params")).expect("fastcgi_params");

        let php_fpm = Command::new(binary(&["/usr/sbin/php-fpm8.2", "/usr/sbin/php-fpm"]))
            .args(["--nodaemonize", "--fpm-config"])
            .arg(dir.path().join("php-fpm.conf"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start php-fpm");
        let nginx = Command::new(binary(&["/usr/sbin/nginx"]))
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .stdin(Stdio::null())
            .spawn()
            .expect("start nginx");
        let front = Self { nginx, php_fpm, port, _dir: dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !(socket.exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) {
            assert!(std::time::Instant::now() < deadline, "nginx and php-fpm did not start: {}", front.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
        front
    }

    pub(crate) fn logs(&self) -> String {
        ["nginx-error.log", "php-fpm.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self._dir.path().join(name)).unwrap_or_default();
                format!("--- {name}\n{text}")
            })
            .collect()
    }

    /// A client that sends every farm host to nginx.
    fn client(&self, wikis: &[&str]) -> reqwest::Client {
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], self.port).into();
        let mut builder = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .resolve(DOMAIN, addr);
        for name in wikis {
            builder = builder.resolve(&format!("{name}.{DOMAIN}"), addr);
        }
        builder.build().expect("client")
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }
}

async fn api(http: &reqwest::Client, front: &Front, wiki: &str, form: &[(&str, &str)]) -> Value {
    let mut fields = vec![("format", "json"), ("formatversion", "2")];
    fields.extend_from_slice(form);
    let response =
        http.post(front.url(&format!("{wiki}.{DOMAIN}"), "/api.php")).form(&fields).send().await.expect("api");
    response.json().await.expect("json")
}

/// Through nginx and php-fpm: the portal and the API reach farmd, a new wiki (SQLite, then
/// MariaDB) is served by php-fpm as www-data, takes a login, an edit and an upload, reads them
/// back, and is gone after its deletion; the codebase's static files come from nginx.
#[tokio::test]
async fn nginx_and_php_fpm_from_the_recipe_serve_the_farm() {
    let port = free_port();
    let mut farm = Farmd::new(&[
        ("FARM_BASE_DOMAIN", DOMAIN),
        ("FARM_PUBLIC_PORT", &port.to_string()),
        ("FARM_PHP_WORKERS", "0"),
        ("FARM_WEB_GROUP", "www-data"),
        ("FARM_MARIADB_URL", common::LOCAL_MARIADB),
    ]);
    // www-data must reach the data directory through the test's own temporary folder.
    let parent = farm.data_dir.parent().expect("parent").to_path_buf();
    std::fs::set_permissions(&parent, std::os::unix::fs::PermissionsExt::from_mode(0o711)).expect("chmod");
    farm.spawn();
    farm.wait_healthy().await;
    let front = Front::start(port, farm.addr(), &farm.data_dir);
    let http = front.client(&["prodlite", "prodmaria"]);

    // The portal and the API through nginx.
    let home = http.get(front.url(DOMAIN, "/")).send().await.expect("portal");
    assert_eq!(home.status(), 200, "{}", front.logs());
    assert!(home.text().await.expect("html").contains("</html>"));
    let health = http.get(front.url(DOMAIN, "/healthz")).send().await.expect("health");
    assert_eq!(health.status(), 200);

    assert!(farm.create_account("olga", "admin", Some(PASSWORD)));
    let token = farm.token("olga", "admin");
    for (name, backend) in [("prodlite", "sqlite"), ("prodmaria", "mariadb")] {
        let created = http
            .post(front.url(DOMAIN, "/api/v1/wikis"))
            .bearer_auth(&token)
            .json(&json!({"name": name, "sitename": format!("Prod {backend}"), "backend": backend}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 202, "{}", created.text().await.unwrap_or_default());
        farm.wait_for_state(&token, name, &["active"]).await;
        let host = format!("{name}.{DOMAIN}");

        let page = wait_until("the wiki served by php-fpm", Duration::from_secs(30), || async {
            let response = http.get(front.url(&host, "/index.php?title=Main_Page")).send().await;
            match response {
                Ok(r) if r.status() == 200 => Ok(r.text().await.unwrap_or_default()),
                Ok(r) => Err(format!("{} {}", r.status(), front.logs())),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        assert!(page.contains(&format!("Prod {backend}")), "the wiki's own page");

        // Log in (local accounts are on in this harness), edit, read back.
        let tokens = api(&http, &front, name, &[("action", "query"), ("meta", "tokens"), ("type", "login")]).await;
        let login_token = tokens["query"]["tokens"]["logintoken"].as_str().expect("login token").to_owned();
        let returnurl = front.url(&host, "/");
        let login = api(
            &http,
            &front,
            name,
            &[
                ("action", "clientlogin"),
                ("username", "Olga"),
                ("password", PASSWORD),
                ("logintoken", &login_token),
                ("loginreturnurl", &returnurl),
            ],
        )
        .await;
        assert_eq!(login["clientlogin"]["status"], "PASS", "{login}");
        let tokens = api(&http, &front, name, &[("action", "query"), ("meta", "tokens")]).await;
        let csrf = tokens["query"]["tokens"]["csrftoken"].as_str().expect("csrf").to_owned();
        let text = format!("Served by php-fpm on {backend}.");
        let edit =
            api(&http, &front, name, &[("action", "edit"), ("title", "Prod"), ("text", &text), ("token", &csrf)]).await;
        assert_eq!(edit["edit"]["result"], "Success", "{edit}");
        let read = http.get(front.url(&host, "/index.php?title=Prod")).send().await.expect("read");
        assert!(read.text().await.expect("html").contains(&text));

        // An upload: written by www-data into the wiki's upload area, served back by the router.
        let png = common::png(16, 0x3366cc);
        let form = reqwest::multipart::Form::new()
            .text("action", "upload")
            .text("format", "json")
            .text("formatversion", "2")
            .text("filename", "Prod.png")
            .text("ignorewarnings", "1")
            .text("token", csrf.clone())
            .part("file", reqwest::multipart::Part::bytes(png.clone()).file_name("Prod.png"));
        let upload: Value = http
            .post(front.url(&host, "/api.php"))
            .multipart(form)
            .send()
            .await
            .expect("upload")
            .json()
            .await
            .expect("json");
        assert_eq!(upload["upload"]["result"], "Success", "{upload}");
        let file_url = upload["upload"]["imageinfo"]["url"].as_str().expect("url").to_owned();
        let file = http.get(&file_url).send().await.expect("file");
        assert_eq!(file.status(), 200, "{file_url}");
        assert_eq!(file.bytes().await.expect("bytes").as_ref(), png.as_slice());

        // The codebase's static files come from nginx itself.
        let logo = http.get(front.url(&host, "/resources/assets/poweredby_mediawiki_88x31.png")).send().await;
        let logo = logo.expect("static");
        assert_eq!(logo.status(), 200);
        assert_eq!(logo.headers()["content-type"], "image/png");
    }

    // What www-data made stays farmd's to read, and the keys stay farmd's alone.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let key = std::fs::metadata(farm.data_dir.join("signing.key")).expect("key");
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let uploads = farm.wiki_dir("prodlite").join("images");
    let www = nix::unistd::Group::from_name("www-data").expect("group").expect("www-data").gid.as_raw();
    assert_eq!(std::fs::metadata(&uploads).expect("images").gid(), www);

    // Deleted: gone from nginx too.
    for name in ["prodlite", "prodmaria"] {
        let deleted = http
            .delete(front.url(DOMAIN, &format!("/api/v1/wikis/{name}")))
            .bearer_auth(&token)
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), 202);
        farm.wait_for_state(&token, name, &["deleted"]).await;
        let gone = http.get(front.url(&format!("{name}.{DOMAIN}"), "/index.php?title=Prod")).send().await;
        assert_eq!(gone.expect("gone").status(), 404, "{name} is no longer served");
    }
}
