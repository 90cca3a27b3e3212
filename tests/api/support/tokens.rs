//! The scopes a test token can carry, defined once. A constant holds every scope a caller of
//! that role has (reading comes with every role but the IT partner's sync).
//!
//! Mint a token with `app.token(SCOPE, Some(org))` or authenticate a request with
//! `.auth(SCOPE, Some(org))`; an organisation comes from [`super::orgs`].

/// Anyone in the region: read only.
pub const READ: &str = "portfolio:read";
/// The portfolio office: manage cycles, criteria, frames, measures, cases.
pub const MANAGE: &str = "portfolio:read portfolio:manage";
/// The portfolio office under its older name in the needs tests.
pub const OFFICE: &str = MANAGE;
/// A health trust reporting needs.
pub const SUBMIT: &str = "portfolio:read portfolio:submit";
/// A health trust scoring needs in prioritisation.
pub const SCORE: &str = "portfolio:read portfolio:score";
/// The portfolio board deciding cases.
pub const DECIDE: &str = "portfolio:read portfolio:decide";
/// The IT partner's delivery-status sync (no read scope).
pub const SYNC: &str = "portfolio:sync";
