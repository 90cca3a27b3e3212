//! Needs (behov): status, origin, human reference, and the text checks used by every
//! module that accepts free text.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::DomainError;
use crate::macros::wire_enum;
use crate::state::StateMachine;

/// Longest need title, in characters.
pub const TITLE_MAX: usize = 200;
/// Longest long-form text (description, expected benefit, reasons), in characters.
pub const LONG_TEXT_MAX: usize = 10_000;
/// Longest reason for a rejection or other decision, in characters.
pub const REASON_MAX: usize = 2_000;

wire_enum! {
    /// Status of a need. The normal path is a state machine (see
    /// [`StateMachine`]); undoing a first assessment is the separate
    /// [`NeedStatus::reopen`] so it cannot happen by accident.
    pub enum NeedStatus {
        /// Reported, awaiting first assessment.
        Submitted => "submitted",
        /// Accepted into the needs portfolio.
        Accepted => "accepted",
        /// Rejected at first assessment (a reason is mandatory).
        Rejected => "rejected",
        /// Withdrawn by its reporter before assessment.
        Withdrawn => "withdrawn",
        /// Not chosen this year; carried to next year's cycle.
        Deferred => "deferred",
        /// Not chosen and not carried forward.
        Declined => "declined",
        /// The board started a concept study for it.
        StudyStarted => "study_started",
    }
}

impl StateMachine for NeedStatus {
    const ENTITY: &'static str = "need";

    fn can_transition_to(self, to: Self) -> bool {
        use NeedStatus::*;
        matches!(
            (self, to),
            (Submitted, Accepted | Rejected | Withdrawn)
                | (Accepted, Deferred | Declined | StudyStarted)
        )
    }

    fn all() -> &'static [Self] {
        Self::ALL
    }
}

impl NeedStatus {
    /// Whether moving into this status needs a written reason. Only rejection does:
    /// the reporter must be told why the need was turned down.
    pub const fn requires_reason(self) -> bool {
        matches!(self, Self::Rejected)
    }

    /// Like [`StateMachine::transition`], and also demands a non-blank reason when
    /// the target status [requires one](NeedStatus::requires_reason).
    pub fn transition_with_reason(
        self,
        to: Self,
        reason: Option<&str>,
    ) -> Result<Self, DomainError> {
        let next = self.transition(to)?;
        validate_optional_text("reason", reason, REASON_MAX)?;
        if to.requires_reason() && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(DomainError::invalid(
                "reason",
                format!("a reason is required when a need is {to}"),
            ));
        }
        Ok(next)
    }

    /// Undoes a first assessment (`accepted`/`rejected` → `submitted`), e.g. after a
    /// mistake. Kept apart from the normal transitions so the API can give it its
    /// own permission and audit entry.
    pub fn reopen(self) -> Result<Self, DomainError> {
        match self {
            Self::Accepted | Self::Rejected => Ok(Self::Submitted),
            other => Err(DomainError::transition("need", other, Self::Submitted)),
        }
    }
}

wire_enum! {
    /// Where a need comes from.
    pub enum Origin {
        /// A professional community (fagmiljø).
        ProfessionalCommunity => "professional_community",
        /// Users of the services.
        Users => "users",
        /// A supplier.
        Supplier => "supplier",
        /// A new regulatory requirement.
        RegulatoryRequirement => "regulatory_requirement",
    }
}

/// Human reference of a need, `B-{year}-{nnn}`, e.g. `B-2022-017`.
///
/// The sequence number is zero-padded to three digits and simply grows past 999
/// (`B-2022-1000`). Only the canonical spelling parses, so one need never has two
/// references. Ordering is by year, then sequence number (numeric, so
/// `B-2022-999 < B-2022-1000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NeedReference {
    year: i32,
    seq: u32,
}

impl NeedReference {
    /// A reference for sequence number `seq` (1-based) of `year` (1000..=9999).
    pub fn new(year: i32, seq: u32) -> Result<Self, DomainError> {
        if !(1000..=9999).contains(&year) {
            return Err(DomainError::invalid(
                "reference",
                "year must have four digits",
            ));
        }
        if seq == 0 {
            return Err(DomainError::invalid(
                "reference",
                "sequence numbers start at 1",
            ));
        }
        Ok(Self { year, seq })
    }

    /// The cycle year.
    pub const fn year(self) -> i32 {
        self.year
    }

    /// The sequence number within the year.
    pub const fn seq(self) -> u32 {
        self.seq
    }
}

impl fmt::Display for NeedReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B-{}-{:03}", self.year, self.seq)
    }
}

impl FromStr for NeedReference {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            DomainError::invalid(
                "reference",
                format!("{s:?} is not a need reference like B-2022-017"),
            )
        };
        let rest = s.strip_prefix("B-").ok_or_else(bad)?;
        let (year, seq) = rest.split_once('-').ok_or_else(bad)?;
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if year.len() != 4 || !all_digits(year) || seq.len() < 3 || !all_digits(seq) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let seq: u32 = seq.parse().map_err(|_| bad())?;
        let parsed = Self::new(year, seq).map_err(|_| bad())?;
        // Reject extra leading zeros (B-2022-0017) so each need has exactly one spelling.
        if parsed.to_string() != s {
            return Err(bad());
        }
        Ok(parsed)
    }
}

impl Serialize for NeedReference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NeedReference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a free-text field: when `required`, it must not be empty or whitespace
/// only; it may be at most `max_len` characters (Unicode scalar values, not bytes,
/// so Norwegian letters count as one); and it must not contain NUL, which
/// PostgreSQL text columns cannot store.
pub fn validate_text(
    field: &str,
    value: &str,
    max_len: usize,
    required: bool,
) -> Result<(), DomainError> {
    if required && value.trim().is_empty() {
        return Err(DomainError::invalid(
            field,
            "is required and must not be blank",
        ));
    }
    let len = value.chars().count();
    if len > max_len {
        return Err(DomainError::invalid(
            field,
            format!("is {len} characters long; at most {max_len} are allowed"),
        ));
    }
    if value.contains('\u{0}') {
        return Err(DomainError::invalid(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// [`validate_text`] for an optional field: `None` is fine, `Some` must be non-blank.
pub fn validate_optional_text(
    field: &str,
    value: Option<&str>,
    max_len: usize,
) -> Result<(), DomainError> {
    match value {
        None => Ok(()),
        Some(v) => validate_text(field, v, max_len, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::assert_transitions;

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(NeedStatus::ALL, NeedStatus::as_str);
        crate::macros::assert_wire_enum(Origin::ALL, Origin::as_str);
    }

    #[test]
    fn every_need_transition() {
        use NeedStatus::*;
        assert_transitions(&[
            (Submitted, Accepted),
            (Submitted, Rejected),
            (Submitted, Withdrawn),
            (Accepted, Deferred),
            (Accepted, Declined),
            (Accepted, StudyStarted),
        ]);
        for s in [Rejected, Withdrawn, Deferred, Declined, StudyStarted] {
            assert!(s.is_final(), "{s}");
        }
    }

    #[test]
    fn reopen_only_from_assessed() {
        for &s in NeedStatus::ALL {
            let r = s.reopen();
            if matches!(s, NeedStatus::Accepted | NeedStatus::Rejected) {
                assert_eq!(r, Ok(NeedStatus::Submitted));
            } else {
                assert!(
                    matches!(r, Err(DomainError::InvalidTransition { .. })),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn rejection_needs_reason() {
        let s = NeedStatus::Submitted;
        assert!(s
            .transition_with_reason(NeedStatus::Rejected, None)
            .is_err());
        assert!(s
            .transition_with_reason(NeedStatus::Rejected, Some("  "))
            .is_err());
        assert_eq!(
            s.transition_with_reason(NeedStatus::Rejected, Some("out of scope")),
            Ok(NeedStatus::Rejected)
        );
        assert_eq!(
            s.transition_with_reason(NeedStatus::Accepted, None),
            Ok(NeedStatus::Accepted)
        );
    }

    #[test]
    fn reference_format_and_parse() {
        let r = NeedReference::new(2022, 17).expect("valid");
        assert_eq!(r.to_string(), "B-2022-017");
        assert_eq!("B-2022-017".parse::<NeedReference>(), Ok(r));
        let big = NeedReference::new(2022, 1000).expect("valid");
        assert_eq!(big.to_string(), "B-2022-1000");
        assert_eq!("B-2022-1000".parse::<NeedReference>(), Ok(big));
        assert!(NeedReference::new(2022, 999).expect("valid") < big);
        for bad in [
            "",
            "B-2022-17",
            "B-2022-0017",
            "B-2022-000",
            "b-2022-017",
            "B-22-017",
            "B-2022-01a",
            "B-2022-",
            "B2022-017",
            "B-2022-017 ",
            "B-+022-017",
            "B-2022-+17",
            "B-2022-99999999999",
        ] {
            assert!(bad.parse::<NeedReference>().is_err(), "{bad}");
        }
        assert!(NeedReference::new(2022, 0).is_err());
        assert!(NeedReference::new(99, 1).is_err());
    }

    #[test]
    fn text_validation() {
        assert!(validate_text("title", "Tidlig ultralyd", 200, true).is_ok());
        assert!(validate_text("title", "", 200, false).is_ok());
        assert!(validate_text("title", "", 200, true).is_err());
        assert!(validate_text("title", " \t\n", 200, true).is_err());
        assert!(validate_text("title", "a\u{0}b", 200, false).is_err());
        // Characters, not bytes: five letters that take ten bytes.
        assert!(validate_text("title", "æøåÆØ", 5, true).is_ok());
        assert!(validate_text("title", "æøåÆØx", 5, true).is_err());
        match validate_text("title", "", 5, true) {
            Err(DomainError::Invalid { field, .. }) => assert_eq!(field, "title"),
            other => panic!("{other:?}"),
        }
        assert!(validate_optional_text("comment", None, 5).is_ok());
        assert!(validate_optional_text("comment", Some(" "), 5).is_err());
    }
}
