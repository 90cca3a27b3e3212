//! Bearer tokens: every way a token can be wrong is a 401 with `WWW-Authenticate`;
//! a valid token without the permission is a 403.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::{fixture, TestApp, AHUS, HSO, OUS, READ};

const PATH: &str = "/api/v1/organisations";

fn claims(overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "sub": "tester", "iss": "portfolio-dev", "aud": "portfolio-api",
        "iat": now, "nbf": now, "exp": now + 300,
        "scope": "portfolio:read",
        "helseid://claims/client/claims/orgnr_parent": OUS
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

fn hs256(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

fn dev(claims: &Value) -> String {
    hs256(portfolio_api::config::DEV_DEFAULT_SECRET, claims)
}

fn rs256(key_file: &str, kid: Option<&str>, claims: &Value) -> String {
    let pem = std::fs::read(fixture(key_file)).expect("key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(&pem).expect("rsa key"),
    )
    .expect("encode")
}

async fn assert_unauthorized(app: &TestApp, token: &str, why: &str) {
    let resp = app.get(PATH).token(token).send().await;
    let p = resp.problem(401);
    let www = resp.header("www-authenticate").unwrap_or_default();
    assert!(
        www.starts_with("Bearer "),
        "{why}: WWW-Authenticate was {www:?}"
    );
    assert!(p.detail.contains(why), "expected {why:?} in {p:?}");
}

#[actix_web::test]
async fn a_valid_token_is_accepted() {
    let app = TestApp::new().await;
    app.get(PATH)
        .token(&dev(&claims(json!({}))))
        .responds(200)
        .await;
}

#[actix_web::test]
async fn missing_or_malformed_authorization_is_401() {
    let app = TestApp::new().await;
    let r = app.get(PATH).send().await;
    r.assert_problem(401);
    assert!(r.header("www-authenticate").is_some());
    app.get(PATH)
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .refused(401)
        .await;
    app.get(PATH)
        .header("Authorization", "Bearer not-a-jwt")
        .refused(401)
        .await;
}

#[actix_web::test]
async fn expired_not_yet_valid_wrong_issuer_and_audience_are_401_naming_the_expected_values() {
    let app = TestApp::new().await;
    let now = chrono::Utc::now().timestamp();
    assert_unauthorized(
        &app,
        &dev(&claims(json!({"exp": now - 60, "nbf": now - 600}))),
        "expired",
    )
    .await;
    assert_unauthorized(
        &app,
        &dev(&claims(json!({"nbf": now + 120}))),
        "not yet valid",
    )
    .await;
    assert_unauthorized(
        &app,
        &dev(&claims(json!({"iss": "https://evil.example"}))),
        "wrong issuer; expected iss \"portfolio-dev\"",
    )
    .await;
    assert_unauthorized(
        &app,
        &dev(&claims(json!({"aud": "another-api"}))),
        "wrong audience; expected aud \"portfolio-api\"",
    )
    .await;
    assert_unauthorized(&app, &dev(&claims(json!({"exp": null}))), "exp").await;
}

#[actix_web::test]
async fn a_few_seconds_of_clock_skew_are_tolerated() {
    let app = TestApp::new().await;
    let now = chrono::Utc::now().timestamp();
    app.get(PATH)
        .token(&dev(&claims(json!({"exp": now - 2}))))
        .responds(200)
        .await;
    app.get(PATH)
        .token(&dev(&claims(json!({"nbf": now + 2}))))
        .responds(200)
        .await;
}

#[actix_web::test]
async fn alg_none_wrong_key_and_tampered_payload_are_401() {
    let app = TestApp::new().await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(json!({})))
    );
    app.get(PATH).token(&unsigned).refused(401).await;

    assert_unauthorized(
        &app,
        &hs256("a-completely-different-secret", &claims(json!({}))),
        "signature",
    )
    .await;

    let good = dev(&claims(json!({})));
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims(json!({"scope": "portfolio:manage"}))),
        parts[2]
    );
    assert_unauthorized(&app, &tampered, "signature").await;
}

#[actix_web::test]
async fn a_valid_token_without_the_permission_is_403() {
    let app = TestApp::new().await;
    let token = dev(&claims(json!({"scope": "portfolio:submit"})));
    let r = app.get(PATH).token(&token).send().await;
    r.problem_saying(403, "portfolio:read");
    // Writing reference data needs portfolio:manage, not just read.
    let body = json!({"year": 2024, "name": "Ny", "kind": "clinical"});
    app.post("/api/v1/service-areas")
        .auth(READ, Some(HSO))
        .json(&body)
        .refused(403)
        .await;
    assert_eq!(
        app.count("service_areas"),
        16,
        "a denied write writes nothing"
    );
}

#[actix_web::test]
async fn scope_may_be_a_list() {
    let app = TestApp::new().await;
    let token = dev(&claims(
        json!({"scope": ["portfolio:submit", "portfolio:read"]}),
    ));
    app.get(PATH).token(&token).responds(200).await;
}

#[actix_web::test]
async fn asymmetric_tokens_verify_with_jwks_and_pem_and_hs256_is_then_refused() {
    let app = TestApp::with_config(|c| {
        c.jwt.secret = None;
        c.jwt.secret_is_default = false;
        c.jwt.jwks = Some(fixture("jwks.json"));
        c.jwt.issuer = "https://helseid-sts.nhn.no".into();
        c.jwt.audience = "portfolio-api".into();
    })
    .await;
    let c = claims(json!({"iss": "https://helseid-sts.nhn.no"}));
    app.get(PATH)
        .token(&rs256("rsa_private.pem", Some("test-rsa-1"), &c))
        .responds(200)
        .await;
    app.get(PATH)
        .token(&rs256("rsa_private.pem", None, &c))
        .responds(200)
        .await;
    // Signed by a key that is not in the set.
    assert_unauthorized(
        &app,
        &rs256("other_private.pem", Some("test-rsa-1"), &c),
        "signature",
    )
    .await;
    // The development secret is not accepted once real keys are configured.
    assert_unauthorized(&app, &dev(&c), "algorithm").await;

    let pem_app = TestApp::with_config(|c| {
        c.jwt.secret = None;
        c.jwt.public_key_pem = Some(fixture("ec_public.pem"));
    })
    .await;
    let pem = std::fs::read(fixture("ec_private.pem")).expect("key");
    let es = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &claims(json!({})),
        &EncodingKey::from_ec_pem(&pem).expect("ec"),
    )
    .expect("encode");
    pem_app.get(PATH).token(&es).responds(200).await;
}

#[actix_web::test]
async fn the_organisation_claim_name_is_configurable() {
    let app = TestApp::with_config(|c| c.jwt.org_claim = "org".into()).await;
    let token = app
        .state
        .verifier
        .mint("x", &["portfolio:read"], Some(OUS), 60)
        .expect("mint");
    let caller = app.state.verifier.verify(&token).expect("valid");
    assert_eq!(caller.org_number.as_deref(), Some(OUS));
    let raw = dev(&claims(json!({"org": AHUS})));
    assert_eq!(
        app.state
            .verifier
            .verify(&raw)
            .expect("valid")
            .org_number
            .as_deref(),
        Some(AHUS)
    );
}

#[actix_web::test]
async fn health_and_docs_need_no_token() {
    let app = TestApp::new().await;
    app.get("/health/live").responds(200).await;
    app.get("/health/ready").responds(200).await;
    app.get("/api-docs/openapi.json").responds(200).await;
    app.get("/swagger-ui/").responds(200).await;
    let r = app.get("/swagger-ui").send().await;
    assert_eq!(r.status.as_u16(), 308);
    assert_eq!(r.header("location").as_deref(), Some("/swagger-ui/"));
}
