//! The wikis' sign-on, on the farm's side: what the portal's `/sign-on` answers a wiki that
//! asks who its visitor is (see `deploy/mediawiki/farm-sign-on.php` for the wiki's side).
//!
//! The answer goes back through the visitor's browser as a form posted from the portal's
//! origin, so a page elsewhere on the farm can neither post one nor read it. It is either an
//! assertion signed for that one wiki and that one request's state, or "anonymous". The farm
//! session it names gets a file the wiki checks on every request, removed when the session
//! ends (logout, password reset, lock, role change).

use crate::app::accounts::Session;
use crate::app::Farm;
use crate::domain::WikiState;
use crate::error::FarmError;
use crate::identity::sign_on::{Assertion, ASSERTION_TTL_SECONDS, ISSUER};
use crate::mediawiki::sign_on::{session_handle, SignedOnSession};
use crate::platform::ratelimit::Source;
use crate::platform::time::now;
use crate::store::AuditEntry;

/// What a wiki asked for (the query of `/sign-on`).
#[derive(Debug, Clone, Default)]
pub struct SignOnAsk {
    pub wiki: String,
    /// The random value the wiki put in the browser's cookie for this request.
    pub state: String,
    /// The path on the wiki to come back to.
    pub return_to: String,
    /// "Log in" on the wiki: a visitor not logged in to the portal logs in first.
    pub prompt_login: bool,
}

/// Where the browser goes next.
#[derive(Debug, Clone)]
pub enum SignOnAnswer {
    /// Post these fields to `callback` (from the portal's origin).
    Post { callback: String, wiki_origin: String, fields: Vec<(&'static str, String)> },
    /// The visitor asked to log in and is not: the portal's login page, then back here.
    LogInFirst,
}

impl Farm {
    /// Answers a wiki's question about the visitor with `session` (their portal session, if
    /// any and unspoilt). Only a known wiki and a well-formed state get an answer at all.
    pub async fn sign_on(
        &self,
        session: Option<&Session>,
        ask: &SignOnAsk,
        source: &Source,
    ) -> Result<SignOnAnswer, FarmError> {
        let name = crate::domain::WikiName::parse(&ask.wiki).map_err(|_| FarmError::NotFound("wiki"))?;
        let wiki = self.store.wiki_by_name(name.as_str()).await?.ok_or(FarmError::NotFound("wiki"))?;
        if !matches!(wiki.state, WikiState::Active | WikiState::Locked) {
            return Err(FarmError::NotFound("wiki"));
        }
        if ask.state.len() != 32 || !ask.state.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(FarmError::bad_request("sign_on_state_invalid", "the wiki's sign-on request is malformed"));
        }
        let return_to = safe_return(&ask.return_to);
        let wiki_origin = self.urls.wiki_url(name.as_str()).trim_end_matches('/').to_owned();
        let callback = format!("{wiki_origin}/index.php?title=Special:FarmSignOn");
        let mut fields = vec![("state", ask.state.clone()), ("return", return_to)];
        let signed_in = session.filter(|s| s.kind == "portal" && s.actor.confirmed);
        let Some(session) = signed_in else {
            if ask.prompt_login && session.is_none() {
                return Ok(SignOnAnswer::LogInFirst);
            }
            fields.push(("result", "anonymous".into()));
            return Ok(SignOnAnswer::Post { callback, wiki_origin, fields });
        };
        let user = session.actor.username.mediawiki_name();
        let staff = self.config.wiki_accounts.staff_group && session.actor.is_admin();
        let handle = session_handle(&session.session_id);
        self.signed_on
            .write(&handle, &SignedOnSession { user: user.clone(), expires: session.expires_at, staff })
            .map_err(|err| anyhow::anyhow!("writing the sign-on file: {err}"))?;
        if staff && wiki.owner != session.actor.username {
            let mut tx = self.store.begin().await?;
            tx.audit(&AuditEntry {
                actor: session.actor.username.as_str().to_owned(),
                action: "wiki.staff_sign_on",
                target: format!("wiki:{name}"),
                source: source.label(),
                details: Some("with the farm-staff group".into()),
            })
            .await?;
            tx.commit().await?;
        }
        let issued = now();
        let assertion = Assertion {
            iss: ISSUER.into(),
            aud: format!("wiki:{}", wiki.key),
            sub: user,
            sid: handle,
            nonce: ask.state.clone(),
            iat: issued,
            exp: issued + ASSERTION_TTL_SECONDS,
            jti: crate::platform::random::random_hex(16),
        };
        fields.push(("assertion", self.sign_on_keys.sign(&assertion)?));
        Ok(SignOnAnswer::Post { callback, wiki_origin, fields })
    }

    /// The farm sessions of an account end on the wikis too (their files go). Called after the
    /// change that ended them committed; what fails here the lifecycle's next round removes.
    pub(crate) async fn end_wiki_sessions(&self, account_id: i64) {
        let ids = match self.store.session_ids(account_id).await {
            Ok(ids) => ids,
            Err(err) => {
                tracing::error!(error = %err, "listing an account's sessions to end them on the wikis");
                return;
            }
        };
        for id in ids {
            self.end_wiki_session(&id);
        }
    }

    pub(crate) fn end_wiki_session(&self, session_id: &str) {
        if let Err(err) = self.signed_on.remove(&session_handle(session_id)) {
            tracing::error!(error = %err, "removing a sign-on file; the lifecycle's next round will");
        }
    }
}

/// A path on the wiki: anything else becomes `/`.
fn safe_return(path: &str) -> String {
    let fine = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2000
        && !path.bytes().any(|b| b == b'\\' || b.is_ascii_control());
    if fine {
        path.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::safe_return;

    #[test]
    fn only_paths_on_the_wiki_come_back() {
        assert_eq!(safe_return("/index.php?title=Main_Page"), "/index.php?title=Main_Page");
        for bad in ["", "//evil.example/x", "https://evil.example/", "/\\evil", "/a\r\nSet-Cookie: x", "x"] {
            assert_eq!(safe_return(bad), "/", "{bad:?}");
        }
    }
}
