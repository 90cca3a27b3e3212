//! Reading the change log: the change feed, the audit trail and the check of its hash chain.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use serde_json::Value;

use crate::changes::{entry_content, GENESIS_HASH};
use crate::db::schema::{audit_log, events};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    pub version: Option<i32>,
    pub actor_subject: String,
    pub actor_org: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_subject: String,
    pub actor_org: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Events after `after` in commit order (`limit + 1` rows, for the page split).
pub fn list_events(
    conn: &mut PgConnection,
    after: i64,
    entity_type: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut q = events::table
        .select(EventRow::as_select())
        .filter(events::seq.gt(after))
        .order(events::seq)
        .into_boxed();
    if let Some(t) = entity_type {
        q = q.filter(events::entity_type.eq(t.to_owned()));
    }
    q.limit(limit + 1).load(conn)
}

/// Audit entries after `after`, oldest first.
pub fn list_audit(
    conn: &mut PgConnection,
    entity_type: Option<&str>,
    entity_id: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    let mut q = audit_log::table
        .select(AuditRow::as_select())
        .order(audit_log::id)
        .into_boxed();
    if let Some(t) = entity_type {
        q = q.filter(audit_log::entity_type.eq(t.to_owned()));
    }
    if let Some(id) = entity_id {
        q = q.filter(audit_log::entity_id.eq(id.to_owned()));
    }
    if let Some(a) = after {
        q = q.filter(audit_log::id.gt(a));
    }
    q.limit(limit + 1).load(conn)
}

/// The first entry that breaks the chain, and why.
#[derive(Debug, Clone)]
pub struct Break {
    pub id: i64,
    pub reason: String,
}

/// The outcome of checking the whole chain.
#[derive(Debug, Clone)]
pub struct ChainReport {
    pub entries_checked: i64,
    pub last_hash: String,
    pub first_broken: Option<Break>,
}

/// Recomputes every entry's hash from its content and its predecessor's hash, in id order,
/// and stops at the first entry that does not match (edited, inserted, or after a deleted one).
pub fn verify_chain(conn: &mut PgConnection) -> QueryResult<ChainReport> {
    const BATCH: i64 = 2000;
    let mut expected_id = 1i64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut checked = 0i64;
    let keys = crate::audit_key::current();
    loop {
        let rows: Vec<AuditRow> = audit_log::table
            .select(AuditRow::as_select())
            .filter(audit_log::id.ge(expected_id))
            .order(audit_log::id)
            .limit(BATCH)
            .load(conn)?;
        let n = rows.len() as i64;
        for r in rows {
            let broken = |reason: String| ChainReport {
                entries_checked: checked,
                last_hash: prev_hash.clone(),
                first_broken: Some(Break { id: r.id, reason }),
            };
            if r.id != expected_id {
                return Ok(broken(format!(
                    "entries {expected_id}..{} are missing",
                    r.id - 1
                )));
            }
            if r.prev_hash != prev_hash {
                return Ok(broken(
                    "prev_hash does not equal the previous entry's hash".into(),
                ));
            }
            let before = r.before.as_ref().and_then(crate::changes::canonical);
            let after = r.after.as_ref().and_then(crate::changes::canonical);
            let content = entry_content(
                &r.prev_hash,
                r.id,
                &r.occurred_at,
                &r.actor_subject,
                r.actor_org.as_deref(),
                &r.action,
                &r.entity_type,
                &r.entity_id,
                before.as_deref(),
                after.as_deref(),
                &r.request_id,
            );
            if let Err(reason) = keys.verify(&r.hash, &content) {
                return Ok(broken(reason));
            }
            checked += 1;
            expected_id += 1;
            prev_hash = r.hash;
        }
        if n < BATCH {
            return Ok(ChainReport {
                entries_checked: checked,
                last_hash: prev_hash,
                first_broken: None,
            });
        }
    }
}
