//! HTTP resources, one module per resource. Handlers are thin: parse → authorise → store → respond.
//! Register every handler with `.service(...)` so it reaches the OpenAPI contract.

pub mod benefits;
pub mod budget_frames;
pub mod changelog;
pub mod concept_studies;
pub mod cycles;
pub mod decision_cases;
pub mod delivery;
pub mod health;
pub mod measures;
pub mod need_dependencies;
pub mod needs;
pub mod organisations;
pub mod prioritisation;
pub mod ranking_sensitivity;
pub mod selection_scenarios;
pub mod service_areas;
pub mod tertial_reports;
pub mod webhooks;

use utoipa_actix_web::scope::scope;
use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`, grouped under each path's first segment.
///
/// actix tries a scope's static prefix with a string comparison before the (regex) patterns
/// inside it; one flat list of ~70 patterns spent ~10 % of a single read's CPU matching paths
/// (perf, bench/run.sh --profile). Within a scope, routes keep the order that lets a static
/// segment win over a pattern.
pub fn configure_api(cfg: &mut ServiceConfig) {
    for register in [
        scopes::organisations,
        scopes::service_areas,
        scopes::events,
        scopes::webhook_subscriptions,
        scopes::audit,
        scopes::measures,
        scopes::benefits,
        scopes::delivery_status,
        scopes::tertial_reports,
        scopes::portfolio,
        scopes::budget_frames,
        scopes::cycles,
        scopes::needs,
        scopes::concept_studies,
        scopes::concepts,
        scopes::decision_cases,
    ] {
        register(cfg);
    }
}

/// One function per scope: its full prefix is `/api/v1` + the scope, each handler adds the
/// rest of the path in its attribute.
mod scopes {
    use super::*;

    pub(super) fn organisations(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/organisations")
                .service(organisations::list_organisations)
                .service(organisations::create_organisation)
                .service(organisations::get_organisation),
        );
    }

    pub(super) fn service_areas(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/service-areas")
                .service(service_areas::list_service_areas)
                .service(service_areas::create_service_area)
                .service(service_areas::get_service_area)
                .service(service_areas::rename_service_area)
                .service(service_areas::retire_service_area),
        );
    }

    pub(super) fn events(cfg: &mut ServiceConfig) {
        cfg.service(scope("/events").service(changelog::list_events));
    }

    pub(super) fn webhook_subscriptions(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/webhook-subscriptions")
                .service(webhooks::list_subscriptions)
                .service(webhooks::create_subscription)
                .service(webhooks::get_subscription)
                .service(webhooks::update_subscription)
                .service(webhooks::delete_subscription)
                .service(webhooks::rotate_secret)
                .service(webhooks::list_deliveries)
                .service(webhooks::redeliver)
                .service(webhooks::ping),
        );
    }

    pub(super) fn audit(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/audit")
                .service(changelog::verify_audit)
                .service(changelog::publish_checkpoint)
                .service(changelog::list_checkpoints)
                .service(changelog::list_audit),
        );
    }

    pub(super) fn measures(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/measures")
                .service(measures::list_measures)
                .service(measures::create_measure)
                .service(measures::get_measure)
                .service(measures::edit_measure)
                .service(measures::change_measure_status)
                .service(measures::delivery_history),
        );
    }

    pub(super) fn benefits(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/benefits")
                .service(benefits::list_benefits)
                .service(benefits::create_benefit)
                .service(benefits::get_benefit)
                .service(benefits::edit_benefit)
                .service(benefits::delete_benefit)
                .service(benefits::change_benefit_status)
                .service(benefits::list_measurements)
                .service(benefits::record_measurement),
        );
    }

    pub(super) fn delivery_status(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/delivery-status")
                .service(delivery::sync_batch)
                .service(delivery::get_batch),
        );
    }

    pub(super) fn tertial_reports(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/tertial-reports")
                .service(tertial_reports::list_reports)
                .service(tertial_reports::create_report)
                .service(tertial_reports::get_report)
                .service(tertial_reports::get_report_csv)
                .service(tertial_reports::refresh_report)
                .service(tertial_reports::publish_report),
        );
    }

    pub(super) fn portfolio(cfg: &mut ServiceConfig) {
        cfg.service(scope("/portfolio").service(tertial_reports::overview));
    }

    pub(super) fn budget_frames(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/budget-frames")
                .service(budget_frames::list_frames)
                .service(budget_frames::create_frame)
                .service(budget_frames::get_frame)
                .service(budget_frames::change_frame)
                .service(budget_frames::create_allocation)
                .service(budget_frames::list_allocations)
                .service(budget_frames::get_allocation)
                .service(budget_frames::release_allocation)
                .service(budget_frames::frame_history),
        );
    }

    pub(super) fn cycles(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/cycles")
                .service(cycles::list_cycles)
                .service(cycles::create_cycle)
                .service(cycles::get_cycle)
                .service(cycles::change_phase)
                .service(cycles::get_criteria_set)
                .service(cycles::put_criteria_set)
                .service(cycles::adopt_criteria_set)
                .service(selection_scenarios::list_scenarios)
                .service(selection_scenarios::create_scenario)
                .service(selection_scenarios::get_scenario)
                .service(prioritisation::get_ranking)
                .service(ranking_sensitivity::get_ranking_sensitivity)
                .service(prioritisation::get_raters)
                .service(prioritisation::close_prioritisation)
                .service(prioritisation::get_funnel),
        );
    }

    pub(super) fn needs(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/needs")
                .service(needs::create_need)
                .service(needs::list_needs)
                .service(needs::get_need_by_reference)
                .service(needs::get_need)
                .service(needs::edit_need)
                .service(needs::withdraw_need)
                .service(needs::assess_need)
                .service(needs::reopen_need)
                .service(need_dependencies::get_dependencies)
                .service(need_dependencies::put_dependencies)
                .service(concept_studies::need_lineage)
                .service(prioritisation::put_scores)
                .service(prioritisation::get_score)
                .service(prioritisation::list_scores)
                .service(prioritisation::score_explanation),
        );
    }

    pub(super) fn concept_studies(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/concept-studies")
                .service(concept_studies::list_studies)
                .service(concept_studies::get_study)
                .service(concept_studies::report_study)
                .service(concept_studies::change_study_status),
        );
    }

    pub(super) fn concepts(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/concepts")
                .service(concept_studies::list_concepts)
                .service(concept_studies::get_concept),
        );
    }

    pub(super) fn decision_cases(cfg: &mut ServiceConfig) {
        cfg.service(
            scope("/decision-cases")
                .service(decision_cases::list_cases)
                .service(decision_cases::create_case)
                .service(decision_cases::get_case)
                .service(decision_cases::get_certificate)
                .service(decision_cases::replace_case)
                .service(decision_cases::decide_case),
        );
    }
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
