//! `/api/v1/cycles/{year}/ranking/sensitivity`: for each adjacent pair of the ranking, the
//! smallest change of one criterion's weight that swaps them. A sub-resource, so the ranking
//! itself stays small.

use std::collections::HashMap;

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use portfolio_domain::scoring::Aggregation;
use portfolio_domain::sensitivity::{PairSensitivity, WeightChange};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::db::Db;
use crate::error::ApiError;
use crate::store::sensitivity::{ranking_sensitivity, RankingSensitivity};

crate::enum_schema!(
    sensitivity_aggregation_schema,
    Aggregation,
    "`mean` (default) or `calibrated`; `median` is refused (422): it is not linear in the weights."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct SensitivityQuery {
    /// The ranking to analyse: `mean` (default) or `calibrated`.
    #[param(schema_with = sensitivity_aggregation_schema)]
    pub aggregation: Option<Aggregation>,
}

/// Which way a weight moves.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WeightDirection {
    Increase,
    Decrease,
}

/// The smallest single-criterion weight change that swaps a pair.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WeightSwap {
    /// The criterion whose weight moves (the others keep theirs).
    #[schema(example = "PASIENTNYTTE")]
    pub criterion: String,
    /// Its adopted weight.
    #[schema(example = 3.0)]
    pub weight_from: f64,
    /// The weight at which the two tie; past it (further from `weight_from`) they swap.
    #[schema(example = 2.41)]
    pub weight_to: f64,
    /// `weight_to − weight_from`.
    #[schema(example = -0.59)]
    pub change: f64,
    pub direction: WeightDirection,
}

impl From<WeightChange> for WeightSwap {
    fn from(w: WeightChange) -> Self {
        WeightSwap {
            direction: if w.change < 0.0 {
                WeightDirection::Decrease
            } else {
                WeightDirection::Increase
            },
            criterion: w.criterion,
            weight_from: w.weight_from,
            weight_to: w.weight_to,
            change: w.change,
        }
    }
}

/// Two neighbours of the ranking and how robust their order is to the weights.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PairDto {
    /// The higher-ranked need.
    #[schema(example = "B-2022-004")]
    pub upper: String,
    pub upper_rank: usize,
    /// The need directly below it.
    #[schema(example = "B-2022-017")]
    pub lower: String,
    pub lower_rank: usize,
    /// Overall-score gap, points (≥ 0).
    pub gap: f64,
    /// The smallest change of one criterion's weight that swaps them; null when no positive
    /// weight of any single criterion does ("none within the allowed range").
    pub swap: Option<WeightSwap>,
}

/// A criterion's adopted weight.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CriterionWeight {
    pub code: String,
    pub weight: f64,
    /// Its share of the total weight, 0–1.
    pub weight_share: f64,
}

/// The weight sensitivity of a year's ranking.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "year": 2022, "aggregation": "mean", "frozen": true, "computed_at": "2022-05-10T12:00:00Z",
    "criteria_set_version": 2,
    "criteria": [{"code": "PASIENTNYTTE", "weight": 3.0, "weight_share": 0.6}, {"code": "GEVINST", "weight": 2.0, "weight_share": 0.4}],
    "pairs": [
        {"upper": "B-2022-004", "upper_rank": 1, "lower": "B-2022-017", "lower_rank": 2, "gap": 2.5,
         "swap": {"criterion": "PASIENTNYTTE", "weight_from": 3.0, "weight_to": 2.41, "change": -0.59, "direction": "decrease"}},
        {"upper": "B-2022-017", "upper_rank": 2, "lower": "B-2022-021", "lower_rank": 3, "gap": 0.0, "swap": null}
    ]
}))]
pub struct RankingSensitivityResponse {
    pub year: i32,
    #[schema(schema_with = sensitivity_aggregation_schema)]
    pub aggregation: Aggregation,
    /// True once prioritisation is closed (the frozen ranking is analysed).
    pub frozen: bool,
    /// When the ranking analysed was computed.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub computed_at: DateTime<Utc>,
    pub criteria_set_version: i32,
    /// The prioritisation criteria with their adopted weights.
    pub criteria: Vec<CriterionWeight>,
    /// One entry per adjacent pair of scored needs, best first (unscored needs have no score
    /// a weight could move).
    pub pairs: Vec<PairDto>,
}

fn response(
    s: RankingSensitivity,
    year: i32,
    aggregation: Aggregation,
) -> RankingSensitivityResponse {
    let ranked = s.ranking.ranked(aggregation);
    let by_ref: HashMap<_, _> = ranked
        .iter()
        .map(|r| (r.summary.reference, (r.rank, r.summary.overall)))
        .collect();
    let total: f64 = s
        .criteria
        .iter()
        .filter(|c| c.kind == portfolio_domain::criteria::CriterionKind::Prioritisation)
        .map(|c| c.weight)
        .sum();
    let pair = |p: PairSensitivity| {
        let (upper_rank, hi) = by_ref.get(&p.upper).copied().unwrap_or_default();
        let (lower_rank, lo) = by_ref.get(&p.lower).copied().unwrap_or_default();
        PairDto {
            upper: p.upper.to_string(),
            upper_rank,
            lower: p.lower.to_string(),
            lower_rank,
            gap: hi.zip(lo).map_or(0.0, |(h, l)| h - l),
            swap: p.swap.map(WeightSwap::from),
        }
    };
    RankingSensitivityResponse {
        year,
        aggregation,
        frozen: s.closed_at.is_some(),
        computed_at: s.ranking.computed_at,
        criteria_set_version: s.ranking.criteria_set_version,
        criteria: s
            .criteria
            .iter()
            .filter(|c| c.kind == portfolio_domain::criteria::CriterionKind::Prioritisation)
            .map(|c| CriterionWeight {
                code: c.code.clone(),
                weight: c.weight,
                weight_share: c.weight / total,
            })
            .collect(),
        pairs: s.pairs.into_iter().map(pair).collect(),
    }
}

/// Get the weight sensitivity of a cycle's ranking
///
/// For each adjacent pair of scored needs in the ranking (`mean` by default, or
/// `calibrated`): the smallest change of a single criterion's weight that swaps them —
/// which criterion, to what weight, by how much and in which direction — or `swap: null`
/// when no positive weight of any one criterion does. Computed on the same ranking
/// `GET /cycles/{year}/ranking` serves (the frozen one once the round is closed). Needs
/// `portfolio:read`.
///
/// **Method (exact, closed form).** Scores are renormalised by the weight sum, so when
/// criterion k's weight moves and the others keep theirs, a need's overall score is
/// `p(t) = (1 − t)·a + t·b` in k's weight share `t = w_k / Σw`, where `b` is the need's mean
/// 0–100 value on k and `a` its score on the other criteria alone. The gap between two
/// neighbours is therefore linear in `t` and is zero at one share `t* = Δa / (Δa − Δb)`; when
/// `0 < t* < 1` the weight at which they tie is `w = t*·W₀ / (1 − t*)` (`W₀` the sum of the
/// other weights), otherwise no positive weight of k swaps them. The reported swap is the
/// criterion with the smallest `|w − w_k|`. Past `weight_to` the two swap; at it they tie
/// (and the tie-break decides). Floating point only, no sampling or search. Ties today
/// (`gap` 0) give a change of ~0: any move in the right direction swaps them.
#[utoipa::path(
    tag = "prioritisation",
    params(("year" = i32, Path, description = "Cycle year", example = 2022), SensitivityQuery),
    responses(
        (status = 200, description = "The sensitivity of each adjacent pair", body = RankingSensitivityResponse),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cycle has not reached prioritisation, or has no adopted criteria set", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`aggregation=median`", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{year}/ranking/sensitivity")]
pub async fn get_ranking_sensitivity(
    caller: Caller,
    db: web::Data<Db>,
    cache: web::Data<crate::read_cache::ReadCache>,
    path: web::Path<i32>,
    query: web::Query<SensitivityQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let year = path.into_inner();
    let aggregation = query.aggregation.unwrap_or_default();
    if aggregation == Aggregation::Median {
        return Err(ApiError::invalid(
            "aggregation",
            "weight sensitivity is defined for `mean` and `calibrated`, not `median`",
        ));
    }
    let cache = cache.get_ref().clone();
    // Same freshness rule as the ranking (read_cache.rs): recomputed only after a commit.
    let body = db
        .run(move |conn| {
            let key = format!("ranking-sensitivity:{year}:{aggregation:?}");
            cache.get_or_compute(conn, key, |conn| {
                let s = ranking_sensitivity(conn, year, aggregation)?;
                serde_json::to_vec(&response(s, year, aggregation))
                    .map(web::Bytes::from)
                    .map_err(ApiError::internal)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(web::Bytes::clone(&body)))
}
