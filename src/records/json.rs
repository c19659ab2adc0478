//! JSON records: a top-level array of objects, streamed element by element
//! (a multi-GB array is never held whole), or JSON lines (one object per
//! line, blank lines skipped).
//!
//! Values keep their text: a number is rendered exactly as written (`1.50`,
//! `1e3`, `12345678901234567890`), so each element is kept as raw JSON
//! (serde_json's `RawValue`) and read only as deep as a template reaches.

use std::borrow::Cow;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::template::{Field, Record};
use super::{Parsed, Parser};
use crate::input::ArgBuf;

/// Where the splitter of a JSON array is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Before the array's `[`.
    Start,
    /// Between elements: at the first one (or `]`), or at `,` or `]`.
    Between { first: bool },
    /// At an element (after its `,`).
    Element,
    /// After the array's `]`.
    Done,
}

/// Reads the elements of a top-level JSON array, or JSON lines.
pub(crate) struct Json {
    lines: bool,
    place: Place,
    /// Inside the element being scanned: how far it is scanned, its depth,
    /// and whether the scan is inside a string (after a backslash).
    scanned: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl Json {
    pub(crate) fn new(lines: bool) -> Self {
        Json {
            lines,
            place: Place::Start,
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    /// The end of the JSON value starting at `data[0]`, scanning on from
    /// where the last call stopped: `None` until it is whole.
    fn value_end(&mut self, data: &[u8]) -> Option<usize> {
        while self.scanned < data.len() {
            let c = data[self.scanned];
            self.scanned += 1;
            if self.in_string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            let scalar_end = self.depth == 0
                && matches!(
                    data.get(self.scanned),
                    Some(b',' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                );
            if self.depth == 0 && (matches!(c, b'}' | b']' | b'"') || scalar_end) {
                let end = self.scanned;
                (self.scanned, self.depth) = (0, 0);
                return Some(end);
            }
        }
        None
    }

    /// One JSON line, at `data[0]` (after blank lines).
    fn next_line(data: &[u8], eof: bool) -> Option<(usize, &[u8])> {
        match memchr::memchr(b'\n', data) {
            Some(i) => Some((i + 1, &data[..i])),
            None if eof && !data.is_empty() => Some((data.len(), data)),
            None => None,
        }
    }

    /// An array that is not one of objects: the rest of the input is one
    /// invalid record, from `lead` on, and nothing more is read.
    fn give_up(&mut self, data: &[u8], lead: usize, why: &str) -> Parsed {
        self.place = Place::Done;
        Parsed::Record {
            lead,
            used: data.len() - lead,
            result: Err(why.into()),
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl Parser for Json {
    fn reset(&mut self) {
        *self = Json::new(self.lines);
    }

    fn next(
        &mut self,
        data: &[u8],
        eof: bool,
        render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
    ) -> Parsed {
        // A byte order mark, then white space, go before a record.
        let bom = if data.starts_with(b"\xef\xbb\xbf") && self.place == Place::Start {
            3
        } else {
            0
        };
        let lead = bom + data[bom..].iter().take_while(|&&b| is_space(b)).count();
        if self.lines {
            let Some((used, line)) = Self::next_line(&data[lead..], eof) else {
                return if eof {
                    Parsed::End { lead: data.len() }
                } else {
                    Parsed::NeedMore { lead }
                };
            };
            return Parsed::Record {
                lead,
                used,
                result: render_element(line, render),
            };
        }
        match self.place {
            Place::Start => match data.get(lead) {
                Some(b'[') => {
                    self.place = Place::Between { first: true };
                    return Parsed::Skip { lead, used: 1 };
                }
                Some(_) => {
                    return self.give_up(data, lead, "a JSON input must be an array of objects, [ {...}, ... ] (or JSON lines, with --format jsonl)");
                }
                None if eof => return Parsed::End { lead: data.len() },
                None => return Parsed::NeedMore { lead },
            },
            Place::Done => {
                return match data.get(lead) {
                    None if eof => Parsed::End { lead: data.len() },
                    None => Parsed::NeedMore { lead },
                    Some(_) => self.give_up(data, lead, "text after the end of the JSON array"),
                };
            }
            Place::Between { first } => match data.get(lead) {
                Some(b']') => {
                    self.place = Place::Done;
                    return Parsed::Skip { lead, used: 1 };
                }
                Some(b',') if !first => {
                    self.place = Place::Element;
                    return Parsed::Skip { lead, used: 1 };
                }
                Some(_) if first => self.place = Place::Element,
                Some(_) => {
                    return self.give_up(
                        data,
                        lead,
                        "expected ',' or ']' between the array's elements",
                    );
                }
                None if eof => {
                    return Parsed::Record {
                        lead,
                        used: 0,
                        result: Err("the input ends inside the JSON array (no ']')".into()),
                    };
                }
                None => return Parsed::NeedMore { lead },
            },
            Place::Element => {}
        }
        let element = &data[lead..];
        match self.value_end(element) {
            Some(used) => {
                self.place = Place::Between { first: false };
                Parsed::Record {
                    lead,
                    used,
                    result: render_element(&element[..used], render),
                }
            }
            None if eof => Parsed::Record {
                lead,
                used: element.len(),
                result: Err("the input ends inside a JSON value".into()),
            },
            // The white space before the element may go; the scan goes on
            // from where it stopped, relative to the element's start.
            None => Parsed::NeedMore { lead },
        }
    }
}

/// Parses one element (one object) and renders it.
fn render_element(
    text: &[u8],
    render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
) -> Result<(), String> {
    let text = std::str::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let entries = object(raw).ok_or("a record must be a JSON object, {...}")?;
    render(&JsonRecord { entries })
}

/// Parses one JSON object and hands its entries to `f` (for tests of what
/// renders records).
#[cfg(test)]
pub(crate) fn parse_entries<T>(
    text: &str,
    f: impl FnOnce(&[(Cow<'_, str>, &RawValue)]) -> Result<T, String>,
) -> Result<T, String> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| e.to_string())?;
    f(&object(raw).ok_or("not an object")?)
}

/// The entries of a JSON object, in order, each value as raw JSON; `None`
/// if `raw` is not an object.
fn object(raw: &RawValue) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    struct Entries;
    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut entries = Vec::new();
            while let Some(key) = map.next_key::<Key<'de>>()? {
                entries.push((key.0, map.next_value::<&RawValue>()?));
            }
            Ok(entries)
        }
    }
    if !raw.get().starts_with('{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_map(Entries).ok()
}

/// A key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The elements of a JSON array, raw; `None` if `raw` is not an array.
fn array(raw: &RawValue) -> Option<Vec<&RawValue>> {
    if !raw.get().starts_with('[') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// One JSON object: its entries, in order.
struct JsonRecord<'a> {
    entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl JsonRecord<'_> {
    /// The value at `path`: keys of objects, indexes of arrays.
    fn find(&self, path: &[String]) -> Option<&RawValue> {
        let (first, rest) = path.split_first()?;
        let mut at = self.entries.iter().find(|(k, _)| k == first)?.1;
        for step in rest {
            at = match at.get().as_bytes().first() {
                Some(b'{') => object(at)?.into_iter().find(|(k, _)| k == step)?.1,
                Some(b'[') => *array(at)?.get(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(at)
    }
}

/// Appends a value as an argument's bytes: a string unescaped, a number as
/// written, `true`/`false`, an object or array as compact JSON. False for
/// `null`.
fn append_value(raw: &RawValue, out: &mut Vec<u8>) -> Result<bool, String> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => {
            let s: Cow<'_, str> =
                serde_json::from_str(text).map_err(|e| format!("invalid JSON string: {e}"))?;
            out.extend_from_slice(s.as_bytes());
        }
        Some(b'n') => return Ok(false),
        Some(b'{' | b'[') => compact(text.as_bytes(), out),
        _ => out.extend_from_slice(text.as_bytes()),
    }
    Ok(true)
}

/// JSON text without white space outside its strings.
fn compact(text: &[u8], out: &mut Vec<u8>) {
    let (mut in_string, mut escaped) = (false, false);
    for &c in text {
        if in_string {
            (in_string, escaped) = match (escaped, c) {
                (true, _) => (true, false),
                (false, b'\\') => (true, true),
                (false, b'"') => (false, false),
                _ => (true, false),
            };
        } else if c == b'"' {
            in_string = true;
        } else if is_space(c) {
            continue;
        }
        out.push(c);
    }
}

fn push_arg(
    out: &mut ArgBuf,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<bool, String>,
) -> Result<(), String> {
    let start = out.scratch.len();
    fill(&mut out.scratch)?;
    out.push_scratch(start);
    Ok(())
}

impl Record for JsonRecord<'_> {
    fn json_entries(&self) -> Option<&[(Cow<'_, str>, &RawValue)]> {
        Some(&self.entries)
    }

    fn value(&self, field: &Field, out: &mut Vec<u8>) -> Result<bool, String> {
        match self.find(&field.path) {
            Some(raw) => append_value(raw, out),
            None => Ok(false),
        }
    }

    fn spread(&self, field: &Field, out: &mut ArgBuf) -> Result<bool, String> {
        let Some(raw) = self.find(&field.path) else {
            return Ok(false);
        };
        if raw.get() == "null" {
            return Ok(false);
        }
        let items =
            array(raw).ok_or_else(|| format!("{{{}[]}}: the field is not an array", field.name))?;
        for item in items {
            push_arg(out, |b| append_value(item, b))?;
        }
        Ok(true)
    }

    fn all(&self, out: &mut ArgBuf) -> Result<(), String> {
        for (name, raw) in &self.entries {
            push_arg(out, |b| {
                b.extend_from_slice(name.as_bytes());
                Ok(true)
            })?;
            push_arg(out, |b| append_value(raw, b))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::template::Template;

    fn render_one(json: &str, template: &str) -> Result<Vec<String>, String> {
        let t = Template::parse(template).unwrap();
        let mut out = ArgBuf::default();
        render_element(json.as_bytes(), &mut |r| t.render(r, &mut out))?;
        Ok(out
            .args(&[])
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect())
    }

    #[test]
    fn numbers_keep_their_text_and_nested_values_are_reached() {
        let json = r#"{"id": 7, "price": 1.50, "big": 12345678901234567890, "e": 1e3,
                        "ok": true, "a": {"b": [10, {"c": "x\ny"}]}}"#;
        assert_eq!(
            render_one(json, "SET {id} {price}:{big}:{e}:{ok}:{a.b.0}:{a.b.1.c}").unwrap(),
            ["SET", "7", "1.50:12345678901234567890:1e3:true:10:x\ny"]
        );
    }

    #[test]
    fn objects_not_spread_are_compact_json_and_all_keeps_order() {
        let json = r#"{ "z": 1, "a": { "k" : [ 1 , "a b" ] } }"#;
        assert_eq!(
            render_one(json, "HSET h {*}").unwrap(),
            ["HSET", "h", "z", "1", "a", r#"{"k":[1,"a b"]}"#]
        );
        assert_eq!(
            render_one(r#"{"t":["x","y"]}"#, "SADD s {t[]}").unwrap(),
            ["SADD", "s", "x", "y"]
        );
    }

    #[test]
    fn null_is_missing_and_bad_json_is_invalid() {
        assert!(render_one(r#"{"a":null}"#, "SET k {a}").is_err());
        assert_eq!(
            render_one(r#"{"a":null}"#, "SET k {a?}").unwrap(),
            ["SET", "k", ""]
        );
        assert!(
            render_one(r#"{"a":1,}"#, "SET k {a}")
                .unwrap_err()
                .contains("invalid JSON")
        );
        assert!(render_one("[1]", "SET k v").unwrap_err().contains("object"));
    }

    #[test]
    fn splits_an_array_into_elements_whatever_the_reads() {
        let text = br#"[ {"a": "x,]}"}, {"a": [1, {"b": "\"]"}]} ,{"a":2} ]"#;
        for step in 1..text.len() {
            let mut json = Json::new(false);
            let (mut start, mut end, mut got) = (0, 0, Vec::new());
            loop {
                let eof = end == text.len();
                let mut seen = None;
                match json.next(&text[start..end], eof, &mut |_| {
                    seen = Some(());
                    Ok(())
                }) {
                    Parsed::NeedMore { lead } => {
                        start += lead;
                        end = (end + step).min(text.len());
                    }
                    Parsed::Skip { lead, used } => start += lead + used,
                    Parsed::Record { lead, used, result } => {
                        result.unwrap();
                        got.push(
                            String::from_utf8_lossy(&text[start + lead..start + lead + used])
                                .into_owned(),
                        );
                        start += lead + used;
                        assert!(seen.is_some());
                    }
                    Parsed::End { .. } => break,
                }
            }
            assert_eq!(
                got,
                [
                    r#"{"a": "x,]}"}"#,
                    r#"{"a": [1, {"b": "\"]"}]}"#,
                    r#"{"a":2}"#
                ],
                "reads of {step} bytes"
            );
        }
    }
}
