//! Organisations and their Norwegian organisation numbers.

use serde::{Deserialize, Serialize};

/// What part an organisation plays in the regional ICT portfolio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "diesel", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    /// A regional health authority (RHF).
    RegionalHealthAuthority,
    /// A hospital trust (HF); each one scores needs.
    HealthTrust,
    /// The region's shared IT provider (Sykehuspartner).
    ItPartner,
    /// A subcontractor of the IT partner.
    Supplier,
}

impl OrganisationKind {
    pub const ALL: &'static [OrganisationKind] = &[
        OrganisationKind::RegionalHealthAuthority,
        OrganisationKind::HealthTrust,
        OrganisationKind::ItPartner,
        OrganisationKind::Supplier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrganisationKind::RegionalHealthAuthority => "regional_health_authority",
            OrganisationKind::HealthTrust => "health_trust",
            OrganisationKind::ItPartner => "it_partner",
            OrganisationKind::Supplier => "supplier",
        }
    }
}

impl std::str::FromStr for OrganisationKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OrganisationKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown organisation kind {s:?}"))
    }
}

/// A Norwegian organisation number: nine digits, the last a modulus-11 check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "diesel", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
#[serde(transparent)]
pub struct OrgNumber(String);

crate::sql::text_column!(OrganisationKind);
crate::sql::text_column!(OrgNumber);

/// Why a text is not an organisation number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgNumberError {
    #[error("must be exactly nine digits")]
    Format,
    #[error("the check digit does not match (modulus 11)")]
    CheckDigit,
}

impl OrgNumber {
    const WEIGHTS: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

    /// Parses and checks an organisation number.
    pub fn parse(s: &str) -> Result<OrgNumber, OrgNumberError> {
        let digits: Vec<u32> = s
            .chars()
            .map(|c| c.to_digit(10))
            .collect::<Option<_>>()
            .ok_or(OrgNumberError::Format)?;
        if digits.len() != 9 {
            return Err(OrgNumberError::Format);
        }
        let sum: u32 = digits[..8]
            .iter()
            .zip(Self::WEIGHTS)
            .map(|(d, w)| d * w)
            .sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            10 => return Err(OrgNumberError::CheckDigit),
            c => c,
        };
        if check != digits[8] {
            return Err(OrgNumberError::CheckDigit);
        }
        Ok(OrgNumber(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for OrgNumber {
    type Err = OrgNumberError;
    fn from_str(s: &str) -> Result<Self, OrgNumberError> {
        OrgNumber::parse(s)
    }
}

impl From<OrgNumber> for String {
    fn from(n: OrgNumber) -> String {
        n.0
    }
}

impl std::fmt::Display for OrgNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_regions_organisations() {
        for n in [
            "991324968",
            "983658725",
            "993467049",
            "914637651",
            "992281618",
            "883971752",
        ] {
            assert!(OrgNumber::parse(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn rejects_wrong_check_digit_and_format() {
        assert_eq!(
            OrgNumber::parse("991324969"),
            Err(OrgNumberError::CheckDigit)
        );
        assert_eq!(OrgNumber::parse("99132496"), Err(OrgNumberError::Format));
        assert_eq!(OrgNumber::parse("99132496a"), Err(OrgNumberError::Format));
        assert_eq!(OrgNumber::parse("9913249680"), Err(OrgNumberError::Format));
    }

    #[test]
    fn every_single_digit_change_is_caught_or_reformatted() {
        // A mod-11 check digit catches every single-digit error.
        let good = "983971636";
        for pos in 0..9 {
            for d in 0..10u8 {
                let mut b = good.as_bytes().to_vec();
                if b[pos] == b'0' + d {
                    continue;
                }
                b[pos] = b'0' + d;
                let s = String::from_utf8(b).unwrap_or_default();
                assert!(OrgNumber::parse(&s).is_err(), "{s} should fail");
            }
        }
    }
}
