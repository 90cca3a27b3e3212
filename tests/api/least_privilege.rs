//! The application serves as a least-privileged database role: it cannot rewrite, delete or
//! empty the audit trail or the change feed, nor switch the append-only triggers off.

use std::time::Duration;

use diesel::sql_types::Bool;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::json;

use crate::binary::{dev_token, free_addr, http, start};
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

#[test]
fn the_server_refuses_to_serve_as_a_superuser_unless_told_to() {
    let app = actix_web::rt::System::new().block_on(TestApp::new());
    let dir = std::env::temp_dir().join(format!("portfolio-test-su-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("server.log");
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // DATABASE_URL names a superuser: refused, with the reason.
    let mut s = start(&free_addr(), &[("DATABASE_URL", &app.url)], &log);
    assert!(
        s.wait_ready(Duration::from_secs(60)).is_none(),
        "served as a superuser:\n{}",
        read_log()
    );
    assert!(!s.child.wait().expect("exit").success());
    assert!(read_log().contains("refusing to serve"), "{}", read_log());

    // Least privilege: serve as the serving role, migrate as the owner.
    let addr = free_addr();
    let mut s = start(
        &addr,
        &[
            ("DATABASE_URL", &app.serving_url),
            ("PORTFOLIO_MIGRATION_DATABASE_URL", &app.url),
        ],
        &log,
    );
    s.wait_ready(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("least-privileged start failed:\n{}", read_log()));
    let token = dev_token(&["portfolio:read"], None);
    assert_eq!(
        http(&addr, "GET", "/api/v1/organisations", Some(&token), None).0,
        200
    );
    s.stop();

    // An explicit override serves, loudly.
    let mut s = start(
        &free_addr(),
        &[
            ("DATABASE_URL", &app.url),
            ("PORTFOLIO_ALLOW_SUPERUSER", "1"),
        ],
        &log,
    );
    s.wait_ready(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("override did not serve:\n{}", read_log()));
    s.stop();
    assert!(read_log().contains("SUPERUSER=1"), "{}", read_log());
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
}
