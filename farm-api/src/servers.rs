//! `GET /api/v1/servers` and `GET /api/v1/pool`: the MariaDB servers (health, wiki count,
//! size) and the warm pool's levels, for admins.

use axum::extract::State;
use axum::Json;
use farm_core::backends::mariadb::ServerStatus;
use farm_core::jobs::pool::PoolLevel;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Caller;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(pool))
}

#[derive(Serialize, ToSchema)]
struct PoolList {
    pool: Vec<PoolLevel>,
}

/// Ready and filling databases of the warm pool, per backend and server (admins).
#[utoipa::path(
    get, path = "/api/v1/pool", tag = "farm", security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The pool's levels", body = PoolList),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
    )
)]
async fn pool(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<PoolList>, ApiError> {
    Ok(Json(PoolList { pool: state.farm.pool_levels(&actor).await? }))
}

#[derive(Serialize, ToSchema)]
struct ServerList {
    servers: Vec<ServerStatus>,
}

/// The MariaDB servers for wikis: health, wiki count, size (admins).
#[utoipa::path(
    get, path = "/api/v1/servers", tag = "farm", security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The database servers", body = ServerList),
        (status = 403, description = "`forbidden`: admins only", body = ErrorBody),
    )
)]
async fn list(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<ServerList>, ApiError> {
    let servers = state.farm.server_statuses(&actor).await?;
    Ok(Json(ServerList { servers }))
}
