//! The shared shape of every status state machine in the domain.

use crate::error::DomainError;

/// A status with a fixed set of allowed changes.
///
/// Implementors list only the allowed `(from, to)` pairs in
/// [`can_transition_to`](StateMachine::can_transition_to); everything else, including
/// "changing" to the same status, is refused, so a retried request that already took
/// effect shows up as a conflict instead of silently doing nothing twice.
pub trait StateMachine: Copy + Eq + core::fmt::Display + 'static {
    /// Entity name used in error messages, e.g. `"study"`.
    const ENTITY: &'static str;

    /// Whether `self -> to` is an allowed change.
    fn can_transition_to(self, to: Self) -> bool;

    /// Every status, used to derive [`is_final`](StateMachine::is_final).
    fn all() -> &'static [Self];

    /// Returns `to` if the change is allowed, otherwise
    /// [`DomainError::InvalidTransition`].
    fn transition(self, to: Self) -> Result<Self, DomainError> {
        if self.can_transition_to(to) {
            Ok(to)
        } else {
            Err(DomainError::transition(Self::ENTITY, self, to))
        }
    }

    /// A status from which no change is possible.
    fn is_final(self) -> bool {
        !Self::all().iter().any(|&to| self.can_transition_to(to))
    }
}

/// Test helper: checks every pair of statuses against the expected allowed set.
#[cfg(test)]
pub(crate) fn assert_transitions<S: StateMachine + core::fmt::Debug>(allowed: &[(S, S)]) {
    for &from in S::all() {
        for &to in S::all() {
            let expected = allowed.contains(&(from, to));
            assert_eq!(
                from.can_transition_to(to),
                expected,
                "{} {from} -> {to}",
                S::ENTITY
            );
            match from.transition(to) {
                Ok(s) => {
                    assert!(expected, "{from} -> {to} should be refused");
                    assert_eq!(s, to);
                }
                Err(DomainError::InvalidTransition {
                    entity,
                    from: f,
                    to: t,
                }) => {
                    assert!(!expected, "{from} -> {to} should be allowed");
                    assert_eq!(entity, S::ENTITY);
                    assert_eq!(f, from.to_string());
                    assert_eq!(t, to.to_string());
                }
                Err(other) => panic!("unexpected error {other}"),
            }
        }
    }
}
