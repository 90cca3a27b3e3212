//! The delivery-status sync: a batch of statuses from the IT partner, keyed by its references,
//! applied in one transaction with a constant number of statements whatever the batch size:
//! one query loads (and locks) every referenced measure, the classification happens in memory
//! (`portfolio_domain::measure::classify_sync`), and the applied statuses are written with one
//! `UPDATE … FROM unnest(…)`, one `INSERT … SELECT unnest(…)` into the history, one insert of
//! the batch and one `changes::record` call.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Date, Int2, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::PgConnection;
use portfolio_domain::measure::{classify_sync, DeliveryStatus, SyncOutcome};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{delivery_batches, measures};
use crate::store::measures::MeasureRow;
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

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = delivery_batches)]
pub struct BatchRow {
    pub id: Uuid,
    pub submitted_by: String,
    pub submitted_org: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub submitted_at: DateTime<Utc>,
    pub item_count: i32,
    pub applied_count: i32,
    pub unchanged_count: i32,
    pub stale_count: i32,
    pub results: serde_json::Value,
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

/// An item the batch applies: the measure as stored, the status it had, the one it gets.
type Applied<'a> = (&'a MeasureRow, Option<DeliveryStatus>, &'a DeliveryStatus);

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
) -> Result<BatchRow, StoreError> {
    let stored = lock_measures(conn, &items)?;
    let by_ref: HashMap<&str, &MeasureRow> = stored
        .iter()
        .map(|m| (m.partner_reference.as_str(), m))
        .collect();
    check_known(&items, &by_ref)?;
    let classified = classify(&items, &by_ref);
    let batch_id = crate::store::new_id(conn)?;
    let now = Utc::now();
    let batch = insert_batch(conn, actor, batch_id, now, &classified)?;
    if !classified.applied.is_empty() {
        write_applied(conn, batch_id, now, &classified.applied)?;
    }
    changes::record(conn, actor, &batch_changes(&batch, actor, &classified))?;
    Ok(batch)
}

/// One query for every referenced measure, locked in a fixed order so that concurrent
/// batches never deadlock and never interleave on the same measure.
fn lock_measures(
    conn: &mut PgConnection,
    items: &[SyncInput],
) -> Result<Vec<MeasureRow>, StoreError> {
    let refs: Vec<&str> = items.iter().map(|i| i.reference.as_str()).collect();
    Ok(measures::table
        .filter(measures::partner_reference.eq_any(refs))
        .select(MeasureRow::as_select())
        .order(measures::id)
        .for_update()
        .load(conn)?)
}

/// Every unknown reference is a field error.
fn check_known(items: &[SyncInput], by_ref: &HashMap<&str, &MeasureRow>) -> Result<(), StoreError> {
    let unknown: Vec<FieldIssue> = items
        .iter()
        .enumerate()
        .filter(|(_, it)| !by_ref.contains_key(it.reference.as_str()))
        .map(|(i, it)| {
            FieldIssue::new(
                FieldPath::from("items").index(i).key("reference"),
                format!("no measure has the reference {:?}", it.reference),
            )
        })
        .collect();
    StoreError::check(unknown)
}

/// Each item against the stored status: applied, unchanged or stale.
fn classify<'a>(items: &'a [SyncInput], by_ref: &HashMap<&str, &'a MeasureRow>) -> Classified<'a> {
    let mut c = Classified {
        results: Vec::with_capacity(items.len()),
        applied: Vec::new(),
        unchanged: 0,
        stale: 0,
    };
    for (index, item) in items.iter().enumerate() {
        let m = by_ref[item.reference.as_str()];
        let current = m.delivery_status();
        let outcome = classify_sync(current.as_ref(), &item.status);
        match outcome {
            SyncOutcome::Applied => c.applied.push((m, current, &item.status)),
            SyncOutcome::Unchanged => c.unchanged += 1,
            SyncOutcome::Stale => c.stale += 1,
        }
        c.results.push(ItemResult {
            index,
            reference: item.reference.clone(),
            measure_id: m.id,
            outcome,
        });
    }
    c
}

/// Stores the batch with every item's result.
fn insert_batch(
    conn: &mut PgConnection,
    actor: &Actor,
    batch_id: Uuid,
    now: DateTime<Utc>,
    c: &Classified,
) -> Result<BatchRow, StoreError> {
    Ok(diesel::insert_into(delivery_batches::table)
        .values((
            delivery_batches::id.eq(batch_id),
            delivery_batches::submitted_by.eq(&actor.subject),
            delivery_batches::submitted_org.eq(&actor.org_number),
            delivery_batches::submitted_at.eq(now),
            delivery_batches::item_count.eq(c.results.len() as i32),
            delivery_batches::applied_count.eq(c.applied.len() as i32),
            delivery_batches::unchanged_count.eq(c.unchanged),
            delivery_batches::stale_count.eq(c.stale),
            delivery_batches::results
                .eq(serde_json::to_value(&c.results).map_err(StoreError::corrupt)?),
        ))
        .returning(BatchRow::as_returning())
        .get_result(conn)?)
}

/// One audit entry and feed event per applied status, and one for the batch.
fn batch_changes(batch: &BatchRow, actor: &Actor, c: &Classified) -> Vec<Change> {
    let mut list = Vec::with_capacity(c.applied.len() + 1);
    for (m, before, after) in &c.applied {
        let mut change = Change::new("measure", m.id, "delivery_status_synced")
            .version(m.version + 1)
            .after(after);
        if let Some(b) = before {
            change = change.before(b);
        }
        list.push(change);
    }
    list.push(
        Change::new("delivery_batch", batch.id, "created")
            .version(1)
            .after(&BatchSummary {
                id: batch.id,
                item_count: batch.item_count,
                applied: batch.applied_count,
                unchanged: batch.unchanged_count,
                stale: batch.stale_count,
                submitted_by: &actor.subject,
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
    let mut comment: Vec<Option<String>> = Vec::with_capacity(n);
    let mut reported_by = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    for (m, _, s) in applied {
        ids.push(m.id);
        progress.push(i16::from(s.progress));
        rag.push(s.rag.as_str().to_owned());
        forecast.push(s.forecast_date);
        milestones.push(serde_json::to_string(&s.milestones).map_err(StoreError::corrupt)?);
        comment.push(s.comment.clone());
        reported_by.push(s.reported_by.clone());
        ts.push(s.source_timestamp);
    }
    const UNNEST: &str = "unnest($1::uuid[], $2::int2[], $3::text[], $4::date[], $5::text[], \
                          $6::text[], $7::text[], $8::timestamptz[]) \
                          AS u(id, progress, rag, forecast_date, milestones, comment, reported_by, ts)";
    diesel::sql_query(format!(
        "UPDATE measures AS m SET progress = u.progress, rag = u.rag, \
         forecast_date = u.forecast_date, milestones = u.milestones::jsonb, \
         delivery_comment = u.comment, reported_by = u.reported_by, source_timestamp = u.ts, \
         delivery_updated_at = $9, version = m.version + 1, updated_at = $9 \
         FROM {UNNEST} WHERE m.id = u.id"
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

pub fn find_batch(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<BatchRow>> {
    delivery_batches::table
        .find(id)
        .select(BatchRow::as_select())
        .first(conn)
        .optional()
}
