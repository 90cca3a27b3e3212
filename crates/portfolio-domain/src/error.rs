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
        field: FieldPath,
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
    pub fn invalid(field: impl Into<FieldPath>, message: impl Into<String>) -> Self {
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

/// One step of a [`FieldPath`]: an object key or a list position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A member of an object, e.g. `weight`.
    Key(String),
    /// A position in a list, from 0.
    Index(usize),
}

/// Where in the input a rule was broken: keys and list positions, written
/// `criteria[2].weight` in messages. The HTTP layer renders it once as a JSON Pointer
/// (RFC 6901, `/criteria/2/weight`) with [`FieldPath::to_pointer`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPath(Vec<PathStep>);

impl FieldPath {
    /// The whole input (the empty path).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path, one object key deeper.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.0.push(PathStep::Key(key.into()));
        self
    }

    /// This path, one list position deeper.
    #[must_use]
    pub fn index(mut self, index: usize) -> Self {
        self.0.push(PathStep::Index(index));
        self
    }

    /// `rest`, read as relative to this path (`items[3]` + `amount` = `items[3].amount`).
    #[must_use]
    pub fn join(mut self, rest: FieldPath) -> Self {
        self.0.extend(rest.0);
        self
    }

    /// The steps, outermost first.
    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }

    /// The path as a JSON Pointer (RFC 6901): `/criteria/2/weight`; `~` and `/` in keys
    /// are escaped as `~0` and `~1`.
    pub fn to_pointer(&self) -> String {
        let mut out = String::new();
        for step in &self.0 {
            out.push('/');
            match step {
                PathStep::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
                PathStep::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }

    /// Reads the message notation: keys separated by `.`, positions in brackets
    /// (`criteria[2].weight`, `items[0][1]`).
    pub fn parse(text: &str) -> Self {
        let mut path = Self::root();
        for part in text.split('.') {
            let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
            if !key.is_empty() {
                path = path.key(key);
            }
            while let Some(end) = rest.find(']') {
                let inner = &rest[1..end];
                path = match inner.parse() {
                    Ok(i) => path.index(i),
                    Err(_) => path.key(inner),
                };
                rest = &rest[end + 1..];
            }
        }
        path
    }
}

impl From<&str> for FieldPath {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<&String> for FieldPath {
    fn from(text: &String) -> Self {
        Self::parse(text)
    }
}

impl From<String> for FieldPath {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl core::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (n, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Key(k) if n == 0 => f.write_str(k)?,
                PathStep::Key(k) => write!(f, ".{k}")?,
                PathStep::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

impl PartialEq<&str> for FieldPath {
    fn eq(&self, other: &&str) -> bool {
        *self == Self::parse(other)
    }
}

/// One broken rule of the input: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// Where.
    pub field: FieldPath,
    /// What is wrong, for a human.
    pub message: String,
}

impl FieldIssue {
    /// An issue at `field`.
    pub fn new(field: impl Into<FieldPath>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
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

    #[test]
    fn field_paths_render_as_json_pointers() {
        let p = FieldPath::parse("criteria[2].weight");
        assert_eq!(p, FieldPath::root().key("criteria").index(2).key("weight"));
        assert_eq!(p.to_pointer(), "/criteria/2/weight");
        assert_eq!(p.to_string(), "criteria[2].weight");
        assert_eq!(FieldPath::root().key("a/b~c").to_pointer(), "/a~1b~0c");
        assert_eq!(FieldPath::parse("items[0][1]").to_pointer(), "/items/0/1");
        assert_eq!(FieldPath::root().to_pointer(), "");
        let joined = FieldPath::root()
            .key("items")
            .index(3)
            .join("amount".into());
        assert_eq!(joined.to_pointer(), "/items/3/amount");
    }
}
