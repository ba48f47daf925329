//! The log record codec: how a message becomes one line of the log file and back.
//!
//! A line is `time \t service \t message \t crc32`, ending in `\n`. Backslash, tab,
//! carriage return and newline inside the service or message are escaped (`\\`, `\t`,
//! `\r`, `\n`), so a record is always exactly one line and records never interleave. The
//! CRC-32 (hex) covers the rest of the line: a line torn by a crash, even one cut inside
//! its message, fails it and is skipped.

use wire::logs::LogRecord;

/// The service name used when a message carries no `[Name] - ` prefix.
pub const UNKNOWN_SERVICE: &str = "unknown";
/// Longest service name taken from a prefix.
const MAX_SERVICE_CHARS: usize = 128;

/// Splits the original client's `[Name] - message` into its service and message.
pub fn split_source(text: &str) -> (&str, &str) {
    if let Some(rest) = text.strip_prefix('[')
        && let Some(end) = first_separator(rest.as_bytes())
    {
        let name = &rest[..end];
        // A name's bytes are at least its characters: count them only when it is long.
        let short = name.len() <= MAX_SERVICE_CHARS || name.chars().count() <= MAX_SERVICE_CHARS;
        if !name.is_empty() && short && memchr::memchr(b'\n', name.as_bytes()).is_none() {
            return (name, &rest[end + 4..]);
        }
    }
    (UNKNOWN_SERVICE, text)
}

/// Where the first `] - ` starts.
fn first_separator(bytes: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b']', bytes).find(|&at| bytes[at..].starts_with(b"] - "))
}

/// Appends `record` to `out` as one line, newline included.
pub fn encode(record: &LogRecord, out: &mut String) {
    encode_parts(&record.time, &record.service, &record.message, out);
}

/// [`encode`] from the record's parts, so a caller holding borrowed text need not build
/// a [`LogRecord`] first.
pub fn encode_parts(time: &str, service: &str, message: &str, out: &mut String) {
    Framer::new(time).encode(service, message, false, out);
}

/// Frames records that share one time stamp (every record of a request): the stamp's
/// share of each checksum is worked out once.
pub struct Framer<'t> {
    time: &'t str,
    /// The checksum of `time` and the tab after it.
    crc: crc32fast::Hasher,
}

impl<'t> Framer<'t> {
    pub fn new(time: &'t str) -> Framer<'t> {
        let mut crc = crc32fast::Hasher::new();
        crc.update(time.as_bytes());
        crc.update(b"\t");
        Framer { time, crc }
    }

    /// Appends the record of `message` from `service` to `out`, newline included.
    /// `plain`: the caller has seen that neither holds a character to escape (a control
    /// character or a backslash), so they are copied without a look.
    pub fn encode(&self, service: &str, message: &str, plain: bool, out: &mut String) {
        out.push_str(self.time);
        out.push('\t');
        let rest = out.len();
        if plain {
            debug_assert!(!needs_escape(service) && !needs_escape(message));
            out.push_str(service);
            out.push('\t');
            out.push_str(message);
        } else {
            escape(service, out);
            out.push('\t');
            escape(message, out);
        }
        let mut crc = self.crc.clone();
        crc.update(&out.as_bytes()[rest..]);
        let crc = crc.finalize();
        out.push('\t');
        for shift in (0..8).rev() {
            out.push(char::from(
                b"0123456789abcdef"[(crc >> (shift * 4)) as usize & 0xf],
            ));
        }
        out.push('\n');
    }
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

/// Copies `text` to `out` with its special characters escaped, a run of plain text at a
/// time (almost every message has none).
fn escape(text: &str, out: &mut String) {
    if !needs_escape(text) {
        out.push_str(text);
        return;
    }
    let mut plain = 0;
    for (at, byte) in text.bytes().enumerate() {
        let escaped = match byte {
            b'\\' => "\\\\",
            b'\t' => "\\t",
            b'\r' => "\\r",
            b'\n' => "\\n",
            _ => continue,
        };
        out.push_str(&text[plain..at]);
        out.push_str(escaped);
        plain = at + 1;
    }
    out.push_str(&text[plain..]);
}

/// Whether `text` holds a control character or a backslash, checked in one pass that the
/// compiler vectorises.
pub fn needs_escape(text: &str) -> bool {
    text.bytes().fold(false, |special, byte| {
        special | (byte < 0x20) | (byte == b'\\')
    })
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
            fn the_source_is_found_as_a_plain_search_finds_it(
                name in "[a-z\\]\\n -]{0,12}",
                rest in "[a-z\\] -]{0,12}",
            ) {
                let text = format!("[{name}] - {rest}");
                let expected = text[1..].find("] - ").map(|end| (&text[1..1 + end], &text[end + 5..]));
                let expected = match expected {
                    Some((name, message)) if !name.is_empty() && !name.contains('\n') => (name, message),
                    _ => (UNKNOWN_SERVICE, text.as_str()),
                };
                prop_assert_eq!(split_source(&text), expected);
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
