//! The account of a compare: keys compared, the differences by kind and
//! the keys that differ, rechecks, the repair written, and after a stop,
//! why. Printed as text on standard error, or as JSON lines (each
//! difference, then the account) on standard output.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Value, json};

use super::diff::{DiffKind, Difference};
use crate::error::Error;
use crate::report::{Account, Resume, Stop, count, exit, not_started_json, stop_json};

/// The exit status of a compare stopped by an error reply the dump's
/// retries do not cure, or by a server that stopped replying: 1 means
/// "different" for a compare, as for `cmp`, so a failure is above it.
pub const FAILED: i32 = 6;

/// Differing keys the text account lists; `--json` lists every one.
const SHOWN: usize = 10;

/// The account of a compare.
#[derive(Debug)]
#[non_exhaustive]
pub struct CompareSummary {
    /// The source: a server, its masters, or an RDB file.
    pub source: String,
    /// The target: a server, or its masters.
    pub target: String,
    /// Keys of the source compared with the target.
    pub compared: u64,
    /// Keys of the target read to find those the source has not.
    pub scanned: u64,
    /// Keys of the source and of the target read into whole-database
    /// digests, when the compare stopped during that first pass.
    pub digested: Option<(u64, u64)>,
    /// Rounds of `--recheck` run, and the keys they found equal after all.
    pub rechecks: u32,
    /// See `rechecks`.
    pub settled: u64,
    /// Commands written to `--repair-output`.
    pub repair_commands: Option<u64>,
    /// Reads tried again after transient errors, on either side.
    pub retries: u64,
    /// Why the compare stopped before the end, if it did: what it says of
    /// the keys is then of those compared so far.
    pub stop: Option<Stop>,
    /// How long it took.
    pub elapsed: Duration,
    pub(crate) diffs: Vec<Difference>,
}

impl CompareSummary {
    pub(crate) fn new(source: String, target: String) -> Self {
        CompareSummary {
            source,
            target,
            compared: 0,
            scanned: 0,
            digested: None,
            rechecks: 0,
            settled: 0,
            repair_commands: None,
            retries: 0,
            stop: None,
            elapsed: Duration::ZERO,
            diffs: Vec::new(),
        }
    }

    /// Keys that differ, of `kind`.
    pub fn differing(&self, kind: DiffKind) -> u64 {
        self.diffs.iter().filter(|d| d.kind == kind).count() as u64
    }

    /// Keys that differ, of any kind.
    pub fn different(&self) -> u64 {
        self.diffs.len() as u64
    }

    /// The exit status, as `cmp`'s: 0 equal, 1 different; above 1 a
    /// failure (a lost connection 5, an error reply or a timeout
    /// [`FAILED`], an RDB file that cannot be read 3, 128 + N for signal
    /// N), whatever was found before it.
    pub fn exit_code(&self) -> i32 {
        match &self.stop {
            None if self.diffs.is_empty() => exit::OK,
            None => exit::ERRORS,
            Some(Stop::Interrupted { signal, .. }) => 128 + signal,
            Some(Stop::ErrorReply { .. } | Stop::Timeout(_) | Stop::MaxErrors(_)) => FAILED,
            Some(Stop::Input(_)) => exit::INPUT,
            Some(_) => exit::CONNECTION_LOST,
        }
    }

    /// Prints the account, and the first differing keys.
    ///
    /// # Errors
    ///
    /// Only a failure to write.
    pub fn print(&self, err: &mut dyn Write) -> io::Result<()> {
        let so_far = if self.stop.is_some() { " so far" } else { "" };
        writeln!(
            err,
            "rload: compared {} of {} with {}{so_far} in {:.1} s: {}",
            count(self.compared, "key"),
            self.source,
            self.target,
            self.elapsed.as_secs_f64(),
            self.verdict()
        )?;
        for d in self.diffs.iter().take(SHOWN) {
            writeln!(err, "rload: {}", d.to_text())?;
        }
        if self.diffs.len() > SHOWN {
            writeln!(
                err,
                "rload: ... and {} more (--json lists every one)",
                self.diffs.len() - SHOWN
            )?;
        }
        if self.rechecks > 0 {
            writeln!(
                err,
                "rload: {} found equal after all by {}",
                count(self.settled, "key"),
                count(u64::from(self.rechecks), "recheck")
            )?;
        }
        if self.retries > 0 {
            writeln!(
                err,
                "rload: retried {} after transient errors",
                count(self.retries, "read")
            )?;
        }
        if let Some(n) = self.repair_commands {
            writeln!(
                err,
                "rload: wrote {} to repair the target",
                count(n, "command")
            )?;
        }
        if let Some((source, target)) = self.digested {
            writeln!(
                err,
                "rload: it had read {} of the source and {} of the target into whole-database digests",
                count(source, "key"),
                count(target, "key")
            )?;
        }
        if let Some(stop) = &self.stop {
            writeln!(err, "rload: {stop}")?;
            writeln!(
                err,
                "rload: the compare stopped before the end: keys not compared yet may differ too"
            )?;
        }
        Ok(())
    }

    /// `equal`, or the count of differing keys by kind.
    fn verdict(&self) -> String {
        if self.diffs.is_empty() {
            return if self.stop.is_some() {
                "no difference found".into()
            } else {
                "equal".into()
            };
        }
        let kinds: Vec<String> = DiffKind::ALL
            .iter()
            .filter_map(|&k| {
                let n = self.differing(k);
                (n > 0).then(|| format!("{n} {}", k.words()))
            })
            .collect();
        format!(
            "{} differ ({})",
            count(self.different(), "key"),
            kinds.join(", ")
        )
        .replace("1 key differ ", "1 key differs ")
    }

    /// Every differing key as a JSON object, one per line.
    ///
    /// # Errors
    ///
    /// Only a failure to write.
    pub fn write_json_lines(&self, out: &mut dyn Write) -> io::Result<()> {
        for d in &self.diffs {
            writeln!(out, "{}", d.to_json())?;
        }
        Ok(())
    }

    /// The account as one JSON object.
    pub fn to_json(&self) -> Value {
        let code = self.exit_code();
        let by_kind: serde_json::Map<String, Value> = DiffKind::ALL
            .iter()
            .map(|&k| (k.name().to_string(), json!(self.differing(k))))
            .collect();
        json!({
            "mode": "compare",
            "ok": self.stop.is_none(),
            "equal": self.stop.is_none() && self.diffs.is_empty(),
            "exit_status": code,
            "source": self.source,
            "target": self.target,
            "compared": self.compared,
            "scanned": self.scanned,
            "digested": self.digested.map(|(s, t)| json!({"source": s, "target": t})),
            "different": self.different(),
            "differences": by_kind,
            "rechecks": self.rechecks,
            "settled_by_recheck": self.settled,
            "repair_commands": self.repair_commands,
            "retries": self.retries,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "stop": self.stop.as_ref().map(stop_json),
        })
    }

    /// The account of a compare that failed before it compared anything.
    pub fn not_started_json(e: &Error, signal: Option<i32>) -> Value {
        let mut v = CompareSummary::new(String::new(), String::new()).to_json();
        v["ok"] = json!(false);
        v["equal"] = json!(false);
        v["exit_status"] = json!(signal.map_or_else(|| e.exit_code(), |s| 128 + s));
        v["stop"] = not_started_json(e, signal);
        v
    }
}

impl Account for CompareSummary {
    fn exit_code(&self) -> i32 {
        CompareSummary::exit_code(self)
    }

    /// All on `err`: with `--json`, standard output carries the
    /// differences.
    fn print(&self, _out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        CompareSummary::print(self, err)
    }

    /// A compare is not gone on with: it is run again.
    fn to_json(&self, _resume: Option<&str>) -> Value {
        CompareSummary::to_json(self)
    }

    fn write_json_lines(&self, out: &mut dyn Write) -> io::Result<()> {
        CompareSummary::write_json_lines(self, out)
    }

    fn resume(&self) -> Option<Resume> {
        None
    }
}
