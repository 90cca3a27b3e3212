//! Tertial reports: a draft captures the improvement portfolio (and budget frames) of a year's
//! tertial; publishing freezes the rendered JSON and CSV bytes, served unchanged from then on.
//! The report's content is a document (`documents::tertial_report`): stored as JSON.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::tertial::{Tertial, TertialReportStatus};
use serde::Serialize;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{budget_frames, measures, service_areas, tertial_reports};
use crate::documents::tertial_report::{
    AreaSection, BenefitLine, BenefitSection, ChangeLine, FrameLine, LateMilestone, MeasureLine,
    ReportContent,
};
use crate::etag::IfMatch;
use crate::store::measures::MeasureRow;
use crate::store::StoreError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tertial_reports)]
pub struct ReportRow {
    pub id: Uuid,
    pub year: i32,
    pub tertial: i16,
    pub status: TertialReportStatus,
    pub content: serde_json::Value,
    pub captured_at: DateTime<Utc>,
    pub published_json: Option<Vec<u8>>,
    pub published_csv: Option<Vec<u8>>,
    pub published_at: Option<DateTime<Utc>>,
    pub published_by: Option<String>,
    pub published_benefits_csv: Option<Vec<u8>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every benefit and the totals, as of `as_of` (one query).
fn capture_benefits(
    conn: &mut PgConnection,
    as_of: NaiveDate,
) -> Result<BenefitSection, StoreError> {
    let rows = crate::store::benefits::all(conn)?;
    let totals = crate::store::benefits::totals(&rows, as_of)?;
    let round = |v: f64| (v * 10_000.0).round() / 10_000.0;
    let mut lines = Vec::with_capacity(rows.len());
    for r in rows {
        let p = r.progress(as_of);
        let (kind, parent_id) = r.parent()?;
        lines.push(BenefitLine {
            benefit_id: r.id,
            parent_kind: kind.as_str().to_owned(),
            parent_id,
            need_id: r.need_id,
            title: r.title,
            category: r.category.as_str().to_owned(),
            owner_org: r.owner_org.into(),
            status: r.status.as_str().to_owned(),
            indicator: r.indicator_name,
            unit: r.indicator_unit,
            direction: r.direction.as_str().to_owned(),
            baseline_value: r.baseline_value,
            baseline_date: r.baseline_date,
            target_value: r.target_value,
            target_date: r.target_date,
            latest_value: r.latest_value,
            latest_measured_on: r.latest_measured_on,
            realised_share: p.realised_share.map(round),
            expected_share: round(p.expected_share),
            rag: p.rag.map(|r| r.as_str().to_owned()),
            stale: p.stale,
            yearly_value_nok: r.yearly_value_nok,
        });
    }
    Ok(BenefitSection {
        totals,
        benefits: lines,
    })
}

/// The concept studies a tertial of `year` reports on: those the board started in the
/// previous autumn's cycle and in this year's (a study of cycle Y runs in Y and Y+1).
/// One query.
fn capture_concept_studies(
    conn: &mut PgConnection,
    year: i32,
) -> QueryResult<Option<serde_json::Value>> {
    use crate::db::schema::{concept_studies as cs, needs as n};
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        Uuid,
        Option<String>,
        String,
        i32,
        String,
        bool,
        i64,
        i64,
        Option<chrono::NaiveDate>,
        Option<chrono::NaiveDate>,
        Option<String>,
    )> = cs::table
        // A study started in addition to the needs has none (its `need_reference` is null).
        .left_join(n::table.on(n::id.nullable().eq(cs::need_id)))
        .filter(cs::cycle_year.between(year - 1, year))
        .order((cs::cycle_year, n::reference.nullable(), cs::id))
        .select((
            cs::id,
            n::reference.nullable(),
            cs::title,
            cs::cycle_year,
            cs::status,
            cs::interregional,
            cs::allocated_nok,
            cs::spent_nok,
            cs::expected_from,
            cs::expected_to,
            cs::expected_label,
        ))
        .load(conn)?;
    let studies: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(id, reference, title, cycle_year, status, interregional, allocated, spent, from, to, label)| {
            serde_json::json!({
                "id": id, "need_reference": reference, "title": title, "cycle_year": cycle_year,
                "status": status, "interregional": interregional, "allocated_nok": allocated,
                "spent_nok": spent, "expected_from": from, "expected_to": to, "expected_label": label
            })
        })
        .collect();
    Ok(Some(serde_json::Value::Array(studies)))
}

/// The year's budget frames and their use.
pub fn capture_frames(conn: &mut PgConnection, year: i32) -> QueryResult<Vec<FrameLine>> {
    let rows: Vec<(String, i64, i64, i64)> = budget_frames::table
        .filter(budget_frames::year.eq(year))
        .select((
            budget_frames::sub_portfolio,
            budget_frames::amount_nok,
            budget_frames::allocated_nok,
            budget_frames::spent_nok,
        ))
        .order(budget_frames::sub_portfolio)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(s, a, al, sp)| FrameLine {
            sub_portfolio: s,
            amount_nok: a,
            allocated_nok: al,
            spent_nok: sp,
            remaining_nok: a - al,
        })
        .collect())
}

/// The latest published report before `t`, if any.
fn previous_published(
    conn: &mut PgConnection,
    t: Tertial,
) -> QueryResult<Option<(String, ReportContent)>> {
    let row: Option<(i32, i16, serde_json::Value)> = tertial_reports::table
        .filter(tertial_reports::status.eq(TertialReportStatus::Published))
        .filter(
            tertial_reports::year.lt(t.year()).or(tertial_reports::year
                .eq(t.year())
                .and(tertial_reports::tertial.lt(i16::from(t.number())))),
        )
        .order((
            tertial_reports::year.desc(),
            tertial_reports::tertial.desc(),
        ))
        .select((
            tertial_reports::year,
            tertial_reports::tertial,
            tertial_reports::content,
        ))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(y, n, c)| {
        let content: ReportContent = serde_json::from_value(c).ok()?;
        Some((format!("{y}-T{n}"), content))
    }))
}

/// Captures the state of the year's improvement portfolio: a fixed number of queries.
pub fn capture(
    conn: &mut PgConnection,
    t: Tertial,
    today: NaiveDate,
) -> Result<ReportContent, StoreError> {
    let year = t.year();
    let as_of = today.min(t.last_day());
    let areas = year_areas(conn, year)?;
    let rows: Vec<MeasureRow> = measures::table
        .inner_join(service_areas::table)
        .filter(service_areas::year.eq(year))
        .select(MeasureRow::as_select())
        .order(measures::partner_reference)
        .load(conn)?;
    let previous = previous_published(conn, t)?;
    let before = previous.as_ref().map(|(_, c)| Reported::of(c));
    let mut by_area: HashMap<Uuid, Vec<&MeasureRow>> = HashMap::new();
    for r in &rows {
        by_area.entry(r.service_area_id).or_default().push(r);
    }
    let service_areas = areas
        .into_iter()
        .map(|area| {
            let list = by_area.remove(&area.0).unwrap_or_default();
            area_section(area, &list, as_of, before.as_ref())
        })
        .collect();
    Ok(ReportContent {
        as_of,
        previous_published: previous.map(|(l, _)| l),
        service_areas,
        concept_studies: capture_concept_studies(conn, year)?,
        budget_frames: capture_frames(conn, year)?,
        benefits: Some(capture_benefits(conn, as_of)?),
        audit_checkpoint: None,
    })
}

/// A service area of a year: id, name and kind.
pub type Area = (Uuid, String, String);

/// The service areas of `year`, kind by kind, by name (the order reports and the overview use).
pub fn year_areas(conn: &mut PgConnection, year: i32) -> QueryResult<Vec<Area>> {
    service_areas::table
        .filter(service_areas::year.eq(year))
        .select((service_areas::id, service_areas::name, service_areas::kind))
        .order((service_areas::kind, service_areas::name, service_areas::id))
        .load(conn)
}

/// Status and RAG per measure as a previous report has them.
struct Reported(HashMap<Uuid, (String, Option<String>)>);

impl Reported {
    fn of(content: &ReportContent) -> Reported {
        Reported(
            content
                .service_areas
                .iter()
                .flat_map(|a| a.measures.iter())
                .map(|m| (m.measure_id, (m.status.clone(), m.rag.clone())))
                .collect(),
        )
    }

    /// The measure's change since that report (status or RAG, or new), if it changed.
    fn change(&self, m: &MeasureRow, status: &str, rag: &Option<String>) -> Option<ChangeLine> {
        let (previous_status, previous_rag) = match self.0.get(&m.id) {
            Some((s, r)) => (Some(s.clone()), r.clone()),
            None => (None, None),
        };
        let changed = previous_status.as_deref() != Some(status) || previous_rag != *rag;
        changed.then(|| ChangeLine {
            measure_id: m.id,
            partner_reference: m.partner_reference.clone(),
            previous_status,
            status: status.to_owned(),
            previous_rag,
            rag: rag.clone(),
        })
    }
}

/// One service area's section: its measures, counted, compared with `before`.
fn area_section(
    (id, name, kind): Area,
    list: &[&MeasureRow],
    as_of: NaiveDate,
    before: Option<&Reported>,
) -> AreaSection {
    let mut section = AreaSection {
        service_area_id: id,
        name,
        kind,
        measure_count: list.len() as i64,
        by_status: BTreeMap::new(),
        by_rag: BTreeMap::new(),
        changed_since_previous: Vec::new(),
        late_milestones: Vec::new(),
        measures: Vec::new(),
    };
    for m in list {
        add_measure(&mut section, m, as_of, before);
    }
    section
}

/// Adds one measure to its area's section: its line, counts, late milestones and change.
fn add_measure(
    section: &mut AreaSection,
    m: &MeasureRow,
    as_of: NaiveDate,
    before: Option<&Reported>,
) {
    // The report stores texts: it is published as JSON and CSV and never changes.
    let status = m.status.as_str().to_owned();
    let rag = m.rag.map(|r| r.as_str().to_owned());
    *section.by_status.entry(status.clone()).or_default() += 1;
    *section
        .by_rag
        .entry(rag.clone().unwrap_or_else(|| "none".into()))
        .or_default() += 1;
    let late = late_milestones(m, as_of);
    if let Some(change) = before.and_then(|b| b.change(m, &status, &rag)) {
        section.changed_since_previous.push(change);
    }
    section.measures.push(MeasureLine {
        measure_id: m.id,
        partner_reference: m.partner_reference.clone(),
        title: m.title.clone(),
        status,
        rag,
        progress: m.progress,
        forecast_date: m.forecast_date,
        late_milestones: late.len(),
    });
    section.late_milestones.extend(late);
}

/// The measure's milestones planned before `as_of` and not done.
fn late_milestones(m: &MeasureRow, as_of: NaiveDate) -> Vec<LateMilestone> {
    let Some(status) = m.delivery_status() else {
        return Vec::new();
    };
    status
        .milestones
        .into_iter()
        .filter(|ms| ms.done_date.is_none() && ms.planned_date < as_of)
        .map(|ms| LateMilestone {
            measure_id: m.id,
            partner_reference: m.partner_reference.clone(),
            name: ms.name,
            planned_date: ms.planned_date,
        })
        .collect()
}

pub fn find_report(conn: &mut PgConnection, id: Uuid) -> QueryResult<Option<ReportRow>> {
    tertial_reports::table
        .find(id)
        .select(ReportRow::as_select())
        .first(conn)
        .optional()
}

/// Report summaries in (year, tertial) order; drafts only when `include_drafts`.
pub fn list_reports(
    conn: &mut PgConnection,
    year: Option<i32>,
    include_drafts: bool,
    after: Option<(i32, i16)>,
    limit: i64,
) -> QueryResult<Vec<ReportRow>> {
    let mut q = tertial_reports::table
        .select(ReportRow::as_select())
        .order((tertial_reports::year, tertial_reports::tertial))
        .into_boxed();
    if let Some(y) = year {
        q = q.filter(tertial_reports::year.eq(y));
    }
    if !include_drafts {
        q = q.filter(tertial_reports::status.eq(TertialReportStatus::Published));
    }
    if let Some((y, n)) = after {
        q = q.filter(
            tertial_reports::year.gt(y).or(tertial_reports::year
                .eq(y)
                .and(tertial_reports::tertial.gt(n))),
        );
    }
    q.limit(limit + 1).load(conn)
}

#[derive(Serialize)]
struct AuditView {
    id: Uuid,
    year: i32,
    tertial: i16,
    status: TertialReportStatus,
    captured_at: DateTime<Utc>,
    version: i32,
}

fn audit(r: &ReportRow) -> AuditView {
    AuditView {
        id: r.id,
        year: r.year,
        tertial: r.tertial,
        status: r.status,
        captured_at: r.captured_at,
        version: r.version,
    }
}

pub fn create_draft(
    conn: &mut PgConnection,
    actor: &Actor,
    t: Tertial,
) -> Result<ReportRow, StoreError> {
    let exists: i64 = tertial_reports::table
        .filter(tertial_reports::year.eq(t.year()))
        .filter(tertial_reports::tertial.eq(i16::from(t.number())))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(StoreError::Conflict(format!(
            "a report for {t} already exists; refresh the draft instead"
        )));
    }
    let now = Utc::now();
    let content = capture(conn, t, now.date_naive())?;
    let row = diesel::insert_into(tertial_reports::table)
        .values((
            tertial_reports::year.eq(t.year()),
            tertial_reports::tertial.eq(i16::from(t.number())),
            tertial_reports::status.eq(TertialReportStatus::Draft),
            tertial_reports::content
                .eq(serde_json::to_value(&content).map_err(StoreError::corrupt)?),
            tertial_reports::captured_at.eq(now),
        ))
        .returning(ReportRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("tertial_report", row.id, "created")
            .version(1)
            .after(&audit(&row))],
    )?;
    Ok(row)
}

fn lock_mutable(
    conn: &mut PgConnection,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<ReportRow, StoreError> {
    let row = tertial_reports::table
        .find(id)
        .select(ReportRow::as_select())
        .for_update()
        .first(conn)
        .optional()?
        .ok_or_else(|| StoreError::not_found(format!("tertial report {id}")))?;
    row.status.ensure_mutable()?;
    if_match.check(row.version)?;
    Ok(row)
}

/// Captures the portfolio again into a draft.
pub fn refresh_draft(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
) -> Result<ReportRow, StoreError> {
    let before = lock_mutable(conn, id, if_match)?;
    let t = Tertial::new(before.year, before.tertial as u8)?;
    let now = Utc::now();
    let content = capture(conn, t, now.date_naive())?;
    let row = diesel::update(tertial_reports::table.find(id))
        .set((
            tertial_reports::content
                .eq(serde_json::to_value(&content).map_err(StoreError::corrupt)?),
            tertial_reports::captured_at.eq(now),
            tertial_reports::version.eq(before.version + 1),
            tertial_reports::updated_at.eq(now),
        ))
        .returning(ReportRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("tertial_report", id, "refreshed")
            .version(row.version)
            .before(&audit(&before))
            .after(&audit(&row))],
    )?;
    Ok(row)
}

/// The frozen renderings of a published report.
pub struct Rendered {
    pub json: Vec<u8>,
    /// One row per measure.
    pub csv: Vec<u8>,
    /// One row per benefit.
    pub benefits_csv: Vec<u8>,
}

/// Publishes a draft: `render` turns the published row into the JSON and CSV bytes that are
/// stored and served from then on.
pub fn publish(
    conn: &mut PgConnection,
    actor: &Actor,
    id: Uuid,
    if_match: &IfMatch,
    render: impl FnOnce(&ReportRow) -> Result<Rendered, StoreError>,
) -> Result<ReportRow, StoreError> {
    let before = lock_mutable(conn, id, if_match)?;
    let published = before.status.publish()?;
    let now = Utc::now();
    let mut row = before.clone();
    row.status = published;
    row.version += 1;
    row.published_at = Some(chrono::SubsecRound::trunc_subsecs(now, 6));
    row.published_by = Some(actor.subject.clone());
    row.updated_at = row.published_at.unwrap_or(now);
    // Anchor the audit chain in the report: a checkpoint of the head as of publishing.
    let checkpoint = crate::store::checkpoints::publish(conn)?;
    if let Some(content) = row.content.as_object_mut() {
        content.insert(
            "audit_checkpoint".into(),
            serde_json::to_value(&checkpoint)?,
        );
    }
    let Rendered {
        json,
        csv,
        benefits_csv,
    } = render(&row)?;
    let row = diesel::update(tertial_reports::table.find(id))
        .set((
            tertial_reports::status.eq(row.status),
            tertial_reports::version.eq(row.version),
            tertial_reports::published_at.eq(row.published_at),
            tertial_reports::published_by.eq(&row.published_by),
            tertial_reports::published_json.eq(Some(json)),
            tertial_reports::published_csv.eq(Some(csv)),
            tertial_reports::published_benefits_csv.eq(Some(benefits_csv)),
            tertial_reports::updated_at.eq(row.updated_at),
            tertial_reports::content.eq(&row.content),
        ))
        .returning(ReportRow::as_returning())
        .get_result(conn)?;
    changes::record(
        conn,
        actor,
        &[Change::new("tertial_report", id, "published")
            .version(row.version)
            .before(&audit(&before))
            .after(&audit(&row))],
    )?;
    Ok(row)
}
