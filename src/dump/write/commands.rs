//! Commands that rebuild each key, as RESP or as inline lines: a `DEL`
//! first for collections (a string's `SET` replaces any type), the value in
//! commands of bounded size, then the expiry and, for a stream, its last ID
//! and groups.
//!
//! Inline lines are kept loadable by `redis-cli --pipe`: the server reads
//! an inline line of at most 64 KiB (`PROTO_INLINE_MAX_SIZE`; a longer one
//! is "too big inline request" and closes the connection). A value's
//! elements are spread over as many commands as that takes, and a string
//! over `SET` and `APPEND`s. Only a single element too big for a line on
//! its own makes a longer line; those are counted, and `rload --pipe`
//! (which has no such limit) still loads them.

use std::io::{self, Write};

use super::{Discard, Ending, Kind, Output, Piece, StreamMeta};
use crate::resp::encode_command;

/// How a command is written: RESP, or an inline line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Resp,
    Inline,
}

/// The longest inline line written when it can be helped: under the
/// server's 64 KiB limit, with room for the verb and the key's quoting.
pub(crate) const INLINE_LINE: usize = 60 * 1024;

/// The server's limit on an inline line (`PROTO_INLINE_MAX_SIZE`).
const SERVER_INLINE_LIMIT: usize = 64 * 1024;

/// Commands that rebuild keys, written to `out`.
pub(crate) struct Commands<W: Write> {
    out: W,
    encoding: Encoding,
    buf: Vec<u8>,
    written: u64,
    long_lines: u64,
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
            long_lines: 0,
            entries: false,
        }
    }

    fn command(&mut self, args: &[&[u8]]) -> io::Result<()> {
        self.buf.clear();
        match self.encoding {
            Encoding::Resp => encode_command(&mut self.buf, args),
            Encoding::Inline => {
                inline(args, &mut self.buf);
                // The newline is not part of the line.
                if self.buf.len() > SERVER_INLINE_LIMIT + 1 {
                    self.long_lines += 1;
                }
            }
        }
        self.written += 1;
        self.out.write_all(&self.buf)
    }

    /// `head` followed by `args`, in as many commands as inline lines need
    /// (one command for RESP); `group` arguments go together.
    fn spread(&mut self, head: &[&[u8]], args: &[&[u8]], group: usize) -> io::Result<()> {
        if self.encoding == Encoding::Resp {
            return self.command(&[head, args].concat());
        }
        let base: usize = head.iter().map(|a| quoted_len(a) + 1).sum();
        let mut start = 0;
        while start < args.len() {
            let (mut end, mut len) = (start, base);
            while end < args.len() {
                let more: usize = args[end..end + group]
                    .iter()
                    .map(|a| quoted_len(a) + 1)
                    .sum();
                if end > start && len + more > INLINE_LINE {
                    break;
                }
                len += more;
                end += group;
            }
            self.command(&[head, &args[start..end]].concat())?;
            start = end;
        }
        Ok(())
    }

    /// A string's bytes as `verb key bytes`, then `APPEND`s: each inline
    /// line within the limit.
    fn string_bytes(&mut self, key: &[u8], bytes: &[u8], first: bool) -> io::Result<()> {
        let verb: &[u8] = if first { b"SET" } else { b"APPEND" };
        if self.encoding == Encoding::Resp {
            return self.command(&[verb, key, bytes]);
        }
        let budget = INLINE_LINE.saturating_sub(quoted_len(key) + 8).max(1024);
        let mut rest = bytes;
        let mut verb = verb;
        loop {
            let n = inline_prefix(rest, budget);
            self.command(&[verb, key, &rest[..n]])?;
            rest = &rest[n..];
            if rest.is_empty() {
                return Ok(());
            }
            verb = b"APPEND";
        }
    }
}

impl<W: Write> Output for Commands<W> {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.command(&[b"SELECT", db.to_string().as_bytes()])
    }

    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        match kind {
            Kind::String => Ok(()),
            _ => self.command(&[b"DEL", key]),
        }
    }

    fn piece(&mut self, key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()> {
        match (kind, piece) {
            (Kind::String, Piece::Bytes(b)) => self.string_bytes(key, b, first),
            (Kind::List | Kind::Set, Piece::Items(items)) => {
                let verb: &[u8] = if kind == Kind::List {
                    b"RPUSH"
                } else {
                    b"SADD"
                };
                let args: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                self.spread(&[verb, key], &args, 1)
            }
            (Kind::Hash, Piece::Pairs(pairs)) => {
                let args: Vec<&[u8]> = pairs.iter().flat_map(|(f, v)| [&f[..], &v[..]]).collect();
                self.spread(&[b"HSET", key], &args, 2)
            }
            (Kind::Zset, Piece::Pairs(pairs)) => {
                let args: Vec<&[u8]> = pairs.iter().flat_map(|(m, s)| [&s[..], &m[..]]).collect();
                self.spread(&[b"ZADD", key], &args, 2)
            }
            (Kind::Stream, Piece::Entries(entries)) => {
                self.entries |= !entries.is_empty();
                for (id, fields) in entries {
                    let mut args: Vec<&[u8]> = vec![b"XADD", key, id];
                    args.extend(fields.iter().flat_map(|(f, v)| [&f[..], &v[..]]));
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

    fn discard(&mut self, key: &[u8], _kind: Kind, _why: Discard) -> io::Result<()> {
        self.entries = false;
        self.command(&[b"DEL", key])
    }

    /// One command: `SET` replaces any type, and `PXAT` sets the expiry.
    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        let fits = self.encoding == Encoding::Resp
            || quoted_len(value) + quoted_len(key) + 40 <= INLINE_LINE;
        match expire_at {
            Some(at) if fits => {
                self.command(&[b"SET", key, value, b"PXAT", at.to_string().as_bytes()])
            }
            None if fits => self.command(&[b"SET", key, value]),
            _ => {
                self.string_bytes(key, value, true)?;
                let ending = Ending {
                    expire_at,
                    stream: None,
                };
                self.end(key, Kind::String, &ending)
            }
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

    fn long_lines(&self) -> u64 {
        self.long_lines
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

/// Whether an argument goes on an inline line as it is.
fn plain(a: &[u8]) -> bool {
    !a.is_empty()
        && a.iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'))
}

/// The bytes `b` takes inside double quotes.
fn escaped_len(b: u8) -> usize {
    match b {
        b'"' | b'\\' => 2,
        b' '..=b'~' => 1,
        _ => 4,
    }
}

/// The length of an argument on an inline line.
fn quoted_len(a: &[u8]) -> usize {
    if plain(a) {
        a.len()
    } else {
        2 + a.iter().map(|&b| escaped_len(b)).sum::<usize>()
    }
}

/// How many bytes of `bytes` (at least one) fit in `budget` once quoted.
fn inline_prefix(bytes: &[u8], budget: usize) -> usize {
    let mut len = 2;
    for (i, &b) in bytes.iter().enumerate() {
        len += escaped_len(b);
        if len > budget {
            return i.max(1);
        }
    }
    bytes.len()
}

/// Writes `args` as an inline line redis-cli's rules read back exactly: a
/// plain word as it is, anything else double-quoted with `\xHH` escapes.
fn inline(args: &[&[u8]], out: &mut Vec<u8>) {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if plain(a) {
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
        for a in [&b"a b"[..], b"", b"x\"y", b"\x00\xff", b"plain:1"] {
            let mut one = Vec::new();
            inline(&[a], &mut one);
            assert_eq!(quoted_len(a), one.len() - 1, "{a:?}");
        }
    }

    fn lines(encoding: Encoding, f: impl FnOnce(&mut Commands<&mut Vec<u8>>)) -> Vec<String> {
        let mut out = Vec::new();
        f(&mut Commands::new(&mut out, encoding));
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn inline_lines_stay_under_the_servers_limit() {
        let items: Vec<Vec<u8>> = (0..1000).map(|i| vec![b'\x01'; 100 + i % 7]).collect();
        let out = lines(Encoding::Inline, |c| {
            c.piece(b"l", Kind::List, Piece::Items(&items), true)
                .unwrap();
            c.string(b"s", &vec![0xffu8; 200_000], Some(7)).unwrap();
            assert_eq!(c.long_lines(), 0);
        });
        assert!(
            out.iter().all(|l| l.len() <= INLINE_LINE),
            "a line too long"
        );
        let rpush = out.iter().filter(|l| l.starts_with("RPUSH l ")).count();
        assert!(rpush > 1, "the list is spread over {rpush} commands");
        let elements: usize = out
            .iter()
            .filter(|l| l.starts_with("RPUSH"))
            .map(|l| l.matches(" \"").count())
            .sum();
        assert_eq!(elements, 1000);
        assert!(out.iter().any(|l| l.starts_with("SET s ")));
        assert!(out.iter().any(|l| l.starts_with("APPEND s ")));
        assert_eq!(out.last().unwrap(), "PEXPIREAT s 7");
    }

    #[test]
    fn an_element_too_big_for_any_line_is_counted() {
        let big = vec![vec![0u8; 30_000]];
        let mut out = Vec::new();
        let mut c = Commands::new(&mut out, Encoding::Inline);
        c.piece(b"l", Kind::List, Piece::Items(&big), true).unwrap();
        assert_eq!(c.long_lines(), 1);
    }

    #[test]
    fn resp_keeps_a_piece_in_one_command() {
        let items: Vec<Vec<u8>> = (0..1000).map(|_| vec![b'x'; 100]).collect();
        let out = lines(Encoding::Resp, |c| {
            c.piece(b"l", Kind::List, Piece::Items(&items), true)
                .unwrap();
        });
        assert_eq!(out[0], "*1002");
    }
}
