//! Organisation numbers of the region's reference data (all pass the mod-11 check).

/// Oslo universitetssykehus HF (a health trust).
pub const OUS: &str = "993467049";
/// Akershus universitetssykehus HF (a health trust).
pub const AHUS: &str = "983971636";
/// Sykehuset Innlandet HF (a health trust).
pub const INNLANDET: &str = "983971709";
/// Helse Sør-Øst RHF: the regional authority, home of the portfolio office.
pub const HSO: &str = "991324968";
/// Sykehuspartner HF: the IT partner (not a health trust).
pub const SYKEHUSPARTNER: &str = "914637651";
/// The other regional authorities, for interregional studies.
pub const HELSE_VEST: &str = "983658725";
pub const HELSE_MIDT: &str = "983658776";
pub const HELSE_NORD: &str = "883658752";
