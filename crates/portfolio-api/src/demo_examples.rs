//! The demo's cases for the contract's examples (invented, labelled "demodata"): something for
//! every operation of `openapi/openapi.json` to act on, so that each example runs as-is
//! against `serve --demo` (tests/api/contract_examples.rs sends them all):
//! submitted 2023 needs to edit, assess and withdraw; a draft decision case; draft tertial
//! reports to refresh and publish; a selection scenario; a direct allocation to release; a
//! delivery-status batch; a (paused) webhook subscription with one failed delivery attempt; a
//! planned benefit that may be deleted.
//!
//! Ids come from a seed of their own (`portfolio-demo-examples`), so what other parts of the
//! demo add before this does not move them.

use chrono::{TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use portfolio_domain::benefit::{BenefitCategory, Direction, ParentKind};
use portfolio_domain::measure::{DeliveryStatus, Rag};
use portfolio_domain::tertial::Tertial;
use uuid::Uuid;

use crate::changes::Actor;
use crate::db::schema::{events, measures, needs};
use crate::documents::decision_item::ItemProposal;
use crate::error::ApiError;
use crate::etag::IfMatch;
use crate::store;
use crate::store::decisions::{create_case, CaseDraft};

const HSO: &str = "991324968"; // Helse Sør-Øst RHF, home of the portfolio office
const OUS: &str = "993467049"; // Oslo universitetssykehus HF
const AHUS: &str = "983971636"; // Akershus universitetssykehus HF
const SYKEHUSPARTNER: &str = "914637651"; // the IT partner

/// 2023 needs waiting for first assessment: (organisation, title).
const SUBMITTED_2023: [(&str, &str); 3] = [
    (OUS, "Talegjenkjenning i poliklinikken"),
    (AHUS, "Digital timebestilling for fastleger"),
    (OUS, "Felles oversikt over legemiddellister"),
];

pub fn load(conn: &mut PgConnection) -> Result<(), ApiError> {
    diesel::sql_query(
        "SELECT set_config('portfolio.id_seed', 'portfolio-demo-examples', true),
                set_config('portfolio.id_counter', '0', true)",
    )
    .execute(conn)?;
    let actor = Actor::system("demo");
    needs_2023(conn, &actor)?;
    draft_case(conn, &actor)?;
    for n in [1, 3] {
        let t = Tertial::new(2023, n).map_err(ApiError::from)?;
        store::tertial::create_draft(conn, &actor, t)?;
    }
    scenario(conn, &actor)?;
    let frame = store::budget::find_frame_for(
        conn,
        2023,
        portfolio_domain::budget::SubPortfolio::ConceptStudies,
    )?
    .ok_or_else(|| ApiError::internal("the demo's concept-study frame is missing"))?;
    store::budget::allocate(
        conn,
        &actor,
        frame.id,
        300_000,
        "Demodata: forprosjekt felles meldingsformat",
    )?;
    delivery_batch(conn, &actor)?;
    webhook(conn, &actor)?;
    planned_benefit(conn, &actor)?;
    // Last, so the ids above stay what the examples name.
    scoring_example_cycle(conn, &actor)
}

/// The year of the small cycle the score-sheet example is written for.
pub const SCORING_EXAMPLE_YEAR: i32 = 2021;

/// A small cycle in prioritisation, scored against the contract's own example criteria set
/// (STRATEGI pass/fail, PASIENTNYTTE weight 3, EFFEKTIVITET weight 2), with one accepted need
/// that no trust has scored yet: the score-sheet example (two criteria) runs as-is, which it
/// cannot on the seed's 2022 cycle (eight criteria, all required).
fn scoring_example_cycle(conn: &mut PgConnection, actor: &Actor) -> Result<(), ApiError> {
    use portfolio_domain::criteria::{Criterion, CriterionKind, ScreeningResult};
    use portfolio_domain::cycle::CyclePhase;
    use portfolio_domain::need::{NeedStatus, Origin};
    let year = SCORING_EXAMPLE_YEAR;
    let scale = |code: &str, name: &str, weight: f64| Criterion {
        code: code.into(),
        name: name.into(),
        description: String::new(),
        kind: CriterionKind::Prioritisation,
        weight,
        scale_min: 1,
        scale_max: 5,
        scale_labels: Vec::new(),
    };
    store::cycles::create_cycle(conn, actor, year)?;
    let criteria = vec![
        Criterion::screening(
            "STRATEGI",
            "Strategisk forankring",
            "Støtter regional strategi (bestått/ikke bestått)",
        ),
        scale("PASIENTNYTTE", "Pasientnytte", 3.0),
        scale("EFFEKTIVITET", "Effektivisering", 2.0),
    ];
    store::cycles::put_criteria_set(conn, actor, year, &IfMatch::any(), criteria)?;
    store::cycles::adopt_criteria_set(conn, actor, year, &IfMatch::any())?;
    let need = store::needs::create_need(
        conn,
        actor,
        year,
        OUS,
        store::needs::NeedFields {
            title: "Demodata: behov til eksempelet på et poengark".into(),
            description: "Demodata: et oppdiktet behov i en liten syklus som bruker kontraktens eksempelkriterier.".into(),
            expected_benefit: "Viser hvordan et helseforetak gir poeng.".into(),
            origin: Origin::ProfessionalCommunity,
            service_area_id: None,
            estimated_study_cost_nok: 800_000,
            contact_name: None,
            contact_email: None,
            forwarded_by: None,
        },
    )?;
    store::cycles::change_phase(
        conn,
        actor,
        year,
        &IfMatch::any(),
        CyclePhase::FirstAssessment,
    )?;
    store::needs::assess_need(
        conn,
        actor,
        need.id,
        &IfMatch::any(),
        store::needs::AssessmentInput {
            decision: NeedStatus::Accepted,
            reason: Some("Demodata: oppfyller kriteriene.".into()),
            screening: vec![("STRATEGI".into(), ScreeningResult::Pass)],
            override_reason: None,
        },
    )?;
    store::cycles::change_phase(
        conn,
        actor,
        year,
        &IfMatch::any(),
        CyclePhase::Prioritisation,
    )?;
    Ok(())
}

/// A benefit still only planned and never measured: one that may be deleted.
fn planned_benefit(conn: &mut PgConnection, actor: &Actor) -> Result<(), ApiError> {
    let measure: Uuid = measures::table
        .order(measures::partner_reference)
        .select(measures::id)
        .first(conn)?;
    let today = Utc::now().date_naive();
    let later = today
        .checked_add_months(chrono::Months::new(24))
        .unwrap_or(today);
    store::benefits::create(
        conn,
        actor,
        (ParentKind::Measure, measure),
        crate::demo_benefits::plan(
            "Færre purringer på leveranser",
            "Statusen fra IT-partneren kommer automatisk, så porteføljekontoret purrer sjeldnere.",
            BenefitCategory::ReleasedCapacity,
            (HSO, "Porteføljekontoret"),
            ("Purringer per tertial", "antall", Direction::Decrease),
            (30.0, today),
            (5.0, later),
            None,
        ),
    )?;
    Ok(())
}

fn needs_2023(conn: &mut PgConnection, actor: &Actor) -> Result<(), ApiError> {
    for (org, title) in SUBMITTED_2023 {
        store::needs::create_need(
            conn,
            actor,
            crate::demo::OPEN_YEAR,
            org,
            store::needs::NeedFields {
                title: title.into(),
                description: "Demodata: oppdiktet behov meldt inn for 2023.".into(),
                expected_benefit: "Mindre manuelt arbeid.".into(),
                origin: portfolio_domain::need::Origin::ProfessionalCommunity,
                service_area_id: None,
                estimated_study_cost_nok: 1_200_000,
                contact_name: None,
                contact_email: None,
                forwarded_by: None,
            },
        )?;
    }
    Ok(())
}

/// The 2022 needs accepted and not yet acted on by the board (the first eight got studies).
fn waiting_2022(conn: &mut PgConnection) -> QueryResult<Vec<Uuid>> {
    needs::table
        .filter(needs::cycle_year.eq(crate::demo::DEMO_YEAR))
        .filter(needs::status.eq("accepted"))
        .order(needs::seq)
        .select(needs::id)
        .offset(8)
        .load(conn)
}

/// A case the office is still preparing: the board has not met.
fn draft_case(conn: &mut PgConnection, actor: &Actor) -> Result<(), ApiError> {
    let waiting = waiting_2022(conn)?;
    let need_id = *waiting
        .last()
        .ok_or_else(|| ApiError::internal("no accepted 2022 need is left for the draft case"))?;
    create_case(
        conn,
        actor,
        CaseDraft {
            meeting_date: chrono::NaiveDate::from_ymd_opt(2023, 10, 19)
                .ok_or_else(|| ApiError::internal("a valid date"))?,
            title: "Demodata: utkast til sak om utsatte behov".into(),
            background: "Demodata: saken forberedes av porteføljekontoret.".into(),
            scenario_id: None,
            items: vec![ItemProposal::DeferNeed { need_id }],
        },
    )?;
    Ok(())
}

fn scenario(conn: &mut PgConnection, actor: &Actor) -> Result<(), ApiError> {
    store::selection::create_scenario(
        conn,
        actor,
        crate::demo::DEMO_YEAR,
        store::selection::ScenarioInput {
            title: "Demodata: forslag til porteføljestyret".into(),
            budget_nok: Some(4_000_000),
            forced_in: Vec::new(),
            forced_out: Vec::new(),
            variations_percent: vec![-20, 20],
            capacity_person_months: Some(40),
        },
    )?;
    Ok(())
}

/// The IT partner's status for the first measure of the improvement portfolio.
fn delivery_batch(conn: &mut PgConnection, actor: &Actor) -> Result<(), ApiError> {
    let reference: String = measures::table
        .order(measures::partner_reference)
        .select(measures::partner_reference)
        .first(conn)?;
    let sync = Actor {
        subject: "system:demo-sync".into(),
        org_number: Some(SYKEHUSPARTNER.into()),
        ..actor.clone()
    };
    store::delivery::apply_batch(
        conn,
        &sync,
        vec![store::delivery::SyncInput {
            reference,
            status: DeliveryStatus {
                progress: 60,
                rag: Rag::Green,
                forecast_date: chrono::NaiveDate::from_ymd_opt(2024, 6, 1),
                milestones: Vec::new(),
                comment: Some("Demodata: i rute".into()),
                reported_by: "Sykehuspartner HF".into(),
                source_timestamp: Utc
                    .with_ymd_and_hms(2023, 11, 1, 8, 0, 0)
                    .single()
                    .ok_or_else(|| ApiError::internal("a valid time"))?,
            },
        }],
    )?;
    Ok(())
}

/// The portfolio office's subscription, paused (so the demo never calls out), with the record
/// of one failed attempt to redeliver.
fn webhook(conn: &mut PgConnection, actor: &Actor) -> Result<(), ApiError> {
    let secret = crate::webhooks::signature::new_secret().map_err(ApiError::internal)?;
    let sub = store::webhooks::create(
        conn,
        actor,
        HSO,
        store::webhooks::NewSubscription {
            url: "https://integrations.example.org/portfolio/events".into(),
            entity_types: vec!["need".into(), "measure".into()],
            description: "Demodata: integrasjonsplattform (pauset)".into(),
            after: None,
        },
        &secret,
    )?;
    let id = sub.row.id;
    store::webhooks::update(
        conn,
        actor,
        HSO,
        id,
        &IfMatch::any(),
        store::webhooks::Edit {
            enabled: Some(false),
            ..Default::default()
        },
    )?;
    let seq: i64 = events::table
        .select(diesel::dsl::max(events::seq))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0);
    diesel::sql_query(
        "INSERT INTO webhook_deliveries
           (subscription_id, event_seq, webhook_id, kind, attempt, attempted_at, duration_ms, error, outcome)
         VALUES ($1, $2, $3, 'feed', 1, now(), 5000, $4, 'failed')",
    )
    .bind::<SqlUuid, _>(id)
    .bind::<BigInt, _>(seq)
    .bind::<Text, _>(crate::webhooks::worker::webhook_id(id, seq))
    .bind::<Text, _>("Demodata: the receiver did not answer within 5 s")
    .execute(conn)?;
    Ok(())
}
