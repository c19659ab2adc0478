//! Commands that rebuild each key: a `DEL` first for collections (a
//! string's `SET` replaces any type), the value in commands of bounded
//! size, then the expiry and, for a stream, its last ID and groups.
//!
//! Where the commands go is a [`CommandSink`]. A sink that writes inline
//! lines keeps them loadable by `redis-cli --pipe`: the server reads an
//! inline line of at most 64 KiB. A value's elements are then spread over
//! as many commands as that takes, and a string over `SET` and
//! `APPEND`s; only a single element too big for a line on its own makes a
//! longer one.

use std::io;

use super::{Discard, Ending, Kind, Output, Piece, StreamMeta};
use crate::resp::{inline_len, inline_prefix};

/// The longest inline line written when it can be helped: under the
/// server's 64 KiB limit, with room for the verb and the key's quoting.
pub(crate) const INLINE_LINE: usize = 60 * 1024;

/// Where rebuilding commands go.
pub(crate) trait CommandSink {
    /// One command.
    fn command(&mut self, args: &[&[u8]]) -> io::Result<()>;
    /// Whether commands become inline lines, which must stay short.
    fn inline(&self) -> bool {
        false
    }
    /// Commands taken so far.
    fn count(&self) -> u64;
    /// Lines longer than the server's inline limit.
    fn long_lines(&self) -> u64 {
        0
    }
    /// Sends on what is buffered.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// A key whole, as `DUMP` serialized it.
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
}

/// The commands that rebuild keys, sent to a [`CommandSink`].
pub(crate) struct Commands<S> {
    sink: S,
    /// Whether the stream being written has an entry.
    entries: bool,
}

impl<S: CommandSink> Commands<S> {
    pub(crate) fn new(sink: S) -> Self {
        Commands {
            sink,
            entries: false,
        }
    }

    /// The sink, to take what it holds.
    pub(crate) fn sink(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The sink, to look at what it holds.
    pub(crate) fn sink_ref(&self) -> &S {
        &self.sink
    }

    fn command(&mut self, args: &[&[u8]]) -> io::Result<()> {
        self.sink.command(args)
    }

    /// `head` followed by `args`, in as many commands as inline lines need
    /// (one command otherwise); `group` arguments go together. `args` has
    /// room for `head` at its start (`head.len()` empty slots): a command
    /// then takes no allocation of its own.
    fn spread<'a>(
        &mut self,
        head: &[&'a [u8]],
        args: &mut [&'a [u8]],
        group: usize,
    ) -> io::Result<()> {
        if !self.sink.inline() {
            args[..head.len()].copy_from_slice(head);
            return self.command(args);
        }
        let args = &args[head.len()..];
        let base: usize = head.iter().map(|a| inline_len(a) + 1).sum();
        let mut start = 0;
        while start < args.len() {
            let (mut end, mut len) = (start, base);
            while end < args.len() {
                let more: usize = args[end..end + group]
                    .iter()
                    .map(|a| inline_len(a) + 1)
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
        if !self.sink.inline() {
            return self.command(&[verb, key, bytes]);
        }
        let budget = INLINE_LINE.saturating_sub(inline_len(key) + 8).max(1024);
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

impl<S: CommandSink> Output for Commands<S> {
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
                let mut args: Vec<&[u8]> = Vec::with_capacity(items.len() + 2);
                args.extend([&[][..], &[][..]]);
                args.extend(items.iter());
                self.spread(&[verb, key], &mut args, 1)
            }
            (Kind::Hash, Piece::Pairs(pairs)) => {
                let mut args: Vec<&[u8]> = Vec::with_capacity(2 * pairs.len() + 2);
                args.extend([&[][..], &[][..]]);
                args.extend(pairs.iter().flat_map(|(f, v)| [f, v]));
                self.spread(&[b"HSET", key], &mut args, 2)
            }
            (Kind::Zset, Piece::Pairs(pairs)) => {
                let mut args: Vec<&[u8]> = Vec::with_capacity(2 * pairs.len() + 2);
                args.extend([&[][..], &[][..]]);
                args.extend(pairs.iter().flat_map(|(m, s)| [s, m]));
                self.spread(&[b"ZADD", key], &mut args, 2)
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
        field_expiry(self, key, &ending.field_expiry)
    }

    fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.command(&[b"FUNCTION", b"LOAD", b"REPLACE", code])
    }

    fn discard(&mut self, key: &[u8], _kind: Kind, _why: Discard) -> io::Result<()> {
        self.entries = false;
        self.command(&[b"DEL", key])
    }

    /// One command: `SET` replaces any type, and `PXAT` sets the expiry.
    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        let fits = !self.sink.inline() || inline_len(value) + inline_len(key) + 40 <= INLINE_LINE;
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
                    ..Ending::default()
                };
                self.end(key, Kind::String, &ending)
            }
        }
    }

    fn payload(&mut self, key: &[u8], payload: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        self.sink.payload(key, payload, expire_at)
    }

    fn written(&self) -> u64 {
        self.sink.count()
    }

    fn long_lines(&self) -> u64 {
        self.sink.long_lines()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

/// `HPEXPIREAT key at FIELDS n field...` for each time some of a hash's
/// fields expire at (Redis 7.4).
fn field_expiry<S: CommandSink>(
    c: &mut Commands<S>,
    key: &[u8],
    fields: &[(Vec<u8>, i64)],
) -> io::Result<()> {
    let mut sorted: Vec<&(Vec<u8>, i64)> = fields.iter().collect();
    sorted.sort_by_key(|(_, at)| *at);
    for group in sorted.chunk_by(|a, b| a.1 == b.1) {
        let (at, n) = (group[0].1.to_string(), group.len().to_string());
        let mut args: Vec<&[u8]> = vec![b"HPEXPIREAT", key, at.as_bytes(), b"FIELDS", n.as_bytes()];
        args.extend(group.iter().map(|(f, _)| f.as_slice()));
        c.command(&args)?;
    }
    Ok(())
}

/// A stream's last ID and its consumer groups; and, when it has no entry
/// left (`empty`), the stream itself, which `XADD` would otherwise make.
fn stream_end<S: CommandSink>(
    c: &mut Commands<S>,
    key: &[u8],
    meta: &StreamMeta,
    empty: bool,
) -> io::Result<()> {
    let groups = |c: &mut Commands<S>| -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{INLINE_LIMIT, encode_inline};

    /// Inline lines, as a dump writes them.
    #[derive(Default)]
    struct Lines {
        out: Vec<u8>,
        count: u64,
        long: u64,
    }

    impl CommandSink for Lines {
        fn command(&mut self, args: &[&[u8]]) -> io::Result<()> {
            let before = self.out.len();
            encode_inline(&mut self.out, args);
            self.long += u64::from(self.out.len() - before > INLINE_LIMIT + 1);
            self.count += 1;
            Ok(())
        }
        fn inline(&self) -> bool {
            true
        }
        fn count(&self) -> u64 {
            self.count
        }
        fn long_lines(&self) -> u64 {
            self.long
        }
    }

    fn lines(c: &Commands<Lines>) -> Vec<String> {
        String::from_utf8(c.sink.out.clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn inline_lines_stay_under_the_servers_limit() {
        let items: Vec<Vec<u8>> = (0..1000).map(|i| vec![b'\x01'; 100 + i % 7]).collect();
        let mut c = Commands::new(Lines::default());
        c.piece(b"l", Kind::List, Piece::items(&items), true)
            .unwrap();
        c.string(b"s", &vec![0xffu8; 200_000], Some(7)).unwrap();
        assert_eq!(c.long_lines(), 0);
        let out = lines(&c);
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
        let mut c = Commands::new(Lines::default());
        c.piece(b"l", Kind::List, Piece::items(&big), true).unwrap();
        assert_eq!(c.long_lines(), 1);
    }
}
