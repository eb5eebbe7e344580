//! A new wiki from an archive, in the portal: a multipart form with the name, the site name,
//! the language and the archive (farmd's export or a MediaWiki XML dump). The archive is
//! streamed to disk as it comes, never held in memory; the core checks it and creates the
//! wiki, whose page then follows the import. Like the API's `POST /api/v1/wiki-imports`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::extract::multipart::{Field, Multipart, MultipartError};
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;
use farm_core::app::CreateWiki;
use farm_core::FarmError;
use tokio::io::AsyncWriteExt;

use crate::exports::human_size;
use crate::page::{merge, see_other, url_escape, PageCtx};
use crate::pages::{is_review, languages_for_wikis};

/// What the body may have on top of the archive: the other fields and the multipart framing.
const FORM_SLACK_BYTES: u64 = 64 * 1024;

/// The most a text field of the form is read (the rest is skipped, never kept).
const MAX_TEXT_BYTES: usize = 4 * 1024;

/// The form's file field.
const ARCHIVE_FIELD: &str = "archive";

/// The uploaded archive on disk, removed when this goes (also when the client breaks off and
/// the handler is dropped half-way).
struct UploadFile(PathBuf);

impl Drop for UploadFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The form's text fields, as typed (shown again after an error).
#[derive(Default)]
struct Fields {
    csrf: String,
    name: String,
    sitename: String,
    language: String,
}

impl Fields {
    fn shown(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("name", self.name.clone()),
            ("sitename", self.sitename.clone()),
            ("language", self.language.clone()),
        ])
    }
}

/// What became of the file part.
enum Archive {
    /// The form had none (or an empty one).
    Missing,
    Stored(UploadFile),
    /// Past the farm's limit; what had come is removed.
    TooLarge,
    /// The body broke off or was not a multipart form.
    Broken,
    /// The farm could not write it.
    Failed(FarmError),
}

fn import_page(ctx: &PageCtx, status: StatusCode, extra: minijinja::Value) -> Response {
    let base = minijinja::context! {
        review => is_review(ctx),
        base_domain => ctx.farm.urls().base_domain(),
        wiki_languages => languages_for_wikis(ctx),
        max_size => human_size(i64::try_from(ctx.farm.config().import_max_bytes).unwrap_or(i64::MAX), ctx.lang),
    };
    ctx.render(status, "import.html", merge(base, extra))
}

pub async fn import_form(ctx: PageCtx) -> Response {
    if let Err(login) = ctx.require_actor() {
        return login;
    }
    import_page(&ctx, StatusCode::OK, minijinja::context! {})
}

/// `multipart/form-data` with `csrf` first, then `name`, `sitename`, `language` and the file as
/// `archive`. The route's body limit is the farm's `import_max_bytes` and a little; the file
/// itself is cut off at `import_max_bytes`.
pub async fn import(ctx: PageCtx, mut request: Request) -> Response {
    let actor = match ctx.require_actor() {
        Ok(actor) => actor.clone(),
        Err(login) => return login,
    };
    let max = ctx.farm.config().import_max_bytes;
    let limit = usize::try_from(max.saturating_add(FORM_SLACK_BYTES)).unwrap_or(usize::MAX);
    DefaultBodyLimit::max(limit).apply(&mut request);
    let (fields, archive) = match Multipart::from_request(request, &()).await {
        Ok(multipart) => match read_form(&ctx, multipart, max).await {
            Ok(read) => read,
            Err(refused) => return refused,
        },
        Err(_) => (Fields::default(), Archive::Broken),
    };
    // A form without its token (or with the file before it) changes nothing.
    if let Err(refused) = ctx.check_csrf(&fields.csrf) {
        return refused;
    }
    let invalid = |code: &'static str| FarmError::invalid(ARCHIVE_FIELD, code, ctx.t(&format!("error_{code}")));
    let (outcome, status) = match archive {
        Archive::Stored(upload) => {
            let request = CreateWiki {
                name: fields.name.trim().to_owned(),
                sitename: fields.sitename.clone(),
                language: Some(fields.language.trim().to_owned()).filter(|l| !l.is_empty()),
                backend: None,
                settings: Default::default(),
                starter: None,
            };
            let outcome = ctx.farm.import_wiki(&actor, request, &upload.0, &ctx.source).await;
            let _ = tokio::fs::remove_file(&upload.0).await;
            let status = outcome.as_ref().err().map(farm_http::status).unwrap_or(StatusCode::SEE_OTHER);
            (outcome, status)
        }
        Archive::TooLarge => (Err(invalid("archive_too_large")), StatusCode::PAYLOAD_TOO_LARGE),
        Archive::Missing => (Err(invalid("archive_missing")), StatusCode::UNPROCESSABLE_ENTITY),
        Archive::Broken => (Err(invalid("upload_broken")), StatusCode::BAD_REQUEST),
        Archive::Failed(err) => (Err(err), StatusCode::INTERNAL_SERVER_ERROR),
    };
    match outcome {
        Ok((view, _password)) => see_other(&format!("/wikis/{}", url_escape(view.name.as_str()))),
        // The form again, with what was typed (never the file) and what is wrong.
        Err(err) => {
            import_page(&ctx, status, merge(ctx.error_context(&err), minijinja::context! { form => fields.shown() }))
        }
    }
}

/// Reads the form; the archive goes to a fresh upload file chunk by chunk. The token must come
/// before the file: a forged form is refused before anything is written.
async fn read_form(ctx: &PageCtx, mut multipart: Multipart, max: u64) -> Result<(Fields, Archive), Response> {
    let mut fields = Fields::default();
    let mut archive = Archive::Missing;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(err) => {
                archive = broken(&err);
                break;
            }
        };
        let field_name = field.name().unwrap_or_default().to_owned();
        if field_name == ARCHIVE_FIELD {
            ctx.check_csrf(&fields.csrf)?;
            if !matches!(archive, Archive::Missing) {
                // One archive per form: a second file part is not read.
                continue;
            }
            archive = store(ctx, field, max).await;
            if !matches!(archive, Archive::Stored(_) | Archive::Missing) {
                break;
            }
            continue;
        }
        let text = match small_text(field).await {
            Ok(text) => text,
            Err(err) => {
                archive = broken(&err);
                break;
            }
        };
        match field_name.as_str() {
            "csrf" => fields.csrf = text,
            "name" => fields.name = text,
            "sitename" => fields.sitename = text,
            "language" => fields.language = text,
            _ => {}
        }
    }
    Ok((fields, archive))
}

fn broken(err: &MultipartError) -> Archive {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Archive::TooLarge
    } else {
        Archive::Broken
    }
}

/// A text field, at most [`MAX_TEXT_BYTES`] of it kept.
async fn small_text(mut field: Field<'_>) -> Result<String, MultipartError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        let room = MAX_TEXT_BYTES.saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Streams the file part to a fresh upload path, at most `max` bytes.
async fn store(ctx: &PageCtx, mut field: Field<'_>, max: u64) -> Archive {
    let upload = match ctx.farm.new_import_upload() {
        Ok(path) => UploadFile(path),
        Err(err) => return Archive::Failed(FarmError::Internal(err)),
    };
    let mut file = match tokio::fs::File::create(&upload.0).await {
        Ok(file) => file,
        Err(err) => return Archive::Failed(FarmError::Internal(err.into())),
    };
    let mut total = 0u64;
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                total += chunk.len() as u64;
                if total > max {
                    return Archive::TooLarge;
                }
                if let Err(err) = file.write_all(&chunk).await {
                    return Archive::Failed(FarmError::Internal(err.into()));
                }
            }
            Ok(None) => break,
            Err(err) => return broken(&err),
        }
    }
    if let Err(err) = file.flush().await {
        return Archive::Failed(FarmError::Internal(err.into()));
    }
    if total == 0 {
        return Archive::Missing;
    }
    Archive::Stored(upload)
}
