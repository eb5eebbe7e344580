//! The holes an outside review found, each attacked the way the review did: from a shell of
//! another local user, over raw HTTP, and against the PHP side.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{raw_get, Farmd};
use serde_json::json;

/// Runs `program args` as the unprivileged user `nobody` (no groups): what any other local
/// user of the machine could do.
fn as_nobody(program: &str, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", program])
        .args(args)
        .output()
        .expect("setpriv (util-linux)")
}

/// Every file and directory under `root` (not following symlinks; the farm keeps working while
/// this walks, so what vanishes meanwhile is left out).
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut all = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                pending.push(entry.path());
            }
        }
        all.push(path);
    }
    all
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// The data directory's parent as a packaged farm has it (`/var/lib`): anyone may pass through.
fn open_parent(farm: &Farmd) {
    let parent = farm.data_dir.parent().expect("parent");
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).expect("chmod parent");
}

#[tokio::test]
async fn another_local_user_reads_nothing_and_cannot_take_over_the_admin() {
    let mut farm = Farmd::new(&[]);
    open_parent(&farm);
    farm.spawn();
    farm.wait_healthy().await;
    assert!(farm.create_account("root", "admin", Some("correct horse battery")));
    let token = farm.token("mel", "member");
    let (status, _) = farm.create_wiki(&token, json!({"name": "private-parts", "sitename": "P"})).await;
    assert_eq!(status, 202);
    farm.wait_for_state(&token, "private-parts", &["active"]).await;
    // The takeover began with a reset link for the admin's address, asked for without logging in
    // (this farm has no [smtp], so the mail stays in the outbox).
    let reset = farm.http.post(farm.url("/api/v1/password-resets")).json(&json!({"email": "root@example.org"}));
    assert_eq!(reset.send().await.expect("reset").status(), 202);

    let data = farm.data_dir.clone();
    assert_eq!(mode(&data), 0o700, "the data directory is farmd's alone");
    for path in tree(&data) {
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is open to group or others", path.display());
        if meta.is_file() {
            let read = as_nobody("cat", &[&path.to_string_lossy()]);
            assert!(!read.status.success(), "nobody read {}", path.display());
        }
    }
    let listing = as_nobody("ls", &[&data.to_string_lossy()]);
    assert!(!listing.status.success(), "nobody listed the data directory");
    let grep = as_nobody("sh", &["-c", &format!("grep -a reset-password {}/control.sqlite*", data.display())]);
    assert!(!grep.status.success() && grep.stdout.is_empty(), "nobody found the reset link");

    // Even farmd's own user finds no usable link in the control store or its journal: the
    // outbox keeps mail bodies sealed.
    let mut stored = Vec::new();
    for name in ["control.sqlite", "control.sqlite-wal"] {
        stored.extend(std::fs::read(data.join(name)).unwrap_or_default());
    }
    assert!(stored.len() > 4096, "the control store was read");
    assert!(!String::from_utf8_lossy(&stored).contains("reset-password?token="), "a reset link is stored readable");
}

#[tokio::test]
async fn a_data_directory_left_open_is_tightened_at_start() {
    let mut farm = Farmd::new(&[]);
    open_parent(&farm);
    // What an older farmd left: a directory and files anyone may read.
    std::fs::create_dir_all(farm.data_dir.join("wikis")).expect("mkdir");
    std::fs::write(farm.data_dir.join("signing.key"), "ab".repeat(64)).expect("key");
    for (path, mode) in [("", 0o755), ("wikis", 0o755), ("signing.key", 0o644)] {
        std::fs::set_permissions(farm.data_dir.join(path), std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    farm.spawn();
    farm.wait_healthy().await;
    assert_eq!(mode(&farm.data_dir), 0o700);
    assert_eq!(mode(&farm.data_dir.join("wikis")), 0o700);
    assert_eq!(mode(&farm.data_dir.join("signing.key")), 0o600);
    assert!(!as_nobody("cat", &[&farm.data_dir.join("signing.key").to_string_lossy()]).status.success());
    assert!(farm.log().contains("the data directory was readable by other users"), "{}", farm.log());
}

#[tokio::test]
async fn private_upload_zones_are_refused_under_every_spelling_and_backslash_titles_are_served() {
    let farm = Farmd::start().await;
    let token = farm.token("ulla", "member");
    farm.create_wiki(&token, json!({"name": "files", "sitename": "Files"})).await;
    farm.wait_for_state(&token, "files", &["active"]).await;
    let images = farm.wiki_dir("files").join("images");
    for (path, text) in [
        ("temp/t.txt", "PRIVATE stash"),
        ("lockdir/l.txt", "PRIVATE lock"),
        ("cache/c.txt", "PRIVATE cache"),
        ("deleted/d.txt", "PRIVATE deleted"),
        ("TEMP/t.txt", "PRIVATE case"),
        (".hidden", "PRIVATE dot"),
        ("a/.secret", "PRIVATE dot"),
        ("ok.txt", "a public file"),
    ] {
        let file = images.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(&file, text).expect("write");
    }
    let host = "files.localhost";
    let (status, body) = raw_get(farm.addr(), host, "/images/ok.txt").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("a public file"), "the setup serves public files: {body}");

    let mut spellings = vec![
        "/images/.hidden".to_owned(),
        "/images//.hidden".to_owned(),
        "/images/%2Ehidden".to_owned(),
        "/images/a/.secret".to_owned(),
        "/images/a//.secret".to_owned(),
        "/images/TEMP/t.txt".to_owned(),
        "/images/tEmP/t.txt".to_owned(),
    ];
    for (zone, file) in [("temp", "t.txt"), ("lockdir", "l.txt"), ("cache", "c.txt"), ("deleted", "d.txt")] {
        let encoded_first = format!("%{:02X}{}", zone.as_bytes()[0], &zone[1..]);
        for spelling in [
            format!("/images/{zone}/{file}"),
            format!("/images//{zone}/{file}"),
            format!("/images///{zone}//{file}"),
            format!("//images/{zone}/{file}"),
            format!("/images/{encoded_first}/{file}"),
            format!("/images/{zone}%2F{file}"),
            format!("/images%2F{zone}%2F{file}"),
            format!("/images/{zone}./{file}"),
            format!("/images/{zone}%2E/{file}"),
            format!("/images/{zone}%20/{file}"),
            format!("/images/{}/{file}", zone.to_uppercase()),
            format!("/images/./{zone}/{file}"),
            format!("/images/%2E/{zone}/{file}"),
            format!("/images/x/../{zone}/{file}"),
            format!("/images/x/%2E%2E/{zone}/{file}"),
            format!("/images/{zone}/./{file}"),
            format!("/images/{zone}/{file}?action=raw"),
        ] {
            spellings.push(spelling);
        }
    }
    for spelling in &spellings {
        let (status, body) = raw_get(farm.addr(), host, spelling).await;
        assert!(!body.contains("PRIVATE"), "{spelling} served a private file ({status}): {body}");
        assert!((400..500).contains(&status), "{spelling}: {status}");
    }

    // MediaWiki links a title with a backslash as /index.php/Path%5CBackslash.
    let wiki = farm.wiki_client("files");
    let edit = wiki.edit("Path\\Backslash", "Text behind a backslash").await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");
    let (status, page) = raw_get(farm.addr(), host, "/index.php/Path%5CBackslash").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Text behind a backslash"), "{page}");
    let head = page.split("\r\n\r\n").next().unwrap_or("").to_ascii_lowercase();
    assert!(!head.contains("x-powered-by"), "PHP announces itself: {head}");
}

/// The requests the review flooded the log with, in bulk over a few connections.
#[tokio::test]
async fn junk_requests_get_a_4xx_from_farmd_and_do_not_flood_the_log() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let farm = Farmd::start().await;
    let token = farm.token("vic", "member");
    farm.create_wiki(&token, json!({"name": "target", "sitename": "Target"})).await;
    farm.wait_for_state(&token, "target", &["active"]).await;
    let before = farm.log().len();

    let host = "target.localhost";
    let kinds = [
        format!("OPTIONS * HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("get / HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("PROPFIND / HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("TRACE / HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    ];
    const PER_CONNECTION: usize = 1_000;
    const PIPELINED: usize = 45;
    let mut tasks = tokio::task::JoinSet::new();
    for connection in 0..PIPELINED {
        let addr = farm.addr();
        let kind = kinds[connection % kinds.len()].clone();
        tasks.spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let mut batch = kind.repeat(PER_CONNECTION - 1);
            batch.push_str(&kind.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"));
            let (mut reader, mut writer) = stream.split();
            let write = async { writer.write_all(batch.as_bytes()).await.expect("write") };
            let mut answers = Vec::new();
            let read = async { reader.read_to_end(&mut answers).await.expect("read") };
            tokio::join!(write, read);
            String::from_utf8_lossy(&answers).into_owned()
        });
    }
    // Malformed chunked bodies (and CONNECT), a connection each.
    const BROKEN: usize = 5_000;
    let broken =
        format!("POST /index.php HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nzz-not-a-size\r\n\r\n");
    let connect = format!("CONNECT {host}:80 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut broken_tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (addr, broken, connect, statuses) = (farm.addr(), broken.clone(), connect.clone(), statuses.clone());
        broken_tasks.spawn(async move {
            for i in (worker..BROKEN).step_by(16) {
                let request = if i % 2 == 0 { &broken } else { &connect };
                let (status, _) = common::raw_request(addr, request).await;
                statuses.lock().expect("statuses").push(status);
            }
        });
    }
    let mut answered = 0;
    while let Some(answers) = tasks.join_next().await {
        let answers = answers.expect("task");
        for status in answers.match_indices("HTTP/1.1 ").map(|(i, _)| &answers[i + 9..i + 12]) {
            assert!(status.starts_with('4'), "a junk request got {status}");
            answered += 1;
        }
    }
    while broken_tasks.join_next().await.is_some() {}
    assert_eq!(answered, PIPELINED * PER_CONNECTION, "every pipelined request was answered");
    let statuses = statuses.lock().expect("statuses").clone();
    assert_eq!(statuses.len(), BROKEN);
    assert!(
        statuses.iter().all(|s| (400..500).contains(s)),
        "{:?}",
        statuses.iter().find(|s| !(400..500).contains(*s))
    );

    let grown = farm.log().len() - before;
    assert!(grown < 100 * 1024, "50,000 junk requests grew the log by {grown} bytes:\n{}", &farm.log()[before..]);
    // And the wiki still serves.
    let (status, _) = farm.wiki_client("target").get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn request_ids_are_plain_logged_quoted_passed_to_mediawiki_and_returned() {
    let farm = Farmd::start_with(&[("FARM_LOG", "debug,sqlx=warn,hyper=info,hyper_util=info")]).await;
    let token = farm.token("ida", "member");
    farm.create_wiki(&token, json!({"name": "traced", "sitename": "Traced"})).await;
    farm.wait_for_state(&token, "traced", &["active"]).await;
    let host = "traced.localhost";

    // A plain id is kept: farmd logs it, MediaWiki uses it, the answer carries it.
    let (status, answer) = common::raw_request(
        farm.addr(),
        &format!("GET /index.php?title=Main_Page HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: trace-42.a\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(answer.to_ascii_lowercase().contains("\r\nx-request-id: trace-42.a\r\n"), "{answer}");
    assert!(answer.contains("\"wgRequestId\":\"trace-42.a\""), "MediaWiki got the id");
    assert!(farm.log().contains("request_id=\"trace-42.a\""), "logged as a quoted field");

    // Anything else is replaced, and cannot reach the log.
    let forged = "x\" level=ERROR msg=\"forged line";
    for id in [forged.to_owned(), "a".repeat(65), "semi;colon".to_owned()] {
        let (status, answer) = common::raw_request(
            farm.addr(),
            &format!("GET /index.php?title=Main_Page HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status, 200);
        let returned = answer
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_owned))
            .expect("an id on the answer");
        assert!(returned.len() == 16 && returned.bytes().all(|b| b.is_ascii_hexdigit()), "{returned}");
        assert!(!farm.log().contains(&id), "the forged id reached the log");
    }
    // A header line cannot carry a newline: bare LF and folded lines are refused outright.
    for request in [
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: abc\nERROR forged: yes\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Request-Id: abc\r\n ERROR forged line\r\n\r\n"),
    ] {
        let (status, _) = common::raw_request(farm.addr(), &request).await;
        assert_eq!(status, 400);
    }
    assert!(!farm.log().lines().any(|line| line.contains("ERROR forged")), "a forged line");
}

/// A socket that has sent this much, and no more, is open; `Ok(elapsed)` once the server has
/// closed it (read gives end of file or a reset).
async fn wait_closed(stream: &mut tokio::net::TcpStream, limit: std::time::Duration) -> Option<std::time::Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue, // an answer (408, 400...) before the close
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_do_not_hold_up_the_api() {
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    let farm = Farmd::start_with(&[
        ("FARM_HTTP__HEADER_READ_TIMEOUT", "2s"),
        ("FARM_HTTP__KEEP_ALIVE_TIMEOUT", "3s"),
        ("FARM_HTTP__REQUEST_BODY_TIMEOUT", "2s"),
    ])
    .await;
    let token = farm.token("sam", "member");
    let connect = || tokio::net::TcpStream::connect(farm.addr());

    // 64 sockets that each sent half a header, and one that sent nothing.
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut stream = connect().await.expect("connect");
        stream.write_all(b"GET /api/v1/wikis HTTP/1.1\r\nHost: loc").await.expect("half a header");
        slow.push(stream);
    }
    let mut silent = connect().await.expect("connect");
    // Meanwhile the API answers a normal client at once, again and again.
    let quick = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().expect("client");
    for _ in 0..20 {
        let response = quick.get(farm.url("/api/v1/wikis")).bearer_auth(&token).send().await.expect("API answers");
        assert_eq!(response.status(), 200);
    }
    // Each slow socket is closed once its header time-out is up: not before, not much after.
    for stream in slow.iter_mut().chain(std::iter::once(&mut silent)) {
        let elapsed = wait_closed(stream, Duration::from_secs(15)).await.expect("closed by the server");
        assert!(elapsed < Duration::from_secs(6), "closed after {elapsed:?}");
    }

    // A kept-alive connection is closed after the idle time-out, not the header one.
    let mut idle = connect().await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("request");
    let started = std::time::Instant::now();
    let mut answer = [0u8; 4096];
    let read = tokio::io::AsyncReadExt::read(&mut idle, &mut answer).await.expect("answer");
    assert!(String::from_utf8_lossy(&answer[..read]).starts_with("HTTP/1.1 200"));
    wait_closed(&mut idle, Duration::from_secs(15)).await.expect("idle connection closed");
    let idle_for = started.elapsed();
    assert!(idle_for >= Duration::from_millis(2900) && idle_for < Duration::from_secs(8), "{idle_for:?}");

    // A body that stops coming is given up after the body time-out.
    let mut stalled = connect().await.expect("connect");
    stalled
        .write_all(b"POST /api/v1/wikis HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":")
        .await
        .expect("half a body");
    let elapsed = wait_closed(&mut stalled, Duration::from_secs(15)).await.expect("stalled body closed");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    let (_, listed) = farm.get_json(&token, "/api/v1/wikis").await;
    assert_eq!(listed["wikis"].as_array().map(Vec::len), Some(0), "nothing was created: {listed}");
}

#[tokio::test]
async fn killing_one_of_four_php_workers_under_load_fails_no_get() {
    use std::time::{Duration, Instant};
    let farm = Farmd::start_with(&[("FARM_PHP_WORKERS", "4")]).await;
    let token = farm.token("lou", "member");
    farm.create_wiki(&token, json!({"name": "busy", "sitename": "Busy"})).await;
    farm.wait_for_state(&token, "busy", &["active"]).await;
    assert_eq!(farm.php_server_pids().len(), 4);

    let statuses = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    // The load runs until a while after the kill, however slow the machine is.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let wiki = farm.wiki_client("busy");
        let (statuses, stop) = (statuses.clone(), stop.clone());
        clients.spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, _) = wiki.get("/index.php?title=Main_Page").await;
                statuses.lock().expect("statuses").push(status);
            }
        });
    }
    // Kill once the load is well under way.
    common::wait_until("load on the wiki", Duration::from_secs(120), || async {
        let served = statuses.lock().expect("statuses").len();
        if served >= 30 {
            Ok(())
        } else {
            Err(format!("{served} requests"))
        }
    })
    .await;
    let victim = farm.php_server_pids()[0];
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), nix::sys::signal::Signal::SIGKILL).expect("kill -9");
    let killed_at = Instant::now();
    // Requests under way on the victim are retried on the others, and the load goes on.
    let served_at_kill = statuses.lock().expect("statuses").len();
    common::wait_until("requests after the kill", Duration::from_secs(120), || async {
        let served = statuses.lock().expect("statuses").len();
        if served >= served_at_kill + 16 && killed_at.elapsed() >= Duration::from_secs(3) {
            Ok(())
        } else {
            Err(format!("{} requests since the kill", served - served_at_kill))
        }
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while clients.join_next().await.is_some() {}
    let statuses = statuses.lock().expect("statuses").clone();
    let failed: Vec<_> = statuses.iter().filter(|s| !(200..300).contains(*s)).collect();
    assert!(statuses.len() > 20, "the load ran: {} requests", statuses.len());
    assert!(failed.is_empty(), "{} of {} GETs failed: {failed:?}\n{}", failed.len(), statuses.len(), farm.log());
    assert!(!farm.php_server_pids().contains(&victim));
}

#[tokio::test]
async fn a_sitename_that_names_a_namespace_leaves_the_project_namespace_sensible() {
    let farm = Farmd::start().await;
    let token = farm.token("nia", "member");
    for (name, sitename, language) in
        [("spec", "Special", "en"), ("datei", "Datei", "de"), ("plain", "My Farm Wiki", "en")]
    {
        let (status, body) =
            farm.create_wiki(&token, json!({"name": name, "sitename": sitename, "language": language})).await;
        assert_eq!(status, 202, "{body}");
    }
    for name in ["spec", "datei", "plain"] {
        farm.wait_for_state(&token, name, &["active"]).await;
    }
    for (name, project, special) in
        [("spec", "Project", "Special"), ("datei", "Project", "Spezial"), ("plain", "My_Farm_Wiki", "Special")]
    {
        let wiki = farm.wiki_client(name);
        let info = wiki.api_get(&[("action", "query"), ("meta", "siteinfo"), ("siprop", "general|namespaces")]).await;
        assert_eq!(
            info["query"]["namespaces"]["4"]["name"].as_str().map(|n| n.replace(' ', "_")),
            Some(project.into()),
            "{name}: {info}"
        );
        assert_eq!(info["query"]["namespaces"]["-1"]["name"], special, "{name}");
        // Special pages work, and the footer links go to the project namespace.
        let (status, page) = wiki.get(&format!("/index.php?title={special}:Version")).await;
        assert_eq!(status, 200, "{name}: {special}:Version");
        assert!(page.contains("MediaWiki") && page.contains("1.39"), "{name}: the version page");
        let (_, main) = wiki.get("/index.php?title=Main_Page").await;
        assert!(main.contains(&format!("{project}:")), "{name}: footer links to {project}:");
    }
}

/// A browser's cookies, kept by hand so that a test can add a tossed one beside them.
#[derive(Default, Clone)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.0.retain(|(n, _)| n != name);
                if !value.is_empty() {
                    self.0.push((name.to_owned(), value.to_owned()));
                }
            }
        }
    }

    fn get(&self, name: &str) -> String {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    fn header(&self, extra: &[(&str, &str)]) -> String {
        let mut all: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        all.extend(extra.iter().map(|(n, v)| format!("{n}={v}")));
        all.join("; ")
    }
}

fn csrf_in(page: &str) -> String {
    page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("a form token").to_owned()
}

/// A visitor of the portal over plain HTTP: logs in through the form; `form` posts as a page
/// of `origin` would (`None`: as a program, without Origin or Sec-Fetch-Site).
struct Visitor<'a> {
    farm: &'a Farmd,
    http: reqwest::Client,
    jar: Jar,
}

impl<'a> Visitor<'a> {
    fn new(farm: &'a Farmd) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { farm, http, jar: Jar::default() }
    }

    async fn page(&mut self, path: &str) -> String {
        let response =
            self.http.get(self.farm.url(path)).header("cookie", self.jar.header(&[])).send().await.expect("get");
        self.jar.take(&response);
        response.text().await.expect("page")
    }

    async fn log_in(&mut self, login: &str) -> String {
        let csrf = csrf_in(&self.page("/login").await);
        let form = [("csrf", csrf.as_str()), ("login", login), ("password", PASSWORD)];
        let origin = self.farm.url("");
        let response = self.post("/login", &form, &[], Some(&origin)).await;
        assert_eq!(response.status(), 303, "{login} logs in");
        self.jar.take(&response);
        csrf_in(&self.page("/wikis/new").await)
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        tossed: &[(&str, &str)],
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.farm.url(path)).header("cookie", self.jar.header(tossed)).form(form);
        if let Some(origin) = origin {
            let site = if origin == self.farm.url("") { "same-origin" } else { "same-site" };
            request = request.header("origin", origin).header("sec-fetch-site", site);
        }
        request.send().await.expect("post")
    }
}

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn portal_forms_need_a_token_of_the_session_and_the_portal_origin() {
    let farm = Farmd::start().await;
    assert!(farm.create_account("vera", "member", Some(PASSWORD)));
    assert!(farm.create_account("mallory", "member", Some(PASSWORD)));
    let vera_token = farm.token("vera", "member");
    farm.create_wiki(&vera_token, json!({"name": "precious", "sitename": "Precious"})).await;
    farm.wait_for_state(&vera_token, "precious", &["active"]).await;

    let mut vera = Visitor::new(&farm);
    let vera_csrf = vera.log_in("vera").await;
    let mut mallory = Visitor::new(&farm);
    let mallory_csrf = mallory.log_in("mallory").await;
    let portal = farm.url("");
    let evil = format!("http://evil.localhost:{}", farm.port);
    let create =
        |csrf: &str| vec![("csrf", csrf.to_owned()), ("name", "stolen".to_owned()), ("sitename", "Stolen".to_owned())];

    // What a wiki's script can send with vera's cookies: each attempt is refused.
    type Fields = Vec<(&'static str, String)>;
    let attacks: Vec<(&str, Fields, Fields, Option<&str>)> = vec![
        // The old double submit: a cookie of the script's choosing and the same value in the form.
        ("tossed double-submit cookie", create(&"a".repeat(32)), vec![("farm_csrf", "a".repeat(32))], None),
        // A token of another session (the attacker's own).
        ("another session's token", create(&mallory_csrf), vec![], None),
        // A second session cookie beside hers, with her own token.
        ("tossed session cookie", create(&vera_csrf), vec![("farm_session", mallory.jar.get("farm_session"))], None),
        // Her own token (if the script could read it), sent from the wiki's origin.
        ("from a wiki's origin", create(&vera_csrf), vec![], Some(evil.as_str())),
    ];
    for (what, form, tossed, origin) in &attacks {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let tossed: Vec<(&str, &str)> = tossed.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = vera.post("/wikis/new", &form, &tossed, *origin).await;
        // Refused, or (two session cookies make no session) sent to the login page.
        let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_owned();
        assert!(response.status() == 403 || location.starts_with("/login"), "{what}: {} {location}", response.status());
    }
    for csrf in [mallory_csrf.as_str(), &"a".repeat(32)] {
        let form = [("csrf", csrf), ("confirm", "yes")];
        let response = vera.post("/wikis/precious/delete", &form, &[("farm_csrf", csrf)], None).await;
        assert_eq!(response.status(), 403, "delete with {csrf}");
    }
    let form = [("csrf", vera_csrf.as_str()), ("confirm", "yes")];
    assert_eq!(vera.post("/wikis/precious/delete", &form, &[], Some(&evil)).await.status(), 403);
    // Login forms too: mallory's pre-session and token, tossed into a visitor's browser.
    let mut stranger = Visitor::new(&farm);
    let anonymous_csrf = csrf_in(&stranger.page("/login").await);
    let presession = stranger.jar.get("farm_presession");
    let login = [("csrf", anonymous_csrf.as_str()), ("login", "mallory"), ("password", PASSWORD)];
    let visitor = Visitor::new(&farm);
    let response = visitor.post("/login", &login, &[("farm_presession", &presession)], Some(&evil)).await;
    assert_eq!(response.status(), 403, "login from a wiki's origin");
    assert!(response.headers().get("set-cookie").is_none());

    let (_, wikis) = farm.get_json(&vera_token, "/api/v1/wikis").await;
    let names: Vec<&str> =
        wikis["wikis"].as_array().expect("wikis").iter().filter_map(|w| w["name"].as_str()).collect();
    assert_eq!(names, ["precious"], "nothing changed for vera");
    let precious = farm.wait_for_state(&vera_token, "precious", &["active"]).await;
    assert_eq!(precious["state"], "active");

    // Her own forms, from the portal's own pages, work.
    let form = create(&vera_csrf);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = vera.post("/wikis/new", &form, &[], Some(&portal)).await;
    assert_eq!(response.status(), 303, "vera creates a wiki herself");
    farm.wait_for_state(&vera_token, "stolen", &["active"]).await;
    let form = [("csrf", vera_csrf.as_str()), ("confirm", "yes")];
    assert_eq!(vera.post("/wikis/stolen/delete", &form, &[], Some(&portal)).await.status(), 303);
    farm.wait_for_state(&vera_token, "stolen", &["deleting", "deleted"]).await;

    // The API's cookie calls: the session's X-CSRF-Token, and only from the portal's origin.
    let http = reqwest::Client::new();
    let session = http
        .post(farm.url("/api/v1/sessions"))
        .json(&json!({"login": "vera", "password": PASSWORD}))
        .send()
        .await
        .expect("session");
    let mut jar = Jar::default();
    jar.take(&session);
    let api_csrf =
        session.json::<serde_json::Value>().await.expect("json")["csrf_token"].as_str().expect("token").to_owned();
    let api_create = |origin: Option<&str>, name: &str| {
        let mut request = http
            .post(farm.url("/api/v1/wikis"))
            .header("cookie", jar.header(&[]))
            .header("x-csrf-token", &api_csrf)
            .json(&json!({"name": name, "sitename": "Via the API"}));
        if let Some(origin) = origin {
            request = request.header("origin", origin).header("sec-fetch-site", "same-site");
        }
        request.send()
    };
    let refused = api_create(Some(&evil), "api-stolen").await.expect("post");
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<serde_json::Value>().await.expect("json")["error"]["code"], "csrf_failed");
    let bearer = http
        .post(farm.url("/api/v1/wikis"))
        .bearer_auth(&vera_token)
        .header("origin", &evil)
        .json(&json!({"name": "api-stolen", "sitename": "X"}))
        .send()
        .await
        .expect("post");
    assert_eq!(bearer.status(), 403, "no state change from another origin, with any credentials");
    assert_eq!(api_create(None, "api-own").await.expect("post").status(), 202);
}
