//! The target's side: on a thread of its own, it takes the source's keys
//! in batches (database, names, digests), reads the same names from the
//! target in one round trip per batch and node, and judges each key. So
//! both sides are read at once: the source by the dump's driver on the
//! calling thread, the target here.
//!
//! Then the other direction: keys the target has and the source has not.
//! Where no `--match` or `--type` narrows the compare, a database whose
//! size in the target is the number of its keys found there already has
//! none, and is not read again; the others are read with `SCAN`, each key
//! looked up in the set of the source's key hashes (8 bytes a key).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::mpsc::Receiver;

use super::CompareOptions;
use super::diff::{DiffKind, Difference, judge};
use super::digest::Digest;
use super::keyed::{Keyed, Seen};
use super::whole::{Bucket, Narrowed, bucket_of};
use crate::dump::link::Fault;
use crate::dump::shape::bad;

/// A batch of the source's keys, all of one database.
pub(crate) type Batch = (u32, Vec<(Vec<u8>, Digest)>);

/// What the target's side found.
#[derive(Default)]
pub(crate) struct Found {
    /// Source keys judged.
    pub compared: u64,
    /// Of those, keys the target had, per bucket.
    pub matched: HashMap<Bucket, u64>,
    /// Keys of the target read in the other direction.
    pub scanned: u64,
    /// The keys that differ, in the order found.
    pub diffs: Vec<Difference>,
}

impl Found {
    /// Adds what another reader of the target found.
    pub(crate) fn add(&mut self, other: Found) {
        self.compared += other.compared;
        self.scanned += other.scanned;
        for (bucket, n) in other.matched {
            *self.matched.entry(bucket).or_default() += n;
        }
        self.diffs.extend(other.diffs);
    }

    /// Keys the target had, of database `db`.
    fn matched_in(&self, db: u32) -> u64 {
        self.matched
            .iter()
            .filter(|(b, _)| b.0 == db)
            .map(|(_, n)| n)
            .sum()
    }
}

/// The hash under which a source key is remembered, to find extras.
pub(crate) fn key_hash(db: u32, key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key, u64::from(db))
}

/// Judges batches from `rx` (shared with the other readers of the
/// target) against the target, until the source's side closes it.
///
/// # Errors
///
/// A fault reading the target; what was found until then stays in
/// `found`.
pub(crate) fn forward(
    target: &mut Keyed,
    rx: &Mutex<Receiver<Batch>>,
    tolerance: u64,
    found: &mut Found,
) -> Result<(), Fault> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    loop {
        let next = rx
            .lock()
            .map_err(|_| bad("a reader of the target failed".into()))?
            .recv();
        let Ok((db, batch)) = next else {
            return Ok(());
        };
        names.clear();
        names.extend(batch.iter().map(|(k, _)| k.clone()));
        let seen = target.read(db, &names)?;
        for ((key, digest), target) in batch.into_iter().zip(seen) {
            found.compared += 1;
            if target != Seen::Missing {
                *found.matched.entry(bucket_of(db, &key)).or_default() += 1;
            }
            let source = Seen::Key(digest);
            if let Some(kind) = judge(&source, &target, tolerance) {
                found.diffs.push(Difference {
                    db,
                    key,
                    kind,
                    source,
                    target,
                    detail: None,
                });
            }
        }
    }
}

/// Finds the keys the target has and the source has not: `source_keys`
/// holds the hash of every source key compared, sorted. With `narrowed`,
/// only in the buckets it names, and only where the target has more keys
/// in them than were found there.
///
/// # Errors
///
/// A fault reading the target.
pub(crate) fn extras(
    target: &mut Keyed,
    options: &CompareOptions,
    source_keys: &[u64],
    narrowed: Option<&Narrowed>,
    found: &mut Found,
) -> Result<(), Fault> {
    let filtered = options.pattern.is_some() || !options.types.is_empty();
    // Where the target may hold keys the source has not.
    let more_in = |db: u32, size: u64, found: &Found| match narrowed {
        Some(n) => n.differing.iter().any(|b| {
            b.0 == db
                && n.target_keys.get(b).copied().unwrap_or(0)
                    > found.matched.get(b).copied().unwrap_or(0)
        }),
        None => size > 0 && (filtered || size != found.matched_in(db)),
    };
    let wanted = |db: u32, h: u64, key: &[u8]| {
        source_keys.binary_search(&h).is_err()
            && narrowed.is_none_or(|n| n.differing.contains(&bucket_of(db, key)))
    };
    let dbs: Vec<(u32, u64)> = match options.db {
        Some(n) => {
            let size = target
                .keyspace()?
                .iter()
                .find(|d| d.0 == n)
                .map_or(0, |d| d.1);
            vec![(n, size)]
        }
        None => target.keyspace()?,
    };
    let one_type = match options.types.as_slice() {
        [t] => Some(t.as_str()),
        _ => None,
    };
    for (db, size) in dbs {
        if !more_in(db, size, found) {
            continue;
        }
        for node in 0..target.nodes() {
            let mut cursor = b"0".to_vec();
            loop {
                let (next, keys) =
                    target.scan(node, db, &cursor, options.pattern.as_deref(), one_type)?;
                found.scanned += keys.len() as u64;
                let candidates: Vec<Vec<u8>> = keys
                    .into_iter()
                    .filter(|k| wanted(db, key_hash(db, k), k))
                    .collect();
                add_extras(target, options, db, candidates, found)?;
                if next == b"0" {
                    break;
                }
                cursor = next;
            }
        }
    }
    Ok(())
}

/// The keys of `names` (of database `db`, in the target, not in the
/// source) that are still there, as extras.
fn add_extras(
    target: &mut Keyed,
    options: &CompareOptions,
    db: u32,
    names: Vec<Vec<u8>>,
    found: &mut Found,
) -> Result<(), Fault> {
    if names.is_empty() {
        return Ok(());
    }
    let seen = target.read(db, &names)?;
    for (key, seen) in names.into_iter().zip(seen) {
        let wanted = match &seen {
            Seen::Key(d) => {
                options.types.is_empty() || options.types.iter().any(|t| t == d.kind.name())
            }
            // Gone since, or of a type no compare reads.
            _ => false,
        };
        if wanted {
            found.diffs.push(Difference {
                db,
                key,
                kind: DiffKind::Extra,
                source: Seen::Missing,
                target: seen,
                detail: None,
            });
        }
    }
    Ok(())
}

/// Finds the extras among `names`, the target's keys in the buckets that
/// differ (read from its snapshot beside the source's second pass), instead
/// of reading the whole target again with `SCAN`.
///
/// # Errors
///
/// A fault reading the target.
pub(crate) fn extras_among(
    target: &mut Keyed,
    options: &CompareOptions,
    source_keys: &[u64],
    names: Vec<(u32, Vec<u8>)>,
    found: &mut Found,
) -> Result<(), Fault> {
    found.scanned += names.len() as u64;
    let mut names: Vec<(u32, Vec<u8>)> = names
        .into_iter()
        .filter(|(db, k)| source_keys.binary_search(&key_hash(*db, k)).is_err())
        .collect();
    names.sort_unstable();
    // A key read again (it changed while read) was named twice.
    names.dedup();
    for group in names.chunk_by(|a, b| a.0 == b.0) {
        for part in group.chunks(1000) {
            let keys = part.iter().map(|(_, k)| k.clone()).collect();
            add_extras(target, options, part[0].0, keys, found)?;
        }
    }
    Ok(())
}
