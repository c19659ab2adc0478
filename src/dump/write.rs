//! Writing keys out: as commands that rebuild them (RESP, or inline lines
//! quoted as redis-cli reads them), as JSON lines, or as `RESTORE`
//! commands. A key arrives in pieces of bounded size (a big key's value is
//! read in windows), so every format writes as it goes, in flat memory.

use std::io::{self, Write};

use base64::Engine;

use crate::resp::encode_command;

/// A key's type, as `TYPE` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    List,
    Set,
    Zset,
    Hash,
    Stream,
}

impl Kind {
    pub(crate) fn of(name: &[u8]) -> Option<Kind> {
        Some(match name {
            b"string" => Kind::String,
            b"list" => Kind::List,
            b"set" => Kind::Set,
            b"zset" => Kind::Zset,
            b"hash" => Kind::Hash,
            b"stream" => Kind::Stream,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::Zset => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
        }
    }
}

/// A field and its value, or a member and its score.
pub(crate) type Pair = (Vec<u8>, Vec<u8>);

/// A stream entry: its ID, and its fields and values.
pub(crate) type Entry = (Vec<u8>, Vec<Pair>);

/// One piece of a key's value, as read.
pub(crate) enum Piece<'a> {
    /// A string's bytes: the whole, or the next window.
    Bytes(&'a [u8]),
    /// List elements or set members.
    Items(&'a [Vec<u8>]),
    /// Hash fields and values, or sorted-set members and scores (the
    /// score as the server wrote it).
    Pairs(&'a [Pair]),
    /// Stream entries: an ID and its fields and values.
    Entries(&'a [Entry]),
}

/// What a stream keeps besides its entries.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamMeta {
    /// The last ID it generated (it may be past its last entry).
    pub last_id: Vec<u8>,
    /// Entries ever added, and the highest deleted ID (Redis 7).
    pub entries_added: Option<i64>,
    pub max_deleted: Option<Vec<u8>>,
    /// Consumer groups: name and last delivered ID.
    pub groups: Vec<(Vec<u8>, Vec<u8>)>,
}

/// How a key ends.
#[derive(Debug, Default)]
pub(crate) struct Ending {
    /// When it expires, in milliseconds since the epoch.
    pub expire_at: Option<i64>,
    pub stream: Option<StreamMeta>,
}

/// Where keys are written.
pub(crate) trait Output {
    /// A key starts.
    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()>;
    /// The next piece of its value; `first` for the first.
    fn piece(&mut self, key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()>;
    /// It ends, whole.
    fn end(&mut self, key: &[u8], kind: Kind, ending: &Ending) -> io::Result<()>;
    /// It went away (expired, deleted) while it was read in pieces: what
    /// was written of it must not stand.
    fn vanished(&mut self, key: &[u8], kind: Kind) -> io::Result<()>;
    /// A string key whole.
    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        self.begin(key, Kind::String)?;
        self.piece(key, Kind::String, Piece::Bytes(value), true)?;
        self.end(
            key,
            Kind::String,
            &Ending {
                expire_at,
                stream: None,
            },
        )
    }
    /// A key whole, as `DUMP` serialized it (the restore format only).
    fn payload(&mut self, key: &[u8], payload: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        let _ = (key, payload, expire_at);
        unreachable!("only the restore format reads payloads")
    }
    /// Commands written so far (JSON lines: keys).
    fn written(&self) -> u64;
    fn flush(&mut self) -> io::Result<()>;
}

/// How a command is written: RESP, or an inline line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Resp,
    Inline,
}

/// Commands that rebuild each key: a `DEL` first for collections (a
/// string's `SET` replaces any type), the value in commands of bounded
/// size, then the expiry and, for a stream, its last ID and groups.
pub(crate) struct Commands<W: Write> {
    out: W,
    encoding: Encoding,
    buf: Vec<u8>,
    written: u64,
    /// Whether the stream being written has an entry.
    entries: bool,
}

impl<W: Write> Commands<W> {
    pub(crate) fn new(out: W, encoding: Encoding) -> Self {
        Commands {
            out,
            encoding,
            buf: Vec::new(),
            written: 0,
            entries: false,
        }
    }

    fn command(&mut self, args: &[&[u8]]) -> io::Result<()> {
        self.buf.clear();
        match self.encoding {
            Encoding::Resp => encode_command(&mut self.buf, args),
            Encoding::Inline => inline(args, &mut self.buf),
        }
        self.written += 1;
        self.out.write_all(&self.buf)
    }
}

impl<W: Write> Output for Commands<W> {
    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        match kind {
            Kind::String => Ok(()),
            _ => self.command(&[b"DEL", key]),
        }
    }

    fn piece(&mut self, key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()> {
        match (kind, piece) {
            (Kind::String, Piece::Bytes(b)) => {
                let verb: &[u8] = if first { b"SET" } else { b"APPEND" };
                self.command(&[verb, key, b])
            }
            (Kind::List | Kind::Set, Piece::Items(items)) => {
                let verb: &[u8] = if kind == Kind::List {
                    b"RPUSH"
                } else {
                    b"SADD"
                };
                let mut args: Vec<&[u8]> = vec![verb, key];
                args.extend(items.iter().map(Vec::as_slice));
                self.command(&args)
            }
            (Kind::Hash, Piece::Pairs(pairs)) => {
                let mut args: Vec<&[u8]> = vec![b"HSET", key];
                args.extend(pairs.iter().flat_map(|(f, v)| [f.as_slice(), v.as_slice()]));
                self.command(&args)
            }
            (Kind::Zset, Piece::Pairs(pairs)) => {
                let mut args: Vec<&[u8]> = vec![b"ZADD", key];
                args.extend(pairs.iter().flat_map(|(m, s)| [s.as_slice(), m.as_slice()]));
                self.command(&args)
            }
            (Kind::Stream, Piece::Entries(entries)) => {
                self.entries |= !entries.is_empty();
                for (id, fields) in entries {
                    let mut args: Vec<&[u8]> = vec![b"XADD", key, id];
                    args.extend(
                        fields
                            .iter()
                            .flat_map(|(f, v)| [f.as_slice(), v.as_slice()]),
                    );
                    self.command(&args)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn end(&mut self, key: &[u8], _kind: Kind, ending: &Ending) -> io::Result<()> {
        if let Some(meta) = &ending.stream {
            let empty = !std::mem::take(&mut self.entries);
            stream_end(self, key, meta, empty)?;
        }
        if let Some(at) = ending.expire_at {
            self.command(&[b"PEXPIREAT", key, at.to_string().as_bytes()])?;
        }
        Ok(())
    }

    fn vanished(&mut self, key: &[u8], _kind: Kind) -> io::Result<()> {
        self.command(&[b"DEL", key])
    }

    /// One command: `SET` replaces any type, and `PXAT` sets the expiry.
    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        match expire_at {
            Some(at) => self.command(&[b"SET", key, value, b"PXAT", at.to_string().as_bytes()]),
            None => self.command(&[b"SET", key, value]),
        }
    }

    fn payload(&mut self, key: &[u8], payload: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        let ttl = expire_at.unwrap_or(0).to_string();
        self.command(&[
            b"RESTORE",
            key,
            ttl.as_bytes(),
            payload,
            b"REPLACE",
            b"ABSTTL",
        ])
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A stream's last ID and its consumer groups; and, when it has no entry
/// left (`empty`), the stream itself, which `XADD` would otherwise make.
fn stream_end<W: Write>(
    c: &mut Commands<W>,
    key: &[u8],
    meta: &StreamMeta,
    empty: bool,
) -> io::Result<()> {
    let groups = |c: &mut Commands<W>| -> io::Result<()> {
        for (group, last) in &meta.groups {
            c.command(&[b"XGROUP", b"CREATE", key, group, last, b"MKSTREAM"])?;
        }
        Ok(())
    };
    if empty {
        if meta.groups.is_empty() {
            // Made with one entry, trimmed away at once.
            let id: &[u8] = if meta.last_id == b"0-0" {
                b"0-1"
            } else {
                &meta.last_id
            };
            c.command(&[b"XADD", key, b"MAXLEN", b"0", id, b"_", b"_"])?;
        } else {
            groups(c)?;
        }
    }
    let mut setid: Vec<Vec<u8>> = vec![b"XSETID".to_vec(), key.to_vec(), meta.last_id.clone()];
    if let (Some(added), Some(deleted)) = (meta.entries_added, &meta.max_deleted) {
        setid.push(b"ENTRIESADDED".to_vec());
        setid.push(added.to_string().into_bytes());
        setid.push(b"MAXDELETEDID".to_vec());
        setid.push(deleted.clone());
    }
    let refs: Vec<&[u8]> = setid.iter().map(Vec::as_slice).collect();
    c.command(&refs)?;
    if !empty {
        groups(c)?;
    }
    Ok(())
}

/// Writes `args` as an inline line redis-cli's rules read back exactly: a
/// plain word as it is, anything else double-quoted with `\xHH` escapes.
fn inline(args: &[&[u8]], out: &mut Vec<u8>) {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        let plain = !a.is_empty()
            && a.iter()
                .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'));
        if plain {
            out.extend_from_slice(a);
            continue;
        }
        out.push(b'"');
        for &b in *a {
            match b {
                b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                b' '..=b'~' => out.push(b),
                _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        out.push(b'"');
    }
    out.push(b'\n');
}

/// One JSON object per key:
/// `{"key": K, "type": T, "value": V, "expire_at_ms": N|null}`, where a
/// string (key, value, member, field) is a JSON string when it is UTF-8 and
/// `{"base64": "..."}` when not; a list or set is an array; a hash an array
/// of `[field, value]`; a sorted set an array of `[member, score]`; a
/// stream an object of its entries, last ID and groups.
pub(crate) struct JsonLines<W: Write> {
    out: W,
    keys: u64,
    /// Whether an element was written into the open array.
    any: bool,
}

impl<W: Write> JsonLines<W> {
    pub(crate) fn new(out: W) -> Self {
        JsonLines {
            out,
            keys: 0,
            any: false,
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

    fn pairs(&mut self, pairs: &[(Vec<u8>, Vec<u8>)], score: bool) -> io::Result<()> {
        for (a, b) in pairs {
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
            Kind::String => Ok(()),
            Kind::Stream => self.out.write_all(b"]"),
            _ => self.out.write_all(b"]"),
        }
    }
}

impl<W: Write> Output for JsonLines<W> {
    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        self.out.write_all(b"{\"key\":")?;
        self.bin(key)?;
        write!(self.out, ",\"type\":\"{}\",\"value\":", kind.name())?;
        self.any = false;
        match kind {
            Kind::String => Ok(()),
            Kind::Stream => self.out.write_all(b"{\"entries\":["),
            _ => self.out.write_all(b"["),
        }
    }

    fn piece(&mut self, _key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()> {
        match piece {
            Piece::Bytes(b) => {
                if !first {
                    // JSON has no way to append to a string already
                    // written: a string read in windows is written in one,
                    // so a window after the first never comes here.
                    return Err(io::Error::other("a string in windows cannot be JSON"));
                }
                self.bin(b)
            }
            Piece::Items(items) => {
                for i in items {
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
                    self.pairs(fields, false)?;
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
            self.out.write_all(b"]}")?;
        }
        match ending.expire_at {
            Some(at) => write!(self.out, ",\"expire_at_ms\":{at}}}")?,
            None => self.out.write_all(b",\"expire_at_ms\":null}")?,
        }
        self.keys += 1;
        self.out.write_all(b"\n")
    }

    fn vanished(&mut self, _key: &[u8], kind: Kind) -> io::Result<()> {
        self.close(kind)?;
        if kind == Kind::Stream {
            self.out.write_all(b"}")?;
        }
        self.out.write_all(b",\"vanished\":true}\n")
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
    fn inline_lines_quote_what_redis_cli_would_split() {
        let mut out = Vec::new();
        inline(
            &[b"SET", b"a b", b"", b"x\"y", b"\x00\xff", b"plain:1"],
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SET \"a b\" \"\" \"x\\\"y\" \"\\x00\\xff\" plain:1\n"
        );
    }

    #[test]
    fn json_lines_keep_binary_as_base64_and_scores_as_numbers() {
        let mut j = JsonLines::new(Vec::new());
        j.begin(b"z\xff", Kind::Zset).unwrap();
        let pairs = vec![
            (b"m".to_vec(), b"1.5".to_vec()),
            (b"n".to_vec(), b"-inf".to_vec()),
        ];
        j.piece(b"", Kind::Zset, Piece::Pairs(&pairs), true)
            .unwrap();
        j.end(
            b"",
            Kind::Zset,
            &Ending {
                expire_at: Some(5),
                stream: None,
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
}
