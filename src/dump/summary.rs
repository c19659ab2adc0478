//! The account of a dump: what was written, from where, per database, what
//! was retried or read again, and, after a stop, why and where to go on
//! from. Printed as text on standard error, or as one JSON object.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Value, json};

use super::DumpFormat;
use crate::error::Error;
use crate::report::{Account, Resume, Stop, count, exit, not_started_json, stop_json};

/// The account of a dump.
#[derive(Debug)]
#[non_exhaustive]
pub struct DumpSummary {
    /// Keys written whole, each counted once: a stop's page in progress is
    /// not among them (see `partial`).
    pub keys: u64,
    /// Keys per database, for the databases dumped: `(db, keys)`.
    pub databases: Vec<(u32, u64)>,
    /// After a stop: keys of the page it stopped in that were written,
    /// which the continuation writes again.
    pub partial: u64,
    /// Commands written (JSON lines: lines).
    pub written: u64,
    /// How they were written.
    pub format: DumpFormat,
    /// Keys of a type only `--format restore` can write (a module's),
    /// skipped.
    pub skipped: u64,
    /// Keys read in windows that changed while read, and were read again.
    pub changed: u64,
    /// Keys that went away while read in windows: written as gone.
    pub vanished: u64,
    /// Reads tried again after a transient error, the time spent waiting,
    /// and the last such error.
    pub retries: u64,
    /// See `retries`.
    pub retry_wait: Duration,
    /// See `retries`.
    pub last_retry: Option<String>,
    /// In a cluster: slots whose keys were read again because the slot
    /// moved, or was moving, while its master was read.
    pub reread_slots: u64,
    /// Inline lines longer than `redis-cli --pipe` loads (64 KiB).
    pub long_lines: u64,
    /// `SCAN` calls made.
    pub scans: u64,
    /// Key names those calls returned, this dump's or not (a split's parts
    /// drop the others').
    pub scanned: u64,
    /// The masters (or the server) read from.
    pub nodes: Vec<String>,
    /// Why the dump stopped early, if it did.
    pub stop: Option<Stop>,
    /// Where to go on from, after a stop: a `--cursor` value.
    pub resume: Option<String>,
    /// How long the dump took.
    pub elapsed: Duration,
}

impl DumpSummary {
    pub(crate) fn new(format: DumpFormat) -> Self {
        DumpSummary {
            keys: 0,
            databases: Vec::new(),
            partial: 0,
            written: 0,
            format,
            skipped: 0,
            changed: 0,
            vanished: 0,
            retries: 0,
            retry_wait: Duration::ZERO,
            last_retry: None,
            reread_slots: 0,
            long_lines: 0,
            scans: 0,
            scanned: 0,
            nodes: Vec::new(),
            stop: None,
            resume: None,
            elapsed: Duration::ZERO,
        }
    }

    /// Counts `n` keys of database `db` written whole.
    pub(crate) fn add_keys(&mut self, db: u32, n: u64) {
        self.keys += n;
        match self.databases.iter_mut().find(|(d, _)| *d == db) {
            Some((_, k)) => *k += n,
            None => self.databases.push((db, n)),
        }
    }

    /// Takes back the keys of database `db` counted so far, which going on
    /// writes again; returns how many.
    pub(crate) fn take_back(&mut self, db: u32) -> u64 {
        let Some(i) = self.databases.iter().position(|(d, _)| *d == db) else {
            return 0;
        };
        let (_, n) = self.databases.remove(i);
        self.keys -= n;
        n
    }

    /// Names a node read from, once.
    pub(crate) fn reached(&mut self, addr: &str) {
        if !self.nodes.iter().any(|n| n == addr) {
            self.nodes.push(addr.to_string());
        }
    }

    /// The exit status: 0 when every key was written; 1 for an error
    /// reply or a timeout; 3 for an RDB file that cannot be read on; 5 for
    /// a lost connection or a broken output; 128 + N for signal N.
    pub fn exit_code(&self) -> i32 {
        match &self.stop {
            None => exit::OK,
            Some(Stop::Interrupted { signal, .. }) => 128 + signal,
            Some(Stop::ErrorReply { .. } | Stop::Timeout(_)) => exit::ERRORS,
            Some(Stop::Input(_)) => exit::INPUT,
            Some(_) => exit::CONNECTION_LOST,
        }
    }

    /// Prints the account: what was dumped, and, after a stop, why.
    ///
    /// # Errors
    ///
    /// Only a failure to write.
    pub fn print(&self, err: &mut dyn Write) -> io::Result<()> {
        let unit = if self.format == DumpFormat::Jsonl {
            "line"
        } else {
            "command"
        };
        let from = if self.nodes.is_empty() {
            "no server".to_string()
        } else {
            self.nodes.join(", ")
        };
        let per_db = if self.databases.len() > 1 || self.databases.iter().any(|d| d.0 != 0) {
            let dbs: Vec<String> = self
                .databases
                .iter()
                .map(|(db, n)| format!("db{db}: {n}"))
                .collect();
            format!(" ({})", dbs.join(", "))
        } else {
            String::new()
        };
        writeln!(
            err,
            "rload: dumped {}{per_db} from {from} ({}) in {:.1} s",
            count(self.keys, "key"),
            count(self.written, unit),
            self.elapsed.as_secs_f64()
        )?;
        for line in self.notes() {
            writeln!(err, "rload: {line}")?;
        }
        if let Some(stop) = &self.stop {
            writeln!(err, "rload: {stop}")?;
            if self.partial > 0 {
                writeln!(
                    err,
                    "rload: {} of the page it stopped in were written too; going on writes them again",
                    count(self.partial, "key")
                )?;
            }
        }
        Ok(())
    }

    /// What else the account says: keys skipped, read again, retried.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.skipped > 0 {
            notes.push(format!(
                "skipped {} of a module's type (use --format restore)",
                count(self.skipped, "key")
            ));
        }
        if self.changed > 0 {
            notes.push(format!(
                "{} changed while read in windows, and {} read again",
                count(self.changed, "time a key"),
                if self.changed == 1 { "was" } else { "were" }
            ));
        }
        if self.vanished > 0 {
            notes.push(format!(
                "{} went away while read (written as gone)",
                count(self.vanished, "key")
            ));
        }
        if let (true, Some(last)) = (self.retries > 0, &self.last_retry) {
            notes.push(format!(
                "retried {} after transient errors, waiting {:.1} s in all (last: {last})",
                count(self.retries, "read"),
                self.retry_wait.as_secs_f64()
            ));
        }
        if self.reread_slots > 0 {
            notes.push(format!(
                "read {} again because they moved while read (their keys may be written twice)",
                count(self.reread_slots, "slot")
            ));
        }
        if self.long_lines > 0 {
            notes.push(format!(
                "{} longer than 64 KiB (one element that big): rload --pipe loads them, redis-cli --pipe does not",
                count(self.long_lines, "inline line is")
                    .replace("lines is", "lines are")
            ));
        }
        notes
    }

    /// The account as JSON; `resume` is the command that carries the dump
    /// on, when it stopped early.
    pub fn to_json(&self, resume: Option<&str>) -> Value {
        let code = self.exit_code();
        let databases: serde_json::Map<String, Value> = self
            .databases
            .iter()
            .map(|(db, n)| (db.to_string(), json!(n)))
            .collect();
        json!({
            "mode": "dump",
            "ok": code == 0,
            "exit_status": code,
            "keys": self.keys,
            "databases": databases,
            "partial_page_keys": self.partial,
            "written": self.written,
            "format": self.format.name(),
            "skipped": self.skipped,
            "changed": self.changed,
            "vanished": self.vanished,
            "retries": self.retries,
            "retry_wait_seconds": self.retry_wait.as_secs_f64(),
            "last_retry_error": self.last_retry,
            "reread_slots": self.reread_slots,
            "long_inline_lines": self.long_lines,
            "scan_calls": self.scans,
            "scanned_keys": self.scanned,
            "nodes": self.nodes,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "stop": self.stop.as_ref().map(stop_json),
            "cursor": self.resume,
            "resume_command": resume,
        })
    }

    /// The account of a dump that failed before it wrote anything: zeros,
    /// and the failure as its stop (`signal`'s, when one came and cut a
    /// connect short).
    pub fn not_started_json(e: &Error, signal: Option<i32>) -> Value {
        let mut v = DumpSummary::new(DumpFormat::Resp).to_json(None);
        v["ok"] = json!(false);
        v["exit_status"] = json!(signal.map_or_else(|| e.exit_code(), |s| 128 + s));
        v["format"] = Value::Null;
        v["stop"] = not_started_json(e, signal);
        v
    }
}

impl Account for DumpSummary {
    fn exit_code(&self) -> i32 {
        DumpSummary::exit_code(self)
    }

    /// All on `err`: standard output carries the keys.
    fn print(&self, _out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        DumpSummary::print(self, err)
    }

    fn to_json(&self, resume: Option<&str>) -> Value {
        DumpSummary::to_json(self, resume)
    }

    fn resume(&self) -> Option<Resume> {
        Some(Resume {
            flag: "--cursor",
            value: self.resume.clone()?,
            advice: "to go on (appending to what was written)",
        })
    }
}
