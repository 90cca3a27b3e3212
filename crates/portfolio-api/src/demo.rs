//! Demo data built from the seed page's public figures, loaded with `serve --demo`:
//! the 2022 cycle (40 needs reported, 27 accepted into the needs portfolio, every trust's
//! scores), the 2023 service areas with ~200 improvement measures, the 2023 concept-study
//! budget frame (10 MNOK), and — through the same store functions the API uses, so every rule
//! and the audit trail apply — the board's part: eight concept studies started in autumn 2022
//! (three completed, three in progress, one paused, one not started; four of them run on
//! behalf of the four regions) and the concept portfolio (one active, one paused concept).
//!
//! Benefits realisation (gevinstrealisering) is invented demo data, labelled as such: the
//! active concept's benefits (one on track, one behind) and two measures' benefits (one priced
//! and stale, one planned), with baselines and measurement histories dated relative to the day
//! the demo is loaded so the picture holds whenever it is run.
//!
//! Amounts per study are not public: the demo gives each regional study 1.5 MNOK and the
//! interregional ones 2 MNOK from an 8 MNOK interregional frame, raised by 1.5 MNOK in 2023 for
//! one study the board started in addition to the needs. The service areas' system owners and
//! system responsibles are invented names.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Int4};
use portfolio_domain::decision::ItemOutcome;
use portfolio_domain::study::StudyStatus;
use uuid::Uuid;

use crate::changes::Actor;
use crate::db::schema::{needs, organisations};
use crate::db::Db;
use crate::documents::decision_item::{ConceptStatusName, ExpectedCompletion, ItemProposal};
use crate::error::ApiError;
use crate::etag::IfMatch;
use crate::generate::{generate, Options};
use crate::store::decisions::{create_case, decide, CaseDraft, DecisionInput, OutcomeInput};
use crate::store::studies::change_study_status;

pub const DEMO_YEAR: i32 = 2022;
/// The subcontractor the demo registers (the contract's examples name it).
pub const DEMO_SUPPLIER: &str = "923609024";
/// The cycle the demo leaves in `intake`, taking new needs.
pub const OPEN_YEAR: i32 = 2023;

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// Loads the demo portfolio unless it is already there. Returns a summary.
pub fn load(db: &Db) -> Result<String, String> {
    let summary = db
        .run_blocking::<_, ApiError, _>(|conn| {
            let present =
                diesel::sql_query("SELECT EXISTS (SELECT 1 FROM cycles WHERE year = $1) AS exists")
                    .bind::<Int4, _>(DEMO_YEAR)
                    .get_result::<Exists>(conn)?
                    .exists;
            if present {
                return Ok(None);
            }
            let o = Options {
                scale: 1,
                seed: 2022,
                year: DEMO_YEAR,
                measures: Some(200),
            };
            let out = conn.transaction(|conn| {
                deterministic_ids(conn)?;
                // A subcontractor of the IT partner, for measures delivered with one.
                crate::store::reference::create_organisation(
                    conn,
                    &Actor::system("demo"),
                    DEMO_SUPPLIER,
                    "Demo Leverandør AS",
                    portfolio_domain::organisation::OrganisationKind::Supplier,
                    None,
                )?;
                let out = generate(conn, &o).map_err(ApiError::from)?;
                // "Budsjettrammen for konseptutredninger i 2023 er totalt 10 millioner kroner."
                crate::store::budget::create_frame(
                    conn,
                    &crate::changes::Actor::system("demo"),
                    2023,
                    portfolio_domain::budget::SubPortfolio::ConceptStudies,
                    10_000_000,
                    "Budsjettramme for konseptutredninger 2023 (offentlig oppgitt)",
                )?;
                board(conn)?;
                capacities_and_dependencies(conn)?;
                // The next year's cycle, open for new needs (the 2022 one is past intake).
                crate::store::cycles::create_cycle(conn, &Actor::system("demo"), OPEN_YEAR)?;
                service_area_owners(conn)?;
                additional_study(conn)?;
                // Something for every operation of the contract to act on.
                crate::demo_examples::load(conn)?;
                // A signed checkpoint of the demo's audit chain (`verify?against=latest`).
                crate::store::checkpoints::publish(conn)?;
                // Last, so every id created before it stays what the contract's examples name.
                capacity_scenario(conn)?;
                Ok::<_, ApiError>(out)
            })?;
            Ok(Some(out))
        })
        .map_err(|e| e.to_string())?;
    Ok(match summary {
        None => format!("the {DEMO_YEAR} demo portfolio is already loaded"),
        Some(s) => format!(
            "{} needs reported for {DEMO_YEAR}, {} accepted, {} score sheets, {} measures, the 2023 concept-study frame of 10 000 000 NOK, 8 concept studies from the needs and 1 interregional study in addition, 2 concepts, 4 benefits with measurement histories (invented); the {OPEN_YEAR} cycle is open for new needs (one forwarded by a service area's system owner); system owners and system responsibles for the {OPEN_YEAR} service areas; a signed audit checkpoint; a selection scenario with a capacity limit and its robustness",
            s["needs"], s["accepted"], s["score_sheets"], s["measures"]
        ),
    })
}

/// Every id the demo creates is the same on every machine, so the contract's examples can
/// name them: service areas get ids derived from their year and name, and every row created
/// in this transaction an id derived from a seed and a counter (`portfolio_new_id()`, see the
/// migration `deterministic_demo_ids`); the generated needs and measures come from a seeded
/// generator.
fn deterministic_ids(conn: &mut PgConnection) -> Result<(), ApiError> {
    diesel::sql_query("SELECT set_config('portfolio.id_seed', 'portfolio-demo', true)")
        .execute(conn)?;
    // Only areas nothing refers to yet (the demo loads into a database without a 2022 cycle).
    diesel::sql_query(
        "UPDATE service_areas SET id = md5('service-area:' || year || ':' || name)::uuid
         WHERE NOT EXISTS (SELECT 1 FROM measures m WHERE m.service_area_id = service_areas.id)
           AND NOT EXISTS (SELECT 1 FROM needs n WHERE n.service_area_id = service_areas.id)",
    )
    .execute(conn)?;
    Ok(())
}

const HSO: &str = "991324968"; // Helse Sør-Øst RHF, whose page the seed is
const IT_PARTNER: &str = "914637651"; // Sykehuspartner HF
const REGIONAL: [&str; 4] = [
    "Automatisert overføring av data til kvalitetsregistre",
    "Tidlig ultralyd",
    "Digital hjemmeoppfølging",
    "Felles kurve og medikasjon",
];
const INTERREGIONAL: [&str; 4] = [
    "Verktøystøtte for nye metoder",
    "Nasjonalt genomsenter",
    "Prehospital journal",
    "Deling av multimedieobjekter",
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// Prepares a case and has the board approve every item; the ids the items created.
fn board_approves(
    conn: &mut PgConnection,
    actor: &Actor,
    meeting: NaiveDate,
    title: &str,
    minutes: &str,
    items: Vec<ItemProposal>,
) -> Result<Vec<Option<Uuid>>, ApiError> {
    let n = items.len();
    let case = create_case(
        conn,
        actor,
        CaseDraft {
            meeting_date: meeting,
            title: title.into(),
            background: "Demodata bygget fra offentlige tall på helse-sorost.no.".into(),
            scenario_id: None,
            items,
        },
    )?;
    let approved = OutcomeInput {
        outcome: ItemOutcome::Approved,
        amended_budget_nok: None,
        note: None,
    };
    let decided = decide(
        conn,
        actor,
        case.case.id,
        &IfMatch::any(),
        DecisionInput {
            rationale: "Porteføljestyret sluttet seg til forslaget.".into(),
            minutes_reference: minutes.into(),
            outcomes: vec![approved; n],
        },
    )?;
    Ok(decided.items.iter().map(|i| i.created_id).collect())
}

/// The board's part of the seed page: studies decided in autumn 2022 and where they stood in
/// 2023, and the concept portfolio.
fn board(conn: &mut PgConnection) -> Result<(), ApiError> {
    let actor = Actor::system("demo");
    let studies = start_studies_2022(conn, &actor)?;
    let registries = studies_in_2023(conn, &actor, &studies)?;
    crate::demo_benefits::load(conn, &actor, registries)
}

/// Autumn 2022: four regional studies from the concept-study frame and four interregional
/// ones (on behalf of the four regions) from a frame of their own.
fn start_studies_2022(conn: &mut PgConnection, actor: &Actor) -> Result<Vec<Uuid>, ApiError> {
    let regional_frame = crate::store::budget::find_frame_for(
        conn,
        2023,
        portfolio_domain::budget::SubPortfolio::ConceptStudies,
    )?
    .ok_or_else(|| ApiError::internal("the demo's concept-study frame is missing"))?;
    let inter_frame = crate::store::budget::create_frame(
        conn,
        actor,
        2023,
        portfolio_domain::budget::SubPortfolio::Interregional,
        8_000_000,
        "Demo: ramme for interregionale konseptutredninger (beløpet er ikke offentlig)",
    )?;
    // "På vegne av de fire regionene": the regional health authorities of the reference data.
    let regions: Vec<String> = organisations::table
        .filter(organisations::kind.eq("regional_health_authority"))
        .order(organisations::org_number)
        .select(organisations::org_number)
        .load(conn)?;
    let accepted = first_accepted_needs(conn, 8)?;
    let late_summer = ExpectedCompletion {
        from: date(2023, 8, 15),
        to: date(2023, 10, 15),
        label: Some("sensommer/tidlig høst 2023".into()),
    };
    let start = |need_id, frame_id, budget_nok, title: &str, on_behalf_of: Option<&[String]>| {
        ItemProposal::StartStudy {
            need_id,
            frame_id,
            budget_nok,
            title: title.into(),
            responsible_org: HSO.into(),
            interregional: on_behalf_of.is_some(),
            on_behalf_of: on_behalf_of.unwrap_or_default().to_vec(),
            expected_completion: Some(late_summer.clone()),
        }
    };
    let regional = REGIONAL
        .iter()
        .enumerate()
        .map(|(i, title)| start(accepted[i], regional_frame.id, 1_500_000, title, None));
    let interregional = INTERREGIONAL.iter().enumerate().map(|(i, title)| {
        start(
            accepted[4 + i],
            inter_frame.id,
            2_000_000,
            title,
            Some(&regions),
        )
    });
    let items = regional.chain(interregional).collect();
    Ok(board_approves(
        conn,
        actor,
        date(2022, 10, 20),
        "Oppstart av konseptutredninger høsten 2022",
        "PS-sak 42/2022",
        items,
    )?
    .into_iter()
    .flatten()
    .collect())
}

/// The demo year's first `n` accepted needs (in sequence order); an error when there are fewer.
fn first_accepted_needs(conn: &mut PgConnection, n: usize) -> Result<Vec<Uuid>, ApiError> {
    let accepted: Vec<Uuid> = needs::table
        .filter(needs::cycle_year.eq(DEMO_YEAR))
        .filter(needs::status.eq("accepted"))
        .order(needs::seq)
        .select(needs::id)
        .limit(n as i64)
        .load(conn)?;
    if accepted.len() < n {
        return Err(ApiError::internal(format!(
            "the demo cycle has fewer than {n} accepted needs"
        )));
    }
    Ok(accepted)
}

/// By 2023: seven started, three of them completed; one paused by the board, one not started;
/// two completed studies became concepts, one of which was paused. Returns the concept the
/// benefits are realised for (quality registries).
fn studies_in_2023(
    conn: &mut PgConnection,
    actor: &Actor,
    studies: &[Uuid],
) -> Result<Uuid, ApiError> {
    for s in &studies[..7] {
        change_study_status(conn, actor, *s, &IfMatch::any(), StudyStatus::InProgress)?;
    }
    for s in [studies[0], studies[1], studies[4]] {
        change_study_status(conn, actor, s, &IfMatch::any(), StudyStatus::Completed)?;
    }
    board_approves(
        conn,
        actor,
        date(2023, 2, 16),
        "Pause i konseptutredning",
        "PS-sak 7/2023",
        vec![ItemProposal::PauseStudy {
            study_id: studies[5],
        }],
    )?;
    let concepts = board_approves(
        conn,
        actor,
        date(2023, 4, 20),
        "Konsepter inn i konseptporteføljen",
        "PS-sak 15/2023",
        vec![
            ItemProposal::RecordConcept {
                study_id: studies[0],
                title: REGIONAL[0].into(),
                description: String::new(),
            },
            ItemProposal::RecordConcept {
                study_id: studies[1],
                title: REGIONAL[1].into(),
                description: String::new(),
            },
        ],
    )?;
    let registries = concepts[0].ok_or_else(|| ApiError::internal("no concept was recorded"))?;
    let ultrasound = concepts[1].ok_or_else(|| ApiError::internal("no concept was recorded"))?;
    board_approves(
        conn,
        actor,
        date(2023, 9, 21),
        "Tidlig ultralyd settes på pause",
        "PS-sak 31/2023",
        vec![ItemProposal::ChangeConceptStatus {
            concept_id: ultrasound,
            to: ConceptStatusName::Paused,
        }],
    )?;
    Ok(registries)
}

/// Invented: the IT partner's capacity estimate (person-months a year) for the 2022 needs
/// still waiting for the board, and two dependencies between them, so a selection scenario
/// with `capacity_person_months` and the needs' `dependencies` has something to respect.
fn capacities_and_dependencies(conn: &mut PgConnection) -> Result<(), ApiError> {
    use crate::store::dependencies::{set_links, Dependency};
    use portfolio_domain::selection::DependencyKind;
    let actor = Actor::system("demo");
    let waiting: Vec<Uuid> = needs::table
        .filter(needs::cycle_year.eq(DEMO_YEAR))
        .filter(needs::status.eq("accepted"))
        .order(needs::seq)
        .select(needs::id)
        .load(conn)?;
    for (i, id) in waiting.iter().enumerate() {
        let dependencies = match i {
            1 => vec![Dependency {
                kind: DependencyKind::Requires,
                other_need_id: waiting[0],
            }],
            3 => vec![Dependency {
                kind: DependencyKind::Excludes,
                other_need_id: waiting[2],
            }],
            _ => Vec::new(),
        };
        let months = 2 + (i as i64 * 5) % 11;
        set_links(
            conn,
            &actor,
            *id,
            &IfMatch::any(),
            Some(months),
            dependencies,
        )?;
    }
    Ok(())
}

/// A selection scenario over the 2022 needs still waiting for the board, with a capacity limit
/// (so the dependencies and capacities above matter) and its robustness: the stability radius
/// and what it would take to bring each left-out need in.
fn capacity_scenario(conn: &mut PgConnection) -> Result<(), ApiError> {
    crate::store::selection::create_scenario(
        conn,
        &Actor::system("demo"),
        DEMO_YEAR,
        crate::store::selection::ScenarioInput {
            title: "Demo: 10 MNOK og 40 månedsverk hos IT-partneren".into(),
            budget_nok: Some(10_000_000),
            forced_in: Vec::new(),
            forced_out: Vec::new(),
            variations_percent: vec![-20, 20],
            capacity_person_months: Some(40),
        },
    )?;
    Ok(())
}

/// Invented names, labelled as such: each 2023 service area's regional system owner (at a
/// health trust) and system responsible (at the IT partner), and one need of the open 2023
/// cycle that the system owner of "Mor og barn" forwarded, so `GET /needs?service_area_id=…`
/// and `forwarded_by` have something to show.
fn service_area_owners(conn: &mut PgConnection) -> Result<(), ApiError> {
    use crate::db::schema::service_areas;
    use crate::store::needs::{create_need, NeedFields};
    use crate::store::reference::{edit_service_area, ServiceAreaChanges, ServiceAreaEdit};
    use portfolio_domain::organisation::OrgNumber;
    use portfolio_domain::service_area::{ForwardingRole, Party};
    let actor = Actor::system("demo");
    let trusts: Vec<String> = organisations::table
        .filter(organisations::kind.eq("health_trust"))
        .order(organisations::org_number)
        .select(organisations::org_number)
        .load(conn)?;
    let areas: Vec<(Uuid, String)> = service_areas::table
        .filter(service_areas::year.eq(OPEN_YEAR))
        .order(service_areas::name)
        .select((service_areas::id, service_areas::name))
        .load(conn)?;
    let party = |org: &str, name: String| -> Result<Party, ApiError> {
        let org = OrgNumber::parse(org).map_err(ApiError::internal)?;
        Ok(Party::new("demo", org, &name)?)
    };
    let mut mor_og_barn = None;
    for (i, (id, name)) in areas.iter().enumerate() {
        let changes = ServiceAreaChanges {
            name: None,
            system_owner: Some(Some(party(
                &trusts[i % trusts.len()],
                format!("Regional systemeier for {name} (demo)"),
            )?)),
            system_responsible: Some(Some(party(
                IT_PARTNER,
                format!("Systemansvarlig for {name} (demo)"),
            )?)),
        };
        edit_service_area(
            conn,
            &actor,
            *id,
            &IfMatch::any(),
            ServiceAreaEdit::Change(changes),
        )?;
        if name == "Mor og barn" {
            mor_og_barn = Some(*id);
        }
    }
    let fields = NeedFields {
        title: "Digital svangerskapsoppfølging".into(),
        description: "Svangerskapsoppfølgingen dokumenteres i dag på papir og i flere systemer."
            .into(),
        expected_benefit: "Sammenhengende oppfølging og færre manuelle overføringer (demo).".into(),
        origin: portfolio_domain::need::Origin::ProfessionalCommunity,
        service_area_id: mor_og_barn,
        estimated_study_cost_nok: 1_200_000,
        contact_name: None,
        contact_email: None,
        forwarded_by: Some(ForwardingRole::SystemOwner),
    };
    create_need(conn, &actor, OPEN_YEAR, HSO, fields)?;
    Ok(())
}

/// "I tillegg gjennomfører Helse Sør-Øst enkelte konseptutredninger på vegne av de fire
/// regionene": a study the board starts in addition to the cycle's needs, run by Helse Sør-Øst
/// on behalf of the four regions and funded from the interregional frame. Its title and purpose
/// are invented for the demo.
fn additional_study(conn: &mut PgConnection) -> Result<(), ApiError> {
    let actor = Actor::system("demo");
    let frame = crate::store::budget::find_frame_for(
        conn,
        2023,
        portfolio_domain::budget::SubPortfolio::Interregional,
    )?
    .ok_or_else(|| ApiError::internal("the demo's interregional frame is missing"))?;
    // The four interregional studies of autumn 2022 used the whole frame: it is raised first,
    // recorded in its history like any change of amount.
    let frame = crate::store::budget::change_amount(
        conn,
        &actor,
        frame.id,
        &IfMatch::any(),
        frame.amount_nok + 1_500_000,
        "Demo: økt for en interregional konseptutredning i tillegg til behovene",
    )?;
    let regions: Vec<String> = organisations::table
        .filter(organisations::kind.eq("regional_health_authority"))
        .order(organisations::org_number)
        .select(organisations::org_number)
        .load(conn)?;
    board_approves(
        conn,
        &actor,
        date(2023, 2, 16),
        "Interregional konseptutredning i tillegg til behovene",
        "PS-sak 8/2023",
        vec![ItemProposal::StartAdditionalStudy {
            frame_id: frame.id,
            budget_nok: 1_500_000,
            title: "Felles regionalt bildearkiv (demo)".into(),
            purpose: "Utrede et felles bildearkiv for de fire regionene; ikke meldt inn som behov (demo)."
                .into(),
            responsible_org: HSO.into(),
            interregional: true,
            on_behalf_of: regions,
            expected_completion: None,
        }],
    )?;
    Ok(())
}
