//! The portal: server-rendered pages (minijinja templates, English and German) over the same
//! [`farm_core::Farm`] calls as the API, with a little JavaScript where it helps (the live
//! name check, following a wiki being built). Every form works without JavaScript and carries
//! a CSRF token; every response has a strict content security policy.

mod backups;
mod exports;
mod imports;
mod login;
mod maintenance;
mod page;
mod pages;
mod settings;
mod sign_on;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use farm_core::domain::image::MAX_IMAGE_BYTES;
use farm_core::Farm;
use tower_http::set_header::SetResponseHeaderLayer;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("home.html", include_str!("../templates/home.html")),
    ("signup.html", include_str!("../templates/signup.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("choice.html", include_str!("../templates/choice.html")),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("reset.html", include_str!("../templates/reset.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("create.html", include_str!("../templates/create.html")),
    ("wikis.html", include_str!("../templates/wikis.html")),
    ("wiki.html", include_str!("../templates/wiki.html")),
    ("request.html", include_str!("../templates/request.html")),
    ("decide.html", include_str!("../templates/decide.html")),
    ("review.html", include_str!("../templates/review.html")),
    ("admin.html", include_str!("../templates/admin.html")),
    ("settings.html", include_str!("../templates/settings.html")),
    ("settings_history.html", include_str!("../templates/settings_history.html")),
    ("export.html", include_str!("../templates/export.html")),
    ("backups.html", include_str!("../templates/backups.html")),
    ("import.html", include_str!("../templates/import.html")),
    ("sign_on.html", include_str!("../templates/sign_on.html")),
    ("maintenance.html", include_str!("../templates/maintenance.html")),
    ("maintenance_run.html", include_str!("../templates/maintenance_run.html")),
];

/// Scripts, styles, forms and fetches only from this site; no frames, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a page that also shows images from `img_origin` (a wiki's own address, where
/// the wiki serves its logo): the same but for that one image source.
pub(crate) fn content_security_policy(img_origin: Option<&str>) -> String {
    match img_origin {
        Some(origin) if !origin.contains([';', ',', ' ', '\'', '"']) => {
            CONTENT_SECURITY_POLICY.replace("img-src 'self' data:;", &format!("img-src 'self' data: {origin};"))
        }
        _ => CONTENT_SECURITY_POLICY.to_owned(),
    }
}

/// The portal's routes, for any router state that holds the farm.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Farm>: FromRef<S>,
{
    let header = |name: &'static str, value: &'static str| {
        SetResponseHeaderLayer::overriding(HeaderName::from_static(name), HeaderValue::from_static(value))
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/signup", get(pages::signup_form).post(pages::sign_up))
        .route("/login", get(pages::login_form).post(pages::log_in))
        .route("/login/oidc/{provider}", post(login::start_oidc))
        .route("/login/oidc/{provider}/callback", get(login::oidc_callback))
        .route("/login/ldap/{provider}", post(login::ldap))
        .route("/login/link", post(login::link))
        .route("/login/create", post(login::create_account))
        .route("/logout", post(pages::log_out))
        .route("/sign-on", get(sign_on::sign_on))
        .route("/confirm-email", get(pages::confirm_email))
        .route("/forgot-password", get(pages::forgot_form).post(pages::forgot))
        .route("/reset-password", get(pages::reset_form).post(pages::reset_password))
        .route("/language/{code}", get(pages::language))
        .route("/wikis", get(pages::my_wikis))
        .route("/wikis/new", get(pages::create_form).post(pages::create))
        // Its body limit is the farm's `import_max_bytes` and a little, set by the handler.
        .route("/wikis/import", get(imports::import_form).post(imports::import))
        .route("/wikis/{name}", get(pages::wiki))
        .route("/wikis/{name}/delete", post(pages::delete_wiki))
        .route("/wikis/{name}/undelete", post(pages::undelete_wiki))
        .route("/wikis/{name}/purge", post(pages::purge_wiki))
        .route("/wikis/{name}/rename", post(pages::rename_wiki))
        .route("/wikis/{name}/transfer", post(pages::offer_transfer))
        .route("/wikis/{name}/managers", post(pages::add_manager))
        .route("/wikis/{name}/managers/{username}/remove", post(pages::remove_manager))
        .route("/wikis/{name}/export", post(exports::request_export))
        .route("/wikis/{name}/backups", get(backups::backups).post(backups::request_backup))
        .route("/wikis/{name}/backups/{id}/restore", post(backups::restore))
        .route("/exports/{id}", get(exports::export))
        .route("/exports/{id}/download", get(exports::download))
        .route("/transfers/{id}/accept", post(pages::accept_transfer))
        .route("/transfers/{id}/decline", post(pages::decline_transfer))
        .route("/transfers/{id}/cancel", post(pages::cancel_transfer))
        .route("/wikis/{name}/settings", get(settings::settings).post(settings::save_settings))
        .route("/wikis/{name}/settings/history", get(settings::history))
        .route("/wikis/{name}/settings/rollback", post(settings::rollback))
        .route(
            "/wikis/{name}/logo",
            post(settings::upload_logo).layer(DefaultBodyLimit::max(MAX_IMAGE_BYTES + 64 * 1024)),
        )
        .route("/requests/{id}", get(pages::request))
        .route("/requests/{id}/comment", post(pages::comment))
        .route("/requests/{id}/withdraw", post(pages::withdraw))
        .route("/requests/{id}/review", post(pages::review_request))
        .route("/review", get(pages::review_queue))
        .route("/admin", get(pages::admin))
        .route("/admin/maintenance", get(maintenance::runs).post(maintenance::start))
        .route("/admin/maintenance/{id}", get(maintenance::run))
        .route("/admin/maintenance/{id}/cancel", post(maintenance::cancel))
        .route("/admin/maintenance/{id}/retry", post(maintenance::retry))
        .route("/admin/maintenance/upgrade", post(maintenance::upgrade))
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        // A page may widen its own policy (the settings page shows the wiki's logo).
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(header("x-content-type-options", "nosniff"))
        .layer(header("x-frame-options", "DENY"))
        // The sign-on page sets its own: with `same-origin`, browsers send `Origin: null` on
        // its post to the wiki, which then cannot tell the portal's post from anyone's.
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
}

async fn css() -> ([(axum::http::HeaderName, &'static str); 2], &'static str) {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "max-age=300")], include_str!("../static/portal.css"))
}

async fn js() -> ([(axum::http::HeaderName, &'static str); 2], &'static str) {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "max-age=300")],
        include_str!("../static/portal.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            assert!(page::templates().get_template(name).is_ok(), "{name} does not parse");
        }
    }

    #[test]
    fn every_language_has_every_message() {
        let catalogs = page::catalogs();
        let english: Vec<&String> = catalogs["en"].keys().collect();
        assert!(english.len() > 100);
        for (code, messages) in catalogs {
            assert_eq!(messages.keys().collect::<Vec<_>>(), english, "{code} differs from en");
            assert!(messages.values().all(|m| !m.trim().is_empty()), "{code} has an empty message");
        }
    }

    fn wiki_page(state: &str, can_undelete: bool, can_purge: bool) -> String {
        let wiki = minijinja::context! {
            name => "demo", sitename => "Demo", state => state, url => "http://demo.localhost/",
            language => "en", owner => "olga", restorable_until => 1_900_000_000,
        };
        let context = minijinja::context! {
            tr => &page::catalogs()["en"], csrf => "tok", wiki => wiki, steps => Vec::<String>::new(),
            can_delete => state == "active", can_manage_settings => state == "active", delete_to_trash => true,
            trash_notice => "Deleted. It can be restored until 2030-03-17 17:46 UTC.",
            can_undelete => can_undelete, can_purge => can_purge,
        };
        page::templates().get_template("wiki.html").and_then(|t| t.render(context)).expect("renders")
    }

    #[test]
    fn a_trashed_wiki_offers_undelete_and_purge_but_no_delete_or_settings() {
        let page = wiki_page("trashed", true, true);
        assert!(page.contains("id=\"trash-notice\"") && page.contains("restored until 2030-03-17 17:46 UTC"), "{page}");
        assert!(page.contains("action=\"/wikis/demo/undelete\"") && page.contains("action=\"/wikis/demo/purge\""));
        assert!(page.contains("id=\"undelete-form\"") && page.contains("id=\"purge-form\""), "{page}");
        assert!(page.contains("Purge now") && page.contains("cannot be undone"), "{page}");
        assert!(page.contains("deleted, can be restored"), "the badge: {page}");
        assert!(!page.contains("id=\"delete-form\"") && !page.contains("wiki-settings"), "{page}");
        assert_eq!(page.matches("name=\"csrf\" value=\"tok\"").count(), 2, "both forms carry the token");

        let owner = wiki_page("trashed", true, false);
        assert!(owner.contains("id=\"undelete-form\"") && !owner.contains("id=\"purge-form\""), "{owner}");
        let reader = wiki_page("trashed", false, false);
        assert!(reader.contains("id=\"trash-notice\"") && !reader.contains("<form id=\"undelete-form\""));

        let active = wiki_page("active", false, false);
        assert!(active.contains("id=\"delete-form\"") && active.contains("goes to the trash"), "{active}");
        assert!(!active.contains("trash-notice"), "{active}");
    }

    #[test]
    fn an_active_wiki_offers_rename_and_hand_over_and_shows_a_pending_offer() {
        let wiki = minijinja::context! {
            name => "demo", sitename => "Demo", state => "active", url => "http://demo.localhost/",
            language => "en", owner => "olga",
        };
        let render = |can: bool, outgoing: Option<minijinja::Value>| {
            let context = minijinja::context! {
                tr => &page::catalogs()["en"], csrf => "tok", wiki => wiki.clone(), steps => Vec::<String>::new(),
                can_delete => can, can_rename => can, can_transfer => can, outgoing => outgoing,
                errors => minijinja::context! {}, form => minijinja::context! {},
            };
            page::templates().get_template("wiki.html").and_then(|t| t.render(context)).expect("renders")
        };
        let page = render(true, None);
        assert!(page.contains("action=\"/wikis/demo/rename\"") && page.contains("name=\"new_name\""), "{page}");
        assert!(page.contains("redirects to the new one for a while"), "{page}");
        assert!(page.contains("action=\"/wikis/demo/transfer\"") && page.contains("name=\"to\""), "{page}");
        assert!(page.contains("Hand over to another account") && !page.contains("cancel-transfer-form"), "{page}");
        let outgoing = minijinja::context! { id => 7, to => "bea", text => "Offered to bea on 2030-01-01 10:00 UTC." };
        let page = render(true, Some(outgoing.clone()));
        assert!(page.contains("id=\"transfer-pending\"") && page.contains("action=\"/transfers/7/cancel\""), "{page}");
        assert!(page.contains("Cancel offer"), "{page}");
        assert_eq!(page.matches("name=\"csrf\" value=\"tok\"").count(), 4, "every form carries the token");
        let reader = render(false, None);
        assert!(!reader.contains("rename-form") && !reader.contains("transfer-form"), "{reader}");
    }

    #[test]
    fn my_wikis_lists_offers_with_accept_and_decline() {
        let offers =
            vec![minijinja::context! { id => 3, wiki => "demo", from => "olga", when => "2030-01-01 10:00 UTC" }];
        let context = minijinja::context! {
            tr => &page::catalogs()["de"], csrf => "tok", user => minijinja::context! { name => "bea", confirmed => true },
            wikis => Vec::<String>::new(), requests => Vec::<String>::new(), offers => offers,
            notice => "Angenommen: Das Wiki gehört jetzt dir.",
        };
        let page = page::templates().get_template("wikis.html").and_then(|t| t.render(context)).expect("renders");
        assert!(page.contains("Angebote an dich") && page.contains("data-transfer=\"3\""), "{page}");
        assert!(page.contains("action=\"/transfers/3/accept\"") && page.contains("action=\"/transfers/3/decline\""));
        assert!(page.contains(">Annehmen<") && page.contains(">Ablehnen<") && page.contains("olga"), "{page}");
        assert!(page.contains("id=\"wikis-notice\""), "{page}");
    }

    #[test]
    fn the_wiki_page_offers_the_export_to_who_may_and_its_page_shows_progress_then_the_download() {
        let wiki = minijinja::context! {
            name => "demo", sitename => "Demo", state => "active", url => "http://demo.localhost/",
            language => "en", owner => "olga",
        };
        let render_wiki = |can: bool| {
            let context = minijinja::context! {
                tr => &page::catalogs()["en"], csrf => "tok", wiki => wiki.clone(), steps => Vec::<String>::new(),
                can_manage_settings => can, can_export => can,
            };
            page::templates().get_template("wiki.html").and_then(|t| t.render(context)).expect("renders")
        };
        let page = render_wiki(true);
        assert!(page.contains("id=\"export-form\"") && page.contains("action=\"/wikis/demo/export\""), "{page}");
        assert!(page.contains("Export this wiki") && page.contains("name=\"csrf\" value=\"tok\""), "{page}");
        assert!(!render_wiki(false).contains("export-form"));

        let render_export = |lang: &str, state: &str, ready: bool| {
            let export = minijinja::context! {
                id => 7, wiki => "demo", state => state, phase => if ready { "done" } else { "pages" },
                done_items => 3, total_items => 10, percent => 30, progress => "3 of 10",
                under_way => state == "running", ready => ready, size => ready.then_some("1.5 MiB"),
                created => "2030-01-01 10:00 UTC", expires => ready.then_some("2030-01-08 10:00 UTC"),
            };
            let context = minijinja::context! { tr => &page::catalogs()[lang], export => export };
            page::templates().get_template("export.html").and_then(|t| t.render(context)).expect("renders")
        };
        let running = render_export("en", "running", false);
        assert!(running.contains("being made") && running.contains("pages and their revisions"), "{running}");
        assert!(running.contains("max=\"10\" value=\"3\"") && running.contains("3 of 10"), "{running}");
        assert!(!running.contains("export-download"), "{running}");
        let done = render_export("de", "done", true);
        assert!(done.contains("id=\"export-download\"") && done.contains(">Herunterladen<"), "{done}");
        assert!(done.contains("2030-01-08 10:00 UTC") && done.contains("1.5 MiB"), "{done}");
        let expired = render_export("en", "expired", false);
        assert!(expired.contains("id=\"export-expired\"") && !expired.contains("export-download"), "{expired}");
    }

    #[test]
    fn the_import_form_is_multipart_with_the_token_before_the_file_and_shows_errors_with_the_typed_values() {
        let render = |lang: &str, review: bool, extra: minijinja::Value| {
            let context = minijinja::context! {
                tr => &page::catalogs()[lang], csrf => "tok", review => review, base_domain => "localhost",
                wiki_languages => vec![minijinja::context! { code => "de", label => "de" }], max_size => "1.0 GiB",
                errors => minijinja::context! {}, form => minijinja::context! {},
            };
            let context = page::merge(context, extra);
            page::templates().get_template("import.html").and_then(|t| t.render(context)).expect("renders")
        };
        let page = render("en", false, minijinja::context! {});
        assert!(
            page.contains("enctype=\"multipart/form-data\"") && page.contains("action=\"/wikis/import\""),
            "{page}"
        );
        let (token, file) = (
            page.find("name=\"csrf\" value=\"tok\"").expect("token"),
            page.find("type=\"file\" name=\"archive\"").expect("file"),
        );
        assert!(token < file, "the token comes first: {page}");
        assert!(
            page.contains("Special:Export") && page.contains("dumpBackup.php") && page.contains("At most 1.0 GiB"),
            "{page}"
        );
        assert!(page.contains("id=\"import-progress\"") && page.contains("hidden"), "{page}");
        let errors = minijinja::context! { archive => minijinja::context! { code => "archive_invalid", message => "Not an archive" } };
        let form = minijinja::context! { name => "demo", sitename => "Demo <b>", language => "de" };
        let page = render("de", false, minijinja::context! { errors => errors, form => form });
        assert!(
            page.contains("id=\"archive-error\" data-code=\"archive_invalid\"") && page.contains("Not an archive"),
            "{page}"
        );
        assert!(
            page.contains("value=\"demo\"") && page.contains("Demo &lt;b&gt;") && page.contains(">Wiki importieren<"),
            "{page}"
        );
        assert!(page.contains("<option value=\"de\" selected>"), "the language stays: {page}");
        let review = render("en", true, minijinja::context! {});
        assert!(review.contains("id=\"import-review\"") && !review.contains("import-wiki"), "{review}");
    }

    #[test]
    fn the_login_page_offers_each_provider_and_the_password_form_only_when_passwords_log_in() {
        let render = |lang: &str, local: bool| {
            let ways = minijinja::context! {
                local_passwords => local, password_signup => local,
                oidc => vec![minijinja::context! { id => "corp", name => "Corp <ID>" }],
                ldap => vec![minijinja::context! { id => "staff", name => "Staff" }],
            };
            let context = minijinja::context! {
                tr => &page::catalogs()[lang], csrf => "tok", next => "/wikis", ways => ways,
                form => minijinja::context! {}, errors => minijinja::context! {},
            };
            page::templates().get_template("login.html").and_then(|t| t.render(context)).expect("renders")
        };
        let page = render("en", true);
        assert!(page.contains("action=\"/login/oidc/corp\"") && page.contains("Log in with Corp &lt;ID&gt;"), "{page}");
        assert!(page.contains("id=\"ldap-staff\"") && page.contains("action=\"/login/ldap/staff\""), "{page}");
        assert!(page.contains("id=\"login\"") && page.contains("href=\"/signup\""), "{page}");
        assert_eq!(page.matches("name=\"csrf\" value=\"tok\"").count(), 3, "every form carries the token");
        let page = render("de", false);
        assert!(page.contains("Mit Corp &lt;ID&gt; anmelden") && !page.contains("id=\"login\""), "{page}");
        assert!(!page.contains("/forgot-password"), "{page}");
    }

    #[test]
    fn the_choice_page_offers_what_the_farm_allows() {
        let render = |can_link: bool, can_create: bool, reason: &str| {
            let choice = minijinja::context! {
                token => "t0k", provider => "Corp", reason => reason, username => "carol",
                can_link => can_link, can_create => can_create,
            };
            let context = minijinja::context! {
                tr => &page::catalogs()["en"], csrf => "tok", choice => choice,
                form => minijinja::context! {}, errors => minijinja::context! {},
            };
            page::templates().get_template("choice.html").and_then(|t| t.render(context)).expect("renders")
        };
        let page = render(true, true, "username_taken");
        assert!(page.contains("Finish logging in with Corp") && page.contains("user name carol exists"), "{page}");
        assert!(page.contains("id=\"link-form\"") && page.contains("id=\"create-form\""), "{page}");
        assert_eq!(page.matches("name=\"token\" value=\"t0k\"").count(), 2, "{page}");
        let page = render(false, false, "email_missing");
        assert!(page.contains("id=\"link-unavailable\"") && !page.contains("create-form"), "{page}");
    }

    #[test]
    fn every_message_a_template_uses_exists() {
        let english = &page::catalogs()["en"];
        for (name, source) in TEMPLATES {
            for (i, _) in source.match_indices("tr.") {
                let key: String = source[i + 3..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                assert!(english.contains_key(&key), "{name} uses tr.{key}, which en.json lacks");
            }
        }
    }
}
