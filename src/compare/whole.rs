//! The first pass: both sides read at once, each by the dump's own driver
//! (a live server from its snapshot, as fast as a `--dump`), each reduced
//! to one digest per database: the number of keys, and the sum (modulo
//! 2^64) of one hash per key of its name, its value's digest and its
//! expiry. The sum does not depend on the order keys come in, so two
//! servers' snapshots, in two orders, can be compared in flat memory.
//!
//! Equal digests mean equal databases: the expiry is hashed as the window
//! of `--ttl-tolerance` it falls in, and two expiries in one window are
//! within the tolerance. Digests that differ say nothing of which keys
//! differ (or only that two expiries within the tolerance fell either side
//! of a window's edge): the compare then goes key by key.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::io;
use std::sync::Arc;

use super::CompareOptions;
use super::digest::{Digest, Digester};
use crate::config::Config;
use crate::dump::{DumpSummary, dump_into};
use crate::error::Error;
use crate::meter::Meter;
use crate::rebuild::{Discard, Ending, Kind, Output, Piece};
use crate::report::{Events, Stop};

/// Per database: keys, and the sum of their hashes.
pub(crate) type Sums = BTreeMap<u32, (u64, u64)>;

/// What the first pass found.
pub(crate) enum Whole {
    /// The sides are equal: the keys of the source.
    Equal(u64),
    /// They differ somewhere.
    Different,
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
    options: &CompareOptions,
    events: &Arc<dyn Events>,
) -> Result<Whole, Error> {
    let target_config = Config {
        server: options.target.clone(),
        cluster: options.target_cluster,
        // The progress display counts the source's keys.
        meter: Meter::new(),
        ..config.clone()
    };
    let target_dump = crate::dump::DumpOptions {
        input: None,
        ..options.source_dump()
    };
    let bucket = options.ttl_tolerance_ms;
    let target_events = Arc::clone(events);
    let target = std::thread::Builder::new()
        .name("rload-target".into())
        .spawn(move || summed(&target_config, &target_dump, bucket, target_events))
        .map_err(|e| Error::Config(format!("cannot start the target's thread: {e}")))?;
    let source = summed(config, &options.source_dump(), bucket, Arc::clone(events));
    let target = match target.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let ((source, s), (target, t)) = (source?, target?);
    let keys = |sums: &Sums| sums.values().map(|v| v.0).sum::<u64>();
    Ok(match (source.stop, target.stop) {
        (Some(stop), _) | (None, Some(stop)) => Whole::Stopped(keys(&s), keys(&t), stop),
        (None, None) if s == t => Whole::Equal(keys(&s)),
        (None, None) => Whole::Different,
    })
}

/// One side read whole into its digests.
fn summed(
    config: &Config,
    options: &crate::dump::DumpOptions,
    bucket: u64,
    events: Arc<dyn Events>,
) -> Result<(DumpSummary, Sums), Error> {
    let mut summer = Summer {
        digester: Digester::new(options.db.unwrap_or(0)),
        sums: Sums::new(),
        bucket,
    };
    let summary = dump_into(config, options, &mut summer, events)?;
    Ok((summary, summer.sums))
}

/// An output that adds each key's hash to its database's sum.
struct Summer {
    digester: Digester,
    sums: Sums,
    /// The width of an expiry's window, in ms (0: the expiry itself).
    bucket: u64,
}

impl Summer {
    /// Adds `key`, whose digest is `d`, to its database's sum.
    fn add(&mut self, key: &[u8], d: &Digest) {
        let mut h = DefaultHasher::new();
        h.write_u64(key.len() as u64);
        h.write(key);
        h.write(d.kind.name().as_bytes());
        for n in [d.len, d.hash, d.meta] {
            h.write_u64(n);
        }
        match d.expire_at {
            None => h.write_u8(0),
            Some(at) => {
                h.write_u8(1);
                h.write_i64(match self.bucket {
                    0 => at,
                    b => at.div_euclid(b as i64),
                });
            }
        }
        let sum = self.sums.entry(self.digester.db).or_default();
        sum.0 += 1;
        sum.1 = sum.1.wrapping_add(h.finish());
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
