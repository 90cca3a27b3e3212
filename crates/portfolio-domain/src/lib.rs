//! The rules of the regional ICT portfolio: needs, criteria and scoring, ranking,
//! budget frames, board decisions, concept studies, selection scenarios, improvement
//! measures and tertials. Pure functions and types only: no HTTP, no SQL, no clock. The
//! optional `diesel` feature adds only the `text` column mapping of the wire enums and
//! `OrgNumber` (`sql.rs`).

mod macros;

pub mod benefit;
pub mod budget;
pub mod calibration;
pub mod constrained;
pub mod criteria;
pub mod cycle;
pub mod decision;
pub mod error;
pub mod measure;
pub mod need;
pub mod organisation;
pub mod ranking;
pub mod scoring;
pub mod selection;
pub mod sensitivity;
pub mod service_area;
mod sql;
pub mod state;
pub mod study;
pub mod tertial;

#[cfg(test)]
mod testutil;

pub use error::{DomainError, FieldIssue, FieldPath};
pub use state::StateMachine;
