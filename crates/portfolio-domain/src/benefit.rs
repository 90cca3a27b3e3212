//! Benefits realisation (gevinstrealisering): the benefits a concept study, a concept or
//! an improvement measure promises, their owner, indicator, baseline (nullpunktsmåling)
//! and target, the measurements that follow them, and what those say about progress.
//!
//! Everything here is pure: "today" is passed in, so the same inputs always give the
//! same realised share, expected share, RAG and staleness.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::macros::wire_enum;
use crate::measure::Rag;
use crate::need::{validate_text, LONG_TEXT_MAX, REASON_MAX, TITLE_MAX};
use crate::organisation::OrgNumber;
use crate::state::StateMachine;

/// Longest short text (owner role, indicator name, unit, measurement source), in characters.
pub const SHORT_TEXT_MAX: usize = 200;

/// How far (as a share of the whole improvement, 0–1) the realised share may lag the
/// straight-line expectation and still count as on track (green). Ten percentage points:
/// measurements are few (often yearly) and noisy, so a smaller lag is not a signal.
pub const YELLOW_MARGIN: f64 = 0.10;

/// Lag beyond which a benefit is red: a quarter of the improvement behind the straight
/// line is more than one more measuring period can plausibly catch up.
pub const RED_MARGIN: f64 = 0.25;

/// A benefit in realisation with no measurement for longer than this many months is
/// flagged as stale: the owner is expected to report at least twice a year.
pub const DEFAULT_STALE_AFTER_MONTHS: u32 = 6;

/// Tolerance for comparing shares, so that 0.1 + 0.2 style rounding never flips a colour.
const EPSILON: f64 = 1e-9;

wire_enum! {
    /// DFØ's categories of benefit (gevinstkategorier).
    pub enum BenefitCategory {
        /// Budget effect in the organisation itself (budsjettgevinst i egen virksomhet).
        BudgetEffectOwnOrganisation => "budget_effect_own_organisation",
        /// Released capacity for other use (frigjort kapasitet til annen bruk).
        ReleasedCapacity => "released_capacity",
        /// Priced effect elsewhere in the public sector (prissatt gevinst for andre).
        PricedEffectElsewhere => "priced_effect_elsewhere",
        /// Not priced (ikke prissatt gevinst), e.g. patient safety, quality.
        NotPriced => "not_priced",
    }
}

impl BenefitCategory {
    /// Whether benefits of this category carry a yearly value in NOK.
    pub const fn is_priced(self) -> bool {
        !matches!(self, Self::NotPriced)
    }
}

wire_enum! {
    /// Which way an indicator must move for the benefit to be realised.
    pub enum Direction {
        /// Higher is better (e.g. share of reports sent automatically).
        Increase => "increase",
        /// Lower is better (e.g. hours spent on manual registration).
        Decrease => "decrease",
    }
}

impl Direction {
    /// +1 for increase, −1 for decrease: multiplying a change by it gives the
    /// improvement.
    const fn sign(self) -> f64 {
        match self {
            Self::Increase => 1.0,
            Self::Decrease => -1.0,
        }
    }
}

wire_enum! {
    /// What a benefit belongs to (and so, through the lineage, which need).
    pub enum ParentKind {
        /// A concept study.
        ConceptStudy => "concept_study",
        /// A concept from a completed study.
        Concept => "concept",
        /// An improvement measure.
        Measure => "measure",
    }
}

wire_enum! {
    /// Status of a benefit.
    pub enum BenefitStatus {
        /// In the benefits realisation plan; realisation has not begun.
        Planned => "planned",
        /// Being realised and followed up by its owner.
        InRealisation => "in_realisation",
        /// Realised as planned (final).
        Realised => "realised",
        /// Realised in part (a reason is required); follow-up may resume.
        PartlyRealised => "partly_realised",
        /// Not realised (final; a reason is required).
        NotRealised => "not_realised",
        /// Taken out of the plan (final; a reason is required).
        Cancelled => "cancelled",
    }
}

impl StateMachine for BenefitStatus {
    const ENTITY: &'static str = "benefit";

    fn can_transition_to(self, to: Self) -> bool {
        use BenefitStatus::*;
        matches!(
            (self, to),
            (Planned, InRealisation | Cancelled)
                | (
                    InRealisation,
                    Realised | PartlyRealised | NotRealised | Cancelled
                )
                | (PartlyRealised, InRealisation | Realised | NotRealised)
        )
    }

    fn all() -> &'static [Self] {
        Self::ALL
    }
}

impl BenefitStatus {
    /// Whether moving into this status needs a written reason: the board must be able
    /// to see why a promised benefit was not (fully) delivered or was dropped.
    pub const fn requires_reason(self) -> bool {
        matches!(
            self,
            Self::PartlyRealised | Self::NotRealised | Self::Cancelled
        )
    }

    /// Like [`StateMachine::transition`], and also demands a non-blank reason when the
    /// target status [requires one](BenefitStatus::requires_reason).
    pub fn transition_with_reason(
        self,
        to: Self,
        reason: Option<&str>,
    ) -> Result<Self, DomainError> {
        let next = self.transition(to)?;
        if let Some(r) = reason {
            validate_text("reason", r, REASON_MAX, true)?;
        }
        if to.requires_reason() && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(DomainError::invalid(
                "reason",
                format!("a reason is required when a benefit becomes {to}"),
            ));
        }
        Ok(next)
    }

    /// Whether measurements may be recorded: always, except for a cancelled benefit.
    /// Follow-up after the project ends (realised, not realised) is the point of
    /// benefits realisation, so those keep accepting measurements.
    pub const fn accepts_measurements(self) -> bool {
        !matches!(self, Self::Cancelled)
    }

    /// Whether the plan may be edited at all (not in a final status).
    pub fn plan_editable(self) -> bool {
        !self.is_final()
    }

    /// Whether indicator, baseline and target may still change. Only while `planned`:
    /// once realisation has begun, moving the baseline or target would rewrite what
    /// the measurements are judged against.
    pub const fn basis_editable(self) -> bool {
        matches!(self, Self::Planned)
    }
}

/// The indicator a benefit is measured by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// What is measured, e.g. "Andel rapporter overført automatisk".
    pub name: String,
    /// Unit, e.g. "prosent", "timer per måned".
    pub unit: String,
    /// Which way is better.
    pub direction: Direction,
}

/// The baseline measurement (nullpunktsmåling).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Indicator value at the baseline.
    pub value: f64,
    /// When it was measured.
    pub date: NaiveDate,
    /// How and from where it was measured.
    pub method: String,
}

/// The value the indicator should reach, and by when.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Target value of the indicator.
    pub value: f64,
    /// Date by which it should be reached.
    pub date: NaiveDate,
}

/// Who owns the benefit (gevinsteier): an organisation and a role or name in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    /// Organisation number of the owner organisation.
    pub org_number: String,
    /// Role or name of the owner, e.g. "Klinikkleder, Kreftklinikken".
    pub role: String,
}

/// A benefit's plan: everything the board agrees on before realisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenefitPlan {
    /// Short title.
    pub title: String,
    /// What the benefit is and how it arises.
    pub description: String,
    /// DFØ category.
    pub category: BenefitCategory,
    /// Benefit owner.
    pub owner: Owner,
    /// What is measured.
    pub indicator: Indicator,
    /// Nullpunktsmåling.
    pub baseline: Baseline,
    /// Goal.
    pub target: Target,
    /// Yearly value in NOK when fully realised; only for priced categories.
    pub yearly_value_nok: Option<i64>,
}

impl BenefitPlan {
    /// Every rule the plan breaks, all at once (empty when valid). Field names are
    /// dotted paths relative to the plan (`baseline.value`).
    pub fn problems(&self) -> Vec<DomainError> {
        let mut out = Vec::new();
        let mut text = |field: &str, value: &str, max: usize| {
            if let Err(e) = validate_text(field, value, max, true) {
                out.push(e);
            }
        };
        text("title", &self.title, TITLE_MAX);
        text("description", &self.description, LONG_TEXT_MAX);
        text("owner.role", &self.owner.role, SHORT_TEXT_MAX);
        text("indicator.name", &self.indicator.name, SHORT_TEXT_MAX);
        text("indicator.unit", &self.indicator.unit, SHORT_TEXT_MAX);
        text("baseline.method", &self.baseline.method, LONG_TEXT_MAX);
        if let Err(e) = OrgNumber::parse(&self.owner.org_number) {
            out.push(DomainError::invalid("owner.org_number", e.to_string()));
        }
        out.extend(self.basis_problems());
        match (self.category.is_priced(), self.yearly_value_nok) {
            (false, Some(_)) => out.push(DomainError::invalid(
                "yearly_value_nok",
                "a benefit that is not priced carries no NOK value",
            )),
            (true, Some(v)) => {
                if let Err(e) = crate::budget::validate_nok("yearly_value_nok", v) {
                    out.push(e);
                }
            }
            _ => {}
        }
        out
    }

    /// Baseline/target rules: finite numbers, a target that differs from the baseline
    /// in the indicator's direction, and a target date after the baseline date.
    fn basis_problems(&self) -> Vec<DomainError> {
        let mut out = Vec::new();
        let (b, t) = (self.baseline.value, self.target.value);
        if !b.is_finite() {
            out.push(DomainError::invalid("baseline.value", "must be a number"));
        }
        if !t.is_finite() {
            out.push(DomainError::invalid("target.value", "must be a number"));
        } else if b.is_finite() {
            let improvement = self.indicator.direction.sign() * (t - b);
            if t == b {
                out.push(DomainError::invalid(
                    "target.value",
                    "equals the baseline; a benefit must change something",
                ));
            } else if improvement < 0.0 {
                let way = match self.indicator.direction {
                    Direction::Increase => "above",
                    Direction::Decrease => "below",
                };
                out.push(DomainError::invalid(
                    "target.value",
                    format!(
                        "must be {way} the baseline ({b}) for an indicator that should {}",
                        self.indicator.direction
                    ),
                ));
            }
        }
        if self.target.date <= self.baseline.date {
            out.push(DomainError::invalid(
                "target.date",
                format!(
                    "{} is not after the baseline date {}",
                    self.target.date, self.baseline.date
                ),
            ));
        }
        out
    }

    /// Realised share of the improvement at indicator value `value`: 0 at the baseline,
    /// 1 at the target, with the direction applied (a decrease indicator improves as
    /// it falls) and clamped to 0–1 (getting worse is 0, overshooting is 1).
    pub fn realised_share(&self, value: f64) -> f64 {
        let needed = self.target.value - self.baseline.value;
        let share = (value - self.baseline.value) / needed;
        if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// Share of the improvement expected by `today` on a straight line from the
    /// baseline date (0) to the target date (1); 0 before, 1 after.
    pub fn expected_share(&self, today: NaiveDate) -> f64 {
        let total = (self.target.date - self.baseline.date).num_days();
        let done = (today - self.baseline.date).num_days();
        if total <= 0 {
            return 1.0;
        }
        (done as f64 / total as f64).clamp(0.0, 1.0)
    }
}

/// Health of a benefit from its realised and expected shares:
///
/// - target reached (realised share 1) → green, whatever the date;
/// - past the target date and not reached → red;
/// - behind the straight line by more than [`RED_MARGIN`] → red;
/// - behind by more than [`YELLOW_MARGIN`] → yellow;
/// - otherwise green (on track, or ahead).
pub fn rag(realised: f64, expected: f64, today: NaiveDate, target_date: NaiveDate) -> Rag {
    if realised >= 1.0 - EPSILON {
        return Rag::Green;
    }
    if today > target_date {
        return Rag::Red;
    }
    let behind = expected - realised;
    if behind > RED_MARGIN + EPSILON {
        Rag::Red
    } else if behind > YELLOW_MARGIN + EPSILON {
        Rag::Yellow
    } else {
        Rag::Green
    }
}

/// What the measurements say about a benefit on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    /// Realised share (0–1) at the latest effective measurement; `None` before the
    /// first measurement.
    pub realised_share: Option<f64>,
    /// Share expected by today on the straight line (0–1).
    pub expected_share: f64,
    /// Health; `None` for a cancelled benefit, which is no longer followed up.
    pub rag: Option<Rag>,
    /// In realisation and nothing measured for more than the allowed months.
    pub stale: bool,
}

/// The derived picture of a benefit with `latest` = its latest effective measurement
/// (date, value). With no measurement the indicator is taken to stand at the baseline,
/// so a benefit whose owner never reports drifts into yellow and red.
pub fn progress(
    plan: &BenefitPlan,
    status: BenefitStatus,
    latest: Option<(NaiveDate, f64)>,
    today: NaiveDate,
    stale_after_months: u32,
) -> Progress {
    let realised_share = latest.map(|(_, v)| plan.realised_share(v));
    let expected_share = plan.expected_share(today);
    let rag = (status != BenefitStatus::Cancelled).then(|| {
        rag(
            realised_share.unwrap_or(0.0),
            expected_share,
            today,
            plan.target.date,
        )
    });
    let last_seen = latest.map_or(plan.baseline.date, |(d, _)| d);
    let stale = status == BenefitStatus::InRealisation
        && last_seen
            .checked_add_months(Months::new(stale_after_months))
            .is_some_and(|due| today > due);
    Progress {
        realised_share,
        expected_share,
        rag,
        stale,
    }
}

/// One recorded measurement of a benefit's indicator. `id`s grow in recording order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Identity within the series; later recordings have larger ids.
    pub id: i64,
    /// When the value was measured.
    pub measured_on: NaiveDate,
    /// The indicator value.
    pub value: f64,
    /// The measurement this one corrects, if it is a correction.
    pub corrects: Option<i64>,
}

/// A measurement about to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeasurement<'a> {
    /// When the value was measured.
    pub measured_on: NaiveDate,
    /// The indicator value.
    pub value: f64,
    /// Where the value comes from (register, report, system).
    pub source: &'a str,
    /// Free note.
    pub note: Option<&'a str>,
    /// The measurement this one corrects.
    pub corrects: Option<i64>,
}

/// The measurement that counts now: among those no later measurement corrects, the
/// one measured last (ties broken by recording order).
pub fn latest_effective(series: &[Measurement]) -> Option<&Measurement> {
    let corrected: std::collections::HashSet<i64> =
        series.iter().filter_map(|m| m.corrects).collect();
    series
        .iter()
        .filter(|m| !corrected.contains(&m.id))
        .max_by_key(|m| (m.measured_on, m.id))
}

/// Checks a new measurement against the benefit and its series so far. Input errors
/// come back all at once (`Invalid`); a correction of a measurement that is already
/// corrected, or a measurement on a cancelled benefit, is a `Conflict`.
pub fn check_measurement(
    status: BenefitStatus,
    plan: &BenefitPlan,
    series: &[Measurement],
    new: &NewMeasurement<'_>,
    today: NaiveDate,
) -> Result<(), Vec<DomainError>> {
    if !status.accepts_measurements() {
        return Err(vec![DomainError::conflict(format!(
            "the benefit is {status}; it takes no measurements"
        ))]);
    }
    let mut out = Vec::new();
    if !new.value.is_finite() {
        out.push(DomainError::invalid("value", "must be a number"));
    }
    if new.measured_on < plan.baseline.date {
        out.push(DomainError::invalid(
            "measured_on",
            format!(
                "{} is before the baseline date {}",
                new.measured_on, plan.baseline.date
            ),
        ));
    }
    if new.measured_on > today {
        out.push(DomainError::invalid(
            "measured_on",
            format!("{} is in the future", new.measured_on),
        ));
    }
    if let Err(e) = validate_text("source", new.source, SHORT_TEXT_MAX, true) {
        out.push(e);
    }
    if let Some(n) = new.note {
        if let Err(e) = validate_text("note", n, LONG_TEXT_MAX, true) {
            out.push(e);
        }
    }
    if let Some(c) = new.corrects {
        if !series.iter().any(|m| m.id == c) {
            out.push(DomainError::invalid(
                "corrects",
                format!("{c} is not a measurement of this benefit"),
            ));
        } else if out.is_empty() && series.iter().any(|m| m.corrects == Some(c)) {
            return Err(vec![DomainError::conflict(format!(
                "measurement {c} is already corrected; correct the correction instead"
            ))]);
        }
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::assert_transitions;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    /// Share of reports sent automatically: 20 % in January 2024 → 80 % by January 2026.
    fn increase() -> BenefitPlan {
        BenefitPlan {
            title: "Automatisk rapportering til kvalitetsregistre".into(),
            description: "Mindre manuell dobbeltregistrering.".into(),
            category: BenefitCategory::ReleasedCapacity,
            owner: Owner {
                org_number: "993467049".into(),
                role: "Klinikkleder".into(),
            },
            indicator: Indicator {
                name: "Andel rapporter overført automatisk".into(),
                unit: "prosent".into(),
                direction: Direction::Increase,
            },
            baseline: Baseline {
                value: 20.0,
                date: d(2024, 1, 1),
                method: "Uttrekk fra registeret".into(),
            },
            target: Target {
                value: 80.0,
                date: d(2026, 1, 1),
            },
            yearly_value_nok: Some(1_200_000),
        }
    }

    /// Hours of manual registration per month: 400 → 100 over the same period.
    fn decrease() -> BenefitPlan {
        let mut p = increase();
        p.indicator = Indicator {
            name: "Timer manuell registrering".into(),
            unit: "timer per måned".into(),
            direction: Direction::Decrease,
        };
        p.baseline.value = 400.0;
        p.target.value = 100.0;
        p
    }

    fn fields(errors: &[DomainError]) -> Vec<String> {
        errors
            .iter()
            .map(|e| match e {
                DomainError::Invalid { field, .. } => field.clone(),
                other => format!("{other}"),
            })
            .collect()
    }

    fn m(id: i64, on: NaiveDate, value: f64, corrects: Option<i64>) -> Measurement {
        Measurement {
            id,
            measured_on: on,
            value,
            corrects,
        }
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(BenefitCategory::ALL, BenefitCategory::as_str);
        crate::macros::assert_wire_enum(Direction::ALL, Direction::as_str);
        crate::macros::assert_wire_enum(ParentKind::ALL, ParentKind::as_str);
        crate::macros::assert_wire_enum(BenefitStatus::ALL, BenefitStatus::as_str);
    }

    #[test]
    fn every_benefit_transition() {
        use BenefitStatus::*;
        assert_transitions(&[
            (Planned, InRealisation),
            (Planned, Cancelled),
            (InRealisation, Realised),
            (InRealisation, PartlyRealised),
            (InRealisation, NotRealised),
            (InRealisation, Cancelled),
            (PartlyRealised, InRealisation),
            (PartlyRealised, Realised),
            (PartlyRealised, NotRealised),
        ]);
        assert!(Realised.is_final() && NotRealised.is_final() && Cancelled.is_final());
        assert!(!PartlyRealised.is_final());
    }

    #[test]
    fn reasons_required_for_shortfalls() {
        use BenefitStatus::*;
        for to in [PartlyRealised, NotRealised, Cancelled] {
            let from = if to == Cancelled {
                Planned
            } else {
                InRealisation
            };
            assert!(matches!(
                from.transition_with_reason(to, None),
                Err(DomainError::Invalid { ref field, .. }) if field == "reason"
            ));
            assert!(from.transition_with_reason(to, Some("  ")).is_err());
            assert_eq!(
                from.transition_with_reason(to, Some("Leverandør gikk konkurs")),
                Ok(to)
            );
        }
        assert_eq!(
            InRealisation.transition_with_reason(Realised, None),
            Ok(Realised)
        );
        assert!(matches!(
            Realised.transition_with_reason(InRealisation, Some("x")),
            Err(DomainError::InvalidTransition { .. })
        ));
    }

    #[test]
    fn editing_rules() {
        use BenefitStatus::*;
        assert!(Planned.basis_editable() && !InRealisation.basis_editable());
        assert!(InRealisation.plan_editable() && !Realised.plan_editable());
        assert!(Realised.accepts_measurements() && !Cancelled.accepts_measurements());
    }

    #[test]
    fn valid_plans() {
        assert!(increase().problems().is_empty());
        assert!(decrease().problems().is_empty());
        let mut not_priced = increase();
        not_priced.category = BenefitCategory::NotPriced;
        not_priced.yearly_value_nok = None;
        assert!(not_priced.problems().is_empty());
        let mut priced_without_value = increase();
        priced_without_value.yearly_value_nok = None;
        assert!(priced_without_value.problems().is_empty());
    }

    #[test]
    fn target_equal_to_baseline_is_refused() {
        for mut p in [increase(), decrease()] {
            p.target.value = p.baseline.value;
            assert_eq!(fields(&p.problems()), ["target.value"]);
        }
    }

    #[test]
    fn target_on_the_wrong_side_is_refused() {
        let mut p = increase();
        p.target.value = 10.0;
        assert_eq!(fields(&p.problems()), ["target.value"]);
        let mut p = decrease();
        p.target.value = 500.0;
        assert_eq!(fields(&p.problems()), ["target.value"]);
    }

    #[test]
    fn dates_out_of_order_are_refused() {
        let mut p = increase();
        p.target.date = p.baseline.date;
        assert_eq!(fields(&p.problems()), ["target.date"]);
        p.target.date = d(2023, 12, 31);
        assert_eq!(fields(&p.problems()), ["target.date"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut p = increase();
        p.title = " ".into();
        p.owner.org_number = "123".into();
        p.baseline.value = f64::NAN;
        p.target.date = d(2020, 1, 1);
        p.category = BenefitCategory::NotPriced;
        assert_eq!(
            fields(&p.problems()),
            [
                "title",
                "owner.org_number",
                "baseline.value",
                "target.date",
                "yearly_value_nok"
            ]
        );
        let mut p = increase();
        p.yearly_value_nok = Some(-1);
        p.target.value = f64::INFINITY;
        assert_eq!(fields(&p.problems()), ["target.value", "yearly_value_nok"]);
    }

    #[test]
    fn realised_share_increase() {
        let p = increase();
        assert_eq!(p.realised_share(20.0), 0.0);
        assert_eq!(p.realised_share(50.0), 0.5);
        assert_eq!(p.realised_share(80.0), 1.0);
        assert_eq!(p.realised_share(95.0), 1.0, "overshoot is clamped");
        assert_eq!(p.realised_share(5.0), 0.0, "getting worse is clamped");
    }

    #[test]
    fn realised_share_decrease() {
        let p = decrease();
        assert_eq!(p.realised_share(400.0), 0.0);
        assert_eq!(p.realised_share(250.0), 0.5);
        assert_eq!(p.realised_share(325.0), 0.25);
        assert_eq!(p.realised_share(100.0), 1.0);
        assert_eq!(p.realised_share(50.0), 1.0, "overshoot is clamped");
        assert_eq!(p.realised_share(450.0), 0.0, "rising is worse, clamped");
    }

    #[test]
    fn expected_share_is_a_straight_line() {
        let p = increase(); // 2024-01-01 → 2026-01-01, 731 days
        assert_eq!(p.expected_share(d(2023, 6, 1)), 0.0);
        assert_eq!(p.expected_share(d(2024, 1, 1)), 0.0);
        let mid = p.expected_share(d(2025, 1, 1));
        assert!((mid - 366.0 / 731.0).abs() < 1e-12, "{mid}");
        assert_eq!(p.expected_share(d(2026, 1, 1)), 1.0);
        assert_eq!(p.expected_share(d(2030, 1, 1)), 1.0);
    }

    #[test]
    fn rag_margins() {
        let (today, target) = (d(2025, 1, 1), d(2026, 1, 1));
        assert_eq!(rag(0.5, 0.5, today, target), Rag::Green);
        assert_eq!(rag(0.7, 0.5, today, target), Rag::Green, "ahead");
        assert_eq!(
            rag(0.4, 0.5, today, target),
            Rag::Green,
            "exactly the margin"
        );
        assert_eq!(rag(0.39, 0.5, today, target), Rag::Yellow);
        assert_eq!(
            rag(0.25, 0.5, today, target),
            Rag::Yellow,
            "exactly red margin"
        );
        assert_eq!(rag(0.24, 0.5, today, target), Rag::Red);
        // 0.1 + 0.2 rounding must not flip a colour.
        assert_eq!(rag(0.2, 0.1 + 0.2, today, target), Rag::Green);
    }

    #[test]
    fn rag_after_target_date() {
        let target = d(2026, 1, 1);
        assert_eq!(rag(0.95, 1.0, d(2026, 1, 2), target), Rag::Red);
        assert_eq!(rag(1.0, 1.0, d(2026, 1, 2), target), Rag::Green);
        assert_eq!(rag(0.95, 1.0, target, target), Rag::Green, "on the day");
    }

    #[test]
    fn progress_of_a_decrease_indicator() {
        let p = decrease();
        let today = d(2025, 1, 1); // about half-way
        let on_track = progress(
            &p,
            BenefitStatus::InRealisation,
            Some((d(2024, 12, 1), 260.0)),
            today,
            6,
        );
        assert_eq!(on_track.realised_share, Some((400.0 - 260.0) / 300.0));
        assert_eq!(on_track.rag, Some(Rag::Green));
        assert!(!on_track.stale);
        let behind = progress(
            &p,
            BenefitStatus::InRealisation,
            Some((d(2024, 12, 1), 310.0)),
            today,
            6,
        );
        assert_eq!(behind.rag, Some(Rag::Yellow));
        let worse = progress(
            &p,
            BenefitStatus::InRealisation,
            Some((d(2024, 12, 1), 420.0)),
            today,
            6,
        );
        assert_eq!(worse.realised_share, Some(0.0));
        assert_eq!(worse.rag, Some(Rag::Red));
    }

    #[test]
    fn progress_without_measurements_and_staleness() {
        let p = increase();
        let early = progress(&p, BenefitStatus::Planned, None, d(2024, 2, 1), 6);
        assert_eq!(early.realised_share, None);
        assert_eq!(early.rag, Some(Rag::Green));
        assert!(!early.stale, "planned benefits are not followed up yet");
        let silent = progress(&p, BenefitStatus::InRealisation, None, d(2024, 7, 2), 6);
        assert!(
            silent.stale,
            "six months after the baseline, nothing measured"
        );
        let edge = progress(&p, BenefitStatus::InRealisation, None, d(2024, 7, 1), 6);
        assert!(!edge.stale, "exactly six months is not more than six");
        let measured = progress(
            &p,
            BenefitStatus::InRealisation,
            Some((d(2024, 6, 1), 30.0)),
            d(2024, 12, 1),
            6,
        );
        assert!(!measured.stale);
        let realised = progress(
            &p,
            BenefitStatus::Realised,
            Some((d(2024, 6, 1), 90.0)),
            d(2027, 1, 1),
            6,
        );
        assert!(!realised.stale);
        assert_eq!(realised.rag, Some(Rag::Green));
        let cancelled = progress(&p, BenefitStatus::Cancelled, None, d(2025, 1, 1), 6);
        assert_eq!(cancelled.rag, None);
    }

    #[test]
    fn latest_effective_ignores_corrected_measurements() {
        assert_eq!(latest_effective(&[]), None);
        let series = [
            m(1, d(2024, 6, 1), 30.0, None),
            m(2, d(2024, 12, 1), 90.0, None),
            // Typo in #2 (90 instead of 40) corrected.
            m(3, d(2024, 12, 1), 40.0, Some(2)),
        ];
        assert_eq!(latest_effective(&series).map(|m| m.id), Some(3));
        // A correction that moves the date back: #1 is now the latest measured.
        let series = [
            m(1, d(2024, 6, 1), 30.0, None),
            m(2, d(2024, 12, 1), 90.0, None),
            m(3, d(2024, 3, 1), 25.0, Some(2)),
        ];
        assert_eq!(latest_effective(&series).map(|m| m.id), Some(1));
        // Correcting a correction: only the newest link counts.
        let series = [
            m(1, d(2024, 6, 1), 30.0, None),
            m(2, d(2024, 6, 1), 35.0, Some(1)),
            m(3, d(2024, 6, 1), 33.0, Some(2)),
        ];
        assert_eq!(latest_effective(&series).map(|m| m.value), Some(33.0));
        // Same date, no correction: the later recording wins.
        let series = [
            m(1, d(2024, 6, 1), 30.0, None),
            m(2, d(2024, 6, 1), 31.0, None),
        ];
        assert_eq!(latest_effective(&series).map(|m| m.id), Some(2));
    }

    #[test]
    fn measurement_checks() {
        let p = increase();
        let today = d(2025, 1, 1);
        let series = [
            m(1, d(2024, 6, 1), 30.0, None),
            m(2, d(2024, 9, 1), 35.0, Some(1)),
        ];
        let ok = NewMeasurement {
            measured_on: d(2024, 12, 1),
            value: 45.0,
            source: "Registeruttrekk",
            note: None,
            corrects: None,
        };
        let status = BenefitStatus::InRealisation;
        assert_eq!(check_measurement(status, &p, &series, &ok, today), Ok(()));
        let bad = NewMeasurement {
            measured_on: d(2025, 2, 1),
            value: f64::NAN,
            source: "",
            note: Some(""),
            corrects: Some(99),
        };
        let errors = check_measurement(status, &p, &series, &bad, today).expect_err("refused");
        assert_eq!(
            fields(&errors),
            ["value", "measured_on", "source", "note", "corrects"]
        );
        let before_baseline = NewMeasurement {
            measured_on: d(2023, 12, 31),
            ..ok.clone()
        };
        let errors =
            check_measurement(status, &p, &series, &before_baseline, today).expect_err("refused");
        assert_eq!(fields(&errors), ["measured_on"]);
        let twice = NewMeasurement {
            corrects: Some(1),
            ..ok.clone()
        };
        assert!(matches!(
            check_measurement(status, &p, &series, &twice, today)
                .expect_err("refused")
                .as_slice(),
            [DomainError::Conflict(_)]
        ));
        let chain = NewMeasurement {
            corrects: Some(2),
            ..ok.clone()
        };
        assert_eq!(
            check_measurement(status, &p, &series, &chain, today),
            Ok(())
        );
        assert!(matches!(
            check_measurement(BenefitStatus::Cancelled, &p, &series, &ok, today)
                .expect_err("refused")
                .as_slice(),
            [DomainError::Conflict(_)]
        ));
        assert_eq!(
            check_measurement(BenefitStatus::NotRealised, &p, &series, &ok, today),
            Ok(())
        );
    }
}
