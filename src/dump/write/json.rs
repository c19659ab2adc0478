//! One JSON object per key:
//! `{"db": D, "key": K, "type": T, "value": V, "expire_at_ms": N|null}`,
//! where a string (key, value, member, field) is a JSON string when it is
//! UTF-8 and `{"base64": "..."}` when not; a list or set is an array; a
//! hash an array of `[field, value]`; a sorted set an array of `[member,
//! score]`; a stream an object of its entries, last ID, groups and (Redis
//! 7) counters. `db` is there when the dump's output selects databases.
//!
//! A key read in windows is written as it is read. If it then turns out
//! not to stand (it went away or changed while read), its line is closed
//! with `"vanished": true` or `"changed": true`: such a line is not a key
//! (a changed key follows on a line of its own).

use std::io::{self, Write};

use base64::Engine;

use super::{Discard, Ending, Kind, Output, Piece};
use crate::rebuild::Pairs;

pub(crate) struct JsonLines<W: Write> {
    out: W,
    keys: u64,
    /// The database of the keys that follow, once one is selected.
    db: Option<u32>,
    /// Whether an element was written into the open array.
    any: bool,
    /// A string's bytes, gathered when they come in windows (an RDB's):
    /// JSON cannot append to a string already written, so it is written
    /// whole at its end.
    string: Vec<u8>,
}

impl<W: Write> JsonLines<W> {
    pub(crate) fn new(out: W) -> Self {
        JsonLines {
            out,
            keys: 0,
            db: None,
            any: false,
            string: Vec::new(),
        }
    }

    fn bin(&mut self, b: &[u8]) -> io::Result<()> {
        match std::str::from_utf8(b) {
            Ok(s) => serde_json::to_writer(&mut self.out, s).map_err(io::Error::other),
            Err(_) => write!(
                self.out,
                "{{\"base64\":\"{}\"}}",
                base64::engine::general_purpose::STANDARD.encode(b)
            ),
        }
    }

    fn sep(&mut self) -> io::Result<()> {
        if std::mem::replace(&mut self.any, true) {
            self.out.write_all(b",")?;
        }
        Ok(())
    }

    fn score(&mut self, s: &[u8]) -> io::Result<()> {
        match s {
            b"inf" | b"+inf" | b"-inf" | b"nan" => self.bin(s),
            _ => self.out.write_all(s),
        }
    }

    fn pairs(&mut self, pairs: Pairs<'_>, score: bool) -> io::Result<()> {
        for (a, b) in pairs.iter() {
            self.sep()?;
            self.out.write_all(b"[")?;
            self.bin(a)?;
            self.out.write_all(b",")?;
            if score {
                self.score(b)?
            } else {
                self.bin(b)?
            }
            self.out.write_all(b"]")?;
        }
        Ok(())
    }

    /// Closes the value of `kind` as it stands.
    fn close(&mut self, kind: Kind) -> io::Result<()> {
        match kind {
            Kind::String => {
                let string = std::mem::take(&mut self.string);
                let written = self.bin(&string);
                self.string = string;
                self.string.clear();
                written
            }
            _ => self.out.write_all(b"]"),
        }
    }
}

impl<W: Write> Output for JsonLines<W> {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.db = Some(db);
        Ok(())
    }

    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        match self.db {
            Some(db) => write!(self.out, "{{\"db\":{db},\"key\":")?,
            None => self.out.write_all(b"{\"key\":")?,
        }
        self.bin(key)?;
        write!(self.out, ",\"type\":\"{}\",\"value\":", kind.name())?;
        self.any = false;
        match kind {
            // A string that never gets its bytes (discarded first) is "".
            Kind::String => Ok(()),
            Kind::Stream => self.out.write_all(b"{\"entries\":["),
            _ => self.out.write_all(b"["),
        }
    }

    fn piece(&mut self, _key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()> {
        match piece {
            Piece::Bytes(b) => {
                if first {
                    self.string.clear();
                }
                self.string.extend_from_slice(b);
                self.any = true;
                Ok(())
            }
            Piece::Items(items) => {
                for i in items.iter() {
                    self.sep()?;
                    self.bin(i)?;
                }
                Ok(())
            }
            Piece::Pairs(pairs) => self.pairs(pairs, kind == Kind::Zset),
            Piece::Entries(entries) => {
                for (id, fields) in entries {
                    self.sep()?;
                    self.out.write_all(b"[")?;
                    self.bin(id)?;
                    self.out.write_all(b",[")?;
                    let outer = std::mem::replace(&mut self.any, false);
                    self.pairs(Pairs::Owned(fields), false)?;
                    self.any = outer;
                    self.out.write_all(b"]]")?;
                }
                Ok(())
            }
        }
    }

    fn end(&mut self, _key: &[u8], kind: Kind, ending: &Ending) -> io::Result<()> {
        self.close(kind)?;
        if let Some(meta) = &ending.stream {
            self.out.write_all(b",\"last_id\":")?;
            self.bin(&meta.last_id)?;
            self.out.write_all(b",\"groups\":[")?;
            for (i, (name, last)) in meta.groups.iter().enumerate() {
                if i > 0 {
                    self.out.write_all(b",")?;
                }
                self.out.write_all(b"{\"name\":")?;
                self.bin(name)?;
                self.out.write_all(b",\"last_delivered_id\":")?;
                self.bin(last)?;
                self.out.write_all(b"}")?;
            }
            self.out.write_all(b"]")?;
            if let Some(added) = meta.entries_added {
                write!(self.out, ",\"entries_added\":{added}")?;
            }
            if let Some(deleted) = &meta.max_deleted {
                self.out.write_all(b",\"max_deleted_id\":")?;
                self.bin(deleted)?;
            }
            self.out.write_all(b"}")?;
        }
        if !ending.field_expiry.is_empty() {
            self.out.write_all(b",\"field_expire_at_ms\":[")?;
            for (i, (field, at)) in ending.field_expiry.iter().enumerate() {
                self.out.write_all(if i == 0 { b"[" } else { b",[" })?;
                self.bin(field)?;
                write!(self.out, ",{at}]")?;
            }
            self.out.write_all(b"]")?;
        }
        match ending.expire_at {
            Some(at) => write!(self.out, ",\"expire_at_ms\":{at}}}")?,
            None => self.out.write_all(b",\"expire_at_ms\":null}")?,
        }
        self.keys += 1;
        self.out.write_all(b"\n")
    }

    fn discard(&mut self, _key: &[u8], kind: Kind, why: Discard) -> io::Result<()> {
        self.close(kind)?;
        if kind == Kind::Stream {
            self.out.write_all(b"}")?;
        }
        let mark = match why {
            Discard::Vanished => "vanished",
            Discard::Changed => "changed",
            Discard::Unfinished => "unfinished",
        };
        writeln!(self.out, ",\"{mark}\":true}}")
    }

    fn payload(&mut self, _key: &[u8], _payload: &[u8], _at: Option<i64>) -> io::Result<()> {
        Err(io::Error::other(
            "JSON lines hold values, not DUMP payloads",
        ))
    }

    /// A line of its own, `{"function": "#!lua name=..."}`, which the
    /// loader reads back as `FUNCTION LOAD REPLACE`.
    fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.out.write_all(b"{\"function\":")?;
        self.bin(code)?;
        self.out.write_all(b"}\n")
    }

    fn written(&self) -> u64 {
        self.keys
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_keep_binary_as_base64_and_scores_as_numbers() {
        let mut j = JsonLines::new(Vec::new());
        j.begin(b"z\xff", Kind::Zset).unwrap();
        let pairs = vec![
            (b"m".to_vec(), b"1.5".to_vec()),
            (b"n".to_vec(), b"-inf".to_vec()),
        ];
        j.piece(b"", Kind::Zset, Piece::pairs(&pairs), true)
            .unwrap();
        j.end(
            b"",
            Kind::Zset,
            &Ending {
                expire_at: Some(5),
                stream: None,
                ..Ending::default()
            },
        )
        .unwrap();
        let line = String::from_utf8(j.out).unwrap();
        assert_eq!(
            line,
            "{\"key\":{\"base64\":\"ev8=\"},\"type\":\"zset\",\"value\":[[\"m\",1.5],[\"n\",\"-inf\"]],\"expire_at_ms\":5}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["value"][0][1], 1.5);
    }

    #[test]
    fn every_discarded_line_is_valid_json_and_names_why() {
        for (kind, why, mark) in [
            (Kind::List, Discard::Changed, "changed"),
            (Kind::Stream, Discard::Vanished, "vanished"),
            (Kind::String, Discard::Unfinished, "unfinished"),
        ] {
            let mut j = JsonLines::new(Vec::new());
            j.select(3).unwrap();
            j.begin(b"k", kind).unwrap();
            if kind == Kind::List {
                let items = vec![b"a".to_vec()];
                j.piece(b"k", kind, Piece::items(&items), true).unwrap();
            }
            j.discard(b"k", kind, why).unwrap();
            let line = String::from_utf8(j.out).unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).expect(&line);
            assert_eq!(v[mark], true, "{line}");
            assert_eq!(v["db"], 3, "{line}");
            assert_eq!(j.keys, 0);
        }
    }
}
