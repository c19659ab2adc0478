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

/// Commands as a [`Commands`] output wrote them, each as its arguments:
/// what the tests and fuzz checks compare.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Default)]
pub(crate) struct Recorded(pub(crate) Vec<Vec<Vec<u8>>>);

#[cfg(any(test, feature = "fuzzing"))]
impl CommandSink for Recorded {
    fn command(&mut self, args: &[&[u8]]) -> io::Result<()> {
        self.0.push(args.iter().map(|a| a.to_vec()).collect());
        Ok(())
    }

    fn count(&self) -> u64 {
        self.0.len() as u64
    }
}

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
    Items(Items<'a>),
    /// Hash fields and values, or sorted-set members and scores (the
    /// score as the server wrote it).
    Pairs(Pairs<'a>),
    /// Stream entries: an ID and its fields and values.
    Entries(&'a [Entry]),
}

impl<'a> Piece<'a> {
    /// List elements or set members held each in its own buffer.
    pub(crate) fn items(items: &'a [Vec<u8>]) -> Self {
        Piece::Items(Items::Owned(items))
    }

    /// Fields and values, or members and scores, held as pairs.
    pub(crate) fn pairs(pairs: &'a [Pair]) -> Self {
        Piece::Pairs(Pairs::Owned(pairs))
    }
}

/// A piece's elements: each in its own buffer (a server's reply), or
/// views into one buffer (an RDB file's, read without a copy per element).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Items<'a> {
    Owned(&'a [Vec<u8>]),
    /// Element `i` is `data[ends[i - 1]..ends[i]]`, the first starting at
    /// `start`.
    Flat {
        data: &'a [u8],
        start: usize,
        ends: &'a [usize],
    },
}

impl<'a> Items<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Items::Owned(v) => v.len(),
            Items::Flat { ends, .. } => ends.len(),
        }
    }

    /// The elements in order.
    pub(crate) fn iter(&self) -> ItemsIter<'a> {
        match *self {
            Items::Owned(v) => ItemsIter::Owned(v.iter()),
            Items::Flat { data, start, ends } => ItemsIter::Flat {
                data,
                from: start,
                ends: ends.iter(),
            },
        }
    }
}

/// The elements of [`Items`], in order.
pub(crate) enum ItemsIter<'a> {
    Owned(std::slice::Iter<'a, Vec<u8>>),
    Flat {
        data: &'a [u8],
        from: usize,
        ends: std::slice::Iter<'a, usize>,
    },
}

impl<'a> Iterator for ItemsIter<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            ItemsIter::Owned(it) => it.next().map(Vec::as_slice),
            ItemsIter::Flat { data, from, ends } => {
                let end = *ends.next()?;
                let e = &data[*from..end];
                *from = end;
                Some(e)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            ItemsIter::Owned(it) => it.len(),
            ItemsIter::Flat { ends, .. } => ends.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for ItemsIter<'_> {}

/// A hash's fields and values, or a sorted set's members and scores: as
/// pairs, or as [`Items`] taken two by two.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pairs<'a> {
    Owned(&'a [Pair]),
    /// Field, value, field, value...
    Flat(Items<'a>),
}

impl<'a> Pairs<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Pairs::Owned(v) => v.len(),
            Pairs::Flat(items) => items.len() / 2,
        }
    }

    /// The pairs in order.
    pub(crate) fn iter(&self) -> PairsIter<'a> {
        match *self {
            Pairs::Owned(v) => PairsIter::Owned(v.iter()),
            Pairs::Flat(items) => PairsIter::Flat(items.iter()),
        }
    }
}

/// The pairs of [`Pairs`], in order.
pub(crate) enum PairsIter<'a> {
    Owned(std::slice::Iter<'a, Pair>),
    Flat(ItemsIter<'a>),
}

impl<'a> Iterator for PairsIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            PairsIter::Owned(it) => it.next().map(|(a, b)| (&a[..], &b[..])),
            PairsIter::Flat(it) => Some((it.next()?, it.next()?)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            PairsIter::Owned(it) => it.len(),
            PairsIter::Flat(it) => it.len() / 2,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for PairsIter<'_> {}

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
