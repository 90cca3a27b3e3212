//! Operations: metrics on their own listener, and logs that carry no token or personal data.

use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};

use crate::support::{TestApp, OUS};

/// GET `path` from `addr` over a real TCP connection (off the executor).
async fn http_get(addr: String, path: &'static str) -> String {
    actix_web::rt::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    })
    .await
    .expect("client thread")
}

#[actix_web::test]
async fn metrics_are_served_on_their_own_listener_by_route_template() {
    let app = TestApp::with_config(|c| c.metrics_bind = Some("127.0.0.1:0".into())).await;
    let (server, addr) = portfolio_api::metrics::serve("127.0.0.1:0", app.state.db.clone())
        .expect("metrics listener");
    let handle = server.handle();
    actix_web::rt::spawn(server);

    app.get(&format!("/api/v1/organisations/{OUS}"))
        .auth("portfolio:read", Some(OUS))
        .send()
        .await
        .assert_status(200);
    app.get("/no/such/thing/4711")
        .send()
        .await
        .assert_status(404);
    // Not on the public port.
    app.get("/metrics").send().await.assert_status(404);

    let response = http_get(addr, "/metrics").await;
    handle.stop(false).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for series in [
        "portfolio_http_requests_total{method=\"GET\",route=\"/api/v1/organisations/{org_number}\",status=\"200\"}",
        "portfolio_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
        "portfolio_http_request_duration_seconds_count{route=\"/api/v1/organisations/{org_number}\"}",
        "portfolio_db_pool_connections_in_use",
        "portfolio_db_pool_connections_idle",
        "portfolio_db_pool_wait_seconds_count",
        "portfolio_db_transaction_duration_seconds_count",
        "portfolio_db_unavailable_total",
        "portfolio_idempotent_replays_total",
        "portfolio_rate_limited_total",
        "portfolio_audit_checkpoints_total",
        "portfolio_build_info{version=\"0.1.0\",commit=",
    ] {
        assert!(response.contains(series), "{series} missing in\n{response}");
    }
    assert!(
        !response.contains(OUS),
        "no raw path (with its id) is a label"
    );
}

/// Every log line of the process, checked as it is written.
struct Capture {
    access: Mutex<Vec<String>>,
    forbidden: Mutex<Vec<String>>,
    violations: Mutex<Vec<String>>,
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = portfolio_api::logging::json_line(record);
        if let Ok(forbidden) = self.forbidden.lock() {
            if forbidden.iter().any(|f| line.contains(f.as_str())) {
                self.violations
                    .lock()
                    .expect("violations")
                    .push(line.clone());
            }
        }
        if record.target() == portfolio_api::logging::ACCESS_TARGET {
            let mut access = self.access.lock().expect("access");
            if access.len() < 10_000 {
                access.push(line);
            }
        }
    }
    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture {
            access: Mutex::default(),
            forbidden: Mutex::default(),
            violations: Mutex::default(),
        }));
        log::set_logger(c).expect("the only logger of the test process");
        log::set_max_level(log::LevelFilter::Trace);
        c
    })
}

#[actix_web::test]
async fn json_logs_carry_no_token_or_personal_data_at_any_level() {
    let capture = capture();
    // A user token as HelseID issues it for a person: the subject is a national identity
    // number, the name is in the token.
    let subject = "24017012345";
    let name = "Kari Nordmann-Testesen";
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": subject, "name": name, "iss": "portfolio-dev", "aud": "portfolio-api",
        "iat": now, "exp": now + 300, "scope": "portfolio:read portfolio:submit",
        "helseid://claims/client/claims/orgnr_parent": OUS
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(
            portfolio_api::config::DEV_DEFAULT_SECRET.as_bytes(),
        ),
    )
    .expect("token");
    let signature = token.rsplit('.').next().expect("signature").to_owned();
    capture.forbidden.lock().expect("forbidden").extend([
        token.clone(),
        signature,
        subject.to_owned(),
        name.to_owned(),
        "Nordmann".into(),
    ]);

    let app = TestApp::with_config(|c| c.log_json = true).await;
    let ok = app
        .get(&format!("/api/v1/needs?q={name}").replace(' ', "%20"))
        .token(&token)
        .header("x-request-id", "log-test-ok-1")
        .send()
        .await;
    ok.assert_status(200);
    // A body with personal data that fails validation, and a bad token.
    app.post("/api/v1/needs")
        .token(&token)
        .header("x-request-id", "log-test-invalid-2")
        .json(&json!({"title": name, "description": subject}))
        .send()
        .await;
    app.get("/api/v1/organisations")
        .token(&format!("{token}x"))
        .header("x-request-id", "log-test-401-3")
        .send()
        .await
        .assert_status(401);

    let access = capture.access.lock().expect("access").clone();
    let mine: Vec<Value> = access
        .iter()
        .filter(|l| l.contains("log-test-"))
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(mine.len(), 3, "{access:?}");
    let first = mine
        .iter()
        .find(|l| l["request_id"] == "log-test-ok-1")
        .expect("access line of the first request");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["route"], "/api/v1/needs");
    assert_eq!(first["status"], 200);
    assert_eq!(first["caller_org"], OUS);
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["target"], "portfolio_api::access");
    assert!(first["duration_ms"].is_number() && first["time"].is_string());
    let id = first["caller_id"].as_str().expect("caller id");
    assert_eq!(id, portfolio_api::logging::caller_id(subject));
    assert!(mine
        .iter()
        .any(|l| l["status"] == 401 && l["caller_id"].is_null()));

    let violations = capture.violations.lock().expect("violations").clone();
    assert!(
        violations.is_empty(),
        "personal data or token logged: {violations:#?}"
    );
}
