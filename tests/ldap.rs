//! Logging in with a directory account: Debian's slapd, started by the test in a temporary
//! folder on free loopback ports (tests/common/ldap.rs), and the real farmd.

use serde_json::{json, Value};

use crate::common::ldap::Slapd;
use crate::common::oidc::{account, browser, portal};
use crate::common::{csrf_of, Farmd};

async fn farm_with(config: &str) -> Farmd {
    let mut farm = Farmd::new_on(crate::common::ControlStore::Sqlite, &[], Some(config));
    farm.spawn();
    farm.wait_healthy().await;
    farm
}

/// Posts the directory `provider`'s form on the login page as `login`.
async fn log_in(
    client: &reqwest::Client,
    farm: &Farmd,
    provider: &str,
    login: &str,
    password: &str,
) -> reqwest::Response {
    let page =
        client.get(format!("{}/login", portal(farm))).send().await.expect("login page").text().await.expect("page");
    assert!(page.contains(&format!("id=\"ldap-{provider}\"")), "the login page has the directory's form: {page}");
    client
        .post(format!("{}/login/ldap/{provider}", portal(farm)))
        .form(&[
            ("csrf", csrf_of(&page)),
            ("login", login.into()),
            ("password", password.into()),
            ("next", "/wikis".into()),
        ])
        .send()
        .await
        .expect("login")
}

fn error_code(page: &str) -> String {
    page.split("class=\"error banner\" data-code=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_owned()
}

/// Search, bind, groups and roles over plain ldap:// on loopback; what is refused, and audited.
#[tokio::test]
async fn directory_accounts_log_in_with_their_groups_roles() {
    let slapd = Slapd::start();
    let groups = "login_groups = [\"cn=wiki-users,ou=groups,dc=example,dc=org\"]\n\
                  admin_groups = [\"cn=wiki-admins,ou=groups,dc=example,dc=org\"]\n\
                  reviewer_groups = [\"cn=wiki-reviewers,ou=groups,dc=example,dc=org\"]";
    // Sign-up only through the directory; farm passwords still log in.
    let config = format!("[login]\nsignup = \"providers\"\n\n{}", slapd.config("dir", &slapd.ldap_url, groups));
    let farm = farm_with(&config).await;
    let signup = farm
        .http
        .post(farm.url("/api/v1/accounts"))
        .json(&json!({"username": "newbie", "email": "newbie@example.org", "password": "a-long-password"}))
        .send()
        .await
        .expect("sign-up");
    assert_eq!(signup.status(), 403);
    assert_eq!(signup.json::<Value>().await.expect("json")["error"]["code"], "signup_providers_only");
    assert!(farm.create_account("pat", "member", Some("pats-farm-password")));
    crate::common::portal_login(&farm, "pat", "pats-farm-password").await;

    for (login, password, role) in [
        ("alice", "alice-directory-pw", "admin"),
        ("rev", "rev-directory-pw", "reviewer"),
        ("bob", "bob-directory-pw", "member"),
    ] {
        let client = browser(&farm);
        let answer = log_in(&client, &farm, "dir", login, password).await;
        assert_eq!(answer.status(), 303, "{login}: {}\n{}", answer.text().await.unwrap_or_default(), farm.log());
        assert_eq!(answer.headers()["location"], "/wikis");
        let (status, me) = account(&client, &farm).await;
        assert_eq!(status, 200);
        assert_eq!(me["username"], login);
        assert_eq!((me["role"].as_str(), me["email_confirmed"].as_bool()), (Some(role), Some(true)), "{login}: {me}");
    }
    // Bob again: the same account (linked by the entry's entryUUID).
    let bob = browser(&farm);
    assert_eq!(log_in(&bob, &farm, "dir", "bob", "bob-directory-pw").await.status(), 303);
    assert_eq!(account(&bob, &farm).await.1["username"], "bob");

    for (login, password, status, code) in [
        ("bob", "wrong-password", 401, "invalid_credentials"),
        ("bob", "", 401, "invalid_credentials"),
        ("nobody", "whatever-pw", 401, "invalid_credentials"),
        ("*", "bob-directory-pw", 401, "invalid_credentials"),
        ("bob)(uid=*", "bob-directory-pw", 401, "invalid_credentials"),
        ("eve", "eve-directory-pw", 403, "external_group_denied"),
    ] {
        let client = browser(&farm);
        let answer = log_in(&client, &farm, "dir", login, password).await;
        assert_eq!(answer.status(), status, "{login:?} / {password:?}");
        let page = answer.text().await.expect("page");
        assert_eq!(error_code(&page), code, "{login:?}: {page}");
        assert!(page.contains("id=\"ldap-dir\""), "the login page again: {page}");
        assert_eq!(account(&client, &farm).await.0, 401, "{login:?}: nobody is logged in");
    }

    let admin = farm.token("root", "admin");
    let (_, body) = farm.get_json(&admin, "/api/v1/audit?action=session.login_failed&limit=100").await;
    let entries = body["entries"].as_array().cloned().unwrap_or_default();
    assert!(entries.iter().filter(|e| e["target"] == "provider:dir").count() >= 6, "{entries:?}");
    assert!(entries.iter().any(|e| e["details"] == "external_group_denied" && e["actor"] == "eve"), "{entries:?}");
    let log = farm.log();
    for secret in ["farmd-search-secret", "bob-directory-pw", "alice-directory-pw"] {
        assert!(!log.contains(secret), "{secret} is never logged");
    }
}

/// StartTLS and LDAPS with the directory's CA; a certificate the farm does not trust is refused.
#[tokio::test]
async fn starttls_and_ldaps_verify_the_directory() {
    let slapd = Slapd::start();
    let ca = format!("ca_file = \"{}\"", slapd.ca_file().display());
    let config = format!(
        "{}{}{}",
        slapd.config("starttls", &slapd.ldap_url, &format!("starttls = true\n{ca}")),
        slapd.config("ldaps", &slapd.ldaps_url, &ca),
        slapd.config("untrusted", &slapd.ldaps_url, ""),
    );
    let farm = farm_with(&config).await;
    // (Another user for each: the same person through a second provider would be a clash.)
    for (provider, login, password) in
        [("starttls", "alice", "alice-directory-pw"), ("ldaps", "bob", "bob-directory-pw")]
    {
        let client = browser(&farm);
        let answer = log_in(&client, &farm, provider, login, password).await;
        assert_eq!(answer.status(), 303, "{provider}: {}\n{}", answer.text().await.unwrap_or_default(), farm.log());
        assert_eq!(account(&client, &farm).await.1["username"], login);
    }
    let answer = log_in(&browser(&farm), &farm, "untrusted", "rev", "rev-directory-pw").await;
    assert_eq!(answer.status(), 503, "a certificate of an unknown CA is not trusted");
}

/// External providers only: the password form is gone and passwords are refused everywhere;
/// a directory account still logs in.
#[tokio::test]
async fn with_local_passwords_off_passwords_are_refused() {
    let slapd = Slapd::start();
    let config = format!("[login]\nlocal_passwords = false\n\n{}", slapd.config("dir", &slapd.ldap_url, ""));
    let farm = farm_with(&config).await;
    assert!(farm.create_account("pat", "member", Some("pats-farm-password")));
    let client = browser(&farm);
    let page = client.get(format!("{}/login", portal(&farm))).send().await.expect("login").text().await.expect("page");
    assert!(page.contains("id=\"ldap-dir\"") && !page.contains("id=\"login\""), "{page}");
    assert!(!page.contains("/forgot-password"), "{page}");
    let password = client
        .post(format!("{}/login", portal(&farm)))
        .form(&[("csrf", csrf_of(&page)), ("login", "pat".into()), ("password", "pats-farm-password".into())])
        .send()
        .await
        .expect("login");
    assert_eq!(password.status(), 403);
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
        assert_eq!(body["error"]["code"], "local_passwords_off");
    }
    let answer = log_in(&client, &farm, "dir", "bob", "bob-directory-pw").await;
    assert_eq!(answer.status(), 303);
    assert_eq!(account(&client, &farm).await.1["username"], "bob");
}
