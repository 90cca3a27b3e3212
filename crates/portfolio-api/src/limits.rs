//! The domain's limits in the type the validator attributes take (`u64`): each value comes
//! from its constant in the domain crate, so a limit is written down once. The contract's
//! `schema` attributes need literals; `tests/api/contract_limits.rs` keeps them equal.

use portfolio_domain::{benefit, criteria, need, service_area, study};

pub const TITLE_MAX: u64 = need::TITLE_MAX as u64;
pub const LONG_TEXT_MAX: u64 = need::LONG_TEXT_MAX as u64;
pub const REASON_MAX: u64 = need::REASON_MAX as u64;
pub const BENEFIT_SHORT_TEXT_MAX: u64 = benefit::SHORT_TEXT_MAX as u64;
pub const CRITERION_CODE_MAX: u64 = criteria::CODE_MAX as u64;
pub const CRITERION_NAME_MAX: u64 = criteria::NAME_MAX as u64;
pub const CRITERION_DESCRIPTION_MAX: u64 = criteria::DESCRIPTION_MAX as u64;
pub const PARTY_NAME_MAX: u64 = service_area::PARTY_NAME_MAX as u64;
pub const ON_BEHALF_OF_MAX: u64 = study::ON_BEHALF_OF_MAX as u64;
