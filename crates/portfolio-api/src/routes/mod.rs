//! HTTP resources, one module per resource. Handlers are thin: parse → authorise → store → respond.
//! Register every handler with `.service(...)` so it reaches the OpenAPI contract.

pub mod budget_frames;
pub mod changelog;
pub mod concept_studies;
pub mod cycles;
pub mod decision_cases;
pub mod delivery;
pub mod health;
pub mod measures;
pub mod needs;
pub mod organisations;
pub mod prioritisation;
pub mod selection_scenarios;
pub mod service_areas;
pub mod tertial_reports;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn configure_api(cfg: &mut ServiceConfig) {
    organisations::configure(cfg);
    service_areas::configure(cfg);
    changelog::configure(cfg);
    measures::configure(cfg);
    delivery::configure(cfg);
    tertial_reports::configure(cfg);
    budget_frames::configure(cfg);
    cycles::configure(cfg);
    needs::configure(cfg);
    concept_studies::configure(cfg);
    decision_cases::configure(cfg);
    selection_scenarios::configure(cfg);
    prioritisation::configure(cfg);
}

/// Builds a JSON schema of a domain enum from its wire names (the domain crate knows no utoipa).
#[macro_export]
macro_rules! enum_schema {
    ($fn_name:ident, $ty:ty, $doc:literal) => {
        pub fn $fn_name() -> utoipa::openapi::schema::Object {
            utoipa::openapi::schema::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .description(Some($doc))
                .enum_values(Some(<$ty>::ALL.iter().map(|v| v.as_str())))
                .build()
        }
    };
}
