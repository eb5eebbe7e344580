//! `GET /api/v1/servers`: the MariaDB servers, their health, wiki count and size (admins).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use farm_core::mariadb::ServerStatus;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::Caller;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/servers", get(list))
}

#[derive(Serialize)]
struct ServerList {
    servers: Vec<ServerStatus>,
}

async fn list(State(state): State<AppState>, Caller(actor): Caller) -> Result<Json<ServerList>, ApiError> {
    let servers = state.farm.server_statuses(&actor).await?;
    Ok(Json(ServerList { servers }))
}
