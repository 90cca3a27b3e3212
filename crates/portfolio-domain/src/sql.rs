//! Wire enums and organisation numbers as PostgreSQL `text` columns (feature `diesel`).
//!
//! Why the mapping lives here and not in the API crate: the orphan rule forbids implementing
//! diesel's `FromSql<Text, Pg>` for a domain type anywhere else, and newtype wrappers in the
//! API would make every row field and every filter say `Stored<NeedStatus>` instead of
//! `NeedStatus`. The feature adds exactly one thing per type, its column text (the same text
//! JSON uses, from [`crate::macros`]): the rules stay free of SQL, and without the feature
//! (the domain's own tests) diesel is not built at all.
//!
//! A stored text that does not parse is a deserialisation error, which the API answers with
//! a 500 and logs; it never becomes a fallback variant.

/// Implements `FromSql`/`ToSql` for `text` on a type with `as_str()` and `FromStr`. The type
/// also derives `AsExpression` and `FromSqlRow` under the feature (see `wire_enum!`).
macro_rules! text_column {
    ($name:ty) => {
        #[cfg(feature = "diesel")]
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = ::core::str::from_utf8(value.as_bytes())?;
                text.parse::<$name>().map_err(|e| {
                    format!(
                        "stored data is invalid: {} {text:?}: {e}",
                        stringify!($name)
                    )
                    .into()
                })
            }
        }

        #[cfg(feature = "diesel")]
        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                use ::std::io::Write;
                out.write_all(self.as_str().as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }
    };
}

pub(crate) use text_column;
