//! The domain's one error type. Each variant maps to one HTTP status in the API
//! layer, so a variant is added only when callers must react differently.

/// Why a domain rule refused an operation.
///
/// Suggested HTTP mapping: `InvalidTransition`, `Conflict` and `BudgetExceeded` → 409,
/// `Invalid` → 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A status change that the entity's state machine does not allow.
    #[error("{entity} cannot change from '{from}' to '{to}'")]
    InvalidTransition {
        /// The kind of entity, e.g. `"need"`, `"study"`.
        entity: &'static str,
        /// Current status.
        from: String,
        /// Requested status.
        to: String,
    },
    /// The input itself is wrong; `field` names where (e.g. `criteria[2].weight`).
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the offending field.
        field: String,
        /// Human-readable explanation.
        message: String,
    },
    /// The input is fine but the current state forbids it (wrong phase, frozen
    /// resource, duplicate, ...).
    #[error("{0}")]
    Conflict(String),
    /// Money asked for is more than a budget has left.
    #[error("budget exceeded: requested {requested} NOK but only {remaining} NOK remain")]
    BudgetExceeded {
        /// Amount asked for, in NOK.
        requested: i64,
        /// Amount still available, in NOK.
        remaining: i64,
    },
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`DomainError::Conflict`].
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict(message.into())
    }

    /// Shorthand for [`DomainError::InvalidTransition`].
    pub fn transition(
        entity: &'static str,
        from: impl core::fmt::Display,
        to: impl core::fmt::Display,
    ) -> Self {
        Self::InvalidTransition {
            entity,
            from: from.to_string(),
            to: to.to_string(),
        }
    }

    /// The error for a text that is not one of an enum's values.
    pub(crate) fn unknown_value(kind: &str, value: &str, expected: &[&str]) -> Self {
        // Quote the value with Debug so control characters stay visible in the message.
        Self::invalid(
            kind,
            format!(
                "unknown value {value:?}; expected one of: {}",
                expected.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_details() {
        let e = DomainError::transition("study", "completed", "in_progress");
        assert_eq!(
            e.to_string(),
            "study cannot change from 'completed' to 'in_progress'"
        );
        let e = DomainError::BudgetExceeded {
            requested: 5,
            remaining: 3,
        };
        assert!(e.to_string().contains("requested 5 NOK"));
        assert_eq!(
            DomainError::invalid("title", "required").to_string(),
            "title: required"
        );
    }
}
