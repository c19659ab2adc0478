//! RDB files, read as a stream: Redis's snapshot format, versions 1 to 12
//! (Redis 2.x to 8.x), and Valkey 9's version 80 behind the `VALKEY`
//! magic. Also a replica's full sync ([`sync`]), which delivers one.
//!
//! [`RdbReader`] is a pull parser: each [`next`](RdbReader::next) yields
//! one [`Event`], borrowing the reader's buffers until the next call. A key
//! comes as a [`KeyStart`], then the [`Piece`]s of its value, each bounded
//! ([`MAX_PIECE_ELEMENTS`] elements or [`MAX_PIECE_BYTES`] bytes), then a
//! [`KeyEnd`]. Memory stays flat whatever the file holds: a string of any
//! size is handed out in windows (an LZF-compressed one is decompressed as
//! it streams, keeping 8 KiB of history), a list of any length one node or
//! one batch at a time. What is held whole: one element (a list element,
//! a hash value), one compact blob (a ziplist, listpack, intset or zipmap,
//! whose size the server's `*-max-listpack-*` settings bound), one stream
//! node, a stream's groups and pending entries, a module value, and a
//! key's serialized value up to the raw limit (for `RESTORE`).
//!
//! Every length in the file is checked against the bytes that really
//! come before anything is allocated for it, and every blob is walked
//! with bounds checks: a corrupt or truncated file is an [`RdbError`]
//! naming the byte offset, what was expected there, and how many keys were
//! read whole before it, never a panic or an endless loop. The CRC-64 at
//! the end is checked (0 means the writer did not compute it). Bytes after
//! the checksum (an AOF tail, say) are not read.

mod crc64;
mod elems;
mod encoded;
mod error;
mod event;
mod input;
mod lzf;
mod stream;
pub mod sync;
#[cfg(test)]
mod tests;
mod value;

use std::io::Read;

pub use crc64::crc64;
pub use elems::Elems;
pub use error::{At, RdbError};
pub use event::{Event, KeyEnd, KeyStart, Kind, ModuleType, Piece, Raw};
pub use stream::{Consumer, Entries, PendingEntry, StreamGroup, StreamId, StreamMeta};

use elems::Flat;
use input::Input;
use stream::EntryBuf;
use value::{Chunk, Shown, Value};

/// The most elements a piece holds (a pair counts as two), unless one
/// element, or one stream node, is more.
pub const MAX_PIECE_ELEMENTS: usize = 1000;

/// The most bytes a piece holds, unless one element is more.
pub const MAX_PIECE_BYTES: usize = 1 << 20;

/// The default bound on a key's serialized value kept for `RESTORE`.
pub const DEFAULT_RAW_LIMIT: usize = 512 * 1024;

/// The bound on a module value, which is always kept (only `RESTORE` can
/// load it): the largest argument a server takes by default.
const MODULE_RAW_LIMIT: usize = 512 << 20;

/// Whose format the file is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Magic {
    /// `REDIS` and a 4-digit version.
    Redis,
    /// `VALKEY` and a 3-digit version (Valkey 9 and later).
    Valkey,
}

/// Where the reader is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between keys.
    Top,
    /// Inside a key's value.
    Key,
    /// At the end, or after an error.
    Done,
}

/// What [`RdbReader::advance`] found, to be lent out as an [`Event`].
enum Ready {
    Aux,
    SelectDb,
    ResizeDb { keys: u64, expires: u64 },
    Function,
    ModuleAux { module: ModuleType, when: u64 },
    SlotInfo { slot: u64, keys: u64, expires: u64 },
    KeyStart,
    Piece(Shown),
    KeyEnd { raw: bool, stream: bool },
    End { checksum: Option<u64> },
}

/// Reads an RDB as a stream of [`Event`]s.
pub struct RdbReader<R> {
    input: Input<R>,
    magic: Magic,
    version: u32,
    state: State,
    raw_limit: usize,
    /// Keys read whole.
    keys: u64,
    db: u64,
    /// The current key, and what the opcodes before it said.
    key: Vec<u8>,
    kind: Kind,
    rtype: u8,
    expire: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    /// How the value is being read, and what of it was handed out.
    value: Value,
    elements: u64,
    chunk: Option<Chunk>,
    /// Decoded elements (and hash fields' expiries), a string's window, a
    /// blob as read, stream entries and metadata.
    out: Flat,
    expires: Vec<Option<i64>>,
    window: Vec<u8>,
    blob: Vec<u8>,
    entries: EntryBuf,
    meta: stream::StreamMeta,
}

impl<R: Read> RdbReader<R> {
    /// Reads the header: the magic and the version.
    ///
    /// # Errors
    ///
    /// The input is not an RDB, is one of a version this reader does not
    /// know, or could not be read.
    pub fn new(src: R) -> Result<Self, RdbError> {
        let mut input = Input::new(src);
        let header = input.take(9, "the RDB header").map_err(|e| match e {
            RdbError::Truncated { .. } => RdbError::NotRdb {
                found: "fewer than 9 bytes".into(),
            },
            e => e,
        })?;
        let (magic, version) = header_version(header)?;
        if version >= 5 {
            input.keep_crc();
        }
        Ok(RdbReader {
            input,
            magic,
            version,
            state: State::Top,
            raw_limit: DEFAULT_RAW_LIMIT,
            keys: 0,
            db: 0,
            key: Vec::new(),
            kind: Kind::String,
            rtype: 0,
            expire: None,
            idle: None,
            freq: None,
            value: Value::Done,
            elements: 0,
            chunk: None,
            out: Flat::default(),
            expires: Vec::new(),
            window: Vec::new(),
            blob: Vec::new(),
            entries: EntryBuf::default(),
            meta: stream::StreamMeta::default(),
        })
    }

    /// Keeps each key's serialized value for `RESTORE` when it is at most
    /// `limit` bytes (0: never, except module values); the default is
    /// [`DEFAULT_RAW_LIMIT`].
    pub fn with_raw_limit(mut self, limit: usize) -> Self {
        self.raw_limit = limit;
        self
    }

    /// The RDB version: also the version a `RESTORE` payload of its values
    /// carries.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whose format the file is in.
    pub fn magic(&self) -> Magic {
        self.magic
    }

    /// Keys read whole so far.
    pub fn keys_done(&self) -> u64 {
        self.keys
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// The next event; `None` after the end (or after an error).
    ///
    /// # Errors
    ///
    /// The file is truncated or corrupt, holds something this reader does
    /// not read, its checksum is wrong, or it could not be read.
    #[allow(
        clippy::should_implement_trait,
        reason = "a lending pull parser: each event borrows the reader, which Iterator cannot express"
    )]
    pub fn next(&mut self) -> Result<Option<Event<'_>>, RdbError> {
        match self.advance() {
            Ok(ready) => Ok(ready.map(|r| self.event(r))),
            Err(e) => {
                self.state = State::Done;
                Err(e.with_keys(self.keys))
            }
        }
    }

    /// Reads what the next event needs.
    fn advance(&mut self) -> Result<Option<Ready>, RdbError> {
        match self.state {
            State::Done => return Ok(None),
            State::Key => return self.value_step().map(Some),
            State::Top => {}
        }
        loop {
            let at = self.input.offset();
            let op = self.input.u8("an object type or opcode")?;
            let ready = match op {
                0xff => self.end()?,
                0xfe => {
                    self.db = self.input.len("a database number")?;
                    Ready::SelectDb
                }
                0xfd => {
                    let secs = self.input.u32_le("an expire time in seconds")? as i32;
                    self.expire = Some(i64::from(secs) * 1000);
                    continue;
                }
                0xfc => {
                    self.expire = Some(self.input.u64_le("an expire time")? as i64);
                    continue;
                }
                0xfb => Ready::ResizeDb {
                    keys: self.input.len("a database size")?,
                    expires: self.input.len("a database's expires size")?,
                },
                0xfa => self.strings(2, "an aux field").map(|()| Ready::Aux)?,
                0xf9 => {
                    self.freq = Some(self.input.u8("an LFU frequency")?);
                    continue;
                }
                0xf8 => {
                    self.idle = Some(self.input.len("an LRU idle time")?);
                    continue;
                }
                0xf7 => self.module_aux(at)?,
                0xf6 => {
                    return Err(RdbError::unsupported(
                        at,
                        "pre-release function library (Redis 7.0 RC1 and RC2 only)",
                    ));
                }
                0xf5 => self
                    .strings(1, "a function library")
                    .map(|()| Ready::Function)?,
                0xf4 => Ready::SlotInfo {
                    slot: self.input.len("a slot")?,
                    keys: self.input.len("a slot's size")?,
                    expires: self.input.len("a slot's expires size")?,
                },
                0xf3 if self.magic == Magic::Valkey => {
                    return Err(RdbError::unsupported(
                        at,
                        "Valkey slot import state (opcode 243)",
                    ));
                }
                t => self.key_start(at, t)?,
            };
            return Ok(Some(ready));
        }
    }

    /// Reads `n` strings into `out`.
    fn strings(&mut self, n: usize, what: &'static str) -> Result<(), RdbError> {
        self.out.clear();
        for _ in 0..n {
            self.input.string_into(&mut self.out.data, what)?;
            self.out.seal();
        }
        Ok(())
    }

    /// A module's aux data: its type, `when` (after a UINT opcode), then
    /// its serialized value, kept as it is.
    fn module_aux(&mut self, at: u64) -> Result<Ready, RdbError> {
        let module = ModuleType {
            id: self.input.len("a module type ID")?,
        };
        let opcode = self.input.len("a module aux when opcode")?;
        if opcode != 2 {
            return Err(RdbError::corrupt(
                at,
                "a module aux field's when (UINT opcode 2)",
                opcode,
            ));
        }
        let when = self.input.len("a module aux when")?;
        self.input.start_capture(MODULE_RAW_LIMIT);
        value::skip_module_value(&mut self.input)?;
        if !self.input.end_capture() {
            return Err(RdbError::unsupported(at, "module aux data over 512 MiB"));
        }
        Ok(Ready::ModuleAux { module, when })
    }

    /// A key of RDB object type `t`: its name, then the head of its value.
    fn key_start(&mut self, at: u64, t: u8) -> Result<Ready, RdbError> {
        let last = if self.magic == Magic::Valkey { 22 } else { 25 };
        if t == 8 || t > last {
            return Err(RdbError::Unknown {
                at: At {
                    offset: at,
                    keys: 0,
                },
                byte: t,
            });
        }
        self.key.clear();
        self.input.string_into(&mut self.key, "a key")?;
        let limit = if t == 7 {
            MODULE_RAW_LIMIT
        } else {
            self.raw_limit
        };
        if limit > 0 {
            self.input.start_capture(limit);
        }
        self.rtype = t;
        self.elements = 0;
        self.chunk = None;
        self.kind = self.begin_value(at, t)?;
        self.state = State::Key;
        Ok(Ready::KeyStart)
    }

    /// The end of the current key.
    fn key_end(&mut self) -> Result<Ready, RdbError> {
        let raw = self.input.end_capture();
        if matches!(self.kind, Kind::Module(_)) && !raw {
            return Err(RdbError::unsupported(
                self.input.offset(),
                "module value over 512 MiB",
            ));
        }
        self.keys += 1;
        (self.expire, self.idle, self.freq) = (None, None, None);
        self.state = State::Top;
        Ok(Ready::KeyEnd {
            raw,
            stream: self.kind == Kind::Stream,
        })
    }

    /// The end of the file, and its checksum.
    fn end(&mut self) -> Result<Ready, RdbError> {
        let computed = self.input.crc();
        self.state = State::Done;
        let Some(computed) = computed else {
            return Ok(Ready::End { checksum: None });
        };
        let at = self.input.offset();
        let stored = self.input.u64_le("the checksum")?;
        if stored != 0 && stored != computed {
            return Err(RdbError::Checksum {
                at: At {
                    offset: at,
                    keys: 0,
                },
                stored,
                computed,
            });
        }
        Ok(Ready::End {
            checksum: (stored != 0).then_some(stored),
        })
    }

    /// Lends out what `ready` says was read.
    fn event(&self, ready: Ready) -> Event<'_> {
        match ready {
            Ready::Aux => {
                let v = self.out.view(0..2);
                Event::Aux {
                    key: v.get(0),
                    value: v.get(1),
                }
            }
            Ready::SelectDb => Event::SelectDb(self.db),
            Ready::ResizeDb { keys, expires } => Event::ResizeDb { keys, expires },
            Ready::Function => Event::Function {
                code: self.out.view(0..1).get(0),
            },
            Ready::ModuleAux { module, when } => Event::ModuleAux {
                module,
                when,
                data: self.input.captured(),
            },
            Ready::SlotInfo {
                slot,
                keys,
                expires,
            } => Event::SlotInfo {
                slot,
                keys,
                expires,
            },
            Ready::KeyStart => Event::KeyStart(KeyStart {
                db: self.db,
                key: &self.key,
                kind: self.kind,
                encoding: self.rtype,
                expire_at_ms: self.expire,
                idle: self.idle,
                freq: self.freq,
            }),
            Ready::Piece(shown) => Event::Piece(self.piece(shown)),
            Ready::KeyEnd { raw, stream } => Event::KeyEnd(KeyEnd {
                elements: self.elements,
                stream: stream.then_some(&self.meta),
                raw: raw.then(|| Raw {
                    encoding: self.rtype,
                    value: self.input.captured(),
                }),
            }),
            Ready::End { checksum } => Event::End { checksum },
        }
    }
}

/// The magic and version of a 9-byte header: `REDIS` and 4 digits, or
/// `VALKEY` and 3.
fn header_version(header: &[u8]) -> Result<(Magic, u32), RdbError> {
    let digits = |d: &[u8]| -> Option<u32> {
        d.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let not_rdb = || RdbError::NotRdb {
        found: String::from_utf8_lossy(header).into_owned(),
    };
    let (magic, version) = if let Some(d) = header.strip_prefix(b"REDIS") {
        (Magic::Redis, digits(d).ok_or_else(not_rdb)?)
    } else if let Some(d) = header.strip_prefix(b"VALKEY") {
        (Magic::Valkey, digits(d).ok_or_else(not_rdb)?)
    } else {
        return Err(not_rdb());
    };
    let known = match magic {
        Magic::Redis => (1..=12).contains(&version),
        Magic::Valkey => version == 80,
    };
    if !known {
        return Err(RdbError::Version {
            magic: if magic == Magic::Redis {
                "REDIS"
            } else {
                "VALKEY"
            },
            version,
        });
    }
    Ok((magic, version))
}
