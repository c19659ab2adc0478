//! `--dump`: reading keys back out, as commands that rebuild them (RESP or
//! inline lines, which `rload --pipe` and `redis-cli --pipe` load), as
//! `RESTORE` commands, or as JSON lines. `rload --dump -h SRC | rload
//! --pipe -h DST` is a migration.
//!
//! A dump either writes every key that existed for its whole duration,
//! each in a state it really had, or stops with a non-zero status, an exact
//! account, and a position to go on from:
//!
//! - `link`: every reply checked (an error reply is never data), transient
//!   errors retried with a bounded backoff, a signal told from a lost
//!   connection.
//! - `read`, `big`, `payload`: a page of keys read in as few commands as
//!   the server allows; big keys in windows, checked for change with
//!   `WATCH`.
//! - `page`: writing one `SCAN` page, the step both drivers repeat.
//! - `server`: one server, every database that has keys (or `-n`'s).
//! - `part`: how `--split`'s parts share one server: with `--scan`, a
//!   stretch of each database's hash table per part.
//! - `cluster`: every master, following slots that move.
//! - `position`: the `--cursor` values a stopped dump prints.
//! - `write`: the formats; `summary`: the account.

pub(crate) mod big;
pub(crate) mod cluster;
pub(crate) mod link;
mod page;
mod part;
mod payload;
mod position;
pub(crate) mod read;
pub(crate) mod server;
pub(crate) mod shape;
mod snapshot;
mod summary;
pub(crate) mod write;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

pub use crate::filter::Split;
pub use summary::DumpSummary;

use crate::config::{Config, Handles};
use crate::conn::Patience;
use crate::error::Error;
use crate::meter::Meter;
use crate::rate::Bucket;
use crate::report::{Events, Stop};

use crate::rebuild::Commands;
use link::{Fault, Retry};
use page::Pager;
use position::Position;
use write::{Encoded, Encoding, JsonLines, Output};

/// Keys asked of `SCAN` per page.
const PAGE: usize = 1000;

/// How keys are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DumpFormat {
    /// Commands as RESP (the default).
    #[default]
    Resp,
    /// Commands as inline lines, quoted as redis-cli reads them.
    Inline,
    /// One JSON object per key.
    Jsonl,
    /// `RESTORE ... REPLACE ABSTTL` with `DUMP`'s payload.
    Restore,
}

impl DumpFormat {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            DumpFormat::Resp => "resp",
            DumpFormat::Inline => "inline",
            DumpFormat::Jsonl => "jsonl",
            DumpFormat::Restore => "restore",
        }
    }
}

/// What to dump, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DumpOptions {
    /// How keys are written.
    pub format: DumpFormat,
    /// Only keys matching this glob (`SCAN ... MATCH`).
    pub pattern: Option<String>,
    /// Only keys of these types; all when empty.
    pub types: Vec<String>,
    /// Where a dump cut short stopped, as it printed it.
    pub cursor: Option<String>,
    /// Only this database (`-n`); every database that has keys when
    /// `None` (the output then `SELECT`s each).
    pub db: Option<u32>,
    /// Only one part of the keys (`--split I/N`), so that several dumps
    /// read a keyspace in parallel, each key read by exactly one.
    pub split: Option<Split>,
    /// An RDB file to dump, instead of a server.
    pub input: Option<crate::input::Input>,
    /// Read the server with `SCAN`, never from its snapshot (`--scan`).
    pub scan: bool,
}

/// How one key's read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyOutcome {
    /// Written whole.
    Whole,
    /// It went away while read: written as gone.
    Vanished,
    /// It changed into a key of another type while read: read it again.
    Changed,
}

/// How a driver ended.
pub(crate) enum Ended {
    Done,
    Stopped {
        stop: Stop,
        position: Position,
        /// Keys of the page in progress already written.
        partial: u64,
    },
}

impl Ended {
    fn stopped(stop: Stop, position: Position, partial: u64) -> Self {
        Ended::Stopped {
            stop,
            position,
            partial,
        }
    }
}

/// A fault that ends a dump, as the stop its account gives.
pub(crate) fn stop_of(addr: &str, fault: Fault, config: &Config) -> Stop {
    match fault {
        Fault::Output(e) => output_lost(e.to_string()),
        Fault::Interrupted(signal) => Stop::Interrupted {
            signal,
            drained: true,
        },
        Fault::Reply(e) => Stop::ErrorReply {
            addr: addr.to_string(),
            command: e.command,
            reply: e.text,
        },
        Fault::Io(e) => match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Stop::Timeout(config.pipe_timeout.unwrap_or_default())
            }
            io::ErrorKind::InvalidData => Stop::Protocol {
                addr: addr.to_string(),
                reason: e.to_string(),
            },
            _ => Stop::ConnectionLost {
                addr: addr.to_string(),
                reason: e.to_string(),
            },
        },
    }
}

/// A writer that remembers whether a write failed, to tell a broken output
/// from a broken connection.
struct Tracked<W> {
    inner: W,
    failed: bool,
    /// Counts the bytes written.
    meter: Meter,
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        match &r {
            Ok(n) => self.meter.add_bytes(*n as u64),
            Err(_) => self.failed = true,
        }
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.failed |= r.is_err();
        r
    }
}

/// Writing the dump failed, for `reason`.
fn output_lost(reason: String) -> Stop {
    Stop::OutputLost { reason }
}

/// Dumps the server (or cluster) `config` names to `out`.
///
/// # Errors
///
/// Failures before anything is written: a server that cannot be reached
/// or logged in to, a bad `--cursor`.
pub fn dump(
    config: &Config,
    handles: &Handles,
    options: &DumpOptions,
    out: &mut dyn Write,
    events: Arc<dyn Events>,
) -> Result<DumpSummary, Error> {
    let started = Instant::now();
    let mut out = Tracked {
        inner: io::BufWriter::with_capacity(256 * 1024, out),
        failed: false,
        meter: handles.meter.clone(),
    };
    let mut output: Box<dyn Output + '_> = match options.format {
        DumpFormat::Resp | DumpFormat::Restore => {
            Box::new(Commands::new(Encoded::new(&mut out, Encoding::Resp)))
        }
        DumpFormat::Inline => Box::new(Commands::new(Encoded::new(&mut out, Encoding::Inline))),
        DumpFormat::Jsonl => Box::new(JsonLines::new(&mut out)),
    };
    let mut summary = dump_into(config, handles, options, output.as_mut(), events)?;
    drop(output);
    if out.failed && !matches!(&summary.stop, Some(Stop::OutputLost { .. })) {
        summary.stop = Some(output_lost("writing failed".into()));
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Dumps the server (or cluster) `config` names into `output`; see
/// [`dump`].
pub(crate) fn dump_into(
    config: &Config,
    handles: &Handles,
    options: &DumpOptions,
    output: &mut dyn Output,
    events: Arc<dyn Events>,
) -> Result<DumpSummary, Error> {
    let started = Instant::now();
    let mut pager = Pager {
        output,
        options,
        events: events.as_ref(),
        interrupt: handles.interrupt.clone(),
        meter: handles.meter.clone(),
        retry: Retry::new(config.pipe_timeout),
        summary: DumpSummary::new(options.format),
        bucket: config.rate.map(Bucket::new),
        page_size: config
            .rate
            .map_or(PAGE, |r| (r / 10).clamp(1, PAGE as u64) as usize),
    };
    let patience = Patience::new(config.server.wait, &handles.interrupt, Arc::clone(&events));
    let snapshot = !options.scan && options.cursor.is_none();
    let ended = match &options.input {
        Some(input) => snapshot::file(&mut pager, options, input)?,
        None if config.cluster && snapshot => {
            match snapshot::cluster(&mut pager, config, options, &patience)? {
                Some(ended) => ended,
                None => cluster::run(&mut pager, config, options, &patience)?,
            }
        }
        None if config.cluster => cluster::run(&mut pager, config, options, &patience)?,
        None if snapshot => match snapshot::live(&mut pager, &config.server, options, &patience)? {
            Some(ended) => ended,
            None => server::run(&mut pager, config, options, &patience)?,
        },
        None => server::run(&mut pager, config, options, &patience)?,
    };
    let mut summary = std::mem::replace(&mut pager.summary, DumpSummary::new(options.format));
    summary.retries = pager.retry.count;
    summary.retry_wait = pager.retry.waited;
    summary.last_retry = pager.retry.last.clone();
    if let Ended::Stopped {
        stop,
        position,
        partial,
    } = ended
    {
        summary.stop = Some(stop);
        summary.resume = (position != Position::Again).then(|| position.to_string());
        summary.partial = partial;
    }
    let output = pager.output;
    if output.flush().is_err() && summary.stop.is_none() {
        summary.stop = Some(output_lost("writing failed".into()));
    }
    summary.written = output.written();
    summary.long_lines = output.long_lines();
    summary.elapsed = started.elapsed();
    Ok(summary)
}
