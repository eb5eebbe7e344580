//! Exports of whole wikis in the portal: the button on the wiki page asks for one, its page
//! follows it while it is built (reloading itself, no script needed) and offers the download.
//! Who may see and fetch an export is the core's [`farm_core::Farm::export`] to decide.

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Form;
use farm_core::app::exports::ExportView;
use farm_core::platform::time::format_time;
use farm_core::FarmError;
use serde::Deserialize;

use crate::page::{merge, see_other, FieldError, PageCtx};
use crate::pages::wiki_form_error;

fn export_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

/// Whether an export is still being made (its page reloads itself until it is not).
fn under_way(view: &ExportView) -> bool {
    matches!(view.state.as_str(), "queued" | "running")
}

/// A size as people read it: `512 bytes`, `3.4 MiB` (`3,4 MiB` in German).
pub(crate) fn human_size(bytes: i64, lang: &str) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1} {}", UNITS[unit]);
    if lang == "de" {
        text.replace('.', ",")
    } else {
        text
    }
}

/// Asks for an export of the wiki (who may manage its settings); then its page.
pub async fn request_export(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<ExportForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    match ctx.farm.request_export(&actor, &name, &ctx.source).await {
        Ok(view) => see_other(&format!("/exports/{}?requested=1", view.id)),
        Err(err) => wiki_form_error(&ctx, &actor, &name, &err, "export_conflict").await,
    }
}

#[derive(Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub struct ExportQuery {
    requested: Option<String>,
}

pub async fn export(ctx: PageCtx, Path(id): Path<String>, Query(query): Query<ExportQuery>) -> Response {
    let notice = query.requested.is_some().then(|| ctx.t("export_requested"));
    export_page(&ctx, &id, StatusCode::OK, minijinja::context! { notice => notice }).await
}

/// The export's page, with `extra` (a notice, or an error) on top.
async fn export_page(ctx: &PageCtx, id: &str, status: StatusCode, extra: minijinja::Value) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let Some(id) = export_id(id) else { return ctx.not_found() };
    let (view, archive) = match ctx.farm.export(&actor, id).await {
        Ok(found) => found,
        Err(err) => return ctx.error_page(&err),
    };
    let refresh = under_way(&view).then_some(2);
    let percent = if view.total_items > 0 { (view.done_items * 100 / view.total_items).clamp(0, 100) } else { 0 };
    let progress = ctx
        .t("export_progress")
        .replace("{done}", &view.done_items.to_string())
        .replace("{total}", &view.total_items.to_string());
    let export = minijinja::context! {
        id => view.id, wiki => view.wiki, state => view.state, phase => view.phase,
        done_items => view.done_items, total_items => view.total_items, percent => percent,
        progress => progress, under_way => under_way(&view), ready => archive.is_some(),
        size => (view.state == "done").then(|| human_size(view.bytes, ctx.lang)),
        created => format_time(view.created_at), finished => view.finished_at.map(format_time),
        expires => view.expires_at.map(format_time),
    };
    ctx.render_with(status, "export.html", merge(minijinja::context! { export => export }, extra), refresh)
}

/// The archive of a finished export, streamed from disk.
pub async fn download(ctx: PageCtx, Path(id): Path<String>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let Some(id_number) = export_id(&id) else { return ctx.not_found() };
    let (view, archive) = match ctx.farm.export(&actor, id_number).await {
        Ok(found) => found,
        Err(err) => return ctx.error_page(&err),
    };
    let Some(path) = archive else {
        // Not done (yet), failed or expired: its page says which.
        let error = FieldError { code: "conflict", message: ctx.t("export_not_ready") };
        return export_page(&ctx, &id, StatusCode::CONFLICT, minijinja::context! { error => error }).await;
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        // Expired between the look-up and the open.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return ctx.not_found(),
        Err(err) => return ctx.error_page(&FarmError::Internal(err.into())),
    };
    let length = match file.metadata().await {
        Ok(metadata) => metadata.len(),
        Err(err) => return ctx.error_page(&FarmError::Internal(err.into())),
    };
    let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/gzip"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}-export-{}.tar.gz\"", view.wiki, view.id))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(0, "en"), "0 B");
        assert_eq!(human_size(1023, "en"), "1023 B");
        assert_eq!(human_size(1536, "en"), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 + 400 * 1024, "de"), "3,4 MiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024, "en"), "5.0 GiB");
    }
}
