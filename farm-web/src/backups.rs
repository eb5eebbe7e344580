//! A wiki's backups in the portal: the list (reloading itself while a backup or a restore is
//! under way), "back up now", and a restore button on each verified backup. Who may see and do
//! what is the core's [`farm_core::Farm::backups`] and friends to decide.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use farm_core::platform::time::format_time;
use serde::Deserialize;

use crate::exports::human_size;
use crate::page::{merge, see_other, PageCtx};

#[derive(Deserialize)]
pub struct BackupsQuery {
    /// `backup` or `restore`: what was just asked for.
    requested: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn backups(ctx: PageCtx, Path(name): Path<String>, Query(query): Query<BackupsQuery>) -> Response {
    let notice = match query.requested.as_deref() {
        Some("backup") => Some(ctx.t("backup_requested")),
        Some("restore") => Some(ctx.t("restore_requested")),
        _ => None,
    };
    backups_page(&ctx, &name, StatusCode::OK, minijinja::context! { notice => notice }).await
}

/// The list, with `extra` (a notice or an error) on top.
async fn backups_page(ctx: &PageCtx, name: &str, status: StatusCode, extra: minijinja::Value) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let list = match ctx.farm.backups(&actor, name).await {
        Ok(list) => list,
        Err(err) => return ctx.error_page(&err),
    };
    let restoring = list.restore.as_ref().is_some_and(|r| matches!(r.state.as_str(), "queued" | "running"));
    let under_way = restoring || list.backups.iter().any(|b| matches!(b.state.as_str(), "queued" | "running"));
    let backups: Vec<minijinja::Value> = list
        .backups
        .iter()
        .filter(|b| b.state != "pruned")
        .map(|b| {
            minijinja::context! {
                id => b.id, kind => b.kind, state => b.state, pages => b.pages,
                size => (b.state == "verified").then(|| human_size(b.bytes, ctx.lang)),
                created => format_time(b.created_at), finished => b.finished_at.map(format_time),
                restorable => b.state == "verified" && !restoring,
            }
        })
        .collect();
    let restore = list.restore.as_ref().map(|r| {
        minijinja::context! {
            id => r.id, backup => r.backup, state => r.state, error => r.error,
            created => format_time(r.created_at), finished => r.finished_at.map(format_time),
        }
    });
    let page = minijinja::context! {
        wiki => name, backups => backups, restore => restore, under_way => under_way,
    };
    ctx.render_with(status, "backups.html", merge(page, extra), under_way.then_some(2))
}

/// "Back up now".
pub async fn request_backup(ctx: PageCtx, Path(name): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    match ctx.farm.request_backup(&actor, &name, &ctx.source).await {
        Ok(_) => see_other(&format!("/wikis/{name}/backups?requested=backup")),
        Err(err) => failed(&ctx, &name, &err).await,
    }
}

/// Restores the wiki to the backup in the path.
pub async fn restore(ctx: PageCtx, Path((name, id)): Path<(String, String)>, Form(form): Form<CsrfForm>) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    if let Err(refused) = ctx.check_csrf(&form.csrf) {
        return refused;
    }
    let Some(id) = id.parse::<i64>().ok().filter(|id| *id > 0) else { return ctx.not_found() };
    match ctx.farm.request_restore(&actor, &name, id, &ctx.source).await {
        Ok(_) => see_other(&format!("/wikis/{name}/backups?requested=restore")),
        Err(err) => failed(&ctx, &name, &err).await,
    }
}

/// The list again with the error on top (a missing or hidden wiki is its error page).
async fn failed(ctx: &PageCtx, name: &str, err: &farm_core::FarmError) -> Response {
    use farm_core::FarmError;
    match err {
        FarmError::NotFound(_) | FarmError::Internal(_) | FarmError::Forbidden(_) => ctx.error_page(err),
        _ => {
            let status = farm_http::status(err);
            let mut detail = ctx.error(err);
            if matches!(err, FarmError::Conflict(_)) {
                detail.message = ctx.t("backup_conflict");
            }
            backups_page(ctx, name, status, minijinja::context! { error => detail }).await
        }
    }
}
