//! The dump's JSON lines, read back: with `--format jsonl` and no
//! template, each line is a key as `rload --dump --format jsonl` writes it,
//! `{"db": D, "key": K, "type": T, "value": V, "expire_at_ms": N|null}`,
//! and is rebuilt by the same commands the dump's command formats write
//! ([`crate::rebuild::Commands`]): so a JSON-lines dump, transformed or
//! not, loads back as a dump in RESP would.
//!
//! A string is a JSON string or `{"base64": "..."}`; a list or set an array
//! of them; a hash an array of `[field, value]`; a sorted set an array of
//! `[member, score]`, the score a JSON number (its text is sent as it is)
//! or `"inf"`/`"-inf"`; a stream `{"entries": [[id, [[f, v], ...]], ...],
//! "last_id": ..., "groups": [{"name", "last_delivered_id"}]}`. A line
//! marked `"vanished"`, `"changed"` or `"unfinished"` is no key: as in the
//! command formats, it deletes what the dump wrote of it. `db` (present
//! when the dump covered every database) selects the database.

use std::borrow::Cow;
use std::io;

use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::input::{ArgBuf, ArgQueue};
use crate::rebuild::{Commands, Discard, Ending, Kind, Output, Piece, StreamMeta};

/// Elements per command, as the dump writes them.
const CHUNK: usize = 1000;

/// A binary-safe string: JSON text, or base64 when it is not UTF-8.
#[derive(Deserialize)]
#[serde(untagged)]
enum Bin {
    Text(String),
    Base64 { base64: String },
}

impl Bin {
    fn bytes(self) -> Result<Vec<u8>, String> {
        match self {
            Bin::Text(s) => Ok(s.into_bytes()),
            Bin::Base64 { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(|e| format!("bad base64: {e}")),
        }
    }
}

#[derive(Deserialize)]
struct Group {
    name: Bin,
    last_delivered_id: Bin,
}

#[derive(Deserialize)]
struct Stream {
    entries: Vec<(Bin, Vec<(Bin, Bin)>)>,
    last_id: Bin,
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(default)]
    entries_added: Option<i64>,
    #[serde(default)]
    max_deleted_id: Option<Bin>,
}

/// Rebuilds keys from JSON lines; remembers the database selected.
#[derive(Default)]
pub(crate) struct KeyLines {
    db: Option<u32>,
}

fn field<'a>(entries: &[(Cow<'_, str>, &'a RawValue)], name: &str) -> Option<&'a RawValue> {
    entries
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
        .filter(|v| v.get() != "null")
}

fn parse<'a, T: Deserialize<'a>>(raw: &'a RawValue, what: &str) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| format!("\"{what}\": {e}"))
}

impl KeyLines {
    /// Rebuilds the key a line describes into `out`; the number of
    /// commands.
    ///
    /// # Errors
    ///
    /// A line that is not a key of the dump's shape.
    pub(crate) fn render(
        &mut self,
        entries: &[(Cow<'_, str>, &RawValue)],
        out: &mut Vec<ArgBuf>,
    ) -> Result<usize, String> {
        let mut c = Commands::new(ArgQueue::new(out));
        let io = |e: io::Error| e.to_string();
        if let Some(code) = field(entries, "function") {
            let code = parse::<Bin>(code, "function")?.bytes()?;
            c.function(&code).map_err(io)?;
            return Ok(c.sink().len());
        }
        let key = field(entries, "key").ok_or("a key line needs \"key\"")?;
        let key = parse::<Bin>(key, "key")?.bytes()?;
        let kind_name: String = parse(
            field(entries, "type").ok_or("a key line needs \"type\"")?,
            "type",
        )?;
        let kind = Kind::of(kind_name.as_bytes())
            .ok_or_else(|| format!("\"type\": {kind_name} is not a type a dump writes"))?;
        if let Some(db) = field(entries, "db") {
            let db: u32 = parse(db, "db")?;
            if self.db != Some(db) {
                c.select(db).map_err(io)?;
                self.db = Some(db);
            }
        }
        let discarded = ["vanished", "changed", "unfinished"]
            .iter()
            .any(|m| field(entries, m).is_some_and(|v| v.get() == "true"));
        if discarded {
            c.discard(&key, kind, Discard::Vanished).map_err(io)?;
            return Ok(c.sink().len());
        }
        let expire_at = field(entries, "expire_at_ms")
            .map(|e| parse::<i64>(e, "expire_at_ms"))
            .transpose()?;
        let value = field(entries, "value").ok_or("a key line needs \"value\"")?;
        if kind == Kind::String {
            // One command, SET ... PXAT.
            let bytes = parse::<Bin>(value, "value")?.bytes()?;
            c.string(&key, &bytes, expire_at).map_err(io)?;
            return Ok(c.sink().len());
        }
        let stream = rebuild(&mut c, &key, kind, value)?;
        let field_expiry = match field(entries, "field_expire_at_ms") {
            Some(raw) => parse::<Vec<(Bin, i64)>>(raw, "field_expire_at_ms")?
                .into_iter()
                .map(|(f, at)| Ok((f.bytes()?, at)))
                .collect::<Result<_, String>>()?,
            None => Vec::new(),
        };
        let ending = Ending {
            expire_at,
            stream,
            field_expiry,
        };
        c.end(&key, kind, &ending).map_err(io)?;
        Ok(c.sink().len())
    }
}

/// A collection's commands; a stream's metadata, for its end.
fn rebuild(
    c: &mut Commands<ArgQueue<&mut Vec<ArgBuf>>>,
    key: &[u8],
    kind: Kind,
    value: &RawValue,
) -> Result<Option<StreamMeta>, String> {
    let io = |e: io::Error| e.to_string();
    c.begin(key, kind).map_err(io)?;
    match kind {
        Kind::List | Kind::Set => {
            let items: Vec<Vec<u8>> = parse::<Vec<Bin>>(value, "value")?
                .into_iter()
                .map(Bin::bytes)
                .collect::<Result<_, _>>()?;
            for (i, chunk) in items.chunks(CHUNK).enumerate() {
                c.piece(key, kind, Piece::items(chunk), i == 0)
                    .map_err(io)?;
            }
        }
        Kind::Hash => {
            let pairs = parse::<Vec<(Bin, Bin)>>(value, "value")?
                .into_iter()
                .map(|(f, v)| Ok((f.bytes()?, v.bytes()?)))
                .collect::<Result<Vec<_>, String>>()?;
            for (i, chunk) in pairs.chunks(CHUNK).enumerate() {
                c.piece(key, kind, Piece::pairs(chunk), i == 0)
                    .map_err(io)?;
            }
        }
        Kind::Zset => {
            let pairs = parse::<Vec<(Bin, &RawValue)>>(value, "value")?
                .into_iter()
                .map(|(m, s)| Ok((m.bytes()?, score(s)?)))
                .collect::<Result<Vec<_>, String>>()?;
            for (i, chunk) in pairs.chunks(CHUNK).enumerate() {
                c.piece(key, kind, Piece::pairs(chunk), i == 0)
                    .map_err(io)?;
            }
        }
        Kind::Stream => return stream(c, key, parse(value, "value")?).map(Some),
        Kind::String => unreachable!("strings are one command"),
    }
    Ok(None)
}

/// A score: a JSON number's text as it is, or `"inf"`, `"-inf"`.
fn score(raw: &RawValue) -> Result<Vec<u8>, String> {
    let text = raw.get();
    if text.starts_with('"') {
        let s: String = parse(raw, "score")?;
        return match s.as_str() {
            "inf" | "+inf" | "-inf" => Ok(s.into_bytes()),
            _ => Err(format!(
                "a score is a number, \"inf\" or \"-inf\", not {text}"
            )),
        };
    }
    if text.parse::<f64>().is_err() {
        return Err(format!("a score is a number, not {text}"));
    }
    Ok(text.as_bytes().to_vec())
}

fn stream(
    c: &mut Commands<ArgQueue<&mut Vec<ArgBuf>>>,
    key: &[u8],
    s: Stream,
) -> Result<StreamMeta, String> {
    let entries = s
        .entries
        .into_iter()
        .map(|(id, fields)| {
            let fields = fields
                .into_iter()
                .map(|(f, v)| Ok((f.bytes()?, v.bytes()?)))
                .collect::<Result<Vec<_>, String>>()?;
            Ok((id.bytes()?, fields))
        })
        .collect::<Result<Vec<_>, String>>()?;
    for (i, chunk) in entries.chunks(CHUNK).enumerate() {
        c.piece(key, Kind::Stream, Piece::Entries(chunk), i == 0)
            .map_err(|e| e.to_string())?;
    }
    Ok(StreamMeta {
        last_id: s.last_id.bytes()?,
        entries_added: s.entries_added,
        max_deleted: s.max_deleted_id.map(Bin::bytes).transpose()?,
        groups: s
            .groups
            .into_iter()
            .map(|g| Ok((g.name.bytes()?, g.last_delivered_id.bytes()?)))
            .collect::<Result<_, String>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::json::parse_entries;

    fn commands(lines: &[&str]) -> Result<Vec<Vec<String>>, String> {
        let mut keys = KeyLines::default();
        let mut all = Vec::new();
        for line in lines {
            let mut out = Vec::new();
            let n = parse_entries(line, |entries| keys.render(entries, &mut out))?;
            for buf in &out[..n] {
                all.push(
                    buf.args(&[])
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect(),
                );
            }
        }
        Ok(all)
    }

    #[test]
    fn a_line_rebuilds_its_key_as_the_dump_would() {
        let got = commands(&[
            r#"{"db":2,"key":"l","type":"list","value":["a",{"base64":"/w=="}],"expire_at_ms":7}"#,
            r#"{"db":2,"key":"s","type":"string","value":"v","expire_at_ms":null}"#,
            r#"{"db":0,"key":"z","type":"zset","value":[["m",1.5],["n","-inf"]],"expire_at_ms":null}"#,
        ])
        .unwrap();
        let want: Vec<Vec<&str>> = vec![
            vec!["SELECT", "2"],
            vec!["DEL", "l"],
            vec!["RPUSH", "l", "a", "\u{fffd}"],
            vec!["PEXPIREAT", "l", "7"],
            vec!["SET", "s", "v"],
            vec!["SELECT", "0"],
            vec!["DEL", "z"],
            vec!["ZADD", "z", "1.5", "m", "-inf", "n"],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_discarded_line_deletes_what_was_written_of_its_key() {
        let got = commands(&[r#"{"key":"q","type":"list","value":["a"],"changed":true}"#]).unwrap();
        assert_eq!(got, vec![vec!["DEL", "q"]]);
    }

    #[test]
    fn lines_not_of_the_dumps_shape_say_what_is_wrong() {
        for (line, says) in [
            (r#"{"type":"list","value":[]}"#, "needs \"key\""),
            (
                r#"{"key":"k","type":"graph","value":[]}"#,
                "graph is not a type",
            ),
            (
                r#"{"key":"k","type":"zset","value":[["m","x"]]}"#,
                "a score is a number",
            ),
            (r#"{"key":"k","type":"list","value":"x"}"#, "\"value\""),
            (
                r#"{"key":{"base64":"!"},"type":"string","value":"x"}"#,
                "bad base64",
            ),
        ] {
            let e = commands(&[line]).unwrap_err();
            assert!(e.contains(says), "{line}: {e}");
        }
    }
}
