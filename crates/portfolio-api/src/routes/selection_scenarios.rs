//! `/api/v1/cycles/{year}/selection-scenarios`: which accepted needs give the most priority
//! for a budget — solved exactly, explained per need, and re-solved at other budgets so the
//! board sees what money buys. Stored immutable; a decision case can cite one.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::ApiError;
use crate::etag::json_with_etag;
use crate::extract::{no_nul, ValidJson};
use crate::pagination::{paginate, PageQuery};
use crate::store::selection::{self, ScenarioInput, ScenarioRow, StoredResult};
use crate::store::sensitivity::ROBUSTNESS_MAX_CANDIDATES;

pub mod robustness;
mod wire;
pub use wire::{Answer, ForcedNeed, NotCandidate, ScenarioDependency, ScenarioRobustness, Verdict};

/// A scenario to solve.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Forslag til porteføljestyret høsten 2022", "budget_nok": 10000000, "capacity_person_months": 40, "forced_in": [{"need_id": "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff", "reason": "Lovkrav fra 2024"}], "forced_out": [], "variations_percent": [-20, 20]}))]
pub struct NewScenario {
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// Money available in NOK; default: what remains of the year's `concept_studies` frame.
    #[validate(range(min = 0))]
    #[schema(minimum = 0)]
    pub budget_nok: Option<i64>,
    /// IT-partner capacity available, person-months a year; the selected needs' estimated
    /// capacity (`PUT /needs/{id}/dependencies`; unestimated = 0) must fit. Default: no limit.
    #[validate(range(min = 0, max = 10000000))]
    #[schema(minimum = 0, maximum = 10000000)]
    pub capacity_person_months: Option<i64>,
    /// Needs that must be chosen, each with a reason.
    #[serde(default)]
    #[validate(length(max = 500))]
    pub forced_in: Vec<ForcedNeed>,
    /// Needs that must not be chosen, each with a reason.
    #[serde(default)]
    #[validate(length(max = 500))]
    pub forced_out: Vec<ForcedNeed>,
    /// Other budgets to solve at, in percent change of the budget (−100..=1000); default −20 and +20.
    #[validate(length(max = 10))]
    pub variations_percent: Option<Vec<i64>>,
}

/// A stored selection scenario.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Scenario {
    pub id: Uuid,
    pub cycle_year: i32,
    pub title: String,
    pub budget_nok: i64,
    /// `request` (given) or `frame` (what remained of the year's concept-study frame).
    pub budget_source: String,
    /// The frame the default budget came from.
    pub frame_id: Option<Uuid>,
    /// The capacity limit, person-months a year; null for none.
    pub capacity_person_months: Option<i64>,
    /// The dependencies between candidates that every selection respected.
    pub dependencies: Vec<ScenarioDependency>,
    pub forced_in: Vec<ForcedNeed>,
    pub forced_out: Vec<ForcedNeed>,
    /// The optimal set at the budget, with every accepted need's verdict and reason.
    pub result: Answer,
    /// The same scenario at the other budgets.
    pub variations: Vec<Answer>,
    /// Accepted needs that could not be candidates, and why.
    pub not_candidates: Vec<NotCandidate>,
    /// How robust the selection at the scenario's budget is: its stability radius and, per
    /// candidate left out, what it would take to bring it in. Null only for the reason in
    /// `robustness_unavailable`.
    pub robustness: Option<ScenarioRobustness>,
    /// Why `robustness` is null (null when it is present): the selection is infeasible or not
    /// proven optimal (nothing to certify), there are no candidates, more than 300 of them
    /// (the size the analysis is measured for), or the scenario was stored before robustness
    /// was computed for its size.
    #[schema(example = json!(null))]
    pub robustness_unavailable: Option<String>,
    /// Time the solver took for all budgets, in microseconds.
    pub solve_micros: i64,
    pub created_by: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Always 1: scenarios never change.
    pub version: i32,
}

impl TryFrom<ScenarioRow> for Scenario {
    type Error = ApiError;
    fn try_from(r: ScenarioRow) -> Result<Self, ApiError> {
        let s: StoredResult = serde_json::from_value(r.result)
            .map_err(|e| ApiError::internal(format!("stored scenario {}: {e}", r.id)))?;
        let unavailable = robustness_unavailable(&s);
        Ok(Scenario {
            id: r.id,
            cycle_year: r.cycle_year,
            title: r.title,
            budget_nok: r.budget_nok,
            budget_source: r.budget_source.as_str().to_owned(),
            frame_id: s.frame_id,
            capacity_person_months: s.capacity_person_months,
            dependencies: s.dependencies,
            forced_in: s.forced_in,
            forced_out: s.forced_out,
            result: s.result,
            variations: s.variations,
            not_candidates: s.not_candidates,
            robustness_unavailable: unavailable,
            robustness: s.robustness.map(ScenarioRobustness::from),
            solve_micros: r.solve_micros,
            created_by: r.created_by,
            created_at: r.created_at,
            version: r.version,
        })
    }
}

/// Why a stored scenario has no robustness, read from what was stored (the same conditions
/// under which `store::selection::create_scenario` skips the analysis).
fn robustness_unavailable(s: &StoredResult) -> Option<String> {
    let r = &s.result;
    let why = if s.robustness.is_some() {
        return None;
    } else if !r.feasible {
        "the selection is infeasible: there is no selection to certify".to_owned()
    } else if !r.proven_optimal {
        "the selection is not proven optimal (the solver's deadline was reached), so there is no optimum to certify".to_owned()
    } else if r.needs.is_empty() {
        "there are no candidates".to_owned()
    } else if r.needs.len() > ROBUSTNESS_MAX_CANDIDATES {
        format!(
            "{} candidates: the analysis is computed for at most {ROBUSTNESS_MAX_CANDIDATES} (the size its running time is measured for)",
            r.needs.len()
        )
    } else {
        "not computed when the scenario was stored (before robustness existed, or above the candidate limit then in force)".to_owned()
    };
    Some(why)
}

crate::page_type!(
    ScenarioPage,
    Scenario,
    "A page of a year's selection scenarios, oldest first."
);

/// Solve a selection scenario
///
/// From the year's ranking of accepted needs (priority = overall score by the adopted
/// criteria; cost = estimated study cost), chooses the set with the highest total priority
/// that fits the budget — exactly, not greedily — honouring needs forced in or out, and says
/// for every need why it is in or out. The same is solved at the other budgets (default
/// −20 % and +20 %). The scenario is stored and never changes. Needs `portfolio:manage`.
///
/// With `capacity_person_months`, the selected needs' estimated IT-partner capacity must fit
/// it too; the needs' dependencies (`PUT /needs/{id}/dependencies`) are always respected: a
/// need that `requires` another is chosen only with it, two needs where one `excludes` the
/// other are never both chosen (a need requiring a non-candidate is listed in
/// `not_candidates`). Budget only, without dependencies: exact 0/1 knapsack (dynamic
/// programming over Pareto states). With capacity or dependencies: branch and bound with
/// linear-programming bounds, exact unless its deadline of 2 seconds per budget is reached —
/// then the answer carries the best selection found, `proven_optimal: false` and `gap`
/// (the bound minus its total priority).
///
/// **Robustness.** Stored with the scenario (`robustness`), computed exactly by the same
/// domain functions as a decision's certificate, on the mean ranking's per-criterion values
/// at 10⁻⁶-point resolution, with forced needs kept forced: the stability radius — the
/// smallest change of one criterion's weight (the selection's total is linear in the
/// criterion's weight share, so thresholds are found by re-solving at the lines' crossing
/// points), of one trust's score for one need (the need's score moves by the change divided
/// by its coverage; it enters or leaves exactly when that exceeds the optimum's total minus
/// the best total with it forced the other way), or of the budget — that changes the selected
/// set; and per left-out candidate, the overall-score increase and the budget increase that
/// would bring it in. A budget threshold is the cost of the cheapest set reaching a total
/// (today's total + 1 unit for `budget.increase`; today's total with the need in for its
/// `budget_increase`), found by one branch and bound with the same LP bounds, not by searching
/// over the budget; it starts from the best selection with the need in, and stops after a
/// fixed number of search nodes, then giving the cheapest set found and a proven lower bound
/// (`increase_at_least`, `budget_increase_at_least`; null when exact). A certificate costs
/// 1 + n selection solves plus one per left-out need and a few per criterion; analysed up to
/// 300 candidates (measured: 0.11 s at 100, ≈ 3 s at 300), otherwise `robustness` is null and
/// `robustness_unavailable` says why. An analysed threshold is exact
/// for the rounded scores; against unrounded scores a set's total is off by at most
/// n·0.5·10⁻⁶ points.
#[utoipa::path(
    tag = "selection scenarios",
    params(("year" = i32, Path, description = "Cycle year", example = 2022)),
    request_body = NewScenario,
    responses(
        (status = 201, description = "Solved and stored", body = Scenario, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The stored scenario"))),
        (status = 409, description = "The year has no ranking (no adopted criteria set)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{year}/selection-scenarios")]
pub async fn create_scenario(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
    body: ValidJson<NewScenario>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let year = path.into_inner();
    let b = body.0;
    let mut errors = Vec::new();
    for (list, name) in [(&b.forced_in, "forced_in"), (&b.forced_out, "forced_out")] {
        for (j, f) in list.iter().enumerate() {
            let n = f.reason.trim().chars().count();
            if n == 0 || f.reason.chars().count() > 2000 {
                errors.push(crate::error::FieldError::new(
                    format!("/{name}/{j}/reason"),
                    "length must be between 1 and 2000",
                ));
            }
        }
    }
    let variations = b.variations_percent.unwrap_or_else(|| vec![-20, 20]);
    for (j, p) in variations.iter().enumerate() {
        if !(-100..=1000).contains(p) || *p == 0 {
            errors.push(crate::error::FieldError::new(
                format!("/variations_percent/{j}"),
                "must be between -100 and 1000 and not 0",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let input = ScenarioInput {
        title: b.title,
        budget_nok: b.budget_nok,
        forced_in: b.forced_in,
        forced_out: b.forced_out,
        variations_percent: variations,
        capacity_person_months: b.capacity_person_months,
    };
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| selection::create_scenario(conn, &actor, year, input))
        .await?;
    let s = Scenario::try_from(row)?;
    let resp = crate::etag::created_at(format!(
        "/api/v1/cycles/{year}/selection-scenarios/{}",
        s.id
    ));
    let v = s.version;
    Ok(json_with_etag(resp, &s, v))
}

/// Get a selection scenario
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "selection scenarios",
    params(
        ("year" = i32, Path, description = "Cycle year", example = 2022),
        ("id" = Uuid, Path, description = "Scenario id", example = "b37d6938-e22e-591a-f072-7b573d94e0a7")
    ),
    responses(
        (status = 200, description = "The scenario", body = Scenario, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such scenario in this year", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{year}/selection-scenarios/{id}")]
pub async fn get_scenario(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<(i32, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (year, id) = path.into_inner();
    let row = db
        .run(move |conn| selection::find_scenario(conn, year, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("selection scenario {id} of {year}")))?;
    let s = Scenario::try_from(row)?;
    let v = s.version;
    Ok(json_with_etag(HttpResponse::Ok(), &s, v))
}

/// List a year's selection scenarios
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "selection scenarios",
    params(("year" = i32, Path, description = "Cycle year", example = 2022), PageQuery),
    responses((status = 200, description = "A page of scenarios", body = ScenarioPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{year}/selection-scenarios")]
pub async fn list_scenarios(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<ScenarioPage>, ApiError> {
    caller.require(Permission::Read)?;
    page.check()?;
    let year = path.into_inner();
    let after = page.after::<(DateTime<Utc>, Uuid)>()?;
    let limit = page.limit();
    let rows = db
        .run(move |conn| selection::list_scenarios(conn, year, after, limit))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| (r.created_at, r.id));
    Ok(web::Json(ScenarioPage {
        items: rows
            .into_iter()
            .map(Scenario::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}
