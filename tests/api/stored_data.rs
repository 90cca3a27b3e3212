//! Stored values are read as the domain's types: a text in an enum-valued column that the
//! code does not know (a hand edit, a migration gone wrong) is an internal error, logged with
//! its cause, never a silently chosen variant.

use diesel::RunQueryDsl;
use portfolio_api::routes::budget_frames::Frame;
use portfolio_api::routes::service_areas::ServiceArea;
use serde_json::json;

use crate::support::{read, TestApp, HSO, MANAGE, READ};

/// Writes `value` into `table.column` of row `id` past the column's CHECK constraint, as a
/// hand edit of the database would.
fn store_unknown(app: &TestApp, table: &str, column: &str, id: uuid::Uuid, value: &str) {
    let mut conn = app.conn();
    for sql in [
        format!("ALTER TABLE {table} DROP CONSTRAINT {table}_{column}_check"),
        format!("UPDATE {table} SET {column} = '{value}' WHERE id = '{id}'"),
    ] {
        diesel::sql_query(&sql).execute(&mut conn).expect(&sql);
    }
}

#[actix_web::test]
async fn an_unknown_service_area_kind_is_an_error_not_clinical() {
    let app = TestApp::new().await;
    let area: ServiceArea = app
        .post("/api/v1/service-areas")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2024, "name": "Mor og barn", "kind": "administrative"}))
        .returns(201)
        .await;
    store_unknown(&app, "service_areas", "kind", area.id, "surgical");
    let path = format!("/api/v1/service-areas/{}", area.id);
    let p = app.get(&path).auth(READ, None).refused(500).await;
    assert!(
        !p.detail.contains("surgical"),
        "the cause stays in the log: {p:?}"
    );
}

#[actix_web::test]
async fn an_unknown_sub_portfolio_is_an_error_not_other() {
    let app = TestApp::new().await;
    let frame: Frame = app
        .post("/api/v1/budget-frames")
        .auth(MANAGE, Some(HSO))
        .json(&json!({"year": 2024, "sub_portfolio": "improvement", "amount_nok": 1000}))
        .returns(201)
        .await;
    let before: Frame = read(&app, &format!("/api/v1/budget-frames/{}", frame.id)).await;
    assert_eq!(before.amount_nok, 1000);
    store_unknown(&app, "budget_frames", "sub_portfolio", frame.id, "research");
    app.get(&format!("/api/v1/budget-frames/{}", frame.id))
        .auth(READ, None)
        .refused(500)
        .await;
    // A list that holds the row fails the same way (no row is skipped or renamed).
    app.get("/api/v1/budget-frames?year=2024")
        .auth(READ, None)
        .refused(500)
        .await;
}
