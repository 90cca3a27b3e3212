//! Prioritisation: the trusts' score sheets, the ranking (live, or the frozen snapshot of a
//! closed round), and the funnel of a year.
//!
//! The ranking is computed with one query per table (cycle, criteria set, needs, score
//! sheets), never a query per need, and ranked by `portfolio_domain::ranking::rank`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::criteria::Criterion;
use portfolio_domain::cycle::CyclePhase;
use portfolio_domain::need::{NeedReference, NeedStatus};
use portfolio_domain::organisation::OrgNumber;
use portfolio_domain::ranking::{rank, RankedNeed};
use portfolio_domain::scoring::{validate_sheet, Aggregation, NeedScores, TrustSheet};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::changes::{self, Actor, Change};
use crate::db::schema::{cycles, need_scores, needs, organisations};
use crate::etag::IfMatch;
use crate::store::cycles::{
    adopted_criteria, get_cycle, lock_cycle, share_cycle, view_cycle, CycleRow, CycleView,
};
use crate::store::needs::{find_need, NeedRow};
use crate::store::StoreError;

/// Statuses of needs that passed the first assessment (accepted, and what the board made
/// of accepted needs): the needs that are ranked and counted as accepted in the funnel.
pub const ACCEPTED_STATUSES: [NeedStatus; 4] = [
    NeedStatus::Accepted,
    NeedStatus::Deferred,
    NeedStatus::Declined,
    NeedStatus::StudyStarted,
];

fn accepted_texts() -> Vec<&'static str> {
    ACCEPTED_STATUSES.iter().map(|s| s.as_str()).collect()
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = need_scores)]
pub struct ScoreRow {
    pub need_id: Uuid,
    pub org_number: OrgNumber,
    pub cycle_year: i32,
    pub scores: serde_json::Value,
    pub comment: Option<String>,
    pub scored_by: String,
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl ScoreRow {
    pub fn values(&self) -> Result<BTreeMap<String, i32>, StoreError> {
        serde_json::from_value(self.scores.clone())
            .map_err(|e| StoreError::corrupt(format!("stored score sheet: {e}")))
    }
}

/// Whether `org_number` is a registered health trust (only they score needs).
pub fn is_health_trust(conn: &mut PgConnection, org_number: &str) -> Result<bool, StoreError> {
    let kind: Option<String> = organisations::table
        .find(org_number)
        .select(organisations::kind)
        .first(conn)
        .optional()?;
    Ok(kind.as_deref() == Some("health_trust"))
}

/// Writes one health trust's score sheet for an accepted need. The caller has already been
/// checked to belong to `org_number` and that to be a health trust; here the cycle must be
/// in an open prioritisation round, and the sheet valid against the adopted set.
#[allow(clippy::too_many_arguments)]
pub fn put_scores(
    conn: &mut PgConnection,
    actor: &Actor,
    need_id: Uuid,
    org_number: &str,
    if_match: &IfMatch,
    values: Vec<(String, i32)>,
    comment: Option<String>,
) -> Result<(ScoreRow, bool), StoreError> {
    let need = scoreable_need(conn, need_id)?;
    let (_, criteria) = adopted_criteria(conn, need.cycle_year)?;
    let sheet = validate_sheet(&criteria, values.iter().map(|(c, v)| (c.as_str(), *v)))?;
    let sheet = SheetValues {
        scores: serde_json::to_value(&sheet).map_err(StoreError::corrupt)?,
        comment,
        scored_by: &actor.subject,
    };
    let existing = need_scores::table
        .find((need_id, org_number))
        .select(ScoreRow::as_select())
        .for_update()
        .first(conn)
        .optional()?;
    let row = write_sheet(conn, &need, org_number, existing.as_ref(), if_match, &sheet)?;
    let created = existing.is_none();
    let mut change = Change::new(
        "need_score",
        format!("{need_id}/{org_number}"),
        if created { "created" } else { "updated" },
    )
    .version(row.version)
    .after(&row);
    if let Some(b) = &existing {
        change = change.before(b);
    }
    changes::record(conn, actor, &[change])?;
    Ok((row, created))
}

/// The need, if it may be scored now: its cycle (share-locked: no phase change under the
/// write) is in an open prioritisation round, and the need is accepted.
fn scoreable_need(conn: &mut PgConnection, need_id: Uuid) -> Result<NeedRow, StoreError> {
    let need = find_need(conn, need_id)?
        .ok_or_else(|| StoreError::not_found(format!("need {need_id}")))?;
    let cycle = share_cycle(conn, need.cycle_year)?;
    cycle.require_phase(CyclePhase::Prioritisation)?;
    if cycle.is_closed() {
        return Err(StoreError::Conflict(format!(
            "the prioritisation round of {} is closed; its score sheets are frozen",
            cycle.year
        )));
    }
    if need.status != NeedStatus::Accepted {
        return Err(StoreError::Conflict(format!(
            "need {} is '{}'; only accepted needs are scored",
            need.reference, need.status
        )));
    }
    Ok(need)
}

/// What a score write sets, new sheet or replaced.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = need_scores, treat_none_as_null = true)]
struct SheetValues<'a> {
    scores: serde_json::Value,
    comment: Option<String>,
    scored_by: &'a str,
}

/// Inserts the trust's first sheet for the need (an `If-Match` naming a version is then
/// stale: there is none), or replaces the existing one (locked by the caller) after the
/// version check.
fn write_sheet(
    conn: &mut PgConnection,
    need: &NeedRow,
    org_number: &str,
    existing: Option<&ScoreRow>,
    if_match: &IfMatch,
    sheet: &SheetValues<'_>,
) -> Result<ScoreRow, StoreError> {
    let Some(before) = existing else {
        if if_match.present() && !if_match.is_any() {
            return Err(StoreError::Stale(format!(
                "trust {org_number} has no score sheet for need {} yet; omit If-Match to create it",
                need.reference
            )));
        }
        return Ok(diesel::insert_into(need_scores::table)
            .values((
                need_scores::need_id.eq(need.id),
                need_scores::org_number.eq(org_number),
                need_scores::cycle_year.eq(need.cycle_year),
                sheet,
            ))
            .returning(ScoreRow::as_returning())
            .get_result(conn)?);
    };
    if_match.check_or_any(before.version)?;
    Ok(
        diesel::update(need_scores::table.find((need.id, org_number)))
            .set((
                sheet,
                need_scores::version.eq(before.version + 1),
                need_scores::updated_at.eq(Utc::now()),
            ))
            .returning(ScoreRow::as_returning())
            .get_result(conn)?,
    )
}

/// Every trust's sheet for a need (one query).
pub fn list_scores(
    conn: &mut PgConnection,
    need_id: Uuid,
) -> Result<(NeedRow, Vec<ScoreRow>), StoreError> {
    let need = find_need(conn, need_id)?
        .ok_or_else(|| StoreError::not_found(format!("need {need_id}")))?;
    let rows = need_scores::table
        .filter(need_scores::need_id.eq(need_id))
        .order(need_scores::org_number)
        .select(ScoreRow::as_select())
        .load(conn)?;
    Ok((need, rows))
}

pub fn find_score(
    conn: &mut PgConnection,
    need_id: Uuid,
    org_number: &str,
) -> QueryResult<Option<ScoreRow>> {
    need_scores::table
        .find((need_id, org_number))
        .select(ScoreRow::as_select())
        .first(conn)
        .optional()
}

/// What the ranking shows of a need besides its numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankedNeedInfo {
    pub id: Uuid,
    pub reference: String,
    pub title: String,
    pub organisation_number: String,
}

/// A computed ranking of a year, or the frozen snapshot of a closed round (same shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ranking {
    pub year: i32,
    pub criteria_set_version: i32,
    /// Prioritisation criteria codes with their share of the total weight.
    pub criteria: Vec<(String, f64)>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub computed_at: DateTime<Utc>,
    pub needs: Vec<RankedNeedInfo>,
    pub mean: Vec<RankedNeed>,
    pub median: Vec<RankedNeed>,
    /// Absent from snapshots frozen before calibration existed.
    #[serde(default)]
    pub calibrated: Vec<RankedNeed>,
}

impl Ranking {
    pub fn ranked(&self, aggregation: Aggregation) -> &[RankedNeed] {
        match aggregation {
            Aggregation::Mean => &self.mean,
            Aggregation::Median => &self.median,
            Aggregation::Calibrated => &self.calibrated,
        }
    }

    pub fn info(&self) -> HashMap<&str, &RankedNeedInfo> {
        self.needs
            .iter()
            .map(|n| (n.reference.as_str(), n))
            .collect()
    }
}

/// Computes the ranking of a year from the current sheets: one query for the needs, one for
/// the sheets (plus the criteria set), then the domain's pure `rank`.
pub fn compute_ranking(conn: &mut PgConnection, cycle: &CycleRow) -> Result<Ranking, StoreError> {
    let year = cycle.year;
    let inputs = scoring_inputs(conn, year)?;
    let (criteria, scores) = (&inputs.criteria, &inputs.scores);
    Ok(Ranking {
        year,
        criteria_set_version: inputs.set_version,
        criteria: weight_shares(criteria),
        computed_at: Utc::now(),
        mean: rank(scores, criteria, Aggregation::Mean)?,
        median: rank(scores, criteria, Aggregation::Median)?,
        calibrated: rank(scores, criteria, Aggregation::Calibrated)?,
        needs: inputs.infos,
    })
}

/// What a year's ranking is computed from: the adopted criteria and every accepted need's
/// score sheets (in need order).
pub struct ScoringInputs {
    pub set_version: i32,
    pub criteria: Vec<Criterion>,
    pub scores: Vec<NeedScores>,
    pub infos: Vec<RankedNeedInfo>,
}

/// Loads the scoring inputs of a year: one query for the needs, one for the sheets.
pub fn scoring_inputs(conn: &mut PgConnection, year: i32) -> Result<ScoringInputs, StoreError> {
    let (set, criteria) = adopted_criteria(conn, year)?;
    let rows: Vec<(Uuid, String, String, String)> = needs::table
        .filter(needs::cycle_year.eq(year))
        .filter(needs::status.eq_any(accepted_texts()))
        .order(needs::seq)
        .select((
            needs::id,
            needs::reference,
            needs::title,
            needs::organisation_number,
        ))
        .load(conn)?;
    let sheets: Vec<(Uuid, String, serde_json::Value)> = need_scores::table
        .filter(need_scores::cycle_year.eq(year))
        .select((
            need_scores::need_id,
            need_scores::org_number,
            need_scores::scores,
        ))
        .load(conn)?;
    let mut by_need: HashMap<Uuid, Vec<TrustSheet>> = HashMap::with_capacity(rows.len());
    for (need_id, trust, values) in sheets {
        let values = serde_json::from_value(values)
            .map_err(|e| StoreError::corrupt(format!("stored score sheet: {e}")))?;
        by_need
            .entry(need_id)
            .or_default()
            .push(TrustSheet { trust, values });
    }
    let mut scores = Vec::with_capacity(rows.len());
    let mut infos = Vec::with_capacity(rows.len());
    for (id, reference, title, organisation_number) in rows {
        let parsed: NeedReference = reference
            .parse()
            .map_err(|_| StoreError::corrupt(format!("stored reference {reference:?}")))?;
        scores.push(NeedScores {
            reference: parsed,
            // Sheets of needs no longer accepted (e.g. reopened) are left out with the need.
            sheets: by_need.remove(&id).unwrap_or_default(),
        });
        infos.push(RankedNeedInfo {
            id,
            reference,
            title,
            organisation_number,
        });
    }
    Ok(ScoringInputs {
        set_version: set.version,
        criteria,
        scores,
        infos,
    })
}

/// How lenient or strict each trust scores, per criterion (the domain's
/// `rater_calibration`), over the year's accepted needs.
pub fn raters(
    conn: &mut PgConnection,
    year: i32,
) -> Result<Vec<portfolio_domain::calibration::RaterCalibration>, StoreError> {
    let cycle = get_cycle(conn, year)?;
    // Closed rounds keep their sheets unchanged, so the report stays what it was.
    if !cycle.is_closed() {
        cycle.require_phase(CyclePhase::Prioritisation)?;
    }
    let inputs = scoring_inputs(conn, year)?;
    Ok(portfolio_domain::calibration::rater_calibration(
        &inputs.scores,
        &inputs.criteria,
    )?)
}

fn weight_shares(criteria: &[Criterion]) -> Vec<(String, f64)> {
    let p: Vec<&Criterion> = criteria
        .iter()
        .filter(|c| c.kind == portfolio_domain::criteria::CriterionKind::Prioritisation)
        .collect();
    let total: f64 = p.iter().map(|c| c.weight).sum();
    p.iter()
        .map(|c| (c.code.clone(), c.weight / total))
        .collect()
}

fn snapshot_of(cycle: &CycleRow, conn: &mut PgConnection) -> Result<Option<Ranking>, StoreError> {
    if !cycle.is_closed() {
        return Ok(None);
    }
    let snap: Option<serde_json::Value> = cycles::table
        .find(cycle.year)
        .select(cycles::ranking_snapshot)
        .first(conn)?;
    snap.map(|s| {
        serde_json::from_value(s).map_err(|e| StoreError::corrupt(format!("ranking snapshot: {e}")))
    })
    .transpose()
}

/// The ranking of a year: the frozen snapshot once prioritisation is closed, otherwise
/// computed now (only from the prioritisation phase on). Returns whether it is frozen.
pub fn ranking(
    conn: &mut PgConnection,
    year: i32,
) -> Result<(Ranking, Option<DateTime<Utc>>), StoreError> {
    let cycle = get_cycle(conn, year)?;
    if let Some(r) = snapshot_of(&cycle, conn)? {
        return Ok((r, cycle.prioritisation_closed_at));
    }
    cycle.require_phase(CyclePhase::Prioritisation)?;
    Ok((compute_ranking(conn, &cycle)?, None))
}

/// Closes the prioritisation round: the ranking as it stands (mean and median) is stored
/// and served unchanged from now on, and no sheet can change.
pub fn close_prioritisation(
    conn: &mut PgConnection,
    actor: &Actor,
    year: i32,
    if_match: &IfMatch,
) -> Result<CycleView, StoreError> {
    let before = lock_cycle(conn, year)?;
    if_match.check(before.version)?;
    before.require_phase(CyclePhase::Prioritisation)?;
    if before.is_closed() {
        return Err(StoreError::Conflict(format!(
            "the prioritisation round of {year} is already closed"
        )));
    }
    let ranking = compute_ranking(conn, &before)?;
    let snapshot = serde_json::to_value(&ranking).map_err(StoreError::corrupt)?;
    let now = Utc::now();
    let row = diesel::update(cycles::table.find(year))
        .set((
            cycles::prioritisation_closed_at.eq(Some(now)),
            cycles::prioritisation_closed_by.eq(Some(&actor.subject)),
            cycles::ranking_snapshot.eq(Some(&snapshot)),
            cycles::version.eq(before.version + 1),
            cycles::updated_at.eq(now),
        ))
        .returning(CycleRow::as_returning())
        .get_result(conn)?;
    let view = view_cycle(conn, row)?;
    changes::record(
        conn,
        actor,
        &[Change::new("cycle", year, "prioritisation_closed")
            .version(view.cycle.version)
            .before(&before)
            .after(
                &serde_json::json!({"cycle": &view.cycle, "ranked_needs": ranking.needs.len()}),
            )],
    )?;
    Ok(view)
}

/// The funnel of a year.
#[derive(Debug, Clone, Default)]
pub struct FunnelCounts {
    pub by_status: HashMap<String, i64>,
    pub studies: StudyCounts,
}

/// Concept studies started from the year's needs, by status (every status present, 0 when
/// none). A study carries its need's cycle year, so this is one grouped query.
#[derive(Debug, Clone, Default)]
pub struct StudyCounts {
    pub by_status: BTreeMap<String, i64>,
}

/// See [`StudyCounts`].
pub fn study_counts(conn: &mut PgConnection, year: i32) -> Result<StudyCounts, StoreError> {
    let mut by_status: BTreeMap<String, i64> = portfolio_domain::study::StudyStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    for (status, n) in crate::store::decisions::study_status_counts(conn, year)? {
        by_status.insert(status.as_str().to_owned(), n);
    }
    Ok(StudyCounts { by_status })
}

pub fn funnel(conn: &mut PgConnection, year: i32) -> Result<FunnelCounts, StoreError> {
    get_cycle(conn, year)?;
    let by_status = crate::store::needs::status_counts(conn, year)?
        .into_iter()
        .map(|(s, n)| (s.as_str().to_owned(), n))
        .collect();
    let studies = study_counts(conn, year)?;
    Ok(FunnelCounts { by_status, studies })
}
