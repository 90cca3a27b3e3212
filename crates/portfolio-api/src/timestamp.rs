//! Timestamps on the wire: RFC 3339 in UTC, exactly as chrono's serde writes them, without
//! chrono's `Display` machinery (which formats character by character and was ~10 % of the
//! server's CPU on a page of needs, perf via bench/run.sh --profile).

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

/// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`, the fraction as short as it can be without
/// losing precision (chrono's `SecondsFormat::AutoSi`); `None` outside years 0–9999.
pub fn format(t: &DateTime<Utc>) -> Option<String> {
    let mut buf = [0u8; 30];
    write(t, &mut buf).map(str::to_owned)
}

/// Writes the text into `buf` (no allocation on the serialising path).
fn write<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; 30]) -> Option<&'b str> {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    fn put(buf: &mut [u8; 30], at: usize, value: u32, width: usize) {
        let mut v = value;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    put(buf, 0, year as u32, 4);
    put(buf, 5, t.month(), 2);
    put(buf, 8, t.day(), 2);
    put(buf, 11, t.hour(), 2);
    put(buf, 14, t.minute(), 2);
    // A leap second is carried in the nanoseconds (≥ 1e9): chrono prints it as second 60.
    let nanos = t.nanosecond();
    let (second, nanos) = if nanos >= 1_000_000_000 {
        (t.second() + 1, nanos - 1_000_000_000)
    } else {
        (t.second(), nanos)
    };
    put(buf, 17, second, 2);
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    let mut len = 19;
    let digits = if nanos == 0 {
        0
    } else if nanos % 1_000_000 == 0 {
        3
    } else if nanos % 1_000 == 0 {
        6
    } else {
        9
    };
    if digits > 0 {
        buf[len] = b'.';
        let fraction = nanos / 10u32.pow(9 - digits as u32);
        put(buf, len + 1, fraction, digits);
        len += 1 + digits;
    }
    buf[len] = b'Z';
    len += 1;
    std::str::from_utf8(&buf[..len]).ok()
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match write(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => serde::Serialize::serialize(t, s),
    }
}

pub fn serialize_option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn writes_what_chrono_writes() {
        let base = Utc
            .with_ymd_and_hms(2026, 11, 25, 23, 18, 56)
            .single()
            .expect("valid");
        for nanos in [
            0,
            102_000_000,
            102_065_000,
            102_065_123,
            5,
            999_999_999,
            1_000_000,
        ] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            let ours = format(&t).expect("in range");
            let chrono = serde_json::to_value(t).expect("serialises");
            assert_eq!(serde_json::Value::String(ours), chrono, "nanos {nanos}");
        }
        let early = Utc
            .with_ymd_and_hms(7, 1, 2, 3, 4, 5)
            .single()
            .expect("valid");
        assert_eq!(
            serde_json::Value::String(format(&early).expect("in range")),
            serde_json::to_value(early).expect("serialises")
        );
    }
}
