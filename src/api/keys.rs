//! A dump the program iterates: every key as a typed value, the shape
//! `--dump --format jsonl` writes, without the JSON. The dump runs on a
//! thread of its own and hands keys over through a bounded channel; a big
//! key is read in windows and handed over whole.

use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::config::{Config, Handles};
use crate::dump::{DumpFormat, DumpOptions, DumpSummary, dump_into};
use crate::error::Error;
use crate::rebuild::{Discard, Ending, Kind, Output, Piece};
use crate::report::Events;

/// Keys handed over ahead of the program: a bound on memory, and enough
/// to keep the dump busy while the program works.
const AHEAD: usize = 256;

/// A stream entry: its ID, and its fields and values.
pub type Entry = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// A stream's entries and what it keeps besides.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    /// Each entry's ID, and its fields and values.
    pub entries: Vec<Entry>,
    /// The last ID it generated (it may be past its last entry).
    pub last_id: Vec<u8>,
    /// Consumer groups: name and last delivered ID.
    pub groups: Vec<(Vec<u8>, Vec<u8>)>,
    /// Entries ever added (Redis 7).
    pub entries_added: Option<i64>,
    /// The highest ID deleted (Redis 7).
    pub max_deleted_id: Option<Vec<u8>>,
}

/// A key's value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum KeyValue {
    /// A string's bytes (HyperLogLogs are strings).
    String(Vec<u8>),
    /// A list's elements, in order.
    List(Vec<Vec<u8>>),
    /// A set's members.
    Set(Vec<Vec<u8>>),
    /// A sorted set's members and scores, by score.
    Zset(Vec<(Vec<u8>, f64)>),
    /// A hash's fields and values.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A stream.
    Stream(Stream),
}

impl KeyValue {
    fn empty(kind: Kind) -> Self {
        match kind {
            Kind::String => KeyValue::String(Vec::new()),
            Kind::List => KeyValue::List(Vec::new()),
            Kind::Set => KeyValue::Set(Vec::new()),
            Kind::Zset => KeyValue::Zset(Vec::new()),
            Kind::Hash => KeyValue::Hash(Vec::new()),
            Kind::Stream => KeyValue::Stream(Stream::default()),
        }
    }

    /// The type's name, as `TYPE` gives it.
    pub fn type_name(&self) -> &'static str {
        match self {
            KeyValue::String(_) => "string",
            KeyValue::List(_) => "list",
            KeyValue::Set(_) => "set",
            KeyValue::Zset(_) => "zset",
            KeyValue::Hash(_) => "hash",
            KeyValue::Stream(_) => "stream",
        }
    }
}

/// One key, as it was at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// Its database, when the dump covers more than one (or not database 0).
    pub db: Option<u32>,
    /// Its name.
    pub key: Vec<u8>,
    /// Its value.
    pub value: KeyValue,
    /// When it expires, in milliseconds since the epoch.
    pub expire_at_ms: Option<i64>,
    /// A hash's fields that expire (Redis 7.4), and when, in milliseconds
    /// since the epoch.
    pub field_expire_at_ms: Vec<(Vec<u8>, i64)>,
}

/// The keys of a dump, as they are read.
pub struct Keys {
    rx: Option<Receiver<Key>>,
    thread: Option<JoinHandle<Result<DumpSummary, Error>>>,
    handles: Handles,
}

impl Keys {
    /// Connects to the server (or cluster) `config` names and starts
    /// dumping the keys `options` pick (`pattern`, `types`, `db`,
    /// `cursor`; its format is not used).
    ///
    /// # Errors
    ///
    /// The server cannot be reached or logged in to.
    pub fn start(
        config: &Config,
        options: &DumpOptions,
        events: Arc<dyn Events>,
    ) -> Result<Self, Error> {
        // Fail here, not at the first key, when the server is not there.
        drop(crate::conn::connect(&config.server)?);
        let (tx, rx) = mpsc::sync_channel(AHEAD);
        let handles = Handles::default();
        let (config, mine) = (config.clone(), handles.clone());
        let options = DumpOptions {
            // Strings are read whole, as for JSON lines.
            format: DumpFormat::Jsonl,
            ..options.clone()
        };
        let thread = std::thread::Builder::new()
            .name("rload-dump".into())
            .spawn(move || {
                let mut collect = Collect::new(tx);
                dump_into(&config, &mine, &options, &mut collect, events)
            })
            .map_err(|e| Error::Config(format!("cannot start the dump's thread: {e}")))?;
        Ok(Keys {
            rx: Some(rx),
            thread: Some(thread),
            handles,
        })
    }

    /// The dump's interrupt, to stop it early (its account says so), and
    /// its meter.
    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    /// Stops taking keys (if any are left) and gives the dump's account:
    /// a dump the program stopped early says its output was closed.
    ///
    /// # Errors
    ///
    /// A failure before anything was read.
    pub fn finish(mut self) -> Result<DumpSummary, Error> {
        self.rx = None;
        match self.thread.take().expect("finished once").join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Iterator for Keys {
    type Item = Key;

    fn next(&mut self) -> Option<Key> {
        self.rx.as_ref()?.recv().ok()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.rx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The dump's output: pieces gathered into keys, each handed over whole.
struct Collect {
    tx: SyncSender<Key>,
    db: Option<u32>,
    key: Option<Key>,
    keys: u64,
}

impl Collect {
    fn new(tx: SyncSender<Key>) -> Self {
        Collect {
            tx,
            db: None,
            key: None,
            keys: 0,
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the program stopped taking keys")
}

fn score(text: &[u8]) -> io::Result<f64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| io::Error::other("a score that is not a number"))
}

impl Output for Collect {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.db = Some(db);
        Ok(())
    }

    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        self.key = Some(Key {
            db: self.db,
            key: key.to_vec(),
            value: KeyValue::empty(kind),
            expire_at_ms: None,
            field_expire_at_ms: Vec::new(),
        });
        Ok(())
    }

    fn piece(
        &mut self,
        _key: &[u8],
        _kind: Kind,
        piece: Piece<'_>,
        _first: bool,
    ) -> io::Result<()> {
        let Some(key) = &mut self.key else {
            return Ok(());
        };
        match (&mut key.value, piece) {
            (KeyValue::String(s), Piece::Bytes(b)) => s.extend_from_slice(b),
            (KeyValue::List(v) | KeyValue::Set(v), Piece::Items(items)) => {
                v.extend(items.iter().map(<[u8]>::to_vec))
            }
            (KeyValue::Hash(v), Piece::Pairs(pairs)) => {
                v.extend(pairs.iter().map(|(f, x)| (f.to_vec(), x.to_vec())))
            }
            (KeyValue::Zset(v), Piece::Pairs(pairs)) => {
                for (m, s) in pairs.iter() {
                    v.push((m.to_vec(), score(s)?));
                }
            }
            (KeyValue::Stream(s), Piece::Entries(entries)) => {
                s.entries.extend(entries.iter().cloned())
            }
            _ => return Err(io::Error::other("a piece of another type")),
        }
        Ok(())
    }

    fn end(&mut self, _key: &[u8], _kind: Kind, ending: &Ending) -> io::Result<()> {
        let Some(mut key) = self.key.take() else {
            return Ok(());
        };
        key.expire_at_ms = ending.expire_at;
        key.field_expire_at_ms.clone_from(&ending.field_expiry);
        if let (KeyValue::Stream(s), Some(meta)) = (&mut key.value, &ending.stream) {
            s.last_id = meta.last_id.clone();
            s.groups = meta.groups.clone();
            s.entries_added = meta.entries_added;
            s.max_deleted_id = meta.max_deleted.clone();
        }
        self.keys += 1;
        self.tx.send(key).map_err(|_| closed())
    }

    fn discard(&mut self, _key: &[u8], _kind: Kind, _why: Discard) -> io::Result<()> {
        self.key = None;
        Ok(())
    }

    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        self.keys += 1;
        let key = Key {
            db: self.db,
            key: key.to_vec(),
            value: KeyValue::String(value.to_vec()),
            expire_at_ms: expire_at,
            field_expire_at_ms: Vec::new(),
        };
        self.tx.send(key).map_err(|_| closed())
    }

    fn payload(&mut self, _key: &[u8], _payload: &[u8], _at: Option<i64>) -> io::Result<()> {
        Err(io::Error::other("keys are values, not DUMP payloads"))
    }

    /// Function libraries are not keys: the iterator yields keys only.
    fn function(&mut self, _code: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn written(&self) -> u64 {
        self.keys
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
