//! What the user sees: redis-cli's lines on stdout, every error reply tied to
//! its input line on stderr, and when a load stops early, an exact account of
//! what the server acknowledged and where to resume.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use crate::error::Error;
use crate::input::{InputError, InvalidKind, Location};

mod bounded;
mod json;

pub(crate) use bounded::Bounded;

pub(crate) use json::{not_started as not_started_json, stop as stop_json};

/// Exit statuses. 0 and 1 are redis-cli's; the others are rload's own.
pub mod exit {
    /// Every command was sent and no reply was an error.
    pub const OK: i32 = 0;
    /// Some replies were errors, or the server stopped replying (timeout).
    pub const ERRORS: i32 = 1;
    /// The command line is invalid.
    pub const USAGE: i32 = 2;
    /// An input could not be read or holds an invalid command.
    pub const INPUT: i32 = 3;
    /// Could not connect, log in or select the database.
    pub const CONNECT: i32 = 4;
    /// The connection was lost, or the server broke the protocol, mid-load.
    pub const CONNECTION_LOST: i32 = 5;
}

/// `n` and the noun, singular or plural as `n` asks: `1 command`,
/// `2 commands`.
pub(crate) fn count(n: u64, singular: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {singular}s")
    }
}

impl Error {
    /// The exit status for this error; see [`exit`].
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => exit::USAGE,
            Error::Input(_) => exit::INPUT,
            Error::Connect(_) => exit::CONNECT,
        }
    }
}

/// Receives what happens during a load, as it happens, from the pipe's
/// threads. [`Terminal`] prints it as redis-cli does. Every method does
/// nothing by default, so an embedder implements only what it wants, and a
/// new event breaks no implementer.
pub trait Events: Send + Sync {
    /// The server answered the command at `at` with an error.
    fn error_reply(&self, at: &Location, text: &[u8]) {
        let _ = (at, text);
    }
    /// All input is sent, and rload's closing ECHO with it.
    fn all_sent(&self) {}
    /// The reply to the closing ECHO arrived: every reply is in.
    fn last_reply(&self) {}
    /// An invalid command in the input was skipped (`--skip-invalid`).
    fn invalid_command(&self, at: &Location, why: &str) {
        let _ = (at, why);
    }
    /// Something the user should know, such as a reconnect.
    fn notice(&self, text: &str) {
        let _ = text;
    }
}

/// Prints events the way `redis-cli --pipe` does, with input positions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Terminal;

impl Events for Terminal {
    fn error_reply(&self, at: &Location, text: &[u8]) {
        let mut err = io::stderr().lock();
        let _ = write!(err, "{at}: ");
        let _ = err.write_all(text);
        let _ = err.write_all(b"\n");
    }

    fn all_sent(&self) {
        let _ = writeln!(
            io::stdout(),
            "All data transferred. Waiting for the last reply..."
        );
    }

    fn last_reply(&self) {
        let _ = writeln!(io::stdout(), "Last reply received from server.");
    }

    fn invalid_command(&self, at: &Location, why: &str) {
        let _ = writeln!(io::stderr(), "{at}: invalid input, skipped: {why}");
    }

    fn notice(&self, text: &str) {
        let _ = writeln!(io::stderr(), "rload: {text}");
    }
}

/// The command a load last had acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledged {
    /// Its 1-based number in the input.
    pub seq: u64,
    /// Where it is in the input.
    pub at: Location,
}

/// Why a load stopped before the end of its input.
#[derive(Debug)]
#[non_exhaustive]
pub enum Stop {
    /// An input could not be read, or a command in it is invalid.
    Input(InputError),
    /// The server sent no reply for this long while rload waited on it.
    Timeout(Duration),
    /// The connection broke.
    ConnectionLost {
        /// The server's address.
        addr: String,
        /// What happened.
        reason: String,
    },
    /// The server's replies broke the protocol or fell out of step.
    Protocol {
        /// The server's address.
        addr: String,
        /// What was wrong.
        reason: String,
    },
    /// Writing to standard output failed (a closed pipe, a full disk): the
    /// commands (`--emit`) or keys (`--dump`) written before it are all
    /// that was.
    OutputLost {
        /// Why the write failed.
        reason: String,
    },
    /// The server answered a read with an error that retrying does not
    /// cure (a dump: an ACL's `NOPERM`, an unknown command), or a
    /// transient one (`BUSY`, `LOADING`) for longer than rload waits.
    ErrorReply {
        /// The server's address.
        addr: String,
        /// The command it refused.
        command: String,
        /// Its error reply.
        reply: String,
    },
    /// `--max-errors` was reached; the input was not read further.
    MaxErrors(u64),
    /// A signal asked the load to stop; the input was not read further.
    Interrupted {
        /// The signal's number.
        signal: i32,
        /// Whether every reply to what was sent came within the drain's
        /// bound ([`crate::interrupt::DRAIN_BOUND`]).
        drained: bool,
    },
}

impl fmt::Display for Stop {
    /// The stop in a few words, as the account gives it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Input(e) => f.write_str(&crate::error::chain(e)),
            Stop::Timeout(t) => write!(f, "no replies for {}", count(t.as_secs(), "second")),
            Stop::ConnectionLost { addr, reason } => {
                write!(f, "connection to {addr} lost: {reason}")
            }
            Stop::Protocol { addr, reason } => write!(f, "{addr}: {reason}"),
            Stop::OutputLost { reason } => write!(f, "writing to standard output failed: {reason}"),
            Stop::ErrorReply {
                addr,
                command,
                reply,
            } => write!(f, "{addr} answered {command} with an error: {reply}"),
            Stop::MaxErrors(n) => write!(
                f,
                "stopped reading the input after {} (--max-errors)",
                count(*n, "error")
            ),
            Stop::Interrupted { signal, .. } => {
                write!(
                    f,
                    "interrupted by {}",
                    crate::interrupt::signal_name(*signal)
                )
            }
        }
    }
}

/// The result of a load.
#[derive(Debug)]
#[non_exhaustive]
pub struct Summary {
    /// Replies received: error replies included, rload's closing ECHO not.
    pub replies: u64,
    /// Error replies, plus one for a timeout, as redis-cli counts them, plus
    /// any invalid commands skipped with `--skip-invalid`.
    pub errors: u64,
    /// Invalid commands skipped with `--skip-invalid` (included in `errors`).
    pub invalid: u64,
    /// Commands the server acknowledged in this run. A command inside a
    /// transaction counts once its `EXEC` is answered.
    pub acknowledged: u64,
    /// The last acknowledged command.
    pub last_acknowledged: Option<Acknowledged>,
    /// Every command up to this number is done: `--resume-from` it to carry
    /// on after a failure.
    pub resume_from: u64,
    /// Whether all of the input was read and sent.
    pub all_sent: bool,
    /// Why the load stopped early, if it did.
    pub stop: Option<Stop>,
    /// In cluster mode, each master's share.
    pub nodes: Vec<NodeSummary>,
    /// Where the `MULTI` is of a transaction that rload discarded because
    /// the input ended, or the load stopped, inside it.
    pub discarded: Option<Location>,
    /// How long the load took, from opening the input to the last reply.
    pub elapsed: Duration,
    /// The commands were written to standard output (`--emit`), not sent:
    /// `acknowledged` counts those written.
    pub emitted: bool,
    /// Commands handed on to be sent (or written) in this run: 0 when the
    /// load stopped before it sent anything.
    pub sent: u64,
    /// Commands not sent because a template's spread (`{tags[]}` of an
    /// empty array, `{*}` of an empty object) gave them nothing.
    pub empty_spreads: u64,
}

/// One cluster master's part of a load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSummary {
    /// The master's address.
    pub addr: String,
    /// Replies from it, errors included.
    pub replies: u64,
    /// Error replies from it.
    pub errors: u64,
    /// Commands it redirected elsewhere (MOVED, ASK, TRYAGAIN), followed
    /// and not counted as errors.
    pub redirects: u64,
}

/// What a run ends with, whatever its mode: an exit status, an account
/// as text or as JSON, and after a stop, where to go on from. A load's
/// [`Summary`] is one; a dump's account another.
pub trait Account {
    /// The exit status; see [`exit`].
    fn exit_code(&self) -> i32;

    /// Prints the account as text: lines redis-cli prints on standard
    /// output on `out`, the rest on `err`.
    ///
    /// # Errors
    ///
    /// Only a failure to write.
    fn print(&self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()>;

    /// The account as one JSON object; `resume` is the command that
    /// carries the run on, when it stopped early.
    fn to_json(&self, resume: Option<&str>) -> serde_json::Value;

    /// With `--json`, the lines that come before the account's own object
    /// (a compare's differing keys, one object each); none by default.
    ///
    /// # Errors
    ///
    /// Only a failure to write.
    fn write_json_lines(&self, out: &mut dyn Write) -> io::Result<()> {
        let _ = out;
        Ok(())
    }

    /// After a stop, how to go on: `None` when there is nothing to go on
    /// from (it finished, or did nothing and is simply run again).
    fn resume(&self) -> Option<Resume>;
}

/// How a run that stopped early goes on: the same command line, with one
/// flag set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The flag: `--resume-from`, `--cursor`.
    pub flag: &'static str,
    /// Its value.
    pub value: String,
    /// What to say before the command: `to resume`.
    pub advice: &'static str,
}

impl Account for Summary {
    fn exit_code(&self) -> i32 {
        Summary::exit_code(self)
    }

    fn print(&self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        Summary::print(self, out, err)
    }

    fn to_json(&self, resume: Option<&str>) -> serde_json::Value {
        Summary::to_json(self, resume)
    }

    fn resume(&self) -> Option<Resume> {
        // A load that sent nothing is resumed by running it again.
        let stop = self.stop.as_ref()?;
        if self.sent == 0 && self.resume_from == 0 {
            return None;
        }
        Some(Resume {
            flag: "--resume-from",
            value: self.resume_from.to_string(),
            advice: match stop {
                Stop::Input(_) => "fix the input, then resume with",
                _ => "to resume",
            },
        })
    }
}

impl Summary {
    /// The exit status for this result; see [`exit`].
    pub fn exit_code(&self) -> i32 {
        match &self.stop {
            Some(Stop::Input(_)) => exit::INPUT,
            Some(Stop::ConnectionLost { .. } | Stop::Protocol { .. } | Stop::OutputLost { .. }) => {
                exit::CONNECTION_LOST
            }
            Some(Stop::Timeout(_) | Stop::MaxErrors(_) | Stop::ErrorReply { .. }) => exit::ERRORS,
            // As shells report a process a signal ended.
            Some(Stop::Interrupted { signal, .. }) => 128 + signal,
            None if self.errors > 0 => exit::ERRORS,
            None => exit::OK,
        }
    }

    /// Prints the closing lines: redis-cli's `errors: N, replies: M` on
    /// `out`, and, if the load stopped early, why and what was acknowledged
    /// on `err`.
    ///
    /// # Errors
    ///
    /// Only a failure to write.
    pub fn print(&self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        if let Some(Stop::Timeout(t)) = &self.stop {
            let secs = count(t.as_secs(), "second");
            writeln!(err, "No replies for {secs}: exiting.")?;
        }
        if !self.emitted {
            writeln!(out, "errors: {}, replies: {}", self.errors, self.replies)?;
        }
        for n in &self.nodes {
            writeln!(
                out,
                "{}: replies: {}, errors: {}, redirects: {}",
                n.addr, n.replies, n.errors, n.redirects
            )?;
        }
        out.flush()?;
        if self.empty_spreads > 0 {
            writeln!(
                err,
                "rload: {} not {}: a spread ({{name[]}} or {{*}}) gave {} nothing",
                count(self.empty_spreads, "command"),
                if self.emitted { "written" } else { "sent" },
                if self.empty_spreads == 1 {
                    "it"
                } else {
                    "them"
                },
            )?;
        }
        let Some(stop) = &self.stop else {
            return Ok(());
        };
        match stop {
            Stop::Input(e) => {
                writeln!(err, "rload: {stop}")?;
                match e {
                    InputError::Invalid {
                        kind: InvalidKind::OpenTransaction,
                        ..
                    } => {}
                    InputError::Invalid { .. } => writeln!(
                        err,
                        "rload: nothing of that command, or of the input after it, was sent"
                    )?,
                    _ => {}
                }
            }
            Stop::Timeout(_) => {}
            Stop::ConnectionLost { .. }
            | Stop::Protocol { .. }
            | Stop::ErrorReply { .. }
            | Stop::OutputLost { .. } => writeln!(err, "rload: {stop}")?,
            Stop::Interrupted { signal, drained } => writeln!(
                err,
                "rload: interrupted by {}: stopped reading the input; {}",
                crate::interrupt::signal_name(*signal),
                if *drained {
                    "what was already sent was drained"
                } else {
                    "the replies to some of what was sent did not come in time, and are not counted"
                }
            )?,
            Stop::MaxErrors(n) => writeln!(
                err,
                "rload: stopped reading the input after {} (--max-errors); what was already sent was drained",
                count(*n, "error")
            )?,
        }
        if let Some(at) = &self.discarded {
            writeln!(
                err,
                "rload: the transaction that starts at {at} was discarded: none of it was applied"
            )?;
        }
        let done = if self.emitted {
            "rload: wrote"
        } else {
            "rload: the server acknowledged"
        };
        match &self.last_acknowledged {
            None if self.sent == 0 => writeln!(
                err,
                "rload: nothing was {}",
                if self.emitted { "written" } else { "sent" }
            )?,
            Some(last) => writeln!(
                err,
                "{done} {}; the last was command {} at {}",
                count(self.acknowledged, "command"),
                last.seq,
                last.at
            )?,
            None => writeln!(err, "{done} no command")?,
        }
        Ok(())
    }
}
