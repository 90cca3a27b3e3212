//! The yearly cycle from intake to the board's decision.

use crate::error::DomainError;
use crate::macros::wire_enum;

wire_enum! {
    /// Where a cycle year is. Phases only move forward, one step at a time, so
    /// every need of the year has been through each step before the next starts.
    pub enum CyclePhase {
        /// Needs are being reported.
        Intake => "intake",
        /// The portfolio office screens reported needs.
        FirstAssessment => "first_assessment",
        /// Health trusts score accepted needs.
        Prioritisation => "prioritisation",
        /// The board has decided; the year is closed.
        Decided => "decided",
    }
}

impl CyclePhase {
    /// The phase after this one, `None` for [`CyclePhase::Decided`].
    pub const fn next(self) -> Option<Self> {
        match self {
            Self::Intake => Some(Self::FirstAssessment),
            Self::FirstAssessment => Some(Self::Prioritisation),
            Self::Prioritisation => Some(Self::Decided),
            Self::Decided => None,
        }
    }

    /// Allows `from -> to` only when `to` is the phase directly after `from`;
    /// skipping (e.g. straight to prioritisation) or going back would let needs
    /// bypass a step.
    pub fn advance(from: Self, to: Self) -> Result<(), DomainError> {
        if from.next() == Some(to) {
            Ok(())
        } else {
            Err(DomainError::transition("cycle", from, to))
        }
    }
}

/// Refuses an operation unless the cycle is in `required`; the message names the
/// phase that allows it so the caller knows what to wait for.
pub fn require_phase(current: CyclePhase, required: CyclePhase) -> Result<(), DomainError> {
    if current == required {
        Ok(())
    } else {
        Err(DomainError::conflict(format!(
            "this operation is only allowed in the '{required}' phase; the cycle is in the '{current}' phase"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(CyclePhase::ALL, CyclePhase::as_str);
    }

    #[test]
    fn advance_only_to_next_phase() {
        for &from in CyclePhase::ALL {
            for &to in CyclePhase::ALL {
                let ok = CyclePhase::advance(from, to).is_ok();
                assert_eq!(ok, from.next() == Some(to), "{from} -> {to}");
            }
        }
        assert!(CyclePhase::advance(CyclePhase::Intake, CyclePhase::FirstAssessment).is_ok());
        assert!(CyclePhase::advance(CyclePhase::Intake, CyclePhase::Prioritisation).is_err());
        assert!(CyclePhase::advance(CyclePhase::Decided, CyclePhase::Intake).is_err());
        assert_eq!(CyclePhase::Decided.next(), None);
    }

    #[test]
    fn require_phase_names_allowed_phase() {
        assert!(require_phase(CyclePhase::Prioritisation, CyclePhase::Prioritisation).is_ok());
        let err =
            require_phase(CyclePhase::Intake, CyclePhase::Prioritisation).expect_err("wrong phase");
        match err {
            DomainError::Conflict(msg) => {
                assert!(msg.contains("'prioritisation' phase"), "{msg}");
                assert!(msg.contains("'intake'"), "{msg}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
