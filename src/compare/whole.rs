//! The first pass: both sides read at once, each by the dump's own driver
//! (a live server from its snapshot, as fast as a `--dump`), each reduced
//! to digests: the keys of each database fall in [`BUCKETS`] buckets by
//! the hash of their names, and each bucket's digest is its number of keys
//! and the sum (modulo 2^64) of one hash per key of its name, its value's
//! digest and its expiry. A sum does not depend on the order keys come in,
//! so two servers' snapshots, in two orders, compare in flat memory.
//!
//! Equal digests mean equal buckets: the expiry is hashed as the window of
//! `--ttl-tolerance` it falls in, and two expiries in one window are within
//! the tolerance. A bucket whose digests differ holds a key that differs
//! (or two expiries within the tolerance either side of a window's edge):
//! the compare then goes key by key, through those buckets only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::Arc;

use super::CompareOptions;
use super::digest::{Digest, Digester};
use super::target::key_hash;
use crate::config::{Config, Handles};
use crate::dump::{DumpSummary, dump_into};
use crate::error::Error;
use crate::meter::Meter;
use crate::rebuild::{Discard, Ending, Kind, Output, Piece};
use crate::report::{Events, Stop};

/// Buckets per database: the digests of a side take 16 bytes each, and a
/// bucket that differs is read again key by key (a thousandth of a
/// keyspace, for a few keys that differ).
pub(crate) const BUCKETS: u64 = 1024;

/// A bucket: a database, and a number below [`BUCKETS`].
pub(crate) type Bucket = (u32, u16);

/// The bucket of `key`, of database `db`.
pub(crate) fn bucket_of(db: u32, key: &[u8]) -> Bucket {
    (db, (key_hash(db, key) % BUCKETS) as u16)
}

/// Per bucket: keys, and the sum of their hashes.
pub(crate) type Sums = BTreeMap<Bucket, (u64, u64)>;

/// The buckets whose digests differ, and the target's keys in each.
#[derive(Debug, Default)]
pub(crate) struct Narrowed {
    pub differing: HashSet<Bucket>,
    pub target_keys: HashMap<Bucket, u64>,
}

/// What the first pass found.
pub(crate) enum Whole {
    /// The sides are equal: the keys of the source.
    Equal(u64),
    /// They differ in these buckets.
    Different(Narrowed),
    /// A side stopped (a signal, an error): the keys read of each side
    /// so far, and the stop.
    Stopped(u64, u64, Stop),
}

/// Reads both sides at once, each into its digests, and compares them.
///
/// # Errors
///
/// A side that cannot be reached, or read at all.
pub(crate) fn compare(
    config: &Config,
    handles: &Handles,
    options: &CompareOptions,
    events: &Arc<dyn Events>,
) -> Result<Whole, Error> {
    let (target_config, target_handles, target_dump) = target_side(config, handles, options);
    let bucket = options.ttl_tolerance_ms;
    let target_events = Arc::clone(events);
    let target = std::thread::Builder::new()
        .name("rload-target".into())
        .spawn(move || {
            summed(
                &target_config,
                &target_handles,
                &target_dump,
                bucket,
                target_events,
            )
        })
        .map_err(|e| Error::Config(format!("cannot start the target's thread: {e}")))?;
    let source = summed(
        config,
        handles,
        &options.source_dump(),
        bucket,
        Arc::clone(events),
    );
    let target = match target.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let ((source, s), (target, t)) = (source?, target?);
    let keys = |sums: &Sums| sums.values().map(|v| v.0).sum::<u64>();
    Ok(match (source.stop, target.stop) {
        (Some(stop), _) | (None, Some(stop)) => Whole::Stopped(keys(&s), keys(&t), stop),
        (None, None) if s == t => Whole::Equal(keys(&s)),
        (None, None) => Whole::Different(narrowed(&s, &t)),
    })
}

/// The most buckets whose target keys are collected by name for the
/// second pass (about a thousandth of the keys each): beyond, the extras
/// are found with `SCAN`.
pub(crate) const COLLECTED: usize = 64;

/// A side's dump, and the names (database, key) it kept.
pub(crate) type Collected = (DumpSummary, Vec<(u32, Vec<u8>)>);

/// The target's keys of the buckets `narrowed` names, read (by name only)
/// from its snapshot on a thread of its own, for the second pass.
pub(crate) fn collect(
    config: &Config,
    handles: &Handles,
    options: &CompareOptions,
    narrowed: &Narrowed,
    events: &Arc<dyn Events>,
) -> std::thread::JoinHandle<Result<Collected, Error>> {
    let (config, handles, dump) = target_side(config, handles, options);
    let mut names = Names {
        digester: Digester::new(options.db.unwrap_or(0)),
        buckets: narrowed.differing.clone(),
        names: Vec::new(),
    };
    let events = Arc::clone(events);
    std::thread::spawn(move || {
        let summary = dump_into(&config, &handles, &dump, &mut names, events)?;
        Ok((summary, names.names))
    })
}

/// The target's settings, handles and dump, from the compare's.
fn target_side(
    config: &Config,
    handles: &Handles,
    options: &CompareOptions,
) -> (Config, Handles, crate::dump::DumpOptions) {
    let target_config = Config {
        server: options.target.clone(),
        cluster: options.target_cluster,
        ..config.clone()
    };
    let target_handles = Handles {
        interrupt: handles.interrupt.clone(),
        // The progress display counts the source's keys.
        meter: Meter::new(),
    };
    let target_dump = crate::dump::DumpOptions {
        input: None,
        ..options.source_dump()
    };
    (target_config, target_handles, target_dump)
}

/// An output that keeps the names of the keys of some buckets.
struct Names {
    digester: Digester,
    buckets: HashSet<Bucket>,
    names: Vec<(u32, Vec<u8>)>,
}

impl Output for Names {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.digester.select(db)
    }

    fn begin(&mut self, _key: &[u8], _kind: Kind) -> io::Result<()> {
        Ok(())
    }

    fn piece(&mut self, _: &[u8], _: Kind, _: Piece<'_>, _: bool) -> io::Result<()> {
        Ok(())
    }

    fn end(&mut self, key: &[u8], _kind: Kind, _ending: &Ending) -> io::Result<()> {
        let db = self.digester.db;
        if self.buckets.contains(&bucket_of(db, key)) {
            self.names.push((db, key.to_vec()));
        }
        Ok(())
    }

    fn discard(&mut self, _key: &[u8], _kind: Kind, _why: Discard) -> io::Result<()> {
        Ok(())
    }

    fn function(&mut self, _code: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn payload(&mut self, _key: &[u8], _payload: &[u8], _at: Option<i64>) -> io::Result<()> {
        Ok(())
    }

    fn written(&self) -> u64 {
        self.names.len() as u64
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The buckets whose digests differ.
fn narrowed(source: &Sums, target: &Sums) -> Narrowed {
    let mut n = Narrowed::default();
    for bucket in source.keys().chain(target.keys()) {
        if source.get(bucket) != target.get(bucket) {
            n.differing.insert(*bucket);
            n.target_keys
                .insert(*bucket, target.get(bucket).map_or(0, |t| t.0));
        }
    }
    n
}

/// One side read whole into its digests.
fn summed(
    config: &Config,
    handles: &Handles,
    options: &crate::dump::DumpOptions,
    bucket: u64,
    events: Arc<dyn Events>,
) -> Result<(DumpSummary, Sums), Error> {
    let mut summer = Summer {
        digester: Digester::new(options.db.unwrap_or(0)),
        per_db: Vec::new(),
        at: 0,
        window: bucket,
    };
    let summary = dump_into(config, handles, options, &mut summer, events)?;
    let mut sums = Sums::new();
    for (db, buckets) in summer.per_db {
        for (i, sum) in buckets.into_iter().enumerate() {
            if sum.0 > 0 {
                sums.insert((db, i as u16), sum);
            }
        }
    }
    Ok((summary, sums))
}

/// An output that adds each key's hash to its database's sum.
struct Summer {
    digester: Digester,
    /// Per database, each bucket's keys and sum.
    per_db: Vec<(u32, Vec<(u64, u64)>)>,
    /// Which of them the last key was of.
    at: usize,
    /// The width of an expiry's window, in ms (0: the expiry itself).
    window: u64,
}

impl Summer {
    /// Adds `key`, whose digest is `d`, to its database's sum.
    fn add(&mut self, key: &[u8], d: &Digest) {
        let db = self.digester.db;
        // The key's name is hashed once: for its bucket, and in its hash.
        let name = key_hash(db, key);
        // Name, type, length, value, stream meta, and expiry (its window),
        // in one buffer hashed once.
        let expiry = d.expire_at.map(|at| match self.window {
            0 => at,
            b => at.div_euclid(b as i64),
        });
        // Six whole words: XXH3 reads a 48-byte input in aligned halves
        // (42 bytes made it read across two stores, and stall).
        let words = [
            name,
            d.len,
            d.hash,
            // A stream's meta, or a hash's fields' expiries (one is 0).
            d.meta ^ d.field_ttls.rotate_left(17),
            expiry.unwrap_or(0) as u64,
            d.kind as u64 | u64::from(expiry.is_some()) << 8,
        ];
        let mut fields = [0u8; 48];
        for (chunk, w) in fields.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        let h = xxhash_rust::xxh3::xxh3_64(&fields);
        if self.per_db.get(self.at).is_none_or(|(d, _)| *d != db) {
            self.at = match self.per_db.iter().position(|(d, _)| *d == db) {
                Some(i) => i,
                None => {
                    self.per_db.push((db, vec![(0, 0); BUCKETS as usize]));
                    self.per_db.len() - 1
                }
            };
        }
        let sum = &mut self.per_db[self.at].1[(name % BUCKETS) as usize];
        sum.0 += 1;
        sum.1 = sum.1.wrapping_add(h);
    }
}

impl Output for Summer {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.digester.select(db)
    }

    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        self.digester.begin(key, kind)
    }

    fn piece(&mut self, key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()> {
        self.digester.piece(key, kind, piece, first)
    }

    fn end(&mut self, key: &[u8], kind: Kind, ending: &Ending) -> io::Result<()> {
        if let Some(d) = self.digester.finish(kind, ending) {
            self.add(key, &d);
        }
        Ok(())
    }

    fn discard(&mut self, key: &[u8], kind: Kind, why: Discard) -> io::Result<()> {
        self.digester.discard(key, kind, why)
    }

    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        self.add(key, &Digest::string(value, expire_at));
        Ok(())
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
