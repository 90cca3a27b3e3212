//! How fragile the board's inputs are, read from stored data: the weight sensitivity of a
//! year's ranking (each adjacent pair) and the robustness of a selection scenario (stability
//! radius and what it would take), both computed by `portfolio_domain::sensitivity`, the
//! same functions the decision certificates use.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use portfolio_domain::criteria::Criterion;
use portfolio_domain::scoring::{Aggregation, NeedSummary};
use portfolio_domain::selection::Dependency;
use portfolio_domain::sensitivity::{
    certify, pair_sensitivity, PairSensitivity, RobustCandidate, RobustnessProblem,
    StabilityRadius, WhatItWouldTake,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::cycles::adopted_criteria;
use crate::store::prioritisation::{ranking, Ranking};
use crate::store::StoreError;

/// A year's ranking with the weight sensitivity of each adjacent pair.
pub struct RankingSensitivity {
    pub ranking: Ranking,
    pub closed_at: Option<DateTime<Utc>>,
    /// The adopted criteria (their weights are what the pairs' changes move).
    pub criteria: Vec<Criterion>,
    pub pairs: Vec<PairSensitivity>,
}

/// The weight sensitivity of the ranking of `year` under `aggregation` (mean or
/// calibrated; the median is not linear in the weights).
pub fn ranking_sensitivity(
    conn: &mut PgConnection,
    year: i32,
    aggregation: Aggregation,
) -> Result<RankingSensitivity, StoreError> {
    let (ranking, closed_at) = ranking(conn, year)?;
    // The adopted set never changes, so it is the one the (frozen or live) ranking used.
    let (_, criteria) = adopted_criteria(conn, year)?;
    let ranked = ranking.ranked(aggregation);
    if ranked.is_empty() && !ranking.mean.is_empty() {
        return Err(StoreError::Conflict(format!(
            "the ranking of {year} was frozen before the `{}` aggregation existed",
            aggregation.as_str()
        )));
    }
    let pairs = pair_sensitivity(ranked, &criteria, aggregation)?;
    Ok(RankingSensitivity {
        ranking,
        closed_at,
        criteria,
        pairs,
    })
}

/// Above this many candidates a scenario is stored without its robustness (the response says
/// so in `robustness_unavailable`): the analysis runs inside the request that creates the
/// scenario, and 300 candidates with budget, capacity and 20 dependencies is the size its
/// running time is measured for (release, the domain's `sensitivity::tests::certify_timing`;
/// figures in docs/ROBUSTNESS.md). Each budget threshold's search is capped by a node limit
/// (`MAX_NODES_PER_THRESHOLD`) and reports a proven bound when it reaches it.
pub const ROBUSTNESS_MAX_CANDIDATES: usize = 300;

/// How robust a scenario's selection is (stored with the scenario, never recomputed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioRobustness {
    /// Whether the selection analysed (the optimum on scores at 10⁻⁶-point resolution) is
    /// the scenario's `result.selected` (solved at 0.01-point resolution); they differ only
    /// when two selections are within rounding of each other, and then the radius is ~0.
    pub agrees_with_result: bool,
    /// Total priority of the analysed selection, points.
    pub optimal_total_priority: f64,
    /// The smallest single changes that change the selection: a criterion weight
    /// (`weight`, and per criterion `weights` with the thresholds up and down), one trust's
    /// score for one need (`score_sheet`, points of that trust's 0–100 score), or the budget
    /// (`budget.decrease` / `budget.increase`, NOK). Forced needs stay forced. Null where no
    /// change of that kind changes the selection.
    pub stability_radius: StabilityRadius<String>,
    /// Per candidate left out (by reference): the overall-score increase (points) beyond which
    /// it comes in, and the budget increase (NOK) at which a selection containing it is as
    /// good as the chosen one; both null for a need forced out.
    pub what_it_would_take: Vec<WhatItWouldTake<String>>,
}

/// One candidate of a scenario, as the robustness analysis needs it.
pub struct ScenarioCandidate<'a> {
    pub id: Uuid,
    pub reference: &'a str,
    pub cost: i64,
    pub load: i64,
    /// Its summary in the mean ranking; `None` when unscored (priority 0).
    pub summary: Option<&'a NeedSummary>,
}

/// What a scenario was solved with.
pub struct ScenarioInputs<'a> {
    pub year: i32,
    pub candidates: Vec<ScenarioCandidate<'a>>,
    pub budget: i64,
    pub capacity: Option<i64>,
    pub dependencies: Vec<Dependency<Uuid>>,
    pub forced_in: Vec<Uuid>,
    pub forced_out: Vec<Uuid>,
    /// The scenario's own selection.
    pub selected: Vec<Uuid>,
}

/// The robustness of a scenario's selection; `None` above [`ROBUSTNESS_MAX_CANDIDATES`] or
/// when the inputs admit no selection.
pub fn scenario_robustness(
    conn: &mut PgConnection,
    s: &ScenarioInputs<'_>,
) -> Result<Option<ScenarioRobustness>, StoreError> {
    if s.candidates.is_empty() || s.candidates.len() > ROBUSTNESS_MAX_CANDIDATES {
        return Ok(None);
    }
    let (_, criteria) = adopted_criteria(conn, s.year)?;
    let reference: HashMap<Uuid, String> = s
        .candidates
        .iter()
        .map(|c| (c.id, c.reference.to_string()))
        .collect();
    let by_id = |ids: &[Uuid]| -> Vec<String> {
        ids.iter()
            .filter_map(|id| reference.get(id).cloned())
            .collect()
    };
    let candidates = s
        .candidates
        .iter()
        .map(|c| {
            Ok(RobustCandidate {
                id: c.reference.to_string(),
                cost: c.cost,
                load: c.load,
                summary: match c.summary {
                    Some(s) => s.clone(),
                    None => unscored(c.reference)?,
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let problem = RobustnessProblem {
        candidates,
        criteria,
        budget: s.budget,
        capacity: s.capacity,
        dependencies: s
            .dependencies
            .iter()
            .filter_map(|d| {
                Some(Dependency {
                    need: reference.get(&d.need)?.clone(),
                    kind: d.kind,
                    other: reference.get(&d.other)?.clone(),
                })
            })
            .collect(),
        forced_in: by_id(&s.forced_in),
        forced_out: by_id(&s.forced_out),
    };
    let Ok(cert) = certify(&problem) else {
        return Ok(None);
    };
    let mut mine = by_id(&s.selected);
    let mut theirs = cert.selected.clone();
    mine.sort();
    theirs.sort();
    Ok(Some(ScenarioRobustness {
        agrees_with_result: mine == theirs,
        optimal_total_priority: cert.total_priority,
        stability_radius: cert.stability_radius,
        what_it_would_take: cert.what_it_would_take,
    }))
}

/// The summary of a need no trust scored (priority 0).
fn unscored(reference: &str) -> Result<NeedSummary, StoreError> {
    Ok(NeedSummary {
        reference: reference
            .parse()
            .map_err(|_| StoreError::corrupt(format!("stored reference {reference:?}")))?,
        overall: None,
        mean: None,
        median: None,
        coverage: 0,
        dispersion: None,
        trust_scores: Vec::new(),
        contributions: Vec::new(),
    })
}
