//! Prioritisation: score sheets (`/needs/{id}/scores/{org_number}`), the ranking and the
//! score explanation, closing the round, and the funnel of a year.

use std::collections::BTreeMap;

use actix_web::web::Bytes;
use actix_web::{get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use portfolio_domain::calibration::rank_movements;
use portfolio_domain::need::NeedReference;
use portfolio_domain::ranking::{explain, Neighbour, RankedNeed};
use portfolio_domain::scoring::Aggregation;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::ApiError;
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::{no_nul, ValidJson};
use crate::pagination::{encode_cursor, PageQuery};
use crate::routes::cycles::Cycle;
use crate::store::prioritisation::{self as store, Ranking, ScoreRow};

crate::enum_schema!(
    aggregation_schema,
    Aggregation,
    "How the per-trust scores are combined: `mean` (default), `median`, or `calibrated`: the mean after standardising each trust's values per criterion. Exact method: every value is first put on 0–100 (x = 100·(v − min)/(max − min)); with μ(t,i), σ(t,i) the mean and population standard deviation of trust t's values on criterion i over every need it scored, and μ(i), σ(i) the averages of μ(t,i) and σ(t,i) over the trusts, each value becomes μ(i) + σ(i)·(x − μ(t,i))/σ(t,i) (or x − μ(t,i) + μ(i) when σ(t,i) = 0), clamped to 0–100; the weighted sum and the mean over trusts follow as for `mean`. Under `calibrated`, `overall`, `trust_scores`, `dispersion` and `contributions` are calibrated; `mean` and `median` stay raw."
);
crate::enum_schema!(
    decider_schema,
    portfolio_domain::ranking::RankDecider,
    "The tie-break step that separates two neighbours."
);

/// One criterion's score.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CriterionScore {
    /// A prioritisation criterion of the adopted set.
    #[validate(length(min = 1, max = crate::limits::CRITERION_CODE_MAX))]
    #[schema(example = "PASIENTNYTTE")]
    pub code: String,
    /// A value on the criterion's scale.
    #[schema(example = 4)]
    pub value: i32,
}

/// A trust's scores for one need: one value per prioritisation criterion.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scores": [{"code": "PASIENTNYTTE", "value": 4}, {"code": "EFFEKTIVITET", "value": 5}], "comment": "Stor nytte for fødeavdelingene"}))]
pub struct ScoreSheetInput {
    #[validate(nested, length(min = 1, max = 100))]
    pub scores: Vec<CriterionScore>,
    #[validate(length(max = 2000), custom(function = "no_nul"))]
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

/// One health trust's score sheet for a need.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"need_id": "6f1c2a57-7d0e-4c4b-9a4f-0d2b5e8f9a11", "org_number": "993467049", "scores": [{"code": "EFFEKTIVITET", "value": 5}, {"code": "PASIENTNYTTE", "value": 4}], "comment": "Stor nytte for fødeavdelingene", "scored_by": "trust-scorer", "updated_at": "2022-05-02T12:00:00Z", "version": 1}))]
pub struct ScoreSheet {
    pub need_id: Uuid,
    /// The scoring health trust.
    pub org_number: String,
    /// Ordered by criterion code.
    pub scores: Vec<CriterionScore>,
    pub comment: Option<String>,
    pub scored_by: String,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl ScoreSheet {
    fn from_row(r: ScoreRow) -> Result<Self, ApiError> {
        let values = r.values()?;
        Ok(ScoreSheet {
            need_id: r.need_id,
            org_number: r.org_number.into(),
            scores: values
                .into_iter()
                .map(|(code, value)| CriterionScore { code, value })
                .collect(),
            comment: r.comment,
            scored_by: r.scored_by,
            updated_at: r.updated_at,
            version: r.version,
        })
    }
}

/// Every trust's sheet for a need.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreSheets {
    pub need_id: Uuid,
    #[schema(example = "B-2022-017")]
    pub reference: String,
    /// Ordered by organisation number.
    pub items: Vec<ScoreSheet>,
}

/// A trust's 0–100 weighted score.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrustScoreDto {
    #[schema(example = "993467049")]
    pub trust: String,
    #[schema(example = 85.0)]
    pub score: f64,
}

/// How much one criterion adds to the need's mean score.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContributionDto {
    #[schema(example = "PASIENTNYTTE")]
    pub code: String,
    /// The criterion's share of the total weight, 0–1.
    #[schema(example = 0.6)]
    pub weight_share: f64,
    /// Points of the mean score from this criterion; a need's contributions sum to its mean.
    #[schema(example = 37.5)]
    pub contribution: f64,
}

/// One need in the ranking.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RankingItem {
    /// 1-based; every need has a distinct rank.
    pub rank: usize,
    pub need_id: Uuid,
    #[schema(example = "B-2022-017")]
    pub reference: String,
    pub title: String,
    pub organisation_number: String,
    /// The score ranked on (mean or median per `aggregation`), 0–100; null when no trust
    /// scored the need (unscored is not zero).
    pub overall: Option<f64>,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    /// How many trusts scored the need.
    pub coverage: usize,
    /// Population standard deviation of the per-trust scores (how much the trusts disagree).
    pub dispersion: Option<f64>,
    /// Per-trust scores, by organisation number.
    pub trust_scores: Vec<TrustScoreDto>,
    /// Per-criterion breakdown of the mean score.
    pub contributions: Vec<ContributionDto>,
    /// The need's rank under each aggregation and how far it moves between them; absent on
    /// rankings frozen before the calibrated aggregation existed.
    pub ranks: Option<RanksAcross>,
}

/// A need's rank under each aggregation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RanksAcross {
    pub mean: usize,
    pub median: usize,
    pub calibrated: usize,
    /// Largest minus smallest of the three: 0 when the aggregations agree.
    pub movement: usize,
}

/// How one trust scores one criterion compared with the other trusts (0–100 points per
/// criterion): `offset` is the mean of (its value − the other trusts' mean) over the needs it
/// shares with them (positive = lenient, negative = strict), `spread` the population standard
/// deviation of those differences; `mean` and `sd` describe all its values on the criterion.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"trust": "983974899", "criterion": "NYTTE", "needs_scored": 27,
    "shared_needs": 27, "offset": 6.2, "spread": 18.4, "mean": 58.3, "sd": 21.0}))]
pub struct RaterDto {
    pub trust: String,
    pub criterion: String,
    pub needs_scored: usize,
    pub shared_needs: usize,
    pub offset: Option<f64>,
    pub spread: Option<f64>,
    pub mean: f64,
    pub sd: f64,
}

/// The rater-calibration report of a year.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RatersResponse {
    pub year: i32,
    pub raters: Vec<RaterDto>,
}

fn item(r: &RankedNeed, info: Option<&&store::RankedNeedInfo>) -> RankingItem {
    let s = &r.summary;
    RankingItem {
        rank: r.rank,
        need_id: info.map(|i| i.id).unwrap_or_default(),
        reference: s.reference.to_string(),
        title: info.map(|i| i.title.clone()).unwrap_or_default(),
        organisation_number: info
            .map(|i| i.organisation_number.clone())
            .unwrap_or_default(),
        overall: s.overall,
        mean: s.mean,
        median: s.median,
        coverage: s.coverage,
        dispersion: s.dispersion,
        trust_scores: s
            .trust_scores
            .iter()
            .map(|t| TrustScoreDto {
                trust: t.trust.clone(),
                score: t.score,
            })
            .collect(),
        contributions: s
            .contributions
            .iter()
            .map(|c| ContributionDto {
                code: c.code.clone(),
                weight_share: c.weight_share,
                contribution: c.contribution,
            })
            .collect(),
        ranks: None,
    }
}

/// A criterion's share of the total weight.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WeightShare {
    pub code: String,
    pub weight_share: f64,
}

const TIE_BREAK: &str = "scored before unscored; higher overall; higher coverage; lower dispersion; reference ascending";

/// The ranking of a cycle year.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "year": 2022, "aggregation": "mean", "frozen": false, "closed_at": null,
    "computed_at": "2022-05-10T12:00:00Z", "criteria_set_version": 2,
    "tie_break": TIE_BREAK,
    "criteria": [{"code": "PASIENTNYTTE", "weight_share": 0.6}, {"code": "EFFEKTIVITET", "weight_share": 0.4}],
    "items": [{"rank": 1, "need_id": "6f1c2a57-7d0e-4c4b-9a4f-0d2b5e8f9a11", "reference": "B-2022-017",
               "title": "Tidlig ultralyd", "organisation_number": "993467049",
               "overall": 67.5, "mean": 67.5, "median": 67.5, "coverage": 2, "dispersion": 17.5,
               "trust_scores": [{"trust": "983971636", "score": 50.0}, {"trust": "993467049", "score": 85.0}],
               "contributions": [{"code": "PASIENTNYTTE", "weight_share": 0.6, "contribution": 37.5}, {"code": "EFFEKTIVITET", "weight_share": 0.4, "contribution": 30.0}]}]
}))]
#[derive(Clone)]
pub struct RankingResponse {
    pub year: i32,
    #[schema(schema_with = aggregation_schema)]
    pub aggregation: Aggregation,
    /// True once prioritisation is closed: the ranking is the frozen snapshot.
    pub frozen: bool,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub closed_at: Option<DateTime<Utc>>,
    /// When the numbers were computed (the closing time's computation when frozen).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub computed_at: DateTime<Utc>,
    pub criteria_set_version: i32,
    /// The tie-break order, from first to last step.
    pub tie_break: String,
    pub criteria: Vec<WeightShare>,
    /// Every accepted need, best first; with `limit`, one page of them.
    // Held as each item's JSON, so that a page is cut from the cached ranking as is.
    #[schema(value_type = Vec<RankingItem>)]
    pub items: Vec<Box<RawValue>>,
    /// With `limit`: pass as `cursor` to get the next page; absent on the last page and when
    /// the whole ranking is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The ranking as cached: the whole body, and each item's JSON so that a page is cut from it
/// without recomputing the ranking (~0.8 s at scale 100) or re-serialising it.
struct RankingModel {
    whole: Bytes,
    /// The response without its items: the frame of every page.
    frame: RankingResponse,
    items: Vec<Box<RawValue>>,
}

impl RankingModel {
    fn compute(
        conn: &mut diesel::PgConnection,
        year: i32,
        aggregation: Aggregation,
    ) -> Result<RankingModel, ApiError> {
        let (r, closed_at) = store::ranking(conn, year)?;
        let items = ranked_items(&r, aggregation)
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ApiError::internal)?;
        let mut frame = RankingResponse {
            year,
            aggregation,
            frozen: closed_at.is_some(),
            closed_at,
            computed_at: r.computed_at,
            criteria_set_version: r.criteria_set_version,
            tie_break: TIE_BREAK.into(),
            criteria: r
                .criteria
                .iter()
                .map(|(code, share)| WeightShare {
                    code: code.clone(),
                    weight_share: *share,
                })
                .collect(),
            items,
            next_cursor: None,
        };
        let whole = serde_json::to_vec(&frame).map_err(ApiError::internal)?;
        let items = std::mem::take(&mut frame.items);
        Ok(RankingModel {
            whole: Bytes::from(whole),
            frame,
            items,
        })
    }

    /// The `limit` items after the `after`-th (a rank; 0 = from the top).
    fn page(&self, after: usize, limit: usize) -> Result<Bytes, ApiError> {
        let start = after.min(self.items.len());
        let end = start.saturating_add(limit).min(self.items.len());
        let page = RankingResponse {
            items: self.items[start..end].to_vec(),
            next_cursor: (end < self.items.len()).then(|| encode_cursor(&end)),
            ..self.frame.clone()
        };
        serde_json::to_vec(&page)
            .map(Bytes::from)
            .map_err(ApiError::internal)
    }
}

/// A neighbour in the ranking and what separates it from the explained need.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NeighbourDto {
    pub reference: String,
    pub rank: usize,
    pub overall: Option<f64>,
    pub coverage: usize,
    pub dispersion: Option<f64>,
    /// The higher-ranked need's overall minus the lower-ranked one's (≥ 0); null when either is unscored.
    pub gap: Option<f64>,
    #[schema(schema_with = decider_schema)]
    pub decided_by: String,
}

impl From<Neighbour> for NeighbourDto {
    fn from(n: Neighbour) -> Self {
        NeighbourDto {
            reference: n.reference.to_string(),
            rank: n.rank,
            overall: n.overall,
            coverage: n.coverage,
            dispersion: n.dispersion,
            gap: n.gap,
            decided_by: n.decided_by.as_str().to_owned(),
        }
    }
}

/// Why a need sits where it does, in numbers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "year": 2022, "aggregation": "mean", "frozen": true, "of": 27, "tie_break": TIE_BREAK,
    "need": {"rank": 3, "need_id": "6f1c2a57-7d0e-4c4b-9a4f-0d2b5e8f9a11", "reference": "B-2022-017", "title": "Tidlig ultralyd",
             "organisation_number": "993467049", "overall": 67.5, "mean": 67.5, "median": 67.5, "coverage": 2, "dispersion": 17.5,
             "trust_scores": [{"trust": "983971636", "score": 50.0}, {"trust": "993467049", "score": 85.0}],
             "contributions": [{"code": "PASIENTNYTTE", "weight_share": 0.6, "contribution": 37.5}, {"code": "EFFEKTIVITET", "weight_share": 0.4, "contribution": 30.0}]},
    "above": {"reference": "B-2022-004", "rank": 2, "overall": 70.0, "coverage": 2, "dispersion": 5.0, "gap": 2.5, "decided_by": "overall"},
    "below": {"reference": "B-2022-021", "rank": 4, "overall": 67.5, "coverage": 1, "dispersion": 0.0, "gap": 0.0, "decided_by": "coverage"}
}))]
pub struct ScoreExplanation {
    pub year: i32,
    #[schema(schema_with = aggregation_schema)]
    pub aggregation: Aggregation,
    pub frozen: bool,
    /// How many needs are ranked.
    pub of: usize,
    pub tie_break: String,
    /// The need's rank, per-trust scores and per-criterion contributions.
    pub need: RankingItem,
    /// The need directly above, if any.
    pub above: Option<NeighbourDto>,
    /// The need directly below, if any.
    pub below: Option<NeighbourDto>,
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct RankingQuery {
    /// `mean` (default) or `median`.
    #[param(schema_with = aggregation_schema)]
    pub aggregation: Option<Aggregation>,
}

/// Concept studies started from the year's needs.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelStudies {
    /// Studies started (all statuses).
    pub started: i64,
    /// Counts by study status (`not_started`, `in_progress`, `paused`, `completed`, `cancelled`).
    pub by_status: BTreeMap<String, i64>,
}

/// What happened to accepted needs at the board.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FunnelBoard {
    /// Accepted and not yet decided by the board.
    pub awaiting_decision: i64,
    pub study_started: i64,
    pub deferred: i64,
    pub declined: i64,
}

/// From reported needs to started studies, for one year.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "year": 2022, "reported": 40, "awaiting_assessment": 0, "accepted": 27, "rejected": 13, "withdrawn": 0,
    "board": {"awaiting_decision": 0, "study_started": 8, "deferred": 10, "declined": 9},
    "studies": {"started": 8, "by_status": {"cancelled": 0, "completed": 3, "in_progress": 3, "not_started": 1, "paused": 1}}
}))]
pub struct Funnel {
    pub year: i32,
    /// Every need reported for the year (whatever happened to it since).
    pub reported: i64,
    /// Still `submitted`.
    pub awaiting_assessment: i64,
    /// Accepted at first assessment (including those the board has since decided on).
    pub accepted: i64,
    pub rejected: i64,
    pub withdrawn: i64,
    pub board: FunnelBoard,
    pub studies: FunnelStudies,
}

fn ranked_items(r: &Ranking, aggregation: Aggregation) -> Vec<RankingItem> {
    let info = r.info();
    let moves: std::collections::HashMap<_, _> = if r.calibrated.is_empty() {
        Default::default()
    } else {
        rank_movements(&r.mean, &r.median, &r.calibrated)
            .into_iter()
            .map(|m| (m.reference, m))
            .collect()
    };
    r.ranked(aggregation)
        .iter()
        .map(|n| RankingItem {
            ranks: moves.get(&n.summary.reference).map(|m| RanksAcross {
                mean: m.mean,
                median: m.median,
                calibrated: m.calibrated,
                movement: m.movement,
            }),
            ..item(n, info.get(n.summary.reference.to_string().as_str()))
        })
        .collect()
}

/// How lenient or strict each trust scores
///
/// Per trust and prioritisation criterion: the mean offset of its values from the other
/// trusts' mean on the needs both scored (positive = lenient) and the spread of those
/// differences, with the trust's own mean and standard deviation (what the `calibrated`
/// aggregation of the ranking standardises with). All on 0–100 per criterion. Needs
/// `portfolio:read`.
#[utoipa::path(
    tag = "prioritisation",
    params(("year" = i32, Path, description = "Cycle year", example = 2022)),
    responses(
        (status = 200, description = "The calibration report", body = RatersResponse),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cycle has not reached prioritisation, or has no adopted criteria set", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{year}/raters")]
pub async fn get_raters(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
) -> Result<web::Json<RatersResponse>, ApiError> {
    caller.require(Permission::Read)?;
    let year = path.into_inner();
    let raters = db.run(move |conn| store::raters(conn, year)).await?;
    Ok(web::Json(RatersResponse {
        year,
        raters: raters
            .into_iter()
            .map(|r| RaterDto {
                trust: r.trust,
                criterion: r.criterion,
                needs_scored: r.needs_scored,
                shared_needs: r.shared_needs,
                offset: r.offset,
                spread: r.spread,
                mean: r.mean,
                sd: r.sd,
            })
            .collect(),
    }))
}

/// Write a trust's score sheet
///
/// A health trust scores an accepted need: one value per prioritisation criterion of the
/// adopted set, each on its scale, with an optional comment. Only during prioritisation,
/// until the round is closed. A caller may write only its own organisation's sheet
/// (`portfolio:score` and the token's organisation equal to `org_number`); anything else is
/// 403 and nothing is written. Creating a sheet needs no `If-Match`; replacing one does.
///
/// **Method.** A trust's score for a need is
/// `100 × Σᵢ sᵢ × (vᵢ − minᵢ) / (maxᵢ − minᵢ)` over the prioritisation criteria `i` of the
/// adopted set, where `sᵢ = weightᵢ / Σ weights` is the criterion's weight share and `vᵢ`
/// the trust's value on the criterion's scale `[minᵢ, maxᵢ]` (so 0–100; screening criteria
/// do not count). `mean` is the arithmetic mean of the per-trust scores over the trusts that
/// scored the need, `median` their median (the mean of the two middle ones for an even
/// count), and `overall` the one `aggregation` selects (`mean` by default); a need no trust
/// scored has `null`, not 0. `coverage` is the number of trusts that scored, `dispersion`
/// the population standard deviation of their scores. A criterion's `contribution` is the
/// mean over those trusts of its term `100 × sᵢ × (vᵢ − minᵢ)/(maxᵢ − minᵢ)`; the
/// contributions sum to `mean`. Ranks are decided, in order, by: scored before unscored;
/// higher `overall`; higher `coverage`; lower `dispersion`; need reference ascending
/// (scores compared on a grid of 2⁻²⁰ points, so floating-point noise never decides).
#[utoipa::path(
    tag = "prioritisation",
    params(
        ("id" = Uuid, Path, description = "Need id (the example names the demo's need in the small 2021 cycle that is scored against the example criteria set)", example = "791fc80b-e254-43d5-b1f7-a0f4c1851e91"),
        ("org_number" = String, Path, description = "The scoring health trust", example = "993467049"),
        ("If-Match" = Option<String>, Header, description = "Creating the trust's first sheet for this need: omit it (or send `*`); a version names a sheet that does not exist yet → 412. Replacing an existing sheet: required, the ETag of the sheet being replaced (missing → 428, stale → 412).", example = "\"v1\"")
    ),
    request_body = ScoreSheetInput,
    responses(
        (status = 200, description = "The sheet was replaced", body = ScoreSheet, headers(("ETag" = String, description = "Version of the sheet"))),
        (status = 201, description = "The sheet was created", body = ScoreSheet, headers(("ETag" = String, description = "Version of the sheet"), ("Location" = String, description = "The sheet"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in prioritisation, the round is closed, the need is not accepted, or no adopted set", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:score"]))
)]
#[put("/{id}/scores/{org_number}")]
pub async fn put_scores(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<(Uuid, String)>,
    if_match: IfMatch,
    body: ValidJson<ScoreSheetInput>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Score)?;
    let (id, org) = path.into_inner();
    if !caller.belongs_to(&org) {
        return Err(ApiError::Forbidden(format!(
            "you may write only your own organisation's score sheet, not {org}'s"
        )));
    }
    let b = body.0;
    let values: Vec<(String, i32)> = b.scores.into_iter().map(|s| (s.code, s.value)).collect();
    let comment = b.comment;
    let actor = Actor::of(&caller);
    let org2 = org.clone();
    let (row, created) = db
        .transaction(move |conn| {
            if !store::is_health_trust(conn, &org2)? {
                return Err(ApiError::Forbidden(format!(
                    "organisation {org2} is not a health trust; only health trusts score needs"
                )));
            }
            Ok(store::put_scores(
                conn, &actor, id, &org2, &if_match, values, comment,
            )?)
        })
        .await?;
    let version = row.version;
    let builder = if created {
        crate::etag::created_at(format!("/api/v1/needs/{id}/scores/{org}"))
    } else {
        HttpResponse::Ok()
    };
    Ok(json_with_etag(
        builder,
        &ScoreSheet::from_row(row)?,
        version,
    ))
}

/// Get one trust's score sheet
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "prioritisation",
    params(
        ("id" = Uuid, Path, description = "Need id", example = "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff"),
        ("org_number" = String, Path, description = "The scoring health trust", example = "993467049")
    ),
    responses(
        (status = 200, description = "The sheet", body = ScoreSheet, headers(("ETag" = String, description = "Version of the sheet"))),
        (status = 404, description = "No such sheet", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/scores/{org_number}")]
pub async fn get_score(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let (id, org) = path.into_inner();
    let org2 = org.clone();
    let row = db
        .run(move |conn| store::find_score(conn, id, &org2))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("the score sheet of {org} for need {id}")))?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &ScoreSheet::from_row(row)?,
        version,
    ))
}

/// List all trusts' score sheets for a need
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "prioritisation",
    params(("id" = Uuid, Path, description = "Need id", example = "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff")),
    responses(
        (status = 200, description = "The sheets", body = ScoreSheets),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/scores")]
pub async fn list_scores(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<web::Json<ScoreSheets>, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let (need, rows) = db.run(move |conn| store::list_scores(conn, id)).await?;
    Ok(web::Json(ScoreSheets {
        need_id: need.id,
        reference: need.reference,
        items: rows
            .into_iter()
            .map(ScoreSheet::from_row)
            .collect::<Result<_, _>>()?,
    }))
}

/// Get the ranking of a cycle
///
/// Every accepted need with its overall score (mean across the trusts that scored, or
/// median), per-trust weighted scores (0–100 on the absolute scales of the adopted set),
/// coverage, dispersion and each criterion's contribution. Ties are broken, in order, by:
/// scored before unscored; higher overall; higher coverage; lower dispersion; reference
/// ascending. Computed live during prioritisation; after closing, the frozen snapshot is
/// served unchanged, equal to the last live ranking to the last bit. Needs `portfolio:read`.
///
/// **Pages.** Without `limit` and `cursor` the answer holds the whole ranking. With `limit`
/// it holds that many needs in rank order and a `next_cursor` for the rest (absent on the
/// last page). The cursor carries the last rank served: a frozen ranking pages exactly; a
/// live one recomputed between two pages (a sheet was written) continues at the next rank
/// of the new ranking.
///
/// **Method.** A trust's score for a need is
/// `100 × Σᵢ sᵢ × (vᵢ − minᵢ) / (maxᵢ − minᵢ)` over the prioritisation criteria `i` of the
/// adopted set, where `sᵢ = weightᵢ / Σ weights` is the criterion's weight share and `vᵢ`
/// the trust's value on the criterion's scale `[minᵢ, maxᵢ]` (so 0–100; screening criteria
/// do not count). `mean` is the arithmetic mean of the per-trust scores over the trusts that
/// scored the need, `median` their median (the mean of the two middle ones for an even
/// count), and `overall` the one `aggregation` selects (`mean` by default); a need no trust
/// scored has `null`, not 0. `coverage` is the number of trusts that scored, `dispersion`
/// the population standard deviation of their scores. A criterion's `contribution` is the
/// mean over those trusts of its term `100 × sᵢ × (vᵢ − minᵢ)/(maxᵢ − minᵢ)`; the
/// contributions sum to `mean`. Ranks are decided, in order, by: scored before unscored;
/// higher `overall`; higher `coverage`; lower `dispersion`; need reference ascending
/// (scores compared on a grid of 2⁻²⁰ points, so floating-point noise never decides).
#[utoipa::path(
    tag = "prioritisation",
    params(("year" = i32, Path, description = "Cycle year", example = 2022), RankingQuery, PageQuery),
    responses(
        (status = 200, description = "The ranking", body = RankingResponse),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The cycle has not reached prioritisation, or has no adopted criteria set", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{year}/ranking")]
pub async fn get_ranking(
    caller: Caller,
    db: web::Data<Db>,
    cache: web::Data<crate::read_cache::ReadCache>,
    path: web::Path<i32>,
    query: web::Query<RankingQuery>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let year = path.into_inner();
    let aggregation = query.aggregation.unwrap_or_default();
    page.check()?;
    // Without `limit` or `cursor`, the whole ranking, as before pagination existed.
    let wanted = match (page.limit, &page.cursor) {
        (None, None) => None,
        _ => Some((page.after::<usize>()?.unwrap_or(0), page.limit() as usize)),
    };
    let cache = cache.get_ref().clone();
    // Recomputed only after a committed change (see read_cache.rs); otherwise served as is.
    let model = db
        .run(move |conn| {
            cache.get_or_compute(conn, format!("ranking:{year}:{aggregation:?}"), |conn| {
                RankingModel::compute(conn, year, aggregation)
            })
        })
        .await?;
    let body = match wanted {
        None => model.whole.clone(),
        Some((after, limit)) => model.page(after, limit)?,
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}

/// Explain a need's score and rank
///
/// The need's rank among all ranked needs of its year, its per-trust scores and
/// per-criterion contributions, and the neighbours directly above and below with the gap
/// and the tie-break step that separates them. Needs `portfolio:read`.
///
/// **Method.** A trust's score for a need is
/// `100 × Σᵢ sᵢ × (vᵢ − minᵢ) / (maxᵢ − minᵢ)` over the prioritisation criteria `i` of the
/// adopted set, where `sᵢ = weightᵢ / Σ weights` is the criterion's weight share and `vᵢ`
/// the trust's value on the criterion's scale `[minᵢ, maxᵢ]` (so 0–100; screening criteria
/// do not count). `mean` is the arithmetic mean of the per-trust scores over the trusts that
/// scored the need, `median` their median (the mean of the two middle ones for an even
/// count), and `overall` the one `aggregation` selects (`mean` by default); a need no trust
/// scored has `null`, not 0. `coverage` is the number of trusts that scored, `dispersion`
/// the population standard deviation of their scores. A criterion's `contribution` is the
/// mean over those trusts of its term `100 × sᵢ × (vᵢ − minᵢ)/(maxᵢ − minᵢ)`; the
/// contributions sum to `mean`. Ranks are decided, in order, by: scored before unscored;
/// higher `overall`; higher `coverage`; lower `dispersion`; need reference ascending
/// (scores compared on a grid of 2⁻²⁰ points, so floating-point noise never decides).
#[utoipa::path(
    tag = "prioritisation",
    params(("id" = Uuid, Path, description = "Need id", example = "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff"), RankingQuery),
    responses(
        (status = 200, description = "The explanation", body = ScoreExplanation),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The need is not ranked (not accepted), or its cycle has not reached prioritisation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/score-explanation")]
pub async fn score_explanation(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    query: web::Query<RankingQuery>,
) -> Result<web::Json<ScoreExplanation>, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let aggregation = query.aggregation.unwrap_or_default();
    let (need, r, closed_at) = db
        .run::<_, ApiError, _>(move |conn| {
            let need = crate::store::needs::find_need(conn, id)?
                .ok_or_else(|| ApiError::not_found(format!("need {id}")))?;
            let (r, closed) = store::ranking(conn, need.cycle_year)?;
            Ok((need, r, closed))
        })
        .await?;
    let reference: NeedReference = need
        .reference
        .parse()
        .map_err(|_| ApiError::internal("stored reference"))?;
    let e = explain(r.ranked(aggregation), &reference).ok_or_else(|| {
        ApiError::Conflict(format!(
            "need {} is '{}' and not in the ranking of {}",
            need.reference, need.status, need.cycle_year
        ))
    })?;
    let info = r.info();
    Ok(web::Json(ScoreExplanation {
        year: need.cycle_year,
        aggregation,
        frozen: closed_at.is_some(),
        of: e.of,
        tie_break: TIE_BREAK.into(),
        need: item(&e.need, info.get(need.reference.as_str())),
        above: e.above.map(NeighbourDto::from),
        below: e.below.map(NeighbourDto::from),
    }))
}

/// Close the prioritisation round of a cycle
///
/// Freezes the round: the ranking (mean and median) and every score sheet as they stand are
/// kept and served unchanged from then on; no sheet can be written again. Only in the
/// `prioritisation` phase. Needs `portfolio:manage` and `If-Match` (the cycle's ETag).
#[utoipa::path(
    tag = "prioritisation",
    params(
        ("year" = i32, Path, description = "Cycle year", example = 2022),
        ("If-Match" = String, Header, description = "The cycle's ETag", example = "\"v3\"")
    ),
    responses(
        (status = 200, description = "Closed; the cycle", body = Cycle, headers(("ETag" = String, description = "Version of the cycle"))),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in prioritisation, or already closed", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{year}/prioritisation/close")]
pub async fn close_prioritisation(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let year = path.into_inner();
    let actor = Actor::of(&caller);
    let view = db
        .transaction(move |conn| store::close_prioritisation(conn, &actor, year, &if_match))
        .await?;
    let version = view.cycle.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Cycle::from(view),
        version,
    ))
}

/// Get the funnel of a cycle
///
/// Needs reported, awaiting assessment, accepted, rejected and withdrawn; what the board
/// made of the accepted ones; and the concept studies started, by status. Needs
/// `portfolio:read`.
#[utoipa::path(
    tag = "prioritisation",
    params(("year" = i32, Path, description = "Cycle year", example = 2022)),
    responses(
        (status = 200, description = "The funnel", body = Funnel),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{year}/funnel")]
pub async fn get_funnel(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
) -> Result<web::Json<Funnel>, ApiError> {
    caller.require(Permission::Read)?;
    let year = path.into_inner();
    let f = db.run(move |conn| store::funnel(conn, year)).await?;
    let n = |s: &str| f.by_status.get(s).copied().unwrap_or(0);
    let board = FunnelBoard {
        awaiting_decision: n("accepted"),
        study_started: n("study_started"),
        deferred: n("deferred"),
        declined: n("declined"),
    };
    Ok(web::Json(Funnel {
        year,
        reported: f.by_status.values().sum(),
        awaiting_assessment: n("submitted"),
        accepted: store::ACCEPTED_STATUSES.iter().map(|s| n(s.as_str())).sum(),
        rejected: n("rejected"),
        withdrawn: n("withdrawn"),
        board,
        studies: FunnelStudies {
            started: f.studies.by_status.values().sum(),
            by_status: f.studies.by_status,
        },
    }))
}
