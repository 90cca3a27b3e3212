//! Liveness and readiness: unauthenticated, for orchestrators and load balancers.

use actix_web::{get, web, HttpResponse};
use diesel::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use std::sync::Arc;

use crate::auth::TokenVerifier;
use crate::db::Db;
use crate::error::ApiError;

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` when the check passed.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness
///
/// The process is up and serving HTTP. Does not touch the database.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "The process is alive", body = HealthStatus))
)]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// Readiness
///
/// The service can serve requests: the database answers and, when keys come from the issuer,
/// they were loaded at least once. 503 with the reason while not.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = HealthStatus),
        (status = 503, description = "The database is not reachable, or the issuer's signing keys were never loaded", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
#[get("/health/ready")]
pub async fn ready(
    db: web::Data<Db>,
    verifier: web::Data<Arc<TokenVerifier>>,
) -> Result<HttpResponse, ApiError> {
    verifier.readiness().map_err(ApiError::Unavailable)?;
    db.run(|conn| {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map_err(|_| ApiError::Unavailable("the database does not answer".into()))
    })
    .await?;
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ok" }))
}
