//! `--compare`: are the source's keys all in the target, and the same? A
//! third driver beside the load and the dump, in a short list of steps:
//!
//! 0. Both sides are read at once by the dump's own driver (a server from
//!    its snapshot), each into order-independent digests of 1,024 buckets
//!    of keys per database (`whole`): all equal, the databases are
//!    equal, found about as fast as one dump. Otherwise, for the keys of
//!    the buckets that differ (and under `--rate`, which reads each side
//!    once, for all):
//! 1. The source is read by the dump's own driver (a server, its snapshot,
//!    a cluster's masters, an RDB file), each key digested as it comes
//!    (`digest`) and handed over in batches (`sides`) to
//! 2. the target's thread (`target`), which reads the same names from
//!    the target (`keyed`) and judges each key (`diff`): both sides are
//!    read at once.
//! 3. The other direction: keys only the target has (its keys of the
//!    buckets that differ, read by name beside step 1, or `SCAN`).
//! 4. `--recheck N`: the differing keys read again on both sides, N times
//!    after a pause; only those that still differ are reported; and what
//!    differs inside a key is named (`recheck`, `detail`).
//! 5. `--repair-output`: the commands that make the target equal
//!    (`repair`).
//!
//! The account (`summary`) says what differs, key by key; an error reply
//! on either side stops the compare (after the dump's retries of transient
//! errors), never counts as a key equal or missing.

mod detail;
mod diff;
mod digest;
mod keyed;
mod recheck;
mod repair;
mod sides;
mod summary;
mod target;
mod whole;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use diff::DiffKind;
pub use summary::{CompareSummary, FAILED};

use crate::config::{Config, Handles, ServerConfig};
use crate::conn::Patience;
use crate::dump::{DumpOptions, stop_of};
use crate::error::Error;
use crate::input::Input;
use crate::report::Events;
use keyed::Keyed;
use recheck::{details, recheck};
use sides::both_sides;
use whole::Whole;

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
    handles: &Handles,
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
    let patience = Patience::new(options.target.wait, &handles.interrupt, Arc::clone(&events));
    let mut target = Keyed::open(
        &options.target,
        options.target_cluster,
        config,
        &handles.interrupt,
        Some(&patience),
        Arc::clone(&events),
    )?;
    let source_name = match &options.input {
        Some(input) => input.name(),
        None => config.server.addr(),
    };
    let mut summary = CompareSummary::new(source_name, target.addrs().join(", "));
    let mut narrowed = None;
    if config.rate.is_none() {
        match whole::compare(config, handles, options, &events)? {
            Whole::Equal(keys) => {
                summary.compared = keys;
                summary.scanned = keys;
                // Nothing to repair: the file is left empty.
                summary.repair_commands = repair_file.as_ref().map(|_| 0);
                summary.elapsed = started.elapsed();
                return Ok(summary);
            }
            Whole::Stopped(source_keys, target_keys, stop) => {
                summary.digested = Some((source_keys, target_keys));
                summary.stop = Some(stop);
                summary.elapsed = started.elapsed();
                return Ok(summary);
            }
            Whole::Different(n) => {
                events.notice(&format!(
                    "the databases' digests differ in {} of their buckets of keys: comparing those key by key",
                    n.differing.len()
                ));
                narrowed = Some(n);
                // The progress display counts the source's keys again.
                handles.meter.set_commands(0);
            }
        }
    }
    // The target's keys of the buckets that differ, read by name beside
    // the source's second pass, to find the extras among.
    let collector = narrowed
        .as_ref()
        .filter(|n| n.differing.len() <= whole::COLLECTED)
        .map(|n| whole::collect(config, handles, options, n, &events));
    let (mut found, source_keys, stop) =
        both_sides(config, handles, options, target, narrowed.as_ref(), &events)?;
    let (target_back, mut stop) = stop;
    target = target_back;
    let collected = collector.map(|c| match c.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    });
    if stop.is_none() {
        let addr = target.addr().to_string();
        let looked = match collected {
            Some(Ok((read, names))) if read.stop.is_none() => {
                target::extras_among(&mut target, options, &source_keys, names, &mut found)
            }
            _ => target::extras(
                &mut target,
                options,
                &source_keys,
                narrowed.as_ref(),
                &mut found,
            ),
        };
        if let Err(f) = looked {
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
                &handles.interrupt,
                None,
                Arc::clone(&events),
            )?);
        }
        stop = recheck(
            &mut summary,
            source.as_mut(),
            &mut target,
            options,
            config,
            &handles.interrupt,
        );
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
                handles,
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
