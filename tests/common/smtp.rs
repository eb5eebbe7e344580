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
    _temp: tempfile::TempDir,
}

impl SmtpServer {
    pub async fn start() -> Self {
        Self::start_on(super::free_port()).await
    }

    pub async fn start_on(port: u16) -> Self {
        let temp = tempfile::tempdir().expect("tempdir");
        let maildir = temp.path().join("maildir");
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3-aiosmtpd (deploy/install-deps.sh --test installs it)");
        let server = Self { child: Some(child), port, maildir, _temp: temp };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the SMTP server did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
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
