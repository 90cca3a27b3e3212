//! The application serves as a least-privileged database role: it cannot rewrite, delete or
//! empty the audit trail or the change feed, nor switch the append-only triggers off.

use diesel::sql_types::Bool;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::support::{TestApp, HSO};

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match diesel::sql_query(sql).execute(conn) {
        Ok(n) => panic!("{sql} was allowed ({n} rows)"),
        Err(e) => e.to_string(),
    }
}

#[actix_web::test]
async fn the_serving_role_cannot_tamper_with_the_audit_trail() {
    let app = TestApp::new().await;
    // Something in the audit trail and the change feed.
    app.post("/api/v1/service-areas")
        .auth("portfolio:read portfolio:manage", Some(HSO))
        .json(&json!({"year": 2031, "name": "Revisjon", "kind": "clinical"}))
        .send()
        .await
        .assert_status(201);
    assert!(app.count("audit_log") >= 1);
    assert!(app.count("events") >= 1);

    let mut conn = PgConnection::establish(&app.serving_url).expect("connect as serving role");
    let who = diesel::sql_query(
        "SELECT (NOT rolsuper AND NOT EXISTS (SELECT 1 FROM pg_tables \
           WHERE schemaname = 'public' AND pg_has_role(current_user, tableowner, 'MEMBER'))) AS flag \
         FROM pg_roles WHERE rolname = current_user",
    )
    .get_result::<Flag>(&mut conn)
    .expect("role");
    assert!(who.flag, "the serving role is a superuser or owns tables");

    for sql in [
        "UPDATE audit_log SET actor_subject = 'someone else'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE events SET actor_subject = 'someone else'",
        "DELETE FROM events",
        "TRUNCATE events",
        "TRUNCATE service_areas CASCADE",
        "ALTER TABLE audit_log DISABLE TRIGGER USER",
        "DROP TRIGGER audit_log_no_update ON audit_log",
    ] {
        let e = refused(&mut conn, sql);
        assert!(
            e.contains("permission denied") || e.contains("must be owner"),
            "{sql}: refused for the wrong reason: {e}"
        );
    }
    let e = refused(&mut conn, "SET session_replication_role = replica");
    assert!(e.contains("permission denied"), "{e}");
    // Nothing changed.
    assert!(app.count("audit_log") >= 1);
    // Reading and appending still work (the application does both).
    diesel::sql_query("SELECT * FROM audit_log")
        .execute(&mut conn)
        .expect("read the audit trail");
}
