//! The wire form of a scenario's parts (the store keeps them as the scenario's stored
//! result; these are what the API shows and accepts).

use portfolio_domain::selection::{DependencyKind, SelectionReason};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::robustness::{StabilityRadius, WhatItWouldTake};
use crate::routes::need_dependencies::dependency_kind_schema;
use crate::store::{selection, sensitivity};

crate::enum_schema!(
    selection_reason_schema,
    SelectionReason,
    "Why a need is in or out: `forced_in`, `forced_out`, `selected_optimal`, `does_not_fit` (costs more than the budget left after forced-in needs), `excluded_by_optimum` (fits, but the optimal set gives more total priority without it)."
);

/// A need forced in or out, with the reason.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForcedNeed {
    pub need_id: Uuid,
    /// Why (shown back with the verdict); 1–2000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// One need's verdict at one budget.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    pub need_id: Uuid,
    pub reference: String,
    /// Place in the ranking (1 = highest priority); absent when the need is unscored.
    pub rank: Option<usize>,
    /// The need's overall priority score (0–100); 0 when unscored.
    pub priority: f64,
    pub unscored: bool,
    pub cost_nok: i64,
    /// The need's estimated IT-partner capacity, person-months a year (0 when not estimated).
    #[serde(default)]
    pub load_person_months: i64,
    pub selected: bool,
    #[schema(schema_with = selection_reason_schema)]
    pub reason: SelectionReason,
    /// The reason given for forcing it in or out.
    pub note: Option<String>,
    /// For `does_not_fit`: the budget left after forced-in needs; for
    /// `excluded_by_optimum`: the budget the optimal set leaves unused.
    pub available_nok: Option<i64>,
}

/// The answer at one budget.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    /// 0 for the scenario's budget, otherwise the change in percent.
    pub variation_percent: i64,
    pub budget_nok: i64,
    /// False when the forced-in needs alone cost more than this budget.
    pub feasible: bool,
    pub total_cost_nok: i64,
    pub total_priority: f64,
    pub remaining_nok: i64,
    /// IT-partner capacity the selection takes, person-months a year.
    #[serde(default)]
    pub total_load: i64,
    /// True when the selection is proven optimal; false when the solver's deadline was
    /// reached first (then `gap` bounds how much priority the best selection could add).
    #[serde(default = "proven")]
    pub proven_optimal: bool,
    /// Upper bound minus the selection's total priority (0 when proven optimal).
    #[serde(default)]
    pub gap: f64,
    pub selected: Vec<Uuid>,
    pub needs: Vec<Verdict>,
}

fn proven() -> bool {
    true
}

/// An accepted need that cannot be a candidate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NotCandidate {
    pub need_id: Uuid,
    pub reference: String,
    pub why: String,
}

/// A dependency between two candidates, as the solver saw it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScenarioDependency {
    pub need_id: Uuid,
    #[schema(schema_with = dependency_kind_schema)]
    pub kind: DependencyKind,
    pub other_need_id: Uuid,
}

/// How robust a scenario's selection is (stored with the scenario, never recomputed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "agrees_with_result": true, "optimal_total_priority": 455.7,
    "stability_radius": {"weight": {"criterion": "NYTTE", "weight_from": 3.0, "weight_to": 2.41, "change": -0.59},
        "weights": [{"criterion": "NYTTE", "weight": 3.0, "up_to": null, "down_to": 2.41}],
        "score_sheet": {"need": "B-2022-007", "trust": "983974899", "direction": "increase", "points": 4.2},
        "budget": {"decrease": 150001, "increase": 320000, "increase_at_least": null}},
    "what_it_would_take": [{"need": "B-2022-012", "score": 48.2, "score_increase": 3.1, "budget_increase": 900000, "budget_increase_at_least": null}]
}))]
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
    pub stability_radius: StabilityRadius,
    /// Per candidate left out (by reference): the overall-score increase (points) beyond which
    /// it comes in, and the budget increase (NOK) at which a selection containing it is as
    /// good as the chosen one; both null for a need forced out.
    pub what_it_would_take: Vec<WhatItWouldTake>,
}

impl From<selection::ForcedNeed> for ForcedNeed {
    fn from(f: selection::ForcedNeed) -> Self {
        ForcedNeed {
            need_id: f.need_id,
            reason: f.reason,
        }
    }
}

impl From<ForcedNeed> for selection::ForcedNeed {
    fn from(f: ForcedNeed) -> Self {
        selection::ForcedNeed {
            need_id: f.need_id,
            reason: f.reason,
        }
    }
}

impl From<selection::Verdict> for Verdict {
    fn from(v: selection::Verdict) -> Self {
        Verdict {
            need_id: v.need_id,
            reference: v.reference,
            rank: v.rank,
            priority: v.priority,
            unscored: v.unscored,
            cost_nok: v.cost_nok,
            load_person_months: v.load_person_months,
            selected: v.selected,
            reason: v.reason,
            note: v.note,
            available_nok: v.available_nok,
        }
    }
}

impl From<selection::Answer> for Answer {
    fn from(a: selection::Answer) -> Self {
        Answer {
            variation_percent: a.variation_percent,
            budget_nok: a.budget_nok,
            feasible: a.feasible,
            total_cost_nok: a.total_cost_nok,
            total_priority: a.total_priority,
            remaining_nok: a.remaining_nok,
            total_load: a.total_load,
            proven_optimal: a.proven_optimal,
            gap: a.gap,
            selected: a.selected,
            needs: a.needs.into_iter().map(Verdict::from).collect(),
        }
    }
}

impl From<selection::NotCandidate> for NotCandidate {
    fn from(n: selection::NotCandidate) -> Self {
        NotCandidate {
            need_id: n.need_id,
            reference: n.reference,
            why: n.why,
        }
    }
}

impl From<selection::ScenarioDependency> for ScenarioDependency {
    fn from(d: selection::ScenarioDependency) -> Self {
        ScenarioDependency {
            need_id: d.need_id,
            kind: d.kind,
            other_need_id: d.other_need_id,
        }
    }
}

impl From<sensitivity::ScenarioRobustness> for ScenarioRobustness {
    fn from(r: sensitivity::ScenarioRobustness) -> Self {
        ScenarioRobustness {
            agrees_with_result: r.agrees_with_result,
            optimal_total_priority: r.optimal_total_priority,
            stability_radius: r.stability_radius.into(),
            what_it_would_take: all(r.what_it_would_take),
        }
    }
}

/// Converts every element (the stored form to the wire form, or back).
pub fn all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
}
