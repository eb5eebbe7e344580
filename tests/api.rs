//! The API's contract: authentication, one error shape, validation that changes nothing,
//! visibility rules, pagination, and one winner when many race for a name.

use crate::common;

crate::on_both_stores!(
    bad_input_gets_a_clear_4xx_and_changes_nothing,
    missing_expired_and_forged_tokens_get_401,
    twenty_concurrent_creates_of_one_name_have_one_winner,
    members_see_their_own_wikis_admins_see_all_in_pages,
);

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{ControlStore, Farmd};
use serde_json::{json, Value};

fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

/// Nothing exists for any wiki: no row, no directory, no host link.
async fn assert_nothing_created(farm: &Farmd) {
    assert!(farm.registry().await.is_empty(), "rows: {:?}", farm.registry().await);
    assert!(farm.entries("wikis").is_empty(), "wiki dirs: {:?}", farm.entries("wikis"));
    assert!(farm.entries("hosts").is_empty(), "host links: {:?}", farm.entries("hosts"));
}

async fn bad_input_gets_a_clear_4xx_and_changes_nothing(store: ControlStore) {
    let farm = Farmd::start_on(store, &[("FARM_PHP_WORKERS", "0")]).await;
    let token = farm.token("alice", "member");
    let long = "a".repeat(64);
    let long_sitename = "S".repeat(101);
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"name": "MyWiki", "sitename": "x"}), 422, "name_invalid_characters"),
        (json!({"name": "wïki", "sitename": "x"}), 422, "name_invalid_characters"),
        (json!({"name": "../x", "sitename": "x"}), 422, "name_invalid_characters"),
        (json!({"name": "a", "sitename": "x"}), 422, "name_too_short"),
        (json!({"name": long, "sitename": "x"}), 422, "name_too_long"),
        (json!({"name": "-wiki", "sitename": "x"}), 422, "name_hyphen_edge"),
        (json!({"name": "wiki-", "sitename": "x"}), 422, "name_hyphen_edge"),
        (json!({"name": "wiki'\"", "sitename": "x"}), 422, "name_invalid_characters"),
        (json!({"name": "a;drop", "sitename": "x"}), 422, "name_invalid_characters"),
        (json!({"name": "www", "sitename": "x"}), 422, "name_reserved"),
        (json!({"name": "api", "sitename": "x"}), 422, "name_reserved"),
        (json!({"name": "xn--bcher", "sitename": "x"}), 422, "name_idn_prefix"),
        (json!({"name": "good", "sitename": "  "}), 422, "sitename_empty"),
        (json!({"name": "good", "sitename": long_sitename}), 422, "sitename_too_long"),
        (json!({"name": "good", "sitename": "a\u{0007}b"}), 422, "sitename_invalid_characters"),
        (json!({"name": "good", "sitename": "x", "language": "xx-nope"}), 422, "language_unknown"),
        (json!({"name": "good", "sitename": "x", "language": "../../etc"}), 422, "language_unknown"),
        (json!({"sitename": "x"}), 422, "invalid_body"),
        (json!({"name": "good"}), 422, "invalid_body"),
        (json!({"name": 42, "sitename": "x"}), 422, "invalid_body"),
        (json!({"name": "good", "sitename": ["x"]}), 422, "invalid_body"),
        (json!({"name": "good", "sitename": "x", "owner": "root"}), 422, "invalid_body"),
        (json!(["good", "x"]), 422, "invalid_body"),
    ];
    for (body, status, code) in &cases {
        let (got, answer) = farm.create_wiki(&token, body.clone()).await;
        assert_eq!(got, *status, "{body} -> {answer}");
        assert_error_shape(&answer, code);
        if code.starts_with("name_") || code.starts_with("sitename_") || code.starts_with("language") {
            let field = code.split('_').next().expect("field");
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }

    // Malformed, non-JSON and oversized bodies.
    let url = farm.url("/api/v1/wikis");
    let send = |content_type: &'static str, body: Vec<u8>| {
        farm.http.post(&url).bearer_auth(&token).header("content-type", content_type).body(body).send()
    };
    let response = send("application/json", b"{\"name\": \"good\",".to_vec()).await.expect("send");
    assert_eq!(response.status(), 400);
    assert_error_shape(&response.json().await.expect("json"), "malformed_json");
    let response = send("text/plain", b"name=good".to_vec()).await.expect("send");
    assert_eq!(response.status(), 415);
    assert_error_shape(&response.json().await.expect("json"), "unsupported_media_type");
    let huge = format!("{{\"name\": \"good\", \"sitename\": \"{}\"}}", "x".repeat(200_000));
    // The server answers before reading the whole body and then closes the connection, so
    // this request gets a connection of its own (a pooled one could be reused after the close).
    let once = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
    let response = once
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge.into_bytes())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));
    assert_error_shape(&response.json().await.expect("json"), "body_too_large");

    // Bad query parameters and unknown routes use the same shape.
    let (status, body) = farm.get_json(&token, "/api/v1/wikis?limit=0").await;
    assert_eq!(status, 422);
    assert_error_shape(&body, "limit_out_of_range");
    let (status, body) = farm.get_json(&token, "/api/v1/wikis?limit=abc").await;
    assert_eq!(status, 400);
    assert_error_shape(&body, "invalid_query");
    let (status, body) = farm.get_json(&token, "/api/v1/wikis?state=zombie").await;
    assert_eq!(status, 400);
    assert_error_shape(&body, "invalid_state");
    let (status, body) = farm.get_json(&token, "/api/v1/wikis?cursor=-5").await;
    assert_eq!(status, 400);
    assert_error_shape(&body, "invalid_cursor");
    let (status, body) = farm.get_json(&token, "/api/v1/nothing-here").await;
    assert_eq!(status, 404);
    assert_error_shape(&body, "not_found");
    let (status, body) = farm.get_json(&token, "/api/v1/wikis/..%2F..%2Fetc").await;
    assert_eq!(status, 404);
    assert_error_shape(&body, "not_found");
    let response = farm.http.put(farm.url("/api/v1/wikis")).bearer_auth(&token).send().await.expect("send");
    assert_eq!(response.status(), 405);
    assert_error_shape(&response.json().await.expect("json"), "method_not_allowed");

    assert_nothing_created(&farm).await;
}

fn forge_unsigned(subject: &str, role: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() + 3600;
    let payload = URL_SAFE_NO_PAD
        .encode(format!(r#"{{"sub":"{subject}","role":"{role}","iss":"farmd","iat":0,"exp":{exp},"jti":"x"}}"#));
    format!("{header}.{payload}.")
}

async fn missing_expired_and_forged_tokens_get_401(store: ControlStore) {
    let farm = Farmd::start_on(store, &[("FARM_PHP_WORKERS", "0")]).await;
    let other_farm = Farmd::new(&[]);
    std::fs::create_dir_all(&other_farm.data_dir).expect("dir");
    let foreign = other_farm.token("alice", "admin");
    let expired = farm.token_with_ttl("alice", "admin", "1s");
    let valid = farm.token("alice", "admin");
    common::wait_until("the one-second token expiring", std::time::Duration::from_secs(10), || async {
        let (_, body) = farm.get_json(&expired, "/api/v1/wikis").await;
        if body["error"]["code"] == "token_expired" {
            Ok(())
        } else {
            Err(body.to_string())
        }
    })
    .await;
    let mut tampered = valid.clone();
    tampered.pop();
    tampered.push(if valid.ends_with('A') { 'B' } else { 'A' });
    // A valid signature over a payload whose subject was changed is still a forgery.
    let parts: Vec<&str> = valid.split('.').collect();
    let altered_payload = URL_SAFE_NO_PAD.encode(
        String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("utf8").replace("alice", "alicf"),
    );
    let altered = format!("{}.{}.{}", parts[0], altered_payload, parts[2]);

    let body = json!({"name": "sneaky", "sitename": "Sneaky"});
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "unauthorized"),
        (Some("Basic YWxpY2U6cHc=".into()), "unauthorized"),
        (Some("Bearer".into()), "unauthorized"),
        (Some("Bearer not.a.jwt".into()), "invalid_token"),
        (Some(format!("Bearer {expired}")), "token_expired"),
        (Some(format!("Bearer {foreign}")), "invalid_token"),
        (Some(format!("Bearer {tampered}")), "invalid_token"),
        (Some(format!("Bearer {altered}")), "invalid_token"),
        (Some(format!("Bearer {}", forge_unsigned("alice", "admin"))), "invalid_token"),
    ];
    for (header, code) in &cases {
        for (method, path) in [
            ("POST", "/api/v1/wikis"),
            ("GET", "/api/v1/wikis"),
            ("GET", "/api/v1/wikis/sneaky"),
            ("DELETE", "/api/v1/wikis/sneaky"),
        ] {
            let mut request = farm.http.request(method.parse().expect("method"), farm.url(path));
            if method == "POST" {
                request = request.json(&body);
            }
            if let Some(value) = header {
                request = request.header("authorization", value);
            }
            let response = request.send().await.expect("send");
            assert_eq!(response.status(), 401, "{method} {path} with {header:?}");
            assert_eq!(response.headers().get("www-authenticate").map(|v| v.to_str().unwrap_or("")), Some("Bearer"));
            assert_error_shape(&response.json().await.expect("json"), code);
        }
    }
    assert_nothing_created(&farm).await;

    // The real token works; its role really is admin.
    let (status, _) = farm.get_json(&valid, "/api/v1/wikis?owner=alice").await;
    assert_eq!(status, 200);
}

async fn twenty_concurrent_creates_of_one_name_have_one_winner(store: ControlStore) {
    let farm = Farmd::start_on(store, &[("FARM_PHP_WORKERS", "0")]).await;
    let tokens: Vec<String> = (0..4).map(|i| farm.token(&format!("racer{i}"), "member")).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let http = farm.http.clone();
        let url = farm.url("/api/v1/wikis");
        let token = tokens[i % tokens.len()].clone();
        tasks.spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"name": "contested", "sitename": format!("Racer {i}")}))
                .send()
                .await
                .expect("send");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        });
    }
    let mut statuses = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body) = result.expect("task");
        if status == 409 {
            assert_error_shape(&body, "name_taken");
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 19, "{statuses:?}");
    let registry = farm.registry().await;
    assert_eq!(registry.len(), 1, "{registry:?}");
    assert_eq!(registry[0].0, "contested");
}

async fn members_see_their_own_wikis_admins_see_all_in_pages(store: ControlStore) {
    let farm = Farmd::start_on(store, &[("FARM_PHP_WORKERS", "0")]).await;
    let alice = farm.token("alice", "member");
    let bob = farm.token("bob", "member");
    let admin = farm.token("root", "admin");
    for i in 0..5 {
        assert_eq!(farm.create_wiki(&alice, json!({"name": format!("alice-{i}"), "sitename": "A"})).await.0, 202);
    }
    for i in 0..3 {
        assert_eq!(farm.create_wiki(&bob, json!({"name": format!("bob-{i}"), "sitename": "B"})).await.0, 202);
    }

    let (status, page) = farm.get_json(&bob, "/api/v1/wikis").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = page["wikis"].as_array().expect("list").iter().filter_map(|w| w["name"].as_str()).collect();
    assert_eq!(names, ["bob-0", "bob-1", "bob-2"]);
    assert!(page.get("next_cursor").is_none());
    assert!(page["wikis"][0].get("storage").is_none());

    // Others' wikis do not exist for a member; members may not ask for another owner.
    assert_eq!(farm.get_json(&bob, "/api/v1/wikis/alice-0").await.0, 404);
    assert_eq!(farm.get_json(&bob, "/api/v1/wikis?owner=alice").await.0, 403);
    assert_eq!(farm.get_json(&alice, "/api/v1/wikis/alice-0").await.0, 200);

    // Admins page through everything with a cursor.
    let mut seen = Vec::new();
    let mut path = "/api/v1/wikis?limit=3".to_owned();
    loop {
        let (status, page) = farm.get_json(&admin, &path).await;
        assert_eq!(status, 200, "{page}");
        let wikis = page["wikis"].as_array().expect("list");
        assert!(wikis.len() <= 3);
        assert!(wikis.iter().all(|w| w["storage"]["backend"] == "sqlite"), "admins see storage");
        seen.extend(wikis.iter().filter_map(|w| w["name"].as_str().map(str::to_owned)));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/wikis?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    let (_, filtered) = farm.get_json(&admin, "/api/v1/wikis?owner=bob&limit=500").await;
    assert_eq!(filtered["wikis"].as_array().expect("list").len(), 3);

    // Health answers without a token and says what it checked.
    let health: Value = farm.http.get(farm.url("/healthz")).send().await.expect("send").json().await.expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["checks"]["control_store"], true);
}

/// `[operator]`: the metrics and the details of `/healthz` for admins only, or on an address
/// of the operator's own; `/healthz`'s status stays everyone's.
#[tokio::test]
async fn metrics_and_health_details_can_be_kept_for_the_operator() {
    let get = |farm: &Farmd, url: String, token: Option<String>| {
        let mut request = farm.http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        }
    };

    let mut farm = Farmd::new(&[("FARM_OPERATOR__METRICS", "admins")]);
    farm.spawn();
    farm.wait_healthy().await;
    let (admin, member) = (farm.token("root", "admin"), farm.token("mia", "member"));
    let (status, body) = get(&farm, farm.url("/metrics"), None).await;
    assert_eq!((status, body.contains("unauthorized")), (401, true), "{body}");
    assert_eq!(get(&farm, farm.url("/metrics"), Some(member.clone())).await.0, 401);
    let (status, body) = get(&farm, farm.url("/metrics"), Some(admin.clone())).await;
    assert_eq!(status, 200);
    assert!(body.contains("farm_php_servers_ready"), "{body}");
    let (status, body) = get(&farm, farm.url("/healthz"), None).await;
    assert_eq!(status, 200, "load balancers still get the status");
    let health: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health, json!({"status": "ok"}), "no details without the operator's token");
    let (_, body) = get(&farm, farm.url("/healthz"), Some(admin.clone())).await;
    let health: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["checks"]["control_store"], true, "{health}");
    farm.terminate();

    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
    let mut farm = Farmd::new(&[("FARM_OPERATOR__LISTEN", &free.to_string())]);
    farm.spawn();
    farm.wait_healthy().await;
    assert_eq!(get(&farm, farm.url("/metrics"), None).await.0, 401, "the main listener keeps them for admins");
    let (status, body) = get(&farm, format!("http://{free}/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(body.contains("farm_php_servers_ready"), "{body}");
    let (_, body) = get(&farm, format!("http://{free}/healthz"), None).await;
    let health: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(health["checks"]["control_store"], true, "{health}");
    let (status, _) = get(&farm, format!("http://{free}/api/v1/wikis"), Some(farm.token("root", "admin"))).await;
    assert_eq!(status, 404, "the operator's listener serves nothing else");
}
