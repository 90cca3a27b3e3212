//! Keys from the issuer: a real OpenID Connect issuer (discovery + JWKS over HTTP) started by
//! the test on 127.0.0.1, whose keys the test rotates, removes, and which it takes down and
//! brings back. It counts its JWKS fetches, so the bound on refetches is measured, not assumed.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::support::{fixture, TestApp, OUS};

const PATH: &str = "/api/v1/organisations";

/// A signing key of the test issuer.
#[derive(Clone)]
pub struct IssuerKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl IssuerKey {
    pub fn from_fixture(file: &str, alg: Algorithm, kid: &str) -> IssuerKey {
        let pem = std::fs::read(fixture(file)).expect("key fixture");
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .expect("private key");
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).expect("public JWK");
        jwk.common.key_id = Some(kid.to_owned());
        IssuerKey {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk: serde_json::to_value(&jwk).expect("jwk json"),
        }
    }

    /// A token signed with this key, `typ: at+jwt` as HelseID issues it.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }

    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

pub fn rsa1() -> IssuerKey {
    IssuerKey::from_fixture("rsa_private.pem", Algorithm::RS256, "rsa-1")
}
pub fn rsa2() -> IssuerKey {
    IssuerKey::from_fixture("other_private.pem", Algorithm::RS256, "rsa-2")
}
pub fn ec1() -> IssuerKey {
    IssuerKey::from_fixture("ec_private.pem", Algorithm::ES256, "ec-1")
}

#[derive(Default)]
struct Published {
    keys: Mutex<Vec<Value>>,
    cache_control: Mutex<Option<String>>,
    /// `jwks_uri` points at a redirect to another host.
    redirect_elsewhere: AtomicBool,
    jwks_fetches: AtomicUsize,
}

/// The issuer: `/.well-known/openid-configuration` and `/jwks` on 127.0.0.1.
pub struct TestIssuer {
    port: u16,
    published: Arc<Published>,
    running: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl TestIssuer {
    pub fn start(keys: &[&IssuerKey]) -> TestIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the issuer");
        let port = listener.local_addr().expect("addr").port();
        let mut issuer = TestIssuer {
            port,
            published: Arc::default(),
            running: None,
        };
        issuer.publish(keys);
        issuer.serve(listener);
        issuer
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn publish(&self, keys: &[&IssuerKey]) {
        *self.published.keys.lock().expect("keys") = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.published.cache_control.lock().expect("cc") = value.map(str::to_owned);
    }

    pub fn redirect_elsewhere(&self, on: bool) {
        self.published
            .redirect_elsewhere
            .store(on, Ordering::SeqCst);
    }

    pub fn jwks_fetches(&self) -> usize {
        self.published.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Stops listening: connections are refused.
    pub fn take_down(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::SeqCst);
            thread.join().expect("issuer thread");
        }
    }

    /// Listens again on the same port.
    pub fn bring_back(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("rebind the issuer");
        self.serve(listener);
    }

    /// The claims HelseID puts in an access token, for this issuer.
    pub fn claims(&self, overrides: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        let mut c = json!({
            "sub": "tester", "iss": self.url(), "aud": ["portfolio-api", "other-api"],
            "iat": now, "nbf": now, "exp": now + 300,
            "scope": ["portfolio:read"],
            "client_id": "test-client",
            "helseid://claims/client/claims/orgnr_parent": OUS
        });
        for (k, v) in overrides.as_object().expect("object") {
            c[k] = v.clone();
        }
        c
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let published = Arc::clone(&self.published);
        let port = self.port;
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, &published, port),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        self.running = Some((stop, thread));
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.take_down();
    }
}

fn answer(mut stream: std::net::TcpStream, published: &Published, port: u16) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let base = format!("http://127.0.0.1:{port}");
    let (status, extra, body) = match path.as_str() {
        "/.well-known/openid-configuration" => {
            let jwks_uri = if published.redirect_elsewhere.load(Ordering::SeqCst) {
                format!("{base}/moved")
            } else {
                format!("{base}/jwks")
            };
            let doc = json!({"issuer": base, "jwks_uri": jwks_uri, "token_endpoint": format!("{base}/connect/token")});
            ("200 OK", String::new(), doc.to_string())
        }
        "/jwks" => {
            published.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            let keys = published.keys.lock().expect("keys").clone();
            let cc = published
                .cache_control
                .lock()
                .expect("cc")
                .as_ref()
                .map(|v| format!("Cache-Control: {v}\r\n"))
                .unwrap_or_default();
            ("200 OK", cc, json!({ "keys": keys }).to_string())
        }
        // Another host name for this same server: a redirect there is not followed.
        "/moved" => (
            "302 Found",
            format!("Location: http://localhost:{port}/jwks\r\n"),
            String::new(),
        ),
        _ => ("404 Not Found", String::new(), String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// The application taking its keys from `issuer` (no development secret).
pub async fn app_for(
    issuer: &TestIssuer,
    adjust: impl FnOnce(&mut portfolio_api::config::Config),
) -> TestApp {
    let authority = issuer.url();
    TestApp::with_config(move |c| {
        c.jwt.secret = None;
        c.jwt.secret_is_default = false;
        c.jwt.authority = Some(authority);
        adjust(c);
    })
    .await
}

/// Polls `/health/ready` until it is 200 (bounded).
pub async fn wait_ready(app: &TestApp, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let r = app.get("/health/ready").send().await;
        if r.status.as_u16() == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "never ready: {}", r.text());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status(app: &TestApp, token: &str) -> u16 {
    app.get(PATH).token(token).send().await.status.as_u16()
}

#[actix_web::test]
async fn tokens_signed_with_the_issuers_rs256_and_es256_keys_are_accepted() {
    let (rsa, ec) = (rsa1(), ec1());
    let issuer = TestIssuer::start(&[&rsa, &ec]);
    let app = app_for(&issuer, |_| {}).await;
    wait_ready(&app, Duration::from_secs(10)).await;

    // RFC 9068 as HelseID issues it: typ at+jwt, aud and scope as arrays.
    assert_eq!(
        status(&app, &rsa.sign(&issuer.claims(json!({})))).await,
        200
    );
    assert_eq!(status(&app, &ec.sign(&issuer.claims(json!({})))).await, 200);
    // Scope as a space-separated string, aud as a string.
    let plain =
        issuer.claims(json!({"scope": "portfolio:read portfolio:submit", "aud": "portfolio-api"}));
    assert_eq!(status(&app, &rsa.sign(&plain)).await, 200);
    // iss must be the discovered issuer exactly.
    let other_iss = issuer.claims(json!({"iss": format!("{}/", issuer.url())}));
    let r = app.get(PATH).token(&rsa.sign(&other_iss)).send().await;
    assert!(r.assert_problem(401)["detail"]
        .as_str()
        .unwrap_or("")
        .contains("issuer"));
    // A token signed by a key the issuer does not publish, under a published kid.
    let forged = rsa2().sign_as("rsa-1", &issuer.claims(json!({})));
    assert_eq!(status(&app, &forged).await, 401);
}

#[actix_web::test]
async fn plain_jwt_typ_is_refused_when_at_jwt_is_required() {
    let rsa = rsa1();
    let issuer = TestIssuer::start(&[&rsa]);
    let app = app_for(&issuer, |c| c.jwt.require_at_jwt = true).await;
    wait_ready(&app, Duration::from_secs(10)).await;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-1".into());
    let plain_jwt =
        jsonwebtoken::encode(&header, &issuer.claims(json!({})), &rsa.encoding).expect("sign");
    let r = app.get(PATH).token(&plain_jwt).send().await;
    assert!(r.assert_problem(401)["detail"]
        .as_str()
        .unwrap_or("")
        .contains("at+jwt"));
    assert_eq!(
        status(&app, &rsa.sign(&issuer.claims(json!({})))).await,
        200
    );
}

#[actix_web::test]
async fn a_rotated_key_is_picked_up_and_a_removed_key_stops_verifying() {
    let (old, new) = (rsa1(), rsa2());
    let issuer = TestIssuer::start(&[&old]);
    // The issuer's max-age (1 s) is shorter than the refresh interval: it wins.
    issuer.set_cache_control(Some("public, max-age=1"));
    let app = app_for(&issuer, |_| {}).await;
    wait_ready(&app, Duration::from_secs(10)).await;
    let old_token = old.sign(&issuer.claims(json!({})));
    assert_eq!(status(&app, &old_token).await, 200);

    // Rotation: the new key is published and used at once; the first token with the new kid
    // waits for one fetch instead of failing.
    issuer.publish(&[&old, &new]);
    let new_token = new.sign(&issuer.claims(json!({})));
    assert_eq!(status(&app, &new_token).await, 200);

    // The old key is withdrawn: once the keys are refreshed, its tokens (even one verified
    // and cached before) are refused.
    issuer.publish(&[&new]);
    let fetched = issuer.jwks_fetches();
    let deadline = Instant::now() + Duration::from_secs(10);
    while issuer.jwks_fetches() < fetched + 2 {
        assert!(
            Instant::now() < deadline,
            "no background refresh honouring max-age"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status(&app, &old_token).await, 401);
    assert_eq!(status(&app, &new_token).await, 200);
}

#[actix_web::test]
async fn not_ready_before_the_first_keys_and_cached_keys_survive_an_outage() {
    let rsa = rsa1();
    let mut issuer = TestIssuer::start(&[&rsa]);
    issuer.take_down();
    let app = app_for(&issuer, |c| c.jwt.refresh_seconds = 1).await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let r = app.get("/health/ready").send().await;
    let p = r.assert_problem(503);
    let detail = p["detail"].as_str().unwrap_or("");
    assert!(detail.contains("signing keys"), "{detail}");
    // The API itself answers (401), it does not hang or fail with 500.
    assert_eq!(
        status(&app, &rsa.sign(&issuer.claims(json!({})))).await,
        401
    );

    issuer.bring_back();
    wait_ready(&app, Duration::from_secs(15)).await;
    let token = rsa.sign(&issuer.claims(json!({})));
    assert_eq!(status(&app, &token).await, 200);

    // The issuer goes away again: refreshes fail (every second), the loaded keys stay in use
    // and the service stays ready.
    issuer.take_down();
    actix_web::rt::time::sleep(Duration::from_millis(2500)).await;
    app.get("/health/ready").send().await.assert_status(200);
    let fresh = rsa.sign(&issuer.claims(json!({"sub": "another"})));
    assert_eq!(status(&app, &fresh).await, 200);
}

#[actix_web::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let rsa = rsa1();
    let issuer = TestIssuer::start(&[&rsa]);
    issuer.redirect_elsewhere(true);
    let app = app_for(&issuer, |_| {}).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.get("/health/ready").send().await;
        let p = r.assert_problem(503);
        if p["detail"].as_str().unwrap_or("").contains("another host") {
            break;
        }
        assert!(Instant::now() < deadline, "{p}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[actix_web::test]
async fn a_flood_of_unknown_kids_fetches_the_keys_at_most_once_per_interval() {
    let rsa = rsa1();
    let issuer = TestIssuer::start(&[&rsa]);
    let app = app_for(&issuer, |_| {}).await;
    wait_ready(&app, Duration::from_secs(10)).await;
    let before = issuer.jwks_fetches();

    // 500 tokens with made-up kids, sent concurrently.
    let attacker = rsa2();
    let tokens: Vec<String> = (0..500)
        .map(|i| attacker.sign_as(&format!("made-up-{i}"), &issuer.claims(json!({}))))
        .collect();
    let started = Instant::now();
    let statuses = futures_util::future::join_all(tokens.iter().map(|t| status(&app, t))).await;
    let took = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 401));
    let during = issuer.jwks_fetches() - before;
    println!(
        "flood: 500 unknown kids -> {during} JWKS fetch(es) (initial load: {before}) in {took:?}"
    );
    assert!(during <= 1, "{during} fetches for one interval");

    // A second wave within the interval fetches nothing more.
    for t in tokens.iter().take(100) {
        assert_eq!(status(&app, t).await, 401);
    }
    assert_eq!(issuer.jwks_fetches() - before, during);
    // Legitimate tokens are unaffected.
    assert_eq!(
        status(&app, &rsa.sign(&issuer.claims(json!({})))).await,
        200
    );
}
