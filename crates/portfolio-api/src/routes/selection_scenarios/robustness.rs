//! The wire form of a selection's robustness (`portfolio_domain::sensitivity`): the stability
//! radius and what it would take to bring each left-out need in. A scenario's `robustness` and
//! a decision's certificate both show it; the JSON is exactly the stored form's.

use portfolio_domain::sensitivity::{self, Direction};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The smallest single changes that change the selected set, one per kind of input (they are
/// in different units, so all are given).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StabilityRadius {
    /// The smallest change of one criterion's weight (others unchanged); null when no positive
    /// weight of any one criterion changes the selection.
    pub weight: Option<WeightChange>,
    /// Per prioritisation criterion, the nearest threshold each way.
    pub weights: Vec<CriterionThresholds>,
    /// The smallest change of one trust's score for one need; null when none within the
    /// 0–100 scale changes the selection.
    pub score_sheet: Option<SheetChange>,
    pub budget: BudgetStability,
}

/// One criterion's weight moved until the selection changes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WeightChange {
    #[schema(example = "NYTTE")]
    pub criterion: String,
    /// Its adopted weight.
    #[schema(example = 3.0)]
    pub weight_from: f64,
    /// The weight at which another selection ties; past it (further from `weight_from`) the
    /// selection differs.
    #[schema(example = 2.41)]
    pub weight_to: f64,
    /// `weight_to − weight_from`.
    #[schema(example = -0.59)]
    pub change: f64,
}

/// The thresholds of one criterion's weight.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CriterionThresholds {
    #[schema(example = "NYTTE")]
    pub criterion: String,
    /// Its adopted weight.
    #[schema(example = 3.0)]
    pub weight: f64,
    /// The selection changes when the weight rises past this; null: no higher weight does.
    #[schema(example = json!(null))]
    pub up_to: Option<f64>,
    /// The selection changes when the weight falls below this; null: no lower positive
    /// weight does.
    #[schema(example = 2.41)]
    pub down_to: Option<f64>,
}

/// Which way a score moves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScoreDirection {
    Increase,
    Decrease,
}

/// One trust's score for one need moved until the selection changes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SheetChange {
    /// The need (reference).
    #[schema(example = "B-2022-007")]
    pub need: String,
    /// The trust (organisation number) with the most room on the scale that way.
    #[schema(example = "983974899")]
    pub trust: String,
    /// `increase` for a left-out need, `decrease` for a chosen one.
    pub direction: ScoreDirection,
    /// Any change of that trust's 0–100 score for the need by more than this many points
    /// changes the selection; less never does (on that sheet).
    #[schema(example = 4.2)]
    pub points: f64,
}

/// The smallest budget changes that change the selection.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BudgetStability {
    /// The smallest cut (NOK) after which the chosen set no longer fits; null when nothing
    /// is chosen.
    #[schema(example = 150001)]
    pub decrease: Option<i64>,
    /// The smallest increase (NOK) after which a better selection fits; null when no amount
    /// of money improves it (capacity or dependencies bind).
    #[schema(example = 320000)]
    pub increase: Option<i64>,
    /// Present (not null) only when the search for `increase` reached its work limit: a
    /// proven lower bound, so the exact figure lies between this and `increase` (null
    /// `increase`: no better selection was found within the limit). Null: `increase` is exact.
    #[serde(default)]
    #[schema(example = json!(null))]
    pub increase_at_least: Option<i64>,
}

/// What it would take to bring one left-out need into the selection.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WhatItWouldTake {
    /// The need (reference).
    #[schema(example = "B-2022-012")]
    pub need: String,
    /// Its overall score today (0 when unscored).
    #[schema(example = 48.2)]
    pub score: f64,
    /// An increase of its overall score by more than this many points brings it in; null:
    /// no score does (it cannot fit, its dependencies forbid it, or it is forced out).
    #[schema(example = 3.1)]
    pub score_increase: Option<f64>,
    /// The smallest budget increase (NOK) at which a selection containing it is at least as
    /// good as today's; null: no budget does (capacity, dependencies, or forced out).
    #[schema(example = 900000)]
    pub budget_increase: Option<i64>,
    /// Present (not null) only when the search for `budget_increase` reached its work
    /// limit: a proven lower bound, so the exact figure lies between this and
    /// `budget_increase` (null `budget_increase`: none was found within the limit). Null:
    /// `budget_increase` is exact.
    #[serde(default)]
    #[schema(example = json!(null))]
    pub budget_increase_at_least: Option<i64>,
}

impl From<sensitivity::StabilityRadius<String>> for StabilityRadius {
    fn from(r: sensitivity::StabilityRadius<String>) -> Self {
        StabilityRadius {
            weight: r.weight.map(WeightChange::from),
            weights: r
                .weights
                .into_iter()
                .map(CriterionThresholds::from)
                .collect(),
            score_sheet: r.score_sheet.map(SheetChange::from),
            budget: BudgetStability {
                decrease: r.budget.decrease,
                increase: r.budget.increase,
                increase_at_least: r.budget.increase_at_least,
            },
        }
    }
}

impl From<sensitivity::WeightChange> for WeightChange {
    fn from(w: sensitivity::WeightChange) -> Self {
        WeightChange {
            criterion: w.criterion,
            weight_from: w.weight_from,
            weight_to: w.weight_to,
            change: w.change,
        }
    }
}

impl From<sensitivity::CriterionThresholds> for CriterionThresholds {
    fn from(t: sensitivity::CriterionThresholds) -> Self {
        CriterionThresholds {
            criterion: t.criterion,
            weight: t.weight,
            up_to: t.up_to,
            down_to: t.down_to,
        }
    }
}

impl From<sensitivity::SheetChange<String>> for SheetChange {
    fn from(s: sensitivity::SheetChange<String>) -> Self {
        SheetChange {
            need: s.need,
            trust: s.trust,
            direction: match s.direction {
                Direction::Increase => ScoreDirection::Increase,
                Direction::Decrease => ScoreDirection::Decrease,
            },
            points: s.points,
        }
    }
}

impl From<sensitivity::WhatItWouldTake<String>> for WhatItWouldTake {
    fn from(w: sensitivity::WhatItWouldTake<String>) -> Self {
        WhatItWouldTake {
            need: w.need,
            score: w.score,
            score_increase: w.score_increase,
            budget_increase: w.budget_increase,
            budget_increase_at_least: w.budget_increase_at_least,
        }
    }
}
