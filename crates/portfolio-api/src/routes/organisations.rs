//! `/api/v1/organisations`: the regional authorities, health trusts, the IT partner and its suppliers.

use actix_web::{get, post, web, HttpResponse};
use portfolio_domain::organisation::{OrgNumber, OrganisationKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::{ApiError, FieldError};
use crate::etag::json_with_etag;
use crate::extract::ValidJson;
use crate::pagination::{paginate, PageQuery};
use crate::store::reference::{self, OrganisationRow};

crate::enum_schema!(organisation_kind_schema, OrganisationKind, "What part the organisation plays: `regional_health_authority` (RHF), `health_trust` (HF), `it_partner` (Sykehuspartner) or `supplier` (a subcontractor of the IT partner).");

/// An organisation of the regional ICT portfolio.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"org_number": "993467049", "name": "Oslo universitetssykehus HF", "kind": "health_trust", "region_org_number": "991324968", "version": 1}))]
pub struct Organisation {
    /// Norwegian organisation number (nine digits, modulus-11 check digit).
    #[schema(example = "993467049", pattern = "^[0-9]{9}$")]
    pub org_number: String,
    #[schema(example = "Oslo universitetssykehus HF")]
    pub name: String,
    #[schema(schema_with = organisation_kind_schema)]
    pub kind: OrganisationKind,
    /// The regional health authority the organisation belongs to, if any.
    #[schema(example = "991324968")]
    pub region_org_number: Option<String>,
    /// Version of this representation (also its ETag).
    pub version: i32,
}

impl From<OrganisationRow> for Organisation {
    fn from(r: OrganisationRow) -> Self {
        Organisation {
            org_number: r.org_number.into(),
            name: r.name,
            kind: r.kind,
            region_org_number: r.region_org_number.map(Into::into),
            version: r.version,
        }
    }
}

crate::page_type!(
    OrganisationPage,
    Organisation,
    "A page of organisations, ordered by organisation number."
);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganisationQuery {
    /// Only organisations of this kind.
    #[param(schema_with = organisation_kind_schema)]
    pub kind: Option<String>,
}

/// Registers an organisation (typically a supplier of the IT partner).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(example = json!({"org_number": "923609016", "name": "Eksempel Leverandør AS", "kind": "supplier"}))]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    /// Norwegian organisation number (nine digits, modulus-11 check digit).
    #[schema(pattern = "^[0-9]{9}$", example = "923609016")]
    pub org_number: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(schema_with = organisation_kind_schema)]
    pub kind: String,
    /// The regional health authority it belongs to (for trusts and the IT partner).
    #[schema(pattern = "^[0-9]{9}$")]
    pub region_org_number: Option<String>,
}

fn parse_kind(kind: &str, pointer: &str) -> Result<OrganisationKind, ApiError> {
    kind.parse()
        .map_err(|e: String| ApiError::invalid(pointer, e))
}

/// List organisations
///
/// Regional health authorities, health trusts, the IT partner and registered suppliers.
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "reference data",
    params(OrganisationQuery, PageQuery),
    responses((status = 200, description = "A page of organisations", body = OrganisationPage)),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("")]
pub async fn list_organisations(
    caller: Caller,
    db: web::Data<Db>,
    filter: web::Query<OrganisationQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<OrganisationPage>, ApiError> {
    caller.require(Permission::Read)?;
    page.check()?;
    let kind = filter
        .kind
        .as_deref()
        .map(|k| parse_kind(k, "/query/kind"))
        .transpose()?;
    let after: Option<String> = page.after()?;
    let limit = page.limit();
    let rows = db
        .run::<_, ApiError, _>(move |conn| {
            Ok(reference::list_organisations(conn, kind, after, limit)?)
        })
        .await?;
    let (rows, next_cursor) = paginate(rows, limit, |r| r.org_number.to_string());
    Ok(web::Json(OrganisationPage {
        items: rows.into_iter().map(Organisation::from).collect(),
        next_cursor,
    }))
}

/// Get an organisation
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "reference data",
    params(("org_number" = String, Path, description = "Organisation number", example = "993467049")),
    responses(
        (status = 200, description = "The organisation", body = Organisation, headers(("ETag" = String, description = "Version of the representation"))),
        (status = 404, description = "No such organisation", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{org_number}")]
pub async fn get_organisation(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let org_number = path.into_inner();
    let key = org_number.clone();
    let row = db
        .run(move |conn| reference::find_organisation(conn, &key))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("organisation {org_number}")))?;
    let version = row.version;
    Ok(json_with_etag(
        HttpResponse::Ok(),
        &Organisation::from(row),
        version,
    ))
}

/// Register an organisation
///
/// Registers an organisation, typically a supplier of the IT partner, so that measures can
/// name it. The organisation number is checked (modulus 11). Needs `portfolio:manage`.
#[utoipa::path(
    tag = "reference data",
    request_body = NewOrganisation,
    responses(
        (status = 201, description = "Registered", body = Organisation, headers(("ETag" = String, description = "Version of the representation"), ("Location" = String, description = "The new organisation"))),
        (status = 409, description = "Already registered", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[post("")]
pub async fn create_organisation(
    caller: Caller,
    db: web::Data<Db>,
    body: ValidJson<NewOrganisation>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let new = body.0;
    let mut errors = Vec::new();
    if let Err(e) = OrgNumber::parse(&new.org_number) {
        errors.push(FieldError::new("/org_number", e.to_string()));
    }
    if let Some(r) = &new.region_org_number {
        if let Err(e) = OrgNumber::parse(r) {
            errors.push(FieldError::new("/region_org_number", e.to_string()));
        }
    }
    let kind = parse_kind(&new.kind, "/kind")?;
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let actor = Actor::of(&caller);
    let row = db
        .transaction(move |conn| {
            reference::create_organisation(
                conn,
                &actor,
                &new.org_number,
                &new.name,
                kind,
                new.region_org_number.as_deref(),
            )
        })
        .await?;
    let version = row.version;
    let location = format!("/api/v1/organisations/{}", row.org_number);
    let resp = crate::etag::created_at(location);
    Ok(json_with_etag(resp, &Organisation::from(row), version))
}
