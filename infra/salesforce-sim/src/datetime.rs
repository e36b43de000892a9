//! Salesforce's date and datetime formats, without a date library: REST writes datetimes as
//! `2026-01-05T17:21:40.000+0000` and dates as `2026-01-05` (salesforce.md §12).

use std::time::{SystemTime, UNIX_EPOCH};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// `2026-01-05T17:21:40.000+0000`.
pub(crate) fn format_datetime(time: SystemTime) -> String {
    let millis = time.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
    format_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// `2026-01-05`.
pub(crate) fn format_date(time: SystemTime) -> String {
    format_datetime(time).chars().take(10).collect()
}

fn format_millis(millis: i64) -> String {
    let days = millis.div_euclid(MILLIS_PER_DAY);
    let in_day = millis.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hours, minutes, seconds, ms) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{ms:03}+0000")
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (if month <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads exactly `n` ASCII digits at `*at`.
fn digits(bytes: &[u8], at: &mut usize, n: usize) -> Option<i64> {
    let slice = bytes.get(*at..*at + n)?;
    if !slice.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *at += n;
    slice.iter().try_fold(0i64, |acc, b| Some(acc * 10 + i64::from(b - b'0')))
}

fn expect(bytes: &[u8], at: &mut usize, byte: u8) -> Option<()> {
    (bytes.get(*at) == Some(&byte)).then(|| *at += 1)
}

/// Days since the epoch of a `YYYY-MM-DD` prefix; the index after it.
fn parse_date_prefix(bytes: &[u8]) -> Option<(i64, usize)> {
    let mut at = 0;
    let year = digits(bytes, &mut at, 4)?;
    expect(bytes, &mut at, b'-')?;
    let month = digits(bytes, &mut at, 2)?;
    expect(bytes, &mut at, b'-')?;
    let day = digits(bytes, &mut at, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some((days_from_civil(year, month, day), at))
}

/// A valid `YYYY-MM-DD`, normalized (as given).
pub(crate) fn parse_date(text: &str) -> Option<String> {
    let (_, end) = parse_date_prefix(text.as_bytes())?;
    (end == text.len()).then(|| text.to_owned())
}

/// Milliseconds since the epoch of `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh[:]mm)`.
pub(crate) fn parse_datetime_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (days, mut at) = parse_date_prefix(bytes)?;
    expect(bytes, &mut at, b'T')?;
    let hours = digits(bytes, &mut at, 2)?;
    expect(bytes, &mut at, b':')?;
    let minutes = digits(bytes, &mut at, 2)?;
    expect(bytes, &mut at, b':')?;
    let seconds = digits(bytes, &mut at, 2)?;
    let mut millis = 0;
    if expect(bytes, &mut at, b'.').is_some() {
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        let fraction = text.get(start..at).filter(|f| !f.is_empty())?;
        let first3: String = fraction.chars().chain("00".chars()).take(3).collect();
        millis = first3.parse::<i64>().ok()?;
    }
    let offset_minutes = match bytes.get(at) {
        Some(b'Z') => {
            at += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let sign = if *sign == b'-' { -1 } else { 1 };
            at += 1;
            let h = digits(bytes, &mut at, 2)?;
            let _ = expect(bytes, &mut at, b':');
            let m = digits(bytes, &mut at, 2)?;
            sign * (h * 60 + m)
        }
        _ => return None,
    };
    if at != bytes.len() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let local = days * MILLIS_PER_DAY + ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis;
    Some(local - offset_minutes * 60_000)
}

/// A datetime in Salesforce's REST form (`…+0000`), or `None` if it does not parse.
pub(crate) fn normalize_datetime(text: &str) -> Option<String> {
    parse_datetime_millis(text).map(format_millis)
}

/// A datetime in the `Z` form Bulk API results use (`2026-01-05T17:21:40.000Z`), or `None` if it
/// does not parse.
pub(crate) fn zulu_datetime(text: &str) -> Option<String> {
    let rest = normalize_datetime(text)?;
    rest.strip_suffix("+0000").map(|stem| format!("{stem}Z"))
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// An HTTP date, `Wed, 03 Jul 2013 19:43:31 GMT` (RFC 9110 IMF-fixdate), as in `Date`.
pub(crate) fn format_http_date(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS.get(usize::try_from(days.rem_euclid(7)).unwrap_or(0)).copied().unwrap_or("Thu");
    let month = MONTHS.get(usize::try_from(month - 1).unwrap_or(0)).copied().unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month} {year:04} {:02}:{:02}:{:02} GMT",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

/// Seconds since the epoch of a date in the form describe's `If-Modified-Since` takes,
/// `EEE, dd MMM yyyy HH:mm:ss z` (REST API Developer Guide, "Get Object Metadata Changes"), e.g.
/// `Wed, 3 Jul 2013 19:43:31 GMT`: the day in one or two digits, the zone `GMT` or `UTC`, or an
/// offset `+hhmm` / `GMT+hh:mm`. The weekday is not checked. `None` when it does not parse.
pub(crate) fn parse_http_date(text: &str) -> Option<i64> {
    let rest = text.trim();
    let rest = rest.split_once(',').map_or(rest, |(_, rest)| rest);
    let mut parts = rest.split_whitespace();
    let day: i64 = parts.next().filter(|d| (1..=2).contains(&d.len()))?.parse().ok()?;
    let month = parts.next()?;
    let month = i64::try_from(MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? + 1).ok()?;
    let year: i64 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let time = parts.next()?.as_bytes();
    let zone = parts.next()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut at = 0;
    let hours = digits(time, &mut at, 2)?;
    expect(time, &mut at, b':')?;
    let minutes = digits(time, &mut at, 2)?;
    expect(time, &mut at, b':')?;
    let seconds = digits(time, &mut at, 2)?;
    if at != time.len() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    let offset = zone_offset_minutes(zone)?;
    Some(days_from_civil(year, month, day) * 86_400 + (hours * 60 + minutes - offset) * 60 + seconds)
}

/// `GMT`, `UTC`, `Z`, `+hhmm`, `GMT+hh:mm`: the offset from UTC in minutes.
fn zone_offset_minutes(zone: &str) -> Option<i64> {
    let upper = zone.to_ascii_uppercase();
    let offset = upper.strip_prefix("GMT").or_else(|| upper.strip_prefix("UTC")).unwrap_or(&upper);
    if offset.is_empty() || offset == "Z" {
        return Some(0);
    }
    let bytes = offset.as_bytes();
    let sign = match bytes.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let mut at = 1;
    let h = digits(bytes, &mut at, 2)?;
    let _ = expect(bytes, &mut at, b':');
    let m = digits(bytes, &mut at, 2)?;
    (at == bytes.len()).then_some(sign * (h * 60 + m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn http_dates_round_trip_and_accept_the_documented_form() {
        let time = UNIX_EPOCH + Duration::from_secs(1_372_880_611);
        assert_eq!(format_http_date(time), "Wed, 03 Jul 2013 19:43:31 GMT");
        assert_eq!(parse_http_date("Wed, 3 Jul 2013 19:43:31 GMT"), Some(1_372_880_611));
        assert_eq!(parse_http_date("Wed, 03 Jul 2013 19:43:31 GMT"), Some(1_372_880_611));
        assert_eq!(parse_http_date("Wed, 03 Jul 2013 21:43:31 +0200"), Some(1_372_880_611));
        assert_eq!(parse_http_date("Wed, 03 Jul 2013 12:43:31 GMT-07:00"), Some(1_372_880_611));
        assert_eq!(format_http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        for bad in ["", "yesterday", "Wed, 31 Jun 2013 19:43:31 GMT", "Wed, 03 Jul 2013 19:43 GMT", "Wed, 03 Jul 2013 19:43:31 PST"] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_like_salesforce() {
        let time = UNIX_EPOCH + Duration::from_millis(1_767_633_700_123);
        assert_eq!(format_datetime(time), "2026-01-05T17:21:40.123+0000");
        assert_eq!(format_date(time), "2026-01-05");
        assert_eq!(format_datetime(UNIX_EPOCH), "1970-01-01T00:00:00.000+0000");
    }

    #[test]
    fn parses_the_accepted_forms() {
        assert_eq!(normalize_datetime("2026-01-05T17:21:40Z").as_deref(), Some("2026-01-05T17:21:40.000+0000"));
        assert_eq!(normalize_datetime("2026-01-05T18:21:40.5+01:00").as_deref(), Some("2026-01-05T17:21:40.500+0000"));
        assert_eq!(normalize_datetime("2024-02-29T00:00:00.000+0000").as_deref(), Some("2024-02-29T00:00:00.000+0000"));
        assert_eq!(zulu_datetime("2026-01-05T18:21:40.5+01:00").as_deref(), Some("2026-01-05T17:21:40.500Z"));
        for bad in ["2023-02-29T00:00:00Z", "2026-01-05", "2026-01-05T17:21:40", "2026-13-01T00:00:00Z", "é", ""] {
            assert_eq!(normalize_datetime(bad), None, "{bad}");
        }
        assert_eq!(parse_date("2026-01-31").as_deref(), Some("2026-01-31"));
        assert_eq!(parse_date("2026-04-31"), None);
        assert_eq!(parse_date("2026-01-05T00:00:00Z"), None);
    }
}
