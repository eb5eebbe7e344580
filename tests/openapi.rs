//! The API's description against the API itself: schemathesis (from PyPI, installed by
//! `deploy/install-deps.sh --test` into `tests/openapi/.venv`) generates requests from
//! `GET /api/v1/openapi.json` (examples, edge cases, fuzzing, stateful sequences) with an admin
//! token, and fails on any 5xx and on any answer whose status, content type or body the
//! document does not describe.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::Farmd;

fn schemathesis() -> PathBuf {
    let st = common::browser::workspace_root().join("tests/openapi/.venv/bin/st");
    assert!(st.is_file(), "schemathesis is not installed at {}: run deploy/install-deps.sh --test", st.display());
    st
}

#[tokio::test]
async fn the_api_answers_as_its_document_says() {
    let st = schemathesis();
    let farm = Farmd::start_with(&[("FARM_PHP_WORKERS", "1")]).await;
    let admin = farm.token("root", "admin");
    let (status, document) = farm.get_json("", "/api/v1/openapi.json").await;
    assert_eq!(status, 200, "served without a token");
    assert_eq!(document["openapi"], "3.1.0");

    // schemathesis keeps a cache of what it found in its working directory: a scratch one.
    let scratch = tempfile::tempdir().expect("tempdir");
    let output = Command::new(st)
        .current_dir(scratch.path())
        .arg("run")
        .arg(farm.url("/api/v1/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        // What would end the run's own power (logging out, revoking its session, which the
        // token list names, demoting its account) is left out; every other operation is run.
        .args(["--exclude-operation-id-regex", "^(log_out|end_session|revoke_token|update_account)$"])
        .args(["--workers", "1", "--max-examples", "25", "--seed", "1", "--no-color"])
        .output()
        .expect("run schemathesis");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis found answers the document does not describe:\n{report}");
    assert!(report.contains("passed"), "{report}");
    // The run used its token throughout: nothing it did logged it out.
    assert!(!report.contains("Authentication failed"), "{report}");
    // A new connection: the test's runtime stood still while schemathesis ran (a blocking
    // wait), so its pooled one may have been closed by farmd's keep-alive time-out unnoticed.
    let fresh = reqwest::Client::new();
    let account = fresh.get(farm.url("/api/v1/account")).bearer_auth(&admin).send().await.expect("request");
    assert_eq!(account.status(), 200);
    assert!(!farm.log().contains("internal error"), "an internal error was logged:\n{}", farm.log());
}
