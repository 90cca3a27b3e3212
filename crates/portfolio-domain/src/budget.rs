//! Budget frames: the yearly money of one sub-portfolio, in whole NOK.

use serde::Serialize;

use crate::error::DomainError;
use crate::macros::wire_enum;

wire_enum! {
    /// A sub-portfolio of the regional ICT portfolio that can hold a budget frame.
    pub enum SubPortfolio {
        /// Concept studies started by the portfolio board.
        ConceptStudies => "concept_studies",
        /// Interregional studies run on behalf of all four regions.
        Interregional => "interregional",
        /// The improvement portfolio (measures delivered by the IT partner).
        Improvement => "improvement",
        /// Anything else the region budgets for separately.
        Other => "other",
    }
}

wire_enum! {
    /// Who made an allocation from a frame.
    pub enum AllocationKind {
        /// Made directly by the portfolio office.
        Direct => "direct",
        /// A concept study's budget, made by a board decision.
        Study => "study",
    }
}

wire_enum! {
    /// Whether an allocation still holds its money.
    pub enum AllocationStatus {
        /// Holds its amount.
        Active => "active",
        /// Its unspent money went back to the frame.
        Released => "released",
    }
}

wire_enum! {
    /// What one entry of a frame's history records.
    pub enum FrameAction {
        /// The frame was created.
        Created => "created",
        /// Its amount was changed.
        AmountChanged => "amount_changed",
        /// Money was allocated from it.
        Allocated => "allocated",
        /// An allocation's unspent money came back.
        Released => "released",
        /// Money was spent from an allocation.
        Spent => "spent",
    }
}

/// Refuses negative amounts. All money is whole NOK in `i64`: no rounding, and
/// room far beyond any real budget.
pub fn validate_nok(field: &str, amount: i64) -> Result<(), DomainError> {
    if amount < 0 {
        Err(DomainError::invalid(
            field,
            format!("{amount} NOK: amounts must not be negative"),
        ))
    } else {
        Ok(())
    }
}

/// Money of one frame. Invariant: `0 ≤ spent ≤ allocated ≤ amount`; every method
/// keeps it, so allocations can never exceed the frame.
///
/// The type checks one frame in memory; the API must still serialise concurrent
/// changes (row lock) so two requests cannot both pass the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BudgetFrame {
    amount: i64,
    allocated: i64,
    spent: i64,
}

impl BudgetFrame {
    /// A new frame with nothing allocated.
    pub fn new(amount: i64) -> Result<Self, DomainError> {
        Self::from_parts(amount, 0, 0)
    }

    /// Rebuilds a frame from stored numbers, checking the invariant.
    pub fn from_parts(amount: i64, allocated: i64, spent: i64) -> Result<Self, DomainError> {
        validate_nok("amount", amount)?;
        validate_nok("allocated", allocated)?;
        validate_nok("spent", spent)?;
        if allocated > amount {
            return Err(DomainError::invalid(
                "allocated",
                "is more than the frame amount",
            ));
        }
        if spent > allocated {
            return Err(DomainError::invalid(
                "spent",
                "is more than the allocated amount",
            ));
        }
        Ok(Self {
            amount,
            allocated,
            spent,
        })
    }

    /// Size of the frame.
    pub const fn amount(&self) -> i64 {
        self.amount
    }

    /// Money promised to studies or measures.
    pub const fn allocated(&self) -> i64 {
        self.allocated
    }

    /// Money actually used out of the allocations.
    pub const fn spent(&self) -> i64 {
        self.spent
    }

    /// Money not yet allocated.
    pub const fn remaining(&self) -> i64 {
        self.amount - self.allocated
    }

    /// Allocates `amount` (> 0) or changes nothing.
    pub fn allocate(&mut self, amount: i64) -> Result<(), DomainError> {
        positive("amount", amount)?;
        if amount > self.remaining() {
            return Err(DomainError::BudgetExceeded {
                requested: amount,
                remaining: self.remaining(),
            });
        }
        self.allocated += amount;
        Ok(())
    }

    /// Gives back `amount` (> 0) of the allocation, e.g. the unspent part of a
    /// cancelled study. Money already spent cannot be given back.
    pub fn release(&mut self, amount: i64) -> Result<(), DomainError> {
        positive("amount", amount)?;
        let releasable = self.allocated - self.spent;
        if amount > releasable {
            return Err(DomainError::invalid(
                "amount",
                format!("only {releasable} NOK of the allocation is unspent and can be released"),
            ));
        }
        self.allocated -= amount;
        Ok(())
    }

    /// Records `amount` (> 0) as spent; spending beyond the allocations is refused.
    pub fn record_spent(&mut self, amount: i64) -> Result<(), DomainError> {
        positive("amount", amount)?;
        let unspent = self.allocated - self.spent;
        if amount > unspent {
            return Err(DomainError::BudgetExceeded {
                requested: amount,
                remaining: unspent,
            });
        }
        self.spent += amount;
        Ok(())
    }

    /// Resizes the frame; it can never shrink below what is already allocated.
    pub fn set_amount(&mut self, new_amount: i64) -> Result<(), DomainError> {
        validate_nok("amount", new_amount)?;
        if new_amount < self.allocated {
            return Err(DomainError::conflict(format!(
                "the frame cannot be set to {new_amount} NOK: {} NOK is already allocated",
                self.allocated
            )));
        }
        self.amount = new_amount;
        Ok(())
    }
}

fn positive(field: &str, amount: i64) -> Result<(), DomainError> {
    if amount > 0 {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("{amount} NOK: must be greater than 0"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(SubPortfolio::ALL, SubPortfolio::as_str);
        crate::macros::assert_wire_enum(AllocationKind::ALL, AllocationKind::as_str);
        crate::macros::assert_wire_enum(AllocationStatus::ALL, AllocationStatus::as_str);
        crate::macros::assert_wire_enum(FrameAction::ALL, FrameAction::as_str);
    }

    #[test]
    fn frame_lifecycle() {
        let mut f = BudgetFrame::new(10_000_000).expect("frame");
        assert_eq!(f.remaining(), 10_000_000);
        f.allocate(6_000_000).expect("fits");
        assert_eq!(
            f.allocate(4_000_001),
            Err(DomainError::BudgetExceeded {
                requested: 4_000_001,
                remaining: 4_000_000
            })
        );
        assert_eq!(
            f.allocated(),
            6_000_000,
            "failed allocation changes nothing"
        );
        f.allocate(4_000_000).expect("exactly fits");
        assert_eq!(f.remaining(), 0);
        assert!(f.allocate(1).is_err());
        assert!(f.allocate(0).is_err() && f.allocate(-5).is_err());

        f.record_spent(1_000_000).expect("spend");
        assert!(matches!(
            f.record_spent(9_000_001),
            Err(DomainError::BudgetExceeded { .. })
        ));
        assert!(
            f.release(9_000_001).is_err(),
            "spent money cannot be released"
        );
        f.release(9_000_000).expect("release unspent");
        assert_eq!(
            (f.allocated(), f.spent(), f.remaining()),
            (1_000_000, 1_000_000, 9_000_000)
        );

        assert!(matches!(
            f.set_amount(999_999),
            Err(DomainError::Conflict(_))
        ));
        f.set_amount(1_000_000).expect("down to allocated");
        assert_eq!(f.remaining(), 0);
        assert!(f.set_amount(-1).is_err());
        f.set_amount(i64::MAX).expect("huge");
        f.allocate(i64::MAX - 1_000_000).expect("no overflow");
    }

    #[test]
    fn from_parts_checks_invariant() {
        assert!(BudgetFrame::from_parts(10, 5, 5).is_ok());
        assert!(BudgetFrame::from_parts(10, 11, 0).is_err());
        assert!(BudgetFrame::from_parts(10, 5, 6).is_err());
        assert!(BudgetFrame::from_parts(-1, 0, 0).is_err());
        assert!(BudgetFrame::from_parts(10, -1, -2).is_err());
        assert!(validate_nok("x", 0).is_ok() && validate_nok("x", -1).is_err());
    }
}
