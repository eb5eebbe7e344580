//! Running PHP: maintenance scripts and the installer as child processes, and a supervised
//! set of PHP built-in web servers that serve the shared codebase.
//!
//! Every PHP child gets `PR_SET_PDEATHSIG = SIGKILL`, so a `kill -9` of farmd never leaves a
//! PHP process behind holding a port or a half-written file.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::domain::{ResourceKey, WikiName};

/// How to run PHP against the shared codebase with the farm's entry file.
#[derive(Debug, Clone)]
pub struct Php {
    pub binary: PathBuf,
    pub mediawiki_dir: PathBuf,
    /// `MW_CONFIG_FILE` for every PHP process: the farm entry file.
    pub entry_file: PathBuf,
}

impl Php {
    /// The same PHP over another codebase.
    pub fn on(&self, codebase: &super::Codebase) -> Self {
        Self { mediawiki_dir: codebase.dir.clone(), ..self.clone() }
    }

    /// A `php` command with the farm's environment, dying with farmd.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.env("MW_CONFIG_FILE", &self.entry_file)
            .current_dir(&self.mediawiki_dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        die_with_parent(&mut cmd);
        cmd
    }

    /// Runs `maintenance/{script}` with another `MW_CONFIG_FILE` (the installer needs one
    /// that does not exist; templates use the installer's own).
    pub async fn run_with_config(&self, config_file: &Path, script: &str, args: &[&str]) -> anyhow::Result<String> {
        let path = self.mediawiki_dir.join("maintenance").join(script);
        let mut cmd = self.command();
        cmd.env("MW_CONFIG_FILE", config_file).arg(&path).args(args);
        self.stdout_of(cmd, script).await
    }

    /// Runs one of the farm's own maintenance scripts (in the entry file's folder) with another
    /// `MW_CONFIG_FILE` (a template's).
    pub async fn run_farm_file_with_config(
        &self,
        config_file: &Path,
        file: &str,
        args: &[&str],
    ) -> anyhow::Result<String> {
        let script = self.entry_file.with_file_name(file);
        let mut cmd = self.command();
        cmd.env("MW_CONFIG_FILE", config_file).env("MW_INSTALL_PATH", &self.mediawiki_dir).arg(&script).args(args);
        self.stdout_of(cmd, file).await
    }

    /// Runs one of the farm's own scripts with the farm's entry file: `php_options` go before
    /// the script (`-d name=value`), `env` into its environment. Killed after `timeout`.
    pub async fn run_farm_script(
        &self,
        script: &Path,
        php_options: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let mut cmd = self.command();
        cmd.env("MW_INSTALL_PATH", &self.mediawiki_dir).envs(env.iter().copied()).args(php_options).arg(script);
        let name = script.file_name().map_or_else(|| "a farm script".into(), |n| n.to_string_lossy().into_owned());
        match tokio::time::timeout(timeout, self.stdout_of(cmd, &name)).await {
            Ok(result) => result,
            // Dropping the future killed the child (kill_on_drop).
            Err(_) => anyhow::bail!("{name} did not finish within {} s", timeout.as_secs()),
        }
    }

    /// Runs `maintenance/{script}` for one wiki (`--wiki NAME`) with the farm's entry file and
    /// `env`. Killed after `timeout`.
    pub async fn run_for_wiki(
        &self,
        wiki: &str,
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let mut cmd = self.command();
        cmd.envs(env.iter().copied())
            .arg(self.mediawiki_dir.join("maintenance").join(script))
            .args(["--wiki", wiki])
            .args(args);
        match tokio::time::timeout(timeout, self.stdout_of(cmd, script)).await {
            Ok(result) => result,
            Err(_) => anyhow::bail!("{script} for {wiki} did not finish within {} s", timeout.as_secs()),
        }
    }

    /// Runs `maintenance/{script}` for a wiki that is not served yet, named by its key
    /// (farm-resolve.php's `FARM_WIKI_KEY`). Killed after `timeout`.
    pub async fn run_for_unserved_wiki(
        &self,
        key: &str,
        name: &str,
        script: &str,
        args: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let mut cmd = self.command();
        cmd.env("FARM_WIKI_KEY", key)
            .env("FARM_WIKI_NAME", name)
            .arg(self.mediawiki_dir.join("maintenance").join(script))
            .args(args);
        match tokio::time::timeout(timeout, self.stdout_of(cmd, script)).await {
            Ok(result) => result,
            Err(_) => anyhow::bail!("{script} for {name} did not finish within {} s", timeout.as_secs()),
        }
    }

    /// Runs one of the farm's own maintenance scripts (beside the entry file) for a wiki named
    /// by key and name (farm-resolve.php's `FARM_WIKI_KEY`; it need not be served). Killed
    /// after `timeout`.
    pub async fn run_farm_file_for_wiki(
        &self,
        key: &ResourceKey,
        name: &WikiName,
        file: &str,
        args: &[&str],
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let mut cmd = self.command();
        cmd.env("FARM_WIKI_KEY", key.as_str())
            .env("FARM_WIKI_NAME", name.as_str())
            .env("MW_INSTALL_PATH", &self.mediawiki_dir)
            .arg(self.entry_file.with_file_name(file))
            .args(args);
        match tokio::time::timeout(timeout, self.stdout_of(cmd, file)).await {
            Ok(result) => result,
            Err(_) => anyhow::bail!("{file} for {name} did not finish within {} s", timeout.as_secs()),
        }
    }

    /// Runs `script` (an absolute path in the codebase) for one wiki (`--wiki NAME`, then
    /// `args` as they are: one argv entry each, no shell) in a process group of its own, with
    /// stdout and stderr kept to their last [`OUTPUT_TAIL_BYTES`]. At `limits.timeout`, or when
    /// `cancel` fires, the whole process group is killed. An error only when PHP cannot start.
    pub async fn run_script(
        &self,
        script: &Path,
        wiki: &str,
        args: &[String],
        limits: &ScriptLimits,
        cancel: &CancellationToken,
    ) -> anyhow::Result<ScriptRun> {
        use std::os::unix::process::ExitStatusExt;
        let mut cmd = self.command();
        if let Some(opcache) = &limits.opcache {
            opcache.apply(&mut cmd);
        }
        cmd.arg(script)
            .arg("--wiki")
            .arg(wiki)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own group: a time-out or a cancel kills what the script started too.
            .process_group(0);
        let started = std::time::Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("starting {}", self.binary.display()))?;
        let tail = Arc::new(std::sync::Mutex::new(Tail::default()));
        let readers: Vec<_> = [
            child.stdout.take().map(|out| tokio::spawn(read_into(out, tail.clone()))),
            child.stderr.take().map(|err| tokio::spawn(read_into(err, tail.clone()))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let end = tokio::select! {
            status = child.wait() => {
                let status = status?;
                match (status.code(), status.signal()) {
                    (Some(code), _) => ScriptEnd::Exited(code),
                    (None, Some(signal)) => ScriptEnd::Signalled(signal),
                    (None, None) => ScriptEnd::Signalled(0),
                }
            }
            _ = tokio::time::sleep(limits.timeout) => ScriptEnd::TimedOut,
            _ = cancel.cancelled() => ScriptEnd::Cancelled,
        };
        if matches!(end, ScriptEnd::TimedOut | ScriptEnd::Cancelled) {
            // The script is not reaped yet, so its pid still names its group.
            if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = child.kill().await;
        }
        for reader in readers {
            // A child the script left behind may hold a pipe open: the output is what came so far.
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        let output = tail.lock().unwrap_or_else(|e| e.into_inner()).text();
        Ok(ScriptRun { end, output, duration: started.elapsed() })
    }

    /// The output of `php -r CODE` (no MediaWiki loaded).
    pub async fn eval(&self, code: &str) -> anyhow::Result<String> {
        let mut cmd = self.command();
        cmd.arg("-r").arg(code);
        self.stdout_of(cmd, "php -r").await
    }

    async fn stdout_of(&self, mut cmd: Command, what: &str) -> anyhow::Result<String> {
        let output = cmd.output().await.with_context(|| format!("starting {}", self.binary.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            anyhow::bail!(
                "{what} failed ({}): {}{}",
                output.status,
                tail(&stdout),
                tail(&String::from_utf8_lossy(&output.stderr))
            );
        }
        Ok(stdout)
    }
}

/// How much of a script's output is kept: its last 4 KiB.
pub const OUTPUT_TAIL_BYTES: usize = 4096;

/// How long a script may run, and PHP's shared compiled codebase.
#[derive(Debug, Clone)]
pub struct ScriptLimits {
    pub timeout: Duration,
    pub opcache: Option<Opcache>,
}

/// opcache's file cache for the CLI: MediaWiki is compiled once and every later script loads
/// the compiled files (a no-op `update.php` takes a third of the time). Files are checked
/// against their modification time, and the data directory (shards, secrets) is never kept.
#[derive(Debug, Clone)]
pub struct Opcache {
    pub dir: PathBuf,
    pub blacklist: PathBuf,
}

impl Opcache {
    fn apply(&self, cmd: &mut Command) {
        cmd.arg("-d")
            .arg("opcache.enable_cli=1")
            .arg("-d")
            .arg(format!("opcache.file_cache={}", self.dir.display()))
            .args(["-d", "opcache.file_cache_only=1", "-d", "opcache.validate_timestamps=1"])
            .arg("-d")
            .arg(format!("opcache.blacklist_filename={}", self.blacklist.display()));
    }
}

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptEnd {
    Exited(i32),
    /// Killed by a signal it got from elsewhere.
    Signalled(i32),
    /// Killed (its process group) at the time-out.
    TimedOut,
    /// Killed (its process group) because its run was cancelled.
    Cancelled,
}

/// A script's end, the end of its output and how long it ran.
#[derive(Debug, Clone)]
pub struct ScriptRun {
    pub end: ScriptEnd,
    pub output: String,
    pub duration: Duration,
}

/// The last bytes of an output.
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
    cut: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > 2 * OUTPUT_TAIL_BYTES {
            let cut = self.bytes.len() - OUTPUT_TAIL_BYTES;
            self.bytes.drain(..cut);
            self.cut = true;
        }
    }

    /// As text, at most [`OUTPUT_TAIL_BYTES`], starting at a character (and, once cut, at a line).
    fn text(&self) -> String {
        let start = self.bytes.len().saturating_sub(OUTPUT_TAIL_BYTES);
        let text = String::from_utf8_lossy(&self.bytes[start..]);
        if start == 0 && !self.cut {
            return text.into_owned();
        }
        let text = text.trim_start_matches('\u{FFFD}');
        match text.find('\n') {
            Some(newline) if newline + 1 < text.len() => format!("…\n{}", &text[newline + 1..]),
            _ => format!("…{text}"),
        }
    }
}

async fn read_into(mut from: impl tokio::io::AsyncRead + Unpin, tail: Arc<std::sync::Mutex<Tail>>) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        tail.lock().unwrap_or_else(|e| e.into_inner()).push(&buf[..n]);
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(2000);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    &text[start..]
}

/// The child gets `SIGKILL` when farmd dies (any child process farmd runs).
#[allow(unsafe_code)]
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which
    // is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// One supervised `php -S` process.
#[derive(Debug)]
struct Server {
    port: AtomicU16,
    ready: AtomicBool,
    in_flight: AtomicUsize,
    /// Not chosen before this time (ms on [`clock`]): a request to it just failed.
    avoid_until: AtomicU64,
    /// When a request to it last finished, or it became ready (ms on [`clock`]).
    last_progress: AtomicU64,
}

/// Milliseconds since the first call: a cheap monotonic clock for the servers' bookkeeping.
fn clock() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    u64::try_from(START.get_or_init(std::time::Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// How long a server that failed a request is passed over (its supervisor notices a dead
/// process within milliseconds; this covers the moments in between).
const AVOID_AFTER_FAILURE_MS: u64 = 2_000;
/// A server with requests in flight that has finished none for this long is presumed stuck.
const STUCK_AFTER_MS: u64 = 30_000;
/// How often an idle server is asked whether it still answers, and how long it may take.
const PROBE_EVERY: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

impl Server {
    /// Whether a request may go here now.
    fn choosable(&self, now: u64) -> bool {
        self.ready.load(Ordering::Relaxed)
            && self.avoid_until.load(Ordering::Relaxed) <= now
            && !(self.in_flight.load(Ordering::Relaxed) > 0
                && now.saturating_sub(self.last_progress.load(Ordering::Relaxed)) > STUCK_AFTER_MS)
    }
}

/// A set of PHP built-in servers. Each serves one request at a time, so requests go to the
/// one with the fewest in flight; a server whose process has exited, that just failed a
/// request or that stopped answering is passed over, and a server that dies or hangs is
/// restarted with backoff.
#[derive(Debug)]
pub struct PhpServers {
    servers: Vec<Arc<Server>>,
}

/// A reservation of one server for one request; releases it on drop.
pub struct ServerLease {
    server: Arc<Server>,
    index: usize,
    pub addr: SocketAddr,
}

impl ServerLease {
    /// Which server this is (for logs, and to try another).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The request failed before an answer came: pass this server over for a moment.
    pub fn failed(&self) {
        self.server.avoid_until.store(clock() + AVOID_AFTER_FAILURE_MS, Ordering::Relaxed);
    }
}

impl Drop for ServerLease {
    fn drop(&mut self) {
        self.server.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.server.last_progress.store(clock(), Ordering::Relaxed);
    }
}

impl PhpServers {
    /// Starts `count` servers over the codebase with `router` as PHP's router script and
    /// supervises them until `shutdown`.
    pub fn start(
        php: Php,
        router: PathBuf,
        count: usize,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Arc<Self> {
        let servers: Vec<_> = (0..count)
            .map(|_| {
                Arc::new(Server {
                    port: AtomicU16::new(0),
                    ready: AtomicBool::new(false),
                    in_flight: AtomicUsize::new(0),
                    avoid_until: AtomicU64::new(0),
                    last_progress: AtomicU64::new(0),
                })
            })
            .collect();
        for (index, server) in servers.iter().enumerate() {
            tasks.spawn(supervise(php.clone(), router.clone(), index, server.clone(), shutdown.clone()));
        }
        Arc::new(Self { servers })
    }

    pub fn ready_count(&self) -> usize {
        self.servers.iter().filter(|s| s.ready.load(Ordering::Relaxed)).count()
    }

    /// The choosable server with the fewest requests in flight, other than `except`. When
    /// none is choosable, any ready one (better a try than a refusal).
    pub fn lease(&self, except: Option<usize>) -> Option<ServerLease> {
        let now = clock();
        let others = || self.servers.iter().enumerate().filter(|(i, _)| Some(*i) != except);
        let least_busy = |(_, s): &(usize, &Arc<Server>)| s.in_flight.load(Ordering::Relaxed);
        let (index, server) = others()
            .filter(|(_, s)| s.choosable(now))
            .min_by_key(least_busy)
            .or_else(|| others().filter(|(_, s)| s.ready.load(Ordering::Relaxed)).min_by_key(least_busy))?;
        server.in_flight.fetch_add(1, Ordering::Relaxed);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.port.load(Ordering::Relaxed)));
        Some(ServerLease { server: server.clone(), index, addr })
    }
}

async fn supervise(php: Php, router: PathBuf, index: usize, server: Arc<Server>, shutdown: CancellationToken) {
    let mut failures: u32 = 0;
    while !shutdown.is_cancelled() {
        match run_once(&php, &router, index, &server, &shutdown).await {
            Ok(()) => return,
            Err(err) => {
                server.ready.store(false, Ordering::Relaxed);
                failures = failures.saturating_add(1);
                let backoff = Duration::from_millis(200u64.saturating_mul(1 << failures.min(7)));
                warn!(server = index, error = %format!("{err:#}"), retry_in = ?backoff, "PHP server stopped; restarting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Runs one server process until it dies or stops answering (an error) or shutdown (Ok).
async fn run_once(
    php: &Php,
    router: &Path,
    index: usize,
    server: &Server,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut child = php
        .command()
        // expose_php=0: no X-Powered-By header telling the world PHP's exact version.
        .args(["-d", "display_errors=0", "-d", "log_errors=1", "-d", "error_log=", "-d", "expose_php=0"])
        // The server lives long: keep MediaWiki compiled (opcache is off for the CLI by
        // default), checking every file's mtime on each request so a rewritten shard counts at once.
        .args(["-d", "opcache.enable_cli=1", "-d", "opcache.validate_timestamps=1", "-d", "opcache.revalidate_freq=0"])
        .arg("-S")
        // Port 0: the kernel picks a free port and PHP names it in its first line.
        .arg("127.0.0.1:0")
        .arg("-t")
        .arg(&php.mediawiki_dir)
        .arg(router)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the PHP built-in server")?;
    let mut log = BufReader::new(child.stderr.take().context("the PHP server's stderr")?).lines();
    let port = match tokio::time::timeout(Duration::from_secs(10), listening_port(index, &mut log)).await {
        Ok(Ok(port)) => port,
        Ok(Err(err)) => {
            terminate(&mut child).await;
            return Err(err);
        }
        Err(_) => {
            terminate(&mut child).await;
            anyhow::bail!("did not start listening within 10 s");
        }
    };
    tokio::spawn(forward_log(index, log));
    server.port.store(port, Ordering::Relaxed);
    server.avoid_until.store(0, Ordering::Relaxed);
    server.last_progress.store(clock(), Ordering::Relaxed);
    server.ready.store(true, Ordering::Relaxed);
    info!(server = index, port, "PHP server ready");
    loop {
        tokio::select! {
            status = child.wait() => {
                server.ready.store(false, Ordering::Relaxed);
                anyhow::bail!("exited with {}", status?)
            }
            _ = shutdown.cancelled() => {
                server.ready.store(false, Ordering::Relaxed);
                terminate(&mut child).await;
                return Ok(());
            }
            _ = tokio::time::sleep(PROBE_EVERY) => {
                // Only an idle server is asked: a busy one answers its request first.
                if server.in_flight.load(Ordering::Relaxed) == 0 && !answers(port).await {
                    server.ready.store(false, Ordering::Relaxed);
                    let _ = child.kill().await;
                    anyhow::bail!("stopped answering (no answer within {} s)", PROBE_TIMEOUT.as_secs());
                }
            }
        }
    }
}

/// Whether the server on `port` answers a request for no wiki (the router answers it with a
/// 404 of its own, without starting MediaWiki).
async fn answers(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        stream.write_all(b"GET / HTTP/1.0\r\nHost: farm-probe.invalid\r\n\r\n").await?;
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await?;
        Ok::<_, std::io::Error>(first.starts_with(b"HTTP/"))
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(true)))
}

/// Reads the server's log up to "Development Server (http://127.0.0.1:PORT) started", which PHP
/// writes once its socket listens.
async fn listening_port(index: usize, log: &mut Lines<BufReader<ChildStderr>>) -> anyhow::Result<u16> {
    while let Some(line) = log.next_line().await? {
        if let Some(port) = started_line_port(&line) {
            return Ok(port);
        }
        forward_line(index, &line);
    }
    anyhow::bail!("exited during start-up")
}

fn started_line_port(line: &str) -> Option<u16> {
    let rest = line.split("Development Server (http://127.0.0.1:").nth(1)?;
    rest.strip_suffix(") started")?.parse().ok()
}

/// SIGTERM, a short grace period, then SIGKILL.
pub async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(3), child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

async fn forward_log(index: usize, mut log: Lines<BufReader<ChildStderr>>) {
    while let Ok(Some(line)) = log.next_line().await {
        forward_line(index, &line);
    }
}

fn forward_line(index: usize, line: &str) {
    // The built-in server logs every connection; PHP's own errors start with "PHP <level>".
    const PHP_ERRORS: &[&str] = &["PHP Fatal", "PHP Parse", "PHP Warning", "PHP Notice", "PHP Deprecated", "PHP Stack"];
    // Its connection lines ("Accepted", "Closing") say nothing a debug log needs.
    if PHP_ERRORS.iter().any(|marker| line.contains(marker)) {
        warn!(server = index, line = ?line, "PHP");
    } else {
        tracing::trace!(server = index, line = ?line, "PHP");
    }
}

#[cfg(test)]
mod tests {
    use super::{started_line_port, Tail, OUTPUT_TAIL_BYTES};

    #[test]
    fn an_output_keeps_its_end() {
        let mut tail = Tail::default();
        tail.push(b"first line\nsecond");
        assert_eq!(tail.text(), "first line\nsecond");
        for i in 0..2000 {
            tail.push(format!("line {i} über\n").as_bytes());
        }
        let text = tail.text();
        assert!(text.len() <= OUTPUT_TAIL_BYTES + 4, "{}", text.len());
        assert!(text.starts_with("…\nline ") && text.ends_with("line 1999 über\n"), "{text}");
    }

    #[test]
    fn the_port_comes_from_the_started_line() {
        let line = "[Tue Dec  1 11:39:47 2026] PHP 8.2.36 Development Server (http://127.0.0.1:39851) started";
        assert_eq!(started_line_port(line), Some(39851));
        assert_eq!(started_line_port("[Tue Dec  1 11:39:47 2026] 127.0.0.1:40000 Accepted"), None);
        assert_eq!(started_line_port("Development Server (http://127.0.0.1:0x) started"), None);
    }
}
