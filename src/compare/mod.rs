//! `--compare`: are the source's keys all in the target, and the same? A
//! third driver beside the load and the dump, in a short list of steps:
//!
//! 0. Both sides are read at once by the dump's own driver (a server from
//!    its snapshot), each into one order-independent digest per database
//!    ([`whole`]): equal digests, equal databases, as fast as one dump.
//!    Otherwise (and under `--rate`, which reads each side once):
//! 1. The source is read by the dump's own driver (a server, its snapshot,
//!    a cluster's masters, an RDB file), each key digested as it comes
//!    ([`digest`]) and handed over in batches to
//! 2. the target's thread ([`target`]), which reads the same names from
//!    the target ([`keyed`]) and judges each key ([`diff`]): both sides are
//!    read at once.
//! 3. The other direction: keys only the target has.
//! 4. `--recheck N`: the differing keys read again on both sides, N times
//!    after a pause; only those that still differ are reported.
//! 5. `--repair-output`: the commands that make the target equal
//!    ([`repair`]).
//!
//! The account ([`summary`]) says what differs, key by key; an error reply
//! on either side stops the compare (after the dump's retries of transient
//! errors), never counts as a key equal or missing.

mod detail;
mod diff;
mod digest;
mod keyed;
mod repair;
mod summary;
mod target;
mod whole;

use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use diff::DiffKind;
pub use summary::{CompareSummary, FAILED};

use crate::config::{Config, ServerConfig};
use crate::conn::Patience;
use crate::dump::link::Fault;
use crate::dump::{DumpOptions, dump_into, stop_of};
use crate::error::Error;
use crate::input::Input;
use crate::rebuild::{Discard, Ending, Kind, Output, Piece};
use crate::report::{Events, Stop};
use diff::{Difference, judge};
use digest::{Digest, Digester};
use keyed::{Keyed, Seen};
use target::{Batch, Found, key_hash};
use whole::Whole;

/// Source keys per batch handed to the target's side: one round trip
/// each, as a dump's page.
const BATCH: usize = 1000;

/// Connections reading the target, each on a thread of its own taking
/// the next batch: while one waits for the server's reply, another's
/// batch is being read or judged.
const TARGET_READERS: usize = 2;

/// Batches queued for the target's side: the source reads ahead by this
/// much, and no more (memory stays flat).
const QUEUED: usize = 4;

/// Keys whose values differ that have what differs in them named: each
/// is read whole, in windows, on both sides.
const DETAILED: usize = 100;

/// The pause before each `--recheck` round, for writes in flight on
/// either side to land.
const RECHECK_PAUSE: Duration = Duration::from_millis(500);

/// What to compare, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompareOptions {
    /// The target server (or a cluster's seed node).
    pub target: ServerConfig,
    /// The target is a Redis Cluster (`--target-cluster`).
    pub target_cluster: bool,
    /// Expiries this close (in milliseconds) are the same.
    pub ttl_tolerance_ms: u64,
    /// Only keys matching this glob.
    pub pattern: Option<String>,
    /// Only keys of these types; all when empty.
    pub types: Vec<String>,
    /// Only this database (`-n`, on both sides); every one otherwise.
    pub db: Option<u32>,
    /// An RDB file as the source, instead of a server.
    pub input: Option<Input>,
    /// Read a live source with `SCAN`, never from its snapshot.
    pub scan: bool,
    /// Read the differing keys again this many times, after a pause.
    pub recheck: u32,
    /// Write the commands that repair the target here.
    pub repair_output: Option<PathBuf>,
}

impl CompareOptions {
    /// The dump that reads the source.
    fn source_dump(&self) -> DumpOptions {
        DumpOptions {
            pattern: self.pattern.clone(),
            types: self.types.clone(),
            db: self.db,
            input: self.input.clone(),
            scan: self.scan,
            ..DumpOptions::default()
        }
    }
}

/// Compares the source `config` names (or `options.input`, an RDB file)
/// with `options.target`.
///
/// # Errors
///
/// Failures before anything was compared: a server that cannot be
/// reached or logged in to, a file that cannot be read, a repair file that
/// cannot be created.
pub fn compare(
    config: &Config,
    options: &CompareOptions,
    events: Arc<dyn Events>,
) -> Result<CompareSummary, Error> {
    let started = Instant::now();
    let mut repair_file = match &options.repair_output {
        Some(path) => Some(
            repair::create(path)
                .map_err(|e| Error::Config(format!("--repair-output {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let patience = Patience::new(options.target.wait, &config.interrupt, Arc::clone(&events));
    let mut target = Keyed::open(
        &options.target,
        options.target_cluster,
        config,
        Some(&patience),
        Arc::clone(&events),
    )?;
    let source_name = match &options.input {
        Some(input) => input.name(),
        None => config.server.addr(),
    };
    let mut summary = CompareSummary::new(source_name, target.addrs().join(", "));
    if config.rate.is_none() {
        match whole::compare(config, options, &events)? {
            Whole::Equal(keys) => {
                summary.compared = keys;
                summary.scanned = keys;
                summary.elapsed = started.elapsed();
                return Ok(summary);
            }
            Whole::Stopped(source_keys, target_keys, stop) => {
                summary.digested = Some((source_keys, target_keys));
                summary.stop = Some(stop);
                summary.elapsed = started.elapsed();
                return Ok(summary);
            }
            Whole::Different => {
                events.notice("the databases' digests differ: comparing them key by key");
            }
        }
    }
    let (mut found, source_keys, stop) = both_sides(config, options, target, &events)?;
    let (target_back, mut stop) = stop;
    target = target_back;
    if stop.is_none() {
        let addr = target.addr().to_string();
        if let Err(f) = target::extras(&mut target, options, &source_keys, &mut found) {
            stop = Some(stop_of(&addr, f, config));
        }
    }
    drop(source_keys);
    summary.compared = found.compared;
    summary.scanned = found.scanned;
    summary.diffs = found.diffs;
    let mut source = None;
    // By kind, then database and key: the list reads the same each run,
    // whichever reader of the target found what.
    summary
        .diffs
        .sort_unstable_by(|a, b| (a.kind, a.db, &a.key).cmp(&(b.kind, b.db, &b.key)));
    if stop.is_none() && !summary.diffs.is_empty() {
        if options.input.is_none() {
            source = Some(Keyed::open(
                &config.server,
                config.cluster,
                config,
                None,
                Arc::clone(&events),
            )?);
        }
        stop = recheck(&mut summary, source.as_mut(), &mut target, options, config);
        if let (None, Some(source)) = (&stop, source.as_mut()) {
            stop = details(&mut summary.diffs, source, &mut target, config);
        }
    }
    if let (None, Some(file)) = (&stop, &mut repair_file) {
        summary.repair_commands = Some(match source.as_mut() {
            Some(source) => {
                let addr = source.addr().to_string();
                match repair::from_server(file, &summary.diffs, source) {
                    Ok(n) => n,
                    Err(f) => {
                        stop = Some(stop_of(&addr, f, config));
                        0
                    }
                }
            }
            None => repair::from_file(
                file,
                &summary.diffs,
                config,
                &options.source_dump(),
                Arc::clone(&events),
            )?,
        });
    }
    summary.retries = target.retry.count + source.map_or(0, |s| s.retry.count);
    summary.stop = stop;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// What both sides read: what the target's side found, the source's key
/// hashes (sorted), the target back, and a stop.
type BothSides = (Found, Vec<u64>, (Keyed, Option<Stop>));

/// Reads the source on this thread and the target on another, at once.
fn both_sides(
    config: &Config,
    options: &CompareOptions,
    target: Keyed,
    events: &Arc<dyn Events>,
) -> Result<BothSides, Error> {
    let (tx, rx) = mpsc::sync_channel::<Batch>(QUEUED);
    let rx = Arc::new(Mutex::new(rx));
    let mut readers = vec![target];
    for _ in 1..TARGET_READERS {
        readers.push(Keyed::open(
            &options.target,
            options.target_cluster,
            config,
            None,
            Arc::clone(events),
        )?);
    }
    let tolerance = options.ttl_tolerance_ms;
    let mut threads = Vec::new();
    for mut reader in readers {
        let rx = Arc::clone(&rx);
        let thread = std::thread::Builder::new()
            .name("rload-target".into())
            .spawn(move || {
                let mut found = Found::default();
                let result = target::forward(&mut reader, &rx, tolerance, &mut found);
                (reader, found, result)
            })
            .map_err(|e| Error::Config(format!("cannot start the target's thread: {e}")))?;
        threads.push(thread);
    }
    let mut feeder = Feeder {
        digester: Digester::new(options.db.unwrap_or(0)),
        tx,
        keys: Vec::new(),
    };
    let dumped = dump_into(
        config,
        &options.source_dump(),
        &mut feeder,
        Arc::clone(events),
    );
    let sent = feeder.send();
    let Feeder { tx, mut keys, .. } = feeder;
    drop(tx);
    let (mut target, mut found, mut fault) = (None, Found::default(), None);
    for thread in threads {
        let (reader, part, result) = match thread.join() {
            Ok(back) => back,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        found.add(part);
        if let Err(f) = result {
            fault.get_or_insert((reader.addr().to_string(), f));
        }
        target.get_or_insert(reader);
    }
    let target = target.expect("one reader at least");
    let source = dumped?;
    let addr = target.addr().to_string();
    // The target's fault first: the source's side then only saw its batches
    // refused.
    let stop = match fault {
        Some((addr, f)) => Some(stop_of(&addr, f, config)),
        None => source
            .stop
            .or_else(|| sent.err().map(|e| stop_of(&addr, Fault::Io(e), config))),
    };
    keys.sort_unstable();
    Ok((found, keys, (target, stop)))
}

/// The source's side of the compare: an output that digests each key the
/// dump's driver reads, and hands the digests over in batches.
struct Feeder {
    digester: Digester,
    tx: SyncSender<Batch>,
    /// The hash of each source key, to find the target's extras.
    keys: Vec<u64>,
}

impl Feeder {
    /// Hands over the keys digested so far.
    fn send(&mut self) -> io::Result<()> {
        if self.digester.done.is_empty() {
            return Ok(());
        }
        let db = self.digester.done[0].0;
        let batch: Vec<(Vec<u8>, Digest)> = self
            .digester
            .done
            .drain(..)
            .map(|(_, key, digest)| (key, digest))
            .collect();
        self.tx
            .send((db, batch))
            .map_err(|_| io::Error::other("the target's side stopped"))
    }
}

impl Output for Feeder {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.send()?;
        self.digester.select(db)
    }

    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        self.digester.begin(key, kind)
    }

    fn piece(&mut self, key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()> {
        self.digester.piece(key, kind, piece, first)
    }

    fn end(&mut self, key: &[u8], kind: Kind, ending: &Ending) -> io::Result<()> {
        self.digester.end(key, kind, ending)?;
        self.keys.push(key_hash(self.digester.db, key));
        if self.digester.done.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn discard(&mut self, key: &[u8], kind: Kind, why: Discard) -> io::Result<()> {
        self.digester.discard(key, kind, why)
    }

    fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.digester.function(code)
    }

    fn payload(&mut self, key: &[u8], payload: &[u8], at: Option<i64>) -> io::Result<()> {
        self.digester.payload(key, payload, at)
    }

    fn written(&self) -> u64 {
        self.digester.written()
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `--recheck`: reads the differing keys again, on both sides, each
/// round after a pause, and keeps those that still differ. An RDB file's
/// keys do not change: its side is what was read. A stop, if one came.
fn recheck(
    summary: &mut CompareSummary,
    mut source: Option<&mut Keyed>,
    target: &mut Keyed,
    options: &CompareOptions,
    config: &Config,
) -> Option<Stop> {
    for _ in 0..options.recheck {
        if summary.diffs.is_empty() {
            break;
        }
        if let Err(f) = pause(config) {
            return Some(stop_of(target.addr(), f, config));
        }
        summary.rechecks += 1;
        let before = summary.diffs.len();
        let mut kept = Vec::with_capacity(before);
        let diffs = std::mem::take(&mut summary.diffs);
        for chunk in diffs.chunk_by(|a, b| a.db == b.db) {
            for part in chunk.chunks(BATCH) {
                match again(part, source.as_deref_mut(), target, options) {
                    Ok(still) => kept.extend(still),
                    Err((addr, f)) => {
                        summary.diffs = kept;
                        return Some(stop_of(&addr, f, config));
                    }
                }
            }
        }
        summary.settled += (before - kept.len()) as u64;
        summary.diffs = kept;
    }
    None
}

/// Names what differs inside the first [`DETAILED`] keys whose values
/// differ, reading their elements on both sides. A stop, if one came.
fn details(
    diffs: &mut [Difference],
    source: &mut Keyed,
    target: &mut Keyed,
    config: &Config,
) -> Option<Stop> {
    let values = diffs.iter_mut().filter(|d| d.kind == DiffKind::Value);
    for d in values.take(DETAILED) {
        let Seen::Key(digest) = &d.source else {
            continue;
        };
        let mut sides = detail::Sides {
            source: &mut *source,
            target: &mut *target,
            db: d.db,
            key: &d.key,
        };
        match detail::name(&mut sides, digest.kind) {
            Ok(named) => d.detail = named,
            Err(f) => return Some(stop_of(target.addr(), f, config)),
        }
    }
    None
}

/// Waits before a recheck; a signal cuts it short.
fn pause(config: &Config) -> Result<(), Fault> {
    let until = Instant::now() + RECHECK_PAUSE;
    while Instant::now() < until {
        if let Some(signal) = config.interrupt.requested() {
            return Err(Fault::Interrupted(signal));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The keys of `part` (one database) read again: those that still differ.
fn again(
    part: &[Difference],
    source: Option<&mut Keyed>,
    target: &mut Keyed,
    options: &CompareOptions,
) -> Result<Vec<Difference>, (String, Fault)> {
    let db = part[0].db;
    let keys: Vec<Vec<u8>> = part.iter().map(|d| d.key.clone()).collect();
    let sources: Vec<Seen> = match source {
        Some(s) => s.read(db, &keys).map_err(|f| (s.addr().to_string(), f))?,
        None => part.iter().map(|d| d.source.clone()).collect(),
    };
    let targets = target
        .read(db, &keys)
        .map_err(|f| (target.addr().to_string(), f))?;
    let mut still = Vec::new();
    for ((key, source), target) in keys.into_iter().zip(sources).zip(targets) {
        let wanted = |s: &Seen| match s {
            Seen::Key(d) => {
                options.types.is_empty() || options.types.iter().any(|t| t == d.kind.name())
            }
            _ => false,
        };
        // A key of a type not compared on either side is out of it now.
        if !wanted(&source) && !wanted(&target) {
            continue;
        }
        if let Some(kind) = judge(&source, &target, options.ttl_tolerance_ms) {
            still.push(Difference {
                db,
                key,
                kind,
                source,
                target,
                detail: None,
            });
        }
    }
    Ok(still)
}
