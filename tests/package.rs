//! The Debian package (`deploy/build-deb.sh`), installed on this machine with `dpkg -i`: its
//! unit passes `systemd-analyze verify`, farmd runs as that unit runs it and serves a wiki,
//! `dpkg -r` keeps the data, and the wiki is still served after a reinstall and after an
//! upgrade in place.
//!
//! These machines do not run systemd as their init, so farmd is started the way the unit
//! would start it: `tests/package/as-unit.sh` reads nothing but what this test parses out of
//! the installed unit (user, group, `ExecStart`, environment, working directory, umask, the
//! writable paths, the system call filter and address families) and applies the sandboxing
//! systemd would with namespaces, `setpriv` and a seccomp filter; [`EMULATED`] lists what is
//! applied, [`NOT_EMULATED`] what only systemd as PID 1 can do.
//!
//! The test installs a system package, so it needs root, and it refuses to run (fails at
//! once, touching nothing) when a farmd package, `/var/lib/farmd` or `/etc/farmd` is on the
//! machine already. It removes what it made: the package (purged), `/var/lib/farmd`, and the
//! `farmd` user if it made it. One run at a time per machine (a lock in /run/lock).

use std::collections::BTreeSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{processes_mentioning, require_mediawiki, wait_until, WikiClient};

const DATA: &str = "/var/lib/farmd";
const CONFIG: &str = "/etc/farmd/farmd.toml";
const UNIT: &str = "/lib/systemd/system/farmd.service";
const SANDBOX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/package/as-unit.sh");

/// [Service] settings the sandbox applies (as-unit.sh says how), with the value it assumes.
/// `None`: applied with the unit's own value.
const EMULATED: &[(&str, Option<&str>)] = &[
    ("User", None),
    ("Group", None),
    ("Environment", None),
    ("ExecStart", None),
    ("WorkingDirectory", None),
    ("UMask", None),
    ("ReadWritePaths", None),
    ("ProtectSystem", Some("strict")),
    ("ProtectHome", Some("yes")),
    ("PrivateTmp", Some("yes")),
    ("PrivateDevices", Some("yes")),
    ("PrivateMounts", Some("yes")),
    ("ProtectKernelTunables", Some("yes")),
    ("ProtectKernelModules", Some("yes")),
    ("ProtectKernelLogs", Some("yes")),
    ("ProtectControlGroups", Some("yes")),
    ("ProtectClock", Some("yes")),
    ("ProtectHostname", Some("yes")),
    ("ProtectProc", Some("invisible")),
    ("NoNewPrivileges", Some("yes")),
    ("CapabilityBoundingSet", Some("")),
    ("AmbientCapabilities", Some("")),
    ("RestrictAddressFamilies", None),
    ("RestrictNamespaces", Some("yes")),
    ("RestrictRealtime", Some("yes")),
    ("RestrictSUIDSGID", Some("yes")),
    ("RemoveIPC", Some("yes")),
    ("LockPersonality", Some("yes")),
    ("SystemCallArchitectures", Some("native")),
    ("SystemCallFilter", None),
    ("SystemCallErrorNumber", Some("EPERM")),
];

/// [Service] settings only systemd as PID 1 carries out, and what this test checks instead.
const NOT_EMULATED: &[(&str, &str)] = &[
    ("Type", "exec: the test waits for farmd.addr and /healthz"),
    ("KillMode", "mixed: the test sends SIGTERM to farmd alone, PHP servers go with it"),
    ("KillSignal", "SIGTERM, as the test sends"),
    ("TimeoutStopSec", "the test requires a clean exit within it"),
    ("Restart", "no supervisor here"),
    ("RestartSec", "no supervisor here"),
];

#[tokio::test]
async fn the_package_installs_serves_a_wiki_keeps_it_when_removed_and_upgrades_in_place() {
    let started = Instant::now();
    require_mediawiki();
    let machine = Machine::claim();
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");

    // The tests' own build of farmd, packaged twice: a release build here would take both
    // cores for many minutes while the other suites wait on PHP with deadlines. The second
    // version is the same binary in a package of a later version.
    let version = env!("CARGO_PKG_VERSION");
    let upgrade = format!("{version}+1");
    let binary = env!("CARGO_BIN_EXE_farmd");
    let deb = build_deb(&["--binary", binary, "--output", &work.path().to_string_lossy()]);
    let deb_upgrade =
        build_deb(&["--binary", binary, "--version", &upgrade, "--output", &work.path().to_string_lossy()]);
    assert_eq!(deb.file_name().and_then(|n| n.to_str()), Some(&*format!("farmd_{version}_amd64.deb")));
    check_package(&deb, version);
    let built = started.elapsed();

    machine.install(&deb);
    assert_eq!(installed_version().as_deref(), Some(version));
    check_installation();
    let unit = Unit::read(Path::new(UNIT));
    unit.check();

    // What an operator would change for a farm beside others on a busy machine: any free port
    // (pinned after the first start, as wiki addresses name it), fewer PHP servers and pool
    // entries, no scheduled backups.
    let config = std::fs::read_to_string(CONFIG).expect("the installed configuration");
    assert!(config.contains("\nlisten = \"127.0.0.1:8080\"\n"), "{config}");
    assert!(config.contains("\ndata_dir = \"/var/lib/farmd\"\n"), "{config}");
    let config = config.replace("\nlisten = \"127.0.0.1:8080\"\n", "\nlisten = \"127.0.0.1:0\"\n")
        + "php_workers = 2\npool_sqlite = 1\n[backups]\ninterval = \"0s\"\n";
    std::fs::write(CONFIG, &config).expect("edit the configuration");

    let log = work.path().join("farmd.log");
    let mut farm = Service::start(&unit, &log).await;
    let port = farm.addr.port();
    let pinned = config.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\""));
    std::fs::write(CONFIG, &pinned).expect("pin the port");

    // An admin account and its token, from the command line as the farmd user with the
    // service's configuration; then a wiki through the API.
    let created = unit.run(&[
        "account",
        "create",
        "--username",
        "packager",
        "--email",
        "packager@example.org",
        "--role",
        "admin",
    ]);
    assert!(created.status.success(), "farmd account create: {}", String::from_utf8_lossy(&created.stderr));
    let issued = unit.run(&["token", "--username", "packager", "--ttl", "1h"]);
    assert!(issued.status.success(), "farmd token: {}", String::from_utf8_lossy(&issued.stderr));
    let token = String::from_utf8(issued.stdout).expect("utf-8").trim().to_owned();
    let response = farm
        .http
        .post(farm.url("/api/v1/wikis"))
        .bearer_auth(&token)
        .json(&json!({"name": "packaged", "sitename": "Packaged Wiki"}))
        .send()
        .await
        .expect("create the wiki");
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap_or_default());
    farm.wait_active(&token, "packaged").await;

    let wiki = farm.wiki("packaged");
    let (status, page) = wiki.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200, "{}", farm.log());
    assert!(page.contains("Packaged Wiki"), "the Main Page names the wiki");
    let edit = wiki.edit("Installed from a package", "Written while farmd ran as its unit.").await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");
    assert_eq!(
        wiki.get("/index.php?title=Installed_from_a_package&action=raw").await.1,
        "Written while farmd ran as its unit."
    );

    check_data_directory();
    check_log_rotation(&work.path().join("logrotate.state"));
    farm.stop(&unit);

    // Removal: the program goes, the wikis, the configuration and the user stay.
    let removal = dpkg(&["-r", "farmd"]);
    assert!(removal.status.success(), "dpkg -r: {}", String::from_utf8_lossy(&removal.stderr));
    assert_eq!(package_status().as_deref(), Some("config-files"));
    assert!(!Path::new("/usr/bin/farmd").exists() && !Path::new(UNIT).exists());
    assert!(Path::new(DATA).join("control.sqlite").is_file(), "dpkg -r keeps the farm's data");
    assert!(Path::new(DATA).join("hosts/packaged").exists(), "dpkg -r keeps the wiki");
    assert!(nix::unistd::User::from_name("farmd").expect("passwd").is_some(), "dpkg -r keeps the farmd user");
    assert_eq!(std::fs::read_to_string(CONFIG).expect("dpkg -r keeps the configuration"), pinned);

    // Installed again: the same wiki, with its edit.
    machine.install(&deb);
    assert_eq!(std::fs::read_to_string(CONFIG).expect("configuration"), pinned, "the operator's changes are kept");
    check_installation();
    let mut farm = Service::start(&unit, &log).await;
    assert_eq!(farm.addr.port(), port);
    let wiki = farm.wiki("packaged");
    assert_eq!(
        wiki.get("/index.php?title=Installed_from_a_package&action=raw").await.1,
        "Written while farmd ran as its unit."
    );

    // Upgrade in place: the new version is unpacked under the running service, which is then
    // restarted (the postinst does that through systemd; here the test does).
    machine.install(&deb_upgrade);
    assert_eq!(installed_version(), Some(upgrade));
    assert_eq!(std::fs::read_to_string(CONFIG).expect("configuration"), pinned, "the upgrade keeps the configuration");
    check_installation();
    let (status, _) = wiki.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200, "the service serves on while the package is upgraded");
    farm.stop(&unit);
    let farm = Service::start(&unit, &log).await;
    let wiki = farm.wiki("packaged");
    let (status, page) = wiki.get("/index.php?title=Main_Page").await;
    assert_eq!(status, 200, "{}", farm.log());
    assert!(page.contains("Packaged Wiki"));
    assert_eq!(
        wiki.get("/index.php?title=Installed_from_a_package&action=raw").await.1,
        "Written while farmd ran as its unit."
    );
    let edit = wiki.edit("Upgraded", "Still the same wiki.").await;
    assert_eq!(edit["edit"]["result"], "Success", "{edit}");
    drop(farm);

    // Purge: the configuration goes; the wikis and the user are still never removed by it.
    machine.purge();
    assert!(Path::new(DATA).join("hosts/packaged").exists(), "a purge keeps the farm's data");
    eprintln!(
        "package test: release build and packages {:.0?}, install to upgrade {:.0?}",
        built,
        started.elapsed() - built
    );
}

/// `deploy/build-deb.sh ARGS` on this checkout, with the tests' target directory (the release
/// build the benches use too); the path of the package it made.
fn build_deb(args: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target directory");
    // Niced: a release build takes both cores for many minutes, and the suites beside this
    // one wait on PHP with deadlines.
    let output = Command::new("nice")
        .args(["-n", "10", "bash"])
        .arg(root.join("deploy/build-deb.sh"))
        .args(args)
        .env("CARGO_TARGET_DIR", target)
        .stdin(Stdio::null())
        .output()
        .expect("deploy/build-deb.sh");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "deploy/build-deb.sh {args:?} failed:\n{}", tail(&stderr, 40));
    PathBuf::from(String::from_utf8(output.stdout).expect("utf-8").trim())
}

/// The package's metadata and files.
fn check_package(deb: &Path, version: &str) {
    let field = |name: &str| {
        let output = Command::new("dpkg-deb").arg("--field").arg(deb).arg(name).output().expect("dpkg-deb");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    assert_eq!(field("Package"), "farmd");
    assert_eq!(field("Version"), version);
    let depends = field("Depends");
    for needed in [
        "mediawiki",
        "php-cli",
        "php-sqlite3",
        "php-intl",
        "php-mbstring",
        "php-xml",
        "php-apcu",
        "php-gd",
        "adduser",
        "libc6",
    ] {
        assert!(depends.split(',').any(|d| d.trim().starts_with(needed)), "Depends: {depends} lacks {needed}");
    }
    let recommends = field("Recommends");
    for wanted in ["php-mysql", "mariadb-client", "python3-pygments", "logrotate"] {
        assert!(recommends.contains(wanted), "Recommends: {recommends} lacks {wanted}");
    }
    let conffiles = Command::new("dpkg-deb").arg("--info").arg(deb).arg("conffiles").output().expect("dpkg-deb");
    assert_eq!(String::from_utf8_lossy(&conffiles.stdout), "/etc/farmd/farmd.toml\n/etc/logrotate.d/farmd\n");
    let listing = Command::new("dpkg-deb").arg("--contents").arg(deb).output().expect("dpkg-deb");
    let listing = String::from_utf8_lossy(&listing.stdout);
    let entries: BTreeSet<(String, String)> = listing
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some((fields.last()?.trim_start_matches('.').to_owned(), format!("{} {}", fields.first()?, fields.get(1)?)))
        })
        .collect();
    for (path, mode_and_owner) in [
        ("/usr/bin/farmd", "-rwxr-xr-x root/root"),
        ("/lib/systemd/system/farmd.service", "-rw-r--r-- root/root"),
        ("/etc/farmd/farmd.toml", "-rw-r----- root/root"),
        ("/etc/logrotate.d/farmd", "-rw-r--r-- root/root"),
        ("/usr/share/doc/farmd/README.md", "-rw-r--r-- root/root"),
        ("/usr/share/doc/farmd/copyright", "-rw-r--r-- root/root"),
        ("/usr/share/doc/farmd/examples/farmd.example.toml", "-rw-r--r-- root/root"),
    ] {
        assert!(
            entries.contains(&(path.to_owned(), mode_and_owner.to_owned())),
            "{path} {mode_and_owner} in:\n{listing}"
        );
    }
    assert!(!entries.iter().any(|(path, _)| path.starts_with("/var/lib/farmd")), "the data directory is not dpkg's");
}

/// What the postinst made, and the unit and logrotate files as their own tools see them.
fn check_installation() {
    let user = nix::unistd::User::from_name("farmd").expect("passwd").expect("the postinst made the farmd user");
    assert!(user.uid.as_raw() < 1000, "farmd is a system user: {}", user.uid);
    assert_eq!(user.dir, Path::new(DATA));
    assert_eq!(user.shell, Path::new("/usr/sbin/nologin"));
    let group = nix::unistd::Group::from_name("farmd").expect("group").expect("the postinst made the farmd group");
    assert_eq!(user.gid, group.gid);
    let data = std::fs::metadata(DATA).expect("the postinst made /var/lib/farmd");
    assert_eq!((data.uid(), data.gid(), data.mode() & 0o7777), (user.uid.as_raw(), group.gid.as_raw(), 0o700));
    let config = std::fs::metadata(CONFIG).expect("the configuration");
    assert_eq!(
        (config.uid(), config.gid(), config.mode() & 0o7777),
        (0, group.gid.as_raw(), 0o640),
        "root writes it, farmd reads it"
    );
    // Enabled for the day systemd runs this machine (deb-systemd-helper, as dh_installsystemd).
    let wanted = Path::new("/etc/systemd/system/multi-user.target.wants/farmd.service");
    assert_eq!(std::fs::read_link(wanted).expect("enabled"), Path::new(UNIT));

    let verify = Command::new("systemd-analyze").args(["verify", UNIT]).output().expect("systemd-analyze");
    let said = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success() && !said.contains("farmd"), "systemd-analyze verify {UNIT}:\n{said}");
    let security =
        Command::new("systemd-analyze").args(["security", "--offline=yes", UNIT]).output().expect("systemd-analyze");
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for farmd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("systemd-analyze security:\n{report}"));
    assert!(exposure <= 2.0, "systemd-analyze security rates farmd.service {exposure} (at most 2.0 wanted):\n{report}");
    let rotate = Command::new("logrotate").args(["--debug", "/etc/logrotate.d/farmd"]).output().expect("logrotate");
    assert!(rotate.status.success(), "logrotate -d: {}", String::from_utf8_lossy(&rotate.stderr));
}

/// Everything in the data directory belongs to farmd, readable by it alone.
fn check_data_directory() {
    let farmd = nix::unistd::User::from_name("farmd").expect("passwd").expect("farmd").uid.as_raw();
    let mut pending = vec![PathBuf::from(DATA)];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).expect("metadata");
        seen += 1;
        assert_eq!(meta.uid(), farmd, "{} belongs to farmd", path.display());
        if !meta.file_type().is_symlink() {
            assert_eq!(meta.mode() & 0o077, 0, "{} is farmd's alone: {:o}", path.display(), meta.mode() & 0o777);
        }
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).expect("read_dir").map(|e| e.expect("entry").path()));
        }
    }
    assert!(Path::new(DATA).join("hosts/packaged").exists() && seen > 20, "the wiki lives in {DATA}");
}

/// logrotate's configuration rotates the wikis' logs as farmd (a forced run, its own state).
fn check_log_rotation(state: &Path) {
    let log = Path::new(DATA).join("logs/mediawiki-package-test.log");
    let line = Command::new("setpriv")
        .args(["--reuid", "farmd", "--regid", "farmd", "--init-groups", "sh", "-c"])
        .arg(format!("umask 077 && echo line >> {}", log.display()))
        .status()
        .expect("setpriv");
    assert!(line.success());
    let rotate = Command::new("logrotate")
        .arg("--force")
        .arg("--state")
        .arg(state)
        .arg("/etc/logrotate.d/farmd")
        .output()
        .expect("logrotate");
    assert!(rotate.status.success(), "logrotate: {}", String::from_utf8_lossy(&rotate.stderr));
    let rotated = log.with_extension("log.1");
    let meta = std::fs::metadata(&rotated).expect("the rotated log");
    let farmd = nix::unistd::User::from_name("farmd").expect("passwd").expect("farmd").uid.as_raw();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (farmd, 0o600));
    assert!(!log.exists(), "the next line starts a new log (nocreate)");
    std::fs::remove_file(rotated).expect("remove the rotated log");
}

/// This machine, claimed for the test: nothing of farmd's was on it, and whatever the test
/// puts there is removed when it ends (also when it fails).
struct Machine {
    _lock: File,
    made_user: bool,
}

impl Machine {
    fn claim() -> Self {
        assert!(nix::unistd::geteuid().is_root(), "the package test installs a Debian package: run the tests as root");
        std::fs::create_dir_all("/run/lock").expect("/run/lock");
        let lock = File::create("/run/lock/farmd-package-test.lock").expect("/run/lock");
        lock.lock().expect("one package test at a time on this machine");
        let status = package_status();
        let refuse = |what: String| {
            panic!(
                "refusing to run the package test: {what}. It installs, removes and purges the farmd package and \
                 deletes /var/lib/farmd afterwards; run it on a machine without farmd (after a test run that was \
                 killed: dpkg --purge farmd; rm -rf /var/lib/farmd /etc/farmd)"
            )
        };
        if let Some(status) = status.filter(|s| s != "not-installed") {
            refuse(format!("a farmd package is on this machine (status {status})"));
        }
        for path in [DATA, "/etc/farmd"] {
            if Path::new(path).exists() {
                refuse(format!("{path} exists"));
            }
        }
        let made_user = nix::unistd::User::from_name("farmd").expect("passwd").is_none();
        Self { _lock: lock, made_user }
    }

    /// `dpkg -i DEB`, and Debian's packages it depends on with apt-get if some are missing.
    fn install(&self, deb: &Path) {
        let installed = dpkg(&["-i", &deb.to_string_lossy()]);
        if !installed.status.success() {
            let fixed = Command::new("apt-get")
                .args(["install", "-y", "-q", "-f", "--no-install-recommends"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null())
                .output()
                .expect("apt-get");
            assert!(
                fixed.status.success(),
                "dpkg -i {}: {}\napt-get -f install: {}",
                deb.display(),
                String::from_utf8_lossy(&installed.stderr),
                String::from_utf8_lossy(&fixed.stderr)
            );
        }
        assert_eq!(package_status().as_deref(), Some("installed"), "{}", String::from_utf8_lossy(&installed.stderr));
    }

    /// `dpkg --purge farmd`: the configuration and the unit's enablement go, the data stays.
    fn purge(&self) {
        let purged = dpkg(&["--purge", "farmd"]);
        assert!(purged.status.success(), "dpkg --purge: {}", String::from_utf8_lossy(&purged.stderr));
        assert!(String::from_utf8_lossy(&purged.stderr).contains("kept /var/lib/farmd"), "the purge says what it kept");
        assert_eq!(package_status(), None);
        assert!(!Path::new("/etc/farmd").exists() && !Path::new("/etc/logrotate.d/farmd").exists());
        assert!(!Path::new("/etc/systemd/system/multi-user.target.wants/farmd.service").exists());
        assert!(!Path::new("/etc/systemd/system/farmd.service").exists(), "no mask is left");
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if package_status().is_some() {
            let _ = dpkg(&["--purge", "farmd"]);
        }
        let _ = std::fs::remove_dir_all(DATA); // claim() found none: this test made it
        let _ = std::fs::remove_dir_all("/etc/farmd");
        if self.made_user {
            let _ = Command::new("deluser").args(["--system", "--quiet", "farmd"]).output();
            let _ = Command::new("delgroup").args(["--system", "--quiet", "farmd"]).output();
        }
    }
}

fn dpkg(args: &[&str]) -> Output {
    Command::new("dpkg")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .expect("dpkg")
}

/// dpkg's state of the farmd package (`installed`, `config-files`...), None if it knows none.
fn package_status() -> Option<String> {
    let output =
        Command::new("dpkg-query").args(["-W", "-f", "${db:Status-Status}", "farmd"]).output().expect("dpkg-query");
    let status = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !status.is_empty()).then_some(status)
}

fn installed_version() -> Option<String> {
    let output = Command::new("dpkg-query").args(["-W", "-f", "${Version}", "farmd"]).output().expect("dpkg-query");
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The [Service] section of an installed unit file.
struct Unit {
    settings: Vec<(String, String)>,
}

impl Unit {
    fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut section = "";
        let mut settings = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line;
            } else if section == "[Service]" {
                let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("not a setting: {line}"));
                settings.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        Self { settings }
    }

    /// The value of a setting given once.
    fn one(&self, key: &str) -> &str {
        let values: Vec<&str> = self.all(key);
        assert_eq!(values.len(), 1, "{key}= once in the unit: {values:?}");
        values[0]
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.settings.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Every setting is one the sandbox applies, with the value it assumes, or one it knows it
    /// cannot; and what the brief of issue 17 asks for is there.
    fn check(&self) {
        for (key, _) in &self.settings {
            assert!(
                EMULATED.iter().any(|(k, _)| k == key) || NOT_EMULATED.iter().any(|(k, _)| k == key),
                "{key}= in farmd.service: add it to EMULATED (and as-unit.sh) or NOT_EMULATED"
            );
        }
        for (key, expected) in EMULATED {
            let value = self.one(key);
            if let Some(expected) = expected {
                assert_eq!(value, *expected, "{key}=");
            }
        }
        assert_eq!(self.one("User"), "farmd");
        assert_eq!(self.one("KillMode"), "mixed");
        assert_eq!(self.one("Restart"), "on-failure");
        // systemd would make a StateDirectory= 0700 at every start, taking back the group's
        // access that `web_group` gives php-fpm; the postinst makes the directory once.
        assert!(self.all("StateDirectory").is_empty() && self.all("StateDirectoryMode").is_empty());
        assert_eq!(self.one("Environment"), format!("FARM_CONFIG={CONFIG}"));
        assert_eq!(self.one("RestrictAddressFamilies"), "AF_UNIX AF_INET AF_INET6");
        assert!(self.all("MemoryDenyWriteExecute").is_empty(), "PHP's JIT needs writable executable memory");
        assert!(self.stop_timeout() >= Duration::from_secs(60), "farmd drains for up to 50 s");
    }

    fn stop_timeout(&self) -> Duration {
        humantime::parse_duration(self.one("TimeoutStopSec")).expect("TimeoutStopSec")
    }

    /// The paths the service may write: ReadWritePaths=.
    fn writable(&self) -> Vec<String> {
        let mut paths: Vec<String> = self.one("ReadWritePaths").split_whitespace().map(str::to_owned).collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// What systemd puts in the service's environment: its default PATH, the user's HOME,
    /// USER, LOGNAME and SHELL, an INVOCATION_ID, and the unit's Environment=.
    fn environment(&self) -> String {
        let user = nix::unistd::User::from_name(self.one("User")).expect("passwd").expect("the unit's user");
        let mut lines = vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            format!("HOME={}", user.dir.display()),
            format!("USER={}", user.name),
            format!("LOGNAME={}", user.name),
            format!("SHELL={}", user.shell.display()),
            format!("INVOCATION_ID={:032x}", std::process::id() as u128 * 0x9e37_79b9_7f4a_7c15),
        ];
        for setting in self.all("Environment") {
            lines.extend(setting.split_whitespace().map(|a| a.trim_matches('"').to_owned()));
        }
        lines.join("\n")
    }

    /// A command in the service's sandbox: `as-unit.sh` with this unit's settings.
    fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(SANDBOX)
            .args(argv)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("SANDBOX_USER", self.one("User"))
            .env("SANDBOX_GROUP", self.one("Group"))
            .env("SANDBOX_UMASK", self.one("UMask"))
            .env("SANDBOX_WORKDIR", self.one("WorkingDirectory"))
            .env("SANDBOX_WRITABLE", self.writable().join(" "))
            .env("SANDBOX_ENV", self.environment())
            .env("SANDBOX_FILTER", self.one("SystemCallFilter"))
            .env("SANDBOX_FAMILIES", self.one("RestrictAddressFamilies"))
            .stdin(Stdio::null());
        cmd
    }

    /// The unit's ExecStart.
    fn exec_start(&self) -> Vec<&str> {
        let exec = self.one("ExecStart");
        assert!(exec.starts_with('/'), "a plain absolute command: {exec}");
        exec.split_whitespace().collect()
    }

    /// `farmd ARGS` (the ExecStart's program) as the service's user, in its sandbox.
    fn run(&self, args: &[&str]) -> Output {
        let mut argv = vec![self.exec_start()[0]];
        argv.extend_from_slice(args);
        self.command(&argv).output().expect("as-unit.sh")
    }
}

/// farmd started as its unit starts it.
struct Service {
    child: Option<Child>,
    addr: std::net::SocketAddr,
    http: reqwest::Client,
    log: PathBuf,
}

impl Service {
    async fn start(unit: &Unit, log: &Path) -> Self {
        let _ = std::fs::remove_file(Path::new(DATA).join("farmd.addr"));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log");
        let child = unit
            .command(&unit.exec_start())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("as-unit.sh");
        let mut service = Self {
            child: Some(child),
            addr: ([127, 0, 0, 1], 0).into(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client"),
            log: log.to_path_buf(),
        };
        service.addr = wait_until("farmd writes farmd.addr", Duration::from_secs(60), || async {
            service.check_running();
            let written = std::fs::read_to_string(Path::new(DATA).join("farmd.addr")).unwrap_or_default();
            written.trim().parse().map_err(|_| format!("{written:?}"))
        })
        .await;
        // The first start builds MediaWiki's templates (the installer) before it is healthy.
        wait_until("farmd healthy", Duration::from_secs(300), || async {
            service.check_running();
            match service.http.get(service.url("/healthz")).send().await {
                Ok(r) if r.status() == 200 => Ok(()),
                Ok(r) => Err(r.text().await.unwrap_or_default()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        service
    }

    fn check_running(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            !stat.is_empty() && !stat.contains(") Z "),
            "farmd (started as its unit) exited:\n{}",
            tail(&self.log(), 60)
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn wait_active(&self, token: &str, name: &str) {
        wait_until(&format!("wiki {name} active"), Duration::from_secs(300), || async {
            let response = self.http.get(self.url(&format!("/api/v1/wikis/{name}"))).bearer_auth(token).send().await;
            let wiki: Value = match response {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(e) => return Err(e.to_string()),
            };
            match wiki["state"].as_str() {
                Some("active") => Ok(()),
                Some("failed") => panic!("wiki {name} failed: {wiki}\n{}", tail(&self.log(), 60)),
                _ => Err(wiki.to_string()),
            }
        })
        .await;
    }

    fn wiki(&self, name: &str) -> WikiClient {
        let host = format!("{name}.localhost");
        let http = reqwest::Client::builder()
            .resolve(&host, self.addr)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        WikiClient { http, base: format!("http://{host}:{}", self.addr.port()) }
    }

    /// SIGTERM, as systemd stops the unit (KillMode=mixed: farmd alone); farmd must be gone
    /// cleanly within TimeoutStopSec, its PHP servers with it.
    fn stop(&mut self, unit: &Unit) {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
        let deadline = Instant::now() + unit.stop_timeout();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "farmd did not stop within TimeoutStopSec");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "farmd stopped with {status}:\n{}", tail(&self.log(), 40));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !processes_mentioning(DATA).is_empty() {
            assert!(Instant::now() < deadline, "left behind: {:?}", processes_mentioning(DATA));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // its PHP servers die with it (PR_SET_PDEATHSIG)
            let _ = child.wait();
        }
    }
}

#[test]
fn the_sandbox_knows_every_setting_it_is_told_about() {
    let names: BTreeSet<&str> = EMULATED.iter().map(|(k, _)| *k).chain(NOT_EMULATED.iter().map(|(k, _)| *k)).collect();
    assert_eq!(names.len(), EMULATED.len() + NOT_EMULATED.len(), "a setting in both lists");
    let script = std::fs::read_to_string(SANDBOX).expect("as-unit.sh");
    for (key, _) in EMULATED {
        assert!(script.contains(&format!("{key}=")), "as-unit.sh says how it applies {key}=");
    }
}
