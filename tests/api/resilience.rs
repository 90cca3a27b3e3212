//! When PostgreSQL is down, requests fail fast with 503 + Retry-After, readiness says
//! not-ready, and service resumes by itself when the database is back.
//!
//! The shared test cluster cannot be stopped, so this test runs its own private cluster on a
//! dedicated thread (the postmaster's parent-death signal is tied to the thread that started
//! it) and tells that thread when to stop and start it.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection};
use portfolio_api::db;
use portfolio_api::pg_cluster::{ClusterOptions, PrivateCluster};
use serde_json::json;

use crate::support::{TestApp, HSO, MANAGE, READ};

enum Cmd {
    Stop,
    Start,
}

/// Owns a cluster on its own thread; `stop`/`start` block until done.
struct ClusterThread {
    tx: mpsc::Sender<Cmd>,
    done: mpsc::Receiver<Result<(), String>>,
    url: String,
}

impl ClusterThread {
    fn spawn(dir: std::path::PathBuf) -> ClusterThread {
        let (tx, rx) = mpsc::channel::<Cmd>();
        let (done_tx, done) = mpsc::channel();
        let (url_tx, url_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let options = ClusterOptions {
                throwaway: true,
                database: "resilience".into(),
                max_connections: 30,
            };
            let mut cluster = match PrivateCluster::start(&dir, &options) {
                Ok(c) => c,
                Err(e) => {
                    url_tx.send(Err(e.to_string())).ok();
                    return;
                }
            };
            url_tx.send(Ok(cluster.url_for("resilience"))).ok();
            // Ends when the test drops its sender; the cluster stops with it.
            while let Ok(cmd) = rx.recv() {
                let result = match cmd {
                    Cmd::Stop => {
                        cluster.stop();
                        Ok(())
                    }
                    Cmd::Start => PrivateCluster::start(&dir, &options)
                        .map(|c| cluster = c)
                        .map_err(|e| e.to_string()),
                };
                done_tx.send(result).ok();
            }
            drop(cluster);
            let _ = std::fs::remove_dir_all(&dir);
        });
        let url = url_rx
            .recv()
            .expect("cluster thread")
            .expect("start the resilience cluster");
        ClusterThread { tx, done, url }
    }

    fn run(&self, cmd: Cmd) {
        self.tx.send(cmd).expect("cluster thread alive");
        self.done
            .recv()
            .expect("cluster thread answered")
            .expect("cluster command");
    }
}

#[actix_web::test]
async fn database_down_is_503_with_retry_after_and_service_resumes() {
    let dir = std::env::temp_dir().join(format!(
        "portfolio-test-pg-{}-resilience",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let cluster = ClusterThread::spawn(dir);
    {
        let mut conn = PgConnection::establish(&cluster.url).expect("connect");
        db::run_migrations(&mut conn).expect("migrate");
    }
    let app = TestApp::on_database(&cluster.url, |_| {}).await;

    app.get("/health/ready").send().await.assert_status(200);
    app.get("/api/v1/organisations")
        .auth(READ, None)
        .send()
        .await
        .assert_status(200);

    cluster.run(Cmd::Stop);

    // Reads, writes and readiness fail fast with 503 + Retry-After, never a 500 or a hang.
    for round in 0..3 {
        for (method, path) in [
            ("GET", "/api/v1/organisations"),
            ("POST", "/api/v1/service-areas"),
            ("GET", "/health/ready"),
        ] {
            let started = Instant::now();
            let req = if method == "GET" {
                app.get(path).auth(READ, None)
            } else {
                app.post(path).auth(MANAGE, Some(HSO)).json(
                    &json!({"year": 2034, "name": format!("Nede {round}"), "kind": "clinical"}),
                )
            };
            let r = req.send().await;
            let took = started.elapsed();
            r.assert_problem(503);
            let retry: u64 = r
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .expect("seconds");
            assert!(retry >= 1);
            assert!(
                took < Duration::from_secs(5),
                "{method} {path} took {took:?} (round {round})"
            );
        }
    }
    // Liveness does not depend on the database.
    app.get("/health/live").send().await.assert_status(200);

    cluster.run(Cmd::Start);

    // Service resumes by itself (the pool replaces its broken connections).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.get("/health/ready").send().await;
        if r.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not ready again: {}", r.text());
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    // At most one failure per pooled connection that died with the server, then all well.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = app
            .post("/api/v1/service-areas")
            .auth(MANAGE, Some(HSO))
            .json(&json!({"year": 2034, "name": format!("Oppe {i}"), "kind": "clinical"}))
            .send()
            .await;
        if r.status != 201 {
            r.assert_problem(503);
        }
        statuses.push(r.status.as_u16());
    }
    assert!(
        statuses[8..].iter().all(|s| *s == 201),
        "writes work again: {statuses:?}"
    );
    app.get("/api/v1/organisations")
        .auth(READ, None)
        .send()
        .await
        .assert_status(200);
    drop(app);
    drop(cluster);
}

/// The circuit breaker: with the database down, 30 concurrent requests all get their 503
/// problem+json within 200 ms (no request waits for a connection attempt), and service is back
/// within 2 s of the database.
#[actix_web::test]
async fn database_down_answers_fast_and_recovers_quickly() {
    let dir =
        std::env::temp_dir().join(format!("portfolio-test-pg-{}-breaker", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cluster = ClusterThread::spawn(dir);
    {
        let mut conn = PgConnection::establish(&cluster.url).expect("connect");
        db::run_migrations(&mut conn).expect("migrate");
    }
    let app = TestApp::on_database(&cluster.url, |_| {}).await;
    const READ: &str = "portfolio:read";
    let token = app.token(READ, None);
    // Warm: every pooled connection open.
    for _ in 0..8 {
        app.get("/api/v1/organisations")
            .token(&token)
            .send()
            .await
            .assert_status(200);
    }

    cluster.run(Cmd::Stop);

    let paths = [
        "/api/v1/organisations",
        "/api/v1/organisations/991324968",
        "/health/ready",
    ];
    let started = Instant::now();
    let requests = (0..30).map(|i| {
        let path = paths[i % paths.len()];
        let req = app.get(path).token(&token);
        async move {
            let r = req.send().await;
            (path, r, started.elapsed())
        }
    });
    let results = futures_util::future::join_all(requests).await;
    let mut latencies: Vec<Duration> = results.iter().map(|(_, _, t)| *t).collect();
    latencies.sort();
    eprintln!(
        "database down, 30 concurrent requests: p50 {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    for (path, r, _) in &results {
        let p = r.assert_problem(503);
        assert!(r.header("retry-after").is_some(), "{path}: {p}");
    }
    assert!(
        latencies[latencies.len() - 1] <= Duration::from_millis(200),
        "slowest 503 took {:?}",
        latencies[latencies.len() - 1]
    );
    // Readiness answers at once, with a reason.
    let t = Instant::now();
    let p = app.get("/health/ready").send().await.assert_problem(503);
    assert!(t.elapsed() <= Duration::from_millis(200));
    assert!(
        p["detail"].as_str().unwrap_or("").contains("database"),
        "{p}"
    );

    cluster.run(Cmd::Start);
    let back = Instant::now();
    loop {
        let r = app.get("/api/v1/organisations").token(&token).send().await;
        if r.status == 200 {
            break;
        }
        assert!(
            back.elapsed() <= Duration::from_secs(2),
            "no 200 within 2 s of the database's return: {}",
            r.text()
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("database back: first 200 after {:?}", back.elapsed());
    drop(app);
    drop(cluster);
}
