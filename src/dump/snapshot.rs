//! Dumping from an RDB: a file (`rload --dump dump.rdb`: converting a
//! backup without a server), or a live server's own snapshot, taken as a
//! replica's full sync takes it (`PSYNC`, or `SYNC`; the diskless form
//! too). A snapshot is the dataset at one instant, for the cost of a fork
//! on the server rather than a script per page; where the server refuses
//! the sync (managed services often do), the dump reads with `SCAN`
//! instead, and says so.
//!
//! The RDB's keys are replayed ([`crate::rdb::replay`]) into the same
//! output a `SCAN` dump writes, filtered by `--match`, `--type`, `-n` and
//! `--split` as they are read. A file's dump cut short goes on from the
//! number of keys it read (`--cursor keys:N`); a snapshot's is taken again.

use std::io::{self, Read};

use super::link::Fault;
use super::page::Pager;
use super::position::Position;
use super::{DumpOptions, Ended, stop_of};
use crate::config::{Config, ServerConfig};
use crate::conn::Patience;
use crate::error::Error;
use crate::filter::{Glob, KeyFilter, SlotSet};
use crate::input::{Input, InputError, Inputs, InvalidKind, Location};
use crate::rdb::replay::{Replay, ReplayError, ReplayOptions, Step};
use crate::rdb::sync::{self, SyncError};
use crate::rdb::{RdbError, RdbReader};
use crate::report::Stop;

/// An input's bytes (decompressed), as a reader.
struct InputRead(Inputs);

impl Read for InputRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(io::Error::other)
    }
}

/// The filter `options` ask for.
fn filter(options: &DumpOptions) -> KeyFilter {
    KeyFilter {
        pattern: options.pattern.as_deref().map(|p| Glob::new(p.as_bytes())),
        types: options.types.clone(),
        db: options.db.map(u64::from),
        split: options.split,
        slots: None,
    }
}

/// How the replay writes keys: `SELECT`s unless `-n` picks a database;
/// `RESTORE` payloads for the restore format.
fn replay_options(options: &DumpOptions) -> ReplayOptions {
    ReplayOptions {
        select: options.db.is_none(),
        restore_upto: (options.format == super::DumpFormat::Restore).then_some(u32::MAX),
        restore_strings: true,
        now_ms: Some(super::big::now_ms()),
    }
}

/// The keys a `--cursor keys:N` skips.
fn keys_to_skip(options: &DumpOptions) -> Result<u64, Error> {
    let Some(cursor) = &options.cursor else {
        return Ok(0);
    };
    cursor
        .strip_prefix("keys:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            Error::Config(format!(
                "--cursor {cursor}: a dump of an RDB file goes on with keys:N, as it printed"
            ))
        })
}

/// Dumps the RDB file `input`.
pub(crate) fn file(
    pager: &mut Pager<'_>,
    options: &DumpOptions,
    input: &Input,
) -> Result<Ended, Error> {
    let skip = keys_to_skip(options)?;
    let name = input.name();
    if let Some(size) = input.size() {
        pager.meter.set_total(size);
    }
    let mut inputs = Inputs::open(std::slice::from_ref(input))?;
    inputs.watch(pager.interrupt.clone(), pager.meter.clone());
    let reader = RdbReader::new(InputRead(inputs)).map_err(|e| not_rdb(&name, &e))?;
    pager.summary.reached(&name);
    let mut replay = Replay::new(reader, filter(options), replay_options(options));
    let ended = run(pager, &mut replay, skip, &name);
    Ok(match ended {
        Ok(()) => Ended::Done,
        Err((stop, keys)) => Ended::stopped(stop, Position::Keys(keys), 0),
    })
}

/// An input that is not an RDB file, or one this reader does not read.
fn not_rdb(name: &str, e: &RdbError) -> Error {
    Error::Config(format!(
        "--dump reads a server, or an RDB file: {name} is not one ({e})"
    ))
}

/// Dumps a cluster from its masters' snapshots, each master's keys of its
/// own slots (one instant per master). A slot is taken from a master's
/// snapshot only if the master owned it, not migrating, just before and
/// just after the snapshot's fork (so every key of the slot was there);
/// the others, and where a master refuses, the slots of the masters after
/// it, are read with `SCAN`, by the cluster dump that follows moving
/// slots. `None`: the first master refused.
pub(crate) fn cluster(
    pager: &mut Pager<'_>,
    config: &Config,
    options: &DumpOptions,
    patience: &Patience,
) -> Result<Option<Ended>, Error> {
    let masters = super::cluster::masters(std::slice::from_ref(&config.server), Some(patience))?;
    let mut unsteady = SlotSet::none();
    for (i, (node, slots)) in masters.iter().enumerate() {
        match master(pager, node, slots, options, &mut unsteady)? {
            Some(Ended::Done) => {}
            Some(stopped) => return Ok(Some(stopped)),
            None if i == 0 => return Ok(None),
            None => {
                for (_, s) in &masters[i..] {
                    s.iter().for_each(|slot| unsteady.insert(slot));
                }
                return read_again(pager, config, options, patience, unsteady).map(Some);
            }
        }
    }
    if unsteady.is_empty() {
        return Ok(Some(Ended::Done));
    }
    pager.summary.reread_slots += unsteady.len() as u64;
    read_again(pager, config, options, patience, unsteady).map(Some)
}

/// Reads the keys of `slots` with SCAN, as a cluster dump that follows
/// moving slots.
fn read_again(
    pager: &mut Pager<'_>,
    config: &Config,
    options: &DumpOptions,
    patience: &Patience,
    left: SlotSet,
) -> Result<Ended, Error> {
    let rest = DumpOptions {
        cursor: Some(Position::Cluster { at: None, left }.to_string()),
        ..options.clone()
    };
    super::cluster::run(pager, config, &rest, patience)
}

/// One master of a cluster, from its snapshot: the keys of those of
/// `slots` it holds steadily around the fork; the others go into
/// `unsteady`.
fn master(
    pager: &mut Pager<'_>,
    node: &ServerConfig,
    slots: &SlotSet,
    options: &DumpOptions,
    unsteady: &mut SlotSet,
) -> Result<Option<Ended>, Error> {
    let before = super::cluster::steady_of(node, slots)?;
    let Some((snapshot, addr)) = open_snapshot(pager, node)? else {
        return Ok(None);
    };
    let after = super::cluster::steady_of(node, slots)?;
    let mut steady = SlotSet::none();
    for s in slots.iter() {
        if before.contains(s) && after.contains(s) {
            steady.insert(s);
        } else {
            unsteady.insert(s);
        }
    }
    let mut filter = filter(options);
    filter.slots = Some(steady);
    // A cluster has database 0 alone: its keys need no SELECT.
    let replay = ReplayOptions {
        select: false,
        ..replay_options(options)
    };
    replay_snapshot(pager, snapshot, &addr, replay, filter).map(Some)
}

/// Dumps a live server from its snapshot; `None` when it refuses to give
/// one (the caller reads it with `SCAN` instead).
pub(crate) fn live(
    pager: &mut Pager<'_>,
    server: &ServerConfig,
    options: &DumpOptions,
    patience: &Patience,
) -> Result<Option<Ended>, Error> {
    // --wait: the server answers before its snapshot is asked for.
    let mut conn = crate::conn::connect_waiting(server, patience)?;
    if conn.partial_cluster_node()? {
        patience.notice(&format!(
            "{} is a Redis Cluster node: this dumps its own keys only; -c dumps the whole cluster",
            conn.addr()
        ));
    }
    let held = keys_held(&mut conn);
    drop(conn);
    let whole = options.pattern.is_none() && options.types.is_empty() && options.split.is_none();
    if whole && let Some(dbs) = &held {
        let total = dbs
            .iter()
            .filter(|d| options.db.is_none_or(|n| n == d.0))
            .map(|d| d.1)
            .sum();
        pager.meter.set_total(total);
    }
    let Some((snapshot, addr)) = open_snapshot(pager, server)? else {
        return Ok(None);
    };
    // As a SCAN dump does: keys of database 0 alone need no SELECT, and
    // load into any database the loader picks (or a cluster).
    let mut replay = replay_options(options);
    if held.is_some_and(|dbs| dbs.iter().all(|d| d.0 == 0)) {
        replay.select = false;
    }
    replay_snapshot(pager, snapshot, &addr, replay, filter(options)).map(Some)
}

/// `server`'s snapshot, read up to its RDB header, and its address;
/// `None` (said) when the server refuses it or sends one rload cannot
/// read.
fn open_snapshot(
    pager: &mut Pager<'_>,
    server: &ServerConfig,
) -> Result<Option<(RdbReader<sync::Snapshot>, String)>, Error> {
    let addr = server.addr();
    let snapshot = match sync::snapshot(server) {
        Ok(s) => s,
        Err(SyncError::Refused { reply, .. }) => {
            pager.events.notice(&format!(
                "{addr} refused a replica's snapshot ({reply}): reading keys with SCAN instead"
            ));
            return Ok(None);
        }
        Err(SyncError::Connect(e)) => return Err(Error::Connect(e)),
        Err(e) => {
            pager.events.notice(&format!(
                "{addr} gave no snapshot ({e}): reading keys with SCAN instead"
            ));
            return Ok(None);
        }
    };
    match RdbReader::new(snapshot) {
        Ok(r) => Ok(Some((r, addr))),
        Err(e) => {
            pager.events.notice(&format!(
                "{addr} sent a snapshot rload cannot read ({e}): reading keys with SCAN instead"
            ));
            Ok(None)
        }
    }
}

/// Dumps a snapshot's keys that `filter` takes.
fn replay_snapshot(
    pager: &mut Pager<'_>,
    reader: RdbReader<sync::Snapshot>,
    addr: &str,
    replay: ReplayOptions,
    filter: KeyFilter,
) -> Result<Ended, Error> {
    pager.summary.reached(addr);
    let name = format!("{addr} (its snapshot)");
    let mut replay = Replay::new(reader, filter, replay);
    Ok(match run(pager, &mut replay, 0, &name) {
        Ok(()) => Ended::Done,
        // A snapshot cannot be gone on with: the next is another instant.
        Err((stop, _)) => Ended::stopped(stop, Position::Again, 0),
    })
}

/// The keys the server holds in each database, as `INFO keyspace` says;
/// `None` if it does not say.
fn keys_held(conn: &mut crate::conn::Connection) -> Option<Vec<(u32, u64)>> {
    let info = conn.call("INFO", &[b"INFO", b"keyspace"]).ok()?;
    let dbs = super::shape::keyspace(&info)?;
    Some(dbs.iter().map(|d| (d.0, d.1)).collect())
}

/// Replays the whole RDB into the pager's output, passing over the first
/// `skip` keys; a stop, with the keys read before it.
fn run<R: Read>(
    pager: &mut Pager<'_>,
    replay: &mut Replay<R>,
    skip: u64,
    name: &str,
) -> Result<(), (Stop, u64)> {
    let first_db = pager.options.db.unwrap_or(0);
    let Pager {
        output,
        interrupt,
        meter,
        bucket,
        summary,
        ..
    } = pager;
    let mut sink = Skipping {
        inner: &mut **output,
        skipping: skip > 0,
        db: first_db,
        keys: Vec::new(),
    };
    let config = Config::default();
    loop {
        if let Some(signal) = interrupt.requested() {
            let stop = Stop::Interrupted {
                signal,
                drained: true,
            };
            return Err((stop, replay.reader().keys_done()));
        }
        let step = replay.step(&mut sink);
        let keys = replay.reader().keys_done();
        match step {
            Ok(Step::Key(n)) => {
                let was = std::mem::replace(&mut sink.skipping, n < skip);
                if !was {
                    meter.add_commands(1);
                    if let Err(f) = wait(bucket, interrupt, &mut *sink.inner) {
                        return Err((stop_of(name, f, &config), keys));
                    }
                }
            }
            Ok(Step::Other) => {}
            Ok(Step::End) => break,
            Err(ReplayError::Output(e)) => {
                return Err((stop_of(name, Fault::Output(e), &config), keys));
            }
            Err(ReplayError::Rdb(e)) => return Err((rdb_stop(name, &e, keys), keys)),
        }
    }
    for (db, n) in &sink.keys {
        summary.add_keys(*db, *n);
    }
    summary.skipped += replay.done.modules;
    Ok(())
}

/// `--rate`: waits for a token per key.
fn wait(
    bucket: &mut Option<crate::rate::Bucket>,
    interrupt: &crate::interrupt::Interrupt,
    output: &mut dyn crate::rebuild::Output,
) -> Result<(), Fault> {
    let Some(bucket) = bucket else {
        return Ok(());
    };
    if !bucket.wait(1, interrupt, || {
        let _ = output.flush();
    }) && let Some(signal) = interrupt.requested()
    {
        return Err(Fault::Interrupted(signal));
    }
    Ok(())
}

/// An RDB that cannot be read on, as the dump's stop: the input, the key
/// it stopped in, and the byte offset.
fn rdb_stop(name: &str, e: &RdbError, keys: u64) -> Stop {
    let names = [name.to_string()];
    let at = crate::input::Position {
        source: 0,
        line: keys + 1,
        offset: e.at().map_or(0, |at| at.offset),
    };
    Stop::Input(InputError::Invalid {
        at: Location::new(&names, at),
        kind: InvalidKind::Rdb(e.to_string()),
    })
}

/// An output that drops what is written while a continuation passes over
/// the keys the dump it goes on from already wrote.
struct Skipping<'a> {
    inner: &'a mut dyn crate::rebuild::Output,
    skipping: bool,
    /// The database keys go into, and the keys written to each.
    db: u32,
    keys: Vec<(u32, u64)>,
}

impl Skipping<'_> {
    fn count(&mut self) {
        match self.keys.iter_mut().find(|(d, _)| *d == self.db) {
            Some((_, n)) => *n += 1,
            None => self.keys.push((self.db, 1)),
        }
    }
}

impl crate::rebuild::Output for Skipping<'_> {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.db = db;
        self.inner.select(db)
    }
    fn begin(&mut self, key: &[u8], kind: crate::rebuild::Kind) -> io::Result<()> {
        if self.skipping {
            return Ok(());
        }
        self.inner.begin(key, kind)
    }
    fn piece(
        &mut self,
        key: &[u8],
        kind: crate::rebuild::Kind,
        piece: crate::rebuild::Piece<'_>,
        first: bool,
    ) -> io::Result<()> {
        if self.skipping {
            return Ok(());
        }
        self.inner.piece(key, kind, piece, first)
    }
    fn end(
        &mut self,
        key: &[u8],
        kind: crate::rebuild::Kind,
        ending: &crate::rebuild::Ending,
    ) -> io::Result<()> {
        if self.skipping {
            return Ok(());
        }
        self.count();
        self.inner.end(key, kind, ending)
    }
    fn discard(
        &mut self,
        key: &[u8],
        kind: crate::rebuild::Kind,
        why: crate::rebuild::Discard,
    ) -> io::Result<()> {
        if self.skipping {
            return Ok(());
        }
        self.inner.discard(key, kind, why)
    }
    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        if self.skipping {
            return Ok(());
        }
        self.count();
        self.inner.string(key, value, expire_at)
    }
    fn function(&mut self, code: &[u8]) -> io::Result<()> {
        if self.skipping {
            return Ok(());
        }
        self.inner.function(code)
    }
    fn payload(&mut self, key: &[u8], payload: &[u8], at: Option<i64>) -> io::Result<()> {
        if self.skipping {
            return Ok(());
        }
        self.count();
        self.inner.payload(key, payload, at)
    }
    fn written(&self) -> u64 {
        self.inner.written()
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
