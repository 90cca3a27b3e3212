//! Sender-constrained tokens (DPoP, RFC 9449): a token bound to a key (`cnf.jkt`) is good only
//! with a fresh proof of that key for this very request.

use base64::Engine;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::{fixture, TestApp, TestResponse, OUS};

const PATH: &str = "/api/v1/organisations";
/// The URL the in-process server sees for `PATH` (no Host header: actix's default host).
const HTU: &str = "http://localhost:8080/api/v1/organisations";

struct ClientKey {
    encoding: EncodingKey,
    jwk: Jwk,
    alg: Algorithm,
}

impl ClientKey {
    fn load(file: &str, alg: Algorithm) -> ClientKey {
        let pem = std::fs::read(fixture(file)).expect("key");
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .expect("private key");
        let jwk = Jwk::from_encoding_key(&encoding, alg).expect("jwk");
        ClientKey { encoding, jwk, alg }
    }

    fn thumbprint(&self) -> String {
        self.jwk
            .thumbprint(ThumbprintHash::SHA256)
            .expect("thumbprint")
    }

    fn proof(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("proof")
    }

    /// A proof for `method` `htu` carrying the hash of `token`.
    fn proof_for(&self, method: &str, htu: &str, token: &str) -> String {
        self.proof(&proof_claims(method, htu, Some(token)))
    }
}

fn ath(token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn proof_claims(method: &str, htu: &str, token: Option<&str>) -> Value {
    let mut c = json!({
        "htm": method, "htu": htu, "iat": chrono::Utc::now().timestamp(),
        "jti": uuid::Uuid::new_v4().to_string()
    });
    if let Some(t) = token {
        c["ath"] = json!(ath(t));
    }
    c
}

/// A development token bound to `jkt`.
fn bound_token(jkt: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": "tester", "iss": "portfolio-dev", "aud": "portfolio-api",
        "iat": now, "exp": now + 300, "scope": "portfolio:read",
        "helseid://claims/client/claims/orgnr_parent": OUS,
        "cnf": {"jkt": jkt}
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(portfolio_api::config::DEV_DEFAULT_SECRET.as_bytes()),
    )
    .expect("token")
}

async fn call(
    app: &TestApp,
    method: &str,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
) -> TestResponse {
    let req = match method {
        "POST" => app.post(PATH),
        _ => app.get(PATH),
    };
    let mut req = req.header("Authorization", &format!("{scheme} {token}"));
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    req.send().await
}

#[track_caller]
fn assert_dpop_401(r: &TestResponse, error: &str, why: &str) {
    let p = r.assert_problem(401);
    let www = r.header("www-authenticate").unwrap_or_default();
    assert!(www.starts_with("DPoP "), "{www}");
    assert!(www.contains(&format!("error=\"{error}\"")), "{www}");
    let detail = p["detail"].as_str().unwrap_or("");
    assert!(detail.contains(why), "expected {why:?} in {detail:?}");
}

#[actix_web::test]
async fn a_bound_token_with_a_proof_of_its_key_is_accepted() {
    let app = TestApp::new().await;
    for (file, alg) in [
        ("ec_private.pem", Algorithm::ES256),
        ("other_private.pem", Algorithm::RS256),
    ] {
        let key = ClientKey::load(file, alg);
        let token = bound_token(&key.thumbprint());
        let proof = key.proof_for("GET", HTU, &token);
        call(&app, "GET", "DPoP", &token, Some(&proof))
            .await
            .assert_status(200);
        // A second request needs a proof of its own, and is fine with one.
        let again = key.proof_for("GET", HTU, &token);
        call(&app, "GET", "DPoP", &token, Some(&again))
            .await
            .assert_status(200);
    }
}

#[actix_web::test]
async fn a_stolen_token_without_the_key_is_401() {
    let app = TestApp::new().await;
    let key = ClientKey::load("ec_private.pem", Algorithm::ES256);
    let thief = ClientKey::load("other_private.pem", Algorithm::RS256);
    let token = bound_token(&key.thumbprint());
    // As a bearer token, and with DPoP but no proof, and with a proof by the thief's key.
    assert_dpop_401(
        &call(&app, "GET", "Bearer", &token, None).await,
        "invalid_token",
        "bound to a key",
    );
    assert_dpop_401(
        &call(&app, "GET", "DPoP", &token, None).await,
        "invalid_dpop_proof",
        "missing",
    );
    let forged = thief.proof_for("GET", HTU, &token);
    assert_dpop_401(
        &call(&app, "GET", "DPoP", &token, Some(&forged)).await,
        "invalid_dpop_proof",
        "key other than",
    );
}

#[actix_web::test]
async fn a_proof_for_another_url_or_method_is_401() {
    let app = TestApp::new().await;
    let key = ClientKey::load("ec_private.pem", Algorithm::ES256);
    let token = bound_token(&key.thumbprint());
    let other_url = key.proof_for("GET", "http://localhost:8080/api/v1/needs", &token);
    assert_dpop_401(
        &call(&app, "GET", "DPoP", &token, Some(&other_url)).await,
        "invalid_dpop_proof",
        "htu",
    );
    let other_method = key.proof_for("POST", HTU, &token);
    assert_dpop_401(
        &call(&app, "GET", "DPoP", &token, Some(&other_method)).await,
        "invalid_dpop_proof",
        "htm",
    );
    let mut stale = proof_claims("GET", HTU, Some(&token));
    stale["iat"] = json!(chrono::Utc::now().timestamp() - 600);
    assert_dpop_401(
        &call(&app, "GET", "DPoP", &token, Some(&key.proof(&stale))).await,
        "invalid_dpop_proof",
        "iat",
    );
}

#[actix_web::test]
async fn a_replayed_proof_is_401() {
    let app = TestApp::new().await;
    let key = ClientKey::load("ec_private.pem", Algorithm::ES256);
    let token = bound_token(&key.thumbprint());
    let proof = key.proof_for("GET", HTU, &token);
    call(&app, "GET", "DPoP", &token, Some(&proof))
        .await
        .assert_status(200);
    assert_dpop_401(
        &call(&app, "GET", "DPoP", &token, Some(&proof)).await,
        "invalid_dpop_proof",
        "replayed",
    );
}

#[actix_web::test]
async fn a_proof_without_ath_or_for_another_token_is_401() {
    let app = TestApp::new().await;
    let key = ClientKey::load("ec_private.pem", Algorithm::ES256);
    let token = bound_token(&key.thumbprint());
    let no_ath = key.proof(&proof_claims("GET", HTU, None));
    assert_dpop_401(
        &call(&app, "GET", "DPoP", &token, Some(&no_ath)).await,
        "invalid_dpop_proof",
        "ath",
    );
    let for_other = key.proof(&proof_claims("GET", HTU, Some(&format!("{token}x"))));
    assert_dpop_401(
        &call(&app, "GET", "DPoP", &token, Some(&for_other)).await,
        "invalid_dpop_proof",
        "ath",
    );
}

#[actix_web::test]
async fn required_dpop_refuses_bearer_tokens() {
    let app = TestApp::with_config(|c| c.jwt.require_dpop = true).await;
    let r = app.get(PATH).auth("portfolio:read", Some(OUS)).send().await;
    assert_dpop_401(&r, "invalid_token", "bearer tokens are not accepted");
    let r = app.get(PATH).send().await;
    assert_eq!(
        r.header("www-authenticate").map(|w| w.starts_with("DPoP ")),
        Some(true)
    );
    let key = ClientKey::load("ec_private.pem", Algorithm::ES256);
    let token = bound_token(&key.thumbprint());
    let proof = key.proof_for("GET", HTU, &token);
    call(&app, "GET", "DPoP", &token, Some(&proof))
        .await
        .assert_status(200);
}
