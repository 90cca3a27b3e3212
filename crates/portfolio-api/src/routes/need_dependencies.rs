//! `/api/v1/needs/{id}/dependencies`: a need's estimated IT-partner capacity and its
//! dependencies on other needs of the cycle, read by selection scenarios.

use actix_web::{get, put, web, HttpResponse};
use portfolio_domain::selection::DependencyKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::auth::{Caller, Permission};
use crate::changes::Actor;
use crate::db::Db;
use crate::error::ApiError;
use crate::etag::{json_with_etag, IfMatch};
use crate::extract::ValidJson;
use crate::store::dependencies::{self, Dependency, NeedLinks};

crate::enum_schema!(
    dependency_kind_schema,
    DependencyKind,
    "`requires`: the need can only be chosen together with the other; `excludes`: the two are never both chosen."
);

/// One dependency of a need on another need of the same cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NeedDependency {
    /// `requires` (the need can only be chosen with the other) or `excludes` (never both).
    #[schema(schema_with = dependency_kind_schema)]
    pub kind: DependencyKind,
    /// The other need (same cycle, not the need itself).
    pub other_need_id: Uuid,
}

impl From<Dependency> for NeedDependency {
    fn from(d: Dependency) -> Self {
        NeedDependency {
            kind: d.kind,
            other_need_id: d.other_need_id,
        }
    }
}

impl From<NeedDependency> for Dependency {
    fn from(d: NeedDependency) -> Self {
        Dependency {
            kind: d.kind,
            other_need_id: d.other_need_id,
        }
    }
}

/// A need's capacity estimate and dependencies (replaces both).
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"estimated_capacity_person_months": 7, "dependencies": [{"kind": "requires", "other_need_id": "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff"}]}))]
pub struct DependenciesRequest {
    /// Estimated IT-partner capacity the need takes, person-months a year; null when unknown
    /// (counts as 0 in a selection with a capacity limit).
    #[validate(range(min = 0, max = 100000))]
    #[schema(minimum = 0, maximum = 100000)]
    pub estimated_capacity_person_months: Option<i64>,
    /// Dependencies on other needs of the same cycle; at most one per other need.
    #[serde(default)]
    #[validate(length(max = 100))]
    #[schema(max_items = 100)]
    pub dependencies: Vec<NeedDependency>,
}

/// A need's capacity estimate and dependencies.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"need_id": "1cc116a3-6810-4c4a-8e9d-921f2612b30b", "reference": "B-2022-015", "cycle_year": 2022,
    "estimated_capacity_person_months": 7,
    "dependencies": [{"kind": "requires", "other_need_id": "9c4d865d-5c2a-4ab0-aece-0c0fc778ddff"}], "version": 2}))]
pub struct NeedDependencies {
    pub need_id: Uuid,
    pub reference: String,
    pub cycle_year: i32,
    /// Person-months a year of IT-partner capacity; null when not estimated.
    pub estimated_capacity_person_months: Option<i64>,
    pub dependencies: Vec<NeedDependency>,
    /// The need's version (the ETag), bumped by every change here.
    pub version: i32,
}

fn respond(builder: actix_web::HttpResponseBuilder, l: NeedLinks) -> HttpResponse {
    let body = NeedDependencies {
        need_id: l.need.id,
        reference: l.need.reference,
        cycle_year: l.need.cycle_year,
        estimated_capacity_person_months: l.estimated_capacity_person_months,
        dependencies: l
            .dependencies
            .into_iter()
            .map(NeedDependency::from)
            .collect(),
        version: l.need.version,
    };
    let v = body.version;
    json_with_etag(builder, &body, v)
}

/// Get a need's capacity estimate and dependencies
///
/// Needs `portfolio:read`.
#[utoipa::path(
    tag = "needs",
    params(("id" = Uuid, Path, description = "Need id", example = "1cc116a3-6810-4c4a-8e9d-921f2612b30b")),
    responses(
        (status = 200, description = "The need's capacity and dependencies", body = NeedDependencies, headers(("ETag" = String, description = "Version of the need"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:read"]))
)]
#[get("/{id}/dependencies")]
pub async fn get_dependencies(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Read)?;
    let id = path.into_inner();
    let links = db
        .run(move |conn| dependencies::find_links(conn, id))
        .await?;
    Ok(respond(HttpResponse::Ok(), links))
}

/// Set a need's capacity estimate and dependencies
///
/// Replaces the need's estimated IT-partner capacity (person-months a year) and its
/// dependencies: `requires` (the need is only chosen together with the other) and
/// `excludes` (the two are never both chosen). Every other need must exist, be another
/// need, and belong to the same cycle (422 lists every fault). Selection scenarios of the
/// cycle respect them. Bumps the need's version. Needs `portfolio:manage` and `If-Match`
/// (the need's ETag).
#[utoipa::path(
    tag = "needs",
    params(
        ("id" = Uuid, Path, description = "Need id", example = "1cc116a3-6810-4c4a-8e9d-921f2612b30b"),
        ("If-Match" = String, Header, description = "The need's ETag the change is based on", example = "\"v2\"")
    ),
    request_body = DependenciesRequest,
    responses(
        (status = 200, description = "Set", body = NeedDependencies, headers(("ETag" = String, description = "Version of the need"))),
        (status = 404, description = "No such need", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = ["portfolio:manage"]))
)]
#[put("/{id}/dependencies")]
pub async fn put_dependencies(
    caller: Caller,
    db: web::Data<Db>,
    path: web::Path<Uuid>,
    if_match: IfMatch,
    body: ValidJson<DependenciesRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Permission::Manage)?;
    let id = path.into_inner();
    let b = body.0;
    let actor = Actor::of(&caller);
    let links = db
        .transaction(move |conn| {
            dependencies::set_links(
                conn,
                &actor,
                id,
                &if_match,
                b.estimated_capacity_person_months,
                b.dependencies.into_iter().map(Dependency::from).collect(),
            )
        })
        .await?;
    Ok(respond(HttpResponse::Ok(), links))
}
