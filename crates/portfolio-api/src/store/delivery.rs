//! The delivery-status sync: a batch of statuses from the IT partner, keyed by its references,
//! applied in one transaction with a constant number of statements whatever the batch size:
//! one query maps the references to measures, one loads (and locks) their narrow status rows,
//! the classification happens in memory (`portfolio_domain::measure::classify_sync`), and the
//! applied statuses are written with one `UPDATE … FROM unnest(…)`, one
//! `INSERT … SELECT unnest(…)` into the history, one insert of the batch and one
//! `changes::record` call. The wide `measures` rows are read, never rewritten.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Int2, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::PgConnection;
use portfolio_domain::measure::{classify_sync, DeliveryStatus, SyncOutcome};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{delivery_batches, measure_delivery_status, measures};
use crate::store::measures::DeliveryColumns;
use crate::store::StoreError;
use portfolio_domain::{FieldIssue, FieldPath};

/// One validated item of a batch.
#[derive(Debug, Clone)]
pub struct SyncInput {
    pub reference: String,
    pub status: DeliveryStatus,
}

/// What happened to one item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemResult {
    pub index: usize,
    pub reference: String,
    pub measure_id: Uuid,
    pub outcome: SyncOutcome,
}

/// A stored batch as the table holds it (the results as `jsonb`).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = delivery_batches)]
struct BatchRecord {
    id: Uuid,
    submitted_by: String,
    submitted_org: Option<String>,
    submitted_at: DateTime<Utc>,
    item_count: i32,
    applied_count: i32,
    unchanged_count: i32,
    stale_count: i32,
    results: serde_json::Value,
}

/// A stored batch: who sent it, when, the counts and every item's result in request order.
#[derive(Debug, Clone)]
pub struct Batch {
    pub id: Uuid,
    pub submitted_by: String,
    pub submitted_org: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub item_count: i32,
    pub applied: i32,
    pub unchanged: i32,
    pub stale: i32,
    pub results: Vec<ItemResult>,
}

impl TryFrom<BatchRecord> for Batch {
    type Error = StoreError;
    fn try_from(b: BatchRecord) -> Result<Self, StoreError> {
        Ok(Batch {
            id: b.id,
            submitted_by: b.submitted_by,
            submitted_org: b.submitted_org,
            submitted_at: b.submitted_at,
            item_count: b.item_count,
            applied: b.applied_count,
            unchanged: b.unchanged_count,
            stale: b.stale_count,
            results: serde_json::from_value(b.results).map_err(StoreError::corrupt)?,
        })
    }
}

/// The batch summary recorded in the audit log (the per-item list is in the batch itself).
#[derive(Serialize)]
struct BatchSummary<'a> {
    id: Uuid,
    item_count: i32,
    applied: i32,
    unchanged: i32,
    stale: i32,
    submitted_by: &'a str,
}

/// A measure's stored status row, locked for the batch.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = measure_delivery_status)]
struct StoredStatus {
    measure_id: Uuid,
    #[diesel(embed)]
    columns: DeliveryColumns,
    version: i32,
}

/// An item the batch applies: the measure, its version after the batch, the status it had
/// and the one it gets.
struct Applied<'a> {
    measure_id: Uuid,
    version: i32,
    before: Option<DeliveryStatus>,
    after: &'a DeliveryStatus,
}

/// Every item's outcome, and the items to write.
struct Classified<'a> {
    results: Vec<ItemResult>,
    applied: Vec<Applied<'a>>,
    unchanged: i32,
    stale: i32,
}

/// Applies a validated batch. Unknown references fail the whole batch (422, nothing written).
pub fn apply_batch(
    conn: &mut PgConnection,
    actor: &Actor,
    items: Vec<SyncInput>,
) -> Result<Batch, StoreError> {
    let ids = measure_ids(conn, &items)?;
    let stored = lock_statuses(conn, &ids)?;
    let classified = classify(&items, &ids, &stored)?;
    let batch = insert_batch(conn, actor, &classified)?;
    if !classified.applied.is_empty() {
        write_applied(conn, batch.id, batch.submitted_at, &classified.applied)?;
    }
    changes::record(conn, actor, &batch_changes(&batch, &classified.applied))?;
    Ok(batch)
}

/// The measure of each item, in item order; every unknown reference is a field error.
fn measure_ids(conn: &mut PgConnection, items: &[SyncInput]) -> Result<Vec<Uuid>, StoreError> {
    let refs: Vec<&str> = items.iter().map(|i| i.reference.as_str()).collect();
    let by_ref: HashMap<String, Uuid> = measures::table
        .filter(measures::partner_reference.eq_any(refs))
        .select((measures::partner_reference, measures::id))
        .load::<(String, Uuid)>(conn)?
        .into_iter()
        .collect();
    let mut ids = Vec::with_capacity(items.len());
    let mut unknown = Vec::new();
    for (i, it) in items.iter().enumerate() {
        match by_ref.get(&it.reference) {
            Some(id) => ids.push(*id),
            None => unknown.push(FieldIssue::new(
                FieldPath::from("items").index(i).key("reference"),
                format!("no measure has the reference {:?}", it.reference),
            )),
        }
    }
    StoreError::check(unknown)?;
    Ok(ids)
}

/// Loads the measures' status rows and locks them in a fixed order, so that concurrent
/// batches never deadlock and never interleave on the same measure (edits lock the same row).
fn lock_statuses(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, StoredStatus>, StoreError> {
    Ok(measure_delivery_status::table
        .filter(measure_delivery_status::measure_id.eq_any(ids))
        .select(StoredStatus::as_select())
        .order(measure_delivery_status::measure_id)
        .for_update()
        .load::<StoredStatus>(conn)?
        .into_iter()
        .map(|s| (s.measure_id, s))
        .collect())
}

/// Each item against the stored status: applied, unchanged or stale.
fn classify<'a>(
    items: &'a [SyncInput],
    ids: &[Uuid],
    stored: &HashMap<Uuid, StoredStatus>,
) -> Result<Classified<'a>, StoreError> {
    let mut c = Classified {
        results: Vec::with_capacity(items.len()),
        applied: Vec::new(),
        unchanged: 0,
        stale: 0,
    };
    for (index, (item, id)) in items.iter().zip(ids).enumerate() {
        // The trigger on `measures` gives every measure its status row.
        let s = stored
            .get(id)
            .ok_or_else(|| StoreError::corrupt(format!("measure {id} has no status row")))?;
        let before = s.columns.status();
        let outcome = classify_sync(before.as_ref(), &item.status);
        match outcome {
            SyncOutcome::Applied => c.applied.push(Applied {
                measure_id: *id,
                version: s.version + 1,
                before,
                after: &item.status,
            }),
            SyncOutcome::Unchanged => c.unchanged += 1,
            SyncOutcome::Stale => c.stale += 1,
        }
        c.results.push(ItemResult {
            index,
            reference: item.reference.clone(),
            measure_id: *id,
            outcome,
        });
    }
    Ok(c)
}

/// Stores the batch with every item's result; answers with it from memory.
fn insert_batch(
    conn: &mut PgConnection,
    actor: &Actor,
    c: &Classified,
) -> Result<Batch, StoreError> {
    let batch = Batch {
        id: crate::store::new_id(conn)?,
        submitted_by: actor.subject.clone(),
        submitted_org: actor.org_number.clone(),
        // PostgreSQL keeps microseconds: answer with what is stored.
        submitted_at: Utc::now().trunc_subsecs(6),
        item_count: c.results.len() as i32,
        applied: c.applied.len() as i32,
        unchanged: c.unchanged,
        stale: c.stale,
        results: c.results.clone(),
    };
    diesel::insert_into(delivery_batches::table)
        .values((
            delivery_batches::id.eq(batch.id),
            delivery_batches::submitted_by.eq(&batch.submitted_by),
            delivery_batches::submitted_org.eq(&batch.submitted_org),
            delivery_batches::submitted_at.eq(batch.submitted_at),
            delivery_batches::item_count.eq(batch.item_count),
            delivery_batches::applied_count.eq(batch.applied),
            delivery_batches::unchanged_count.eq(batch.unchanged),
            delivery_batches::stale_count.eq(batch.stale),
            delivery_batches::results
                .eq(serde_json::to_value(&batch.results).map_err(StoreError::corrupt)?),
        ))
        .execute(conn)?;
    Ok(batch)
}

/// One audit entry and feed event per applied status, and one for the batch.
fn batch_changes(batch: &Batch, applied: &[Applied]) -> Vec<Change> {
    let mut list = Vec::with_capacity(applied.len() + 1);
    for a in applied {
        let mut c = Change::new("measure", a.measure_id, "delivery_status_synced")
            .version(a.version)
            .after(a.after);
        if let Some(b) = &a.before {
            c = c.before(b);
        }
        list.push(c);
    }
    list.push(
        Change::new("delivery_batch", batch.id, "created")
            .version(1)
            .after(&BatchSummary {
                id: batch.id,
                item_count: batch.item_count,
                applied: batch.applied,
                unchanged: batch.unchanged,
                stale: batch.stale,
                submitted_by: &batch.submitted_by,
            }),
    );
    list
}

/// Writes every applied status with two statements: the measures' current status and the
/// history. Arrays travel as one bind parameter each, so the batch size never meets
/// PostgreSQL's bind-parameter limit.
fn write_applied(
    conn: &mut PgConnection,
    batch_id: Uuid,
    now: DateTime<Utc>,
    applied: &[Applied],
) -> Result<(), StoreError> {
    let n = applied.len();
    let mut ids = Vec::with_capacity(n);
    let mut progress = Vec::with_capacity(n);
    let mut rag = Vec::with_capacity(n);
    let mut forecast: Vec<Option<NaiveDate>> = Vec::with_capacity(n);
    let mut milestones = Vec::with_capacity(n);
    let mut comment: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut reported_by = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    for a in applied {
        let s = a.after;
        ids.push(a.measure_id);
        progress.push(i16::from(s.progress));
        rag.push(s.rag.as_str());
        forecast.push(s.forecast_date);
        milestones.push(serde_json::to_string(&s.milestones).map_err(StoreError::corrupt)?);
        comment.push(s.comment.as_deref());
        reported_by.push(s.reported_by.as_str());
        ts.push(s.source_timestamp);
    }
    const UNNEST: &str = "unnest($1::uuid[], $2::int2[], $3::text[], $4::date[], $5::text[], \
                          $6::text[], $7::text[], $8::timestamptz[]) \
                          AS u(id, progress, rag, forecast_date, milestones, comment, reported_by, ts)";
    diesel::sql_query(format!(
        "UPDATE measure_delivery_status AS d SET progress = u.progress, rag = u.rag, \
         forecast_date = u.forecast_date, milestones = u.milestones::jsonb, \
         delivery_comment = u.comment, reported_by = u.reported_by, source_timestamp = u.ts, \
         delivery_updated_at = $9, version = d.version + 1 \
         FROM {UNNEST} WHERE d.measure_id = u.id"
    ))
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Int2>, _>(&progress)
    .bind::<Array<Text>, _>(&rag)
    .bind::<Array<Nullable<Date>>, _>(&forecast)
    .bind::<Array<Text>, _>(&milestones)
    .bind::<Array<Nullable<Text>>, _>(&comment)
    .bind::<Array<Text>, _>(&reported_by)
    .bind::<Array<Timestamptz>, _>(&ts)
    .bind::<Timestamptz, _>(now)
    .execute(conn)?;
    diesel::sql_query(format!(
        "INSERT INTO measure_delivery_history (measure_id, progress, rag, forecast_date, \
         milestones, comment, reported_by, source_timestamp, recorded_at, batch_id) \
         SELECT u.id, u.progress, u.rag, u.forecast_date, u.milestones::jsonb, u.comment, \
         u.reported_by, u.ts, $9, $10 FROM {UNNEST}"
    ))
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Int2>, _>(&progress)
    .bind::<Array<Text>, _>(&rag)
    .bind::<Array<Nullable<Date>>, _>(&forecast)
    .bind::<Array<Text>, _>(&milestones)
    .bind::<Array<Nullable<Text>>, _>(&comment)
    .bind::<Array<Text>, _>(&reported_by)
    .bind::<Array<Timestamptz>, _>(&ts)
    .bind::<Timestamptz, _>(now)
    .bind::<SqlUuid, _>(batch_id)
    .execute(conn)?;
    Ok(())
}

pub fn find_batch(conn: &mut PgConnection, id: Uuid) -> Result<Option<Batch>, StoreError> {
    delivery_batches::table
        .find(id)
        .select(BatchRecord::as_select())
        .first(conn)
        .optional()?
        .map(Batch::try_from)
        .transpose()
}
