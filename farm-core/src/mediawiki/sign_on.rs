//! The farm sessions wikis may honour, as files PHP reads: `data/sign-on/HANDLE` holds the
//! user name, the session's end and whether it carries the staff group. A wiki's session that
//! came from a sign-on names its handle; when the file goes (logout, password reset, lock,
//! expiry), the wiki drops the session on the visitor's next request.
//!
//! The control store decides: a file is written only for a live session, removed after the
//! session's end commits, and [`SignOnSessions::reconcile`] (at start and with housekeeping)
//! removes what a crash left behind.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::platform::fsutil::{remove_file_if_exists, write_atomic};
use crate::platform::layout::Layout;

/// The name of a farm session as wikis see it: a hash of its id, so that nothing a wiki
/// keeps names a session (the id is half of a portal token).
pub fn session_handle(session_id: &str) -> String {
    hex::encode(Sha256::digest(format!("sign-on:{session_id}").as_bytes()))
}

/// What the file of one live session says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedOnSession {
    /// The user name as MediaWiki stores it.
    pub user: String,
    pub expires: i64,
    /// The farm's staff group on every wiki (only when the operator turned it on).
    pub staff: bool,
}

#[derive(Debug, Clone)]
pub struct SignOnSessions {
    layout: Layout,
}

impl SignOnSessions {
    pub fn new(layout: Layout) -> Self {
        Self { layout }
    }

    pub fn write(&self, handle: &str, session: &SignedOnSession) -> std::io::Result<()> {
        let path = self.layout.sign_on_session(handle).ok_or_else(|| std::io::Error::other("bad session handle"))?;
        let json = serde_json::to_vec(session).map_err(std::io::Error::other)?;
        if std::fs::read(&path).is_ok_and(|existing| existing == json) {
            return Ok(());
        }
        // Readable by the web server's PHP when it is another user (`web_group`).
        write_atomic(&path, &json, 0o640)
    }

    pub fn remove(&self, handle: &str) -> std::io::Result<()> {
        match self.layout.sign_on_session(handle) {
            Some(path) => remove_file_if_exists(&path),
            None => Ok(()),
        }
    }

    /// Makes the directory hold exactly `live` (handle → session) among the files already
    /// there: files of sessions that ended go, and a live one's file is rewritten when what
    /// it says changed. Sessions never signed on to a wiki get no file.
    pub fn reconcile(&self, live: &BTreeMap<String, SignedOnSession>) -> std::io::Result<usize> {
        let mut removed = 0;
        let entries = match std::fs::read_dir(self.layout.sign_on_dir()) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(err) => return Err(err),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match live.get(&name) {
                Some(session) => self.write(&name, session)?,
                None => {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_keeps_only_live_sessions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path()).expect("layout");
        let sessions = SignOnSessions::new(layout.clone());
        let (a, b) = (session_handle("a"), session_handle("b"));
        let alice = SignedOnSession { user: "Alice".into(), expires: 10, staff: false };
        sessions.write(&a, &alice).expect("write a");
        sessions.write(&b, &alice).expect("write b");
        assert!(sessions.write("../x", &alice).is_err(), "a handle is checked before it names a file");
        let staff = SignedOnSession { staff: true, ..alice };
        let removed = sessions.reconcile(&BTreeMap::from([(a.clone(), staff.clone())])).expect("reconcile");
        assert_eq!(removed, 1);
        let left: Vec<_> = std::fs::read_dir(layout.sign_on_dir())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec![a.clone()]);
        let text = std::fs::read_to_string(layout.sign_on_session(&a).expect("path")).expect("read");
        assert_eq!(text, r#"{"user":"Alice","expires":10,"staff":true}"#);
    }
}
