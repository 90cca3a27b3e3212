//! The committed contract is what the code generates.

use portfolio_api::{app, openapi};

#[test]
fn committed_openapi_matches_the_code() {
    let generated = openapi::to_pretty_json(&app::contract());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json differs from what the code generates.\n\
         If the change is intended, regenerate it: UPDATE_OPENAPI=1 cargo test --test api contract\n\
         (or: cargo run -- openapi > openapi/openapi.json) and commit it."
    );
}

#[test]
fn every_operation_documents_security_errors_and_a_summary() {
    let api = serde_json::to_value(app::contract()).expect("json");
    let mut count = 0;
    for (path, item) in api["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            count += 1;
            let where_ = format!("{method} {path}");
            assert!(op["summary"].is_string(), "{where_} has no summary");
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.contains_key("500"), "{where_} lacks 500");
            for (code, r) in responses {
                let has_desc = r.get("description").is_some() || r.get("$ref").is_some();
                assert!(has_desc, "{where_} {code} has no description");
            }
            if path.starts_with("/api/") {
                let sec = op["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{where_} has no security"));
                assert!(
                    sec.iter().any(|s| s.get("bearer").is_some()),
                    "{where_} is not bearer-protected"
                );
                for code in ["401", "403"] {
                    assert!(responses.contains_key(code), "{where_} lacks {code}");
                }
            }
            if op.get("requestBody").is_some() {
                for code in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(code), "{where_} lacks {code}");
                }
            }
        }
    }
    assert!(count >= 7);
}
