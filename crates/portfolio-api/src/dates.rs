//! Calendar dates as the contract accepts them: exactly RFC 3339 `full-date` (`YYYY-MM-DD`,
//! four-digit year, two-digit month and day, nothing around it) within the years 2000–2100.
//! chrono's own parser is lenient (`2023-1-5`, ` 2023-01-05`, `+002023-01-05`, `-0001-01-01`
//! all pass), so request fields deserialise through here.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer};

pub const MIN_YEAR: i32 = 2000;
pub const MAX_YEAR: i32 = 2100;
/// The shape, for the contract (`pattern`); the range is checked in code.
pub const PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

/// Parses a strict `full-date` within the accepted years.
pub fn parse(s: &str) -> Result<NaiveDate, String> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(format!(
            "{s:?} is not a date of the form YYYY-MM-DD (RFC 3339 full-date)"
        ));
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("{s:?} is not a calendar date"))?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&date.year()) {
        return Err(format!("{s:?} is outside the years {MIN_YEAR}–{MAX_YEAR}"));
    }
    Ok(date)
}

/// `#[serde(deserialize_with = "crate::dates::strict")]`
pub fn strict<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// `#[serde(default, deserialize_with = "crate::dates::strict_opt")]`
pub fn strict_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn only_full_dates_in_range() {
        assert!(parse("2023-01-05").is_ok());
        assert!(parse("2000-01-01").is_ok());
        assert!(parse("2100-12-31").is_ok());
        for bad in [
            "2023-1-5",
            " 2023-01-05",
            "2023-01-05 ",
            "+002023-01-05",
            "+10000-01-01",
            "-0001-01-01",
            "1999-12-31",
            "2101-01-01",
            "2023-02-30",
            "20230105",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
