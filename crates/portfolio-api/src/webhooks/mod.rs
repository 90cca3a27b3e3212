//! Webhooks: signed push notifications of the change feed (Standard Webhooks).
//!
//! The feed stays the source of truth; each subscription has a cursor into it that the
//! delivery worker moves as receivers acknowledge events. See docs/INTEGRATING.md.

pub mod claim;
pub mod lanes;
pub mod priority;
pub mod send;
pub mod signature;
pub mod target;
pub mod wakeup;
pub mod worker;
