//! Rebuilding keys: a key's type and its value in pieces of bounded size,
//! the [`Output`] that takes them, and [`Commands`], the output that turns
//! them into the commands that make the key again (`DEL`, then the value
//! in commands of bounded size, then its expiry and a stream's metadata).
//!
//! The dump writes keys read from a server through it; the loader reads
//! the dump's JSON lines back through it, so both make the same commands.

mod commands;

use std::io;

pub(crate) use commands::{CommandSink, Commands};

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

    pub(crate) fn name(self) -> &'static str {
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
    /// A hash's fields that expire (Redis 7.4's field expiration), and
    /// when, in milliseconds since the epoch.
    pub field_expiry: Vec<(Vec<u8>, i64)>,
}

/// Why what was written of a key must not stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Discard {
    /// It went away (expired, deleted) while it was read in pieces.
    Vanished,
    /// It changed while it was read in pieces; it is read again.
    Changed,
    /// The read failed part way (a lost connection, a signal); a
    /// continuation writes it again.
    Unfinished,
}

/// Where keys are written.
pub(crate) trait Output {
    /// The keys that follow are of database `db`.
    fn select(&mut self, db: u32) -> io::Result<()>;
    /// A key starts.
    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()>;
    /// The next piece of its value; `first` for the first.
    fn piece(&mut self, key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()>;
    /// It ends, whole.
    fn end(&mut self, key: &[u8], kind: Kind, ending: &Ending) -> io::Result<()>;
    /// What was written of it since `begin` must not stand.
    fn discard(&mut self, key: &[u8], kind: Kind, why: Discard) -> io::Result<()>;
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
                ..Ending::default()
            },
        )
    }
    /// A function library, loaded with `FUNCTION LOAD REPLACE`.
    fn function(&mut self, code: &[u8]) -> io::Result<()>;
    /// A key whole, as `DUMP` serialized it (written by the restore format;
    /// the others never read payloads).
    fn payload(&mut self, key: &[u8], payload: &[u8], expire_at: Option<i64>) -> io::Result<()>;
    /// Commands written so far (JSON lines: keys).
    fn written(&self) -> u64;
    /// Lines longer than redis-cli's inline limit (inline format only).
    fn long_lines(&self) -> u64 {
        0
    }
    fn flush(&mut self) -> io::Result<()>;
}
