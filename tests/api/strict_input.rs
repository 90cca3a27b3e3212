//! Strict input: NUL in a path or query, loosely written dates, tokens without a subject or
//! with a doubtful organisation, and `If-Match: *` on updates are all refused with a clear
//! problem+json, never a 500 or a silent acceptance.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::{TestApp, HSO};

const MANAGE: &str = "portfolio:read portfolio:manage";
const ORG_CLAIM: &str = "helseid://claims/client/claims/orgnr_parent";

#[actix_web::test]
async fn nul_in_a_path_parameter_or_query_is_400() {
    let app = TestApp::new().await;
    for path in [
        "/api/v1/organisations/%00",
        "/api/v1/organisations/99132%004968",
        "/api/v1/service-areas/a%00b",
        "/api/v1/needs/a%00b",
        "/api/v1/decision-cases/%00",
        "/api/v1/needs/a%00b/scores/993467049",
        "/api/v1/organisations?q=a%00b",
    ] {
        let p = app
            .get(path)
            .auth(MANAGE, Some(HSO))
            .send()
            .await
            .assert_problem(400);
        assert!(
            p["detail"].as_str().unwrap_or("").contains("NUL"),
            "{path}: {p}"
        );
    }
}

#[actix_web::test]
async fn dates_are_exactly_rfc_3339_full_dates_within_2000_to_2100() {
    let app = TestApp::new().await;
    for bad in [
        "2023-1-5",
        " 2023-01-05",
        "2023-01-05 ",
        "+002023-01-05",
        "+10000-01-01",
        "-0001-01-01",
        "1999-12-31",
        "2101-01-01",
    ] {
        let r = app
            .post("/api/v1/decision-cases")
            .auth(MANAGE, Some(HSO))
            .json(&json!({"meeting_date": bad, "title": "Sak", "items": []}))
            .send()
            .await;
        assert!(
            r.status == 400 || r.status == 422,
            "{bad:?}: {} {}",
            r.status,
            r.text()
        );
        let p = r.assert_problem(r.status.as_u16());
        let named = p["errors"].as_array().is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e["pointer"].as_str() == Some("/meeting_date"))
        });
        assert!(named, "{bad:?}: the date is not named as the fault: {p}");
    }
    // The contract says so.
    let contract = portfolio_api::app::contract_json();
    let field = &contract["components"]["schemas"]["NewCase"]["properties"]["meeting_date"];
    assert_eq!(field["format"], "date", "{field}");
    assert!(field["pattern"].is_string(), "{field}");
}

fn token(claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(portfolio_api::config::DEV_DEFAULT_SECRET.as_bytes()),
    )
    .expect("encode")
}

fn claims(scope: &str, overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "sub": "tester", "iss": "portfolio-dev", "aud": "portfolio-api",
        "iat": now, "nbf": now, "exp": now + 300, "scope": scope,
        ORG_CLAIM: HSO
    });
    for (k, v) in overrides.as_object().expect("object") {
        if v.is_null() {
            c.as_object_mut().expect("object").remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[actix_web::test]
async fn tokens_need_a_subject_and_exactly_one_organisation_to_act_for_one() {
    let app = TestApp::new().await;
    let cases = [
        ("portfolio:read", json!({"sub": null}), "sub"),
        ("portfolio:read", json!({"sub": ""}), "sub"),
        ("portfolio:read", json!({"sub": 42}), "sub"),
        (
            "portfolio:read",
            json!({ORG_CLAIM: [HSO, "993467049"]}),
            ORG_CLAIM,
        ),
        ("portfolio:read", json!({ORG_CLAIM: [HSO]}), ORG_CLAIM),
        ("portfolio:read", json!({ORG_CLAIM: "HSO"}), ORG_CLAIM),
        (
            "portfolio:read portfolio:score",
            json!({ORG_CLAIM: null}),
            ORG_CLAIM,
        ),
        (
            "portfolio:read portfolio:submit",
            json!({ORG_CLAIM: null}),
            ORG_CLAIM,
        ),
        ("portfolio:sync", json!({ORG_CLAIM: null}), ORG_CLAIM),
    ];
    for (scope, overrides, claim) in cases {
        let t = token(claims(scope, overrides.clone()));
        let r = app.get("/api/v1/organisations").token(&t).send().await;
        let p = r.assert_problem(401);
        assert!(
            p["detail"].as_str().unwrap_or("").contains(claim),
            "{scope} {overrides}: {p}"
        );
    }
    // Reading needs no organisation; a well-formed token passes.
    for overrides in [json!({ORG_CLAIM: null}), json!({})] {
        let t = token(claims("portfolio:read", overrides));
        app.get("/api/v1/organisations")
            .token(&t)
            .send()
            .await
            .assert_status(200);
    }
}

#[actix_web::test]
async fn if_match_star_does_not_opt_out_of_lost_update_protection() {
    let app = TestApp::new().await;
    let r = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2031, "name": "Stjerne", "kind": "clinical"}))
        .send()
        .await;
    r.assert_status(201);
    let path = format!(
        "/api/v1/service-areas/{}",
        r.json()["id"].as_str().expect("id")
    );
    let p = app
        .patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "*")
        .json(&json!({"name": "Overskrevet"}))
        .send()
        .await
        .assert_problem(428);
    assert!(p["detail"].as_str().unwrap_or("").contains("ETag"), "{p}");
    let after = app.get(&path).auth(MANAGE, Some(HSO)).send().await;
    assert_eq!(after.json()["name"], "Stjerne");
    app.patch(&path)
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"name": "Oppdatert"}))
        .send()
        .await
        .assert_status(200);
}
