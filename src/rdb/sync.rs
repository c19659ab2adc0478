//! A replica's full sync, as `redis-cli --rdb` does it: the server forks
//! and sends a point-in-time RDB of its whole dataset, which [`Snapshot`]
//! reads as plain bytes (give it to [`RdbReader`](super::RdbReader)).
//!
//! The handshake, on a logged-in connection:
//! - `REPLCONF listening-port 0`, `REPLCONF capa eof` (a diskless payload
//!   is welcome) and `REPLCONF rdb-only 1` (Redis 7: end the link after
//!   the RDB); errors to these are passed over, as older servers lack some;
//! - `PSYNC ? -1`, answered `+FULLRESYNC <replid> <offset>`; where PSYNC
//!   is refused, `SYNC`;
//! - while the server prepares the RDB it sends bare `\n` keep-alives;
//! - then `$<len>\r\n` and `len` bytes, or (diskless) `$EOF:<40-byte
//!   mark>\r\n`, the RDB, and the same mark.
//!
//! A server that refuses both (an ACL without `psync` and `sync`, or a
//! managed service's `-ERR unknown command`) gives [`SyncError::Refused`],
//! on which a caller can fall back to reading keys another way.

use std::io::{self, Read, Write};

use memchr::memmem;

use crate::config::ServerConfig;
use crate::conn::{Connection, Stream, connect};
use crate::error::ConnectError;

/// The length of the diskless payload's end mark.
const MARK_LEN: usize = 40;

/// The longest line the handshake reads.
const MAX_LINE: usize = 4096;

/// A failure to start a replica's sync.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Connecting or logging in failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The server will not sync with this client: fall back.
    #[error("{addr} refused a replica's sync: {reply}")]
    Refused {
        /// The server's address.
        addr: String,
        /// Its error replies (to PSYNC, then SYNC).
        reply: String,
    },
    /// The server's answer was not the sync protocol.
    #[error("a replica's sync with {addr} failed: {what}")]
    Protocol {
        /// The server's address.
        addr: String,
        /// What was wrong.
        what: String,
    },
    /// The connection failed.
    #[error("a replica's sync with {addr} failed")]
    Io {
        /// The server's address.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// How the payload ends.
enum Payload {
    /// After this many more bytes.
    Sized { left: u64 },
    /// At the mark (diskless); `done` once it was found.
    Marked { mark: [u8; MARK_LEN], done: bool },
}

/// The RDB a server sends its replica, as bytes.
pub struct Snapshot {
    stream: Stream,
    /// Bytes read but not handed out: `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    /// Up to where `buf` holds no mark.
    searched: usize,
    payload: Payload,
    replid: Option<String>,
    offset: Option<u64>,
}

/// Connects to `cfg`'s server and starts a full sync.
///
/// # Errors
///
/// Connecting failed, the server refused the sync ([`SyncError::Refused`]),
/// or its answer was not the sync protocol.
pub fn snapshot(cfg: &ServerConfig) -> Result<Snapshot, SyncError> {
    start(connect(cfg)?)
}

/// Starts a full sync on a logged-in connection.
///
/// # Errors
///
/// As [`snapshot`].
pub(crate) fn start(mut conn: Connection) -> Result<Snapshot, SyncError> {
    let addr = conn.addr().to_string();
    let diskless = !waits_for_diskless(&mut conn);
    for args in [
        [&b"REPLCONF"[..], b"listening-port", b"0"],
        [b"REPLCONF", b"capa", b"eof"],
        [b"REPLCONF", b"rdb-only", b"1"],
    ] {
        if args[1] == b"capa" && !diskless {
            continue;
        }
        conn.call("REPLCONF", &args)?;
    }
    let (stream, buf) = conn.into_parts();
    let s = Snapshot {
        stream,
        buf,
        start: 0,
        searched: 0,
        payload: Payload::Sized { left: 0 },
        replid: None,
        offset: None,
    };
    s.handshake().map_err(|e| e.at(&addr))
}

/// Whether the server would wait before a diskless sync
/// (`repl-diskless-sync-delay`, 5 s by default, in case more replicas come
/// to share it): then a sync from disk, which starts at once, is asked
/// for, by not offering to take a diskless one. A server that does not say
/// (an ACL without CONFIG) is offered both.
fn waits_for_diskless(conn: &mut Connection) -> bool {
    let get = |conn: &mut Connection, name: &str| -> Option<String> {
        let reply = conn
            .call("CONFIG GET", &[b"CONFIG", b"GET", name.as_bytes()])
            .ok()?;
        let items = reply.into_items()?;
        let value = items.get(1)?.as_bytes()?;
        Some(String::from_utf8_lossy(value).into_owned())
    };
    let on = get(conn, "repl-diskless-sync").is_some_and(|v| v == "yes");
    let delay = get(conn, "repl-diskless-sync-delay").and_then(|v| v.parse::<u64>().ok());
    on && delay.is_some_and(|d| d > 0)
}

/// A handshake failure, before the address is put on it.
enum Fail {
    Refused(String),
    Protocol(String),
    Io(io::Error),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

impl Fail {
    fn at(self, addr: &str) -> SyncError {
        let addr = addr.to_string();
        match self {
            Fail::Refused(reply) => SyncError::Refused { addr, reply },
            Fail::Protocol(what) => SyncError::Protocol { addr, what },
            Fail::Io(source) => SyncError::Io { addr, source },
        }
    }
}

impl Snapshot {
    /// The replication ID the server gave (PSYNC only).
    pub fn replid(&self) -> Option<&str> {
        self.replid.as_deref()
    }

    /// The replication offset the snapshot is at (PSYNC only).
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// Whether the server streams the RDB without writing it to disk.
    pub fn diskless(&self) -> bool {
        matches!(self.payload, Payload::Marked { .. })
    }

    /// PSYNC (or SYNC), then the payload's header.
    fn handshake(mut self) -> Result<Snapshot, Fail> {
        self.stream.write_all(b"PSYNC ? -1\r\n")?;
        let mut line = self.line()?;
        if line.starts_with("+FULLRESYNC") {
            let mut words = line.split(' ').skip(1);
            self.replid = words.next().map(str::to_string);
            self.offset = words.next().and_then(|o| o.parse().ok());
            line = self.line()?;
        } else if let Some(psync) = line.strip_prefix('-') {
            self.stream.write_all(b"SYNC\r\n")?;
            let sync = self.line()?;
            if let Some(refused) = sync.strip_prefix('-') {
                return Err(Fail::Refused(format!("PSYNC: {psync}; SYNC: {refused}")));
            }
            line = sync;
        }
        self.payload = if let Some(mark) = line.strip_prefix("$EOF:") {
            let mark = mark
                .as_bytes()
                .try_into()
                .map_err(|_| Fail::Protocol(format!("an end mark of {} bytes", mark.len())))?;
            Payload::Marked { mark, done: false }
        } else if let Some(left) = line.strip_prefix('$').and_then(|n| n.parse().ok()) {
            Payload::Sized { left }
        } else {
            return Err(Fail::Protocol(format!(
                "{line:?} where the payload's length was expected"
            )));
        };
        Ok(self)
    }

    /// The next line that is not a keep-alive, without its `\r\n`.
    fn line(&mut self) -> Result<String, Fail> {
        loop {
            while let Some(n) = memchr::memchr(b'\n', &self.buf[self.start..]) {
                let line = &self.buf[self.start..self.start + n];
                self.start += n + 1;
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    return Ok(String::from_utf8_lossy(line).into_owned());
                }
            }
            if self.buf.len() - self.start > MAX_LINE {
                return Err(Fail::Protocol("a handshake line over 4 KiB".into()));
            }
            if self.fill()? == 0 {
                return Err(Fail::Protocol(
                    "the server closed the connection during the handshake".into(),
                ));
            }
        }
    }

    /// Reads more into `buf`; how much.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            (self.start, self.searched) = (0, 0);
        } else if self.start >= 64 * 1024 {
            self.buf.drain(..self.start);
            self.searched -= self.start.min(self.searched);
            self.start = 0;
        }
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// How many buffered bytes can be handed out as payload; finds the
    /// mark.
    fn ready(&mut self) -> usize {
        let avail = self.buf.len() - self.start;
        match &mut self.payload {
            Payload::Sized { left } => avail.min(usize::try_from(*left).unwrap_or(usize::MAX)),
            Payload::Marked { done: true, .. } => avail,
            Payload::Marked { mark, done } => {
                let from = self.searched.max(self.start);
                if let Some(i) = memmem::find(&self.buf[from..], &mark[..]) {
                    *done = true;
                    self.buf.truncate(from + i);
                    return self.buf.len() - self.start;
                }
                // A mark may start in the last bytes and end in the next read.
                self.searched = self.buf.len().saturating_sub(MARK_LEN - 1).max(self.start);
                self.searched - self.start
            }
        }
    }

    fn finished(&self) -> bool {
        match self.payload {
            Payload::Sized { left } => left == 0,
            Payload::Marked { done, .. } => done && self.start == self.buf.len(),
        }
    }
}

impl Read for Snapshot {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.finished() || out.is_empty() {
                return Ok(0);
            }
            let n = self.ready().min(out.len());
            if n > 0 {
                out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
                if let Payload::Sized { left } = &mut self.payload {
                    *left -= n as u64;
                }
                return Ok(n);
            }
            if self.finished() {
                return Ok(0);
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before the end of the RDB",
                ));
            }
        }
    }
}
