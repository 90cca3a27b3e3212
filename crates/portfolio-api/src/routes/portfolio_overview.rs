//! `/api/v1/portfolio/overview`: the cheap dashboard numbers of a year.

use std::collections::{BTreeMap, HashMap};

use actix_web::web::Bytes;
use actix_web::{get, web, HttpResponse};
use chrono::{NaiveDate, Utc};
use portfolio_domain::study::StudyStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::db::Db;
use crate::documents::tertial_report::{BenefitTotals, FrameLine};
use crate::error::ApiError;
use crate::store;
use crate::store::overview::OverviewCounts;
use crate::store::tertial::Area;

/// The portfolio overview of a year: a handful of aggregate queries.
/// The numbers of one **budget year**: the budget frames of `year` and the concept studies
/// they fund (whichever cycle proposed them: the board decides in autumn on the next year's
/// money, so the 2022 cycle's studies are funded, and counted, in 2023), the improvement
/// measures of `year`'s service areas, and the needs reported in `year`'s own cycle (its
/// intake; the studies those lead to are funded from later years' frames).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "year": 2023,
    "sub_portfolios": {
        "needs": {"total": 3, "by_status": {"submitted": 3}},
        "improvement_measures": {"total": 3, "by_status": {"in_delivery": 2, "planned": 1}},
        "concept_studies": {"total": 8, "by_status": {"completed": 3, "in_progress": 3, "not_started": 1, "paused": 1}, "by_cycle": {"2022": 8}}
    },
    "service_areas": [{"service_area_id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba", "name": "Mor og barn", "kind": "clinical", "measures": 2, "by_status": {"in_delivery": 2}}],
    "rag": {"green": 1, "yellow": 1, "red": 0, "none": 1},
    "budget": [{"sub_portfolio": "concept_studies", "amount_nok": 10000000, "allocated_nok": 6000000, "spent_nok": 2500000, "remaining_nok": 4000000}],
    "benefits": {"as_of": "2025-01-15", "total": 4, "by_status": {"in_realisation": 3, "planned": 1},
        "by_rag": {"green": 2, "yellow": 1, "red": 1, "none": 0}, "stale": 0,
        "priced_planned_nok_per_year": 3600000, "priced_realised_nok_per_year": 1520000}
}))]
pub struct Overview {
    /// The budget year the numbers are for.
    pub year: i32,
    pub sub_portfolios: SubPortfolios,
    /// Measures per service area of the year (areas without measures included).
    pub service_areas: Vec<AreaCount>,
    /// Measures per delivery health (`none` = no status reported yet).
    pub rag: BTreeMap<String, i64>,
    /// The year's budget frames and their use.
    pub budget: Vec<FrameLine>,
    /// Benefits realisation across the portfolio (every benefit, not only the year's), as
    /// of today.
    pub benefits: BenefitsBlock,
}

/// The overview's benefits block.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BenefitsBlock {
    pub as_of: NaiveDate,
    #[serde(flatten)]
    pub totals: BenefitTotals,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubPortfolios {
    /// Needs reported in the cycle of `year` (its intake), by status.
    pub needs: Counts,
    /// Measures of the improvement portfolio in `year`'s service areas.
    pub improvement_measures: Counts,
    /// Concept studies funded from `year`'s budget frames, by status and by the cycle year
    /// that proposed them.
    pub concept_studies: Option<FundedStudies>,
}

/// Concept studies funded from a year's frames.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct FundedStudies {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    /// Studies per cycle year that proposed them (the year of the needs they study).
    pub by_cycle: BTreeMap<String, i64>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AreaCount {
    pub service_area_id: Uuid,
    pub name: String,
    pub kind: String,
    pub measures: i64,
    pub by_status: BTreeMap<String, i64>,
}

impl Overview {
    /// The overview of `year` from what the database counted.
    fn of(year: i32, today: NaiveDate, c: OverviewCounts) -> Overview {
        let (per_area, improvement_measures) = measure_counts(c.measures);
        Overview {
            year,
            sub_portfolios: SubPortfolios {
                needs: need_counts(c.needs),
                improvement_measures,
                concept_studies: Some(funded_studies(c.funded_studies)),
            },
            service_areas: area_counts(c.areas, per_area),
            rag: rag_counts(c.rag),
            budget: c.frames,
            benefits: BenefitsBlock {
                as_of: today,
                totals: c.benefits,
            },
        }
    }
}

/// Measures per status, per service area and in all.
fn measure_counts(
    rows: Vec<(Uuid, String, i64)>,
) -> (HashMap<Uuid, BTreeMap<String, i64>>, Counts) {
    let mut per_area: HashMap<Uuid, BTreeMap<String, i64>> = HashMap::new();
    let mut total = Counts::default();
    for (a, s, n) in rows {
        *per_area.entry(a).or_default().entry(s.clone()).or_default() += n;
        *total.by_status.entry(s).or_default() += n;
        total.total += n;
    }
    (per_area, total)
}

/// Every service area of the year with its measures (none for an area without).
fn area_counts(
    areas: Vec<Area>,
    mut per_area: HashMap<Uuid, BTreeMap<String, i64>>,
) -> Vec<AreaCount> {
    areas
        .into_iter()
        .map(|(id, name, kind)| {
            let by_status = per_area.remove(&id).unwrap_or_default();
            AreaCount {
                service_area_id: id,
                name,
                kind,
                measures: by_status.values().sum(),
                by_status,
            }
        })
        .collect()
}

/// Measures per RAG; every RAG is named, also with no measure.
fn rag_counts(rows: Vec<(Option<String>, i64)>) -> BTreeMap<String, i64> {
    let mut rag: BTreeMap<String, i64> = ["green", "yellow", "red", "none"]
        .into_iter()
        .map(|k| (k.to_owned(), 0))
        .collect();
    for (r, n) in rows {
        *rag.entry(r.unwrap_or_else(|| "none".into())).or_default() += n;
    }
    rag
}

fn funded_studies(rows: Vec<(StudyStatus, i32, i64)>) -> FundedStudies {
    let mut studies = FundedStudies::default();
    for (s, cycle, n) in rows {
        studies.total += n;
        *studies.by_status.entry(s.as_str().to_owned()).or_default() += n;
        *studies.by_cycle.entry(cycle.to_string()).or_default() += n;
    }
    studies
}

fn need_counts(rows: Vec<(String, i64)>) -> Counts {
    let mut needs = Counts::default();
    for (s, n) in rows {
        needs.total += n;
        needs.by_status.insert(s, n);
    }
    needs
}

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// The budget year.
    #[param(minimum = 2000, maximum = 2100, example = 2023)]
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: i32,
}

/// Portfolio overview of a budget year
///
/// `year` is the **budget year**: the year's budget frames and their use, the concept studies
/// funded from those frames (counted by status and by the cycle year that proposed them —
/// studies the board starts in autumn 2022 from the 2022 cycle are funded from, and counted
/// in, 2023), the measures of the year's service areas with their RAG distribution, and the
/// needs reported in the year's own cycle. A few aggregate queries, cheap to poll. Needs
/// `portfolio:read`.
#[utoipa::path(
    tag = "portfolio overview",
    params(OverviewQuery),
    responses((status = 200, description = "The overview", body = Overview)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/overview")]
pub async fn overview(
    caller: Caller,
    db: web::Data<Db>,
    cache: web::Data<crate::read_cache::ReadCache>,
    q: web::Query<OverviewQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*q)?;
    let year = q.year;
    let today = Utc::now().date_naive();
    let cache = cache.get_ref().clone();
    // Dashboards poll this: served from the read cache until the next committed change.
    let body = db
        .run(move |conn| {
            // Benefit health is derived as of today: a new day is a new key.
            cache.get_or_compute(conn, format!("overview:{year}:{today}"), |conn| {
                let o = Overview::of(year, today, store::overview::counts(conn, year, today)?);
                serde_json::to_vec(&o)
                    .map(Bytes::from)
                    .map_err(ApiError::internal)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(Bytes::clone(&body)))
}
