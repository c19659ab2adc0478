//! The structured-input properties: the record parsers, fed the same bytes
//! split at every read boundary, give the same records and the same
//! errors, always finish, and agree with a reader that sees the whole
//! input at once: serde_json on the whole document for JSON, and, for
//! CSV, a plain RFC 4180 field splitter on each record's text.
//!
//! The parsers are driven as [`RecordSource`](crate::records::RecordSource)
//! drives them, with `--skip-invalid`: an invalid record is noted, and
//! reading goes on after it.

use std::collections::HashMap;

use serde_json::value::RawValue;

use crate::input::ArgBuf;
use crate::records::{Format, Parsed, RecordOptions, parser};

/// What a parser made of the input, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    /// A record: the line it starts on, its text, and its fields (name,
    /// value, name, value...) as `{*}` gives them.
    Record {
        line: u64,
        text: Vec<u8>,
        fields: Vec<Vec<u8>>,
    },
    /// An invalid record: the line it starts on, its text, and why.
    Invalid {
        line: u64,
        text: Vec<u8>,
        why: String,
    },
}

/// Runs a parser of `format` on `doc`, the bytes made available up to
/// each of `cuts` in turn (then the rest), as reads would.
fn transcript(options: &RecordOptions, doc: &[u8], cuts: &[usize]) -> Vec<Got> {
    let mut parser = parser(options);
    let mut cuts = cuts.iter().copied().filter(|&c| c < doc.len());
    let (mut start, mut avail, mut eof, mut line) = (0, 0, false, 1u64);
    let mut got = Vec::new();
    // Each step consumes a byte, or reads, or changes the parser's place:
    // a parser that does none of these for long is stuck.
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(
            steps <= 8 * doc.len() + 64,
            "the parser makes no progress on {:?} (the last it gave: {:?})",
            String::from_utf8_lossy(doc),
            got.last()
        );
        let mut fields = ArgBuf::default();
        let mut all = |record: &dyn crate::records::Record| record.all(&mut fields);
        let parsed = match parser.next(&doc[start..avail], eof, &mut all) {
            Parsed::Held { lead, used } => Parsed::Record {
                lead,
                used,
                result: parser.render_held(&mut all),
            },
            parsed => parsed,
        };
        let consume = |n: usize, start: &mut usize, line: &mut u64| {
            *line += memchr::memchr_iter(b'\n', &doc[*start..*start + n]).count() as u64;
            *start += n;
        };
        match parsed {
            Parsed::NeedMore { lead } => {
                assert!(!eof, "more wanted after the end");
                consume(lead, &mut start, &mut line);
                match cuts.next() {
                    Some(cut) if cut > avail => avail = cut,
                    _ if avail < doc.len() => avail = doc.len(),
                    _ => eof = true,
                }
            }
            Parsed::Skip { lead, used } => {
                consume(lead, &mut start, &mut line);
                consume(used, &mut start, &mut line);
            }
            Parsed::Record { lead, used, result } => {
                consume(lead, &mut start, &mut line);
                let (at, text) = (line, doc[start..start + used].to_vec());
                consume(used, &mut start, &mut line);
                got.push(match result {
                    Ok(()) => Got::Record {
                        line: at,
                        text,
                        fields: fields.args(&[]).iter().map(<[u8]>::to_vec).collect(),
                    },
                    Err(why) => Got::Invalid {
                        line: at,
                        text,
                        why,
                    },
                });
            }
            Parsed::End { .. } => return got,
            Parsed::Held { .. } => unreachable!("rendered as it came"),
        }
    }
}

/// The same transcript for the whole input at once, for every split in
/// two, and for reads of 1 to 7 bytes; returns it.
fn split_everywhere(options: &RecordOptions, doc: &[u8]) -> Vec<Got> {
    let whole = transcript(options, doc, &[]);
    for cut in 0..=doc.len() {
        let split = transcript(options, doc, &[cut]);
        assert_eq!(
            split,
            whole,
            "a read boundary at byte {cut} changes what is read from {:?}",
            String::from_utf8_lossy(doc)
        );
    }
    for step in 1..8 {
        let cuts: Vec<usize> = (1..doc.len() / step + 1).map(|k| k * step).collect();
        assert_eq!(
            transcript(options, doc, &cuts),
            whole,
            "reads of {step} bytes change what is read from {:?}",
            String::from_utf8_lossy(doc)
        );
    }
    whole
}

fn options(format: Format, tsv_quotes: bool) -> RecordOptions {
    RecordOptions {
        format,
        templates: vec!["HSET h {*}".into()],
        header: false,
        delimiter: None,
        tsv_quotes,
    }
}

/// The JSON array reader against serde_json reading the whole document:
/// where serde_json reads an array, the records are its elements, each an
/// object loaded or anything else invalid, on the same lines; where it
/// reads none, some record is invalid (an empty input has none).
pub fn json_records(doc: &[u8]) {
    let got = split_everywhere(&options(Format::Json, false), doc);
    let text = std::str::from_utf8(doc).ok();
    let body = text.map(|t| t.strip_prefix('\u{feff}').unwrap_or(t));
    match body.map(serde_json::from_str::<Vec<&RawValue>>) {
        Some(Ok(elements)) => {
            let want: Vec<(u64, &[u8], bool)> = elements
                .iter()
                .map(|e| {
                    let at = e.get().as_ptr() as usize - doc.as_ptr() as usize;
                    let line = 1 + memchr::memchr_iter(b'\n', &doc[..at]).count() as u64;
                    // An object whose keys can all be read.
                    let object = e.get().starts_with('{')
                        && serde_json::from_str::<HashMap<String, &RawValue>>(e.get()).is_ok();
                    (line, e.get().as_bytes(), object)
                })
                .collect();
            let seen: Vec<(u64, &[u8], bool)> = got
                .iter()
                .map(|g| match g {
                    Got::Record { line, text, .. } => (*line, &text[..], true),
                    Got::Invalid { line, text, .. } => (*line, &text[..], false),
                })
                .collect();
            assert_eq!(seen, want, "serde_json reads {doc:?} otherwise");
        }
        _ if body.is_some_and(|b| b.trim_matches(is_json_space).is_empty()) => {
            assert!(got.is_empty(), "{got:?} from white space");
        }
        _ => assert!(
            got.iter().any(|g| matches!(g, Got::Invalid { .. })),
            "serde_json refuses {:?}, but every record loaded: {got:?}",
            String::from_utf8_lossy(doc)
        ),
    }
}

fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The CSV reader (or TSV's, quoted or not: the first byte picks) against
/// a plain RFC 4180 splitter: each record it loads has the fields the
/// splitter finds in its text; each it refuses for its quoting, the
/// splitter refuses too; and every record of the input is one or the
/// other, or has a number of fields other than the first record's.
pub fn csv_records(data: &[u8]) {
    let Some((&mode, doc)) = data.split_first() else {
        return;
    };
    let (format, quoting) = match mode % 3 {
        0 => (Format::Csv, true),
        1 => (Format::Tsv, true),
        _ => (Format::Tsv, false),
    };
    let delimiter = if format == Format::Csv { b',' } else { b'\t' };
    let got = split_everywhere(&options(format, quoting && format == Format::Tsv), doc);
    let mut width = None;
    for g in &got {
        match g {
            Got::Record { text, fields, .. } => {
                let values: Vec<Vec<u8>> = fields.iter().skip(1).step_by(2).cloned().collect();
                assert_eq!(
                    Ok(&values),
                    split_record(text, delimiter, quoting).as_ref(),
                    "the fields of {:?}",
                    String::from_utf8_lossy(text)
                );
                assert_eq!(*width.get_or_insert(values.len()), values.len());
            }
            Got::Invalid { text, why, .. } if why.starts_with("the record has") => {
                let fields = split_record(text, delimiter, quoting).expect("well quoted");
                assert_ne!(Some(fields.len()), width, "{why}");
            }
            Got::Invalid { text, why, .. } => {
                // Refused for its quoting: reading went on at its second
                // line, so its text is its first.
                let first = text.iter().position(|&b| b == b'\n');
                assert!(first.is_none_or(|i| i + 1 == text.len()), "{text:?}");
                assert!(quoting, "TSV without quoting refuses no quoting: {why}");
                let _ = why;
            }
        }
    }
}

/// The fields of one record's text (its line end included, if any), as
/// RFC 4180 has them, quotes inside an unquoted field being its own; or
/// why the quoting is wrong.
fn split_record(text: &[u8], delimiter: u8, quoting: bool) -> Result<Vec<Vec<u8>>, &'static str> {
    let (mut fields, mut i) = (Vec::new(), 0);
    let is_end = |b: u8| b == b'\r' || b == b'\n';
    loop {
        let mut field = Vec::new();
        if quoting && text.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match (text.get(i), text.get(i + 1)) {
                    (None, _) => return Err("never closed"),
                    (Some(b'"'), Some(b'"')) => {
                        field.push(b'"');
                        i += 2;
                    }
                    (Some(b'"'), _) => {
                        i += 1;
                        break;
                    }
                    (Some(&b), _) => {
                        field.push(b);
                        i += 1;
                    }
                }
            }
            fields.push(field);
            match text.get(i) {
                Some(&b) if b == delimiter => i += 1,
                Some(&b) if !is_end(b) => return Err("text after the closing quote"),
                _ => return Ok(fields),
            }
        } else {
            while let Some(&b) = text.get(i).filter(|&&b| b != delimiter && !is_end(b)) {
                field.push(b);
                i += 1;
            }
            fields.push(field);
            if text.get(i) != Some(&delimiter) {
                return Ok(fields);
            }
            i += 1;
        }
    }
}

/// The fuzz target's entry: the first byte picks JSON or CSV.
pub fn records(data: &[u8]) {
    match data.split_first() {
        Some((&pick, rest)) if pick % 2 == 0 => json_records(rest),
        Some((_, rest)) => csv_records(rest),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, RngExt, SeedableRng};

    /// A JSON value, mostly objects at the top: strings with escapes and
    /// brackets in them, numbers as written, nesting.
    fn value(rng: &mut StdRng, depth: u32, out: &mut String) {
        let pick = if depth == 0 {
            0
        } else {
            rng.random_range(0..8)
        };
        match pick {
            0 | 1 if depth < 3 => {
                out.push('{');
                for i in 0..rng.random_range(0..4) {
                    if i > 0 {
                        out.push(',');
                    }
                    space(rng, out);
                    string(rng, out);
                    out.push(':');
                    space(rng, out);
                    value(rng, depth + 1, out);
                }
                out.push('}');
            }
            2 if depth < 3 => {
                out.push('[');
                for i in 0..rng.random_range(0..3) {
                    if i > 0 {
                        out.push(',');
                    }
                    value(rng, depth + 1, out);
                }
                out.push(']');
            }
            3 | 4 => string(rng, out),
            5 => out.push_str(
                ["1", "-2.50", "1e3", "0", "12345678901234567890"][rng.random_range(0..5)],
            ),
            6 => out.push_str(["true", "false", "null"][rng.random_range(0..3)]),
            _ => out.push_str("\"x\""),
        }
    }

    fn string(rng: &mut StdRng, out: &mut String) {
        out.push('"');
        for _ in 0..rng.random_range(0..4) {
            out.push_str(
                [
                    "a", "\\\"", "]", "}", ",", "\\\\", "[", "{", " ", "\\u00e9", "é",
                ][rng.random_range(0..11)],
            );
        }
        out.push('"');
    }

    fn space(rng: &mut StdRng, out: &mut String) {
        if rng.random_bool(0.3) {
            out.push_str([" ", "\n", "\r\n", "\t"][rng.random_range(0..4)]);
        }
    }

    /// A JSON array, often spoiled by a byte cut, added or changed.
    fn json_doc(rng: &mut StdRng) -> Vec<u8> {
        let mut doc = String::new();
        if rng.random_bool(0.05) {
            doc.push('\u{feff}');
        }
        doc.push('[');
        for i in 0..rng.random_range(0..5) {
            if i > 0 {
                doc.push(',');
            }
            space(rng, &mut doc);
            if rng.random_bool(0.8) {
                value(rng, 0, &mut doc);
            } else {
                value(rng, 1, &mut doc);
            }
            space(rng, &mut doc);
        }
        doc.push(']');
        space(rng, &mut doc);
        let mut doc = doc.into_bytes();
        spoil(rng, &mut doc, b"[]{},:\" \n\\1atn");
        doc
    }

    /// Cuts the end off, or puts a byte in, or takes one out, or changes
    /// one, half of the time.
    fn spoil(rng: &mut StdRng, doc: &mut Vec<u8>, bytes: &[u8]) {
        if doc.is_empty() || rng.random_bool(0.5) {
            return;
        }
        let at = rng.random_range(0..doc.len());
        let byte = bytes[rng.random_range(0..bytes.len())];
        match rng.random_range(0..4) {
            0 => doc.truncate(at),
            1 => doc.insert(at, byte),
            2 => drop(doc.remove(at)),
            _ => doc[at] = byte,
        }
    }

    /// Records of fields with quotes, delimiters and line ends in them,
    /// written as CSV or TSV, often spoiled.
    fn csv_doc(rng: &mut StdRng) -> Vec<u8> {
        let mode = rng.random_range(0..3u8);
        let delimiter = if mode == 0 { b',' } else { b'\t' };
        let mut doc = vec![mode];
        let width = rng.random_range(1..4);
        for _ in 0..rng.random_range(0..5) {
            for f in 0..width {
                if f > 0 {
                    doc.push(delimiter);
                }
                let field: Vec<u8> = (0..rng.random_range(0..4))
                    .map(|_| [b'a', b'"', delimiter, b'\n', b' ', b'\r'][rng.random_range(0..6)])
                    .collect();
                let special = field
                    .iter()
                    .any(|&b| b == b'"' || b == delimiter || b == b'\n' || b == b'\r');
                if mode < 2 && (special || rng.random_bool(0.2)) {
                    doc.push(b'"');
                    for &b in &field {
                        if b == b'"' {
                            doc.push(b'"');
                        }
                        doc.push(b);
                    }
                    doc.push(b'"');
                } else {
                    doc.extend(
                        field
                            .iter()
                            .filter(|&&b| b != delimiter && b != b'\n' && b != b'\r'),
                    );
                }
            }
            doc.extend_from_slice(if rng.random_bool(0.2) { b"\r\n" } else { b"\n" });
        }
        let mut body = doc.split_off(1);
        spoil(rng, &mut body, &[b'"', delimiter, b'\n', b'a']);
        doc.extend(body);
        doc
    }

    #[test]
    fn json_arrays_read_as_serde_json_reads_them_whatever_the_reads() {
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..2_000 {
            super::json_records(&json_doc(&mut rng));
        }
    }

    #[test]
    fn json_arrays_of_noise_end_and_read_the_same_whatever_the_reads() {
        let mut rng = StdRng::seed_from_u64(6);
        for _ in 0..2_000 {
            let len = rng.random_range(0..40);
            let doc: Vec<u8> = (0..len)
                .map(|_| b"[]{},:\"\\ \n1a"[rng.random_range(0..12)])
                .collect();
            super::json_records(&doc);
            let _ = rng.next_u32();
        }
    }

    #[test]
    fn csv_records_split_as_rfc_4180_has_them_whatever_the_reads() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..1_000 {
            super::csv_records(&csv_doc(&mut rng));
        }
    }

    #[test]
    fn the_cases_of_issue_21_hold() {
        for doc in [
            &br#"[{"a":"1"},{"a":"2"}"#[..],
            br#"[{"a":1},]"#,
            br#"[{"a":1}, "x", {"a":2}]"#,
            br#"[1,2,{"a":3}]"#,
            br#"["only a string"]"#,
            br#"[{"a":1} {"a":2}]"#,
            br#"[{"a":1},,{"a":2}]"#,
            br#"[{"a":1,"a":2}]"#,
            b"\xef\xbb\xbf[{\"a\":1}]",
        ] {
            super::json_records(doc);
        }
        for doc in [
            &b"\0a,b\n\"unclosed,c\nd,e\n"[..],
            b"\0a,b\n\"a\"b,c\nd,e\n",
            b"\0a,b\n1,\"x",
            b"\x02title\tsize\n\"Jaws\" (1975)\t12\"\n2001\t3\n",
            b"\x01\"a\tb\"\tc\n",
        ] {
            super::csv_records(doc);
        }
    }
}
