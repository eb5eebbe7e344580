//! `GET /api/v1/servers` and `GET /api/v1/pool`: the MariaDB servers (health, wiki count,
//! size) and the warm pool's levels, for admins.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use farm_core::backends::mariadb::ServerStatus;
use farm_core::jobs::pool::PoolLevel;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/servers", get(list)).route("/api/v1/pool", get(pool))
}

#[derive(Serialize)]
struct PoolList {
    pool: Vec<PoolLevel>,
}

/// `GET /api/v1/pool`: ready and filling databases per backend and server (admins).
async fn pool(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<PoolList>, ApiError> {
    Ok(Json(PoolList { pool: state.farm.pool_levels(&actor).await? }))
}

#[derive(Serialize)]
struct ServerList {
    servers: Vec<ServerStatus>,
}

async fn list(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<ServerList>, ApiError> {
    let servers = state.farm.server_statuses(&actor).await?;
    Ok(Json(ServerList { servers }))
}
