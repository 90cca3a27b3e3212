//! Concept studies, the concepts they yield, and decision points.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{DomainError, FieldIssue, FieldPath};
use crate::macros::wire_enum;
use crate::state::StateMachine;

wire_enum! {
    /// Status of a concept study.
    pub enum StudyStatus {
        /// Decided but not begun.
        NotStarted => "not_started",
        /// Under way.
        InProgress => "in_progress",
        /// Temporarily stopped.
        Paused => "paused",
        /// Finished (final).
        Completed => "completed",
        /// Stopped for good (final).
        Cancelled => "cancelled",
    }
}

impl StateMachine for StudyStatus {
    const ENTITY: &'static str = "study";

    fn can_transition_to(self, to: Self) -> bool {
        use StudyStatus::*;
        matches!(
            (self, to),
            (NotStarted, InProgress | Paused | Cancelled)
                | (InProgress, Paused | Completed | Cancelled)
                | (Paused, InProgress | Cancelled)
        )
    }

    fn all() -> &'static [Self] {
        Self::ALL
    }
}

wire_enum! {
    /// Status of a concept in the concept portfolio.
    pub enum ConceptStatus {
        /// Being taken forward.
        Active => "active",
        /// On hold.
        Paused => "paused",
        /// Realised as a project or service (final).
        Realised => "realised",
        /// Given up (final).
        Discontinued => "discontinued",
    }
}

impl StateMachine for ConceptStatus {
    const ENTITY: &'static str = "concept";

    fn can_transition_to(self, to: Self) -> bool {
        use ConceptStatus::*;
        matches!(
            (self, to),
            (Active, Paused | Realised | Discontinued) | (Paused, Active | Discontinued)
        )
    }

    fn all() -> &'static [Self] {
        Self::ALL
    }
}

wire_enum! {
    /// Decision points of the public-sector project model.
    pub enum DecisionPoint {
        /// BP1: start a concept study.
        Bp1 => "bp1",
        /// BP2: start planning a project.
        Bp2 => "bp2",
        /// BP3: start execution.
        Bp3 => "bp3",
        /// BP4: close (hand over).
        Bp4 => "bp4",
        /// BP5: close (final evaluation).
        Bp5 => "bp5",
    }
}

impl DecisionPoint {
    /// Upper-case label as used in board papers, e.g. `BP1`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Bp1 => "BP1",
            Self::Bp2 => "BP2",
            Self::Bp3 => "BP3",
            Self::Bp4 => "BP4",
            Self::Bp5 => "BP5",
        }
    }
}

/// Inclusive date range, e.g. an expected completion given as a season ("late
/// summer / early autumn 2023" → 2023-08-15..=2023-10-15). Always `from ≤ to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawDateRange")]
pub struct DateRange {
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Deserialize)]
struct RawDateRange {
    from: NaiveDate,
    to: NaiveDate,
}

impl TryFrom<RawDateRange> for DateRange {
    type Error = DomainError;

    fn try_from(raw: RawDateRange) -> Result<Self, Self::Error> {
        Self::new(raw.from, raw.to)
    }
}

impl DateRange {
    /// A range; refuses `from > to`. A single day is `from == to`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, DomainError> {
        if from > to {
            return Err(DomainError::invalid("to", format!("{to} is before {from}")));
        }
        Ok(Self { from, to })
    }

    /// First day.
    pub const fn from(&self) -> NaiveDate {
        self.from
    }

    /// Last day.
    pub const fn to(&self) -> NaiveDate {
        self.to
    }

    /// Whether `date` lies in the range.
    pub fn contains(&self, date: NaiveDate) -> bool {
        (self.from..=self.to).contains(&date)
    }
}

/// A study's money: what the board allocated and what has been spent of it.
/// Invariant `0 ≤ spent ≤ allocated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StudyBudget {
    allocated: i64,
    spent: i64,
}

impl StudyBudget {
    /// A budget with nothing spent; `allocated` must not be negative.
    pub fn new(allocated: i64) -> Result<Self, DomainError> {
        Self::from_parts(allocated, 0)
    }

    /// Rebuilds a budget from stored numbers, checking the invariant.
    pub fn from_parts(allocated: i64, spent: i64) -> Result<Self, DomainError> {
        crate::budget::validate_nok("allocated", allocated)?;
        crate::budget::validate_nok("spent", spent)?;
        if spent > allocated {
            return Err(DomainError::invalid(
                "spent",
                "is more than the allocated amount",
            ));
        }
        Ok(Self { allocated, spent })
    }

    /// Money allocated.
    pub const fn allocated(&self) -> i64 {
        self.allocated
    }

    /// Money spent.
    pub const fn spent(&self) -> i64 {
        self.spent
    }

    /// Money allocated but not spent.
    pub const fn unspent(&self) -> i64 {
        self.allocated - self.spent
    }

    /// Adds `amount` (> 0) to spent; spending more than allocated is refused
    /// (the board must allocate more first).
    pub fn record_spent(&mut self, amount: i64) -> Result<(), DomainError> {
        if amount <= 0 {
            return Err(DomainError::invalid("amount", "must be greater than 0"));
        }
        if amount > self.unspent() {
            return Err(DomainError::BudgetExceeded {
                requested: amount,
                remaining: self.unspent(),
            });
        }
        self.spent += amount;
        Ok(())
    }
}

/// Most regional authorities an interregional study is run on behalf of.
pub const ON_BEHALF_OF_MAX: usize = 10;

/// Who a study is run for: its own region, or — an interregional study (interregional
/// konseptutredning) — one region on behalf of several, named in `on_behalf_of` (each once,
/// at most [`ON_BEHALF_OF_MAX`]). Every problem, with fields relative to the study
/// (`on_behalf_of`, `on_behalf_of[2]`). Whether the organisations are regional health
/// authorities needs the register and is the caller's check.
pub fn interregional_issues<T: PartialEq>(
    interregional: bool,
    on_behalf_of: &[T],
) -> Vec<FieldIssue> {
    let mut out = Vec::new();
    let field = || FieldPath::from("on_behalf_of");
    if !interregional && !on_behalf_of.is_empty() {
        out.push(FieldIssue::new(
            field(),
            "only an interregional study is run on behalf of other regions",
        ));
    }
    if interregional && on_behalf_of.is_empty() {
        out.push(FieldIssue::new(
            field(),
            "an interregional study names the regional authorities it is run on behalf of",
        ));
    }
    if on_behalf_of.len() > ON_BEHALF_OF_MAX {
        out.push(FieldIssue::new(
            field(),
            format!("must have at most {ON_BEHALF_OF_MAX} items"),
        ));
    }
    for (j, o) in on_behalf_of.iter().enumerate() {
        if on_behalf_of[..j].contains(o) {
            out.push(FieldIssue::new(
                field().index(j),
                "is listed more than once",
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::assert_transitions;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(StudyStatus::ALL, StudyStatus::as_str);
        crate::macros::assert_wire_enum(ConceptStatus::ALL, ConceptStatus::as_str);
        crate::macros::assert_wire_enum(DecisionPoint::ALL, DecisionPoint::as_str);
        assert_eq!(DecisionPoint::Bp3.label(), "BP3");
    }

    #[test]
    fn every_study_transition() {
        use StudyStatus::*;
        assert_transitions(&[
            (NotStarted, InProgress),
            (NotStarted, Paused),
            (NotStarted, Cancelled),
            (InProgress, Paused),
            (InProgress, Completed),
            (InProgress, Cancelled),
            (Paused, InProgress),
            (Paused, Cancelled),
        ]);
        assert!(Completed.is_final() && Cancelled.is_final());
        assert!(!NotStarted.is_final() && !InProgress.is_final() && !Paused.is_final());
    }

    #[test]
    fn every_concept_transition() {
        use ConceptStatus::*;
        assert_transitions(&[
            (Active, Paused),
            (Active, Realised),
            (Active, Discontinued),
            (Paused, Active),
            (Paused, Discontinued),
        ]);
        assert!(Realised.is_final() && Discontinued.is_final());
    }

    #[test]
    fn date_range() {
        let r = DateRange::new(d(2023, 8, 15), d(2023, 10, 15)).expect("valid");
        assert!(r.contains(d(2023, 9, 1)) && !r.contains(d(2023, 10, 16)));
        assert!(DateRange::new(d(2023, 1, 1), d(2023, 1, 1)).is_ok());
        assert!(DateRange::new(d(2023, 1, 2), d(2023, 1, 1)).is_err());
    }

    #[test]
    fn spending() {
        let mut b = StudyBudget::new(1_500_000).expect("budget");
        b.record_spent(1_000_000).expect("fits");
        assert_eq!(
            b.record_spent(500_001),
            Err(DomainError::BudgetExceeded {
                requested: 500_001,
                remaining: 500_000
            })
        );
        b.record_spent(500_000).expect("exactly");
        assert_eq!((b.spent(), b.unspent()), (1_500_000, 0));
        assert!(b.record_spent(0).is_err());
        assert!(StudyBudget::new(-1).is_err());
        assert!(StudyBudget::from_parts(10, 11).is_err());
    }

    #[test]
    fn interregional_status_names_the_regions() {
        let four = ["991324968", "983658725", "983658776", "883658752"];
        assert!(interregional_issues(true, &four).is_empty());
        assert!(interregional_issues::<&str>(false, &[]).is_empty());
        let fields = |issues: Vec<FieldIssue>| -> Vec<String> {
            issues.into_iter().map(|i| i.field.to_string()).collect()
        };
        assert_eq!(
            fields(interregional_issues::<&str>(true, &[])),
            ["on_behalf_of"]
        );
        assert_eq!(fields(interregional_issues(false, &four)), ["on_behalf_of"]);
        assert_eq!(
            fields(interregional_issues(
                true,
                &["991324968", "983658725", "991324968"]
            )),
            ["on_behalf_of[2]"]
        );
        assert_eq!(
            fields(interregional_issues(true, &[0; ON_BEHALF_OF_MAX + 1]))[0],
            "on_behalf_of"
        );
    }
}
