//! `/api/v1/cycles`: the yearly cycle (intake → first assessment → prioritisation → decided)
//! and its criteria set.

use actix_web::{get, post, put, web, HttpResponse};
use chrono::{DateTime, Utc};
use portfolio_domain::criteria::{Criterion, CriterionKind, ScaleStep};
use portfolio_domain::cycle::CyclePhase;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::{ApiError, FieldError};
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::{no_nul, ValidJson};
use crate::pagination::{paginate, PageQuery};
use crate::store::cycles::{self as store, CriteriaSetRow, CycleView};

crate::enum_schema!(
    phase_schema,
    CyclePhase,
    "Phase of a cycle: intake → first_assessment → prioritisation → decided."
);
crate::enum_schema!(
    criterion_kind_schema,
    CriterionKind,
    "`screening` (pass/fail at first assessment; no weight, no scale) or `prioritisation` (scored by the trusts on a weighted scale)."
);

/// One recorded phase change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PhaseChange {
    /// The phase before (absent when the cycle was created).
    #[schema(schema_with = phase_schema)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<CyclePhase>,
    #[schema(schema_with = phase_schema)]
    pub to: CyclePhase,
    /// Subject of the token that made the change.
    pub changed_by: String,
    /// Organisation of the caller that made the change.
    pub changed_by_org: Option<String>,
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub changed_at: DateTime<Utc>,
}

/// A cycle year and where it is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "year": 2022, "phase": "first_assessment", "needs_reported": 40,
    "criteria_set_status": "adopted", "prioritisation_closed_at": null,
    "phase_changes": [
        {"to": "intake", "changed_by": "kari.nordmann", "changed_by_org": "991324968", "changed_at": "2022-01-10T08:00:00Z"},
        {"from": "intake", "to": "first_assessment", "changed_by": "kari.nordmann", "changed_by_org": "991324968", "changed_at": "2022-03-01T08:00:00Z"}
    ],
    "version": 2
}))]
pub struct Cycle {
    pub year: i32,
    #[schema(schema_with = phase_schema)]
    pub phase: CyclePhase,
    /// How many needs have been reported for the year (the last reference number handed out).
    pub needs_reported: i32,
    /// `draft`, `adopted`, or absent when the year has no criteria set yet.
    pub criteria_set_status: Option<String>,
    /// When prioritisation was closed (the ranking and score sheets are frozen from then on).
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub prioritisation_closed_at: Option<DateTime<Utc>>,
    /// Every phase change, oldest first, with who and when.
    pub phase_changes: Vec<PhaseChange>,
    pub version: i32,
}

impl From<CycleView> for Cycle {
    fn from(v: CycleView) -> Self {
        Cycle {
            year: v.cycle.year,
            phase: v.cycle.phase,
            needs_reported: v.cycle.last_need_seq,
            criteria_set_status: v.criteria_status.map(|s| s.as_str().to_owned()),
            prioritisation_closed_at: v.cycle.prioritisation_closed_at,
            phase_changes: v
                .changes
                .into_iter()
                .map(|c| PhaseChange {
                    from: c.from_phase,
                    to: c.to_phase,
                    changed_by: c.changed_by,
                    changed_by_org: c.changed_by_org,
                    changed_at: c.changed_at,
                })
                .collect(),
            version: v.cycle.version,
        }
    }
}

crate::page_type!(CyclePage, Cycle, "A page of cycles, by year.");

/// A new cycle year; it starts in `intake`.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"year": 2024}))]
pub struct NewCycle {
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
}

/// The phase to move to (the next one).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to": "first_assessment"}))]
pub struct PhaseChangeRequest {
    #[schema(schema_with = phase_schema)]
    pub to: CyclePhase,
}

/// A labelled point on a criterion's scale.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleLabel {
    #[schema(example = 5)]
    pub value: i32,
    #[validate(length(min = 1, max = crate::limits::CRITERION_NAME_MAX), custom(function = "no_nul"))]
    #[schema(example = "Svært stor nytte", min_length = 1, max_length = 200)]
    pub label: String,
}

/// One criterion.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CriterionDto {
    /// `A-Z`, `0-9`, `_`, 1–16 characters; unique in the set.
    #[validate(length(min = 1, max = crate::limits::CRITERION_CODE_MAX))]
    #[schema(
        example = "PASIENTNYTTE",
        min_length = 1,
        max_length = 16,
        pattern = "^[A-Z0-9_]{1,16}$"
    )]
    pub code: String,
    #[validate(length(min = 1, max = crate::limits::CRITERION_NAME_MAX))]
    #[schema(example = "Pasientnytte", min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[validate(length(max = crate::limits::CRITERION_DESCRIPTION_MAX))]
    #[schema(max_length = 4000)]
    pub description: String,
    #[schema(schema_with = criterion_kind_schema)]
    pub kind: CriterionKind,
    /// Relative weight (> 0) of a prioritisation criterion; only ratios matter. Absent for a
    /// screening criterion, which is pass/fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = f64, required = false, example = 3.0, exclusive_minimum = 0.0)]
    pub weight: Option<f64>,
    /// Lowest scale value of a prioritisation criterion; absent for a screening criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i32, required = false, example = 1)]
    pub scale_min: Option<i32>,
    /// Highest scale value of a prioritisation criterion; absent for a screening criterion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = i32, required = false, example = 5)]
    pub scale_max: Option<i32>,
    /// Labels of scale values (prioritisation criteria only).
    #[serde(default)]
    #[validate(nested, length(max = 100))]
    pub scale_labels: Vec<ScaleLabel>,
}

impl CriterionDto {
    /// The domain criterion. A screening criterion is pass/fail and takes no weight or scale;
    /// a prioritisation criterion needs both. Problems go to `errors` (`/criteria/{i}/…`).
    fn into_domain(self, i: usize, errors: &mut Vec<FieldError>) -> Option<Criterion> {
        let at = |field: &str| format!("/criteria/{i}/{field}");
        let fields = [
            ("weight", self.weight.is_some()),
            ("scale_min", self.scale_min.is_some()),
            ("scale_max", self.scale_max.is_some()),
            ("scale_labels", !self.scale_labels.is_empty()),
        ];
        let before = errors.len();
        match self.kind {
            CriterionKind::Screening => {
                for (field, given) in fields {
                    if given {
                        errors.push(FieldError::new(
                            at(field),
                            "a screening criterion is pass/fail; it has no weight and no scale",
                        ));
                    }
                }
            }
            CriterionKind::Prioritisation => {
                for (field, given) in &fields[..3] {
                    if !given {
                        errors.push(FieldError::new(
                            at(field),
                            "is required for a prioritisation criterion",
                        ));
                    }
                }
            }
        }
        if errors.len() > before {
            return None;
        }
        Some(match self.kind {
            CriterionKind::Screening => {
                Criterion::screening(&self.code, &self.name, &self.description)
            }
            CriterionKind::Prioritisation => Criterion {
                code: self.code,
                name: self.name,
                description: self.description,
                kind: self.kind,
                weight: self.weight.unwrap_or_default(),
                scale_min: self.scale_min.unwrap_or_default(),
                scale_max: self.scale_max.unwrap_or_default(),
                scale_labels: self
                    .scale_labels
                    .into_iter()
                    .map(|s| ScaleStep {
                        value: s.value,
                        label: s.label,
                    })
                    .collect(),
            },
        })
    }
}

impl From<Criterion> for CriterionDto {
    fn from(c: Criterion) -> Self {
        // A screening criterion shows no weight and no scale: it is pass/fail.
        let prioritised = c.kind == CriterionKind::Prioritisation;
        CriterionDto {
            code: c.code,
            name: c.name,
            description: c.description,
            kind: c.kind,
            weight: prioritised.then_some(c.weight),
            scale_min: prioritised.then_some(c.scale_min),
            scale_max: prioritised.then_some(c.scale_max),
            scale_labels: c
                .scale_labels
                .into_iter()
                .map(|s| ScaleLabel {
                    value: s.value,
                    label: s.label,
                })
                .collect(),
        }
    }
}

/// The criteria of a draft set (replaces all of them).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"criteria": [
    {"code": "STRATEGI", "name": "Strategisk forankring", "description": "Støtter regional strategi (bestått/ikke bestått)", "kind": "screening", "scale_labels": []},
    {"code": "PASIENTNYTTE", "name": "Pasientnytte", "description": "", "kind": "prioritisation", "weight": 3.0, "scale_min": 1, "scale_max": 5, "scale_labels": [{"value": 1, "label": "Liten"}, {"value": 5, "label": "Svært stor"}]},
    {"code": "EFFEKTIVITET", "name": "Effektivisering", "description": "", "kind": "prioritisation", "weight": 2.0, "scale_min": 1, "scale_max": 5, "scale_labels": []}
]}))]
pub struct CriteriaSetInput {
    #[validate(nested, length(max = 100))]
    pub criteria: Vec<CriterionDto>,
}

/// The criteria set of a cycle year.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "cycle_year": 2022, "status": "adopted",
    "criteria": [
        {"code": "STRATEGI", "name": "Strategisk forankring", "description": "Støtter regional strategi (bestått/ikke bestått)", "kind": "screening", "scale_labels": []},
        {"code": "PASIENTNYTTE", "name": "Pasientnytte", "description": "", "kind": "prioritisation", "weight": 3.0, "scale_min": 1, "scale_max": 5, "scale_labels": [{"value": 1, "label": "Liten"}, {"value": 5, "label": "Svært stor"}]},
        {"code": "EFFEKTIVITET", "name": "Effektivisering", "description": "", "kind": "prioritisation", "weight": 2.0, "scale_min": 1, "scale_max": 5, "scale_labels": []}
    ],
    "adopted_at": "2022-02-01T10:00:00Z", "adopted_by": "kari.nordmann", "version": 3
}))]
pub struct CriteriaSet {
    pub cycle_year: i32,
    /// `draft` (editable) or `adopted` (frozen).
    #[schema(example = "draft")]
    pub status: String,
    pub criteria: Vec<CriterionDto>,
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub adopted_at: Option<DateTime<Utc>>,
    pub adopted_by: Option<String>,
    pub version: i32,
}

impl CriteriaSet {
    fn from_row(r: CriteriaSetRow) -> Result<Self, ApiError> {
        let criteria = r.criteria()?.into_iter().map(CriterionDto::from).collect();
        Ok(CriteriaSet {
            cycle_year: r.cycle_year,
            status: r.status.as_str().to_owned(),
            criteria,
            adopted_at: r.adopted_at,
            adopted_by: r.adopted_by,
            version: r.version,
        })
    }
}

fn cycle_response(builder: actix_web::HttpResponseBuilder, view: CycleView) -> HttpResponse {
    let version = view.cycle.version;
    json_with_etag(builder, &Cycle::from(view), version)
}

/// List cycles
///
/// Every cycle year with its phase and phase history. Needs `portfolio:read`.
#[utoipa::path(
    tag = "cycles",
    params(PageQuery),
    responses((status = 200, description = "A page of cycles", body = CyclePage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_cycles(
    caller: Caller,
    db: web::Data<Db>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<CyclePage>, ApiError> {
    caller.require(Permission::Read)?;
    page.check()?;
    let after = page.after::<i32>()?;
    let limit = page.limit();
    let rows = db
        .run(move |conn| store::list_cycles(conn, after, limit))
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.cycle.year);
    Ok(web::Json(CyclePage {
        items: rows.into_iter().map(Cycle::from).collect(),
        next_cursor,
    }))
}

/// Get a cycle
///
/// The cycle's phase, the number of needs reported, and every phase change with who and
/// when. Needs `portfolio:read`.
#[utoipa::path(
    tag = "cycles",
    params(("year" = i32, Path, description = "Cycle year", example = 2022)),
    responses(
        (status = 200, description = "The cycle", body = Cycle, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{year}")]
pub async fn get_cycle(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let year = path.into_inner();
    let view = db
        .run(move |conn| {
            let c = store::get_cycle(conn, year)?;
            store::view_cycle(conn, c)
        })
        .await?;
    Ok(cycle_response(HttpResponse::Ok(), view))
}

/// Open a cycle
///
/// Creates the cycle of a year in the `intake` phase. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "cycles",
    request_body = NewCycle,
    responses(
        (status = 201, description = "Created", body = Cycle, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new cycle"))),
        (status = 409, description = "The year already has a cycle", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_cycle(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewCycle>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let year = body.0.year;
    let actor = Actor::of(&caller);
    let view = db
        .transaction(move |conn| store::create_cycle(conn, &actor, year))
        .await?;
    let resp = crate::etag::created_at(format!("/api/v1/cycles/{year}"));
    Ok(cycle_response(resp, view))
}

/// Move a cycle to its next phase
///
/// Phases move forward one step at a time: intake → first_assessment → prioritisation →
/// decided. Prioritisation needs an adopted criteria set and no need still awaiting first
/// assessment; `decided` needs prioritisation closed. The change is recorded with who and
/// when. Needs `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "cycles",
    params(
        ("year" = i32, Path, description = "Cycle year", example = 2023),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = PhaseChangeRequest,
    responses(
        (status = 200, description = "The cycle in its new phase", body = Cycle, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not the next phase, or its preconditions are not met", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{year}/phase")]
pub async fn change_phase(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
    if_match: IfMatch,
    body: ValidJson<PhaseChangeRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let year = path.into_inner();
    let to = body.0.to;
    let actor = Actor::of(&caller);
    let view = db
        .transaction(move |conn| store::change_phase(conn, &actor, year, &if_match, to))
        .await?;
    Ok(cycle_response(HttpResponse::Ok(), view))
}

/// Get the criteria set of a cycle
///
/// Pass/fail screening criteria (no weight, no scale) and prioritisation criteria with weights and scales. Needs `portfolio:read`; a draft set is found (else 404) only with `portfolio:manage` or `portfolio:decide`.
#[utoipa::path(
    tag = "cycles",
    params(("year" = i32, Path, description = "Cycle year", example = 2022)),
    responses(
        (status = 200, description = "The criteria set", body = CriteriaSet, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "The year has no criteria set", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{year}/criteria-set")]
pub async fn get_criteria_set(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let year = path.into_inner();
    let row = db
        .run(move |conn| store::find_criteria_set(conn, year))
        .await?
        // A reader sees the set once it is adopted.
        .filter(|row| caller.sees_drafts() || row.is_adopted())
        .ok_or_else(|| ApiError::not_found(format!("the criteria set of {year}")))?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &CriteriaSet::from_row(row)?,
        version,
    ))
}

/// Write the draft criteria set of a cycle
///
/// Creates the year's draft set (201, no `If-Match`), or replaces the criteria of the draft
/// (200, `If-Match` required). An adopted set never changes (409). Needs `portfolio:manage`.
#[utoipa::path(
    tag = "cycles",
    params(
        ("year" = i32, Path, description = "Cycle year", example = 2023),
        ("If-Match" = Option<String>, Header, description = "The ETag of the draft being replaced (required when one exists; omit when creating)", example = "\"v1\"")
    ),
    request_body = CriteriaSetInput,
    responses(
        (status = 200, description = "The draft was replaced", body = CriteriaSet, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 201, description = "The draft was created", body = CriteriaSet, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The criteria set"))),
        (status = 404, description = "No cycle for that year", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The set is adopted and frozen", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[put("/{year}/criteria-set")]
pub async fn put_criteria_set(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
    if_match: IfMatch,
    body: ValidJson<CriteriaSetInput>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let year = path.into_inner();
    let mut errors = Vec::new();
    let criteria: Vec<Criterion> = body
        .0
        .criteria
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| c.into_domain(i, &mut errors))
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let actor = Actor::of(&caller);
    let (row, created) = db
        .transaction(move |conn| store::put_criteria_set(conn, &actor, year, &if_match, criteria))
        .await?;
    let version = row.version;
    let builder = if created {
        crate::etag::created_at(format!("/api/v1/cycles/{year}/criteria-set"))
    } else {
        HttpResponse::Ok()
    };
    Ok(json_with_etag(
        builder,
        &CriteriaSet::from_row(row)?,
        version,
    ))
}

/// Adopt the criteria set of a cycle
///
/// Checks the draft is complete (valid criteria, at least one prioritisation criterion) and
/// freezes it: any later change is a 409. Scores exist only against an adopted set. Needs
/// `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "cycles",
    params(
        ("year" = i32, Path, description = "Cycle year", example = 2023),
        ("If-Match" = String, Header, description = "The ETag the adoption is based on", example = "\"v2\"")
    ),
    responses(
        (status = 200, description = "Adopted", body = CriteriaSet, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "The year has no criteria set", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already adopted", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The draft is not complete", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{year}/criteria-set/adopt")]
pub async fn adopt_criteria_set(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<i32>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let year = path.into_inner();
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| store::adopt_criteria_set(conn, &actor, year, &if_match))
        .await?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &CriteriaSet::from_row(row)?,
        version,
    ))
}
