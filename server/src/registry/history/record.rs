//! One line of the history's files, and back.
//!
//! A line is `tag \t id \t micros \t json \t crc32`, ending in `\n`:
//! - `tag`: `e` for an event (its JSON is a [`wire::registry::HistoryEvent`]), `c` for a
//!   checkpoint (every instance at that moment, [`super::replay::Checkpoint`]);
//! - `id`: the event id (`<revision>.<index>`). A plain checkpoint takes the id of the
//!   event it follows; one that lists an event has an id no event line has: `started` a
//!   bare `<revision>` (every event of it, none of which came yet), `gap` the id of the
//!   last change it could not record;
//! - `micros`: its time, in microseconds since the Unix epoch;
//! - `crc32`: CRC-32 (8 hex digits) of everything before the last tab.
//!
//! Compact JSON escapes tabs and newlines inside its strings, so a record is one line and
//! its fields split on tabs. A line torn by a crash, or changed on the disk, fails its
//! CRC or its shape and is skipped; the id and time come first, so the files can be
//! indexed without parsing any JSON.

use std::io::Write as _;

use crate::registry::journal::EventId;

/// What a line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Event,
    Checkpoint,
}

impl Tag {
    fn byte(self) -> u8 {
        match self {
            Tag::Event => b'e',
            Tag::Checkpoint => b'c',
        }
    }
}

/// A decoded line, borrowing its JSON from the buffer it was read into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub tag: Tag,
    pub id: EventId,
    pub micros: u64,
    pub json: &'a str,
}

/// Appends one line to `out`, newline included.
pub fn encode(tag: Tag, id: EventId, micros: u64, json: &str, out: &mut Vec<u8>) {
    encode_with(tag, id, micros, out, |out| {
        out.extend_from_slice(json.as_bytes())
    });
}

/// [`encode`], with the JSON written straight into `out` by `json` (no string of its own
/// to allocate and copy: the writer's hot path).
pub fn encode_with(
    tag: Tag,
    id: EventId,
    micros: u64,
    out: &mut Vec<u8>,
    json: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    out.push(tag.byte());
    // Numbers by hand: `write!` was a fifth of the encoding.
    let mut number = itoa::Buffer::new();
    out.push(b'\t');
    out.extend_from_slice(number.format(id.revision).as_bytes());
    if id.index != u32::MAX {
        out.push(b'.');
        out.extend_from_slice(number.format(id.index).as_bytes());
    }
    out.push(b'\t');
    out.extend_from_slice(number.format(micros).as_bytes());
    out.push(b'\t');
    json(out);
    let crc = crc32fast::hash(&out[start..]);
    // Writing to a Vec cannot fail.
    let _ = writeln!(out, "\t{crc:08x}");
}

/// Decodes one line (with or without its `\n`); `None` if it is torn or corrupt.
pub fn decode(line: &[u8]) -> Option<Line<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let split = memchr::memrchr(b'\t', line)?;
    let (body, crc) = (&line[..split], &line[split + 1..]);
    let crc = u32::from_str_radix(std::str::from_utf8(crc).ok()?, 16).ok()?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let body = std::str::from_utf8(body).ok()?;
    let mut fields = body.splitn(4, '\t');
    let tag = match fields.next()? {
        "e" => Tag::Event,
        "c" => Tag::Checkpoint,
        _ => return None,
    };
    let id = fields.next()?.parse().ok()?;
    let micros = fields.next()?.parse().ok()?;
    let json = fields.next()?;
    Some(Line {
        tag,
        id,
        micros,
        json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(json: &str) -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            Tag::Event,
            "1700000000000000.3".parse().unwrap(),
            1_700_000_000_123_456,
            json,
            &mut out,
        );
        out
    }

    #[test]
    fn a_line_comes_back_as_it_was_written() {
        let out = line(r#"{"Reason":"a\tb\nc"}"#);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let decoded = decode(&out).unwrap();
        assert_eq!(decoded.tag, Tag::Event);
        assert_eq!(decoded.id.to_string(), "1700000000000000.3");
        assert_eq!(decoded.micros, 1_700_000_000_123_456);
        assert_eq!(decoded.json, r#"{"Reason":"a\tb\nc"}"#);
    }

    #[test]
    fn a_torn_or_changed_line_is_refused() {
        let out = line(r#"{"Kind":"registered"}"#);
        // Torn anywhere, with or without its newline.
        for cut in 0..out.len() - 1 {
            assert_eq!(decode(&out[..cut]), None, "cut at {cut}");
        }
        // One byte changed anywhere.
        for at in 0..out.len() - 1 {
            let mut changed = out.clone();
            changed[at] ^= 0x01;
            assert_eq!(decode(&changed), None, "changed at {at}");
        }
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"\t\t\t\t\n"), None);
    }
}
