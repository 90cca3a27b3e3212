//! `/api/v1/service-areas`: the clinical and administrative service areas of each year.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use portfolio_domain::measure;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::ApiError;
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::{no_nul, ValidJson};
use crate::pagination::{paginate, PageQuery};
use crate::store::reference::{self, ServiceAreaEdit, ServiceAreaRow};

/// `clinical` or `administrative`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAreaKind {
    Clinical,
    Administrative,
}

// A wire mirror of the domain's kind, for its named schema in the contract; both
// conversions are exhaustive, so a new domain variant fails to compile here.
impl ServiceAreaKind {
    fn domain(self) -> measure::ServiceAreaKind {
        match self {
            ServiceAreaKind::Clinical => measure::ServiceAreaKind::Clinical,
            ServiceAreaKind::Administrative => measure::ServiceAreaKind::Administrative,
        }
    }

    fn of(k: measure::ServiceAreaKind) -> Self {
        match k {
            measure::ServiceAreaKind::Clinical => ServiceAreaKind::Clinical,
            measure::ServiceAreaKind::Administrative => ServiceAreaKind::Administrative,
        }
    }
}

/// A service area (tjenesteområde) of one year.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba", "year": 2023, "name": "Mor og barn", "kind": "clinical", "retired_at": null, "version": 1}))]
pub struct ServiceArea {
    pub id: Uuid,
    #[schema(example = 2023)]
    pub year: i32,
    #[schema(example = "Mor og barn")]
    pub name: String,
    pub kind: ServiceAreaKind,
    /// When the area was retired; retired areas take no new needs or measures.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub retired_at: Option<DateTime<Utc>>,
    /// Version of this representation (also its ETag).
    pub version: i32,
}

impl From<ServiceAreaRow> for ServiceArea {
    fn from(r: ServiceAreaRow) -> Self {
        ServiceArea {
            id: r.id,
            year: r.year,
            name: r.name,
            kind: ServiceAreaKind::of(r.kind),
            retired_at: r.retired_at,
            version: r.version,
        }
    }
}

crate::page_type!(
    ServiceAreaPage,
    ServiceArea,
    "A page of service areas, ordered by year, kind and name."
);

#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
pub struct ServiceAreaQuery {
    /// Only this year's areas.
    #[param(minimum = 2000, maximum = 2100, example = 2023)]
    #[validate(range(min = 2000, max = 2100))]
    pub year: Option<i32>,
    /// Only clinical or only administrative areas.
    pub kind: Option<ServiceAreaKind>,
    /// Include retired areas (default false).
    pub include_retired: Option<bool>,
}

/// A new service area for a year.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"year": 2024, "name": "Mor og barn", "kind": "clinical"}))]
pub struct NewServiceArea {
    #[validate(range(min = 2000, max = 2100))]
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: ServiceAreaKind,
}

/// A new name for a service area.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Kurve og medikasjon"}))]
pub struct RenameServiceArea {
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// List service areas
///
/// Service areas of a year (e.g. 2023: 11 clinical, 5 administrative). Needs `portfolio:read`.
#[utoipa::path(
    tag = "reference data",
    params(ServiceAreaQuery, PageQuery),
    responses((status = 200, description = "A page of service areas", body = ServiceAreaPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_service_areas(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<ServiceAreaQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<ServiceAreaPage>, ApiError> {
    caller.require(Permission::Read)?;
    crate::extract::validate_query(&*filter)?;
    page.check()?;
    let after = page.after::<(i32, String, String, Uuid)>()?;
    let limit = page.limit();
    let f = filter.into_inner();
    let rows = db
        .run::<_, ApiError, _>(move |conn| {
            Ok(reference::list_service_areas(
                conn,
                f.year,
                f.kind.map(ServiceAreaKind::domain),
                f.include_retired.unwrap_or(false),
                after,
                limit,
            )?)
        })
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| {
        (r.year, r.kind.as_str().to_owned(), r.name.clone(), r.id)
    });
    Ok(web::Json(ServiceAreaPage {
        items: rows.into_iter().map(ServiceArea::from).collect(),
        next_cursor,
    }))
}

/// Get a service area
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "reference data",
    params(("id" = Uuid, Path, description = "Service area id")),
    responses(
        (status = 200, description = "The service area", body = ServiceArea, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such service area", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}")]
pub async fn get_service_area(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let row = db
        .run(move |conn| reference::find_service_area(conn, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("service area {id}")))?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &ServiceArea::from(row),
        version,
    ))
}

/// Create a service area
///
/// Adds a service area to a year. Names are unique within a year. Needs `portfolio:manage`.
#[utoipa::path(
    tag = "reference data",
    request_body = NewServiceArea,
    responses(
        (status = 201, description = "Created", body = ServiceArea, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new service area"))),
        (status = 409, description = "The year already has an area of that name", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_service_area(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewServiceArea>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let new = body.0;
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            reference::create_service_area(
                conn,
                &actor,
                new.year,
                new.name.trim(),
                new.kind.domain(),
            )
        })
        .await?;
    let version = row.version;
    let resp = crate::etag::created_at(format!("/api/v1/service-areas/{}", row.id));
    Ok(json_with_etag(resp, &ServiceArea::from(row), version))
}

/// Rename a service area
///
/// Needs `portfolio:manage` and `If-Match` with the current ETag.
#[utoipa::path(
    tag = "reference data",
    params(
        ("id" = Uuid, Path, description = "Service area id"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = RenameServiceArea,
    responses(
        (status = 200, description = "Renamed", body = ServiceArea, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such service area", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The year already has an area of that name", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[patch("/{id}")]
pub async fn rename_service_area(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<RenameServiceArea>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let name = body.0.name.trim().to_owned();
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            reference::edit_service_area(conn, &actor, id, &if_match, ServiceAreaEdit::Rename(name))
        })
        .await?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &ServiceArea::from(row),
        version,
    ))
}

/// Retire a service area
///
/// A retired area stays in history but takes no new needs or measures. Needs
/// `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "reference data",
    params(
        ("id" = Uuid, Path, description = "Service area id"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    responses(
        (status = 200, description = "Retired", body = ServiceArea, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such service area", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already retired", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("/{id}/retire")]
pub async fn retire_service_area(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            reference::edit_service_area(conn, &actor, id, &if_match, ServiceAreaEdit::Retire)
        })
        .await?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &ServiceArea::from(row),
        version,
    ))
}
