//! Benefits (gevinster) and their measurement series. The rules are the domain's
//! (`portfolio_domain::benefit`); this module loads, locks, writes and records changes, each
//! write in the caller's transaction.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Timestamptz, Uuid as SqlUuid};
use diesel::PgConnection;
use portfolio_domain::benefit::{
    self, Baseline, BenefitCategory, BenefitPlan, BenefitStatus, Direction, Indicator, Measurement,
    NewMeasurement, Owner, ParentKind, Progress, Target, DEFAULT_STALE_AFTER_MONTHS,
};
use portfolio_domain::measure::Rag;
use portfolio_domain::organisation::OrgNumber;
use portfolio_domain::DomainError;
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{
    benefit_measurements, benefits, concept_studies, concepts, measures, organisations,
};
use crate::documents::tertial_report::BenefitTotals;
use crate::etag::IfMatch;
use crate::store::StoreError;
use portfolio_domain::FieldIssue;

/// Rows scanned per round when a list is filtered by RAG (derived, so not in SQL).
const RAG_SCAN_BATCH: i64 = 500;

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = benefits)]
pub struct BenefitRow {
    pub id: Uuid,
    pub parent_kind: ParentKind,
    pub study_id: Option<Uuid>,
    pub concept_id: Option<Uuid>,
    pub measure_id: Option<Uuid>,
    pub need_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub category: BenefitCategory,
    pub owner_org: OrgNumber,
    pub owner_role: String,
    pub indicator_name: String,
    pub indicator_unit: String,
    pub direction: Direction,
    pub baseline_value: f64,
    pub baseline_date: NaiveDate,
    pub baseline_method: String,
    pub target_value: f64,
    pub target_date: NaiveDate,
    pub yearly_value_nok: Option<i64>,
    pub status: BenefitStatus,
    pub status_reason: Option<String>,
    pub latest_measurement_id: Option<i64>,
    pub latest_value: Option<f64>,
    pub latest_measured_on: Option<NaiveDate>,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl BenefitRow {
    pub fn parent(&self) -> Result<(ParentKind, Uuid), StoreError> {
        let kind = self.parent_kind;
        let id = match kind {
            ParentKind::ConceptStudy => self.study_id,
            ParentKind::Concept => self.concept_id,
            ParentKind::Measure => self.measure_id,
        };
        id.map(|id| (kind, id))
            .ok_or_else(|| StoreError::corrupt("benefit without its parent id"))
    }

    /// The plan as the domain sees it.
    pub fn plan(&self) -> BenefitPlan {
        BenefitPlan {
            title: self.title.clone(),
            description: self.description.clone(),
            category: self.category,
            owner: Owner {
                org_number: self.owner_org.to_string(),
                role: self.owner_role.clone(),
            },
            indicator: Indicator {
                name: self.indicator_name.clone(),
                unit: self.indicator_unit.clone(),
                direction: self.direction,
            },
            baseline: Baseline {
                value: self.baseline_value,
                date: self.baseline_date,
                method: self.baseline_method.clone(),
            },
            target: Target {
                value: self.target_value,
                date: self.target_date,
            },
            yearly_value_nok: self.yearly_value_nok,
        }
    }

    /// What the latest effective measurement says on `today`.
    pub fn progress(&self, today: NaiveDate) -> Progress {
        let latest = self.latest_measured_on.zip(self.latest_value);
        benefit::progress(
            &self.plan(),
            self.status,
            latest,
            today,
            DEFAULT_STALE_AFTER_MONTHS,
        )
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = benefit_measurements)]
pub struct MeasurementRow {
    pub id: i64,
    pub benefit_id: Uuid,
    pub measured_on: NaiveDate,
    pub value: f64,
    pub source: String,
    pub note: Option<String>,
    pub corrects: Option<i64>,
    pub recorded_by: String,
    pub recorded_org: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub recorded_at: DateTime<Utc>,
}

/// The domain's rule violations of a plan or measurement, all at once.
fn problems(errors: Vec<DomainError>) -> StoreError {
    let mut fields = Vec::new();
    for e in errors {
        match e {
            DomainError::Invalid { field, message } => fields.push(FieldIssue { field, message }),
            other => return StoreError::from(other),
        }
    }
    StoreError::Invalid(fields)
}

/// Filters of the benefit list.
#[derive(Debug, Clone, Default)]
pub struct BenefitFilter {
    pub owner_org: Option<String>,
    pub category: Option<BenefitCategory>,
    pub status: Option<BenefitStatus>,
    pub rag: Option<Rag>,
    pub study_id: Option<Uuid>,
    pub concept_id: Option<Uuid>,
    pub measure_id: Option<Uuid>,
    pub need_id: Option<Uuid>,
}

fn page_query<'a>(
    f: &BenefitFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> benefits::BoxedQuery<
    'a,
    diesel::pg::Pg,
    diesel::dsl::SqlTypeOf<diesel::dsl::AsSelect<BenefitRow, diesel::pg::Pg>>,
> {
    let mut q = benefits::table
        .select(BenefitRow::as_select())
        .order((benefits::created_at, benefits::id))
        .into_boxed();
    if let Some(o) = &f.owner_org {
        q = q.filter(benefits::owner_org.eq(o.clone()));
    }
    if let Some(c) = f.category {
        q = q.filter(benefits::category.eq(c));
    }
    if let Some(s) = f.status {
        q = q.filter(benefits::status.eq(s));
    }
    if let Some(id) = f.study_id {
        q = q.filter(benefits::study_id.eq(id));
    }
    if let Some(id) = f.concept_id {
        q = q.filter(benefits::concept_id.eq(id));
    }
    if let Some(id) = f.measure_id {
        q = q.filter(benefits::measure_id.eq(id));
    }
    if let Some(id) = f.need_id {
        q = q.filter(benefits::need_id.eq(id));
    }
    if let Some((t, id)) = after {
        q = q.filter(
            sql::<Bool>("(benefits.created_at, benefits.id) > (")
                .bind::<Timestamptz, _>(t)
                .sql(", ")
                .bind::<SqlUuid, _>(id)
                .sql(")"),
        );
    }
    q.limit(limit)
}

/// Up to `limit + 1` benefits after the cursor, oldest first. RAG is derived as of `today`,
/// so a RAG filter scans the other filters' index range in batches and keeps the matches
/// (a few queries per page, never one per row).
pub fn list(
    conn: &mut PgConnection,
    f: &BenefitFilter,
    mut after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
    today: NaiveDate,
) -> Result<Vec<BenefitRow>, StoreError> {
    let Some(rag) = f.rag else {
        return Ok(page_query(f, after, limit + 1).load(conn)?);
    };
    let mut out = Vec::new();
    loop {
        let batch: Vec<BenefitRow> = page_query(f, after, RAG_SCAN_BATCH).load(conn)?;
        let full = batch.len() as i64 == RAG_SCAN_BATCH;
        after = batch.last().map(|r| (r.created_at, r.id));
        for r in batch {
            if r.progress(today).rag == Some(rag) {
                out.push(r);
                if out.len() as i64 > limit {
                    return Ok(out);
                }
            }
        }
        if !full {
            return Ok(out);
        }
    }
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<BenefitRow>> {
    benefits::table
        .find(id)
        .select(BenefitRow::as_select())
        .first(conn)
        .optional()
}

/// The benefits descending from a need (through its studies and concepts), oldest first.
pub fn of_need(conn: &mut PgConnection, need_id: Uuid) -> QueryResult<Vec<BenefitRow>> {
    benefits::table
        .filter(benefits::need_id.eq(need_id))
        .select(BenefitRow::as_select())
        .order((benefits::created_at, benefits::id))
        .load(conn)
}

/// Every benefit, oldest first (overview and tertial report: one query).
pub fn all(conn: &mut PgConnection) -> QueryResult<Vec<BenefitRow>> {
    benefits::table
        .select(BenefitRow::as_select())
        .order((benefits::created_at, benefits::id))
        .load(conn)
}

/// The need a parent descends from; 422 when the parent does not exist.
fn resolve_parent(
    conn: &mut PgConnection,
    kind: ParentKind,
    id: Uuid,
) -> Result<Option<Uuid>, StoreError> {
    let need: Option<Option<Uuid>> = match kind {
        ParentKind::ConceptStudy => concept_studies::table
            .find(id)
            .select(concept_studies::need_id)
            .first(conn)
            .optional()?,
        ParentKind::Concept => concepts::table
            .find(id)
            .select(concepts::need_id)
            .first(conn)
            .optional()?,
        ParentKind::Measure => measures::table
            .find(id)
            .select(measures::id)
            .first::<Uuid>(conn)
            .optional()?
            .map(|_| None),
    };
    need.ok_or_else(|| StoreError::invalid("parent.id", format!("is not a known {kind}")))
}

fn check_owner(conn: &mut PgConnection, org: &str) -> Result<(), StoreError> {
    let known: i64 = organisations::table
        .filter(organisations::org_number.eq(org))
        .count()
        .get_result(conn)?;
    if known == 0 {
        return Err(StoreError::invalid(
            "owner.org_number",
            "is not a registered organisation",
        ));
    }
    Ok(())
}

/// The plan's columns, for both the insert and the update (one list, so they never drift).
/// Every column is written, a `None` value as NULL (clearing the NOK value).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = benefits, treat_none_as_null = true)]
struct PlanColumns<'a> {
    title: &'a str,
    description: &'a str,
    category: BenefitCategory,
    owner_org: &'a str,
    owner_role: &'a str,
    indicator_name: &'a str,
    indicator_unit: &'a str,
    direction: Direction,
    baseline_value: f64,
    baseline_date: NaiveDate,
    baseline_method: &'a str,
    target_value: f64,
    target_date: NaiveDate,
    yearly_value_nok: Option<i64>,
}

impl<'a> PlanColumns<'a> {
    fn of(p: &'a BenefitPlan) -> Self {
        PlanColumns {
            title: p.title.trim(),
            description: &p.description,
            category: p.category,
            owner_org: &p.owner.org_number,
            owner_role: p.owner.role.trim(),
            indicator_name: p.indicator.name.trim(),
            indicator_unit: p.indicator.unit.trim(),
            direction: p.indicator.direction,
            baseline_value: p.baseline.value,
            baseline_date: p.baseline.date,
            baseline_method: &p.baseline.method,
            target_value: p.target.value,
            target_date: p.target.date,
            yearly_value_nok: p.yearly_value_nok,
        }
    }
}

pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    parent: (ParentKind, Uuid),
    plan: BenefitPlan,
) -> Result<BenefitRow, StoreError> {
    let errors = plan.problems();
    if !errors.is_empty() {
        return Err(problems(errors));
    }
    let (kind, parent_id) = parent;
    let need_id = resolve_parent(conn, kind, parent_id)?;
    check_owner(conn, &plan.owner.org_number)?;
    let pick = |k: ParentKind| (k == kind).then_some(parent_id);
    let row = diesel::insert_into(benefits::table)
        .values((
            benefits::parent_kind.eq(kind),
            benefits::study_id.eq(pick(ParentKind::ConceptStudy)),
            benefits::concept_id.eq(pick(ParentKind::Concept)),
            benefits::measure_id.eq(pick(ParentKind::Measure)),
            benefits::need_id.eq(need_id),
            benefits::status.eq(BenefitStatus::Planned),
            PlanColumns::of(&plan),
        ))
        .returning(BenefitRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("benefit", row.id, "created")
            .version(row.version)
            .after(&row)],
    )?;
    Ok(row)
}

/// Stores every plan field of benefit `id` and sets its version.
fn write_plan(
    conn: &mut PgConnection,
    id: Uuid,
    p: &BenefitPlan,
    version: i32,
) -> QueryResult<BenefitRow> {
    diesel::update(benefits::table.find(id))
        .set((
            PlanColumns::of(p),
            benefits::version.eq(version),
            benefits::updated_at.eq(Utc::now()),
        ))
        .returning(BenefitRow::as_returning())
        .get_result(conn)
}

/// The benefit, locked for the rest of the transaction, or not found.
pub fn lock(conn: &mut PgConnection, id: Uuid) -> Result<BenefitRow, StoreError> {
    benefits::table
        .find(id)
        .select(BenefitRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("benefit {id}")))
}

/// A partial edit of a plan; sub-objects are replaced whole. `None` = unchanged.
#[derive(Debug, Clone, Default)]
pub struct BenefitEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category: Option<BenefitCategory>,
    pub owner: Option<Owner>,
    pub indicator: Option<Indicator>,
    pub baseline: Option<Baseline>,
    pub target: Option<Target>,
    /// `Some(None)` clears the NOK value.
    pub yearly_value_nok: Option<Option<i64>>,
}

pub fn edit(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    e: BenefitEdit,
) -> Result<BenefitRow, StoreError> {
    let before = lock(conn, id)?;
    if_match.check(before.version)?;
    let status = before.status;
    if !status.plan_editable() {
        return Err(StoreError::Conflict(format!(
            "the benefit is {status}; its plan is closed"
        )));
    }
    let old = before.plan();
    let mut plan = old.clone();
    let basis_changed = e.indicator.as_ref().is_some_and(|i| *i != old.indicator)
        || e.baseline.as_ref().is_some_and(|b| *b != old.baseline)
        || e.target.is_some_and(|t| t != old.target);
    if basis_changed && !status.basis_editable() {
        return Err(StoreError::Conflict(format!(
            "the benefit is {status}: indicator, baseline and target are fixed once realisation has begun"
        )));
    }
    plan.title = e.title.unwrap_or(plan.title);
    plan.description = e.description.unwrap_or(plan.description);
    plan.category = e.category.unwrap_or(plan.category);
    plan.owner = e.owner.unwrap_or(plan.owner);
    plan.indicator = e.indicator.unwrap_or(plan.indicator);
    plan.baseline = e.baseline.unwrap_or(plan.baseline);
    plan.target = e.target.unwrap_or(plan.target);
    plan.yearly_value_nok = e.yearly_value_nok.unwrap_or(plan.yearly_value_nok);
    let errors = plan.problems();
    if !errors.is_empty() {
        return Err(problems(errors));
    }
    if plan.owner.org_number != old.owner.org_number {
        check_owner(conn, &plan.owner.org_number)?;
    }
    let row = write_plan(conn, id, &plan, before.version + 1)?;
    changes::record(
        conn,
        actor,
        &[Change::new("benefit", id, "updated")
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}

pub fn change_status(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    to: BenefitStatus,
    reason: Option<String>,
) -> Result<BenefitRow, StoreError> {
    let before = lock(conn, id)?;
    if_match.check(before.version)?;
    let to = before
        .status
        .transition_with_reason(to, reason.as_deref())?;
    let row = diesel::update(benefits::table.find(id))
        .set((
            benefits::status.eq(to),
            benefits::status_reason.eq(reason.as_deref().map(str::trim)),
            benefits::version.eq(before.version + 1),
            benefits::updated_at.eq(Utc::now()),
        ))
        .returning(BenefitRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("benefit", id, format!("status_{to}"))
            .version(row.version)
            .before(&before)
            .after(&row)],
    )?;
    Ok(row)
}

/// Deletes a benefit entered by mistake: only while `planned` and never measured (after
/// that, cancel it with a reason so the trail stays).
pub fn delete(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<(), StoreError> {
    let before = lock(conn, id)?;
    if_match.check(before.version)?;
    let measured: i64 = benefit_measurements::table
        .filter(benefit_measurements::benefit_id.eq(id))
        .count()
        .get_result(conn)?;
    if before.status != BenefitStatus::Planned || measured > 0 {
        return Err(StoreError::Conflict(
            "only a planned benefit without measurements can be deleted; cancel it with a reason instead".into(),
        ));
    }
    diesel::delete(benefits::table.find(id)).execute(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("benefit", id, "deleted").before(&before)],
    )?;
    Ok(())
}

/// A measurement as received.
#[derive(Debug, Clone)]
pub struct NewMeasurementData {
    pub measured_on: NaiveDate,
    pub value: f64,
    pub source: String,
    pub note: Option<String>,
    pub corrects: Option<i64>,
}

/// Appends a measurement to a benefit the caller has locked (and checked the recorder may
/// change), and moves the benefit's latest effective value (and version).
pub fn record_measurement(
    conn: &mut PgConnection,
    actor: &Actor,
    before: BenefitRow,
    m: NewMeasurementData,
    today: NaiveDate,
) -> Result<(MeasurementRow, BenefitRow), StoreError> {
    let mut series = series_of(conn, before.id)?;
    let new = NewMeasurement {
        measured_on: m.measured_on,
        value: m.value,
        source: &m.source,
        note: m.note.as_deref(),
        corrects: m.corrects,
    };
    benefit::check_measurement(before.status, &before.plan(), &series, &new, today)
        .map_err(problems)?;
    let row = insert_measurement(conn, actor, before.id, &m)?;
    series.push(Measurement {
        id: row.id,
        measured_on: row.measured_on,
        value: row.value,
        corrects: row.corrects,
    });
    let benefit = move_latest(conn, &before, &series)?;
    let action = if row.corrects.is_some() {
        "corrected"
    } else {
        "recorded"
    };
    changes::record(
        conn,
        actor,
        &[
            Change::new("benefit_measurement", row.id, action).after(&row),
            Change::new("benefit", before.id, "measured")
                .version(benefit.version)
                .before(&before)
                .after(&benefit),
        ],
    )?;
    Ok((row, benefit))
}

/// The benefit's measurements in the order they were recorded.
fn series_of(conn: &mut PgConnection, benefit_id: Uuid) -> QueryResult<Vec<Measurement>> {
    Ok(benefit_measurements::table
        .filter(benefit_measurements::benefit_id.eq(benefit_id))
        .select((
            benefit_measurements::id,
            benefit_measurements::measured_on,
            benefit_measurements::value,
            benefit_measurements::corrects,
        ))
        .order(benefit_measurements::id)
        .load::<(i64, NaiveDate, f64, Option<i64>)>(conn)?
        .into_iter()
        .map(|(id, measured_on, value, corrects)| Measurement {
            id,
            measured_on,
            value,
            corrects,
        })
        .collect())
}

fn insert_measurement(
    conn: &mut PgConnection,
    actor: &Actor,
    benefit_id: Uuid,
    m: &NewMeasurementData,
) -> QueryResult<MeasurementRow> {
    diesel::insert_into(benefit_measurements::table)
        .values((
            benefit_measurements::benefit_id.eq(benefit_id),
            benefit_measurements::measured_on.eq(m.measured_on),
            benefit_measurements::value.eq(m.value),
            benefit_measurements::source.eq(m.source.trim()),
            benefit_measurements::note.eq(m.note.as_deref()),
            benefit_measurements::corrects.eq(m.corrects),
            benefit_measurements::recorded_by.eq(&actor.subject),
            benefit_measurements::recorded_org.eq(actor.org_number.as_deref()),
        ))
        .returning(MeasurementRow::as_returning())
        .get_result(conn)
}

/// Points the benefit at the series' latest effective measurement (a new version).
fn move_latest(
    conn: &mut PgConnection,
    before: &BenefitRow,
    series: &[Measurement],
) -> QueryResult<BenefitRow> {
    let latest = benefit::latest_effective(series);
    diesel::update(benefits::table.find(before.id))
        .set((
            benefits::latest_measurement_id.eq(latest.map(|l| l.id)),
            benefits::latest_value.eq(latest.map(|l| l.value)),
            benefits::latest_measured_on.eq(latest.map(|l| l.measured_on)),
            benefits::version.eq(before.version + 1),
            benefits::updated_at.eq(Utc::now()),
        ))
        .returning(BenefitRow::as_returning())
        .get_result(conn)
}

/// Measurements (up to `limit + 1`) and, per measurement id, the id of its correction.
pub struct MeasurementPage {
    pub rows: Vec<MeasurementRow>,
    pub corrected_by: HashMap<i64, i64>,
}

/// A page of a benefit's measurements, newest recording first, each with the id of the
/// measurement that corrects it (if any); `None` when the benefit does not exist.
#[allow(clippy::type_complexity)] // (merged from main as is; clippy on this toolchain objects)
pub fn measurements(
    conn: &mut PgConnection,
    id: Uuid,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Option<MeasurementPage>> {
    let exists: i64 = benefits::table
        .filter(benefits::id.eq(id))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        return Ok(None);
    }
    let mut q = benefit_measurements::table
        .filter(benefit_measurements::benefit_id.eq(id))
        .select(MeasurementRow::as_select())
        .order(benefit_measurements::id.desc())
        .into_boxed();
    if let Some(b) = before_id {
        q = q.filter(benefit_measurements::id.lt(b));
    }
    let rows: Vec<MeasurementRow> = q.limit(limit + 1).load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let corrected_by: HashMap<i64, i64> = benefit_measurements::table
        .filter(benefit_measurements::corrects.eq_any(&ids))
        .select((benefit_measurements::corrects, benefit_measurements::id))
        .load::<(Option<i64>, i64)>(conn)?
        .into_iter()
        .filter_map(|(c, id)| c.map(|c| (c, id)))
        .collect();
    Ok(Some(MeasurementPage { rows, corrected_by }))
}

/// Totals of `rows` on `today`.
pub fn totals(rows: &[BenefitRow], today: NaiveDate) -> Result<BenefitTotals, StoreError> {
    let mut t = BenefitTotals {
        by_rag: ["green", "yellow", "red", "none"]
            .into_iter()
            .map(|k| (k.to_owned(), 0))
            .collect(),
        ..BenefitTotals::default()
    };
    for r in rows {
        let p = r.progress(today);
        t.total += 1;
        *t.by_status.entry(r.status.as_str().to_owned()).or_default() += 1;
        *t.by_rag
            .entry(p.rag.map_or("none", Rag::as_str).to_owned())
            .or_default() += 1;
        t.stale += i64::from(p.stale);
        if let (Some(v), false) = (r.yearly_value_nok, r.status == BenefitStatus::Cancelled) {
            // Saturating: a sum of valid yearly values must never overflow into a 500.
            let realised = (v as f64 * p.realised_share.unwrap_or(0.0)).round() as i64;
            t.priced_planned_nok_per_year = t.priced_planned_nok_per_year.saturating_add(v);
            t.priced_realised_nok_per_year =
                t.priced_realised_nok_per_year.saturating_add(realised);
        }
    }
    Ok(t)
}
