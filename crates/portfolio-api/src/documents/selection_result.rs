//! A selection scenario's result: stored with the scenario (immutable) and shown as it is, so
//! the stored shape is the contract.

use portfolio_domain::selection::{DependencyKind, SelectionReason};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::routes::need_dependencies::dependency_kind_schema;

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
