//! Looking at the database behind the API, for "nothing was written" checks.

use std::collections::BTreeMap;

use diesel::RunQueryDsl;

use super::TestApp;

/// Every table's row count and a hash of its content, for "nothing changed" checks.
pub fn snapshot(app: &TestApp) -> BTreeMap<String, (i64, String)> {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct S {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        h: String,
    }
    let mut conn = app.conn();
    let tables: Vec<T> = diesel::sql_query(
        "SELECT table_name::text AS table_name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .load(&mut conn)
    .expect("tables");
    assert!(tables.len() > 5);
    tables
        .into_iter()
        .map(|t| {
            // Refused (403) attempts are audited as `denied` on purpose; they change no data.
            let only_changes = if t.table_name == "audit_log" {
                " WHERE x.action <> 'denied'"
            } else {
                ""
            };
            let s: S = diesel::sql_query(format!(
                "SELECT count(*)::bigint AS n, coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS h FROM \"{}\" x{only_changes}",
                t.table_name
            ))
            .get_result(&mut conn)
            .expect("snapshot");
            (t.table_name, (s.n, s.h))
        })
        .collect()
}

/// Asserts that `conn` holds a prepared statement containing each of `marks` (the statements
/// a hot path must not have PostgreSQL parse and plan again on every call).
pub fn assert_prepared(conn: &mut diesel::PgConnection, marks: &[&str]) {
    #[derive(diesel::QueryableByName)]
    struct Statement {
        #[diesel(sql_type = diesel::sql_types::Text)]
        statement: String,
    }
    let prepared: Vec<String> = diesel::sql_query("SELECT statement FROM pg_prepared_statements")
        .load::<Statement>(conn)
        .expect("prepared statements")
        .into_iter()
        .map(|s| s.statement)
        .collect();
    for mark in marks {
        assert!(
            prepared.iter().any(|s| s.contains(mark)),
            "`{mark}` is prepared: {prepared:#?}"
        );
    }
}
