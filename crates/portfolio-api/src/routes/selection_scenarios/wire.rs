//! The wire form of a scenario's parts. The result itself is a document (stored as the
//! scenario's result and shown as it is, `documents::selection_result`); its robustness is
//! stored in the analysis' own form and shown through the typed schemas here.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::robustness::{StabilityRadius, WhatItWouldTake};
pub use crate::documents::selection_result::{
    Answer, ForcedNeed, NotCandidate, ScenarioDependency, Verdict,
};
use crate::store::sensitivity;

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
