//! `/api/v1/starters`: the pages a new wiki can begin with.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use farm_core::app::starters::StarterView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, Caller};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(preview))
}

#[derive(Serialize, ToSchema)]
struct StarterList {
    starters: Vec<StarterView>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// The language to describe them in, and whose pages to list (default: the farm's
    /// default language).
    language: Option<String>,
}

/// The starters a new wiki can begin with (the `starter` field of a creation), in order, with
/// the pages each gives a wiki in `language`.
#[utoipa::path(
    get, path = "/api/v1/starters", tag = "wikis", params(ListQuery),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The starters", body = StarterList),
        (status = 422, description = "`language_unknown`", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Caller(_actor): Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<StarterList>, ApiError> {
    Ok(Json(StarterList { starters: state.farm.starters(query.language.as_deref())? }))
}

/// A starter's preview picture (public: the create form shows it).
#[utoipa::path(
    get, path = "/api/v1/starters/{id}/preview", tag = "wikis", params(("id" = String, Path, description = "The starter")),
    responses(
        (status = 200, description = "The picture", content_type = "image/*"),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
async fn preview(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    let preview = state.farm.starter_preview(&id)?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(preview.content_type)),
        // An SVG opened on its own runs nothing and loads nothing.
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
    ];
    Ok((headers, preview.bytes.to_vec()).into_response())
}
