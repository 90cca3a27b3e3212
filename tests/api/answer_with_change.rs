//! The answer to an `Idempotency-Key` is stored in the transaction of the change: both commit
//! or neither. Storing the answer failing rolls the change back (503, a retry runs once); a
//! request that reads after its change answers from its own, not yet committed, change; many
//! concurrent idempotent POSTs on a pool of one neither starve nor deadlock.

use diesel::RunQueryDsl;
use serde_json::{json, Value};

use crate::binary::{free_addr, http_with, serve_database};
use crate::support::{
    etag_of, id_of, need_body, open_cycle, report, TestApp, HSO, MANAGE, OUS, READ, SUBMIT,
};

const AREAS: &str = "/api/v1/service-areas";

fn area(name: &str) -> Value {
    json!({"year": 2032, "name": name, "kind": "administrative"})
}

fn execute(app: &TestApp, sql: &str) {
    diesel::sql_query(sql)
        .execute(&mut app.conn())
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[actix_web::test]
async fn a_failure_to_store_the_answer_rolls_the_change_back_and_a_retry_runs_once() {
    let app = TestApp::new().await;
    let (areas, events, audit) = (
        app.count("service_areas"),
        app.count("events"),
        app.count("audit_log"),
    );
    // As the owner of the test database: writing any answer to a key fails.
    execute(
        &app,
        "CREATE FUNCTION refuse_answers() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'the test refuses to store answers'; END $$",
    );
    execute(
        &app,
        "CREATE TRIGGER refuse_answers BEFORE UPDATE ON idempotent_requests FOR EACH ROW \
         WHEN (NEW.state = 'done') EXECUTE FUNCTION refuse_answers()",
    );
    let send = || {
        app.post(AREAS)
            .auth(MANAGE, Some(HSO))
            .header("Idempotency-Key", "answer-fails-1")
            .json(&area("Lagres sammen"))
            .send()
    };
    let failed = send().await;
    let problem = failed.assert_problem(503);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("nothing was changed")),
        "{problem}"
    );
    assert_eq!(app.count("service_areas"), areas, "the change rolled back");
    assert_eq!(app.count("events"), events, "no feed event");
    assert_eq!(app.count("audit_log"), audit, "no audit entry");
    assert_eq!(app.count("idempotent_requests"), 0, "and no claim");

    execute(&app, "DROP TRIGGER refuse_answers ON idempotent_requests");
    let created = send().await;
    created.assert_status(201);
    assert!(created.header("idempotent-replayed").is_none());
    let replayed = send().await;
    replayed.assert_status(201);
    assert_eq!(
        replayed.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(replayed.body, created.body);
    assert_eq!(app.count("service_areas"), areas + 1, "exactly once");
    assert_eq!(app.count("events"), events + 1);
}

#[actix_web::test]
async fn a_post_that_reads_after_its_change_answers_from_that_change() {
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    let need = report(&app, OUS, &need_body(2022, "Felles journal")).await;
    let url = format!("/api/v1/needs/{}", id_of(&need));
    // Withdrawing reads the need's dependencies after its change (in the held transaction).
    let withdraw = || {
        app.post(&format!("{url}/withdraw"))
            .auth(SUBMIT, Some(OUS))
            .header("If-Match", &etag_of(&need))
            .header("Idempotency-Key", "withdraw-1")
            .json(&json!({"reason": "Dekkes nasjonalt"}))
            .send()
    };
    let first = withdraw().await;
    first.assert_status(200);
    let body = first.json();
    assert_eq!(body["status"], "withdrawn");
    assert_eq!(body["version"], 2);
    assert_eq!(body["dependencies"], json!([]), "{body}");
    // Committed with its answer: a reader sees it, a retry gets the same answer.
    let read: Value = app
        .get(&url)
        .auth(READ, Some(OUS))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(read["status"], "withdrawn");
    let again = withdraw().await;
    again.assert_status(200);
    assert_eq!(again.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(again.body, first.body);
}

/// Sends one request to the binary; the status and body.
fn send(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let (status, _, body) = http_with(addr, method, path, headers, body);
    (status, body)
}

#[actix_web::test]
async fn many_concurrent_idempotent_posts_on_a_pool_of_one_neither_starve_nor_deadlock() {
    const WITHDRAWALS: usize = 12;
    const CREATES: usize = 12;
    const PLAIN: usize = 6;
    const RETRIES: usize = 4;
    const READS: usize = 6;
    let app = TestApp::new().await;
    open_cycle(&app, 2022).await;
    let mut needs = Vec::new();
    for i in 0..WITHDRAWALS {
        needs.push(report(&app, OUS, &need_body(2022, &format!("Behov {i}"))).await);
    }
    let (areas, events) = (app.count("service_areas"), app.count("events"));

    // One database thread and one held transaction at a time: every request beyond that
    // waits for them, and the held ones must finish without either.
    let addr = free_addr();
    let mut server = serve_database(
        &app.url,
        &[
            ("PORTFOLIO_BIND", addr.as_str()),
            ("PORTFOLIO_DB_POOL_SIZE", "1"),
            ("PORTFOLIO_WEBHOOK_WORKERS", "0"),
        ],
    );
    server.addr = addr.clone();
    server
        .wait_ready(std::time::Duration::from_secs(60))
        .expect("the server started");
    let submit = format!("Bearer {}", app.token(SUBMIT, Some(OUS)));
    let manage = format!("Bearer {}", app.token(MANAGE, Some(HSO)));

    let mut threads = Vec::new();
    let spawn = |threads: &mut Vec<_>,
                 f: Box<dyn FnOnce() -> (&'static str, u16, String) + Send>| {
        threads.push(std::thread::spawn(f));
    };
    for (i, need) in needs.iter().enumerate() {
        let (addr, auth) = (addr.clone(), submit.clone());
        let (path, etag) = (
            format!("/api/v1/needs/{}/withdraw", id_of(need)),
            etag_of(need),
        );
        spawn(
            &mut threads,
            Box::new(move || {
                let key = format!("withdraw-{i}");
                let headers = [
                    ("Authorization", auth.as_str()),
                    ("If-Match", etag.as_str()),
                    ("Idempotency-Key", key.as_str()),
                ];
                let (s, b) = send(
                    &addr,
                    "POST",
                    &path,
                    &headers,
                    Some(r#"{"reason":"Samtidig"}"#),
                );
                ("withdraw", s, b)
            }),
        );
    }
    for i in 0..CREATES + PLAIN + RETRIES {
        let (addr, auth) = (addr.clone(), manage.clone());
        spawn(
            &mut threads,
            Box::new(move || {
                // The retries all send the first create's key and body.
                let n = if i >= CREATES + PLAIN { 0 } else { i };
                let key = format!("create-{n}");
                let body = area(&format!("Samtidig {n}")).to_string();
                let mut headers = vec![("Authorization", auth.as_str())];
                let kind = if (CREATES..CREATES + PLAIN).contains(&i) {
                    "plain"
                } else {
                    headers.push(("Idempotency-Key", key.as_str()));
                    if i < CREATES {
                        "create"
                    } else {
                        "retry"
                    }
                };
                let (s, b) = send(&addr, "POST", AREAS, &headers, Some(&body));
                (kind, s, b)
            }),
        );
    }
    for _ in 0..READS {
        let (addr, auth) = (addr.clone(), manage.clone());
        spawn(
            &mut threads,
            Box::new(move || {
                let (s, b) = send(
                    &addr,
                    "GET",
                    "/api/v1/needs?year=2022",
                    &[("Authorization", auth.as_str())],
                    None,
                );
                ("read", s, b)
            }),
        );
    }
    let answers: Vec<(&str, u16, String)> = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();

    for (kind, status, body) in &answers {
        let expected: &[u16] = match *kind {
            "withdraw" | "read" => &[200],
            "create" | "plain" => &[201],
            // A retry while the first runs is 409; once it committed, its answer is replayed.
            _ => &[201, 409],
        };
        assert!(expected.contains(status), "{kind}: {status} {body}");
        if *kind == "withdraw" {
            let need: Value = serde_json::from_str(body).expect("json");
            assert_eq!(need["status"], "withdrawn");
            assert_eq!(need["version"], 2);
        }
    }
    let created = CREATES + PLAIN;
    assert_eq!(
        app.count("service_areas"),
        areas + created as i64,
        "each create once"
    );
    assert_eq!(
        app.count("events"),
        events + (created + WITHDRAWALS) as i64,
        "one change per request"
    );
    assert_eq!(
        app.count("idempotent_requests"),
        (WITHDRAWALS + CREATES) as i64,
        "one answer per key"
    );
}
