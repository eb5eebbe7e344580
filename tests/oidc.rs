//! Logging in through an OpenID Connect provider: panva's oidc-provider, started by the test on
//! loopback (tests/oidc/provider.mjs), and the real farmd, walked through with reqwest like a
//! browser (one cookie jar per person, every redirect followed by hand).

use serde_json::{json, Value};

use crate::common::browser::{require_browser, try_scenario};
use crate::common::oidc::{self, account, browser, code_of, OidcProvider, SECRET_ENV};
use crate::common::{csrf_of, ControlStore, Farmd};

/// A farm on `store` with the provider `corp` (and `extra` configuration), registered at the
/// provider.
async fn farm_with(idp: &OidcProvider, store: ControlStore, provider_extra: &str, extra: &str) -> Farmd {
    let toml = format!("{extra}\n{}", idp.config("corp", provider_extra));
    let mut farm = Farmd::new_on(store, &[SECRET_ENV], Some(&toml));
    farm.spawn();
    farm.wait_healthy().await;
    idp.register(&farm, "corp").await;
    farm
}

fn session_cookie_set(response: &reqwest::Response) -> bool {
    response.headers().get_all("set-cookie").iter().any(|c| {
        c.to_str().unwrap_or("").starts_with("farm_session=") && !c.to_str().unwrap_or("").contains("Max-Age=0")
    })
}

async fn audit(farm: &Farmd, admin: &str, action: &str) -> Vec<Value> {
    let (status, body) = farm.get_json(admin, &format!("/api/v1/audit?action={action}&limit=100")).await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

/// A first login makes the account (address confirmed, as the provider verified it), the next
/// one logs in to it; a callback works once, even across a restart.
async fn first_login_makes_the_account_and_a_callback_works_once(store: ControlStore) {
    let idp = OidcProvider::start();
    let mut farm = farm_with(&idp, store, "", "").await;

    let olga = browser(&farm);
    let callback = oidc::login_at_provider(&olga, &farm, "corp", "olga").await;
    assert!(callback.contains("/login/oidc/corp/callback?"), "{callback}");
    let answer = olga.get(&callback).send().await.expect("callback");
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    assert_eq!(answer.headers()["location"], "/wikis");
    assert!(session_cookie_set(&answer));
    let (status, me) = account(&olga, &farm).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!((me["username"].as_str(), me["email"].as_str()), (Some("olga"), Some("olga@example.org")));
    assert_eq!((me["role"].as_str(), me["email_confirmed"].as_bool()), (Some("member"), Some(true)));

    // The same callback again: its state was used up.
    let replay = olga.get(&callback).send().await.expect("replay");
    assert_eq!(replay.status(), 400);
    let page = replay.text().await.expect("page");
    assert_eq!(code_of(&page), "login_state_invalid", "{page}");

    // A login begun before a restart finishes after it; its callback still works only once.
    let again = browser(&farm);
    let pending = oidc::login_at_provider(&again, &farm, "corp", "olga").await;
    farm.terminate();
    farm.spawn();
    farm.wait_healthy().await;
    let answer = again.get(&pending).send().await.expect("callback after the restart");
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
    let (_, me) = account(&again, &farm).await;
    assert_eq!(me["username"], "olga", "the second login is the same account");
    assert_eq!(again.get(&pending).send().await.expect("replay").status(), 400);

    let admin = farm.token("root", "admin");
    let signups = audit(&farm, &admin, "account.signup").await;
    assert!(signups.iter().any(|e| e["target"] == "account:olga" && e["details"] == "provider:corp"), "{signups:?}");
    let logins = audit(&farm, &admin, "session.login").await;
    assert_eq!(logins.iter().filter(|e| e["details"] == "portal via corp").count(), 2, "{logins:?}");
    let refused = audit(&farm, &admin, "session.login_failed").await;
    assert_eq!(refused.iter().filter(|e| e["details"] == "login_state_invalid").count(), 2, "{refused:?}");
    let log = farm.log();
    assert!(!log.contains(oidc::CLIENT_SECRET), "the client secret is never logged");
    let query = callback.split_once('?').map_or("", |(_, q)| q);
    for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
        if key == "code" || key == "state" {
            assert!(!log.contains(value), "the {key} is never logged");
        }
    }
}

crate::on_both_stores!(first_login_makes_the_account_and_a_callback_works_once);

/// Whatever the provider (or someone in between) gets wrong is refused with a page and an audit
/// entry, and logs nobody in.
#[tokio::test]
async fn a_misbehaving_provider_is_refused_with_a_page_and_an_audit_entry() {
    let idp = OidcProvider::start();
    let farm = farm_with(&idp, ControlStore::Sqlite, "", "").await;
    // A first good login, so that "replay_nonce" has an earlier login's nonce to send.
    assert_eq!(oidc::log_in(&browser(&farm), &farm, "corp", "first").await.status(), 303);

    for (mode, code) in [
        ("wrong_audience", "oidc_wrong_audience"),
        ("wrong_issuer", "oidc_wrong_issuer"),
        ("expired", "oidc_token_expired"),
        ("bad_signature", "oidc_bad_signature"),
        ("replay_nonce", "oidc_nonce_mismatch"),
    ] {
        idp.set_mode(mode).await;
        let client = browser(&farm);
        let answer = oidc::log_in(&client, &farm, "corp", "mallory").await;
        assert_eq!(answer.status(), 403, "{mode}");
        assert!(!session_cookie_set(&answer), "{mode}");
        let page = answer.text().await.expect("page");
        assert_eq!(code_of(&page), code, "{mode}: {page}");
        assert!(page.contains("id=\"login-refused\"") && page.contains("href=\"/login\""), "{page}");
        assert_eq!(account(&client, &farm).await.0, 401, "{mode}: nobody is logged in");
    }
    idp.set_mode("normal").await;

    // An address the provider did not verify makes no account.
    idp.set_claims("uma", json!({"email_verified": false})).await;
    let uma = browser(&farm);
    let answer = oidc::log_in(&uma, &farm, "corp", "uma").await;
    assert_eq!(answer.status(), 403);
    assert_eq!(code_of(&answer.text().await.expect("page")), "external_email_unverified");

    // A callback carried to another browser (a login CSRF) is not that browser's login.
    let victim = browser(&farm);
    let _ = victim.get(format!("{}/login", oidc::portal(&farm))).send().await.expect("victim's login page");
    let attackers = oidc::login_at_provider(&browser(&farm), &farm, "corp", "mallory").await;
    let answer = victim.get(&attackers).send().await.expect("callback");
    assert_eq!(answer.status(), 400);
    assert_eq!(code_of(&answer.text().await.expect("page")), "login_state_invalid");
    assert_eq!(account(&victim, &farm).await.0, 401);
    // Nor is one that a wiki's page sent the browser to (same site, another origin).
    let own = oidc::login_at_provider(&victim, &farm, "corp", "mallory").await;
    let answer = victim.get(&own).header("sec-fetch-site", "same-site").send().await.expect("callback");
    assert_eq!(answer.status(), 400);
    // The provider's own error (the person said no there).
    let denied = victim
        .get(format!("{}/login/oidc/corp/callback?error=access_denied&state={}", oidc::portal(&farm), "0".repeat(64)))
        .send()
        .await
        .expect("callback");
    assert_eq!(denied.status(), 400, "an unknown state is refused first");
    assert_eq!(
        victim.get(format!("{}/login/oidc/nope/callback", oidc::portal(&farm))).send().await.expect("x").status(),
        404
    );

    let admin = farm.token("root", "admin");
    let refused: Vec<String> = audit(&farm, &admin, "session.login_failed")
        .await
        .iter()
        .map(|e| e["details"].as_str().unwrap_or("").to_owned())
        .collect();
    for code in [
        "oidc_wrong_audience",
        "oidc_wrong_issuer",
        "oidc_token_expired",
        "oidc_bad_signature",
        "oidc_nonce_mismatch",
        "external_email_unverified",
        "login_state_invalid",
    ] {
        assert!(refused.iter().any(|d| d == code), "{code} is audited: {refused:?}");
    }
    let log = farm.log();
    assert!(!log.contains(oidc::CLIENT_SECRET), "the client secret is never logged");
}

/// The provider rotates its signing key: the farm fetches the key set again, once.
#[tokio::test]
async fn a_rotated_signing_key_is_fetched_once() {
    let idp = OidcProvider::start();
    let farm = farm_with(&idp, ControlStore::Sqlite, "", "").await;
    assert_eq!(oidc::log_in(&browser(&farm), &farm, "corp", "kim").await.status(), 303);
    assert_eq!(oidc::log_in(&browser(&farm), &farm, "corp", "kim").await.status(), 303);
    assert_eq!(idp.stats().await["jwks_fetches"], 1, "discovery fetched the keys, and they were kept");
    idp.rotate_keys().await;
    assert_eq!(oidc::log_in(&browser(&farm), &farm, "corp", "kim").await.status(), 303, "{}", farm.log());
    assert_eq!(oidc::log_in(&browser(&farm), &farm, "corp", "kim").await.status(), 303);
    assert_eq!(idp.stats().await["jwks_fetches"], 2, "one fetch for the new key");
}

/// A user name or address that belongs to an account already is never merged: the person
/// proves the account is theirs (its password) or makes another one.
#[tokio::test]
async fn a_clash_offers_a_choice_and_never_merges() {
    let idp = OidcProvider::start();
    let farm = farm_with(&idp, ControlStore::Sqlite, "", "").await;
    assert!(farm.create_account("carol", "member", Some("carols-farm-password")));

    let carol = browser(&farm);
    let answer = oidc::log_in(&carol, &farm, "corp", "carol").await;
    assert_eq!(answer.status(), 200, "a choice, not a login");
    assert!(!session_cookie_set(&answer));
    let page = answer.text().await.expect("page");
    assert!(page.contains("data-reason=\"email_taken\"") && page.contains("id=\"link-form\""), "{page}");
    assert!(!page.contains("id=\"create-form\""), "the address is carol's account's too: {page}");
    let token = page.split("name=\"token\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("token");
    let link = |password: &'static str, token: String, csrf: String| {
        let carol = carol.clone();
        let url = format!("{}/login/link", oidc::portal(&farm));
        async move {
            carol
                .post(url)
                .form(&[("csrf", csrf), ("token", token), ("login", "carol".into()), ("password", password.into())])
                .send()
                .await
                .expect("link")
        }
    };
    let wrong = link("not-the-password", token.to_owned(), csrf_of(&page)).await;
    assert_eq!(wrong.status(), 401);
    let again = wrong.text().await.expect("page");
    assert!(again.contains("data-code=\"invalid_credentials\"") && again.contains("id=\"link-form\""), "{again}");
    // Another browser cannot use the choice.
    let other = browser(&farm);
    let page_of_other =
        other.get(format!("{}/login", oidc::portal(&farm))).send().await.expect("login").text().await.expect("page");
    let stolen = other
        .post(format!("{}/login/link", oidc::portal(&farm)))
        .form(&[
            ("csrf", csrf_of(&page_of_other)),
            ("token", token.to_owned()),
            ("login", "carol".into()),
            ("password", "carols-farm-password".into()),
        ])
        .send()
        .await
        .expect("link");
    assert_eq!(stolen.status(), 400, "the choice is bound to the browser that logged in");
    let right = link("carols-farm-password", token.to_owned(), csrf_of(&again)).await;
    assert_eq!(right.status(), 303);
    assert_eq!(account(&carol, &farm).await.1["username"], "carol");
    // Linked: the next login goes straight in.
    let next = browser(&farm);
    assert_eq!(oidc::log_in(&next, &farm, "corp", "carol").await.status(), 303);
    assert_eq!(account(&next, &farm).await.1["username"], "carol");

    // Someone else whose provider calls them "carol": another name, their own account.
    idp.set_claims("dave", json!({"preferred_username": "carol", "email": "dave@example.org"})).await;
    let dave = browser(&farm);
    let page = oidc::log_in(&dave, &farm, "corp", "dave").await.text().await.expect("page");
    assert!(page.contains("data-reason=\"username_taken\"") && page.contains("id=\"create-form\""), "{page}");
    let token = page.split("name=\"token\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("token");
    let create = |username: &'static str, csrf: String| {
        dave.post(format!("{}/login/create", oidc::portal(&farm)))
            .form(&[("csrf", csrf), ("token", token.to_owned()), ("username", username.into())])
            .send()
    };
    let taken = create("carol", csrf_of(&page)).await.expect("create");
    assert_eq!(taken.status(), 409);
    let page = taken.text().await.expect("page");
    assert!(page.contains("data-code=\"username_taken\""), "{page}");
    let made = create("dave2", csrf_of(&page)).await.expect("create");
    assert_eq!(made.status(), 303);
    let (_, me) = account(&dave, &farm).await;
    assert_eq!((me["username"].as_str(), me["email"].as_str()), (Some("dave2"), Some("dave@example.org")));
    let logged_in_page =
        dave.get(format!("{}/login", oidc::portal(&farm))).send().await.expect("page").text().await.expect("page");
    let again = create("dave3", csrf_of(&logged_in_page)).await.expect("create");
    assert_eq!(again.status(), 400, "a choice is made once");

    // A provider user name that is no farm user name.
    idp.set_claims("x", json!({"preferred_username": "not a name!", "email": "x@example.org"})).await;
    let page = oidc::log_in(&browser(&farm), &farm, "corp", "x").await.text().await.expect("page");
    assert!(page.contains("data-reason=\"username_invalid\""), "{page}");
}

/// The provider's groups decide who may log in and who is staff, at every login.
#[tokio::test]
async fn groups_map_to_roles_at_every_login() {
    let idp = OidcProvider::start();
    let rules =
        "login_groups = [\"farm-users\"]\nadmin_groups = [\"farm-admins\"]\nreviewer_groups = [\"farm-reviewers\"]";
    let farm = farm_with(&idp, ControlStore::Sqlite, rules, "").await;
    idp.set_claims("ada", json!({"groups": ["farm-users", "farm-admins"]})).await;
    idp.set_claims("rita", json!({"groups": ["farm-users", "farm-reviewers"]})).await;
    idp.set_claims("max", json!({"groups": ["farm-users"]})).await;
    idp.set_claims("out", json!({"groups": ["others"]})).await;
    for (login, role) in [("ada", "admin"), ("rita", "reviewer"), ("max", "member")] {
        let client = browser(&farm);
        assert_eq!(oidc::log_in(&client, &farm, "corp", login).await.status(), 303, "{login}");
        assert_eq!(account(&client, &farm).await.1["role"], role, "{login}");
    }
    let out = oidc::log_in(&browser(&farm), &farm, "corp", "out").await;
    assert_eq!(out.status(), 403);
    assert_eq!(code_of(&out.text().await.expect("page")), "external_group_denied");

    // Ada leaves the admins' group: her next login makes her a member.
    idp.set_claims("ada", json!({"groups": ["farm-users"]})).await;
    let ada = browser(&farm);
    assert_eq!(oidc::log_in(&ada, &farm, "corp", "ada").await.status(), 303);
    assert_eq!(account(&ada, &farm).await.1["role"], "member");
    let admin = farm.token("root", "admin");
    let roles = audit(&farm, &admin, "account.role").await;
    assert!(roles.iter().any(|e| e["target"] == "account:ada" && e["details"].as_str().unwrap_or("").starts_with("admin -> member")), "{roles:?}");
}

/// External providers only: passwords log nobody in and make no account.
#[tokio::test]
async fn with_local_passwords_off_only_the_provider_logs_in() {
    let idp = OidcProvider::start();
    let farm =
        farm_with(&idp, ControlStore::Sqlite, "", "[login]\nlocal_passwords = false\nsignup = \"providers\"\n").await;
    assert!(farm.create_account("pat", "member", Some("pats-farm-password")));
    let client = browser(&farm);
    let page =
        client.get(format!("{}/login", oidc::portal(&farm))).send().await.expect("login").text().await.expect("page");
    assert!(page.contains("id=\"oidc-corp\"") && !page.contains("id=\"login\""), "no password form: {page}");
    let password = client
        .post(format!("{}/login", oidc::portal(&farm)))
        .form(&[("csrf", csrf_of(&page)), ("login", "pat".into()), ("password", "pats-farm-password".into())])
        .send()
        .await
        .expect("login");
    assert_eq!(password.status(), 403);
    assert!(password.text().await.expect("page").contains("data-code=\"local_passwords_off\""));
    for path in ["/api/v1/sessions", "/api/v1/tokens"] {
        let response = farm
            .http
            .post(farm.url(path))
            .json(&json!({"login": "pat", "password": "pats-farm-password"}))
            .send()
            .await
            .expect("api");
        assert_eq!(response.status(), 403, "{path}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "local_passwords_off", "{path}");
    }
    let signup = farm
        .http
        .post(farm.url("/api/v1/accounts"))
        .json(&json!({"username": "new", "email": "new@example.org", "password": "a-long-password"}))
        .send()
        .await
        .expect("api");
    assert_eq!(signup.status(), 403);
    let reset = farm
        .http
        .post(farm.url("/api/v1/password-resets"))
        .json(&json!({"email": "pat@example.org"}))
        .send()
        .await
        .expect("api");
    assert_eq!(reset.status(), 403);
    let signup_page =
        client.get(format!("{}/signup", oidc::portal(&farm))).send().await.expect("signup").text().await.expect("page");
    assert!(
        signup_page.contains("id=\"signup-providers-only\"") && !signup_page.contains("id=\"signup\""),
        "{signup_page}"
    );

    assert_eq!(oidc::log_in(&client, &farm, "corp", "newbie").await.status(), 303, "the provider makes accounts");
    assert_eq!(account(&client, &farm).await.1["username"], "newbie");
}

/// The same in Chromium: the button, the provider's form, back logged in; a clash's choice page.
#[tokio::test]
async fn chromium_logs_in_through_the_provider_and_links_on_a_clash() {
    require_browser();
    let idp = OidcProvider::start();
    let farm = farm_with(&idp, ControlStore::Sqlite, "", "").await;
    assert!(farm.create_account("carol", "member", Some("carols-farm-password")));
    let env = [
        ("BASE_URL", oidc::portal(&farm)),
        ("PROVIDER_ID", "corp".to_owned()),
        ("CLASH_LOGIN", "carol".to_owned()),
        ("CLASH_PASSWORD", "carols-farm-password".to_owned()),
    ];
    if let Err(failure) = try_scenario("oidc-login.mjs", &env) {
        panic!("{failure}\n--- farmd log:\n{}", farm.log());
    }
}

/// With `require_verified_email = false`, an address the provider did not verify makes an
/// unconfirmed account, with a confirmation link in the outbox.
#[tokio::test]
async fn an_unverified_address_can_make_an_unconfirmed_account() {
    let idp = OidcProvider::start();
    let farm = farm_with(&idp, ControlStore::Sqlite, "require_verified_email = false", "").await;
    idp.set_claims("uma", json!({"email_verified": false})).await;
    let uma = browser(&farm);
    assert_eq!(oidc::log_in(&uma, &farm, "corp", "uma").await.status(), 303);
    let (_, me) = account(&uma, &farm).await;
    assert_eq!((me["username"].as_str(), me["email_confirmed"].as_bool()), (Some("uma"), Some(false)), "{me}");
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut store = sqlx::AnyConnection::connect(&farm.store_url).await.expect("control store");
    let (mails,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE kind = 'confirm' AND recipient = 'uma@example.org'")
            .fetch_one(&mut store)
            .await
            .expect("outbox");
    assert_eq!(mails, 1, "the confirmation mail is queued");
}
