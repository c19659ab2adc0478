//! `--json`: the account as one JSON object, for scripts and CI jobs. The
//! field names are part of rload's interface, documented in the README;
//! fields may be added, never renamed or removed.

use serde_json::{Value, json};

use super::{Acknowledged, Stop, Summary};
use crate::error::{Error, chain};
use crate::input::{InputError, Location};

impl Summary {
    /// The account as JSON; `resume` is the command that carries the load
    /// on, when it stopped early.
    pub fn to_json(&self, resume: Option<&str>) -> Value {
        let code = self.exit_code();
        json!({
            "mode": if self.emitted { "emit" } else { "pipe" },
            "ok": code == 0,
            "exit_status": code,
            "errors": self.errors,
            "replies": self.replies,
            "invalid": self.invalid,
            "acknowledged": self.acknowledged,
            "sent": self.sent,
            "empty_spreads": self.empty_spreads,
            "last_acknowledged": self.last_acknowledged.as_ref().map(acknowledged),
            "resume_from": self.resume_from,
            "all_sent": self.all_sent,
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "discarded_transaction": self.discarded.as_ref().map(location),
            "nodes": self.nodes.iter().map(|n| json!({
                "addr": n.addr,
                "replies": n.replies,
                "errors": n.errors,
                "redirects": n.redirects,
            })).collect::<Vec<_>>(),
            "stop": self.stop.as_ref().map(stop),
            "resume_command": resume,
        })
    }

    /// The account of a load that failed before it sent anything: zeros,
    /// and the failure as its stop (`signal`'s, when one came and cut a
    /// connect short). `resume_from` is where it was to start.
    pub fn not_started_json(e: &Error, signal: Option<i32>, resume_from: u64, emit: bool) -> Value {
        let code = signal.map_or_else(|| e.exit_code(), |s| 128 + s);
        json!({
            "mode": if emit { "emit" } else { "pipe" },
            "ok": false,
            "exit_status": code,
            "errors": 0,
            "replies": 0,
            "invalid": 0,
            "acknowledged": 0,
            "sent": 0,
            "empty_spreads": 0,
            "last_acknowledged": null,
            "resume_from": resume_from,
            "all_sent": false,
            "elapsed_seconds": 0.0,
            "discarded_transaction": null,
            "nodes": [],
            "stop": not_started(e, signal),
            "resume_command": null,
        })
    }
}

/// What stopped a load before it started: the error, or the signal that
/// cut it short.
pub(crate) fn not_started(e: &Error, signal: Option<i32>) -> Value {
    if let Some(signal) = signal {
        return stop(&Stop::Interrupted {
            signal,
            drained: true,
        });
    }
    match e {
        Error::Config(m) => json!({ "kind": "config", "message": m }),
        Error::Input(e) => with_location("input", &chain(e), e),
        Error::Connect(e) => json!({ "kind": "connect", "message": chain(e) }),
    }
}

fn with_location(kind: &str, message: &str, e: &InputError) -> Value {
    let mut v = json!({ "kind": kind, "message": message });
    if let Some(at) = input_location(e) {
        v["at"] = at;
    }
    v
}

/// Where a command is: its input and line. (The commands in flight do not
/// keep their byte offsets; an invalid one's is in [`input_location`].)
fn location(at: &Location) -> Value {
    json!({ "input": at.name, "line": at.line })
}

fn acknowledged(a: &Acknowledged) -> Value {
    let mut v = location(&a.at);
    v["command"] = json!(a.seq);
    v
}

fn input_location(e: &InputError) -> Option<Value> {
    match e {
        InputError::Invalid { at, .. } | InputError::Header { at, .. } => {
            let mut v = location(at);
            v["offset"] = json!(at.offset);
            Some(v)
        }
        _ => None,
    }
}

/// A stop: its kind, a message as the text account words it, and the
/// facts of its kind.
pub(crate) fn stop(stop: &Stop) -> Value {
    let message = stop.to_string();
    match stop {
        Stop::Input(e) => with_location("input", &message, e),
        Stop::Timeout(t) => json!({
            "kind": "timeout",
            "message": message,
            "seconds": t.as_secs_f64(),
        }),
        Stop::ConnectionLost { addr, reason } => json!({
            "kind": "connection_lost",
            "message": message,
            "addr": addr,
            "reason": reason,
        }),
        Stop::OutputLost { reason } => json!({
            "kind": "output_lost",
            "message": message,
            "reason": reason,
        }),
        Stop::Protocol { addr, reason } => json!({
            "kind": "protocol",
            "message": message,
            "addr": addr,
            "reason": reason,
        }),
        Stop::ErrorReply {
            addr,
            command,
            reply,
        } => json!({
            "kind": "error_reply",
            "message": message,
            "addr": addr,
            "command": command,
            "reply": reply,
        }),
        Stop::MaxErrors(n) => json!({
            "kind": "max_errors",
            "message": message,
            "max_errors": n,
        }),
        Stop::Interrupted { signal, drained } => json!({
            "kind": "interrupted",
            "message": message,
            "signal": crate::interrupt::signal_name(*signal),
            "signal_number": signal,
            "drained": drained,
        }),
    }
}
