//! Demo benefits (invented, labelled "demodata"): the benefits realisation plan of the active
//! concept *Automatisert overføring av data til kvalitetsregistre* and of two improvement
//! measures, written through the store functions the API uses.
//!
//! Dates are relative to the day the demo is loaded, so Swagger UI always shows one benefit
//! on track (green), one behind (yellow), one priced benefit that has gone quiet (stale) and
//! one still planned.

use chrono::{Months, NaiveDate, Utc};
use diesel::prelude::*;
use portfolio_domain::benefit::{
    Baseline, BenefitCategory, BenefitPlan, BenefitStatus, Direction, Indicator, Owner, ParentKind,
    Target,
};
use uuid::Uuid;

use crate::changes::Actor;
use crate::db::schema::measures;
use crate::error::ApiError;
use crate::etag::IfMatch;
use crate::store::benefits::{self, NewMeasurementData};

const OUS: &str = "993467049"; // Oslo universitetssykehus HF
const AHUS: &str = "983971636"; // Akershus universitetssykehus HF

fn months_ago(today: NaiveDate, n: u32) -> NaiveDate {
    today.checked_sub_months(Months::new(n)).unwrap_or(today)
}

fn months_ahead(today: NaiveDate, n: u32) -> NaiveDate {
    today.checked_add_months(Months::new(n)).unwrap_or(today)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(
    title: &str,
    description: &str,
    category: BenefitCategory,
    owner: (&str, &str),
    indicator: (&str, &str, Direction),
    baseline: (f64, NaiveDate),
    target: (f64, NaiveDate),
    yearly_value_nok: Option<i64>,
) -> BenefitPlan {
    BenefitPlan {
        title: title.into(),
        description: format!("{description} (Demodata: oppdiktet eksempel.)"),
        category,
        owner: Owner {
            org_number: owner.0.into(),
            role: owner.1.into(),
        },
        indicator: Indicator {
            name: indicator.0.into(),
            unit: indicator.1.into(),
            direction: indicator.2,
        },
        baseline: Baseline {
            value: baseline.0,
            date: baseline.1,
            method: "Demodata: oppdiktet nullpunktsmåling".into(),
        },
        target: Target {
            value: target.0,
            date: target.1,
        },
        yearly_value_nok,
    }
}

/// Creates a benefit, starts its realisation and records `series` (months ago, value).
fn with_history(
    conn: &mut PgConnection,
    actor: &Actor,
    parent: (ParentKind, Uuid),
    p: BenefitPlan,
    series: &[(u32, f64)],
    today: NaiveDate,
) -> Result<Uuid, ApiError> {
    let b = benefits::create(conn, actor, parent, p)?;
    if !series.is_empty() {
        benefits::change_status(
            conn,
            actor,
            b.id,
            &IfMatch::any(),
            BenefitStatus::InRealisation,
            None,
        )?;
    }
    for &(ago, value) in series {
        let locked = benefits::lock(conn, b.id)?;
        benefits::record_measurement(
            conn,
            actor,
            locked,
            NewMeasurementData {
                measured_on: months_ago(today, ago),
                value,
                source: "Demodata: oppdiktet måling".into(),
                note: None,
                corrects: None,
            },
            today,
        )?;
    }
    Ok(b.id)
}

/// Benefits with their measurement history: two for the quality-registries concept (one on
/// track, one behind with a corrected value) and two for the first measures.
pub fn load(conn: &mut PgConnection, actor: &Actor, registries: Uuid) -> Result<(), ApiError> {
    let today = Utc::now().date_naive();
    let behind = registry_benefits(conn, actor, registries, today)?;
    correct_last_measurement(conn, actor, behind, today)?;
    measure_benefits(conn, actor, today)
}

/// The concept's two benefits; returns the one behind.
fn registry_benefits(
    conn: &mut PgConnection,
    actor: &Actor,
    registries: Uuid,
    today: NaiveDate,
) -> Result<Uuid, ApiError> {
    let concept = (ParentKind::Concept, registries);
    // On track: 15 % → 85 % over four years, half-way in time and a little more than
    // half-way in value.
    with_history(
        conn,
        actor,
        concept,
        plan(
            "Høyere andel automatisk overførte registermeldinger",
            "Meldinger til de medisinske kvalitetsregistrene hentes fra journalen i stedet for å registreres for hånd.",
            BenefitCategory::NotPriced,
            (OUS, "Fagdirektør"),
            ("Andel registermeldinger overført automatisk", "prosent", Direction::Increase),
            (15.0, months_ago(today, 24)),
            (85.0, months_ahead(today, 24)),
            None,
        ),
        &[(18, 24.0), (12, 33.0), (6, 44.0), (1, 52.0)],
        today,
    )?;
    // Behind: 400 → 100 hours a month over three years, two thirds of the time gone and
    // half of the reduction reached (yellow). One value was typed wrong and corrected.
    with_history(
        conn,
        actor,
        concept,
        plan(
            "Mindre tid til manuell registrering",
            "Klinikere slipper dobbeltregistrering i kvalitetsregistrene.",
            BenefitCategory::ReleasedCapacity,
            (OUS, "Klinikkleder, Kreftklinikken"),
            (
                "Timer manuell registrering per måned",
                "timer",
                Direction::Decrease,
            ),
            (400.0, months_ago(today, 24)),
            (100.0, months_ahead(today, 12)),
            Some(2_400_000),
        ),
        &[(18, 380.0), (12, 330.0), (6, 290.0), (2, 25.0)],
        today,
    )
}

/// One value was typed wrong (25 for 250) and is corrected by a new measurement.
fn correct_last_measurement(
    conn: &mut PgConnection,
    actor: &Actor,
    behind: Uuid,
    today: NaiveDate,
) -> Result<(), ApiError> {
    let last = benefits::measurements(conn, behind, None, 1)?
        .and_then(|page| page.rows.into_iter().next())
        .ok_or_else(|| ApiError::internal("the demo benefit has no measurement"))?;
    let locked = benefits::lock(conn, behind)?;
    benefits::record_measurement(
        conn,
        actor,
        locked,
        NewMeasurementData {
            measured_on: last.measured_on,
            value: 250.0,
            source: "Demodata: oppdiktet måling".into(),
            note: Some("Retting: 25 var en tastefeil for 250.".into()),
            corrects: Some(last.id),
        },
        today,
    )?;
    Ok(())
}

/// Two measures' benefits: one stale (nothing measured for eight months), one just planned.
fn measure_benefits(
    conn: &mut PgConnection,
    actor: &Actor,
    today: NaiveDate,
) -> Result<(), ApiError> {
    let two: Vec<Uuid> = measures::table
        .order(measures::partner_reference)
        .select(measures::id)
        .limit(2)
        .load(conn)?;
    if let [first, second] = two[..] {
        // Priced, in realisation, but nothing measured for eight months: stale.
        with_history(
            conn,
            actor,
            (ParentKind::Measure, first),
            plan(
                "Færre manuelle timebestillinger",
                "Selvbetjent timebestilling frigjør merkantile ressurser.",
                BenefitCategory::BudgetEffectOwnOrganisation,
                (AHUS, "Avdelingsleder, merkantil tjeneste"),
                (
                    "Manuelle timebestillinger per måned",
                    "antall",
                    Direction::Decrease,
                ),
                (1200.0, months_ago(today, 20)),
                (400.0, months_ahead(today, 16)),
                Some(1_200_000),
            ),
            &[(14, 1100.0), (8, 900.0)],
            today,
        )?;
        with_history(
            conn,
            actor,
            (ParentKind::Measure, second),
            plan(
                "Kortere ventetid på svar",
                "Digitale svar når pasienten raskere.",
                BenefitCategory::NotPriced,
                (AHUS, "Fagsjef"),
                ("Median dager til svar", "dager", Direction::Decrease),
                (14.0, months_ago(today, 1)),
                (7.0, months_ahead(today, 23)),
                None,
            ),
            &[],
            today,
        )?;
    }
    Ok(())
}
