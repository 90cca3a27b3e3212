//! The store's one error type. It speaks of rows and rules, not of HTTP: `error.rs` maps it
//! (with the domain's errors) to problem details in one place.

use portfolio_domain::{DomainError, FieldIssue, FieldPath};

/// Why a store function refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist; the text names it (`need 3b9d…`).
    #[error("{0} was not found")]
    NotFound(String),
    /// The request is well-formed but the stored state forbids it.
    #[error("{0}")]
    Conflict(String),
    /// Fields of the input break a rule that needs stored data to check (every issue at once).
    #[error("{} fields are invalid", .0.len())]
    Invalid(Vec<FieldIssue>),
    /// A change named no version of the resource it changes.
    #[error("{0}")]
    VersionRequired(String),
    /// A change named a version that is no longer current.
    #[error("{0}")]
    Stale(String),
    /// A domain rule refused the operation.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database refused or failed.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    /// Stored data that cannot be read back, or a step that cannot happen: a bug, never the
    /// client's fault.
    #[error("{0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        StoreError::NotFound(what.to_string())
    }

    /// One invalid field.
    pub fn invalid(field: impl Into<FieldPath>, message: impl Into<String>) -> Self {
        StoreError::Invalid(vec![FieldIssue::new(field, message)])
    }

    pub fn corrupt(cause: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(cause.to_string())
    }

    /// `Ok` when `issues` is empty, else all of them as one error.
    pub fn check(issues: Vec<FieldIssue>) -> StoreResult<()> {
        if issues.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid(issues))
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::corrupt(format!("JSON column: {e}"))
    }
}
