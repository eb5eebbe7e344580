//! Runs the portal scenarios in `tests/browser/` (Node with `playwright-core`, driving Debian's
//! headless Chromium) and fails the test with their output when a scenario fails.
//! `deploy/install-deps.sh --test` installs Chromium, Node and the scenario's npm package.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one scenario may run before it is killed (the scripts have their own, shorter limit).
const SCENARIO_LIMIT: Duration = Duration::from_secs(600);

/// Lines of a failed scenario's output repeated in the panic message.
const OUTPUT_TAIL: usize = 60;

const INSTALL_HINT: &str = "run deploy/install-deps.sh --test";

/// The workspace root (the scripts run there).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

/// `target/portal-screenshots/` under the workspace root, created.
pub fn screenshots_dir() -> PathBuf {
    let dir = workspace_root().join("target").join("portal-screenshots");
    std::fs::create_dir_all(&dir).expect("create target/portal-screenshots");
    dir
}

/// The Chromium the scripts start: `$CHROMIUM`, else Debian's.
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails (does not skip) when something the browser tests need is missing.
pub fn require_browser() {
    let chromium = chromium();
    assert!(chromium.is_file(), "Chromium is not installed at {}: {INSTALL_HINT}", chromium.display());
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "Node.js (`node`) is not installed or does not run: {INSTALL_HINT}"
    );
    let package = workspace_root().join("tests/browser/node_modules/playwright-core/package.json");
    assert!(package.is_file(), "{} is missing: {INSTALL_HINT} (it runs npm ci in tests/browser)", package.display());
}

/// Runs `node tests/browser/SCRIPT` with `env` (plus SCREENSHOTS) from the workspace root and
/// returns its output (stdout and stderr, interleaved as they came). The output is streamed to
/// the test's own output as it comes (shown live with `--nocapture`, and by the test harness
/// when the test fails); `Err` with its last lines if the script exits with another status
/// than 0 or runs too long.
pub fn try_scenario(script: &str, env: &[(&str, String)]) -> Result<String, String> {
    require_browser();
    let root = workspace_root();
    let path = root.join("tests/browser").join(script);
    assert!(path.is_file(), "no scenario {}", path.display());
    let mut cmd = Command::new("node");
    cmd.arg(&path)
        .current_dir(&root)
        .env("SCREENSHOTS", screenshots_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        cmd.env(key, value);
    }
    // Its own process group, so a timeout can stop Chromium with it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("start node");

    let output = Arc::new(Mutex::new(String::new()));
    let readers: Vec<_> = [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| {
        let output = Arc::clone(&output);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                let mut output = output.lock().expect("output");
                output.push_str(&line);
                output.push('\n');
            }
        })
    })
    .collect();

    let deadline = Instant::now() + SCENARIO_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let group = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let output = output.lock().expect("output").clone();
    let failure = match status {
        Some(status) if status.success() => return Ok(output),
        Some(status) => format!("exited with {status}"),
        None => format!("ran longer than {SCENARIO_LIMIT:?} and was killed"),
    };
    // The whole output is in the test's captured output already (streamed above).
    let lines: Vec<&str> = output.lines().collect();
    let shown = lines[lines.len().saturating_sub(OUTPUT_TAIL)..].join("\n");
    Err(format!("node tests/browser/{script} {failure}; its last output lines:\n{shown}"))
}

/// [`try_scenario`], panicking with the end of the script's output if it fails.
pub fn run_scenario(script: &str, env: &[(&str, String)]) -> String {
    try_scenario(script, env).unwrap_or_else(|failure| panic!("{failure}"))
}
