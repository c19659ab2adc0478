//! The account of a load, as Python sees it: rload's [`rload::Summary`]
//! (the binary's account) with the error replies collected by [`Collect`]
//! as they came, each tied to its command's index.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use rload::api::Location;
use rload::{Events, Stop};

/// Error replies kept with their text; past this many, only counted (a
/// load of millions of failing commands must not hold them all).
pub const MAX_KEPT: usize = 10_000;

/// Collects what a load tells: error replies and invalid commands, with
/// the command's index.
#[derive(Default)]
pub struct Collect {
    errors: Mutex<Vec<(u64, String)>>,
    dropped: AtomicU64,
}

impl Collect {
    fn keep(&self, line: u64, text: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() < MAX_KEPT {
            // Line N is the N-th command (or record): index N - 1.
            errors.push((line.saturating_sub(1), text));
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The errors collected so far, taken out.
    pub fn take(&self) -> (Vec<(u64, String)>, u64) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = std::mem::take(&mut *errors);
        taken.sort_by_key(|e| e.0);
        (taken, self.dropped.swap(0, Ordering::Relaxed))
    }
}

impl Events for Collect {
    fn error_reply(&self, at: &Location, text: &[u8]) {
        self.keep(at.line, String::from_utf8_lossy(text).into_owned());
    }

    fn invalid_command(&self, at: &Location, why: &str) {
        self.keep(at.line, format!("invalid command, skipped: {why}"));
    }
}

/// One command the server (or rload) refused.
#[pyclass(module = "rload", frozen, get_all)]
#[derive(Clone)]
pub struct CommandError {
    /// The command's index among those sent, from 0 (for records: the
    /// record's).
    pub index: u64,
    /// The error reply, as text.
    pub reply: String,
}

#[pymethods]
impl CommandError {
    fn __repr__(&self) -> String {
        format!("CommandError(index={}, reply={:?})", self.index, self.reply)
    }
}

/// What a load did: the binary's account.
#[pyclass(module = "rload", frozen, get_all)]
#[derive(Clone, Default)]
pub struct Summary {
    /// Commands (records, for a records load) handed to the load.
    pub sent: u64,
    /// Replies received, error replies included.
    pub replies: u64,
    /// Error replies, plus one for a timeout, as redis-cli counts them,
    /// plus invalid commands skipped.
    pub error_count: u64,
    /// The first error replies (up to 10,000), each with its command's
    /// index.
    pub errors: Vec<CommandError>,
    /// Error replies past those kept.
    pub errors_not_kept: u64,
    /// Commands the server acknowledged.
    pub acknowledged: u64,
    /// Every command up to this number is done: pass `resume_from=` it to
    /// carry on after a stop.
    pub resume_from: u64,
    /// Whether everything given was sent.
    pub all_sent: bool,
    /// Why the load stopped early: `None`, or one of `"input"`,
    /// `"timeout"`, `"connection_lost"`, `"protocol"`, `"error_reply"`,
    /// `"max_errors"`, `"interrupted"`, `"other"`.
    pub stop: Option<String>,
    /// The stop, in the binary's words.
    pub stop_message: Option<String>,
    /// Seconds the load took.
    pub elapsed: f64,
    /// Commands a template's empty spread left with nothing to send.
    pub empty_spreads: u64,
    /// In a cluster: each master's address, replies, errors, redirects.
    pub nodes: Vec<(String, u64, u64, u64)>,
}

fn stop_kind(stop: &Stop) -> &'static str {
    match stop {
        Stop::Input(_) => "input",
        Stop::Timeout(_) => "timeout",
        Stop::ConnectionLost { .. } => "connection_lost",
        Stop::Protocol { .. } => "protocol",
        Stop::ErrorReply { .. } => "error_reply",
        Stop::MaxErrors(_) => "max_errors",
        Stop::Interrupted { .. } => "interrupted",
        Stop::OutputLost { .. } => "output_lost",
        _ => "other",
    }
}

impl Summary {
    /// The account of a finished load, with the errors `collect` has.
    pub fn finished(s: &rload::Summary, collect: &Collect) -> Self {
        let (errors, dropped) = collect.take();
        Summary {
            sent: s.sent,
            replies: s.replies,
            error_count: s.errors,
            errors: errors
                .into_iter()
                .map(|(index, reply)| CommandError { index, reply })
                .collect(),
            errors_not_kept: dropped,
            acknowledged: s.acknowledged,
            resume_from: s.resume_from,
            all_sent: s.all_sent,
            stop: s.stop.as_ref().map(|k| stop_kind(k).to_string()),
            stop_message: s.stop.as_ref().map(|k| k.to_string()),
            elapsed: s.elapsed.as_secs_f64(),
            empty_spreads: s.empty_spreads,
            nodes: s
                .nodes
                .iter()
                .map(|n| (n.addr.clone(), n.replies, n.errors, n.redirects))
                .collect(),
        }
    }

    /// Adds a later part of the same load, whose indices start at
    /// `offset`.
    pub fn add(&mut self, later: Summary, offset: u64) {
        self.sent += later.sent;
        self.replies += later.replies;
        self.error_count += later.error_count;
        self.errors
            .extend(later.errors.into_iter().map(|e| CommandError {
                index: e.index + offset,
                reply: e.reply,
            }));
        self.errors_not_kept += later.errors_not_kept;
        self.acknowledged += later.acknowledged;
        self.resume_from = offset + later.resume_from;
        self.all_sent = later.all_sent;
        self.stop = later.stop;
        self.stop_message = later.stop_message;
        self.elapsed += later.elapsed;
        self.empty_spreads += later.empty_spreads;
        self.nodes.extend(later.nodes);
    }
}

#[pymethods]
impl Summary {
    /// No error reply, and the load was not stopped.
    #[getter]
    fn ok(&self) -> bool {
        self.stop.is_none() && self.error_count == 0
    }

    /// Raises `rload.LoadError` (with this summary as its `summary`) unless
    /// the load is `ok`.
    fn check(slf: &Bound<'_, Self>) -> PyResult<()> {
        let s = slf.get();
        if s.ok() {
            return Ok(());
        }
        let mut text = match &s.stop_message {
            Some(m) => format!("the load stopped: {m}"),
            None => format!("{} error replies", s.error_count),
        };
        if let Some(first) = s.errors.first() {
            text.push_str(&format!(
                "; first: command {}: {}",
                first.index, first.reply
            ));
        }
        let err = crate::errors::LoadError::new_err(text);
        err.value(slf.py()).setattr("summary", slf)?;
        Err(err)
    }

    /// The account as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("ok", self.ok())?;
        d.set_item("sent", self.sent)?;
        d.set_item("replies", self.replies)?;
        d.set_item("error_count", self.error_count)?;
        let errors: Vec<(u64, String)> = self
            .errors
            .iter()
            .map(|e| (e.index, e.reply.clone()))
            .collect();
        d.set_item("errors", errors)?;
        d.set_item("acknowledged", self.acknowledged)?;
        d.set_item("resume_from", self.resume_from)?;
        d.set_item("all_sent", self.all_sent)?;
        d.set_item("stop", self.stop.clone())?;
        d.set_item("stop_message", self.stop_message.clone())?;
        d.set_item("elapsed", self.elapsed)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let stop = match &self.stop {
            Some(s) => format!(", stop={s:?}"),
            None => String::new(),
        };
        format!(
            "Summary(ok={}, sent={}, acknowledged={}, replies={}, error_count={}{stop})",
            if self.ok() { "True" } else { "False" },
            self.sent,
            self.acknowledged,
            self.replies,
            self.error_count
        )
    }
}
