//! Accounts and sessions: sign-up, email confirmation, login (API tokens and portal
//! cookies), logout and revocation, password reset, and (admins) roles.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use farm_core::app::accounts::{AccountView, Login, SessionView, SignUp};
use farm_core::domain::{Role, SessionKind};
use farm_core::FarmError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Caller, Client, CurrentSession};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up, list_accounts))
        .routes(routes!(confirm))
        .routes(routes!(update_account))
        .routes(routes!(me))
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(log_out))
        .routes(routes!(revoke_token))
        .routes(routes!(create_session))
        .routes(routes!(end_session))
        .routes(routes!(request_reset))
        .routes(routes!(reset))
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignUpBody {
    username: String,
    email: String,
    password: String,
}

/// Signs up (no token needed): the account is made unconfirmed and a confirmation link mailed.
#[utoipa::path(
    post, path = "/api/v1/accounts", tag = "accounts", request_body = SignUpBody,
    responses(
        (status = 201, description = "The new account", body = AccountView),
        (status = 403, description = "`local_passwords_off`, `signup_providers_only`: the farm makes accounts through its identity providers", body = ErrorBody),
        (status = 409, description = "`username_taken`, `email_taken`", body = ErrorBody),
        (status = 422, description = "`username_invalid`, `email_invalid`, `password_length`, `password_is_username`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    )
)]
async fn sign_up(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<SignUpBody>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let form = SignUp { username: body.username, email: body.email, password: body.password };
    let account = state.farm.sign_up(form, &source).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

/// The secret of a mail's link.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
}

/// Follows the confirmation link's secret (no token needed).
#[utoipa::path(
    post, path = "/api/v1/accounts/confirm", tag = "accounts", request_body = TokenBody,
    responses(
        (status = 200, description = "The confirmed account", body = AccountView),
        (status = 422, description = "`link_invalid`: invalid, used or expired", body = ErrorBody),
    )
)]
async fn confirm(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(state.farm.confirm_email(&body.token, &source).await?))
}

/// The caller's own account.
#[utoipa::path(
    get, path = "/api/v1/account", tag = "accounts", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The caller's account", body = AccountView))
)]
async fn me(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(state.farm.account(&actor).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AccountListParams {
    /// 1 to 500; 50 when absent.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct AccountList {
    accounts: Vec<AccountView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Every account, a page at a time (admins).
#[utoipa::path(
    get, path = "/api/v1/accounts", tag = "accounts", params(AccountListParams), security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "A page of accounts", body = AccountList),
        (status = 400, description = "`invalid_query`, `invalid_cursor`", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
        (status = 422, description = "`limit_out_of_range`", body = ErrorBody),
    )
)]
async fn list_accounts(
    State(state): State<AppState>,
    Caller(actor): Caller,
    ApiQuery(params): ApiQuery<AccountListParams>,
) -> Result<Json<AccountList>, ApiError> {
    let page = state.farm.list_accounts(&actor, params.cursor.as_deref(), params.limit).await?;
    Ok(Json(AccountList { accounts: page.items, next_cursor: page.next_after.map(|id| id.to_string()) }))
}

/// A change of role, or a lock (at least one of the two).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AccountPatch {
    role: Option<Role>,
    /// `true` locks the account: it cannot log in, and all its sessions end (on the wikis
    /// too); `false` unlocks it.
    locked: Option<bool>,
}

/// Changes an account's role or locks it (admins); its tokens change power at once, and its
/// sessions on the wikis end.
#[utoipa::path(
    patch, path = "/api/v1/accounts/{username}", tag = "accounts", request_body = AccountPatch,
    params(("username" = String, Path, description = "The account's user name")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 400, description = "`patch_empty`: neither `role` nor `locked`", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only; `account_lock_self`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn update_account(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(username): ApiPath<String>,
    ApiJson(body): ApiJson<AccountPatch>,
) -> Result<Json<AccountView>, ApiError> {
    let mut view = None;
    if let Some(role) = body.role {
        view = Some(state.farm.set_role(&actor, &username, role, &source).await?);
    }
    if let Some(locked) = body.locked {
        view = Some(state.farm.set_locked(&actor, &username, locked, &source).await?);
    }
    match view {
        Some(view) => Ok(Json(view)),
        None => Err(FarmError::bad_request("patch_empty", "send `role`, `locked` or both").into()),
    }
}

/// A login.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    /// A user name or an email address.
    login: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
struct TokenResponse {
    /// `Authorization: Bearer` it.
    token: String,
    /// The session's id, to revoke it.
    id: String,
    expires_at: i64,
    account: AccountView,
}

/// Logs in for an API token (no token needed).
#[utoipa::path(
    post, path = "/api/v1/tokens", tag = "accounts", request_body = LoginBody,
    responses(
        (status = 201, description = "A new token", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: one answer for an unknown user and a wrong password", body = ErrorBody),
        (status = 403, description = "`local_passwords_off`: the farm takes no passwords", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    )
)]
async fn create_token(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let Login { token, session_id, expires_at, account, .. } =
        state.farm.log_in(&body.login, &body.password, SessionKind::Api, &source).await?;
    Ok((StatusCode::CREATED, Json(TokenResponse { token, id: session_id, expires_at, account })))
}

#[derive(Serialize, ToSchema)]
struct TokenList {
    tokens: Vec<SessionView>,
}

/// The caller's live sessions (tokens and portal logins).
#[utoipa::path(
    get, path = "/api/v1/tokens", tag = "accounts", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Live sessions", body = TokenList))
)]
async fn list_tokens(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList { tokens: state.farm.sessions(&actor).await? }))
}

/// Logs out: the token of this request stops working at once.
#[utoipa::path(
    delete, path = "/api/v1/tokens/current", tag = "accounts", security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Logged out"))
)]
async fn log_out(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    Client(source): Client,
) -> Result<StatusCode, ApiError> {
    state.farm.log_out(&session, &source).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes one of the caller's sessions.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "accounts", params(("id" = String, Path, description = "The session's id")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "`not_found`: no such live session of the caller's", body = ErrorBody),
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    Caller(actor): Caller,
    Client(source): Client,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.farm.revoke_session(&actor, &id, &source).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
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

/// Logs in to the portal (no token needed): the session travels in an HttpOnly cookie.
#[utoipa::path(
    post, path = "/api/v1/sessions", tag = "accounts", request_body = LoginBody,
    responses(
        (status = 201, description = "Logged in; the cookie is set", body = SessionResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 403, description = "`local_passwords_off`: the farm takes no passwords", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    )
)]
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

/// Logs out of the portal session of this request, and clears its cookie.
#[utoipa::path(
    delete, path = "/api/v1/sessions/current", tag = "accounts", security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Logged out"))
)]
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

/// The address to mail a reset link to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetRequestBody {
    email: String,
}

/// Mails a password-reset link if an account has this address (no token needed). Always 202
/// for a well-formed address: the answer does not tell who has an account.
#[utoipa::path(
    post, path = "/api/v1/password-resets", tag = "accounts", request_body = ResetRequestBody,
    responses(
        (status = 202, description = "Mailed, if there is such an account"),
        (status = 403, description = "`local_passwords_off`: the farm takes no passwords", body = ErrorBody),
        (status = 422, description = "`email_invalid`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    )
)]
async fn request_reset(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<ResetRequestBody>,
) -> Result<StatusCode, ApiError> {
    state.farm.request_password_reset(&body.email, &source).await?;
    Ok(StatusCode::ACCEPTED)
}

/// A new password, with the reset link's secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    password: String,
}

/// Sets a new password with the reset link's secret (no token needed); every session of the
/// account ends.
#[utoipa::path(
    post, path = "/api/v1/password-resets/confirm", tag = "accounts", request_body = ResetBody,
    responses(
        (status = 204, description = "The password is set"),
        (status = 403, description = "`local_passwords_off`: the farm takes no passwords", body = ErrorBody),
        (status = 422, description = "`link_invalid`, `password_length`", body = ErrorBody),
    )
)]
async fn reset(
    State(state): State<AppState>,
    Client(source): Client,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<StatusCode, ApiError> {
    state.farm.reset_password(&body.token, &body.password, &source).await?;
    Ok(StatusCode::NO_CONTENT)
}
