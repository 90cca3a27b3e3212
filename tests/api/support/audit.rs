//! Reading audit entries straight from the table, for tests that play an attacker who can
//! write it (rewrite an entry and recompute its hash without the audit key).

use chrono::{DateTime, Utc};
use diesel::sql_types::{Jsonb, Nullable, Text, Timestamptz};
use diesel::{PgConnection, QueryableByName, RunQueryDsl};
use serde_json::Value;

/// The hashed content of one audit entry.
#[derive(QueryableByName)]
pub struct AuditRow {
    #[diesel(sql_type = Text)]
    pub prev_hash: String,
    #[diesel(sql_type = Timestamptz)]
    pub occurred_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub actor_subject: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub actor_org: Option<String>,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = Text)]
    pub entity_type: String,
    #[diesel(sql_type = Text)]
    pub entity_id: String,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub before: Option<Value>,
    #[diesel(sql_type = Nullable<Jsonb>)]
    pub after: Option<Value>,
    #[diesel(sql_type = Text)]
    pub request_id: String,
}

/// Audit entry `id` as stored.
pub fn audit_row(conn: &mut PgConnection, id: i64) -> AuditRow {
    diesel::sql_query(format!(
        "SELECT prev_hash, occurred_at, actor_subject, actor_org, action, entity_type, \
         entity_id, before, after, request_id FROM audit_log WHERE id = {id}"
    ))
    .get_result(conn)
    .expect("audit entry")
}
