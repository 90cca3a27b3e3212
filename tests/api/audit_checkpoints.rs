//! Signed checkpoints anchor the audit chain's head: deleting the newest entries, or rewriting
//! one and recomputing the chain without the key, is detected against a checkpoint a reader
//! kept; a checkpoint changed in the database fails its own signature.

use chrono::{Datelike, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use portfolio_api::audit_key::AuditKeys;
use serde_json::{json, Value};

use crate::support::audit::audit_row;
use crate::support::{get, TestApp, HSO};

const MANAGE: &str = "portfolio:read portfolio:manage";
const READ: &str = "portfolio:read";
const KEY: &str = "prod-1:first-secret-of-at-least-32-characters";

async fn keyed_app() -> TestApp {
    TestApp::with_config(|c| {
        c.audit_keys = AuditKeys::new(KEY, &[]).expect("key");
    })
    .await
}

async fn create_area(app: &TestApp, name: &str) {
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2031, "name": name, "kind": "clinical"}))
        .send()
        .await
        .assert_status(201);
}

async fn checkpoint(app: &TestApp) -> Value {
    app.post("/api/v1/audit/checkpoints")
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .assert_status(201)
        .json()
}

async fn verify_against(app: &TestApp, against: impl std::fmt::Display) -> Value {
    app.get(&format!("/api/v1/audit/verify?against={against}"))
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .assert_status(200)
        .json()
}

/// Runs `sql` as the superuser with the append-only triggers switched off (the attacker).
fn tamper(conn: &mut PgConnection, sql: &str) {
    for s in [
        "SET session_replication_role = replica",
        sql,
        "SET session_replication_role = origin",
    ] {
        diesel::sql_query(s).execute(conn).expect(s);
    }
}

#[actix_web::test]
async fn an_untouched_chain_is_valid_against_a_checkpoint_and_checkpoints_are_listed() {
    let app = keyed_app().await;
    create_area(&app, "A").await;
    create_area(&app, "B").await;
    let cp = checkpoint(&app).await;
    assert_eq!(cp["seq"], 2, "{cp}");
    assert_eq!(cp["key_id"], "prod-1");
    assert!(cp["signature"]
        .as_str()
        .is_some_and(|s| s.starts_with("prod-1:")));
    // The chain grows after the checkpoint: still valid against it.
    create_area(&app, "C").await;
    let report = verify_against(&app, &cp["id"]).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["against"]["result"], "valid", "{report}");
    assert_eq!(report["against"]["checkpoint"], cp);
    assert!(report["against"].get("first_bad_seq").is_none());

    let second = checkpoint(&app).await;
    assert_eq!(second["seq"], 3);
    let page = app
        .get("/api/v1/audit/checkpoints?limit=1")
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(page["items"][0]["id"], second["id"], "newest first: {page}");
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let rest = app
        .get(&format!(
            "/api/v1/audit/checkpoints?limit=1&cursor={cursor}"
        ))
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(rest["items"][0]["id"], cp["id"], "{rest}");

    // Readers may neither publish nor list checkpoints; unknown checkpoints are 404.
    app.post("/api/v1/audit/checkpoints")
        .auth(READ, Some(HSO))
        .refused(403)
        .await;
    app.get("/api/v1/audit/checkpoints")
        .auth(READ, Some(HSO))
        .refused(403)
        .await;
    app.get("/api/v1/audit/verify?against=999")
        .auth(MANAGE, Some(HSO))
        .refused(404)
        .await;
    app.get("/api/v1/audit/verify?against=newest")
        .auth(MANAGE, Some(HSO))
        .refused(422)
        .await;
}

#[actix_web::test]
async fn deleting_the_newest_entries_is_detected_against_the_latest_checkpoint() {
    let app = keyed_app().await;
    for n in ["A", "B", "C"] {
        create_area(&app, n).await;
    }
    let cp = checkpoint(&app).await;
    assert_eq!(cp["seq"], 3);
    create_area(&app, "D").await;

    // The attacker removes the tail: what is left is a perfectly chained prefix.
    tamper(&mut app.conn(), "DELETE FROM audit_log WHERE id >= 3");
    let plain = app
        .get("/api/v1/audit/verify")
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .assert_status(200)
        .json();
    assert_eq!(
        plain["valid"], true,
        "without a checkpoint the cut is invisible"
    );

    let report = verify_against(&app, "latest").await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["against"]["result"], "truncated", "{report}");
    assert_eq!(report["against"]["first_bad_seq"], 3, "{report}");
}

#[actix_web::test]
async fn rewriting_an_entry_and_recomputing_without_the_key_is_reported_as_rewritten() {
    let app = keyed_app().await;
    for n in ["A", "B", "C"] {
        create_area(&app, n).await;
    }
    let cp = checkpoint(&app).await;

    // Rewrite entry 2 and recompute the chain from there on, the way the code does but with
    // the public development key (the real one is not in the database), keeping the key id.
    let mut conn = app.conn();
    let mut prev: Option<String> = None;
    for id in 2..=3 {
        let e = audit_row(&mut conn, id);
        let mut after = e.after.clone().expect("after");
        if id == 2 {
            after["name"] = json!("Forfalsket");
        }
        let prev_hash = prev.clone().unwrap_or(e.prev_hash.clone());
        let before = e
            .before
            .as_ref()
            .and_then(portfolio_api::changes::canonical);
        let hash = portfolio_api::changes::entry_hash(
            &prev_hash,
            id,
            &e.occurred_at,
            &e.actor_subject,
            e.actor_org.as_deref(),
            &e.action,
            &e.entity_type,
            &e.entity_id,
            before.as_deref(),
            portfolio_api::changes::canonical(&after).as_deref(),
            &e.request_id,
        );
        let hash = match hash.split_once(':') {
            Some((_, mac)) => format!("prod-1:{mac}"),
            None => hash,
        };
        tamper(
            &mut conn,
            &format!(
                "UPDATE audit_log SET after = '{}'::jsonb, prev_hash = '{prev_hash}', \
                 hash = '{hash}' WHERE id = {id}",
                after.to_string().replace('\'', "''")
            ),
        );
        prev = Some(hash);
    }
    let report = verify_against(&app, &cp["id"]).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["against"]["result"], "rewritten", "{report}");
    assert_eq!(report["against"]["first_bad_seq"], 2, "{report}");
}

#[actix_web::test]
async fn a_checkpoint_changed_in_the_database_fails_its_signature() {
    let app = keyed_app().await;
    for n in ["A", "B", "C"] {
        create_area(&app, n).await;
    }
    let cp = checkpoint(&app).await;
    let id = cp["id"].as_i64().expect("id");

    // The table is append-only, even for its owner while the triggers are on …
    let e = diesel::sql_query(format!(
        "UPDATE audit_checkpoints SET seq = 1 WHERE id = {id}"
    ))
    .execute(&mut app.conn())
    .expect_err("append-only");
    assert!(e.to_string().contains("append-only"), "{e}");
    // … and the serving role may only read and append.
    let mut serving = PgConnection::establish(&app.serving_url).expect("serving role");
    for sql in [
        format!("UPDATE audit_checkpoints SET seq = 1 WHERE id = {id}"),
        "DELETE FROM audit_checkpoints".to_owned(),
        "TRUNCATE audit_checkpoints".to_owned(),
    ] {
        let e = diesel::sql_query(&sql)
            .execute(&mut serving)
            .expect_err(&sql);
        assert!(e.to_string().contains("permission denied"), "{sql}: {e}");
    }

    // A superuser who cut the chain moves the checkpoint back to match: the signature says no.
    tamper(&mut app.conn(), "DELETE FROM audit_log WHERE id = 3");
    tamper(
        &mut app.conn(),
        &format!(
            "UPDATE audit_checkpoints SET seq = 2, head_hash = \
             (SELECT hash FROM audit_log WHERE id = 2) WHERE id = {id}"
        ),
    );
    let report = verify_against(&app, id).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["against"]["result"], "forged_checkpoint", "{report}");
}

#[actix_web::test]
async fn a_published_tertial_report_carries_a_checkpoint_of_the_chain() {
    let app = keyed_app().await;
    create_area(&app, "A").await;
    let year = Utc::now().year();
    let tertial = Utc::now().month0() / 4 + 1;
    let report = app
        .post("/api/v1/tertial-reports")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": year, "tertial": tertial}))
        .send()
        .await
        .assert_status(201)
        .json();
    assert!(report["content"].get("audit_checkpoint").is_none());
    let path = format!(
        "/api/v1/tertial-reports/{}",
        report["id"].as_str().expect("id")
    );
    let published = app
        .post(&format!("{path}/publish"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .send()
        .await
        .assert_status(200)
        .json();
    let cp = &published["content"]["audit_checkpoint"];
    // The head when publishing: the area and the draft's creation.
    assert_eq!(cp["seq"], 2, "{published}");
    assert_eq!(cp["key_id"], "prod-1");
    // The stored, frozen report carries the same checkpoint, and it verifies.
    let again = get(&app, &path).await;
    assert_eq!(&again["content"]["audit_checkpoint"], cp);
    let report = verify_against(&app, &cp["id"]).await;
    assert_eq!(report["against"]["result"], "valid", "{report}");
    assert_eq!(&report["against"]["checkpoint"], cp);
}

/// The real binary serving the test's database with a short checkpoint period.
fn serve_with_checkpoints_every(app: &TestApp, minutes: &str) -> crate::binary::Server {
    crate::binary::serve_database(
        &app.url,
        &[
            ("PORTFOLIO_AUDIT_KEY", KEY),
            ("PORTFOLIO_AUDIT_CHECKPOINT_MINUTES", minutes),
            ("PORTFOLIO_WEBHOOK_WORKERS", "0"),
        ],
    )
}

async fn checkpoints(app: &TestApp) -> Vec<Value> {
    let page = app
        .get("/api/v1/audit/checkpoints")
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .assert_status(200)
        .json();
    page["items"].as_array().expect("items").clone()
}

/// Polls (bounded) until there are `n` checkpoints; returns them, newest first.
async fn wait_for_checkpoints(app: &TestApp, n: usize) -> Vec<Value> {
    for _ in 0..150 {
        let list = checkpoints(app).await;
        if list.len() >= n {
            return list;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "no {n} checkpoint(s) within 15 s: {:?}",
        checkpoints(app).await
    );
}

#[actix_web::test]
async fn the_server_publishes_a_checkpoint_on_its_own_whenever_the_head_moved() {
    let app = keyed_app().await;
    create_area(&app, "A").await;
    create_area(&app, "B").await;
    // Every 0.6 s, so the test sees several periods pass.
    let server = serve_with_checkpoints_every(&app, "0.01");

    let first = wait_for_checkpoints(&app, 1).await;
    assert_eq!(first[0]["seq"], 2, "the head at the time: {first:?}");
    assert_eq!(first[0]["key_id"], "prod-1");
    // Periods pass while the head stands still: nothing new is published.
    actix_web::rt::time::sleep(std::time::Duration::from_millis(2000)).await;
    assert_eq!(
        checkpoints(&app).await.len(),
        1,
        "no checkpoint for an unmoved head"
    );

    create_area(&app, "C").await;
    let both = wait_for_checkpoints(&app, 2).await;
    drop(server);
    assert_eq!(both[0]["seq"], 3, "{both:?}");
    let report = verify_against(&app, "latest").await;
    assert_eq!(report["against"]["result"], "valid", "{report}");
}
