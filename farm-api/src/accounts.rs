//! Accounts and sessions: sign-up, email confirmation, login (API tokens and portal
//! cookies), logout and revocation, password reset, and (admins) roles.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use farm_core::app::accounts::{AccountView, Login, SessionView, SignUp};
use farm_core::domain::Role;
use farm_core::domain::SessionKind;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Client, CurrentSession};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/accounts", post(sign_up).get(list_accounts))
        .route("/api/v1/accounts/confirm", post(confirm))
        .route("/api/v1/accounts/{username}", patch(update_account))
        .route("/api/v1/account", get(me))
        .route("/api/v1/tokens", post(create_token).get(list_tokens))
        .route("/api/v1/tokens/current", delete(log_out))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/sessions", post(create_session))
        .route("/api/v1/sessions/current", delete(end_session))
        .route("/api/v1/password-resets", post(request_reset))
        .route("/api/v1/password-resets/confirm", post(reset))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignUpBody {
    username: String,
    email: String,
    password: String,
}

async fn sign_up(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<SignUpBody>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let form = SignUp { username: body.username, email: body.email, password: body.password };
    let account = state.farm.sign_up(form, &source).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

async fn confirm(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(state.farm.confirm_email(&body.token, &source).await?))
}

async fn me(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(state.farm.account(&actor).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct AccountList {
    accounts: Vec<AccountView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

async fn list_accounts(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<AccountListParams>,
) -> Result<Json<AccountList>, ApiError> {
    let page = state.farm.list_accounts(&actor, params.cursor.as_deref(), params.limit).await?;
    Ok(Json(AccountList { accounts: page.items, next_cursor: page.next_after.map(|id| id.to_string()) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountPatch {
    role: Role,
}

async fn update_account(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(username): ApiPath<String>,
    ApiJson(body): ApiJson<AccountPatch>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(state.farm.set_role(&actor, &username, body.role, &source).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    /// A user name or an email address.
    login: String,
    password: String,
}

#[derive(Serialize)]
struct TokenResponse {
    token: String,
    id: String,
    expires_at: i64,
    account: AccountView,
}

async fn create_token(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let Login { token, session_id, expires_at, account, .. } =
        state.farm.log_in(&body.login, &body.password, SessionKind::Api, &source).await?;
    Ok((StatusCode::CREATED, Json(TokenResponse { token, id: session_id, expires_at, account })))
}

#[derive(Serialize)]
struct TokenList {
    tokens: Vec<SessionView>,
}

async fn list_tokens(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList { tokens: state.farm.sessions(&actor).await? }))
}

async fn log_out(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    Client(source): Client,
) -> Result<StatusCode, ApiError> {
    state.farm.log_out(&session, &source).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.farm.revoke_session(&actor, &id, &source).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
struct SessionResponse {
    account: AccountView,
    /// Send it as `X-CSRF-Token` with every state-changing request made with the cookie.
    csrf_token: String,
    expires_at: i64,
}

fn session_cookie(state: &AppState, value: &str, max_age: time::Duration) -> Option<HeaderValue> {
    let name = farm_http::security::cookie_names(&state.farm).session;
    Some(farm_http::security::set_cookie(&state.farm, name, value, max_age, true))
}

/// `POST /api/v1/sessions`: log in to the portal; the session travels in an HttpOnly cookie.
async fn create_session(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<(StatusCode, HeaderMap, Json<SessionResponse>), ApiError> {
    let login = state.farm.log_in(&body.login, &body.password, SessionKind::Portal, &source).await?;
    let max_age = time::Duration::seconds(login.expires_at - farm_core::platform::time::now());
    let mut headers = HeaderMap::new();
    if let Some(cookie) = session_cookie(&state, &login.token, max_age) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    let response =
        SessionResponse { account: login.account, csrf_token: login.csrf_token, expires_at: login.expires_at };
    Ok((StatusCode::CREATED, headers, Json(response)))
}

async fn end_session(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    Client(source): Client,
) -> Result<(StatusCode, HeaderMap), ApiError> {
    state.farm.log_out(&session, &source).await?;
    let mut headers = HeaderMap::new();
    if let Some(cookie) = session_cookie(&state, "", time::Duration::ZERO) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    Ok((StatusCode::NO_CONTENT, headers))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequestBody {
    email: String,
}

/// Always 202 for a well-formed address: the answer does not tell who has an account.
async fn request_reset(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> Result<StatusCode, ApiError> {
    state.farm.request_password_reset(&body.email, &source).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    password: String,
}

async fn reset(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    state.farm.reset_password(&body.token, &body.password, &source).await?;
    Ok(StatusCode::NO_CONTENT)
}
