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
use crate::error::FieldError;
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::{nine_digits, no_nul, ValidJson};
use crate::pagination::{paginate, PageQuery};
use crate::store::reference::{self, ServiceAreaChanges, ServiceAreaEdit, ServiceAreaRow};
use portfolio_domain::organisation::OrgNumber;
use portfolio_domain::service_area::{Owners, Party};

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

/// A system owner or system responsible of a service area: an organisation and a role or
/// person name.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"org_number": "991324968", "name": "Fagdirektør, Helse Sør-Øst RHF"}))]
pub struct SystemParty {
    /// A registered organisation.
    #[validate(custom(function = "nine_digits"))]
    #[schema(
        min_length = 9,
        max_length = 9,
        pattern = "^[0-9]{9}$",
        example = "991324968"
    )]
    pub org_number: String,
    /// Role or person name.
    #[validate(length(min = 1, max = crate::limits::PARTY_NAME_MAX), custom(function = "no_nul"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        example = "Fagdirektør, Helse Sør-Øst RHF"
    )]
    pub name: String,
}

impl From<Party> for SystemParty {
    fn from(p: Party) -> Self {
        SystemParty {
            org_number: p.org_number.to_string(),
            name: p.name,
        }
    }
}

impl SystemParty {
    /// The domain party; `field` names it in errors (`system_owner`).
    fn to_party(&self, field: &str, errors: &mut Vec<FieldError>) -> Option<Party> {
        let org = OrgNumber::parse(&self.org_number)
            .map_err(|e| {
                errors.push(FieldError::new(
                    format!("/{field}/org_number"),
                    e.to_string(),
                ))
            })
            .ok()?;
        Party::new(field, org, &self.name)
            .map_err(|e| {
                if let ApiError::Validation { errors: es, .. } = ApiError::from(e) {
                    errors.extend(es);
                }
            })
            .ok()
    }
}

/// A service area (tjenesteområde) of one year.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "c4031f77-ebb3-4848-d6f7-e90a8da40cba", "year": 2023, "name": "Mor og barn", "kind": "clinical", "retired_at": null, "version": 2,
    "system_owner": {"org_number": "991324968", "name": "Fagdirektør, Helse Sør-Øst RHF"},
    "system_responsible": {"org_number": "993467049", "name": "Klinikkleder, Kvinne- og barneklinikken"}}))]
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
    /// The regional system owner (systemeier), who handles the area's needs and forwards
    /// them; `null` until appointed.
    pub system_owner: Option<SystemParty>,
    /// The system responsible (systemansvarlig); `null` until appointed.
    pub system_responsible: Option<SystemParty>,
}

impl TryFrom<ServiceAreaRow> for ServiceArea {
    type Error = ApiError;

    fn try_from(r: ServiceAreaRow) -> Result<Self, ApiError> {
        let owners = r.owners()?;
        Ok(ServiceArea {
            id: r.id,
            year: r.year,
            name: r.name,
            kind: ServiceAreaKind::of(r.kind),
            retired_at: r.retired_at,
            version: r.version,
            system_owner: owners.system_owner.map(SystemParty::from),
            system_responsible: owners.system_responsible.map(SystemParty::from),
        })
    }
}

fn area_response(
    builder: actix_web::HttpResponseBuilder,
    row: ServiceAreaRow,
) -> Result<HttpResponse, ApiError> {
    let version = row.version;
    Ok(json_with_etag(
        builder,
        &ServiceArea::try_from(row)?,
        version,
    ))
}

/// Distinguishes an absent field (unchanged) from `null` (removed).
fn some_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
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
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    pub year: Option<i32>,
    /// Only clinical or only administrative areas.
    pub kind: Option<ServiceAreaKind>,
    /// Include retired areas (default false).
    pub include_retired: Option<bool>,
}

/// A new service area for a year.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"year": 2024, "name": "Mor og barn", "kind": "clinical",
    "system_owner": {"org_number": "991324968", "name": "Fagdirektør, Helse Sør-Øst RHF"},
    "system_responsible": {"org_number": "993467049", "name": "Klinikkleder, Kvinne- og barneklinikken"}}))]
pub struct NewServiceArea {
    #[validate(range(min = crate::dates::MIN_YEAR, max = crate::dates::MAX_YEAR))]
    #[schema(minimum = 2000, maximum = 2100)]
    pub year: i32,
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: ServiceAreaKind,
    /// The regional system owner (optional; may be appointed later).
    #[validate(nested)]
    pub system_owner: Option<SystemParty>,
    /// The system responsible (optional; may be appointed later).
    #[validate(nested)]
    pub system_responsible: Option<SystemParty>,
}

/// Changes to a service area: a new name, system owner or system responsible. Absent fields
/// stay as they are; `null` removes a party.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"system_responsible": {"org_number": "983971636", "name": "Kari Nordmann, seksjonsleder"}}))]
pub struct ServiceAreaPatch {
    #[validate(length(min = 1, max = 200), custom(function = "no_nul"))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// The regional system owner; `null` removes it. (Checked when converted to the
    /// domain's party, like every party.)
    #[serde(default, deserialize_with = "some_option")]
    #[schema(value_type = Option<SystemParty>)]
    pub system_owner: Option<Option<SystemParty>>,
    /// The system responsible; `null` removes it.
    #[serde(default, deserialize_with = "some_option")]
    #[schema(value_type = Option<SystemParty>)]
    pub system_responsible: Option<Option<SystemParty>>,
}

/// A party change: `None` unchanged, `Some(None)` removed, `Some(Some(_))` appointed.
type PartyChange = Option<Option<Party>>;

/// The domain parties of a request, every bad field at once.
fn parties(
    owner: Option<Option<&SystemParty>>,
    responsible: Option<Option<&SystemParty>>,
) -> Result<(PartyChange, PartyChange), ApiError> {
    let mut errors = Vec::new();
    let mut convert = |field: &str, p: Option<Option<&SystemParty>>| {
        p.map(|p| p.and_then(|p| p.to_party(field, &mut errors)))
    };
    let owner = convert("system_owner", owner);
    let responsible = convert("system_responsible", responsible);
    if errors.is_empty() {
        Ok((owner, responsible))
    } else {
        Err(ApiError::validation(errors))
    }
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
        items: rows
            .into_iter()
            .map(ServiceArea::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}

/// Get a service area
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "reference data",
    params(("id" = Uuid, Path, description = "Service area id", example = "c4031f77-ebb3-4848-d6f7-e90a8da40cba")),
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
    area_response(HttpResponse::Ok(), row)
}

/// Create a service area
///
/// Adds a service area to a year, optionally with its regional system owner and system
/// responsible (registered organisations). Names are unique within a year. Needs
/// `portfolio:manage`.
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
    let (owner, responsible) = parties(
        Some(new.system_owner.as_ref()),
        Some(new.system_responsible.as_ref()),
    )?;
    let owners = Owners {
        system_owner: owner.flatten(),
        system_responsible: responsible.flatten(),
    };
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            reference::create_service_area(
                conn,
                &actor,
                new.year,
                new.name.trim(),
                new.kind.domain(),
                &owners,
            )
        })
        .await?;
    let resp = crate::etag::created_at(format!("/api/v1/service-areas/{}", row.id));
    area_response(resp, row)
}

/// Change a service area
///
/// Renames it or appoints (or removes, with `null`) its regional system owner and system
/// responsible; absent fields stay as they are. Needs `portfolio:manage` and `If-Match` with
/// the current ETag.
#[utoipa::path(
    tag = "reference data",
    params(
        ("id" = Uuid, Path, description = "Service area id", example = "c9a28937-c5ca-94ba-dfa3-387bf8f9ae33"),
        ("If-Match" = String, Header, description = "The ETag the change is based on", example = "\"v1\"")
    ),
    request_body = ServiceAreaPatch,
    responses(
        (status = 200, description = "Changed", body = ServiceArea, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such service area", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The year already has an area of that name", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, e.g. a party's organisation is not registered", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[patch("/{id}")]
pub async fn rename_service_area(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<ServiceAreaPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let p = body.0;
    let (system_owner, system_responsible) = parties(
        p.system_owner.as_ref().map(Option::as_ref),
        p.system_responsible.as_ref().map(Option::as_ref),
    )?;
    let changes = ServiceAreaChanges {
        name: p.name.map(|n| n.trim().to_owned()),
        system_owner,
        system_responsible,
    };
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            reference::edit_service_area(
                conn,
                &actor,
                id,
                &if_match,
                ServiceAreaEdit::Change(changes),
            )
        })
        .await?;
    area_response(HttpResponse::Ok(), row)
}

/// Retire a service area
///
/// A retired area stays in history but takes no new needs or measures. Needs
/// `portfolio:manage` and `If-Match`.
#[utoipa::path(
    tag = "reference data",
    params(
        ("id" = Uuid, Path, description = "Service area id", example = "b8d52472-cc1b-6bdd-aa35-38458751e64b"),
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
    area_response(HttpResponse::Ok(), row)
}
