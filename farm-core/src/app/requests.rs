//! Wiki requests, for farms whose policy is `review`: members ask, reviewers approve, decline
//! or ask for more details, requesters answer, edit while the request is open, or withdraw.
//! Every change and comment goes to the request's history, the audit log and (where the
//! requester should hear of it) the outbox, in one transaction.

use serde::Serialize;

use super::{page_size, CreateWiki, Farm, Page};
use crate::domain::{parse_text, permissions, Actor, RequestState, Sitename, Username};
use crate::error::FarmError;
use crate::platform::ratelimit::{Action, Source};
use crate::store::{AuditEntry, RequestEvent, RequestFields, RequestFilter, RequestRecord};

pub const PURPOSE_MAX_LEN: usize = 2000;
pub const COMMENT_MAX_LEN: usize = 2000;

/// What a requester writes.
#[derive(Debug, Clone)]
pub struct RequestInput {
    pub name: String,
    pub sitename: String,
    pub language: Option<String>,
    pub purpose: String,
    pub reason: String,
    /// The starter the wiki begins with once approved (default: the farm's).
    pub starter: Option<String>,
}

/// A requester's change: the fields given replace the request's, the others stay.
#[derive(Debug, Clone, Default)]
pub struct RequestEdit {
    pub name: Option<String>,
    pub sitename: Option<String>,
    pub language: Option<String>,
    pub purpose: Option<String>,
    pub reason: Option<String>,
    pub starter: Option<String>,
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Decline,
    NeedsMoreInfo,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Self::Approve),
            "decline" => Some(Self::Decline),
            "needs-more-info" => Some(Self::NeedsMoreInfo),
            _ => None,
        }
    }
}

/// A request with its history, as the requester and reviewers see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub id: i64,
    pub requester: String,
    pub name: String,
    pub sitename: String,
    pub language: String,
    pub purpose: String,
    pub reason: String,
    /// The starter asked for (none: the farm's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starter: Option<String>,
    pub state: RequestState,
    pub created_at: i64,
    pub updated_at: i64,
    /// The wiki made from an approved request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wiki: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<RequestEvent>>,
}

pub type RequestPage = Page<RequestView>;

fn view(record: RequestRecord, wiki: Option<String>, history: Option<Vec<RequestEvent>>) -> RequestView {
    RequestView {
        state: record.state,
        id: record.id,
        requester: record.requester,
        name: record.name,
        sitename: record.sitename,
        language: record.language,
        purpose: record.purpose,
        reason: record.reason,
        starter: record.starter,
        created_at: record.created_at,
        updated_at: record.updated_at,
        wiki,
        history,
    }
}

impl Farm {
    /// Checks a request's fields with the same rules as a new wiki.
    fn request_fields(&self, input: &RequestInput) -> Result<RequestFields, FarmError> {
        let name = self.names.parse(&input.name)?;
        let sitename = Sitename::parse(&input.sitename)?;
        let language = self.languages.parse(input.language.as_deref().unwrap_or(super::DEFAULT_LANGUAGE))?;
        Ok(RequestFields {
            name: name.to_string(),
            sitename: sitename.as_str().to_owned(),
            language: language.as_str().to_owned(),
            purpose: parse_text("purpose", &input.purpose, PURPOSE_MAX_LEN, true)?,
            reason: parse_text("reason", &input.reason, PURPOSE_MAX_LEN, true)?,
            starter: input.starter.as_deref().map(|id| self.starter_id(id)).transpose()?,
        })
    }

    async fn requester_email(&self, username: &str) -> Result<Option<String>, FarmError> {
        let Ok(username) = Username::parse(username) else { return Ok(None) };
        Ok(self.store.account_by_username_key(&username.mediawiki_name()).await?.map(|a| a.email))
    }

    fn request_link(&self, id: i64) -> String {
        self.portal_link(&format!("/requests/{id}"))
    }

    /// A member asks for a wiki.
    pub async fn submit_request(
        &self,
        actor: &Actor,
        input: RequestInput,
        source: &Source,
    ) -> Result<RequestView, FarmError> {
        permissions::request_wiki(actor, self.config.policy)?;
        if permissions::limited(actor) {
            self.limits.check(Action::Create, source, Some(actor.username.as_str()))?;
        }
        let fields = self.request_fields(&input)?;
        if self.store.wiki_by_name(&fields.name).await?.is_some() {
            return Err(FarmError::NameTaken(fields.name));
        }
        let email = self.requester_email(actor.username.as_str()).await?;
        let mut tx = self.store.begin().await?;
        if permissions::limited(actor) {
            self.check_quota(&mut tx, actor).await?;
        }
        let id = tx.insert_request(actor.username.as_str(), &fields).await?;
        tx.add_request_event(id, actor.username.as_str(), "submitted", None, None).await?;
        if let Some(email) = &email {
            let mail = self.mail.render(
                "request_received",
                email,
                minijinja::context! {
                    username => actor.username.as_str(), id, name => fields.name, sitename => fields.sitename,
                    link => self.request_link(id),
                },
            )?;
            tx.enqueue_mail(&mail).await?;
        }
        tx.audit(&self.request_audit(actor, "request.submit", id, source, Some(fields.name.clone()))).await?;
        tx.commit().await?;
        self.wakeups.outbox.notify_one();
        self.get_request(actor, id).await
    }

    fn request_audit(
        &self,
        actor: &Actor,
        action: &'static str,
        id: i64,
        source: &Source,
        details: Option<String>,
    ) -> AuditEntry {
        AuditEntry {
            actor: actor.username.to_string(),
            action,
            target: format!("request:{id}"),
            source: source.label(),
            details,
        }
    }

    async fn visible_request(&self, actor: &Actor, id: i64) -> Result<RequestRecord, FarmError> {
        let record = self.store.request_by_id(id).await?.ok_or(FarmError::NotFound("request"))?;
        permissions::see_request(actor, &record.requester)?;
        Ok(record)
    }

    pub async fn get_request(&self, actor: &Actor, id: i64) -> Result<RequestView, FarmError> {
        let record = self.visible_request(actor, id).await?;
        let history = self.store.request_events(id).await?;
        let wiki = match record.wiki_id {
            Some(wiki_id) => self.store.wiki_by_id(wiki_id).await?.map(|w| self.urls.wiki_url(w.name.as_str())),
            None => None,
        };
        Ok(view(record, wiki, Some(history)))
    }

    /// Requests a caller may see: their own, or (staff) everyone's, optionally by state.
    pub async fn list_requests(
        &self,
        actor: &Actor,
        requester: Option<&str>,
        state: Option<RequestState>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<RequestPage, FarmError> {
        let limit = page_size(limit)?;
        let after = super::parse_cursor(cursor)?;
        let requester = permissions::requests_listed(actor, requester)?;
        let filter = RequestFilter { requester, state, after_id: after, limit: limit + 1 };
        let records = self.store.list_requests(&filter).await?;
        Ok(Page::from_rows(records, limit, |r| r.id).map(|r| view(r, None, None)))
    }

    /// The reviewers' queue: every request in `state`, oldest first.
    pub async fn review_queue(&self, actor: &Actor, state: RequestState) -> Result<RequestPage, FarmError> {
        permissions::review_requests(actor)?;
        self.list_requests(actor, None, Some(state), None, Some(super::MAX_PAGE_SIZE)).await
    }

    /// The requester changes an open request.
    pub async fn edit_request(
        &self,
        actor: &Actor,
        id: i64,
        edit: RequestEdit,
        source: &Source,
    ) -> Result<RequestView, FarmError> {
        let record = self.visible_request(actor, id).await?;
        permissions::edit_request(actor, &record.requester)?;
        // The fields given replace the request's; the others stay.
        let input = RequestInput {
            name: edit.name.unwrap_or_else(|| record.name.clone()),
            sitename: edit.sitename.unwrap_or_else(|| record.sitename.clone()),
            language: Some(edit.language.unwrap_or_else(|| record.language.clone())),
            purpose: edit.purpose.unwrap_or_else(|| record.purpose.clone()),
            reason: edit.reason.unwrap_or_else(|| record.reason.clone()),
            starter: edit.starter.or_else(|| record.starter.clone()),
        };
        let fields = self.request_fields(&input)?;
        if fields.name != record.name && self.store.wiki_by_name(&fields.name).await?.is_some() {
            return Err(FarmError::NameTaken(fields.name));
        }
        let mut tx = self.store.begin().await?;
        if !tx.update_request(id, &fields).await? {
            return Err(FarmError::Conflict("only an open request (pending or needs-more-info) can change".into()));
        }
        tx.add_request_event(id, actor.username.as_str(), "edited", None, None).await?;
        tx.audit(&self.request_audit(actor, "request.edit", id, source, None)).await?;
        tx.commit().await?;
        self.get_request(actor, id).await
    }

    /// A comment on a request. The requester's comment on a request that needs more details
    /// is the answer: the request goes back to the queue.
    pub async fn comment_on_request(
        &self,
        actor: &Actor,
        id: i64,
        comment: &str,
        source: &Source,
    ) -> Result<RequestView, FarmError> {
        let record = self.visible_request(actor, id).await?;
        permissions::comment_on_request(actor, &record.requester)?;
        let comment = parse_text("comment", comment, COMMENT_MAX_LEN, true)?;
        let is_requester = record.requester == actor.username.as_str();
        let mut tx = self.store.begin().await?;
        let answers = is_requester && record.state == RequestState::NeedsMoreInfo;
        if answers {
            if !tx.move_request(id, RequestState::NeedsMoreInfo, RequestState::Pending, None).await? {
                return Err(FarmError::Conflict("the request changed meanwhile; reload it".into()));
            }
            let change = (RequestState::NeedsMoreInfo, RequestState::Pending);
            tx.add_request_event(id, actor.username.as_str(), "answered", Some(change), Some(&comment)).await?;
        } else {
            tx.add_request_event(id, actor.username.as_str(), "commented", None, Some(&comment)).await?;
        }
        tx.audit(&self.request_audit(actor, "request.comment", id, source, None)).await?;
        tx.commit().await?;
        self.get_request(actor, id).await
    }

    /// The requester withdraws an open request.
    pub async fn withdraw_request(&self, actor: &Actor, id: i64, source: &Source) -> Result<RequestView, FarmError> {
        let record = self.visible_request(actor, id).await?;
        permissions::withdraw_request(actor, &record.requester)?;
        let from = record.state;
        let mut tx = self.store.begin().await?;
        if !from.is_open() || !tx.move_request(id, from, RequestState::Withdrawn, None).await? {
            return Err(FarmError::Conflict("only an open request can be withdrawn".into()));
        }
        tx.add_request_event(id, actor.username.as_str(), "withdrawn", Some((from, RequestState::Withdrawn)), None)
            .await?;
        tx.audit(&self.request_audit(actor, "request.withdraw", id, source, None)).await?;
        tx.commit().await?;
        self.get_request(actor, id).await
    }

    /// A reviewer decides. Approval records the wiki for the requester in the same
    /// transaction; the pipeline builds it and mails the requester when it is ready.
    pub async fn review_request(
        &self,
        actor: &Actor,
        id: i64,
        decision: Decision,
        comment: Option<&str>,
        source: &Source,
    ) -> Result<RequestView, FarmError> {
        permissions::review_requests(actor)?;
        let record = self.visible_request(actor, id).await?;
        let comment = match comment {
            Some(text) => Some(parse_text("comment", text, COMMENT_MAX_LEN, false)?).filter(|c| !c.is_empty()),
            None => None,
        };
        if decision != Decision::Approve && comment.is_none() {
            return Err(FarmError::invalid(
                "comment",
                "comment_required",
                "say why: declining or asking for details needs a comment".into(),
            ));
        }
        let from = record.state;
        let (to, action, mail_kind) = match decision {
            Decision::Approve => (RequestState::Approved, "approved", "request_approved"),
            Decision::Decline => (RequestState::Declined, "declined", "request_declined"),
            Decision::NeedsMoreInfo => (RequestState::NeedsMoreInfo, "needs-more-info", "request_needs_info"),
        };
        let allowed = match decision {
            Decision::NeedsMoreInfo => from == RequestState::Pending,
            _ => from.is_open(),
        };
        if !allowed {
            return Err(FarmError::Conflict(format!("a request that is {} cannot be {action}", from.as_str())));
        }
        let requester = Username::parse(&record.requester)?;
        let account = self
            .store
            .account_by_username_key(&requester.mediawiki_name())
            .await?
            .ok_or_else(|| FarmError::Conflict("the requester's account no longer exists".into()))?;
        let prepared = match decision {
            Decision::Approve => {
                let request = CreateWiki {
                    name: record.name.clone(),
                    sitename: record.sitename.clone(),
                    language: Some(record.language.clone()),
                    backend: None,
                    settings: Default::default(),
                    starter: record.starter.clone(),
                };
                Some(
                    self.prepare_wiki(actor, &account.username, account.password_hash.as_deref(), &request, None, true)
                        .await?
                        .0,
                )
            }
            _ => None,
        };
        let mail = self.mail.render(
            mail_kind,
            &account.email,
            minijinja::context! {
                username => account.username, id, name => record.name, reviewer => actor.username.as_str(),
                comment => comment.clone(), link => self.request_link(id),
            },
        )?;
        let mut tx = self.store.begin().await?;
        let wiki_id = match &prepared {
            Some(prepared) => {
                let key = self.record_wiki(&mut tx, prepared).await?;
                Some(tx.wiki_id_by_key(&key).await?)
            }
            None => None,
        };
        if !tx.move_request(id, from, to, wiki_id).await? {
            return Err(FarmError::Conflict("the request changed meanwhile; reload it".into()));
        }
        tx.add_request_event(id, actor.username.as_str(), action, Some((from, to)), comment.as_deref()).await?;
        tx.enqueue_mail(&mail).await?;
        let audit_action = match decision {
            Decision::Approve => "request.approve",
            Decision::Decline => "request.decline",
            Decision::NeedsMoreInfo => "request.needs_more_info",
        };
        tx.audit(&self.request_audit(actor, audit_action, id, source, Some(record.name.clone()))).await?;
        if let Some(prepared) = &prepared {
            tx.audit(&AuditEntry {
                actor: actor.username.to_string(),
                action: "wiki.create",
                target: format!("wiki:{}", prepared.name),
                source: source.label(),
                details: Some(format!("approved request {id} of {}", account.username)),
            })
            .await?;
        }
        tx.commit().await?;
        self.wakeups.outbox.notify_one();
        if prepared.is_some() {
            self.wakeups.provisioning();
        }
        self.get_request(actor, id).await
    }
}
