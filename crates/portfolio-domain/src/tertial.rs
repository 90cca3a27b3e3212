//! Tertials (thirds of a year) and tertial reports.

use core::fmt;
use core::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::macros::wire_enum;

/// A third of a year: T1 = January–April, T2 = May–August, T3 = September–December.
/// Ordered chronologically. Text form `2023-T1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawTertial")]
pub struct Tertial {
    year: i32,
    number: u8,
}

#[derive(Deserialize)]
struct RawTertial {
    year: i32,
    number: u8,
}

impl TryFrom<RawTertial> for Tertial {
    type Error = DomainError;

    fn try_from(raw: RawTertial) -> Result<Self, Self::Error> {
        Self::new(raw.year, raw.number)
    }
}

impl Tertial {
    /// Tertial `number` (1..=3) of `year`; years are limited to four digits so
    /// every tertial has valid dates.
    pub fn new(year: i32, number: u8) -> Result<Self, DomainError> {
        if !(1..=3).contains(&number) {
            return Err(DomainError::invalid("tertial", "must be 1, 2 or 3"));
        }
        if !(1000..=9999).contains(&year) {
            return Err(DomainError::invalid("year", "must have four digits"));
        }
        Ok(Self { year, number })
    }

    /// The tertial containing `date`.
    pub fn of_date(date: NaiveDate) -> Self {
        // month0 is 0..=11, so the number is always 1..=3.
        Self {
            year: date.year(),
            number: (date.month0() / 4 + 1) as u8,
        }
    }

    /// The year.
    pub const fn year(self) -> i32 {
        self.year
    }

    /// 1, 2 or 3.
    pub const fn number(self) -> u8 {
        self.number
    }

    /// First and last month (1-based, inclusive): 1–4, 5–8 or 9–12.
    pub const fn months(self) -> (u32, u32) {
        let first = (self.number as u32 - 1) * 4 + 1;
        (first, first + 3)
    }

    /// First day of the tertial.
    pub fn first_day(self) -> NaiveDate {
        let (first, _) = self.months();
        NaiveDate::from_ymd_opt(self.year, first, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Last day of the tertial (30 April, 31 August or 31 December).
    pub fn last_day(self) -> NaiveDate {
        let (_, last) = self.months();
        let day = if last == 4 { 30 } else { 31 };
        NaiveDate::from_ymd_opt(self.year, last, day).unwrap_or(NaiveDate::MAX)
    }

    /// Whether `date` falls in this tertial.
    pub fn contains(self, date: NaiveDate) -> bool {
        Self::of_date(date) == self
    }

    /// The tertial before; T1 of year Y → T3 of Y−1.
    pub fn previous(self) -> Self {
        match self.number {
            1 => Self {
                year: self.year - 1,
                number: 3,
            },
            n => Self {
                year: self.year,
                number: n - 1,
            },
        }
    }

    /// The tertial after; T3 of year Y → T1 of Y+1.
    pub fn next(self) -> Self {
        match self.number {
            3 => Self {
                year: self.year + 1,
                number: 1,
            },
            n => Self {
                year: self.year,
                number: n + 1,
            },
        }
    }
}

impl fmt::Display for Tertial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-T{}", self.year, self.number)
    }
}

impl FromStr for Tertial {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || DomainError::invalid("tertial", format!("{s:?} is not a tertial like 2023-T1"));
        let (year, number) = s.split_once("-T").ok_or_else(bad)?;
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) || number.len() != 1 {
            return Err(bad());
        }
        let year = year.parse().map_err(|_| bad())?;
        let number = number.parse().map_err(|_| bad())?;
        Self::new(year, number).map_err(|_| bad())
    }
}

wire_enum! {
    /// Lifecycle of a tertial report. Published reports are frozen: the board has
    /// seen them, so they must show the same numbers forever.
    pub enum TertialReportStatus {
        /// Being prepared; may be regenerated.
        Draft => "draft",
        /// Sent to the board; never changes.
        Published => "published",
    }
}

impl TertialReportStatus {
    /// Refuses changes to a published report.
    pub fn ensure_mutable(self) -> Result<(), DomainError> {
        match self {
            Self::Draft => Ok(()),
            Self::Published => Err(DomainError::conflict(
                "the tertial report is published and can no longer be changed",
            )),
        }
    }

    /// Publishes a draft.
    pub fn publish(self) -> Result<Self, DomainError> {
        match self {
            Self::Draft => Ok(Self::Published),
            Self::Published => Err(DomainError::transition(
                "tertial report",
                self,
                Self::Published,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn t(y: i32, n: u8) -> Tertial {
        Tertial::new(y, n).expect("valid")
    }

    #[test]
    fn wire_texts() {
        crate::macros::assert_wire_enum(TertialReportStatus::ALL, TertialReportStatus::as_str);
    }

    #[test]
    fn of_date_and_months() {
        for (m, n) in [(1, 1), (4, 1), (5, 2), (8, 2), (9, 3), (12, 3)] {
            assert_eq!(Tertial::of_date(d(2023, m, 15)), t(2023, n), "month {m}");
        }
        assert_eq!(t(2023, 1).months(), (1, 4));
        assert_eq!(t(2023, 2).months(), (5, 8));
        assert_eq!(t(2023, 3).months(), (9, 12));
        assert_eq!(
            (t(2023, 1).first_day(), t(2023, 1).last_day()),
            (d(2023, 1, 1), d(2023, 4, 30))
        );
        assert_eq!(
            (t(2023, 2).first_day(), t(2023, 2).last_day()),
            (d(2023, 5, 1), d(2023, 8, 31))
        );
        assert_eq!(
            (t(2023, 3).first_day(), t(2023, 3).last_day()),
            (d(2023, 9, 1), d(2023, 12, 31))
        );
        // Every day of a year lands in the tertial whose bounds contain it.
        let mut day = d(2024, 1, 1);
        while day.year() == 2024 {
            let tt = Tertial::of_date(day);
            assert!(tt.first_day() <= day && day <= tt.last_day() && tt.contains(day));
            day = day.succ_opt().expect("next day");
        }
    }

    #[test]
    fn previous_next_and_text() {
        assert_eq!(t(2023, 1).previous(), t(2022, 3));
        assert_eq!(t(2023, 3).previous(), t(2023, 2));
        assert_eq!(t(2022, 3).next(), t(2023, 1));
        assert_eq!(t(2023, 2).next().previous(), t(2023, 2));
        assert!(t(2022, 3) < t(2023, 1));
        assert_eq!(t(2023, 1).to_string(), "2023-T1");
        assert_eq!("2023-T3".parse::<Tertial>(), Ok(t(2023, 3)));
        for bad in [
            "2023-T4", "2023-T0", "23-T1", "2023-t1", "2023-T12", "2023T1", "",
        ] {
            assert!(bad.parse::<Tertial>().is_err(), "{bad}");
        }
        assert!(Tertial::new(2023, 0).is_err() && Tertial::new(2023, 4).is_err());
    }

    #[test]
    fn report_status() {
        assert!(TertialReportStatus::Draft.ensure_mutable().is_ok());
        let published = TertialReportStatus::Draft.publish().expect("publish");
        assert!(matches!(
            published.ensure_mutable(),
            Err(DomainError::Conflict(_))
        ));
        assert!(published.publish().is_err());
    }
}
