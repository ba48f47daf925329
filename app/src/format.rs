//! Small text helpers the pages share: how numbers, times and URLs are shown.

/// An average as the original showed it: `87.0%`.
pub fn percent(value: f64) -> String {
    format!("{value:.1}%")
}

/// A score without a needless fraction: `85`, `77.5`.
pub fn score(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// Seconds as a short age: `0.4 s`, `12 s`, `3 min`, `2 h`.
pub fn age(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 10.0 {
        format!("{seconds:.1} s")
    } else if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.0} h", seconds / 3600.0)
    }
}

/// Percent-encodes `text` for a URL query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Milliseconds since the Unix epoch of an RFC 3339 UTC time such as
/// `2026-11-24T20:00:00.123Z`, as the services write them (digits past the millisecond
/// are dropped).
pub fn epoch_millis(time: &str) -> Option<f64> {
    let bytes = time.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[10] != b'T' || !time.ends_with('Z') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| time.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute) = (number(11..13)?, number(14..16)?);
    // Seconds and their fraction read as integers, to the millisecond: parsing a float
    // would bring its code into the WASM for this alone.
    let seconds = time.get(17..time.len() - 1)?;
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    if whole.len() != 2 || !(whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |sum, digit| sum * 10 + i64::from(digit - b'0'));
    let millis = number(17..19)? * 1000 + thousandths;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + hour) * 60 + minute) * 60_000 + millis) as f64)
}

/// The minute `millis` (since the Unix epoch) falls in, as the first 16 characters of
/// its RFC 3339 UTC time: `2026-11-24T20:00` (the inverse of [`epoch_millis`] to the
/// minute).
pub fn minute_of(millis: f64) -> String {
    let minutes = (millis / 60_000.0).floor() as i64;
    let (days, minute_of_day) = (minutes.div_euclid(1440), minutes.rem_euclid(1440));
    // The civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// The time of day of `millis` (since the Unix epoch), UTC: `08:01:30`.
pub fn clock(millis: f64) -> String {
    let seconds = (millis / 1000.0).floor() as i64;
    let of_day = seconds.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// A moment as a person reads it, to the second: `2026-12-01 08:01:30` (UTC).
pub fn moment(millis: f64) -> String {
    format!(
        "{} {}",
        minute_of(millis).split_once('T').map_or("", |(day, _)| day),
        clock(millis)
    )
}

/// `millis` (since the Unix epoch) as RFC 3339 UTC to the millisecond:
/// `2026-12-01T08:01:30.250Z` (the inverse of [`epoch_millis`] for years 0 to 9999).
pub fn rfc3339(millis: f64) -> String {
    let whole = millis.floor();
    let in_minute = (whole as i64).rem_euclid(60_000);
    format!(
        "{}:{:02}.{:03}Z",
        minute_of(whole),
        in_minute / 1000,
        in_minute % 1000
    )
}

/// When a grade was added, as a person reads it (`2026-12-05 09:30 UTC`), from the
/// RFC 3339 UTC time the grading service writes; `None` for anything else.
pub fn added(time: &str) -> Option<String> {
    let minute = minute_of(epoch_millis(time)?);
    Some(format!("{} UTC", minute.replacen('T', " ", 1)))
}

/// A revision as a person reads it: digits in groups of three (`1 796 025 602 000 123`;
/// the in-memory registry counts from the microsecond it started, so its revisions are
/// long), with narrow no-break spaces so a group never wraps alone.
pub fn revision(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() * 2);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202F}');
        }
        out.push(digit);
    }
    out
}

/// A server function's error as a sentence for the page, without Leptos' prefix.
pub fn server_error(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .trim_start_matches("error running server function: ")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_read_in_groups_of_three() {
        assert_eq!(revision(7), "7");
        assert_eq!(revision(1_000), "1\u{202F}000");
        assert_eq!(
            revision(1_796_025_602_000_123),
            "1\u{202F}796\u{202F}025\u{202F}602\u{202F}000\u{202F}123"
        );
    }

    #[test]
    fn numbers_and_ages_read_well() {
        assert_eq!(percent(87.0), "87.0%");
        assert_eq!(percent(93.666_666), "93.7%");
        assert_eq!(score(85.0), "85");
        assert_eq!(score(77.5), "77.5");
        assert_eq!(age(0.42), "0.4 s");
        assert_eq!(age(42.0), "42 s");
        assert_eq!(age(600.0), "10 min");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            url_encode("Score must be 0–100 & more"),
            "Score%20must%20be%200%E2%80%93100%20%26%20more"
        );
    }

    #[test]
    fn rfc3339_times_become_epoch_milliseconds() {
        assert_eq!(epoch_millis("1970-01-01T00:00:00.000Z"), Some(0.0));
        assert_eq!(
            epoch_millis("2026-11-24T20:00:00.123Z"),
            Some(1_795_550_400_123.0)
        );
        assert_eq!(
            epoch_millis("2000-02-29T12:30:01Z"),
            Some(951_827_401_000.0)
        );
        assert_eq!(
            epoch_millis("2000-02-29T12:30:01.5Z"),
            Some(951_827_401_500.0)
        );
        assert_eq!(
            epoch_millis("2000-02-29T12:30:01.123987Z"),
            Some(951_827_401_123.0),
            "digits past the millisecond are dropped"
        );
        assert_eq!(epoch_millis("2000-02-29T12:30:1x.5Z"), None);
        assert_eq!(epoch_millis("2000-02-29T12:30:01.-5Z"), None);
        assert_eq!(epoch_millis("yesterday"), None);
    }

    #[test]
    fn minutes_come_back_from_epoch_milliseconds() {
        for time in [
            "1970-01-01T00:00",
            "2000-02-29T12:30",
            "2026-11-24T20:00",
            "2026-12-31T23:59",
        ] {
            let millis = epoch_millis(&format!("{time}:42.5Z")).unwrap();
            assert_eq!(minute_of(millis), time);
        }
    }
}
