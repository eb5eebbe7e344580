//! The portal: the pages people use. For now the home page, which says what this farm is and
//! how to use its API; the self-service pages grow here on top of the same `Farm` calls.

use axum::response::Html;
use axum::routing::get;
use axum::Router;

/// The portal's routes, for any router state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(home))
}

async fn home() -> Html<&'static str> {
    Html(include_str!("../templates/home.html"))
}
