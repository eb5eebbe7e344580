//! A private MariaDB server per test: `mariadb-install-db` into a fresh temp folder, then
//! `mariadbd` on a loopback port that binds with a root password, killed and removed on drop.
//!
//! The data folder goes on tmpfs (`/dev/shm`) when there is one: MariaDB calls fsync a lot
//! while it initialises: 4-5 s on this machine's disk, 0.6 s on tmpfs. The server is
//! tuned for tests (small buffer pool, no doublewrite, log flushed to the OS at every commit
//! but synced once a second): it loses nothing when killed, only when the machine dies.
//!
//! Every process started here gets `PR_SET_PDEATHSIG = SIGKILL`, so nothing outlives the test
//! process. Linux sends that signal when the *thread* that spawned the child exits, not the
//! process, so `mariadbd` is spawned from one thread that lives as long as the process: the
//! server survives the thread that made it (a `std::thread`, tokio's `spawn_blocking`).

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

pub const MARIADBD: &str = "/usr/sbin/mariadbd";
pub const MARIADB_INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
/// The command-line client, used once per server to set root's password.
pub const MARIADB_CLIENT: &str = "/usr/bin/mariadb";

/// Options for both the bootstrap (`mariadb-install-db` passes them on) and the server, so
/// the InnoDB files are created the way the server will open them.
const SERVER_OPTIONS: &[&str] = &[
    "--skip-name-resolve",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--innodb-log-buffer-size=4M",
    "--innodb-doublewrite=0",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-flush-method=fsync",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
];

pub struct TempMariaDb {
    pub port: u16,
    /// `mysql://root:PASSWORD@127.0.0.1:PORT`
    pub admin_url: String,
    pub root_password: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl TempMariaDb {
    /// A new, empty server (no `test` database, root only), started and accepting
    /// connections as root with a password. Blocks for about a second.
    pub fn new() -> Self {
        require_mariadb();
        let dir = temp_dir();
        std::fs::create_dir(dir.path().join("tmp")).expect("tmpdir");
        let started = Instant::now();
        let install = Command::new(MARIADB_INSTALL_DB)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            // Own temp folder: bootstraps running in parallel on one tmpdir crash (their
            // internal Aria temp tables collide).
            .arg(format!("--tmpdir={}", dir.path().join("tmp").display()))
            .args(["--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(SERVER_OPTIONS)
            .stdin(Stdio::null())
            .output_dying_with_parent()
            .expect("run mariadb-install-db");
        assert!(
            install.status.success(),
            "mariadb-install-db failed ({}):\n{}{}",
            install.status,
            String::from_utf8_lossy(&install.stdout),
            String::from_utf8_lossy(&install.stderr)
        );
        let mut db = Self { port: 0, admin_url: String::new(), root_password: random_alnum(24), child: None, dir };
        // mariadbd cannot take port 0 (it means 3306): try ports below the kernel's ephemeral
        // range until one binds.
        for attempt in 1.. {
            db.port = 10_000 + (super::rand_u32() % 22_000) as u16;
            let _ = std::fs::remove_file(db.dir.path().join("mariadbd.err"));
            db.spawn();
            match db.wait_ready() {
                Ok(()) => break,
                Err(log) if attempt < 20 && log.contains("Address already in use") => continue,
                Err(log) => panic!("mariadbd did not start:\n{log}"),
            }
        }
        db.admin_url = format!("mysql://root:{}@127.0.0.1:{}", db.root_password, db.port);
        db.set_root_password();
        eprintln!("TempMariaDb on port {} ready in {} ms", db.port, started.elapsed().as_millis());
        db
    }

    /// `mysql://USER:PASSWORD@127.0.0.1:PORT` for another account on this server.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("mysql://{user}:{password}@127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's error log (start-up messages, crash recovery).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mariadbd.err")).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// An outage: SIGKILL, no chance to flush anything. The data stay for [`Self::start`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            // A dead pid here would mark the folder stale for other tests' sweeps.
            let _ = std::fs::remove_file(self.dir.path().join("mysqld.pid"));
        }
    }

    /// Recovery: the same data directory on the same port, waiting until it accepts
    /// connections (after InnoDB's crash recovery, if it was killed).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "TempMariaDb is already running");
        self.spawn();
        if let Err(log) = self.wait_ready() {
            panic!("mariadbd did not start again:\n{log}");
        }
    }

    fn spawn(&mut self) {
        let base = self.dir.path();
        let mut cmd = Command::new(MARIADBD);
        // --no-defaults must come first.
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", base.join("data").display()))
            .arg(format!("--socket={}", base.join("mysqld.sock").display()))
            .arg(format!("--pid-file={}", base.join("mysqld.pid").display()))
            .arg(format!("--log-error={}", base.join("mariadbd.err").display()))
            .arg(format!("--tmpdir={}", base.join("tmp").display()))
            .arg(format!("--port={}", self.port))
            .args(["--bind-address=127.0.0.1", "--user=root", "--skip-log-bin", "--max-connections=200"])
            .args(SERVER_OPTIONS)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Warnings printed before the log file is open (e.g. open files limit).
            .stderr(Stdio::null());
        self.child = Some(spawn_from_lasting_thread(cmd).expect("start mariadbd"));
    }

    /// Ready = the server answers a TCP connection with its handshake packet (protocol 10).
    /// Loopback connections are exempt from MariaDB's host blocking, so probing is harmless.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("mariadbd exited with {status}:\n{}", self.log()));
                }
            }
            if handshake(&addr) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("mariadbd did not accept connections on port {}:\n{}", self.port, self.log()));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The installer leaves root without a password (on localhost, 127.0.0.1, ::1 and the
    /// host name); give the loopback ones a password, over TCP, and drop the rest.
    fn set_root_password(&self) {
        let pw = &self.root_password;
        let sql = format!(
            "ALTER USER 'root'@'localhost' IDENTIFIED BY '{pw}', \
             'root'@'127.0.0.1' IDENTIFIED BY '{pw}', 'root'@'::1' IDENTIFIED BY '{pw}';\n\
             DELETE FROM mysql.global_priv WHERE User = 'root' \
             AND Host NOT IN ('localhost', '127.0.0.1', '::1');\n\
             FLUSH PRIVILEGES;\n"
        );
        let mut client = Command::new(MARIADB_CLIENT)
            .arg("--no-defaults")
            .args(["--protocol=TCP", "--host=127.0.0.1", "--user=root"])
            .arg(format!("--port={}", self.port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the mariadb client");
        client.stdin.take().expect("stdin").write_all(sql.as_bytes()).expect("write SQL");
        let output = client.wait_with_output().expect("mariadb client");
        assert!(output.status.success(), "setting root's password failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for TempMariaDb {
    fn drop(&mut self) {
        self.stop();
        // `dir` (a TempDir) removes the folder after this.
    }
}

/// First column of every row, as text (`NULL` for SQL NULL), e.g.
/// `query_strings(&db.admin_url, "SHOW DATABASES")`. Panics on any error.
pub async fn query_strings(url: &str, sql: &str) -> Vec<String> {
    let opts = mysql_async::Opts::from_url(url).expect("MySQL URL");
    let mut conn = mysql_async::Conn::new(opts).await.unwrap_or_else(|e| panic!("connecting to {}: {e}", redact(url)));
    let rows: Vec<mysql_async::Row> = conn.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.disconnect().await;
    rows.into_iter()
        .map(|mut row| match row.take::<mysql_async::Value, _>(0) {
            Some(mysql_async::Value::Bytes(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            Some(mysql_async::Value::NULL) | None => "NULL".to_owned(),
            Some(mysql_async::Value::Int(n)) => n.to_string(),
            Some(mysql_async::Value::UInt(n)) => n.to_string(),
            Some(other) => other.as_sql(true),
        })
        .collect()
}

/// Runs statements (several may be separated by `;`), ignoring any result. Panics on error.
pub async fn execute(url: &str, sql: &str) {
    let opts = mysql_async::Opts::from_url(url).expect("MySQL URL");
    let mut conn = mysql_async::Conn::new(opts).await.unwrap_or_else(|e| panic!("connecting to {}: {e}", redact(url)));
    conn.query_drop(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.disconnect().await;
}

/// Whether `url` accepts a login (wrong password, missing user or a stopped server: false).
pub async fn can_connect(url: &str) -> bool {
    let Ok(opts) = mysql_async::Opts::from_url(url) else {
        return false;
    };
    match mysql_async::Conn::new(opts).await {
        Ok(conn) => {
            let _ = conn.disconnect().await;
            true
        }
        Err(_) => false,
    }
}

pub fn require_mariadb() {
    for binary in [MARIADBD, MARIADB_INSTALL_DB, MARIADB_CLIENT] {
        assert!(
            Path::new(binary).is_file(),
            "{binary} is missing: install mariadb-server and mariadb-client (deploy/install-deps.sh)"
        );
    }
}

const DIR_PREFIX: &str = "farmd-test-mariadb-";

/// tmpfs when available (see the module comment), else the usual temp folder. The socket
/// path must stay under 108 bytes, so keep the folder name short.
fn temp_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let parent = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    sweep_stale(&parent);
    tempfile::Builder::new()
        .prefix(DIR_PREFIX)
        .tempdir_in(&parent)
        .or_else(|_| tempfile::Builder::new().prefix(DIR_PREFIX).tempdir())
        .expect("tempdir")
}

/// Removes the folders of test processes that were killed (no Drop ran): on tmpfs they
/// would hold memory until reboot. A folder is stale when the server it names in
/// `mysqld.pid` is gone, or when it has no pid file and is older than 10 minutes (a
/// bootstrap in progress has none yet).
fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        let stale = match std::fs::read_to_string(dir.join("mysqld.pid")) {
            Ok(pid) => !Path::new("/proc").join(pid.trim()).exists(),
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(600)),
        };
        if stale {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn handshake(addr: &SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    // 3-byte length, 1-byte sequence, then the payload: 0x0a = protocol 10 handshake,
    // 0xff = error (e.g. still starting up, too many connections).
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && head[4] == 0x0a
}

fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut urandom = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
    let mut out = String::with_capacity(len);
    let mut byte = [0u8; 1];
    while out.len() < len {
        urandom.read_exact(&mut byte).expect("read /dev/urandom");
        // 248 = 4 * 62: reject the rest so every character is equally likely.
        if byte[0] < 248 {
            out.push(ALPHABET[usize::from(byte[0]) % ALPHABET.len()] as char);
        }
    }
    out
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

trait OutputDyingWithParent {
    fn output_dying_with_parent(&mut self) -> std::io::Result<std::process::Output>;
}

impl OutputDyingWithParent for Command {
    fn output_dying_with_parent(&mut self) -> std::io::Result<std::process::Output> {
        die_with_parent(self);
        self.output()
    }
}

type SpawnJob = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` (with [`die_with_parent`]) from a thread that never exits, so the child's
/// parent-death signal fires only when the whole test process is gone.
fn spawn_from_lasting_thread(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (jobs, queue) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("mariadbd-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in queue {
                    die_with_parent(&mut cmd);
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawner thread");
        Mutex::new(jobs)
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .send((cmd, reply))
        .map_err(|_| std::io::Error::other("spawner thread gone"))?;
    answer.recv().map_err(|_| std::io::Error::other("spawner thread gone"))?
}

#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2) and
    // getppid(2), which are async-signal-safe and touch no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)?;
            // The parent may have died before prctl: then no signal will ever come.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(std::io::Error::other("parent exited"));
            }
            Ok(())
        });
    }
}
