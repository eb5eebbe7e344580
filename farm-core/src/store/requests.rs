//! Wiki requests (policy `review`) and their history.

use super::{now, Store, Tx};
use crate::domain::RequestState;
use crate::error::FarmError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRecord {
    pub id: i64,
    pub requester: String,
    pub name: String,
    pub sitename: String,
    pub language: String,
    pub purpose: String,
    pub reason: String,
    #[sqlx(try_from = "String")]
    pub state: RequestState,
    pub wiki_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The starter asked for (`None`: the farm's default when approved).
    pub starter: Option<String>,
}

const REQUEST_COLUMNS: &str =
    "id, requester, name, sitename, language, purpose, reason, state, wiki_id, created_at, updated_at, starter";

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RequestEvent {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub comment: Option<String>,
}

/// The fields a requester writes (new request or edit).
#[derive(Debug, Clone)]
pub struct RequestFields {
    pub name: String,
    pub sitename: String,
    pub language: String,
    pub purpose: String,
    pub reason: String,
    pub starter: Option<String>,
}

#[derive(Debug, Default)]
pub struct RequestFilter<'a> {
    pub requester: Option<&'a str>,
    pub state: Option<RequestState>,
    pub after_id: Option<i64>,
    pub limit: u32,
}

/// The error for a name that an open request holds.
pub fn request_exists(name: &str) -> FarmError {
    FarmError::Taken {
        field: "name",
        code: "request_exists",
        message: format!("there is already an open request for the name {name:?}"),
    }
}

impl Store {
    pub async fn request_by_id(&self, id: i64) -> Result<Option<RequestRecord>, FarmError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM wiki_requests WHERE id = ?");
        Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.write).await?)
    }

    pub async fn list_requests(&self, filter: &RequestFilter<'_>) -> Result<Vec<RequestRecord>, FarmError> {
        let mut sql = format!("SELECT {REQUEST_COLUMNS} FROM wiki_requests WHERE id > ?");
        if filter.requester.is_some() {
            sql.push_str(" AND requester = ?");
        }
        if filter.state.is_some() {
            sql.push_str(" AND state = ?");
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        let mut query = sqlx::query_as(&sql).bind(filter.after_id.unwrap_or(0));
        if let Some(requester) = filter.requester {
            query = query.bind(requester);
        }
        if let Some(state) = filter.state {
            query = query.bind(state.as_str());
        }
        Ok(query.bind(i64::from(filter.limit)).fetch_all(&self.read).await?)
    }

    pub async fn open_request_exists(&self, name: &str) -> Result<bool, FarmError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM wiki_requests WHERE open_name = ?")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.is_some())
    }

    pub async fn request_events(&self, request_id: i64) -> Result<Vec<RequestEvent>, FarmError> {
        Ok(sqlx::query_as(
            "SELECT at, actor, action, from_state, to_state, comment FROM wiki_request_events \
             WHERE request_id = ? ORDER BY id",
        )
        .bind(request_id)
        .fetch_all(&self.write)
        .await?)
    }
}

impl Tx {
    pub async fn insert_request(&mut self, requester: &str, fields: &RequestFields) -> Result<i64, FarmError> {
        let now = now();
        let inserted = sqlx::query(
            "INSERT INTO wiki_requests (requester, name, open_name, sitename, language, purpose, reason, starter, \
             state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(requester)
        .bind(&fields.name)
        .bind(&fields.name)
        .bind(&fields.sitename)
        .bind(&fields.language)
        .bind(&fields.purpose)
        .bind(&fields.reason)
        .bind(&fields.starter)
        .bind(now)
        .bind(now)
        .execute(&mut *self.tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if super::is_unique_violation(&e) => return Err(request_exists(&fields.name)),
            Err(e) => return Err(e.into()),
        }
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM wiki_requests WHERE open_name = ?")
            .bind(&fields.name)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(id)
    }

    /// Replaces an open request's fields. Returns whether it was still open.
    pub async fn update_request(&mut self, id: i64, fields: &RequestFields) -> Result<bool, FarmError> {
        let updated = sqlx::query(
            "UPDATE wiki_requests SET name = ?, open_name = ?, sitename = ?, language = ?, purpose = ?, reason = ?, \
             starter = ?, updated_at = ? WHERE id = ? AND state IN ('pending', 'needs-more-info')",
        )
        .bind(&fields.name)
        .bind(&fields.name)
        .bind(&fields.sitename)
        .bind(&fields.language)
        .bind(&fields.purpose)
        .bind(&fields.reason)
        .bind(&fields.starter)
        .bind(now())
        .bind(id)
        .execute(&mut *self.tx)
        .await;
        match updated {
            Ok(result) => Ok(result.rows_affected() == 1),
            Err(e) if super::is_unique_violation(&e) => Err(request_exists(&fields.name)),
            Err(e) => Err(e.into()),
        }
    }

    /// `from` → `to`, only if the request is still in `from`. Closing a request frees its name.
    pub async fn move_request(
        &mut self,
        id: i64,
        from: RequestState,
        to: RequestState,
        wiki_id: Option<i64>,
    ) -> Result<bool, FarmError> {
        let open_name = if to.is_open() { "name" } else { "NULL" };
        let sql = format!(
            "UPDATE wiki_requests SET state = ?, open_name = {open_name}, wiki_id = COALESCE(?, wiki_id), \
             updated_at = ? WHERE id = ? AND state = ?"
        );
        let result = sqlx::query(&sql)
            .bind(to.as_str())
            .bind(wiki_id)
            .bind(now())
            .bind(id)
            .bind(from.as_str())
            .execute(&mut *self.tx)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn add_request_event(
        &mut self,
        request_id: i64,
        actor: &str,
        action: &str,
        change: Option<(RequestState, RequestState)>,
        comment: Option<&str>,
    ) -> Result<(), FarmError> {
        sqlx::query(
            "INSERT INTO wiki_request_events (request_id, at, actor, action, from_state, to_state, comment) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(request_id)
        .bind(now())
        .bind(actor)
        .bind(action)
        .bind(change.map(|(from, _)| from.as_str()))
        .bind(change.map(|(_, to)| to.as_str()))
        .bind(comment)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
