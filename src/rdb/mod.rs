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
//! the checksum (an AOF tail, say) are not read. Files before version 9
//! wrote times in the writing machine's byte order; they are read as
//! little-endian, which every x86 and ARM server wrote.
//!
//! The files: [`event`](Event) what is yielded; `opcodes` the top level;
//! `value` each value's state between pieces, `plain` values written
//! element by element, `blob` values in compact blobs (decoded by
//! `encoded`), `stream` streams; `input` the buffer, lengths and strings,
//! `lzf` and `crc64`.

mod blob;
mod crc64;
mod elems;
mod encoded;
mod error;
mod event;
mod input;
mod lzf;
mod opcodes;
mod plain;
pub(crate) mod replay;
mod source;
mod stream;
pub mod sync;
#[cfg(test)]
mod tests;
mod value;
mod whole_string;

use std::io::Read;

pub use crc64::crc64;
pub use elems::Elems;
pub use error::{At, RdbError};
pub use event::{Event, KeyEnd, KeyStart, Kind, ModuleType, Piece, Raw};
pub use stream::{Consumer, Entries, PendingEntry, StreamGroup, StreamId, StreamMeta};

use elems::Flat;
use input::Input;
use opcodes::header_version;
pub use opcodes::is_rdb_header;
pub use source::RdbSource;
pub(crate) use source::starts_an_rdb;
use stream::EntryBuf;
use value::{Chunk, Value};

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

    /// The source the RDB was read from (bytes read ahead past its end
    /// are dropped).
    pub fn into_inner(self) -> R {
        self.input.into_inner()
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
        Ok(self.next_telling_whole()?.map(|(event, _)| event))
    }

    /// The next event, and whether the key's value has nothing more to
    /// hand out after it (so a string's one piece is the whole string).
    pub(crate) fn next_telling_whole(&mut self) -> Result<Option<(Event<'_>, bool)>, RdbError> {
        match self.advance() {
            Ok(ready) => {
                let whole = self.value_whole();
                Ok(ready.map(|r| (self.event(r), whole)))
            }
            Err(e) => {
                self.state = State::Done;
                Err(e.with_keys(self.keys))
            }
        }
    }
}
