//! Tertial reports: a draft captures the improvement portfolio (and budget frames) of a year's
//! tertial; publishing freezes the rendered JSON and CSV bytes, served unchanged from then on.
//! Also the portfolio overview (a few aggregate queries).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::tertial::{Tertial, TertialReportStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{budget_frames, measures, needs, service_areas, tertial_reports};
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

/// What a report captures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportContent {
    /// Late milestones are those planned before this day and not done (the tertial's last
    /// day, or the capture day while the tertial is running).
    pub as_of: NaiveDate,
    /// The previous published tertial report the changes are measured against, e.g. `2022-T3`.
    pub previous_published: Option<String>,
    /// The improvement portfolio per service area.
    pub service_areas: Vec<AreaSection>,
    /// The concept studies the tertial reports on: those started from the previous and
    /// this year's cycles (`capture_concept_studies`).
    #[schema(value_type = Option<Vec<Object>>)]
    pub concept_studies: Option<serde_json::Value>,
    /// The year's budget frames.
    pub budget_frames: Vec<FrameLine>,
    /// Benefits realisation: every benefit with its progress as of `as_of`, and totals.
    /// Absent in reports captured before benefits were tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benefits: Option<BenefitSection>,
    /// The audit chain's newest signed checkpoint when the report was published: a reader who
    /// keeps the report can later verify the chain against it (`/api/v1/audit/verify?against=`)
    /// and detect a removed tail. Absent in drafts and in reports published before checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_checkpoint: Option<crate::store::checkpoints::Checkpoint>,
}

/// The tertial report's benefits section.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BenefitSection {
    pub totals: crate::store::benefits::BenefitTotals,
    pub benefits: Vec<BenefitLine>,
}

/// One benefit in a tertial report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BenefitLine {
    pub benefit_id: Uuid,
    pub title: String,
    /// `concept_study`, `concept` or `measure`.
    pub parent_kind: String,
    pub parent_id: Uuid,
    pub need_id: Option<Uuid>,
    pub category: String,
    pub owner_org: String,
    pub status: String,
    pub indicator: String,
    pub unit: String,
    pub direction: String,
    pub baseline_value: f64,
    pub baseline_date: NaiveDate,
    pub target_value: f64,
    pub target_date: NaiveDate,
    pub latest_value: Option<f64>,
    pub latest_measured_on: Option<NaiveDate>,
    pub realised_share: Option<f64>,
    pub expected_share: f64,
    pub rag: Option<String>,
    pub stale: bool,
    pub yearly_value_nok: Option<i64>,
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

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AreaSection {
    pub service_area_id: Uuid,
    pub name: String,
    pub kind: String,
    pub measure_count: i64,
    /// Measures per lifecycle status.
    pub by_status: BTreeMap<String, i64>,
    /// Measures per RAG health (`none` = no status reported yet).
    pub by_rag: BTreeMap<String, i64>,
    /// Measures whose status or RAG differs from the previous published report.
    pub changed_since_previous: Vec<ChangeLine>,
    pub late_milestones: Vec<LateMilestone>,
    pub measures: Vec<MeasureLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MeasureLine {
    pub measure_id: Uuid,
    pub partner_reference: String,
    pub title: String,
    pub status: String,
    pub rag: Option<String>,
    pub progress: Option<i16>,
    pub forecast_date: Option<NaiveDate>,
    pub late_milestones: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeLine {
    pub measure_id: Uuid,
    pub partner_reference: String,
    /// Status in the previous report (`null`: the measure was not in it).
    pub previous_status: Option<String>,
    pub status: String,
    pub previous_rag: Option<String>,
    pub rag: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LateMilestone {
    pub measure_id: Uuid,
    pub partner_reference: String,
    pub name: String,
    pub planned_date: NaiveDate,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FrameLine {
    pub sub_portfolio: String,
    pub amount_nok: i64,
    pub allocated_nok: i64,
    pub spent_nok: i64,
    pub remaining_nok: i64,
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

fn capture_frames(conn: &mut PgConnection, year: i32) -> QueryResult<Vec<FrameLine>> {
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
    let areas: Vec<(Uuid, String, String)> = service_areas::table
        .filter(service_areas::year.eq(year))
        .select((service_areas::id, service_areas::name, service_areas::kind))
        .order((service_areas::kind, service_areas::name, service_areas::id))
        .load(conn)?;
    let rows: Vec<MeasureRow> = measures::table
        .inner_join(service_areas::table)
        .filter(service_areas::year.eq(year))
        .select(MeasureRow::as_select())
        .order(measures::partner_reference)
        .load(conn)?;
    let previous = previous_published(conn, t)?;
    let before: HashMap<Uuid, (String, Option<String>)> = previous
        .as_ref()
        .map(|(_, c)| {
            c.service_areas
                .iter()
                .flat_map(|a| a.measures.iter())
                .map(|m| (m.measure_id, (m.status.clone(), m.rag.clone())))
                .collect()
        })
        .unwrap_or_default();

    let mut by_area: HashMap<Uuid, Vec<&MeasureRow>> = HashMap::new();
    for r in &rows {
        by_area.entry(r.service_area_id).or_default().push(r);
    }
    let mut sections = Vec::new();
    for (id, name, kind) in areas {
        let list = by_area.remove(&id).unwrap_or_default();
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
            // The report stores texts: it is published as JSON and CSV and never changes.
            let status = m.status.as_str().to_owned();
            let rag = m.rag.map(|r| r.as_str().to_owned());
            *section.by_status.entry(status.clone()).or_default() += 1;
            *section
                .by_rag
                .entry(rag.clone().unwrap_or_else(|| "none".into()))
                .or_default() += 1;
            let mut late = 0;
            if let Some(s) = m.delivery_status() {
                for ms in s.milestones {
                    if ms.done_date.is_none() && ms.planned_date < as_of {
                        late += 1;
                        section.late_milestones.push(LateMilestone {
                            measure_id: m.id,
                            partner_reference: m.partner_reference.clone(),
                            name: ms.name,
                            planned_date: ms.planned_date,
                        });
                    }
                }
            }
            if previous.is_some() {
                let (ps, pr) = match before.get(&m.id) {
                    Some((s, r)) => (Some(s.clone()), r.clone()),
                    None => (None, None),
                };
                if ps.as_deref() != Some(status.as_str()) || pr != rag {
                    section.changed_since_previous.push(ChangeLine {
                        measure_id: m.id,
                        partner_reference: m.partner_reference.clone(),
                        previous_status: ps,
                        status: status.clone(),
                        previous_rag: pr,
                        rag: rag.clone(),
                    });
                }
            }
            section.measures.push(MeasureLine {
                measure_id: m.id,
                partner_reference: m.partner_reference.clone(),
                title: m.title.clone(),
                status: status.clone(),
                rag: rag.clone(),
                progress: m.progress,
                forecast_date: m.forecast_date,
                late_milestones: late,
            });
        }
        sections.push(section);
    }
    Ok(ReportContent {
        as_of,
        previous_published: previous.map(|(l, _)| l),
        service_areas: sections,
        concept_studies: capture_concept_studies(conn, year)?,
        budget_frames: capture_frames(conn, year)?,
        benefits: Some(capture_benefits(conn, as_of)?),
        audit_checkpoint: None,
    })
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

/// The portfolio overview of a year: a handful of aggregate queries.
/// The numbers of one **budget year**: the budget frames of `year` and the concept studies
/// they fund (whichever cycle proposed them: the board decides in autumn on the next year's
/// money, so the 2022 cycle's studies are funded, and counted, in 2023), the improvement
/// measures of `year`'s service areas, and the needs reported in `year`'s own cycle (its
/// intake; the studies those lead to are funded from later years' frames).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "year": 2023,
    "sub_portfolios": {
        "needs": {"total": 3, "by_status": {"submitted": 3}},
        "improvement_measures": {"total": 3, "by_status": {"in_delivery": 2, "planned": 1}},
        "concept_studies": {"total": 8, "by_status": {"completed": 3, "in_progress": 3, "not_started": 1, "paused": 1}, "by_cycle": {"2022": 8}}
    },
    "service_areas": [{"service_area_id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba", "name": "Mor og barn", "kind": "clinical", "measures": 2, "by_status": {"in_delivery": 2}}],
    "rag": {"green": 1, "yellow": 1, "red": 0, "none": 1},
    "budget": [{"sub_portfolio": "concept_studies", "amount_nok": 10000000, "allocated_nok": 6000000, "spent_nok": 2500000, "remaining_nok": 4000000}],
    "benefits": {"as_of": "2025-01-15", "total": 4, "by_status": {"in_realisation": 3, "planned": 1},
        "by_rag": {"green": 2, "yellow": 1, "red": 1, "none": 0}, "stale": 0,
        "priced_planned_nok_per_year": 3600000, "priced_realised_nok_per_year": 1520000}
}))]
pub struct Overview {
    /// The budget year the numbers are for.
    pub year: i32,
    pub sub_portfolios: SubPortfolios,
    /// Measures per service area of the year (areas without measures included).
    pub service_areas: Vec<AreaCount>,
    /// Measures per delivery health (`none` = no status reported yet).
    pub rag: BTreeMap<String, i64>,
    /// The year's budget frames and their use.
    pub budget: Vec<FrameLine>,
    /// Benefits realisation across the portfolio (every benefit, not only the year's), as
    /// of today.
    pub benefits: BenefitsBlock,
}

/// The overview's benefits block.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BenefitsBlock {
    pub as_of: NaiveDate,
    #[serde(flatten)]
    pub totals: crate::store::benefits::BenefitTotals,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubPortfolios {
    /// Needs reported in the cycle of `year` (its intake), by status.
    pub needs: Counts,
    /// Measures of the improvement portfolio in `year`'s service areas.
    pub improvement_measures: Counts,
    /// Concept studies funded from `year`'s budget frames, by status and by the cycle year
    /// that proposed them.
    pub concept_studies: Option<FundedStudies>,
}

/// Concept studies funded from a year's frames.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct FundedStudies {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    /// Studies per cycle year that proposed them (the year of the needs they study).
    pub by_cycle: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AreaCount {
    pub service_area_id: Uuid,
    pub name: String,
    pub kind: String,
    pub measures: i64,
    pub by_status: BTreeMap<String, i64>,
}

pub fn overview(
    conn: &mut PgConnection,
    year: i32,
    today: NaiveDate,
) -> Result<Overview, StoreError> {
    use diesel::dsl::count_star;
    let areas: Vec<(Uuid, String, String)> = service_areas::table
        .filter(service_areas::year.eq(year))
        .select((service_areas::id, service_areas::name, service_areas::kind))
        .order((service_areas::kind, service_areas::name, service_areas::id))
        .load(conn)?;
    let per_area: Vec<(Uuid, String, i64)> = measures::table
        .inner_join(service_areas::table)
        .filter(service_areas::year.eq(year))
        .group_by((measures::service_area_id, measures::status))
        .select((measures::service_area_id, measures::status, count_star()))
        .load(conn)?;
    let per_rag: Vec<(Option<String>, i64)> = measures::table
        .inner_join(service_areas::table)
        .filter(service_areas::year.eq(year))
        .group_by(measures::rag)
        .select((measures::rag, count_star()))
        .load(conn)?;
    let per_need: Vec<(String, i64)> = needs::table
        .filter(needs::cycle_year.eq(year))
        .group_by(needs::status)
        .select((needs::status, count_star()))
        .load(conn)?;

    let mut area_counts: HashMap<Uuid, BTreeMap<String, i64>> = HashMap::new();
    let mut measures_total = Counts::default();
    for (a, s, n) in per_area {
        *area_counts
            .entry(a)
            .or_default()
            .entry(s.clone())
            .or_default() += n;
        *measures_total.by_status.entry(s).or_default() += n;
        measures_total.total += n;
    }
    let mut rag: BTreeMap<String, i64> = ["green", "yellow", "red", "none"]
        .into_iter()
        .map(|k| (k.to_owned(), 0))
        .collect();
    for (r, n) in per_rag {
        *rag.entry(r.unwrap_or_else(|| "none".into())).or_default() += n;
    }
    let mut studies_total = FundedStudies::default();
    for (s, cycle, n) in crate::store::decisions::studies_funded_in(conn, year)? {
        studies_total.total += n;
        *studies_total
            .by_status
            .entry(s.as_str().to_owned())
            .or_default() += n;
        *studies_total.by_cycle.entry(cycle.to_string()).or_default() += n;
    }
    let mut needs_total = Counts::default();
    for (s, n) in per_need {
        needs_total.total += n;
        needs_total.by_status.insert(s, n);
    }
    Ok(Overview {
        year,
        sub_portfolios: SubPortfolios {
            needs: needs_total,
            improvement_measures: measures_total,
            concept_studies: Some(studies_total),
        },
        service_areas: areas
            .into_iter()
            .map(|(id, name, kind)| {
                let by_status = area_counts.remove(&id).unwrap_or_default();
                AreaCount {
                    service_area_id: id,
                    name,
                    kind,
                    measures: by_status.values().sum(),
                    by_status,
                }
            })
            .collect(),
        rag,
        budget: capture_frames(conn, year)?,
        benefits: BenefitsBlock {
            as_of: today,
            totals: crate::store::benefits::totals(&crate::store::benefits::all(conn)?, today)?,
        },
    })
}
