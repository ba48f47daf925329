//! The log record codec: how a message becomes one line of the log file and back.
//!
//! A line is `time \t service \t message \t crc32`, ending in `\n`. Backslash, tab,
//! carriage return and newline inside the service or message are escaped (`\\`, `\t`,
//! `\r`, `\n`), so a record is always exactly one line and records never interleave. The
//! CRC-32 (hex) covers the rest of the line: a line torn by a crash, even one cut inside
//! its message, fails it and is skipped.

use app::wire::logs::LogRecord;

/// The service name used when a message carries no `[Name] - ` prefix.
pub const UNKNOWN_SERVICE: &str = "unknown";
/// Longest service name taken from a prefix.
const MAX_SERVICE_CHARS: usize = 128;

/// Splits the original client's `[Name] - message` into its service and message.
pub fn split_source(text: &str) -> (&str, &str) {
    if let Some(rest) = text.strip_prefix('[')
        && let Some(end) = rest.find("] - ")
    {
        let name = &rest[..end];
        if !name.is_empty() && name.chars().count() <= MAX_SERVICE_CHARS && !name.contains('\n') {
            return (name, &rest[end + 4..]);
        }
    }
    (UNKNOWN_SERVICE, text)
}

/// Appends `record` to `out` as one line, newline included.
pub fn encode(record: &LogRecord, out: &mut String) {
    let start = out.len();
    out.push_str(&record.time);
    out.push('\t');
    escape(&record.service, out);
    out.push('\t');
    escape(&record.message, out);
    let crc = crc32fast::hash(&out.as_bytes()[start..]);
    out.push('\t');
    out.push_str(&format!("{crc:08x}"));
    out.push('\n');
}

/// Reads one line (without its newline); `None` if it is not a whole record.
pub fn decode(line: &[u8]) -> Option<LogRecord> {
    let line = std::str::from_utf8(line).ok()?;
    let (body, crc) = line.rsplit_once('\t')?;
    if crc.len() != 8 || u32::from_str_radix(crc, 16).ok()? != crc32fast::hash(body.as_bytes()) {
        return None;
    }
    let mut fields = body.splitn(3, '\t');
    let time = fields.next()?;
    let service = unescape(fields.next()?)?;
    let message = unescape(fields.next()?)?;
    Some(LogRecord {
        time: time.to_owned(),
        service,
        message,
    })
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'r' => '\r',
            'n' => '\n',
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(service: &str, message: &str) -> LogRecord {
        LogRecord {
            time: "2026-11-24T20:00:00.123Z".into(),
            service: service.into(),
            message: message.into(),
        }
    }

    #[test]
    fn the_original_prefix_names_the_service() {
        assert_eq!(
            split_source("[GradingService] - graded"),
            ("GradingService", "graded")
        );
        assert_eq!(
            split_source("[Test Service] - a ] - b"),
            ("Test Service", "a ] - b")
        );
        assert_eq!(split_source("测试日志记录"), ("unknown", "测试日志记录"));
        assert_eq!(
            split_source("[] - empty name"),
            ("unknown", "[] - empty name")
        );
        assert_eq!(split_source("[no dash]"), ("unknown", "[no dash]"));
    }

    #[test]
    fn records_round_trip_as_exactly_one_line() {
        for message in [
            "plain",
            "two\nlines",
            "tab\tand\\backslash\r\n",
            "",
            "测试 ✓",
            "\\n literal",
        ] {
            let mut line = String::new();
            encode(&record("S\tx", message), &mut line);
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
            assert!(line.ends_with('\n'));
            let decoded = decode(line.trim_end_matches('\n').as_bytes()).unwrap();
            assert_eq!(decoded, record("S\tx", message));
        }
    }

    #[test]
    fn a_torn_or_altered_line_is_rejected() {
        let mut line = String::new();
        encode(&record("S", "a message that gets cut"), &mut line);
        let line = line.trim_end_matches('\n');
        for cut in 0..line.len() {
            assert_eq!(decode(&line.as_bytes()[..cut]), None, "cut at {cut}");
        }
        let altered = line.replacen("cut", "cot", 1);
        assert_eq!(decode(altered.as_bytes()), None);
        assert_eq!(decode(&[0xff, 0xfe]), None);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_record_round_trips_as_one_line(service in any::<String>(), message in any::<String>()) {
                let record = LogRecord { time: "2026-11-24T20:00:00.123Z".into(), service, message };
                let mut line = String::new();
                encode(&record, &mut line);
                prop_assert_eq!(line.matches('\n').count(), 1);
                prop_assert_eq!(decode(line.trim_end_matches('\n').as_bytes()), Some(record));
            }

            #[test]
            fn a_cut_record_is_never_read(service in any::<String>(), message in any::<String>(), cut in 0.0f64..1.0) {
                let record = LogRecord { time: "2026-11-24T20:00:00.123Z".into(), service, message };
                let mut line = String::new();
                encode(&record, &mut line);
                let whole = line.trim_end_matches('\n').as_bytes();
                let at = ((whole.len() as f64) * cut) as usize;
                prop_assert_eq!(decode(&whole[..at]), None);
            }

            #[test]
            fn only_a_canonical_line_decodes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                // Whatever decodes is exactly what encoding its record writes.
                if let Some(record) = decode(&bytes) {
                    let mut line = String::new();
                    encode(&record, &mut line);
                    prop_assert_eq!(line.trim_end_matches('\n').as_bytes(), &bytes[..]);
                }
            }

            #[test]
            fn a_changed_byte_is_never_read_as_another_record(
                service in any::<String>(),
                message in any::<String>(),
                at in any::<prop::sample::Index>(),
                flip in 1u8..=255,
            ) {
                let record = LogRecord { time: "2026-11-24T20:00:00.123Z".into(), service, message };
                let mut line = String::new();
                encode(&record, &mut line);
                let mut bytes = line.trim_end_matches('\n').as_bytes().to_vec();
                let at = at.index(bytes.len());
                bytes[at] ^= flip;
                // The checksum catches it (or, if only its own hex digit changed case,
                // the record read is still the one written).
                let read = decode(&bytes);
                prop_assert!(read.is_none() || read == Some(record), "{:?}", read);
            }

            #[test]
            fn any_text_splits_into_a_source_and_a_message(text in any::<String>()) {
                let (service, message) = split_source(&text);
                prop_assert!(!service.is_empty());
                prop_assert!(text.ends_with(message));
            }
        }
    }
}
