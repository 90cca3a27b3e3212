//! Measures of the improvement portfolio: the measure itself, its suppliers, its lifecycle and
//! its delivery-status history.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::measure::{DeliveryStatus, MeasureStatus, Milestone, Rag, ServiceAreaKind};
use portfolio_domain::need::Origin;
use portfolio_domain::StateMachine;
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{
    measure_delivery_history, measure_suppliers, measures, organisations, service_areas,
};
use crate::etag::IfMatch;
use crate::store::StoreError;
use portfolio_domain::{FieldIssue, FieldPath};

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = measures)]
pub struct MeasureRow {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub service_area_id: Uuid,
    pub origin: Origin,
    pub system_owner: String,
    pub system_responsible: String,
    pub partner_reference: String,
    pub status: MeasureStatus,
    pub progress: Option<i16>,
    pub rag: Option<Rag>,
    pub forecast_date: Option<NaiveDate>,
    pub milestones: Option<serde_json::Value>,
    pub delivery_comment: Option<String>,
    pub reported_by: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub source_timestamp: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub delivery_updated_at: Option<DateTime<Utc>>,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl MeasureRow {
    /// The stored delivery status, when one was ever reported.
    pub fn delivery_status(&self) -> Option<DeliveryStatus> {
        delivery_status_of(
            self.progress,
            self.rag,
            self.forecast_date,
            self.milestones.as_ref(),
            self.delivery_comment.clone(),
            self.reported_by.clone(),
            self.source_timestamp,
        )
    }
}

/// Rebuilds a domain delivery status from stored columns.
pub fn delivery_status_of(
    progress: Option<i16>,
    rag: Option<Rag>,
    forecast_date: Option<NaiveDate>,
    milestones: Option<&serde_json::Value>,
    comment: Option<String>,
    reported_by: Option<String>,
    source_timestamp: Option<DateTime<Utc>>,
) -> Option<DeliveryStatus> {
    let source_timestamp = source_timestamp?;
    let rag = rag?;
    let milestones: Vec<Milestone> = milestones
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    Some(DeliveryStatus {
        progress: progress.unwrap_or(0).clamp(0, 100) as u8,
        rag,
        forecast_date,
        milestones,
        comment,
        reported_by: reported_by.unwrap_or_default(),
        source_timestamp,
    })
}

/// A measure with the org numbers of its suppliers (sorted).
#[derive(Debug, Clone, Serialize)]
pub struct MeasureWithSuppliers {
    #[serde(flatten)]
    pub measure: MeasureRow,
    pub suppliers: Vec<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = measure_delivery_history)]
pub struct HistoryRow {
    pub id: i64,
    pub measure_id: Uuid,
    pub progress: i16,
    pub rag: Rag,
    pub forecast_date: Option<NaiveDate>,
    pub milestones: serde_json::Value,
    pub comment: Option<String>,
    pub reported_by: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub source_timestamp: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub recorded_at: DateTime<Utc>,
    pub batch_id: Option<Uuid>,
}

/// The fields of a new measure (already validated for shape).
#[derive(Debug, Clone)]
pub struct NewMeasureData {
    pub title: String,
    pub description: String,
    pub service_area_id: Uuid,
    pub origin: Origin,
    pub system_owner: String,
    pub system_responsible: String,
    pub partner_reference: String,
    pub suppliers: Vec<String>,
}

/// Fields a manager may change; `None` leaves the field as it is.
#[derive(Debug, Clone, Default)]
pub struct MeasureEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub service_area_id: Option<Uuid>,
    pub origin: Option<Origin>,
    pub system_owner: Option<String>,
    pub system_responsible: Option<String>,
    pub partner_reference: Option<String>,
    pub suppliers: Option<Vec<String>>,
}

/// Filters of the measure list.
#[derive(Debug, Clone, Default)]
pub struct MeasureFilter {
    pub year: Option<i32>,
    pub service_area_id: Option<Uuid>,
    pub area_kind: Option<ServiceAreaKind>,
    pub status: Option<MeasureStatus>,
    pub rag: Option<Rag>,
    pub supplier: Option<String>,
}

/// Supplier org numbers per measure, one query for all of `ids`.
pub fn suppliers_of(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, Vec<String>>> {
    let rows: Vec<(Uuid, String)> = measure_suppliers::table
        .filter(measure_suppliers::measure_id.eq_any(ids))
        .select((measure_suppliers::measure_id, measure_suppliers::org_number))
        .order((measure_suppliers::measure_id, measure_suppliers::org_number))
        .load(conn)?;
    let mut out: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (id, org) in rows {
        out.entry(id).or_default().push(org);
    }
    Ok(out)
}

fn with_suppliers(
    conn: &mut PgConnection,
    rows: Vec<MeasureRow>,
) -> QueryResult<Vec<MeasureWithSuppliers>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut map = suppliers_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let suppliers = map.remove(&m.id).unwrap_or_default();
            MeasureWithSuppliers {
                measure: m,
                suppliers,
            }
        })
        .collect())
}

pub fn find_measure(
    conn: &mut PgConnection,
    id: Uuid,
) -> QueryResult<Option<MeasureWithSuppliers>> {
    let row = measures::table
        .find(id)
        .select(MeasureRow::as_select())
        .first(conn)
        .optional()?;
    match row {
        None => Ok(None),
        Some(r) => Ok(with_suppliers(conn, vec![r])?.pop()),
    }
}

pub fn list_measures(
    conn: &mut PgConnection,
    f: &MeasureFilter,
    after: Option<String>,
    limit: i64,
) -> QueryResult<Vec<MeasureWithSuppliers>> {
    let mut q = measures::table
        .inner_join(service_areas::table)
        .select(MeasureRow::as_select())
        .order(measures::partner_reference)
        .into_boxed();
    if let Some(y) = f.year {
        q = q.filter(service_areas::year.eq(y));
    }
    if let Some(a) = f.service_area_id {
        q = q.filter(measures::service_area_id.eq(a));
    }
    if let Some(k) = f.area_kind {
        q = q.filter(service_areas::kind.eq(k));
    }
    if let Some(s) = f.status {
        q = q.filter(measures::status.eq(s));
    }
    if let Some(r) = f.rag {
        q = q.filter(measures::rag.eq(r));
    }
    if let Some(s) = &f.supplier {
        q = q.filter(
            measures::id.eq_any(
                measure_suppliers::table
                    .filter(measure_suppliers::org_number.eq(s.clone()))
                    .select(measure_suppliers::measure_id),
            ),
        );
    }
    if let Some(a) = after {
        q = q.filter(measures::partner_reference.gt(a));
    }
    let rows = q.limit(limit + 1).load(conn)?;
    with_suppliers(conn, rows)
}

/// The service area must exist (422) and not be retired (409).
fn check_service_area(conn: &mut PgConnection, id: Uuid) -> Result<(), StoreError> {
    let area: Option<Option<DateTime<Utc>>> = service_areas::table
        .find(id)
        .select(service_areas::retired_at)
        .first(conn)
        .optional()?;
    match area {
        None => Err(StoreError::invalid(
            "service_area_id",
            "is not a known service area",
        )),
        Some(Some(_)) => Err(StoreError::Conflict(
            "the service area is retired and takes no new measures".into(),
        )),
        Some(None) => Ok(()),
    }
}

/// Every supplier must be a registered organisation of kind `supplier`; one query.
fn check_suppliers(conn: &mut PgConnection, suppliers: &[String]) -> Result<(), StoreError> {
    let kinds: HashMap<String, String> = organisations::table
        .filter(organisations::org_number.eq_any(suppliers))
        .select((organisations::org_number, organisations::kind))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let mut errors = Vec::new();
    for (i, s) in suppliers.iter().enumerate() {
        let pointer = FieldPath::from("supplier_org_numbers").index(i);
        match kinds.get(s).map(String::as_str) {
            None => errors.push(FieldIssue::new(
                pointer.clone(),
                "is not a registered organisation",
            )),
            Some("supplier") => {}
            Some(k) => errors.push(FieldIssue::new(
                pointer,
                format!("is a {k}, not a supplier"),
            )),
        }
    }
    StoreError::check(errors)
}

fn reference_taken(
    conn: &mut PgConnection,
    reference: &str,
    except: Option<Uuid>,
) -> Result<(), StoreError> {
    let other: Option<Uuid> = measures::table
        .filter(measures::partner_reference.eq(reference))
        .select(measures::id)
        .first(conn)
        .optional()?;
    match other {
        Some(o) if Some(o) != except => Err(StoreError::Conflict(format!(
            "another measure already has the IT partner's reference {reference:?}"
        ))),
        _ => Ok(()),
    }
}

fn set_suppliers(conn: &mut PgConnection, id: Uuid, suppliers: &[String]) -> QueryResult<()> {
    diesel::delete(measure_suppliers::table.filter(measure_suppliers::measure_id.eq(id)))
        .execute(conn)?;
    let rows: Vec<_> = suppliers
        .iter()
        .map(|s| {
            (
                measure_suppliers::measure_id.eq(id),
                measure_suppliers::org_number.eq(s),
            )
        })
        .collect();
    if !rows.is_empty() {
        diesel::insert_into(measure_suppliers::table)
            .values(rows)
            .execute(conn)?;
    }
    Ok(())
}

pub fn create_measure(
    conn: &mut PgConnection,
    actor: &Actor,
    new: NewMeasureData,
) -> Result<MeasureWithSuppliers, StoreError> {
    check_service_area(conn, new.service_area_id)?;
    check_suppliers(conn, &new.suppliers)?;
    reference_taken(conn, &new.partner_reference, None)?;
    let row = diesel::insert_into(measures::table)
        .values((
            measures::title.eq(&new.title),
            measures::description.eq(&new.description),
            measures::service_area_id.eq(new.service_area_id),
            measures::origin.eq(new.origin),
            measures::system_owner.eq(&new.system_owner),
            measures::system_responsible.eq(&new.system_responsible),
            measures::partner_reference.eq(&new.partner_reference),
            measures::status.eq(MeasureStatus::Proposed),
        ))
        .returning(MeasureRow::as_returning())
        .get_result(conn)?;
    set_suppliers(conn, row.id, &new.suppliers)?;
    let mut suppliers = new.suppliers;
    suppliers.sort();
    let out = MeasureWithSuppliers {
        measure: row,
        suppliers,
    };
    changes::record(
        conn,
        actor,
        &[Change::new("measure", out.measure.id, "created")
            .version(1)
            .after(&out)],
    )?;
    Ok(out)
}

fn lock_measure(conn: &mut PgConnection, id: Uuid) -> Result<MeasureWithSuppliers, StoreError> {
    let row = measures::table
        .find(id)
        .select(MeasureRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("measure {id}")))?;
    with_suppliers(conn, vec![row])?
        .pop()
        .ok_or_else(|| StoreError::corrupt("measure vanished"))
}

pub fn edit_measure(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    edit: MeasureEdit,
) -> Result<MeasureWithSuppliers, StoreError> {
    let before = lock_measure(conn, id)?;
    if_match.check(before.measure.version)?;
    if let Some(a) = edit.service_area_id {
        if a != before.measure.service_area_id {
            check_service_area(conn, a)?;
        }
    }
    if let Some(s) = &edit.suppliers {
        check_suppliers(conn, s)?;
    }
    if let Some(r) = &edit.partner_reference {
        reference_taken(conn, r, Some(id))?;
    }
    let b = &before.measure;
    let row = diesel::update(measures::table.find(id))
        .set((
            measures::title.eq(edit.title.as_ref().unwrap_or(&b.title)),
            measures::description.eq(edit.description.as_ref().unwrap_or(&b.description)),
            measures::service_area_id.eq(edit.service_area_id.unwrap_or(b.service_area_id)),
            measures::origin.eq(edit.origin.unwrap_or(b.origin)),
            measures::system_owner.eq(edit.system_owner.as_ref().unwrap_or(&b.system_owner)),
            measures::system_responsible.eq(edit
                .system_responsible
                .as_ref()
                .unwrap_or(&b.system_responsible)),
            measures::partner_reference.eq(edit
                .partner_reference
                .as_ref()
                .unwrap_or(&b.partner_reference)),
            measures::version.eq(b.version + 1),
            measures::updated_at.eq(Utc::now()),
        ))
        .returning(MeasureRow::as_returning())
        .get_result(conn)?;
    let suppliers = match edit.suppliers {
        Some(mut s) => {
            set_suppliers(conn, id, &s)?;
            s.sort();
            s
        }
        None => before.suppliers.clone(),
    };
    let after = MeasureWithSuppliers {
        measure: row,
        suppliers,
    };
    changes::record(
        conn,
        actor,
        &[Change::new("measure", id, "updated")
            .version(after.measure.version)
            .before(&before)
            .after(&after)],
    )?;
    Ok(after)
}

pub fn change_status(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    to: MeasureStatus,
) -> Result<MeasureWithSuppliers, StoreError> {
    let before = lock_measure(conn, id)?;
    if_match.check(before.measure.version)?;
    let from = before.measure.status;
    let to = from.transition(to)?;
    let row = diesel::update(measures::table.find(id))
        .set((
            measures::status.eq(to),
            measures::version.eq(before.measure.version + 1),
            measures::updated_at.eq(Utc::now()),
        ))
        .returning(MeasureRow::as_returning())
        .get_result(conn)?;
    let after = MeasureWithSuppliers {
        measure: row,
        suppliers: before.suppliers.clone(),
    };
    changes::record(
        conn,
        actor,
        &[
            Change::new("measure", id, format!("status_{}", to.as_str()))
                .version(after.measure.version)
                .before(&before)
                .after(&after),
        ],
    )?;
    Ok(after)
}

/// Delivery history of a measure, newest first; `None` when the measure does not exist.
pub fn delivery_history(
    conn: &mut PgConnection,
    id: Uuid,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Option<Vec<HistoryRow>>> {
    let exists: i64 = measures::table
        .filter(measures::id.eq(id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Ok(None);
    }
    let mut q = measure_delivery_history::table
        .filter(measure_delivery_history::measure_id.eq(id))
        .select(HistoryRow::as_select())
        .order(measure_delivery_history::id.desc())
        .into_boxed();
    if let Some(b) = before_id {
        q = q.filter(measure_delivery_history::id.lt(b));
    }
    q.limit(limit + 1).load(conn).map(Some)
}
