//! After the key-by-key compare: `--recheck` (the differing keys read
//! again on both sides, after a pause), and naming what differs inside
//! the keys whose values differ ([`super::detail`]).

use std::time::{Duration, Instant};

use super::diff::{DiffKind, Difference, judge};
use super::keyed::{Keyed, Seen};
use super::summary::CompareSummary;
use super::{CompareOptions, detail};
use crate::config::Config;
use crate::dump::link::Fault;
use crate::dump::stop_of;
use crate::interrupt::Interrupt;
use crate::report::Stop;

/// Keys per read, as a dump's page.
const BATCH: usize = 1000;

/// Keys whose values differ that have what differs in them named: each
/// is read whole, in windows, on both sides.
const DETAILED: usize = 100;

/// The pause before each `--recheck` round, for writes in flight on
/// either side to land.
const RECHECK_PAUSE: Duration = Duration::from_millis(500);

/// `--recheck`: reads the differing keys again, on both sides, each
/// round after a pause, and keeps those that still differ. An RDB file's
/// keys do not change: its side is what was read. A stop, if one came.
pub(crate) fn recheck(
    summary: &mut CompareSummary,
    mut source: Option<&mut Keyed>,
    target: &mut Keyed,
    options: &CompareOptions,
    config: &Config,
    interrupt: &Interrupt,
) -> Option<Stop> {
    for _ in 0..options.recheck {
        if summary.diffs.is_empty() {
            break;
        }
        if let Err(f) = pause(interrupt) {
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
pub(crate) fn details(
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
fn pause(interrupt: &Interrupt) -> Result<(), Fault> {
    let until = Instant::now() + RECHECK_PAUSE;
    while Instant::now() < until {
        if let Some(signal) = interrupt.requested() {
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
