//! `/api/v1/benefits`: benefits realisation (gevinstrealisering) — the benefits plans of
//! concept studies, concepts and improvement measures, their lifecycle, and the measurement
//! series their owners record (`/api/v1/benefits/{id}/measurements`).
//!
//! Who may do what: the portfolio office (`portfolio:manage`) manages plans and lifecycle; the
//! owner organisation records measurements of its own benefits with `portfolio:submit` (the
//! scope a trust already holds to report its needs, bound to the organisation claim the same
//! way), and the office may record on its behalf; everyone with `portfolio:read` reads.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use portfolio_domain::benefit::{
    Baseline, BenefitCategory, BenefitPlan, BenefitStatus, Direction, Indicator, Owner, ParentKind,
    Target,
};
use portfolio_domain::measure::Rag;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::ApiError;
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::{nine_digits, no_nul, ValidJson};
use crate::pagination::{paginate, PageQuery};
use crate::store::benefits::{
    self, BenefitEdit, BenefitFilter, BenefitRow, MeasurementRow, NewMeasurementData,
};

crate::enum_schema!(
    category_schema,
    BenefitCategory,
    "DFØ's benefit category: `budget_effect_own_organisation` (budsjettgevinst i egen virksomhet), `released_capacity` (frigjort kapasitet til annen bruk), `priced_effect_elsewhere` (prissatt gevinst andre steder i offentlig sektor), `not_priced` (ikke prissatt)."
);
crate::enum_schema!(
    direction_schema,
    Direction,
    "Which way the indicator must move: `increase` (higher is better) or `decrease` (lower is better)."
);
crate::enum_schema!(
    parent_kind_schema,
    ParentKind,
    "What the benefit belongs to: a `concept_study`, a `concept` or an improvement `measure`."
);
crate::enum_schema!(
    status_schema,
    BenefitStatus,
    "Lifecycle: `planned` → `in_realisation` → `realised` | `partly_realised` | `not_realised`; `partly_realised` → `in_realisation` | `realised` | `not_realised`; `planned` | `in_realisation` → `cancelled`. `realised`, `not_realised` and `cancelled` are final; `partly_realised`, `not_realised` and `cancelled` need a reason."
);
crate::enum_schema!(
    rag_schema,
    Rag,
    "Benefit health as of today: `green` = target reached, or at most 10 percentage points behind the straight line from baseline date to target date; `yellow` = more than 10 and at most 25 points behind; `red` = more than 25 points behind, or past the target date without reaching the target."
);

fn nullable_rag_schema() -> utoipa::openapi::schema::Object {
    let mut o = rag_schema();
    o.schema_type = utoipa::openapi::schema::SchemaType::from_iter([
        utoipa::openapi::schema::Type::String,
        utoipa::openapi::schema::Type::Null,
    ]);
    if let Some(values) = o.enum_values.as_mut() {
        values.push(serde_json::Value::Null);
    }
    o
}

/// What a benefit belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "concept", "id": "a356d04b-b469-fcdf-db6b-a69980e03b79"}))]
pub struct ParentRef {
    #[schema(schema_with = parent_kind_schema)]
    pub kind: ParentKind,
    pub id: Uuid,
}

/// The benefit owner (gevinsteier).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"org_number": "993467049", "role": "Klinikkleder, Kreftklinikken"}))]
pub struct OwnerBody {
    /// Organisation number of a registered organisation.
    #[schema(min_length = 9, max_length = 9, pattern = "^[0-9]{9}$")]
    #[validate(custom(function = "nine_digits"))]
    pub org_number: String,
    /// Role or name of the owner in that organisation.
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = crate::limits::BENEFIT_SHORT_TEXT_MAX), custom(function = "no_nul"))]
    pub role: String,
}

/// The indicator the benefit is measured by.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Andel rapporter overført automatisk", "unit": "prosent", "direction": "increase"}))]
pub struct IndicatorBody {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = crate::limits::BENEFIT_SHORT_TEXT_MAX), custom(function = "no_nul"))]
    pub name: String,
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = crate::limits::BENEFIT_SHORT_TEXT_MAX), custom(function = "no_nul"))]
    pub unit: String,
    #[schema(schema_with = direction_schema)]
    pub direction: Direction,
}

/// The baseline measurement (nullpunktsmåling).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value": 20.0, "date": "2023-01-01", "method": "Uttrekk fra registeret for 2022"}))]
pub struct BaselineBody {
    pub value: f64,
    pub date: NaiveDate,
    /// How and from where the baseline was measured.
    #[schema(min_length = 1, max_length = 10000)]
    #[validate(length(min = 1, max = crate::limits::LONG_TEXT_MAX), custom(function = "no_nul"))]
    pub method: String,
}

/// The value the indicator should reach, and by when (after the baseline date).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value": 80.0, "date": "2026-01-01"}))]
pub struct TargetBody {
    pub value: f64,
    pub date: NaiveDate,
}

impl From<OwnerBody> for Owner {
    fn from(b: OwnerBody) -> Self {
        Owner {
            org_number: b.org_number,
            role: b.role,
        }
    }
}
impl From<IndicatorBody> for Indicator {
    fn from(b: IndicatorBody) -> Self {
        Indicator {
            name: b.name,
            unit: b.unit,
            direction: b.direction,
        }
    }
}
impl From<BaselineBody> for Baseline {
    fn from(b: BaselineBody) -> Self {
        Baseline {
            value: b.value,
            date: b.date,
            method: b.method,
        }
    }
}
impl From<TargetBody> for Target {
    fn from(b: TargetBody) -> Self {
        Target {
            value: b.value,
            date: b.date,
        }
    }
}

/// The latest effective measurement (corrected ones do not count).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LatestMeasurement {
    pub id: i64,
    pub measured_on: NaiveDate,
    pub value: f64,
}

/// What the measurements say, derived as of `as_of` (today).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProgressView {
    pub as_of: NaiveDate,
    /// Share of the improvement realised at the latest measurement, 0–1 (direction applied,
    /// clamped); absent before the first measurement.
    pub realised_share: Option<f64>,
    /// Share expected by `as_of` on a straight line from baseline date to target date, 0–1.
    pub expected_share: f64,
    /// Absent for a cancelled benefit.
    #[schema(schema_with = nullable_rag_schema)]
    pub rag: Option<Rag>,
    /// In realisation with no measurement for more than six months.
    pub stale: bool,
}

/// Shares to four decimals: more is noise, and it keeps the JSON readable.
fn share(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// A benefit with its plan, status and derived progress.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "0f3e8a52-6b1c-4d7e-9f20-3a4b5c6d7e8f",
    "parent": {"kind": "concept", "id": "a356d04b-b469-fcdf-db6b-a69980e03b79"},
    "need_id": "3b9d3c0e-1f1a-4d8e-9a77-0c6d7e8f9a10",
    "title": "Mindre manuell registrering i kvalitetsregistre",
    "description": "Data overføres automatisk fra journalen; klinikere slipper dobbeltregistrering.",
    "category": "released_capacity",
    "owner": {"org_number": "993467049", "role": "Klinikkleder, Kreftklinikken"},
    "indicator": {"name": "Timer manuell registrering per måned", "unit": "timer", "direction": "decrease"},
    "baseline": {"value": 400.0, "date": "2023-01-01", "method": "Tidsregistrering i fire uker (demodata)"},
    "target": {"value": 100.0, "date": "2026-01-01"},
    "yearly_value_nok": 2400000,
    "status": "in_realisation",
    "status_reason": null,
    "latest_measurement": {"id": 3, "measured_on": "2024-12-01", "value": 240.0},
    "progress": {"as_of": "2025-01-15", "realised_share": 0.5333, "expected_share": 0.6721, "rag": "yellow", "stale": false},
    "version": 5,
    "created_at": "2023-05-02T10:00:00Z",
    "updated_at": "2024-12-03T09:00:00Z"
}))]
pub struct Benefit {
    pub id: Uuid,
    pub parent: ParentRef,
    /// The need the parent descends from (absent for a measure).
    pub need_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    #[schema(schema_with = category_schema)]
    pub category: BenefitCategory,
    pub owner: OwnerBody,
    pub indicator: IndicatorBody,
    pub baseline: BaselineBody,
    pub target: TargetBody,
    /// Yearly value in NOK when fully realised (priced categories only).
    pub yearly_value_nok: Option<i64>,
    #[schema(schema_with = status_schema)]
    pub status: BenefitStatus,
    /// Why the benefit was (partly) not realised or cancelled.
    pub status_reason: Option<String>,
    pub latest_measurement: Option<LatestMeasurement>,
    pub progress: ProgressView,
    /// Version of this representation (also its ETag).
    pub version: i32,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Benefit {
    pub fn of(r: BenefitRow, today: NaiveDate) -> Result<Benefit, ApiError> {
        let plan = r.plan();
        let p = r.progress(today);
        let (kind, parent_id) = r.parent()?;
        let latest_measurement = match (
            r.latest_measurement_id,
            r.latest_measured_on,
            r.latest_value,
        ) {
            (Some(id), Some(measured_on), Some(value)) => Some(LatestMeasurement {
                id,
                measured_on,
                value,
            }),
            _ => None,
        };
        Ok(Benefit {
            id: r.id,
            parent: ParentRef {
                kind,
                id: parent_id,
            },
            need_id: r.need_id,
            title: plan.title,
            description: plan.description,
            category: plan.category,
            owner: OwnerBody {
                org_number: plan.owner.org_number,
                role: plan.owner.role,
            },
            indicator: IndicatorBody {
                name: plan.indicator.name,
                unit: plan.indicator.unit,
                direction: plan.indicator.direction,
            },
            baseline: BaselineBody {
                value: plan.baseline.value,
                date: plan.baseline.date,
                method: plan.baseline.method,
            },
            target: TargetBody {
                value: plan.target.value,
                date: plan.target.date,
            },
            yearly_value_nok: plan.yearly_value_nok,
            status: r.status,
            status_reason: r.status_reason,
            latest_measurement,
            progress: ProgressView {
                as_of: today,
                realised_share: p.realised_share.map(share),
                expected_share: share(p.expected_share),
                rag: p.rag,
                stale: p.stale,
            },
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// All of `rows` as benefits on `today`.
pub fn many(rows: Vec<BenefitRow>, today: NaiveDate) -> Result<Vec<Benefit>, ApiError> {
    rows.into_iter().map(|r| Benefit::of(r, today)).collect()
}

crate::page_type!(BenefitPage, Benefit, "A page of benefits, oldest first.");

/// One measurement of a benefit's indicator.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 3, "benefit_id": "0f3e8a52-6b1c-4d7e-9f20-3a4b5c6d7e8f", "measured_on": "2024-12-01",
    "value": 240.0, "source": "Tidsregistrering i fire uker", "note": null, "corrects": null,
    "corrected_by": null, "recorded_by": "ous-kvalitet", "recorded_org": "993467049",
    "recorded_at": "2024-12-03T09:00:00Z"
}))]
pub struct BenefitMeasurement {
    pub id: i64,
    pub benefit_id: Uuid,
    pub measured_on: NaiveDate,
    pub value: f64,
    /// Where the value comes from.
    pub source: String,
    pub note: Option<String>,
    /// The measurement this one corrects.
    pub corrects: Option<i64>,
    /// The measurement that corrects this one; a corrected measurement no longer counts.
    pub corrected_by: Option<i64>,
    /// Who recorded it (token subject) and for which organisation.
    pub recorded_by: String,
    pub recorded_org: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub recorded_at: DateTime<Utc>,
}

impl BenefitMeasurement {
    fn of(m: MeasurementRow, corrected_by: Option<i64>) -> Self {
        BenefitMeasurement {
            id: m.id,
            benefit_id: m.benefit_id,
            measured_on: m.measured_on,
            value: m.value,
            source: m.source,
            note: m.note,
            corrects: m.corrects,
            corrected_by,
            recorded_by: m.recorded_by,
            recorded_org: m.recorded_org,
            recorded_at: m.recorded_at,
        }
    }
}

crate::page_type!(
    BenefitMeasurementPage,
    BenefitMeasurement,
    "A page of a benefit's measurements, newest recording first."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct BenefitQuery {
    /// Only benefits owned by this organisation.
    #[param(
        example = "993467049",
        min_length = 9,
        max_length = 9,
        pattern = "^[0-9]{9}$"
    )]
    #[validate(custom(function = "nine_digits"))]
    pub owner_org: Option<String>,
    /// Only benefits of this DFØ category.
    #[param(schema_with = category_schema)]
    pub category: Option<BenefitCategory>,
    /// Only benefits in this status.
    #[param(schema_with = status_schema)]
    pub status: Option<BenefitStatus>,
    /// Only benefits whose health today is this.
    #[param(schema_with = rag_schema)]
    pub rag: Option<Rag>,
    /// Only the benefits of this concept study.
    pub study_id: Option<Uuid>,
    /// Only the benefits of this concept.
    pub concept_id: Option<Uuid>,
    /// Only the benefits of this improvement measure.
    pub measure_id: Option<Uuid>,
    /// Only the benefits descending from this need (through its studies and concepts).
    pub need_id: Option<Uuid>,
}

/// A new benefit. It starts as `planned`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "parent": {"kind": "concept", "id": "a356d04b-b469-fcdf-db6b-a69980e03b79"},
    "title": "Høyere andel automatisk overførte registermeldinger",
    "description": "Meldinger til kvalitetsregistrene hentes fra journalen i stedet for å registreres for hånd.",
    "category": "not_priced",
    "owner": {"org_number": "993467049", "role": "Fagdirektør"},
    "indicator": {"name": "Andel meldinger overført automatisk", "unit": "prosent", "direction": "increase"},
    "baseline": {"value": 10.0, "date": "2023-01-01", "method": "Uttrekk fra registrene for 2022"},
    "target": {"value": 90.0, "date": "2026-12-31"}
}))]
pub struct NewBenefit {
    pub parent: ParentRef,
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = crate::limits::TITLE_MAX), custom(function = "no_nul"))]
    pub title: String,
    #[schema(min_length = 1, max_length = 10000)]
    #[validate(length(min = 1, max = crate::limits::LONG_TEXT_MAX), custom(function = "no_nul"))]
    pub description: String,
    #[schema(schema_with = category_schema)]
    pub category: BenefitCategory,
    #[validate(nested)]
    pub owner: OwnerBody,
    #[validate(nested)]
    pub indicator: IndicatorBody,
    #[validate(nested)]
    pub baseline: BaselineBody,
    pub target: TargetBody,
    /// Yearly NOK value when fully realised; only for priced categories.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub yearly_value_nok: Option<i64>,
}

/// Distinguishes an absent field (unchanged) from `null` (cleared).
fn some_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a benefit's plan; absent fields stay as they are, sub-objects are replaced
/// whole. Indicator, baseline and target change only while the benefit is `planned`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"owner": {"org_number": "993467049", "role": "Klinikkleder, Kreftklinikken"}}))]
pub struct EditBenefit {
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = crate::limits::TITLE_MAX), custom(function = "no_nul"))]
    pub title: Option<String>,
    #[schema(min_length = 1, max_length = 10000)]
    #[validate(length(min = 1, max = crate::limits::LONG_TEXT_MAX), custom(function = "no_nul"))]
    pub description: Option<String>,
    #[schema(schema_with = category_schema)]
    pub category: Option<BenefitCategory>,
    #[validate(nested)]
    pub owner: Option<OwnerBody>,
    #[validate(nested)]
    pub indicator: Option<IndicatorBody>,
    #[validate(nested)]
    pub baseline: Option<BaselineBody>,
    pub target: Option<TargetBody>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "some_option")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub yearly_value_nok: Option<Option<i64>>,
}

/// A lifecycle change.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "in_realisation"}))]
pub struct BenefitStatusChange {
    #[schema(schema_with = status_schema)]
    pub status: BenefitStatus,
    /// Required for `partly_realised`, `not_realised` and `cancelled`.
    #[schema(min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = crate::limits::REASON_MAX), custom(function = "no_nul"))]
    pub reason: Option<String>,
}

/// A new measurement, or a correction of an earlier one (`corrects`).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"measured_on": "2026-11-15", "value": 55.0, "source": "Uttrekk fra registeret (demodata)"}))]
pub struct NewBenefitMeasurement {
    /// When the value was measured: not before the baseline date, not in the future.
    pub measured_on: NaiveDate,
    pub value: f64,
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = crate::limits::BENEFIT_SHORT_TEXT_MAX), custom(function = "no_nul"))]
    pub source: String,
    #[schema(min_length = 1, max_length = 10000)]
    #[validate(length(min = 1, max = crate::limits::LONG_TEXT_MAX), custom(function = "no_nul"))]
    pub note: Option<String>,
    /// The id of the measurement of this benefit that this one corrects.
    pub corrects: Option<i64>,
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// List benefits
///
/// The benefits plans of concept studies, concepts and measures, filtered by owner
/// organisation, category, status, health (RAG, derived as of today), parent or need.
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "benefits realisation",
    params(BenefitQuery, PageQuery),
    responses((status = 200, description = "A page of benefits", body = BenefitPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_benefits(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<BenefitQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<BenefitPage>, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let after = page.after::<(DateTime<Utc>, Uuid)>()?;
    let limit = page.limit();
    let q = filter.into_inner();
    let f = BenefitFilter {
        owner_org: q.owner_org,
        category: q.category,
        status: q.status,
        rag: q.rag,
        study_id: q.study_id,
        concept_id: q.concept_id,
        measure_id: q.measure_id,
        need_id: q.need_id,
    };
    let today = today();
    let rows = db
        .run(move |conn| benefits::list(conn, &f, after, limit, today))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| (r.created_at, r.id));
    Ok(web::Json(BenefitPage {
        items: many(rows, today)?,
        next_cursor,
    }))
}

/// Get a benefit
///
/// The plan, status, latest effective measurement and progress as of today. Needs
/// `portfolio:read`.
#[utoipa::path(
    tag = "benefits realisation",
    params(("id" = Uuid, Path, description = "Benefit id", example = "cdcabee4-fb82-ed58-ce15-b784497a144e")),
    responses(
        (status = 200, description = "The benefit", body = Benefit, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such benefit", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_benefit(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let row = db
        .run(move |conn| benefits::find(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("benefit {id}")))?;
    respond(HttpResponse::Ok(), row)
}

fn respond(
    builder: actix_web::HttpResponseBuilder,
    row: BenefitRow,
) -> Result<HttpResponse, ApiError> {
    let version = row.version;
    Ok(json_with_etag(
        builder,
        &Benefit::of(row, today())?,
        version,
    ))
}

/// Create a benefit
///
/// Adds a benefit to the benefits realisation plan of a concept study, a concept or a
/// measure, as `planned`. The target must differ from the baseline in the indicator's
/// direction, the target date must come after the baseline date, the owner must be a
/// registered organisation, and only priced categories carry a NOK value. Needs
/// `portfolio:manage`.
#[utoipa::path(
    tag = "benefits realisation",
    request_body = NewBenefit,
    responses(
        (status = 201, description = "Created", body = Benefit, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new benefit"))),
        (status = 422, description = "Invalid plan (every field error listed)", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_benefit(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewBenefit>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let b = body.0;
    let parent = (b.parent.kind, b.parent.id);
    let plan = BenefitPlan {
        title: b.title,
        description: b.description,
        category: b.category,
        owner: b.owner.into(),
        indicator: b.indicator.into(),
        baseline: b.baseline.into(),
        target: b.target.into(),
        yearly_value_nok: b.yearly_value_nok,
    };
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| benefits::create(conn, &actor, parent, plan))
        .await?;
    respond(
        crate::etag::created_at(format!("/api/v1/benefits/{}", row.id)),
        row,
    )
}

/// Edit a benefit's plan
///
/// Changes title, description, category, owner or NOK value; indicator, baseline and target
/// only while `planned` (409 after). Not in a final status. Needs `portfolio:manage` and
/// `If-Match`.
#[utoipa::path(
    tag = "benefits realisation",
    params(
        ("id" = Uuid, Path, description = "Benefit id", example = "cdcabee4-fb82-ed58-ce15-b784497a144e"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = EditBenefit,
    responses(
        (status = 200, description = "Changed", body = Benefit, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such benefit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The plan or its basis is closed in this status", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[patch("/{id}")]
pub async fn edit_benefit(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<EditBenefit>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let b = body.0;
    let edit = BenefitEdit {
        title: b.title,
        description: b.description,
        category: b.category,
        owner: b.owner.map(Into::into),
        indicator: b.indicator.map(Into::into),
        baseline: b.baseline.map(Into::into),
        target: b.target.map(Into::into),
        yearly_value_nok: b.yearly_value_nok,
    };
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| benefits::edit(conn, &actor, id, &if_match, edit))
        .await?;
    respond(HttpResponse::Ok(), row)
}

/// Delete a benefit
///
/// Only a `planned` benefit without measurements (one entered by mistake); otherwise cancel
/// it with a reason. Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "benefits realisation",
    params(
        ("id" = Uuid, Path, description = "Benefit id", example = "1d753061-579c-e9d1-86af-6d1ce0a2513c"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such benefit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not planned, or already measured", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[delete("/{id}")]
pub async fn delete_benefit(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let actor = Actor::of(&caller);
    db.transaction(move |conn| benefits::delete(conn, &actor, id, &if_match))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change a benefit's status
///
/// planned → in_realisation | cancelled; in_realisation → realised | partly_realised |
/// not_realised | cancelled; partly_realised → in_realisation | realised | not_realised.
/// `partly_realised`, `not_realised` and `cancelled` need a reason. Needs
/// `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "benefits realisation",
    params(
        ("id" = Uuid, Path, description = "Benefit id", example = "c0f45fcd-505f-2d20-5ca5-18aa61f961d6"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = BenefitStatusChange,
    responses(
        (status = 200, description = "Changed", body = Benefit, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such benefit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The lifecycle does not allow this change", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/status")]
pub async fn change_benefit_status(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<BenefitStatusChange>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let b = body.0;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            benefits::change_status(conn, &actor, id, &if_match, b.status, b.reason)
        })
        .await?;
    respond(HttpResponse::Ok(), row)
}

/// A benefit's measurements
///
/// The series, newest recording first; corrected measurements are marked with the id of
/// their correction. Needs `portfolio:read`.
#[utoipa::path(
    tag = "benefits realisation",
    params(("id" = Uuid, Path, description = "Benefit id", example = "cdcabee4-fb82-ed58-ce15-b784497a144e"), PageQuery),
    responses(
        (status = 200, description = "A page of measurements", body = BenefitMeasurementPage),
        (status = 404, description = "No such benefit", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/measurements")]
pub async fn list_measurements(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<BenefitMeasurementPage>, ApiError> {
    caller.require(Permission::Read)?;
    page.check()?;
    let id = path.into_inner();
    let after: Option<i64> = page.after()?;
    let limit = page.limit();
    let benefits::MeasurementPage { rows, corrected_by } = db
        .run(move |conn| benefits::measurements(conn, id, after, limit))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("benefit {id}")))?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.id);
    Ok(web::Json(BenefitMeasurementPage {
        items: rows
            .into_iter()
            .map(|m| {
                let c = corrected_by.get(&m.id).copied();
                BenefitMeasurement::of(m, c)
            })
            .collect(),
        next_cursor,
    }))
}

/// Record a measurement
///
/// Appends a measurement (or, with `corrects`, a correction of an earlier one; each is
/// corrected at most once) and moves the benefit's latest effective value. The owner
/// organisation records for its own benefits with `portfolio:submit` (organisation claim =
/// owner); the portfolio office (`portfolio:manage`) may record for any. Another
/// organisation gets 403. Not for a cancelled benefit (409).
#[utoipa::path(
    tag = "benefits realisation",
    params(("id" = Uuid, Path, description = "Benefit id", example = "cdcabee4-fb82-ed58-ce15-b784497a144e")),
    request_body = NewBenefitMeasurement,
    responses(
        (status = 201, description = "Recorded", body = BenefitMeasurement, headers(("Location" = String, description = "The benefit's measurements"))),
        (status = 403, description = "Not the owner organisation", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such benefit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cancelled benefit, or the measurement is already corrected", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:submit"]), ("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/measurements")]
pub async fn record_measurement(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    body: ValidJson<NewBenefitMeasurement>,
) -> Result<HttpResponse, ApiError> {
    caller.require_any(&[Permission::Submit, Permission::Manage])?;
    let id = path.into_inner();
    let b = body.0;
    let recorder = Recorder {
        is_office: caller.has(Permission::Manage),
        may_submit: caller.has(Permission::Submit),
        org_number: caller.org_number.clone(),
    };
    let m = NewMeasurementData {
        measured_on: b.measured_on,
        value: b.value,
        source: b.source,
        note: b.note,
        corrects: b.corrects,
    };
    let actor = Actor::of(&caller);
    let today = today();
    let (row, _) = db
        .transaction(move |conn| {
            let before = recorder.lock(conn, id)?;
            Ok::<_, ApiError>(benefits::record_measurement(
                conn, &actor, before, m, today,
            )?)
        })
        .await?;
    Ok(
        crate::etag::created_at(format!("/api/v1/benefits/{id}/measurements"))
            .json(BenefitMeasurement::of(row, None)),
    )
}

/// Who is recording a measurement: the portfolio office, or the benefit owner's organisation.
struct Recorder {
    is_office: bool,
    may_submit: bool,
    org_number: Option<String>,
}

impl Recorder {
    /// Locks the benefit for the rest of the transaction, then checks the recorder may add
    /// to it.
    fn lock(&self, conn: &mut diesel::PgConnection, id: Uuid) -> Result<BenefitRow, ApiError> {
        let b = benefits::lock(conn, id)?;
        if self.is_office
            || (self.may_submit && self.org_number.as_deref() == Some(b.owner_org.as_str()))
        {
            Ok(b)
        } else {
            Err(ApiError::Forbidden(format!(
                "benefit {} is owned by organisation {}; only that organisation (portfolio:submit) or the portfolio office records its measurements",
                b.id, b.owner_org
            )))
        }
    }
}
