//! An RDB's keys replayed into a [`crate::rebuild::Output`]: the output a
//! dump writes a server's keys into. So an RDB file converts to every
//! format `--dump` writes, and loads as the commands a dump's RESP holds;
//! where the target reads the file's RDB version, a small key goes whole as
//! `RESTORE` of its own serialized bytes instead, the server's cheapest
//! path.
//!
//! Keys the [`KeyFilter`] does not take, keys already expired, and empty
//! collections (which the server skips when it loads a file) are passed
//! over. A module's value can only be `RESTORE`d: without that it is
//! counted as skipped.

use std::io::{self, Read};

use super::{Event, KeyEnd, KeyStart, Kind, Piece, RdbError, RdbReader, StreamMeta};
use crate::filter::KeyFilter;
use crate::rebuild::{self, Ending, Output};

/// Decoded bytes held back while a key may still go as `RESTORE`: past
/// this, its pieces go out as commands (its serialized form is then past
/// the reader's raw limit too, as a rule).
const DEFER_BYTES: usize = 512 * 1024;

/// How keys are written.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReplayOptions {
    /// Each database's keys go after a `SELECT` of it (else all of them go
    /// into whichever database the output is in).
    pub select: bool,
    /// Small keys go as `RESTORE` when the file's RDB version is at most
    /// this one (the target's); never when `None`.
    pub restore_upto: Option<u32>,
    /// Strings without an expiry go as `RESTORE` too (a dump in the
    /// restore format); else as one `SET`, which the server runs faster
    /// than the `RESTORE` of a small string's payload (about a fifth less
    /// of its CPU, measured on Redis 7.0).
    pub restore_strings: bool,
    /// Keys that expire before this time (ms since the epoch) are skipped.
    pub now_ms: Option<i64>,
}

/// What replaying has done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Replayed {
    /// Keys written, per database.
    pub keys: Vec<(u64, u64)>,
    /// Keys written as `RESTORE`.
    pub restored: u64,
    /// Keys the filter did not take.
    pub filtered: u64,
    /// Keys already expired.
    pub expired: u64,
    /// Modules' values that could not be written.
    pub modules: u64,
    /// Function libraries written.
    pub functions: u64,
}

impl Replayed {
    fn add_key(&mut self, db: u64) {
        match self.keys.iter_mut().find(|(d, _)| *d == db) {
            Some((_, n)) => *n += 1,
            None => self.keys.push((db, 1)),
        }
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplayError {
    /// The file is not readable as an RDB.
    #[error(transparent)]
    Rdb(#[from] RdbError),
    /// Writing the output failed.
    #[error("writing failed: {0}")]
    Output(#[from] io::Error),
}

/// A piece held while its key may still go as `RESTORE`.
enum Held {
    Bytes(Vec<u8>),
    Items(Vec<Vec<u8>>),
    Pairs(Vec<rebuild::Pair>),
    Entries(Vec<rebuild::Entry>),
}

/// The key being replayed.
#[derive(Default)]
struct Current {
    key: Vec<u8>,
    kind: Option<rebuild::Kind>,
    expire_at: Option<i64>,
    /// Not taken: its pieces are read and passed over.
    skip: bool,
    /// Its pieces are held (it may go as `RESTORE`), with their size.
    held: Option<(Vec<Held>, usize)>,
    begun: bool,
    first: bool,
    /// Written whole already ([`Output::string`]).
    written: bool,
    field_expiry: Vec<(Vec<u8>, i64)>,
}

/// One step of a replay.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A key was written whole (or passed over); the reader has read this
    /// many keys so far.
    Key(u64),
    /// Something else was read.
    Other,
    /// The file has ended.
    End,
}

/// Replays an RDB, event by event.
pub(crate) struct Replay<R> {
    reader: RdbReader<R>,
    filter: KeyFilter,
    options: ReplayOptions,
    db: u64,
    selected: Option<u64>,
    /// The key being read (its buffers kept from one key to the next),
    /// while `active`.
    current: Current,
    active: bool,
    pub(crate) done: Replayed,
}

impl<R: Read> Replay<R> {
    pub(crate) fn new(reader: RdbReader<R>, filter: KeyFilter, options: ReplayOptions) -> Self {
        // A value's serialized bytes are kept only for a RESTORE.
        let reader = match options.restore_upto {
            Some(_) => reader,
            None => reader.with_raw_limit(0),
        };
        Replay {
            reader,
            filter,
            options,
            db: 0,
            selected: None,
            current: Current::default(),
            active: false,
            done: Replayed::default(),
        }
    }

    /// The reader, for its version, offset and keys read.
    pub(crate) fn reader(&self) -> &RdbReader<R> {
        &self.reader
    }

    /// The source, once the RDB is read.
    pub(crate) fn into_source(self) -> R {
        self.reader.into_inner()
    }

    /// Undoes what was written of a key the reading stopped in (a
    /// truncated or corrupt file): nothing of it may stand.
    ///
    /// # Errors
    ///
    /// Writing failed.
    pub(crate) fn abandon(&mut self, out: &mut dyn Output) -> io::Result<()> {
        let c = &self.current;
        if !std::mem::replace(&mut self.active, false) || !c.begun {
            return Ok(());
        }
        out.discard(
            &c.key,
            c.kind.expect("only values of a type are begun"),
            rebuild::Discard::Unfinished,
        )
    }

    /// Whether the target reads the file's payloads: versions up to its
    /// own, except that Valkey 9 (80) does not read Redis's 12 and later.
    fn restores(&self) -> bool {
        let v = self.reader.version();
        self.options
            .restore_upto
            .is_some_and(|upto| v <= upto && !(upto >= 80 && (12..80).contains(&v)))
    }

    /// Reads one event and writes what it holds to `out`.
    ///
    /// # Errors
    ///
    /// The file is not a readable RDB, or writing failed.
    pub(crate) fn step(&mut self, out: &mut dyn Output) -> Result<Step, ReplayError> {
        let restores = self.restores();
        let version = self.reader.version();
        let keys_before = self.reader.keys_done();
        let Replay {
            reader,
            filter,
            options,
            db,
            selected,
            current,
            active,
            done,
        } = self;
        // Strings go as strings unless RESTOREd: all of them, or (a load
        // into a server that reads the file's payloads) those without an
        // expiry, unless even those are to be RESTOREd.
        let plain = !restores || !options.restore_strings;
        if !*active
            && plain
            && let Some(s) = reader.whole_string(!restores)
        {
            // A string in the buffer whole: read in one step.
            let expired =
                matches!((s.expire_at_ms, options.now_ms), (Some(at), Some(now)) if at <= now);
            if !expired && filter.takes_lazily(s.db, s.key, || "string".into()) {
                if options.select && *selected != Some(s.db) {
                    out.select(u32::try_from(s.db).unwrap_or(u32::MAX))?;
                    *selected = Some(s.db);
                }
                out.string(s.key, s.value, s.expire_at_ms)?;
                done.add_key(s.db);
            }
            return Ok(Step::Key(keys_before + 1));
        }
        let Some((event, whole)) = reader.next_telling_whole()? else {
            return Ok(Step::End);
        };
        match event {
            Event::SelectDb(n) => *db = n,
            Event::Function { code } => {
                out.function(code)?;
                done.functions += 1;
            }
            Event::KeyStart(start) => {
                current.start(&start, filter, options, restores);
                *active = true;
                if !current.skip && options.select && *selected != Some(*db) {
                    // Before anything of the key is written.
                    out.select(u32::try_from(*db).unwrap_or(u32::MAX))?;
                    *selected = Some(*db);
                }
            }
            Event::Piece(piece) if *active => current.piece(piece, whole, out)?,
            Event::KeyEnd(end) => {
                if std::mem::replace(active, false) {
                    let mut at = KeyEnding {
                        db: *db,
                        version,
                        done,
                    };
                    at.end_key(current, &end, out)?;
                }
                return Ok(Step::Key(keys_before + 1));
            }
            Event::End { .. } => return Ok(Step::End),
            _ => {}
        }
        Ok(Step::Other)
    }
}

/// What ending a key needs of the replay.
struct KeyEnding<'a> {
    db: u64,
    version: u32,
    done: &'a mut Replayed,
}

impl KeyEnding<'_> {
    fn end_key(
        &mut self,
        c: &mut Current,
        end: &KeyEnd<'_>,
        out: &mut dyn Output,
    ) -> Result<(), ReplayError> {
        use rebuild::Kind::{Hash, List, Set, Zset};
        if c.skip {
            return Ok(());
        }
        if end.elements == 0 && matches!(c.kind, Some(List | Set | Zset | Hash)) {
            // The server skips it when it loads the file.
            return Ok(());
        }
        if c.held.is_some()
            && let Some(raw) = end.raw
        {
            let payload = raw.restore_payload(self.version as u16);
            out.payload(&c.key, &payload, c.expire_at)?;
            self.done.restored += 1;
            self.done.add_key(self.db);
            return Ok(());
        }
        let Some(kind) = c.kind else {
            // A module's value, with no RESTORE to write it.
            self.done.modules += 1;
            return Ok(());
        };
        if c.written {
            self.done.add_key(self.db);
            return Ok(());
        }
        c.release(out)?;
        if !c.begun {
            out.begin(&c.key, kind)?;
        }
        let ending = Ending {
            expire_at: c.expire_at,
            stream: end.stream.map(stream_meta),
            field_expiry: std::mem::take(&mut c.field_expiry),
        };
        out.end(&c.key, kind, &ending)?;
        self.done.add_key(self.db);
        Ok(())
    }
}

fn kind_of(kind: Kind) -> Option<rebuild::Kind> {
    Some(match kind {
        Kind::String => rebuild::Kind::String,
        Kind::List => rebuild::Kind::List,
        Kind::Set => rebuild::Kind::Set,
        Kind::Zset => rebuild::Kind::Zset,
        Kind::Hash => rebuild::Kind::Hash,
        Kind::Stream => rebuild::Kind::Stream,
        Kind::Module(_) => return None,
    })
}

impl Current {
    /// Starts the key `start`, in the buffers of the last one.
    fn start(
        &mut self,
        start: &KeyStart<'_>,
        filter: &KeyFilter,
        options: &ReplayOptions,
        restores: bool,
    ) {
        let expired =
            matches!((start.expire_at_ms, options.now_ms), (Some(at), Some(now)) if at <= now);
        let taken = filter.takes_lazily(start.db, start.key, || start.kind.name());
        self.key.clear();
        self.key.extend_from_slice(start.key);
        self.kind = kind_of(start.kind);
        self.expire_at = start.expire_at_ms;
        self.skip = expired || !taken;
        self.held = (restores
            && (options.restore_strings
                || !(start.kind == Kind::String && start.expire_at_ms.is_none())))
        .then(|| (Vec::new(), 0));
        self.begun = false;
        self.first = true;
        self.written = false;
        self.field_expiry.clear();
    }

    /// Writes or holds `piece`; `whole` when the value has no more.
    fn piece(&mut self, piece: Piece<'_>, whole: bool, out: &mut dyn Output) -> io::Result<()> {
        if self.skip || self.kind.is_none() {
            return Ok(());
        }
        if let (Piece::Bytes(b), true, true, None) = (&piece, whole, self.first, &self.held) {
            // A string in one piece: written whole, in one call (one
            // command where the output writes commands).
            out.string(&self.key, b, self.expire_at)?;
            self.first = false;
            self.written = true;
            return Ok(());
        }
        if self.held.is_none() {
            return self.write_through(piece, out);
        }
        let held = match piece {
            Piece::Bytes(b) => Held::Bytes(b.to_vec()),
            Piece::Items(items) => Held::Items(items.iter().map(<[u8]>::to_vec).collect()),
            Piece::Pairs(pairs) => Held::Pairs(pairs_of(pairs.iter())),
            Piece::ExpiringPairs {
                pairs,
                expire_at_ms,
            } => {
                let pairs = pairs_of(pairs.iter());
                for ((field, _), at) in pairs.iter().zip(expire_at_ms) {
                    if let Some(at) = at {
                        self.field_expiry.push((field.clone(), *at));
                    }
                }
                Held::Pairs(pairs)
            }
            Piece::Entries(entries) => Held::Entries(
                entries
                    .iter()
                    .map(|(id, fields)| (id.to_string().into_bytes(), pairs_of(fields.iter())))
                    .collect(),
            ),
        };
        match &mut self.held {
            Some((pieces, size)) => {
                *size += held.size();
                pieces.push(held);
                if *size > DEFER_BYTES {
                    self.release(out)?;
                }
                Ok(())
            }
            None => self.write(held, out),
        }
    }

    /// Writes a piece as it comes.
    fn write_through(&mut self, piece: Piece<'_>, out: &mut dyn Output) -> io::Result<()> {
        let kind = self.kind.expect("only values of a type are written");
        if !self.begun {
            out.begin(&self.key, kind)?;
            self.begun = true;
        }
        let first = std::mem::replace(&mut self.first, false);
        match piece {
            Piece::Bytes(b) => out.piece(&self.key, kind, rebuild::Piece::Bytes(b), first),
            // The elements go as views into the reader's buffer: nothing
            // is copied or allocated per element.
            Piece::Items(items) => {
                out.piece(&self.key, kind, rebuild::Piece::Items(items.items()), first)
            }
            Piece::Pairs(pairs) => out.piece(
                &self.key,
                kind,
                rebuild::Piece::Pairs(rebuild::Pairs::Flat(pairs.items())),
                first,
            ),
            Piece::ExpiringPairs {
                pairs,
                expire_at_ms,
            } => {
                for ((field, _), at) in pairs.pairs().zip(expire_at_ms) {
                    if let Some(at) = at {
                        self.field_expiry.push((field.to_vec(), *at));
                    }
                }
                out.piece(
                    &self.key,
                    kind,
                    rebuild::Piece::Pairs(rebuild::Pairs::Flat(pairs.items())),
                    first,
                )
            }
            Piece::Entries(entries) => {
                let entries: Vec<rebuild::Entry> = entries
                    .iter()
                    .map(|(id, fields)| (id.to_string().into_bytes(), pairs_of(fields.iter())))
                    .collect();
                out.piece(&self.key, kind, rebuild::Piece::Entries(&entries), first)
            }
        }
    }

    /// Writes what is held as commands: the key no longer goes as
    /// `RESTORE`.
    fn release(&mut self, out: &mut dyn Output) -> io::Result<()> {
        if let Some((pieces, _)) = self.held.take() {
            for p in pieces {
                self.write(p, out)?;
            }
        }
        Ok(())
    }

    fn write(&mut self, piece: Held, out: &mut dyn Output) -> io::Result<()> {
        let kind = self.kind.expect("only values of a type are written");
        if !self.begun {
            out.begin(&self.key, kind)?;
            self.begun = true;
        }
        let first = std::mem::replace(&mut self.first, false);
        match &piece {
            Held::Bytes(b) => out.piece(&self.key, kind, rebuild::Piece::Bytes(b), first),
            Held::Items(i) => out.piece(&self.key, kind, rebuild::Piece::items(i), first),
            Held::Pairs(p) => out.piece(&self.key, kind, rebuild::Piece::pairs(p), first),
            Held::Entries(e) => out.piece(&self.key, kind, rebuild::Piece::Entries(e), first),
        }
    }
}

impl Held {
    fn size(&self) -> usize {
        match self {
            Held::Bytes(b) => b.len(),
            Held::Items(i) => i.iter().map(|x| x.len() + 8).sum(),
            Held::Pairs(p) => p.iter().map(|(a, b)| a.len() + b.len() + 16).sum(),
            Held::Entries(e) => e
                .iter()
                .map(|(id, f)| {
                    id.len() + f.iter().map(|(a, b)| a.len() + b.len() + 16).sum::<usize>()
                })
                .sum(),
        }
    }
}

fn pairs_of<'a>(mut elems: impl Iterator<Item = &'a [u8]>) -> Vec<rebuild::Pair> {
    std::iter::from_fn(|| Some((elems.next()?.to_vec(), elems.next()?.to_vec()))).collect()
}

fn stream_meta(meta: &StreamMeta) -> rebuild::StreamMeta {
    rebuild::StreamMeta {
        last_id: meta.last_id.to_string().into_bytes(),
        entries_added: meta.entries_added.map(|n| n as i64),
        max_deleted: meta.max_deleted_id.map(|id| id.to_string().into_bytes()),
        groups: meta
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.last_id.to_string().into_bytes()))
            .collect(),
    }
}
