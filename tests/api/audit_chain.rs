//! The audit trail's chain is keyed (HMAC-SHA256 with `PORTFOLIO_AUDIT_KEY`, which is not in
//! the database): whoever can write the table cannot rewrite an entry and recompute its hash
//! undetected; entries written under a retired key still verify.

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use portfolio_api::audit_key::AuditKeys;
use serde_json::{json, Value};

use crate::support::audit::audit_row;
use crate::support::{TestApp, HSO};

const MANAGE: &str = "portfolio:read portfolio:manage";
const K1: &str = "prod-1:first-secret-of-at-least-32-characters";
const K2: &str = "prod-2:second-secret-of-at-least-32-characters";

async fn create_area(app: &TestApp, name: &str) {
    app.post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2031, "name": name, "kind": "clinical"}))
        .send()
        .await
        .assert_status(201);
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
async fn rewriting_an_entry_and_recomputing_its_hash_without_the_key_is_detected() {
    let app = TestApp::with_config(|c| {
        c.audit_keys = AuditKeys::new(K1, &[]).expect("key");
    })
    .await;
    for n in ["A", "B", "C"] {
        create_area(&app, n).await;
    }
    assert_eq!(verify(&app).await["valid"], true);

    // The attacker rewrites the newest entry and recomputes its hash the way the code does,
    // but without the audit key (which is not in the database), keeping the key id.
    let mut conn = app.conn();
    let e = audit_row(&mut conn, 3);
    let mut after = e.after.clone().expect("after");
    after["name"] = json!("Forfalsket");
    let before = e
        .before
        .as_ref()
        .and_then(portfolio_api::changes::canonical);
    let forged_after = portfolio_api::changes::canonical(&after);
    let forged = portfolio_api::changes::entry_hash(
        &e.prev_hash,
        3,
        &e.occurred_at,
        &e.actor_subject,
        e.actor_org.as_deref(),
        &e.action,
        &e.entity_type,
        &e.entity_id,
        before.as_deref(),
        forged_after.as_deref(),
        &e.request_id,
    );
    let forged = match forged.split_once(':') {
        Some((_, mac)) => format!("prod-1:{mac}"),
        None => forged,
    };
    for sql in [
        "SET session_replication_role = replica".to_owned(),
        format!(
            "UPDATE audit_log SET after = '{}'::jsonb, hash = '{forged}' WHERE id = 3",
            after.to_string().replace('\'', "''")
        ),
        "SET session_replication_role = origin".to_owned(),
    ] {
        diesel::sql_query(&sql).execute(&mut conn).expect(&sql);
    }
    let report = verify(&app).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["first_broken"]["id"], 3, "{report}");
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[actix_web::test]
async fn a_chain_verifies_across_a_key_rotation() {
    let first = TestApp::with_config(|c| {
        c.audit_keys = AuditKeys::new(K1, &[]).expect("key");
    })
    .await;
    create_area(&first, "Før rotasjon 1").await;
    create_area(&first, "Før rotasjon 2").await;
    // The service restarts with a new key; the old one is kept as retired.
    let rotated = TestApp::on_database(&first.url, |c| {
        c.audit_keys = AuditKeys::new(K2, &[K1]).expect("keys");
    })
    .await;
    create_area(&rotated, "Etter rotasjon 1").await;
    create_area(&rotated, "Etter rotasjon 2").await;
    let keyed_with_k2 =
        diesel::sql_query("SELECT count(*) AS n FROM audit_log WHERE hash LIKE 'prod-2:%'")
            .get_result::<N>(&mut rotated.conn())
            .expect("count")
            .n;
    assert_eq!(keyed_with_k2, 2);
    let report = verify(&rotated).await;
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["entries_checked"], 4);

    // A server that does not know the retired key cannot vouch for the older entries.
    let forgetful = TestApp::on_database(&first.url, |c| {
        c.audit_keys = AuditKeys::new(K2, &[]).expect("key");
    })
    .await;
    let report = verify(&forgetful).await;
    assert_eq!(report["valid"], false, "{report}");
    assert_eq!(report["first_broken"]["id"], 1);
    assert!(
        report["first_broken"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("prod-1")),
        "{report}"
    );
}
