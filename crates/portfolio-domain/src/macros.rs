//! The one macro behind every enum that crosses the wire.
//!
//! Each variant's text is written exactly once and feeds serde, [`as_str`], `FromStr`,
//! `Display` and (feature `diesel`, `sql.rs`) the `text` column mapping, so the JSON
//! value, the PostgreSQL text column and the Rust name can never drift apart. The texts are snake_case by convention (checked by a test in
//! every module that uses the macro, through `ALL`).

/// Declares a wire enum: `Serialize`/`Deserialize` under the given snake_case texts,
/// `as_str()`, `Display`, `FromStr` (error: [`crate::DomainError::Invalid`]) and
/// `ALL` (every variant, in declaration order).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $text:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "diesel", derive(diesel::AsExpression, diesel::FromSqlRow))]
        #[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
        #[serde(rename_all = "snake_case")]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $text)]
                $variant
            ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The text used in JSON and in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::error::DomainError;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::error::DomainError::unknown_value(
                        stringify!($name),
                        s,
                        &[$($text),+],
                    )),
                }
            }
        }

        $crate::sql::text_column!($name);
    };
}

pub(crate) use wire_enum;

/// Test helper: `ALL`, `as_str` and `FromStr` agree and every text is snake_case.
#[cfg(test)]
pub(crate) fn assert_wire_enum<T>(all: &[T], as_str: fn(T) -> &'static str)
where
    T: Copy + PartialEq + core::fmt::Debug + core::str::FromStr,
{
    let mut seen = std::collections::HashSet::new();
    for &v in all {
        let text = as_str(v);
        assert!(seen.insert(text), "duplicate text {text}");
        assert!(
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{text} is not snake_case"
        );
        match text.parse::<T>() {
            Ok(parsed) => assert_eq!(parsed, v),
            Err(_) => panic!("{text} does not parse back"),
        }
    }
    assert!("Not-A-Value".parse::<T>().is_err());
    assert!("".parse::<T>().is_err());
}
