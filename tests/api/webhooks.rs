//! Webhooks on the change feed, against real receivers on 127.0.0.1 started here: Standard
//! Webhooks signatures checked by an HMAC written in this file (not the server's code),
//! rotation, retries with the same `webhook-id`, feed order, giving up, ownership, SSRF
//! refusals, and a `kill -9` of the real binary in the middle of a delivery.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::Method;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use portfolio_api::config::WebhookConfig;
use portfolio_api::webhooks::worker::Worker;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::tables::assert_prepared;
use crate::support::{TestApp, AHUS, HSO, MANAGE, OUS, READ};

// ---- a receiver -------------------------------------------------------------------------

/// One request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

/// What to answer: status and how long to wait first.
pub type Script = dyn Fn(usize, &Received) -> (u16, Duration) + Send + Sync;

/// A minimal HTTP/1.1 server on 127.0.0.1 that records requests and answers by script.
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    pub fn start(
        script: impl Fn(usize, &Received) -> (u16, Duration) + Send + Sync + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let count = Arc::new(AtomicUsize::new(0));
        let (g, s) = (Arc::clone(&got), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (g, script, count) = (Arc::clone(&g), Arc::clone(&script), Arc::clone(&count));
                std::thread::spawn(move || serve_connection(conn, &g, &*script, &count));
            }
        });
        Receiver { addr, got, stop }
    }

    pub fn always(status: u16) -> Receiver {
        Receiver::start(move |_, _| (status, Duration::ZERO))
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits (bounded) until `n` requests have arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_connection(
    conn: TcpStream,
    got: &Mutex<Vec<Received>>,
    script: &Script,
    count: &AtomicUsize,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let r = Received {
            headers,
            body,
            at: Instant::now(),
        };
        let n = count.fetch_add(1, Ordering::SeqCst);
        got.lock().expect("lock").push(r.clone());
        let (status, delay) = script(n, &r);
        std::thread::sleep(delay);
        let extra = if status == 429 {
            "retry-after: 1\r\n"
        } else {
            ""
        };
        let reply = format!("HTTP/1.1 {status} X\r\n{extra}content-length: 2\r\n\r\nok");
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

// ---- an independent Standard Webhooks check ------------------------------------------------

/// HMAC-SHA256 (RFC 2104) written out here, so the test does not trust the server's signing.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// True when one of the `v1,` signatures of `r` is the HMAC of `id.timestamp.body` with `secret`.
fn signed_with(r: &Received, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut content = format!(
        "{}.{}.",
        r.header("webhook-id"),
        r.header("webhook-timestamp")
    )
    .into_bytes();
    content.extend_from_slice(&r.body);
    let expected = format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &content)));
    r.header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

#[test]
fn the_hmac_here_matches_the_specification_example() {
    let r = Received {
        headers: [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        body: br#"{"test": 2432232314}"#.to_vec(),
        at: Instant::now(),
    };
    assert!(signed_with(&r, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    assert!(!signed_with(&r, "whsec_AfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
}

// ---- helpers ------------------------------------------------------------------------------

/// Short retries, and a safety-net poll far longer than any wait in these tests: every
/// delivery here is started by a notification or by a retry falling due, never by polling.
fn fast_config(schedule: &[f64]) -> WebhookConfig {
    WebhookConfig {
        allow_local: true,
        workers: 2,
        poll_interval: Duration::from_secs(600),
        nice: 10,
        retry_schedule: schedule
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect(),
        timeout: Duration::from_secs(5),
        linger: WebhookConfig::default().linger,
    }
}

async fn local_app() -> TestApp {
    TestApp::with_config(|c| c.webhooks.allow_local = true).await
}

fn worker(app: &TestApp, config: WebhookConfig) -> Worker {
    let pool = crate::support::patient_pool(&app.url, config.workers as u32);
    Worker::start(pool, &app.url, config)
}

async fn subscribe(app: &TestApp, org: &str, body: Value) -> Value {
    app.post("/api/v1/webhook-subscriptions")
        .auth(READ, Some(org))
        .json(&body)
        .send()
        .await
        .assert_status(201)
        .json()
}

/// A subscription of `OUS` to service-area events, delivered to `rx`.
async fn subscribe_to_areas(app: &TestApp, rx: &Receiver) -> Value {
    subscribe(
        app,
        OUS,
        json!({"url": rx.url(), "entity_types": ["service_area"]}),
    )
    .await
}

async fn create_area(app: &TestApp, name: &str) -> Value {
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2032, "name": name, "kind": "clinical"}))
        .send()
        .await
        .assert_status(201)
        .json()
}

async fn feed_after(app: &TestApp, after: i64) -> Vec<Value> {
    app.get(&format!("/api/v1/events?after={after}"))
        .auth(READ, None)
        .send()
        .await
        .assert_status(200)
        .json()["items"]
        .as_array()
        .expect("items")
        .clone()
}

const WAIT: Duration = Duration::from_secs(15);

/// The delivery log once it holds `n` attempts (a receiver sees a request before the worker
/// commits its record of it).
async fn delivery_log(app: &TestApp, id: &str, query: &str, n: usize) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = app
            .get(&format!("/api/v1/webhook-subscriptions/{id}/deliveries"))
            .auth(READ, Some(OUS))
            .send()
            .await
            .assert_status(200)
            .json();
        if all["items"].as_array().map_or(0, Vec::len) >= n || Instant::now() > deadline {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    app.get(&format!(
        "/api/v1/webhook-subscriptions/{id}/deliveries{query}"
    ))
    .auth(READ, Some(OUS))
    .send()
    .await
    .assert_status(200)
    .json()
}

// ---- tests ----------------------------------------------------------------------------------

#[actix_web::test]
async fn deliveries_are_signed_and_carry_the_feed_event() {
    let app = local_app().await;
    let rx = Receiver::always(204);
    create_area(&app, "Before the subscription").await;
    let sub = subscribe(
        &app,
        OUS,
        json!({"url": rx.url(), "entity_types": ["service_area"], "description": "test"}),
    )
    .await;
    let secret = sub["secret"]
        .as_str()
        .expect("secret shown at creation")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(STANDARD.decode(&secret[6..]).expect("base64").len() >= 24);
    let start = sub["delivered_seq"].as_i64().expect("delivered_seq");
    // The secret is never shown again.
    let got = app
        .get(&format!(
            "/api/v1/webhook-subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .auth(READ, Some(OUS))
        .send()
        .await
        .assert_status(200)
        .json();
    assert!(got.get("secret").is_none());

    let _w = worker(&app, fast_config(&[0.05]));
    create_area(&app, "After the subscription").await;
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "exactly the event after creation");
    let r = &got[0];
    assert!(
        signed_with(r, &secret),
        "signature verifies: {:?}",
        r.headers
    );
    let ts: i64 = r.header("webhook-timestamp").parse().expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);
    assert_eq!(r.header("content-type"), "application/json");
    // The body is the event as the feed lists it.
    let feed: Vec<Value> = feed_after(&app, start)
        .await
        .into_iter()
        .filter(|e| e["entity_type"] == "service_area")
        .collect();
    assert_eq!(r.json(), feed[0]);
    assert_eq!(r.json()["action"], "created");
    // A tampered body does not verify.
    let mut forged = r.clone();
    forged.body[0] = b' ';
    assert!(!signed_with(&forged, &secret));
    // The attempt is listed.
    let deliveries = delivery_log(&app, sub["id"].as_str().expect("id"), "", 1).await;
    assert_eq!(deliveries["items"][0]["outcome"], "delivered");
    assert_eq!(deliveries["items"][0]["http_status"], 204);
    assert_eq!(deliveries["items"][0]["webhook_id"], r.header("webhook-id"));
    // Operators see it in the metrics (one registry per process: other tests add to it).
    let metrics = portfolio_api::metrics::render(None);
    for series in [
        "portfolio_webhook_attempts_total{outcome=\"delivered\"}",
        "portfolio_webhook_attempt_duration_seconds_count",
        "portfolio_webhook_claim_subscriptions_count",
    ] {
        let n: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        assert!(n >= 1.0, "{series} counted the delivery:\n{metrics}");
    }
}

#[actix_web::test]
async fn rotation_signs_with_both_secrets() {
    let app = local_app().await;
    let rx = Receiver::always(200);
    let sub = subscribe_to_areas(&app, &rx).await;
    let old = sub["secret"].as_str().expect("secret").to_owned();
    let id = sub["id"].as_str().expect("id").to_owned();
    let rotated = app
        .post(&format!("/api/v1/webhook-subscriptions/{id}/rotate-secret"))
        .auth(READ, Some(OUS))
        .header("If-Match", "\"v1\"")
        .send()
        .await
        .assert_status(200)
        .json();
    let new = rotated["secret"].as_str().expect("new secret").to_owned();
    assert_ne!(old, new);
    assert!(rotated["previous_secret_expires_at"].is_string());
    let _w = worker(&app, fast_config(&[0.05]));
    create_area(&app, "Rotated").await;
    let got = rx.wait_for(1, WAIT).await;
    let r = got.first().expect("delivered");
    let sigs: Vec<&str> = r.header("webhook-signature").split(' ').collect();
    assert_eq!(sigs.len(), 2, "two signatures during the overlap: {sigs:?}");
    assert!(sigs.iter().all(|s| s.starts_with("v1,")));
    assert!(signed_with(r, &new) && signed_with(r, &old));
}

#[actix_web::test]
async fn an_idle_worker_is_woken_by_the_commit_and_its_threads_run_niced() {
    let app = local_app().await;
    let rx = Receiver::always(204);
    subscribe_to_areas(&app, &rx).await;
    let _w = worker(&app, fast_config(&[0.05]));
    // Let it find nothing and go to sleep: its safety-net poll is 10 minutes away.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    create_area(&app, "Wakes the worker").await;
    let got = rx.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "delivered without polling");
    assert!(started.elapsed() < WAIT);
    // Every delivery thread of this process (this test's and other tests') runs at nice 10;
    // a thread another test has just spawned may not have lowered itself yet: look again.
    let mut niced = Vec::new();
    for _ in 0..20 {
        niced = delivery_threads_nice();
        if niced.iter().all(|(_, n)| *n == 10) {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(niced.len() >= 3, "two workers and a listener: {niced:?}");
    assert!(niced.iter().all(|(_, n)| *n == 10), "{niced:?}");
}

/// (name, niceness) of this process's `webhook-*` threads, from /proc.
fn delivery_threads_nice() -> Vec<(String, i64)> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            // Fields after the name: state is the 3rd of stat(5), nice the 19th.
            let nice: i64 = rest.split(' ').nth(16)?.parse().ok()?;
            name.starts_with("webhook-")
                .then(|| (name.to_owned(), nice))
        })
        .collect()
}

/// Under a steady stream a delivery thread claims at most once per linger: the events
/// committed meanwhile wait for its next claim, in feed order.
#[actix_web::test]
async fn events_committed_while_the_worker_lingers_wait_for_its_next_claim() {
    let app = local_app().await;
    let rx = Receiver::always(204);
    subscribe_to_areas(&app, &rx).await;
    let linger = Duration::from_millis(600);
    let _w = worker(
        &app,
        WebhookConfig {
            workers: 1,
            linger,
            ..fast_config(&[0.05])
        },
    );
    create_area(&app, "Claimed at once").await;
    assert_eq!(rx.wait_for(1, WAIT).await.len(), 1);
    for i in 0..4 {
        create_area(&app, &format!("Committed during the linger {i}")).await;
    }
    let got = rx.wait_for(5, WAIT).await;
    assert_eq!(got.len(), 5);
    for r in &got[1..] {
        // Not before the linger since the first claim began (which was before the first
        // receipt; half the linger leaves room for that claim on a loaded machine).
        let after_first = r.at.duration_since(got[0].at);
        assert!(after_first >= linger / 2, "{after_first:?} after the first");
    }
    let seqs: Vec<i64> = got
        .iter()
        .map(|r| r.json()["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "feed order: {seqs:?}");
}

#[actix_web::test]
async fn retries_keep_the_webhook_id_and_feed_order() {
    let app = local_app().await;
    // 503 twice, then 200 for everything.
    let rx = Receiver::start(|n, _| (if n < 2 { 503 } else { 200 }, Duration::ZERO));
    let sub = subscribe_to_areas(&app, &rx).await;
    let id = sub["id"].as_str().expect("id").to_owned();
    for i in 0..3 {
        create_area(&app, &format!("Ordered {i}")).await;
    }
    let _w = worker(&app, fast_config(&[0.05, 0.05, 0.05]));
    let got = rx.wait_for(5, WAIT).await;
    assert_eq!(
        got.len(),
        5,
        "3 attempts at the first event, then the other two"
    );
    let ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(
        ids[0] == ids[1] && ids[1] == ids[2],
        "same webhook-id on every retry: {ids:?}"
    );
    assert!(ids[2] != ids[3] && ids[3] != ids[4]);
    let seqs: Vec<i64> = got
        .iter()
        .map(|r| r.json()["seq"].as_i64().expect("seq"))
        .collect();
    assert!(
        seqs[0] == seqs[2] && seqs[2] < seqs[3] && seqs[3] < seqs[4],
        "feed order: {seqs:?}"
    );
    let names: Vec<String> = got[2..]
        .iter()
        .map(|r| r.json()["entity_id"].to_string())
        .collect();
    assert_eq!(names.len(), 3);
    // No more than those five arrive.
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 5);
    let log = delivery_log(&app, &id, "", 5).await;
    let first: Vec<(i64, i64, &str)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .rev()
        .take(3)
        .map(|d| {
            (
                d["attempt"].as_i64().unwrap_or(0),
                d["http_status"].as_i64().unwrap_or(0),
                d["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        first,
        vec![
            (1, 503, "retrying"),
            (2, 503, "retrying"),
            (3, 200, "delivered")
        ]
    );
}

#[actix_web::test]
async fn retry_after_is_honoured() {
    let app = local_app().await;
    // The receiver answers 429 with `Retry-After: 1`; the schedule alone would retry in 50 ms.
    let rx = Receiver::start(|n, _| (if n == 0 { 429 } else { 200 }, Duration::ZERO));
    subscribe_to_areas(&app, &rx).await;
    create_area(&app, "Later please").await;
    let _w = worker(&app, fast_config(&[0.05]));
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(750),
        "waited only {waited:?}"
    );
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
}

#[actix_web::test]
async fn a_client_error_is_not_retried_and_an_exhausted_schedule_disables() {
    let app = local_app().await;
    // 400 for the first event (not retried), then 500 for ever.
    let rx = Receiver::start(|n, _| (if n == 0 { 400 } else { 500 }, Duration::ZERO));
    let sub = subscribe_to_areas(&app, &rx).await;
    let id = sub["id"].as_str().expect("id").to_owned();
    let start = sub["delivered_seq"].as_i64().expect("cursor");
    create_area(&app, "Refused").await;
    create_area(&app, "Failing").await;
    let _w = worker(&app, fast_config(&[0.02, 0.02]));
    let got = rx.wait_for(4, WAIT).await;
    assert_eq!(got.len(), 4, "1 refused + 3 attempts (1 + schedule of 2)");
    assert_ne!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert!(got[1..]
        .iter()
        .all(|r| r.header("webhook-id") == got[1].header("webhook-id")));
    // Disabled, with the reason, and the feed says so.
    let deadline = Instant::now() + WAIT;
    let s = loop {
        let s = app
            .get(&format!("/api/v1/webhook-subscriptions/{id}"))
            .auth(READ, Some(OUS))
            .send()
            .await;
        s.assert_status(200);
        let (etag, body) = (s.header("etag").expect("etag"), s.json());
        if body["enabled"] == false || Instant::now() > deadline {
            break (etag, body);
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(s.1["enabled"], false);
    assert!(s.1["disabled_reason"]
        .as_str()
        .expect("reason")
        .contains("HTTP 500"));
    let feed = feed_after(&app, start).await;
    assert!(feed
        .iter()
        .any(|e| e["entity_type"] == "webhook_subscription"
            && e["entity_id"] == id.as_str()
            && e["action"] == "disabled"));
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.received().len(), 4, "nothing more once disabled");

    // Enabling resumes at the event that failed.
    app.patch(&format!("/api/v1/webhook-subscriptions/{id}"))
        .auth(READ, Some(OUS))
        .header("If-Match", &s.0)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .assert_status(200);
    let got = rx.wait_for(5, WAIT).await;
    assert_eq!(got[4].header("webhook-id"), got[1].header("webhook-id"));
}

#[actix_web::test]
async fn ping_and_redeliver() {
    let app = local_app().await;
    let rx = Receiver::always(200);
    let sub = subscribe_to_areas(&app, &rx).await;
    let id = sub["id"].as_str().expect("id").to_owned();
    let secret = sub["secret"].as_str().expect("secret").to_owned();
    let _w = worker(&app, fast_config(&[0.05]));
    app.post(&format!("/api/v1/webhook-subscriptions/{id}/ping"))
        .auth(READ, Some(OUS))
        .send()
        .await
        .assert_status(202);
    let got = rx.wait_for(1, WAIT).await;
    let ping = got[0].json();
    assert_eq!(
        (ping["action"].as_str(), ping["seq"].as_i64()),
        (Some("ping"), Some(0))
    );
    assert!(signed_with(&got[0], &secret));

    create_area(&app, "Redelivered").await;
    let got = rx.wait_for(2, WAIT).await;
    let log = delivery_log(&app, &id, "?limit=1", 2).await;
    assert!(log["next_cursor"].is_string(), "a second page exists");
    let delivery = log["items"][0]["id"].as_i64().expect("delivery id");
    let queued = app
        .post(&format!(
            "/api/v1/webhook-subscriptions/{id}/deliveries/{delivery}/redeliver"
        ))
        .auth(READ, Some(OUS))
        .send()
        .await
        .assert_status(202)
        .json();
    assert_eq!(queued["event_seq"], got[1].json()["seq"]);
    let again = rx.wait_for(3, WAIT).await;
    assert_eq!(again[2].header("webhook-id"), got[1].header("webhook-id"));
    assert_eq!(again[2].body, got[1].body);
}

#[actix_web::test]
async fn another_organisation_gets_404() {
    let app = local_app().await;
    let rx = Receiver::always(200);
    let sub = subscribe(&app, OUS, json!({"url": rx.url()})).await;
    let id = sub["id"].as_str().expect("id").to_owned();
    let base = format!("/api/v1/webhook-subscriptions/{id}");
    for (method, path) in [
        (Method::GET, base.clone()),
        (Method::PATCH, base.clone()),
        (Method::DELETE, base.clone()),
        (Method::POST, format!("{base}/rotate-secret")),
        (Method::GET, format!("{base}/deliveries")),
        (Method::POST, format!("{base}/ping")),
        (Method::POST, format!("{base}/deliveries/1/redeliver")),
    ] {
        let mut req = app
            .request(method.clone(), &path)
            .auth(READ, Some(AHUS))
            .header("If-Match", "*");
        if method == Method::PATCH {
            req = req.json(&json!({"enabled": false}));
        }
        req.send().await.assert_problem(404);
    }
    let list = app
        .get("/api/v1/webhook-subscriptions")
        .auth(READ, Some(AHUS))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(list["items"], json!([]));
    // Needs an organisation claim and portfolio:read.
    app.get("/api/v1/webhook-subscriptions")
        .auth(READ, None)
        .send()
        .await
        .assert_problem(403);
    app.get("/api/v1/webhook-subscriptions")
        .auth("portfolio:submit", Some(OUS))
        .send()
        .await
        .assert_problem(403);
    // The owner still has it, and can delete it.
    let list = app
        .get("/api/v1/webhook-subscriptions")
        .auth(READ, Some(OUS))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(list["items"][0]["id"], id.as_str());
    app.request(Method::DELETE, &base)
        .auth(READ, Some(OUS))
        .send()
        .await
        .assert_problem(428);
    app.request(Method::DELETE, &base)
        .auth(READ, Some(OUS))
        .header("If-Match", "\"v1\"")
        .send()
        .await
        .assert_status(204);
    app.get(&base)
        .auth(READ, Some(OUS))
        .send()
        .await
        .assert_problem(404);
}

#[actix_web::test]
async fn private_and_plain_http_urls_are_refused_without_allow_local() {
    let app = TestApp::new().await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://example.org/hook",
        "https://user:pw@example.org/hook",
    ] {
        let p = app
            .post("/api/v1/webhook-subscriptions")
            .auth(READ, Some(OUS))
            .json(&json!({"url": url}))
            .send()
            .await
            .assert_problem(422);
        assert_eq!(p["errors"][0]["pointer"], "/url", "{url}: {p}");
    }
    // Every field error at once.
    let p = app
        .post("/api/v1/webhook-subscriptions")
        .auth(READ, Some(OUS))
        .json(&json!({"url": "", "entity_types": ["Not Valid"], "description": "x".repeat(501)}))
        .send()
        .await
        .assert_problem(422);
    assert_eq!(p["errors"].as_array().map(Vec::len), Some(3), "{p}");
    assert_eq!(app.count("webhook_subscriptions"), 0);
}

#[actix_web::test]
async fn subscriptions_can_start_from_an_earlier_point_of_the_feed() {
    let app = local_app().await;
    let rx = Receiver::always(200);
    let a = create_area(&app, "Replayed A").await;
    create_area(&app, "Replayed B").await;
    let feed = feed_after(&app, 0).await;
    let first = feed
        .iter()
        .find(|e| e["entity_id"] == a["id"])
        .and_then(|e| e["seq"].as_i64())
        .expect("event of A");
    subscribe(
        &app,
        OUS,
        json!({"url": rx.url(), "entity_types": ["service_area"], "after": first - 1}),
    )
    .await;
    let _w = worker(&app, fast_config(&[0.05]));
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].json()["entity_id"], a["id"]);
    // Beyond the end of the feed is refused.
    app.post("/api/v1/webhook-subscriptions")
        .auth(READ, Some(OUS))
        .json(&json!({"url": rx.url(), "after": 1_000_000}))
        .send()
        .await
        .assert_problem(422);
}

#[actix_web::test]
async fn two_replicas_deliver_every_event_once() {
    let app = local_app().await;
    let receivers: Vec<Receiver> = (0..3).map(|_| Receiver::always(200)).collect();
    for rx in &receivers {
        subscribe_to_areas(&app, rx).await;
    }
    let _a = worker(&app, fast_config(&[0.05]));
    let _b = worker(&app, fast_config(&[0.05]));
    for i in 0..20 {
        create_area(&app, &format!("Replicated {i}")).await;
    }
    for rx in &receivers {
        let got = rx.wait_for(20, WAIT).await;
        let seqs: Vec<i64> = got
            .iter()
            .map(|r| r.json()["seq"].as_i64().expect("seq"))
            .collect();
        assert_eq!(seqs.len(), 20);
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "in feed order, no duplicates: {seqs:?}"
        );
    }
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert!(receivers.iter().all(|rx| rx.received().len() == 20));
}

/// The real binary, delivering from the test's database.
fn spawn_server(app: &TestApp) -> crate::binary::Server {
    crate::binary::serve_database(
        &app.url,
        &[
            ("PORTFOLIO_WEBHOOK_ALLOW_LOCAL", "1"),
            ("PORTFOLIO_WEBHOOK_POLL_MS", "600000"),
            ("PORTFOLIO_WEBHOOK_TIMEOUT_MS", "60000"),
        ],
    )
}

#[actix_web::test]
async fn kill_9_mid_delivery_then_restart_still_delivers() {
    let app = local_app().await;
    // The first request is held (the server is killed meanwhile); later ones succeed.
    let rx = Receiver::start(|n, _| {
        if n == 0 {
            (200, Duration::from_secs(20))
        } else {
            (200, Duration::ZERO)
        }
    });
    let sub = subscribe_to_areas(&app, &rx).await;
    let start = sub["delivered_seq"].as_i64().expect("cursor");
    create_area(&app, "Survives a crash").await;

    let mut server = spawn_server(&app);
    let got = rx.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 1, "the first attempt reached the receiver");
    server.kill9();
    // The cursor did not move: the delivery was never acknowledged.
    let s = app
        .get(&format!(
            "/api/v1/webhook-subscriptions/{}",
            sub["id"].as_str().expect("id")
        ))
        .auth(READ, Some(OUS))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(s["delivered_seq"].as_i64(), Some(start));

    let mut server = spawn_server(&app);
    let again = rx.wait_for(2, Duration::from_secs(60)).await;
    server.kill9();
    assert_eq!(again.len(), 2, "delivered again after the restart");
    assert_eq!(again[1].header("webhook-id"), again[0].header("webhook-id"));
    assert_eq!(again[1].body, again[0].body);
}

#[actix_web::test]
async fn a_slow_receiver_is_claimed_alone_and_holds_up_no_other_subscription() {
    let app = local_app().await;
    let slow = Receiver::start(|_, _| (200, Duration::from_millis(2500)));
    let fast = Receiver::always(200);
    for rx in [&slow, &fast] {
        subscribe_to_areas(&app, rx).await;
    }
    let _w = worker(&app, fast_config(&[0.05]));
    // The first event finds both receivers quick (nothing known yet): one claim may hold both.
    create_area(&app, "Before anyone was slow").await;
    assert_eq!(fast.wait_for(1, WAIT).await.len(), 1);
    assert_eq!(slow.wait_for(1, WAIT).await.len(), 1);
    // From its answer on, the slow receiver is claimed alone.
    actix_web::rt::time::sleep(Duration::from_millis(2600)).await;
    for i in 0..5 {
        create_area(&app, &format!("While one is slow {i}")).await;
    }
    let fast_got = fast.wait_for(6, WAIT).await;
    let slow_got = slow.wait_for(3, WAIT).await;
    assert_eq!((fast_got.len(), slow_got.len()), (6, 3));
    assert!(
        fast_got[5].at < slow_got[2].at,
        "the quick receiver had all five new events before the slow one had its second: \
         fast done {:?} after the slow one's first of them",
        fast_got[5].at.duration_since(slow_got[1].at)
    );
}

/// The worker's hand-written statements are prepared once per connection, so PostgreSQL does
/// not parse and plan them again on every claim (a statement run through diesel's `execute`
/// silently was not: bench/README.md, issue 15).
#[actix_web::test]
async fn the_workers_statements_stay_prepared_on_their_connection() {
    use diesel::connection::Connection;
    use portfolio_api::webhooks::claim;
    let app = local_app().await;
    let rx = Receiver::always(204);
    subscribe_to_areas(&app, &rx).await;
    create_area(&app, "Due").await;
    let mut conn = app.conn();
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        assert_eq!(claim::pending(conn)?, (false, true));
        let group = claim::due_group(conn)?;
        assert_eq!(group.len(), 1);
        assert_eq!(claim::due_events(conn, &group)?[0].len(), 1);
        claim::save(
            conn,
            &claim::Attempts::default(),
            &claim::CursorMoves::default(),
        )
    })
    .expect("one claim");
    // One mark of each: "anything due?", the claim, its events, the write-back.
    assert_prepared(
        &mut conn,
        &[
            "free AS",
            "first AS",
            "AS g(id, after, n)",
            "WITH logged AS",
        ],
    );
}

/// What three workers claim at once, each in its own open transaction (ids sorted per claim).
fn three_claims(app: &TestApp) -> Vec<Vec<uuid::Uuid>> {
    use diesel::connection::Connection;
    use portfolio_api::webhooks::claim::due_group;
    let ids = |conn: &mut diesel::PgConnection| -> diesel::QueryResult<Vec<uuid::Uuid>> {
        let mut v: Vec<_> = due_group(conn)?.iter().map(|c| c.id).collect();
        v.sort();
        Ok(v)
    };
    let (mut a, mut b, mut c) = (app.conn(), app.conn(), app.conn());
    a.transaction::<_, diesel::result::Error, _>(|a| {
        let first = ids(a)?;
        b.transaction(|b| {
            let second = ids(b)?;
            c.transaction(|c| Ok(vec![first, second, ids(c)?]))
        })
    })
    .expect("claims")
}

/// Sets a cursor's columns (`assignments` is SQL: test values only).
fn set_cursor(app: &TestApp, id: uuid::Uuid, assignments: &str) {
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "UPDATE webhook_cursors SET {assignments} WHERE subscription_id = $1"
    ))
    .bind::<diesel::sql_types::Uuid, _>(id)
    .execute(&mut app.conn())
    .expect("cursor updated");
}

#[actix_web::test]
async fn one_claim_takes_the_quick_subscriptions_together_and_a_slow_one_alone() {
    let app = local_app().await;
    let receivers: Vec<Receiver> = (0..3).map(|_| Receiver::always(200)).collect();
    let mut ids = Vec::new();
    for rx in &receivers {
        let s = subscribe(&app, OUS, json!({"url": rx.url()})).await;
        ids.push(
            s["id"]
                .as_str()
                .and_then(|i| i.parse::<uuid::Uuid>().ok())
                .expect("id"),
        );
    }
    create_area(&app, "Due for all three").await;
    let (q0, slow, q1) = (ids[0], ids[1], ids[2]);
    let sorted = |mut v: Vec<uuid::Uuid>| {
        v.sort();
        v
    };
    assert_eq!(
        three_claims(&app),
        vec![sorted(ids.clone()), vec![], vec![]],
        "all quick: one claim holds the three, the others find them locked"
    );

    // The one due first answered slowly last time: it goes alone, the quick two together.
    set_cursor(&app, q0, "next_attempt_at = now() - interval '2 minutes'");
    set_cursor(&app, q1, "next_attempt_at = now() - interval '2 minutes'");
    set_cursor(
        &app,
        slow,
        "last_duration_ms = 2000, next_attempt_at = now() - interval '3 minutes'",
    );
    assert_eq!(
        three_claims(&app),
        vec![vec![slow], sorted(vec![q0, q1]), vec![]]
    );

    // Due after them, it is left out of their group.
    set_cursor(&app, slow, "next_attempt_at = now() - interval '1 minute'");
    assert_eq!(
        three_claims(&app),
        vec![sorted(vec![q0, q1]), vec![slow], vec![]]
    );

    // A retrying one (its retry due first) goes alone too.
    set_cursor(
        &app,
        q0,
        "failed_attempts = 1, next_attempt_at = now() - interval '5 minutes'",
    );
    assert_eq!(three_claims(&app), vec![vec![q0], vec![q1], vec![slow]]);
}
