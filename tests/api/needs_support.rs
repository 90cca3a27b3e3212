//! Moved to `support/fixtures.rs`; re-exported here for test files written before.

#[allow(unused_imports)]
pub use crate::support::{accepted_needs, with_costs};
