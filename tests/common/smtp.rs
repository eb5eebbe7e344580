//! A real SMTP server on loopback that keeps what it receives: Debian's aiosmtpd with its
//! Maildir handler. Tests read the messages from the Maildir.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    maildir: PathBuf,
    temp: tempfile::TempDir,
}

impl SmtpServer {
    /// A server on a port the kernel picks (the script prints it once it listens).
    pub async fn start() -> Self {
        use std::io::BufRead;
        let temp = tempfile::tempdir().expect("tempdir");
        let maildir = temp.path().join("maildir");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/common/smtp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg("--maildir")
            .arg(&maildir)
            .arg("--refuse-flag")
            .arg(temp.path().join("refuse"))
            .arg("--refused-log")
            .arg(temp.path().join("refused.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3-aiosmtpd (deploy/install-deps.sh --test installs it)");
        let stdout = child.stdout.take().expect("stdout");
        // The first line comes once the socket listens, or never if the script fails (EOF).
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .expect("reader")
        .expect("the SMTP server's stdout");
        let port = line_port(&line);
        Self { child: Some(child), port, maildir, temp }
    }

    /// From now on every message gets a temporary failure (451) and stays in the sender's queue.
    pub fn refuse_mail(&self, refuse: bool) {
        let flag = self.temp.path().join("refuse");
        if refuse {
            std::fs::write(flag, b"").expect("refuse flag");
        } else {
            std::fs::remove_file(flag).expect("refuse flag");
        }
    }

    /// How many messages were refused so far.
    pub fn refused(&self) -> usize {
        std::fs::read_to_string(self.temp.path().join("refused.log")).map(|log| log.lines().count()).unwrap_or(0)
    }

    /// Waits until at least `count` messages were refused.
    pub async fn wait_for_refused(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.refused() < count {
            assert!(Instant::now() < deadline, "only {} messages were refused, not {count}", self.refused());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The Maildir the server writes to (`new/`, one file per message).
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Mail> {
        let mut mails = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else { continue };
            for entry in entries.flatten() {
                let Ok(raw) = std::fs::read(entry.path()) else { continue };
                let Ok(parsed) = mailparse::parse_mail(&raw) else { continue };
                let header = |name: &str| {
                    use mailparse::MailHeaderMap;
                    parsed.headers.get_first_value(name).unwrap_or_default()
                };
                mails.push(Mail {
                    to: header("To"),
                    subject: header("Subject"),
                    body: parsed.get_body().unwrap_or_default().replace("\r\n", "\n"),
                });
            }
        }
        mails
    }

    /// Waits for a message to `to` whose subject contains `subject`.
    pub async fn wait_for(&self, to: &str, subject: &str) -> Mail {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(mail) = self.messages().into_iter().find(|m| m.to.contains(to) && m.subject.contains(subject)) {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "no mail to {to} about {subject:?}; received: {:#?}",
                self.messages().iter().map(|m| (&m.to, &m.subject)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn count_to(&self, to: &str) -> usize {
        self.messages().iter().filter(|m| m.to.contains(to)).count()
    }

    /// The value of `name=` in the first link of `mail` that has it.
    pub fn link_param(mail: &Mail, name: &str) -> String {
        let marker = format!("{name}=");
        let start = mail.body.find(&marker).unwrap_or_else(|| panic!("no {name}= in {}", mail.body)) + marker.len();
        mail.body[start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect()
    }

    /// The path and query of the first link to this farm's portal in `mail`.
    pub fn link_path(mail: &Mail, prefix: &str) -> String {
        let start = mail.body.find(prefix).unwrap_or_else(|| panic!("no link {prefix} in {}", mail.body));
        mail.body[start..].split_whitespace().next().unwrap_or_default().to_owned()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn line_port(line: &str) -> u16 {
    line.trim().parse().unwrap_or_else(|_| panic!("the SMTP server did not report its port (got {line:?})"))
}
