//! The change feed and the audit trail: every committed change exactly once, in commit order;
//! an append-only, hash-chained audit trail that names the first tampered entry.

use std::collections::HashSet;

use diesel::RunQueryDsl;
use futures_util::future::join_all;
use portfolio_api::routes::changelog::Event;
use serde_json::{json, Value};

use crate::support::tables::assert_prepared;
use crate::support::{TestApp, HSO, MANAGE, READ};

async fn create_area(app: &TestApp, name: &str) -> Value {
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2031, "name": name, "kind": "clinical"}))
        .send()
        .await
        .assert_status(201)
        .json()
}

/// Follows the feed from the start in pages of `limit`, as a consumer would.
async fn follow_feed(app: &TestApp, limit: usize, filter: &str) -> Vec<Value> {
    let mut after = 0;
    let mut out = Vec::new();
    loop {
        let page: Value = app
            .get(&format!(
                "/api/v1/events?after={after}&limit={limit}{filter}"
            ))
            .auth(READ, None)
            .returns(200)
            .await;
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit);
        let next = page["next_after"].as_i64().expect("next_after");
        if items.is_empty() {
            assert_eq!(next, after, "an empty page keeps the cursor");
            return out;
        }
        assert_eq!(Some(next), items.last().and_then(|e| e["seq"].as_i64()));
        after = next;
        out.extend(items);
    }
}

async fn verify(app: &TestApp) -> Value {
    app.get("/api/v1/audit/verify")
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .assert_status(200)
        .json()
}

#[actix_web::test]
async fn n_concurrent_changes_give_exactly_n_events_without_gaps_and_one_chain() {
    let app = TestApp::new().await;
    const N: usize = 24;
    let names: Vec<String> = (0..N).map(|i| format!("Område {i}")).collect();
    let created = join_all(names.iter().map(|n| create_area(&app, n))).await;
    let ids: HashSet<String> = created
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), N);

    let events = follow_feed(&app, 5, "").await;
    assert_eq!(events.len(), N, "exactly one event per change");
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..first + N as i64).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
    let feed_ids: HashSet<String> = events
        .iter()
        .map(|e| e["entity_id"].as_str().expect("entity_id").to_owned())
        .collect();
    assert_eq!(feed_ids, ids);
    for e in &events {
        assert_eq!(e["entity_type"], "service_area");
        assert_eq!(e["action"], "created");
        assert_eq!(e["version"], 1);
        assert_eq!(e["actor"]["subject"], "test-user");
        assert_eq!(e["actor"]["org_number"], HSO);
    }
    assert_eq!(app.count("events"), N as i64);

    // Concurrent writers never fork the chain: ids 1..N, each linked to its predecessor.
    let report = verify(&app).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries_checked"], N as i64);
    assert!(report.get("first_broken").is_none());
}

#[actix_web::test]
async fn the_feed_filters_by_entity_type_and_resumes_from_a_cursor() {
    let app = TestApp::new().await;
    let area = create_area(&app, "Feed").await;
    app.post("/api/v1/organisations")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"org_number": "923609016", "name": "Eksempel Leverandør AS", "kind": "supplier"}))
        .responds(201).await;
    let id = area["id"].as_str().expect("id");
    app.patch(&format!("/api/v1/service-areas/{id}"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .json(&json!({"name": "Feed 2"}))
        .responds(200)
        .await;

    let all = follow_feed(&app, 2, "").await;
    let events: Vec<Event> = all
        .iter()
        .map(|e| serde_json::from_value(e.clone()).expect("an Event"))
        .collect();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.entity_type.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("service_area", "created"),
            ("organisation", "created"),
            ("service_area", "renamed")
        ]
    );
    assert_eq!(all[2]["version"], 2);

    let areas = follow_feed(&app, 10, "&entity_type=service_area").await;
    assert_eq!(areas.len(), 2);
    let orgs = follow_feed(&app, 10, "&entity_type=organisation").await;
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["entity_id"], "923609016");

    // Resume after the first event: the rest, nothing twice.
    let after = all[0]["seq"].as_i64().expect("seq");
    let rest = app
        .get(&format!("/api/v1/events?after={after}"))
        .auth(READ, None)
        .send()
        .await
        .json();
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(2));
}

#[actix_web::test]
async fn feed_and_audit_reject_bad_queries_and_missing_permissions() {
    let app = TestApp::new().await;
    for q in [
        "limit=0",
        "limit=1001",
        "after=-1",
        "entity_type=Service-Area",
        "after=abc",
    ] {
        let p = app
            .get(&format!("/api/v1/events?{q}"))
            .auth(READ, None)
            .send()
            .await
            .assert_problem(422);
        assert!(
            p["errors"][0]["pointer"]
                .as_str()
                .is_some_and(|s| s.starts_with("/query")),
            "{q}: {p}"
        );
    }
    app.get("/api/v1/audit?entity_type=x&cursor=nonsense")
        .auth(MANAGE, None)
        .refused(422)
        .await;
    app.get("/api/v1/events").refused(401).await;
    app.get("/api/v1/events")
        .auth("portfolio:submit", Some(HSO))
        .refused(403)
        .await;
    for path in ["/api/v1/audit", "/api/v1/audit/verify"] {
        app.get(path).auth(READ, Some(HSO)).refused(403).await;
    }
}

#[actix_web::test]
async fn the_audit_trail_has_actor_time_before_after_and_request_id() {
    let app = TestApp::new().await;
    let area = create_area(&app, "Revisjon").await;
    let id = area["id"].as_str().expect("id").to_owned();
    let renamed = app
        .patch(&format!("/api/v1/service-areas/{id}"))
        .auth(MANAGE, Some(HSO))
        .header("If-Match", "\"v1\"")
        .header("X-Request-Id", "rename-req-1")
        .json(&json!({"name": "Revisjon 2"}))
        .send()
        .await;
    renamed.assert_status(200);
    create_area(&app, "Annet").await;

    let page: Value = app
        .get(&format!(
            "/api/v1/audit?entity_type=service_area&entity_id={id}&limit=1"
        ))
        .auth(MANAGE, Some(HSO))
        .returns(200)
        .await;
    let first = &page["items"][0];
    assert_eq!(first["action"], "created");
    assert!(first["before"].is_null());
    assert_eq!(first["after"]["name"], "Revisjon");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let page2: Value = app
        .get(&format!(
            "/api/v1/audit?entity_type=service_area&entity_id={id}&limit=1&cursor={cursor}"
        ))
        .auth(MANAGE, Some(HSO))
        .returns(200)
        .await;
    let entry = &page2["items"][0];
    assert!(page2.get("next_cursor").is_none());
    assert_eq!(entry["action"], "renamed");
    assert_eq!(entry["entity_id"], id.as_str());
    assert_eq!(entry["actor"]["subject"], "test-user");
    assert_eq!(entry["actor"]["org_number"], HSO);
    assert_eq!(entry["request_id"], "rename-req-1");
    assert_eq!(entry["before"]["name"], "Revisjon");
    assert_eq!(entry["after"]["name"], "Revisjon 2");
    assert_eq!(entry["prev_hash"], first["hash"]);
    assert!(entry["occurred_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // Everything, in order.
    let all = app
        .get("/api/v1/audit")
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .json();
    let ids: Vec<i64> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
}

#[actix_web::test]
async fn denied_attempts_are_audited_but_not_in_the_feed() {
    let app = TestApp::new().await;
    app.post("/api/v1/service-areas")
        .auth(READ, Some(HSO))
        .header("X-Request-Id", "denied-1")
        .json(&json!({"year": 2031, "name": "Nei", "kind": "clinical"}))
        .refused(403)
        .await;
    assert_eq!(app.count("service_areas"), 16, "nothing written");
    assert_eq!(app.count("events"), 0);
    // Unauthenticated: nobody to attribute it to, nothing logged.
    app.post("/api/v1/service-areas")
        .json(&json!({"year": 2031, "name": "Nei", "kind": "clinical"}))
        .refused(401)
        .await;

    let page = app
        .get("/api/v1/audit?entity_type=endpoint")
        .auth(MANAGE, Some(HSO))
        .send()
        .await
        .json();
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["action"], "denied");
    assert_eq!(items[0]["entity_id"], "POST /api/v1/service-areas");
    assert_eq!(items[0]["request_id"], "denied-1");
    assert_eq!(items[0]["actor"]["org_number"], HSO);
    assert_eq!(verify(&app).await["valid"], true);
}

#[actix_web::test]
async fn audit_rows_cannot_be_updated_deleted_or_truncated() {
    let app = TestApp::new().await;
    create_area(&app, "Fast").await;
    let mut conn = app.conn();
    for sql in [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let err = diesel::sql_query(sql).execute(&mut conn).expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(app.count("audit_log"), 1);
}

#[actix_web::test]
async fn verify_names_a_hand_edited_entry() {
    let app = TestApp::new().await;
    for n in ["A", "B", "C"] {
        create_area(&app, n).await;
    }
    let ok = verify(&app).await;
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["entries_checked"], 3);

    // Someone with the power to switch the trigger off edits entry 2 by hand.
    let mut conn = app.conn();
    for sql in [
        "SET session_replication_role = replica",
        r#"UPDATE audit_log SET after = jsonb_set(after, '{name}', '"Forfalsket"') WHERE id = 2"#,
        "SET session_replication_role = origin",
    ] {
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
    }
    let report = verify(&app).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["entries_checked"], 1);
    assert_eq!(report["first_broken"]["id"], 2);
    assert!(report["first_broken"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("hash")));
}

#[actix_web::test]
async fn verify_names_the_entry_after_a_deleted_one() {
    let app = TestApp::new().await;
    for n in ["A", "B", "C"] {
        create_area(&app, n).await;
    }
    let mut conn = app.conn();
    for sql in [
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "DELETE FROM audit_log WHERE id = 2",
        "ALTER TABLE audit_log ENABLE TRIGGER USER",
    ] {
        diesel::sql_query(sql).execute(&mut conn).expect(sql);
    }
    let report = verify(&app).await;
    assert_eq!(report["valid"], false);
    assert_eq!(report["first_broken"]["id"], 3);
}

/// The statements every write runs to record its changes are prepared once per connection,
/// so PostgreSQL does not parse and plan them again for every write (bench/README.md).
#[actix_web::test]
async fn recording_a_change_uses_statements_prepared_on_the_connection() {
    use diesel::connection::Connection;
    use portfolio_api::changes::{record, Actor, Change};
    let app = TestApp::new().await;
    let mut conn = app.conn();
    for i in 0..2 {
        conn.transaction(|conn| {
            record(
                conn,
                &Actor::system("test"),
                &[Change::new("service_area", format!("test-{i}"), "created").version(1)],
            )
        })
        .expect("recorded");
    }
    // The lock, the chain's head, the audit entries, the feed events.
    assert_prepared(
        &mut conn,
        &[
            "pg_advisory_xact_lock",
            "SELECT id, hash FROM audit_log",
            "INSERT INTO audit_log",
            "INSERT INTO events",
        ],
    );
}
