//! Webhook subscriptions of an organisation, their delivery cursors, attempt log and one-off
//! jobs. Every function is scoped by the owning organisation: another one's subscription is
//! "not found". (The delivery worker's own queries are in `webhooks::worker`.)

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{
    events, webhook_cursors, webhook_deliveries, webhook_jobs, webhook_subscriptions,
};
use crate::etag::IfMatch;
use crate::store::StoreError;

/// Subscriptions one organisation may hold.
pub const MAX_PER_ORGANISATION: i64 = 25;
pub const ENTITY_TYPE: &str = "webhook_subscription";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_subscriptions)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub org_number: String,
    pub url: String,
    pub entity_types: Vec<String>,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_cursors)]
pub struct CursorRow {
    pub delivered_seq: i64,
    pub failed_attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
}

/// A subscription with where its delivery stands.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub row: SubscriptionRow,
    pub cursor: CursorRow,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub subscription_id: Uuid,
    pub event_seq: Option<i64>,
    pub webhook_id: String,
    pub kind: String,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub outcome: String,
}

/// What the audit trail keeps of a subscription: never the secret, and only the URL's host
/// (receivers often carry a token in the path or query).
#[derive(Serialize)]
struct AuditView<'a> {
    host: Option<String>,
    entity_types: &'a [String],
    description: &'a str,
    enabled: bool,
    version: i32,
}

fn audit_view(row: &SubscriptionRow) -> AuditView<'_> {
    AuditView {
        host: url::Url::parse(&row.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned)),
        entity_types: &row.entity_types,
        description: &row.description,
        enabled: row.enabled,
        version: row.version,
    }
}

pub struct NewSubscription {
    pub url: String,
    pub entity_types: Vec<String>,
    pub description: String,
    /// Start after this feed position instead of the current end of the feed.
    pub after: Option<i64>,
}

fn not_found(id: Uuid) -> StoreError {
    StoreError::not_found(format!("webhook subscription {id}"))
}

fn last_seq(conn: &mut PgConnection) -> QueryResult<i64> {
    Ok(events::table
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    org: &str,
    new: NewSubscription,
    secret: &str,
) -> Result<Subscription, StoreError> {
    let held: i64 = webhook_subscriptions::table
        .filter(webhook_subscriptions::org_number.eq(org))
        .count()
        .get_result(conn)?;
    if held >= MAX_PER_ORGANISATION {
        return Err(StoreError::Conflict(format!(
            "an organisation may hold at most {MAX_PER_ORGANISATION} webhook subscriptions; delete one first"
        )));
    }
    let id = crate::store::new_id(conn)?;
    let row = diesel::insert_into(webhook_subscriptions::table)
        .values((
            webhook_subscriptions::id.eq(id),
            webhook_subscriptions::org_number.eq(org),
            webhook_subscriptions::url.eq(&new.url),
            webhook_subscriptions::entity_types.eq(&new.entity_types),
            webhook_subscriptions::description.eq(&new.description),
            webhook_subscriptions::secret.eq(secret),
        ))
        .returning(SubscriptionRow::as_returning())
        .get_result(conn)?;
    // Recorded first: the feed's end read below then includes the subscription's own event
    // and, with the change-log lock held until commit, nothing can commit in between.
    changes::record(
        conn,
        actor,
        &[Change::new(ENTITY_TYPE, id, "created")
            .version(1)
            .after(&audit_view(&row))],
    )?;
    let end = last_seq(conn)?;
    let start = match new.after {
        Some(a) if a > end => {
            return Err(StoreError::invalid(
                "after",
                format!("is beyond the end of the feed ({end})"),
            ))
        }
        Some(a) => a,
        None => end,
    };
    let cursor = diesel::insert_into(webhook_cursors::table)
        .values((
            webhook_cursors::subscription_id.eq(id),
            webhook_cursors::delivered_seq.eq(start),
        ))
        .returning(CursorRow::as_returning())
        .get_result(conn)?;
    Ok(Subscription { row, cursor })
}

pub fn list(
    conn: &mut PgConnection,
    org: &str,
    after: Option<Uuid>,
    limit: i64,
) -> QueryResult<Vec<Subscription>> {
    let mut q = webhook_subscriptions::table
        .inner_join(webhook_cursors::table)
        .filter(webhook_subscriptions::org_number.eq(org.to_owned()))
        .select((SubscriptionRow::as_select(), CursorRow::as_select()))
        .order(webhook_subscriptions::id)
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(webhook_subscriptions::id.gt(a));
    }
    Ok(q.limit(limit + 1)
        .load::<(SubscriptionRow, CursorRow)>(conn)?
        .into_iter()
        .map(|(row, cursor)| Subscription { row, cursor })
        .collect())
}

pub fn find(conn: &mut PgConnection, org: &str, id: Uuid) -> Result<Subscription, StoreError> {
    webhook_subscriptions::table
        .inner_join(webhook_cursors::table)
        .filter(webhook_subscriptions::id.eq(id))
        .filter(webhook_subscriptions::org_number.eq(org))
        .select((SubscriptionRow::as_select(), CursorRow::as_select()))
        .first::<(SubscriptionRow, CursorRow)>(conn)
        .optional()?
        .map(|(row, cursor)| Subscription { row, cursor })
        .ok_or_else(|| not_found(id))
}

/// The subscription's row, locked for a change (the cursor row is the worker's to lock).
fn lock(conn: &mut PgConnection, org: &str, id: Uuid) -> Result<SubscriptionRow, StoreError> {
    webhook_subscriptions::table
        .filter(webhook_subscriptions::id.eq(id))
        .filter(webhook_subscriptions::org_number.eq(org))
        .select(SubscriptionRow::as_select())
        // Not `FOR UPDATE`: the worker's attempts reference the row (a key-share lock), and
        // an edit never changes the key, so they need not wait for each other.
        .for_no_key_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| not_found(id))
}

#[derive(Debug, Default)]
pub struct Edit {
    pub url: Option<String>,
    pub entity_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

pub fn update(
    conn: &mut PgConnection,
    actor: &Actor,
    org: &str,
    id: Uuid,
    if_match: &IfMatch,
    edit: Edit,
) -> Result<Subscription, StoreError> {
    let before = lock(conn, org, id)?;
    if_match.check(before.version)?;
    let enabled = edit.enabled.unwrap_or(before.enabled);
    let reenabled = enabled && !before.enabled;
    let row = diesel::update(webhook_subscriptions::table.find(id))
        .set((
            webhook_subscriptions::url.eq(edit.url.unwrap_or(before.url.clone())),
            webhook_subscriptions::entity_types
                .eq(edit.entity_types.unwrap_or(before.entity_types.clone())),
            webhook_subscriptions::description
                .eq(edit.description.unwrap_or(before.description.clone())),
            webhook_subscriptions::enabled.eq(enabled),
            webhook_subscriptions::disabled_reason.eq(if enabled {
                None
            } else {
                before
                    .disabled_reason
                    .clone()
                    .or(Some("disabled by the subscriber".to_owned()))
            }),
            webhook_subscriptions::version.eq(before.version + 1),
            webhook_subscriptions::updated_at.eq(Utc::now()),
        ))
        .returning(SubscriptionRow::as_returning())
        .get_result(conn)?;
    if reenabled {
        // Resume at the event that failed, with a fresh retry schedule.
        diesel::update(webhook_cursors::table.find(id))
            .set((
                webhook_cursors::failed_attempts.eq(0),
                webhook_cursors::next_attempt_at.eq(Utc::now()),
            ))
            .execute(conn)?;
    }
    changes::record(
        conn,
        actor,
        &[Change::new(ENTITY_TYPE, id, "updated")
            .version(row.version)
            .before(&audit_view(&before))
            .after(&audit_view(&row))],
    )?;
    find(conn, org, id)
}

pub fn delete(
    conn: &mut PgConnection,
    actor: &Actor,
    org: &str,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), StoreError> {
    // The delivery worker holds the cursor row while it delivers, then writes attempts that
    // reference the subscription; deleting the subscription deletes its cursor. Taking the
    // cursor first, in the worker's order, makes a delete wait for a running delivery instead
    // of deadlocking with it.
    webhook_cursors::table
        .find(id)
        .select(webhook_cursors::subscription_id)
        .for_update()
        .first::<Uuid>(conn)
        .optional()?;
    let before = lock(conn, org, id)?;
    if_match.check(before.version)?;
    diesel::delete(webhook_subscriptions::table.find(id)).execute(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new(ENTITY_TYPE, id, "deleted").before(&audit_view(&before))],
    )?;
    Ok(())
}

/// Replaces the signing secret; the old one keeps signing until `old_expires_at`.
pub fn rotate_secret(
    conn: &mut PgConnection,
    actor: &Actor,
    org: &str,
    id: Uuid,
    if_match: &IfMatch,
    new_secret: &str,
    old_expires_at: DateTime<Utc>,
) -> Result<Subscription, StoreError> {
    let before = lock(conn, org, id)?;
    if_match.check(before.version)?;
    let row = diesel::update(webhook_subscriptions::table.find(id))
        .set((
            webhook_subscriptions::previous_secret.eq(webhook_subscriptions::secret.nullable()),
            webhook_subscriptions::previous_secret_expires_at.eq(old_expires_at),
            webhook_subscriptions::secret.eq(new_secret),
            webhook_subscriptions::version.eq(before.version + 1),
            webhook_subscriptions::updated_at.eq(Utc::now()),
        ))
        .returning(SubscriptionRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new(ENTITY_TYPE, id, "secret_rotated")
            .version(row.version)
            .after(&audit_view(&row))],
    )?;
    find(conn, org, id)
}

/// Attempts of a subscription, newest first.
pub fn list_deliveries(
    conn: &mut PgConnection,
    org: &str,
    id: Uuid,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    find(conn, org, id)?;
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::subscription_id.eq(id))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::id.desc())
        .into_boxed();
    if let Some(b) = before_id {
        q = q.filter(webhook_deliveries::id.lt(b));
    }
    Ok(q.limit(limit + 1).load(conn)?)
}

/// A one-off delivery for a worker: the event of an earlier attempt again, or a ping (`None`).
pub fn enqueue(
    conn: &mut PgConnection,
    org: &str,
    id: Uuid,
    redeliver: Option<i64>,
) -> Result<(i64, Option<i64>), StoreError> {
    find(conn, org, id)?;
    let event_seq = match redeliver {
        None => None,
        Some(delivery_id) => {
            let d = webhook_deliveries::table
                .filter(webhook_deliveries::id.eq(delivery_id))
                .filter(webhook_deliveries::subscription_id.eq(id))
                .select(DeliveryRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| StoreError::not_found(format!("delivery {delivery_id}")))?;
            d.event_seq
        }
    };
    let job: i64 = diesel::insert_into(webhook_jobs::table)
        .values((
            webhook_jobs::subscription_id.eq(id),
            webhook_jobs::event_seq.eq(event_seq),
        ))
        .returning(webhook_jobs::id)
        .get_result(conn)?;
    Ok((job, event_seq))
}
