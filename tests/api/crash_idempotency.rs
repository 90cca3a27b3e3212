//! A crash never blocks a retry and never runs a POST twice: the server is killed with
//! `kill -9` while it applies a large delivery-status batch sent with an `Idempotency-Key`;
//! the database holds all of the batch or none of it; after a restart, an immediate retry with
//! the same key is processed exactly once.

use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};

use crate::binary::{dev_token, free_addr, start};
use crate::support::SYKEHUSPARTNER;

const MEASURES: usize = 4000;
const BATCHES: &str = "/api/v1/delivery-status/batches";

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(url: &str, sql: &str) -> i64 {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(sql)
        .get_result::<N>(&mut conn)
        .expect(sql)
        .n
}

fn batch(progress: u8, comment: &str) -> String {
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let items: Vec<String> = (1..=MEASURES)
        .map(|i| {
            format!(
                r#"{{"reference":"SP-42-2022-{i:06}","progress":{progress},"rag":"green","comment":"{comment}","reported_by":"Sykehuspartner HF","source_timestamp":"{ts}"}}"#
            )
        })
        .collect();
    format!(r#"{{"items":[{}]}}"#, items.join(","))
}

fn socket_url(data: &std::path::Path) -> String {
    let host: String = data
        .to_string_lossy()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("postgres://postgres@/portfolio?host={host}")
}

fn post_with_key(addr: &str, token: &str, key: &str, body: &str) -> (u16, String, String) {
    // The binary helper sends no extra headers; add the key by hand.
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new(), String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let head = format!(
        "POST {BATCHES} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if s.write_all(head.as_bytes()).is_err() || s.write_all(body.as_bytes()).is_err() {
        return (0, String::new(), String::new());
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn kill_9_mid_batch_then_a_retry_with_the_same_key_runs_exactly_once() {
    let dir = std::env::temp_dir().join(format!("portfolio-test-pg-{}-idem", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let data = dir.join("postgres");
    let data_str = data.to_str().expect("utf-8").to_owned();
    let log = dir.join("server.log");
    let show_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portfolio-api"))
        .args(["generate", "--measures", &MEASURES.to_string()])
        .env_remove("DATABASE_URL")
        .env("PORTFOLIO_DATA_DIR", &data_str)
        .output()
        .expect("generate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = [("PORTFOLIO_DATA_DIR", data_str.as_str())];
    let addr = free_addr();
    let token = dev_token(&["portfolio:read", "portfolio:sync"], Some(SYKEHUSPARTNER));

    let mut server = start(&addr, &env, &log);
    server
        .wait_ready(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("start failed:\n{}", show_log()));
    let db = socket_url(&std::fs::canonicalize(&data).expect("data dir"));
    // How long a batch takes, to kill the server in the middle of the next one.
    let started = Instant::now();
    let (status, _, body) = post_with_key(&addr, &token, "warm-up", &batch(10, "warm"));
    assert_eq!(status, 201, "{body}");
    let took = started.elapsed();

    let crash_body = batch(77, "crash");
    let sender = {
        let (addr, token, body) = (addr.clone(), token.clone(), crash_body.clone());
        std::thread::spawn(move || post_with_key(&addr, &token, "sync-crash-1", &body))
    };
    std::thread::sleep(took / 2);
    server.kill9();
    let _ = sender.join();

    let mut server = start(&addr, &env, &log);
    server
        .wait_ready(Duration::from_secs(120))
        .unwrap_or_else(|| panic!("restart failed:\n{}", show_log()));
    // All or nothing of the interrupted batch.
    let crash_rows = "SELECT count(*) AS n FROM measure_delivery_history WHERE comment = 'crash'";
    let applied = count(&db, crash_rows);
    assert!(
        applied == 0 || applied == MEASURES as i64,
        "half a batch: {applied}"
    );

    // The immediate retry is processed (or replayed), never refused as "in flight".
    let (status, _, body) = post_with_key(&addr, &token, "sync-crash-1", &crash_body);
    assert_eq!(status, 201, "retry after the crash: {body}");
    assert_eq!(count(&db, crash_rows), MEASURES as i64, "exactly once");
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM delivery_batches"),
        2,
        "the warm-up and the crash batch, once"
    );
    // And replayed from then on.
    let (status, head, _) = post_with_key(&addr, &token, "sync-crash-1", &crash_body);
    assert_eq!(status, 201);
    assert!(head.contains("idempotent-replayed: true"), "{head}");
    eprintln!("batch of {MEASURES} took {took:?}; killed after {:?}; interrupted batch had {applied} rows", took / 2);
    server.stop();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
