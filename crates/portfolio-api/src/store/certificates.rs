//! Robustness certificates: when the board decides a case that starts studies, the evidence
//! of how robust that choice is gets frozen with it (the domain's `sensitivity::certify`):
//! the ranking relied on, the board's and the optimal selection, the stability radius, what
//! it would take to bring each left-out need in, and a hash of the inputs.
//!
//! The selection problem certified: candidates are the year's accepted needs with an
//! estimated study cost plus the needs the case starts (at the decided budget); the budget is
//! what the frames the case draws on had left before the decision; priorities are the mean
//! ranking's overall scores.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use portfolio_domain::need::NeedStatus;
use portfolio_domain::ranking::{rank, RankedNeed};
use portfolio_domain::scoring::Aggregation;
use portfolio_domain::sensitivity::{
    certify, RobustCandidate, RobustnessProblem, StabilityRadius, WhatItWouldTake,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::schema::{decision_certificates, needs};
use crate::store::prioritisation::{scoring_inputs, ScoringInputs};
use crate::store::StoreError;

/// A need in the ranking the decision relied on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RankedEntry {
    pub reference: String,
    pub rank: usize,
    /// Mean overall score, 0–100; null when unscored.
    pub overall: Option<f64>,
    pub coverage: usize,
}

/// A candidate of the certified selection problem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertifiedNeed {
    pub need_id: Uuid,
    pub reference: String,
    /// Priority used: the mean overall score (0 when unscored).
    pub priority: f64,
    /// The decided study budget for needs the case starts; the estimated study cost otherwise.
    pub cost_nok: i64,
    /// Started by this decision.
    pub board_selected: bool,
    /// In the optimal selection for the same inputs.
    pub optimal_selected: bool,
}

/// The frozen certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    pub case_id: Uuid,
    pub year: i32,
    pub criteria_set_version: i32,
    /// SHA-256 (hex) of the inputs: the prioritisation criteria (code, weight, scale) and every
    /// score sheet, in canonical order (needs by reference, trusts by organisation number,
    /// criteria by code). Recompute it to check that the inputs are the ones certified.
    pub inputs_hash: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub computed_at: DateTime<Utc>,
    /// Money available: what the frames the case draws on had left before the decision.
    pub budget_nok: i64,
    /// Capacity limit (person-months a year); null: none.
    pub capacity: Option<i64>,
    /// Whether the board's selection is the optimal one for these inputs.
    pub agrees_with_optimum: bool,
    pub board_total_priority: f64,
    pub optimal_total_priority: f64,
    /// The smallest single changes that would change the optimal selection: a criterion
    /// weight (`weight`, and per criterion `weights` with the thresholds up and down), one
    /// trust's score for one need (`score_sheet`, in 0–100 points of that trust's score), or
    /// the budget (`budget.decrease` / `budget.increase`, NOK). Exact up to the solver's
    /// 10⁻⁶-point resolution; null where no change of that kind changes the selection.
    pub stability_radius: StabilityRadius<String>,
    /// Per need left out of the optimal selection: the overall-score increase (points) beyond
    /// which it comes in, and the budget increase (NOK) at which a selection containing it is
    /// as good as today's.
    pub what_it_would_take: Vec<WhatItWouldTake<String>>,
    /// The mean ranking relied on.
    pub ranking: Vec<RankedEntry>,
    /// The candidates of the certified problem.
    pub needs: Vec<CertifiedNeed>,
}

#[derive(Serialize)]
struct HashedInputs<'a> {
    criteria: Vec<(&'a str, f64, i32, i32)>,
    sheets: BTreeMap<String, BTreeMap<&'a str, &'a BTreeMap<String, i32>>>,
}

/// SHA-256 of the canonical inputs (see [`Certificate::inputs_hash`]).
pub fn inputs_hash(
    criteria: &[portfolio_domain::criteria::Criterion],
    scores: &[portfolio_domain::scoring::NeedScores],
) -> Result<String, StoreError> {
    let mut c: Vec<(&str, f64, i32, i32)> = criteria
        .iter()
        .filter(|c| c.kind == portfolio_domain::criteria::CriterionKind::Prioritisation)
        .map(|c| (c.code.as_str(), c.weight, c.scale_min, c.scale_max))
        .collect();
    c.sort_by(|a, b| a.0.cmp(b.0));
    let sheets = scores
        .iter()
        .map(|n| {
            (
                n.reference.to_string(),
                n.sheets
                    .iter()
                    .map(|s| (s.trust.as_str(), &s.values))
                    .collect(),
            )
        })
        .collect();
    let bytes = serde_json::to_vec(&HashedInputs {
        criteria: c,
        sheets,
    })
    .map_err(StoreError::corrupt)?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

/// Computes the certificate of a decision that starts `started` (need → decided budget) with
/// `budget` NOK available, from the state before the decision is applied.
pub fn compute(
    conn: &mut PgConnection,
    case_id: Uuid,
    started: &HashMap<Uuid, i64>,
    budget: i64,
) -> Result<Option<Certificate>, StoreError> {
    let Some((year, inputs)) = inputs_of_case(conn, started)? else {
        return Ok(None);
    };
    let ranked = rank(&inputs.scores, &inputs.criteria, Aggregation::Mean)
        .map_err(|e| StoreError::corrupt(format!("certificate ranking: {e}")))?;
    let statuses = statuses_and_estimates(conn, &inputs)?;
    let (meta, candidates) = selection_candidates(&inputs, &ranked, started, &statuses);
    let problem = RobustnessProblem {
        candidates,
        criteria: inputs.criteria.clone(),
        budget,
        capacity: None,
        dependencies: Vec::new(),
        forced_in: Vec::new(),
        forced_out: Vec::new(),
    };
    let cert = certify(&problem).map_err(|e| StoreError::corrupt(format!("certificate: {e}")))?;
    let needs = certified_needs(&problem, &meta, &cert.selected);
    let board_total: f64 = needs
        .iter()
        .filter(|n| n.board_selected)
        .map(|n| n.priority)
        .sum();
    Ok(Some(Certificate {
        case_id,
        year,
        criteria_set_version: inputs.set_version,
        inputs_hash: inputs_hash(&inputs.criteria, &inputs.scores)?,
        computed_at: Utc::now(),
        budget_nok: budget,
        capacity: None,
        agrees_with_optimum: needs.iter().all(|n| n.board_selected == n.optimal_selected),
        board_total_priority: board_total,
        optimal_total_priority: cert.total_priority,
        stability_radius: cert.stability_radius,
        what_it_would_take: cert.what_it_would_take,
        ranking: ranking_entries(&ranked),
        needs,
    }))
}

/// The year of the needs the case starts and that year's scoring inputs; `None` when it
/// starts nothing or the year has no adopted criteria set (no ranking to certify; the
/// decision stands).
fn inputs_of_case(
    conn: &mut PgConnection,
    started: &HashMap<Uuid, i64>,
) -> Result<Option<(i32, ScoringInputs)>, StoreError> {
    let Some(&first) = started.keys().next() else {
        return Ok(None);
    };
    let year: i32 = needs::table
        .find(first)
        .select(needs::cycle_year)
        .first(conn)?;
    match scoring_inputs(conn, year) {
        Ok(i) => Ok(Some((year, i))),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Each ranked need's status and estimated study cost.
fn statuses_and_estimates(
    conn: &mut PgConnection,
    inputs: &ScoringInputs,
) -> Result<HashMap<Uuid, (NeedStatus, i64)>, StoreError> {
    let ids: Vec<Uuid> = inputs.infos.iter().map(|i| i.id).collect();
    Ok(needs::table
        .filter(needs::id.eq_any(&ids))
        .select((needs::id, needs::status, needs::estimated_study_cost_nok))
        .load::<(Uuid, NeedStatus, i64)>(conn)?
        .into_iter()
        .map(|(id, s, c)| (id, (s, c)))
        .collect())
}

/// A candidate's need id, reference and whether the case starts it.
type CandidateMeta = (Uuid, String, bool);

/// The candidates: the needs the case starts (at the decided budget) and the accepted needs
/// with an estimated study cost, with the ranking's summary of each.
fn selection_candidates(
    inputs: &ScoringInputs,
    ranked: &[RankedNeed],
    started: &HashMap<Uuid, i64>,
    statuses: &HashMap<Uuid, (NeedStatus, i64)>,
) -> (Vec<CandidateMeta>, Vec<RobustCandidate<String>>) {
    let by_ref: HashMap<String, &RankedNeed> = ranked
        .iter()
        .map(|r| (r.summary.reference.to_string(), r))
        .collect();
    let mut meta = Vec::new();
    let mut candidates = Vec::new();
    for info in &inputs.infos {
        let board = started.get(&info.id).copied();
        let (status, estimate) = match statuses.get(&info.id) {
            Some(&(s, c)) => (Some(s), c),
            None => (None, 0),
        };
        let cost = match board {
            Some(b) => b,
            None if status == Some(NeedStatus::Accepted) && estimate > 0 => estimate,
            None => continue,
        };
        let Some(r) = by_ref.get(&info.reference) else {
            continue;
        };
        meta.push((info.id, info.reference.clone(), board.is_some()));
        candidates.push(RobustCandidate {
            id: info.reference.clone(),
            cost,
            load: 0,
            summary: r.summary.clone(),
        });
    }
    (meta, candidates)
}

/// The certified candidates, with the board's and the optimal selection.
fn certified_needs(
    problem: &RobustnessProblem<String>,
    meta: &[CandidateMeta],
    optimal: &[String],
) -> Vec<CertifiedNeed> {
    let priority = |c: &RobustCandidate<String>| c.summary.overall.unwrap_or(0.0);
    problem
        .candidates
        .iter()
        .zip(meta)
        .map(|(c, (id, reference, board))| CertifiedNeed {
            need_id: *id,
            reference: reference.clone(),
            priority: priority(c),
            cost_nok: c.cost,
            board_selected: *board,
            optimal_selected: optimal.contains(reference),
        })
        .collect()
}

fn ranking_entries(ranked: &[RankedNeed]) -> Vec<RankedEntry> {
    ranked
        .iter()
        .map(|r| RankedEntry {
            reference: r.summary.reference.to_string(),
            rank: r.rank,
            overall: r.summary.overall,
            coverage: r.summary.coverage,
        })
        .collect()
}

/// Freezes the certificate of a decision (one step of deciding a case; nothing happens when
/// the case starts no study). The row can never change afterwards.
pub fn freeze(
    conn: &mut PgConnection,
    case_id: Uuid,
    started: &HashMap<Uuid, i64>,
    budget: i64,
) -> Result<(), StoreError> {
    let Some(cert) = compute(conn, case_id, started, budget)? else {
        return Ok(());
    };
    diesel::insert_into(decision_certificates::table)
        .values((
            decision_certificates::case_id.eq(case_id),
            decision_certificates::inputs_hash.eq(&cert.inputs_hash),
            decision_certificates::certificate
                .eq(serde_json::to_value(&cert).map_err(StoreError::corrupt)?),
        ))
        .execute(conn)?;
    Ok(())
}

/// The frozen certificate of a case, if it has one.
pub fn find(conn: &mut PgConnection, case_id: Uuid) -> Result<Option<Certificate>, StoreError> {
    let stored: Option<serde_json::Value> = decision_certificates::table
        .find(case_id)
        .select(decision_certificates::certificate)
        .first(conn)
        .optional()?;
    stored
        .map(|v| {
            serde_json::from_value(v)
                .map_err(|e| StoreError::corrupt(format!("stored certificate: {e}")))
        })
        .transpose()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The certificate as one CSV table for the board papers: one row per candidate need, then
/// the stability radius as rows whose first column names the kind of change.
pub fn to_csv(c: &Certificate) -> String {
    let take: HashMap<&str, &WhatItWouldTake<String>> = c
        .what_it_would_take
        .iter()
        .map(|w| (w.need.as_str(), w))
        .collect();
    let rank: HashMap<&str, usize> = c
        .ranking
        .iter()
        .map(|r| (r.reference.as_str(), r.rank))
        .collect();
    let mut out = String::from(
        "row,reference,rank,priority,cost_nok,board_selected,optimal_selected,score_increase_to_enter,budget_increase_nok\n",
    );
    for n in &c.needs {
        let w = take.get(n.reference.as_str());
        out.push_str(&format!(
            "need,{},{},{:.2},{},{},{},{},{}\n",
            csv_field(&n.reference),
            opt(rank.get(n.reference.as_str())),
            n.priority,
            n.cost_nok,
            n.board_selected,
            n.optimal_selected,
            opt(w.and_then(|w| w.score_increase).map(|x| format!("{x:.4}"))),
            opt(w.and_then(|w| w.budget_increase)),
        ));
    }
    let r = &c.stability_radius;
    if let Some(w) = &r.weight {
        out.push_str(&format!(
            "radius_weight,{},,,,,,{:.4},\n",
            csv_field(&w.criterion),
            w.change
        ));
    }
    if let Some(s) = &r.score_sheet {
        out.push_str(&format!(
            "radius_score_sheet,{},,,,,,{:.4},\n",
            csv_field(&format!("{} by {}", s.need, s.trust)),
            s.points
        ));
    }
    if let Some(d) = r.budget.decrease {
        out.push_str(&format!("radius_budget_decrease,,,,,,,,{d}\n"));
    }
    if let Some(i) = r.budget.increase {
        out.push_str(&format!("radius_budget_increase,,,,,,,,{i}\n"));
    }
    out.push_str(&format!("inputs_hash,{},,,,,,,\n", c.inputs_hash));
    out
}
