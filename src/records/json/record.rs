//! One JSON element as a record: its entries, each value kept as raw JSON
//! and read only as deep as a template reaches.

use std::borrow::Cow;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::is_space;
use crate::input::ArgBuf;
use crate::records::template::{Field, Record};

/// Parses one element (one object) and renders it.
pub(super) fn render_element(
    text: &[u8],
    render: &mut dyn FnMut(&dyn Record) -> Result<(), String>,
) -> Result<(), String> {
    let text = std::str::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let entries = object(raw).ok_or_else(|| {
        let what = match raw.get().as_bytes()[0] {
            b'"' => "a string",
            b'[' => "an array",
            b't' | b'f' => "a boolean",
            b'n' => "null",
            _ => "a number",
        };
        format!("a record must be a JSON object, {{...}}, not {what}")
    })?;
    render(&JsonRecord::new(entries))
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
    /// Some key is given twice.
    duplicates: bool,
}

impl<'a> JsonRecord<'a> {
    fn new(entries: Vec<(Cow<'a, str>, &'a RawValue)>) -> Self {
        let mut record = JsonRecord {
            entries,
            duplicates: false,
        };
        record.duplicates = record.has_duplicates();
        record
    }

    /// The value at `path`: keys of objects, indexes of arrays.
    fn find(&self, path: &[String]) -> Option<&RawValue> {
        let (first, rest) = path.split_first()?;
        // A key given twice: the last value wins, as `JSON.parse` has it.
        let mut at = if self.duplicates {
            self.entries.iter().rev().find(|(k, _)| k == first)?.1
        } else {
            self.entries.iter().find(|(k, _)| k == first)?.1
        };
        for step in rest {
            at = match at.get().as_bytes().first() {
                Some(b'{') => object(at)?.into_iter().rev().find(|(k, _)| k == step)?.1,
                Some(b'[') => *array(at)?.get(step.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(at)
    }

    /// Whether a key is given twice.
    fn has_duplicates(&self) -> bool {
        const FEW: usize = 16;
        let keys = &self.entries;
        if keys.len() > FEW {
            let mut seen = rustc_hash::FxHashSet::default();
            return !keys.iter().all(|(k, _)| seen.insert(k));
        }
        // Few keys, on every record: a small table on the stack, by their
        // length and their first and last bytes; their bytes are compared
        // only when those agree.
        const SLOTS: usize = 64;
        let mut table = [u8::MAX; SLOTS];
        for (i, (k, _)) in keys.iter().enumerate() {
            let b = k.as_bytes();
            let (first, last) = (b.first().copied(), b.last().copied());
            let mut slot = (b.len() * 7
                + usize::from(first.unwrap_or(0)) * 3
                + usize::from(last.unwrap_or(0)))
                % SLOTS;
            while let Some(&j) = table.get(slot).filter(|&&j| j != u8::MAX) {
                if keys[usize::from(j)].0 == *k {
                    return true;
                }
                slot = (slot + 1) % SLOTS;
            }
            table[slot] = i as u8;
        }
        false
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

    /// A key given twice is given once, at its first place, with its last
    /// value, as `JSON.parse` reads it.
    fn all(&self, out: &mut ArgBuf) -> Result<(), String> {
        for (i, (name, raw)) in self.entries.iter().enumerate() {
            let mut raw = *raw;
            if self.duplicates {
                if self.entries[..i].iter().any(|(k, _)| k == name) {
                    continue;
                }
                let last = self.entries.iter().rev().find(|(k, _)| k == name);
                raw = last.map_or(raw, |(_, r)| *r);
            }
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
    fn an_empty_array_spread_leaves_the_command_unsent_unless_optional() {
        assert!(
            render_one(r#"{"t":[]}"#, "SADD s {t[]}")
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            render_one(r#"{"t":[]}"#, "RPUSH l x {t[]?}").unwrap(),
            ["RPUSH", "l", "x"]
        );
        assert!(render_one("{}", "HSET h {*}").unwrap().is_empty());
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
}
