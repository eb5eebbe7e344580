//! `/sign-on`: a wiki asks who its visitor is (farm-core's `app::sign_on`). The answer is a
//! form the browser posts to the wiki from this origin; the page's policy lets forms go to
//! that one wiki and nowhere else.

use axum::extract::Query;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use farm_core::app::sign_on::{SignOnAnswer, SignOnAsk};
use serde::Deserialize;

use crate::page::{see_other, url_escape, PageCtx};

#[derive(Deserialize)]
pub struct SignOnQuery {
    #[serde(default)]
    wiki: String,
    #[serde(default)]
    state: String,
    #[serde(default, rename = "return")]
    return_to: String,
    #[serde(default)]
    prompt: String,
}

pub async fn sign_on(ctx: PageCtx, Query(query): Query<SignOnQuery>) -> Response {
    let ask = SignOnAsk {
        wiki: query.wiki,
        state: query.state,
        return_to: query.return_to,
        prompt_login: query.prompt == "login",
    };
    match ctx.farm.sign_on(ctx.session.as_ref(), &ask, &ctx.source).await {
        Ok(SignOnAnswer::LogInFirst) => see_other(&format!("/login?next={}", url_escape(&ctx.here))),
        Ok(SignOnAnswer::Post { callback, wiki_origin, fields }) => {
            let fields: Vec<_> =
                fields.into_iter().map(|(name, value)| minijinja::context! { name => name, value => value }).collect();
            let mut response = ctx.render(
                StatusCode::OK,
                "sign_on.html",
                minijinja::context! { callback => callback, wiki => ask.wiki, fields => fields },
            );
            let policy = crate::content_security_policy(None)
                .replace("form-action 'self'", &format!("form-action 'self' {wiki_origin}"));
            let headers = response.headers_mut();
            if let Ok(policy) = HeaderValue::from_str(&policy) {
                headers.insert(CONTENT_SECURITY_POLICY, policy);
            }
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            // The wiki checks that its answer comes from the portal by the post's `Origin`.
            headers.insert(REFERRER_POLICY, HeaderValue::from_static("strict-origin"));
            response
        }
        Err(err) => ctx.error_page(&err),
    }
}
