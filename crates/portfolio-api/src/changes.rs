//! Recording a change: one audit entry (hash-chained, append-only) and one change-feed event
//! per changed entity, written in the same transaction as the change itself.
//!
//! Writers take one transaction-scoped advisory lock before appending, so entries are numbered
//! in commit order: the chain never forks under concurrent writers and a feed consumer that
//! follows the cursor never misses an event that commits later with a smaller number.
//! Record changes last in a transaction, to hold the lock briefly.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::db::schema::{audit_log, events};

const CHANGE_LOG_LOCK: i64 = 0x706f_7274_666f_6c69; // "portfoli"
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who made a change, captured on the request's task (the request id lives there).
#[derive(Debug, Clone)]
pub struct Actor {
    pub subject: String,
    pub org_number: Option<String>,
    pub request_id: String,
}

impl Actor {
    pub fn of(caller: &Caller) -> Actor {
        Actor {
            subject: caller.subject.clone(),
            org_number: caller.org_number.clone(),
            request_id: crate::request_id::current(),
        }
    }

    /// The system itself (migrations, demo data).
    pub fn system(what: &str) -> Actor {
        Actor {
            subject: format!("system:{what}"),
            org_number: None,
            request_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// One changed entity.
#[derive(Debug, Clone)]
pub struct Change {
    pub entity_type: &'static str,
    pub entity_id: String,
    /// What happened, e.g. `created`, `updated`, `accepted`, `denied`.
    pub action: String,
    /// The entity's version after the change (its ETag), when it has one.
    pub version: Option<i32>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    pub fn new(
        entity_type: &'static str,
        entity_id: impl ToString,
        action: impl Into<String>,
    ) -> Change {
        Change {
            entity_type,
            entity_id: entity_id.to_string(),
            action: action.into(),
            version: None,
            before: None,
            after: None,
        }
    }
    pub fn version(mut self, v: i32) -> Change {
        self.version = Some(v);
        self
    }
    pub fn before<T: serde::Serialize>(mut self, v: &T) -> Change {
        self.before = serde_json::to_value(v).ok();
        self
    }
    pub fn after<T: serde::Serialize>(mut self, v: &T) -> Change {
        self.after = serde_json::to_value(v).ok();
        self
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewAuditEntry<'a> {
    id: i64,
    occurred_at: DateTime<Utc>,
    actor_subject: &'a str,
    actor_org: Option<&'a str>,
    action: &'a str,
    entity_type: &'a str,
    entity_id: &'a str,
    before: Option<&'a Value>,
    after: Option<&'a Value>,
    request_id: &'a str,
    prev_hash: String,
    hash: String,
}

#[derive(Insertable)]
#[diesel(table_name = events)]
struct NewEvent<'a> {
    seq: i64,
    occurred_at: DateTime<Utc>,
    entity_type: &'a str,
    entity_id: &'a str,
    action: &'a str,
    version: Option<i32>,
    actor_subject: &'a str,
    actor_org: Option<&'a str>,
}

/// The content an entry's hash covers, in a fixed order.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev_hash: &str,
    id: i64,
    occurred_at: &DateTime<Utc>,
    actor_subject: &str,
    actor_org: Option<&str>,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    request_id: &str,
) -> String {
    let content = serde_json::json!([
        prev_hash,
        id,
        occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        actor_subject,
        actor_org,
        action,
        entity_type,
        entity_id,
        before,
        after,
        request_id
    ]);
    let mut h = Sha256::new();
    h.update(content.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends audit entries and feed events for `changes`, inside the caller's transaction.
pub fn record(conn: &mut PgConnection, actor: &Actor, changes: &[Change]) -> QueryResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
        "pg_advisory_xact_lock({CHANGE_LOG_LOCK}) IS NOT NULL"
    )))
    .get_result::<bool>(conn)?;
    let last: Option<(i64, String)> = audit_log::table
        .select((audit_log::id, audit_log::hash))
        .order(audit_log::id.desc())
        .first(conn)
        .optional()?;
    let (mut next_id, mut prev_hash) = last
        .map(|(id, h)| (id + 1, h))
        .unwrap_or((1, GENESIS_HASH.to_owned()));
    let next_seq: i64 = events::table
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0)
        + 1;
    // PostgreSQL keeps microseconds: hash what will be stored.
    let now = Utc::now().trunc_subsecs(6);

    let mut entries = Vec::with_capacity(changes.len());
    let mut feed = Vec::with_capacity(changes.len());
    for c in changes {
        let hash = entry_hash(
            &prev_hash,
            next_id,
            &now,
            &actor.subject,
            actor.org_number.as_deref(),
            &c.action,
            c.entity_type,
            &c.entity_id,
            c.before.as_ref(),
            c.after.as_ref(),
            &actor.request_id,
        );
        entries.push(NewAuditEntry {
            id: next_id,
            occurred_at: now,
            actor_subject: &actor.subject,
            actor_org: actor.org_number.as_deref(),
            action: &c.action,
            entity_type: c.entity_type,
            entity_id: &c.entity_id,
            before: c.before.as_ref(),
            after: c.after.as_ref(),
            request_id: &actor.request_id,
            prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        });
        next_id += 1;
        if c.action != "denied" {
            feed.push(NewEvent {
                seq: next_seq + feed.len() as i64,
                occurred_at: now,
                entity_type: c.entity_type,
                entity_id: &c.entity_id,
                action: &c.action,
                version: c.version,
                actor_subject: &actor.subject,
                actor_org: actor.org_number.as_deref(),
            });
        }
    }
    // PostgreSQL takes at most 65535 bind parameters per statement.
    for chunk in entries.chunks(4000) {
        diesel::insert_into(audit_log::table)
            .values(chunk)
            .execute(conn)?;
    }
    for chunk in feed.chunks(6000) {
        diesel::insert_into(events::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}
