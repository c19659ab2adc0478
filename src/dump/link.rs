//! One connection a dump reads through. Every reply is checked: an error
//! reply is never data. A read cut short by a signal is the signal, not a
//! lost connection. Transient errors (`BUSY`, `LOADING`, `MASTERDOWN`,
//! `TRYAGAIN`, `CLUSTERDOWN`) are retried with a bounded backoff by
//! [`Retry`]; the rest stop the dump.

use std::io;
use std::time::{Duration, Instant};

use crate::cluster::RedirectKind;
use crate::conn::Connection;
use crate::interrupt::Interrupt;
use crate::resp::Value;

/// Why a read did not give its data.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The connection failed: lost, timed out, or out of step.
    Io(io::Error),
    /// A signal asked the dump to stop.
    Interrupted(i32),
    /// The server answered with an error.
    Reply(ReplyError),
    /// Writing the output failed.
    Output(io::Error),
}

/// A failed write, of the output: the only `io::Error` that converts.
impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Fault::Output(e)
    }
}

impl From<ReplyError> for Fault {
    fn from(e: ReplyError) -> Self {
        Fault::Reply(e)
    }
}

/// An error reply, and the command it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReplyError {
    /// The command, as the server names it (`LRANGE`, `EVALSHA`).
    pub command: String,
    /// The error's text.
    pub text: String,
}

/// What an error reply asks of a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Try again after a pause: the server is busy, loading, or cut from
    /// its master, or the cluster is between states.
    Transient,
    /// The key's slot is elsewhere (`MOVED`, `ASK`): read it there.
    Redirect(u16),
    /// Anything else: the dump cannot go on.
    Fatal,
}

/// The error prefixes that a pause cures.
const TRANSIENT: [&str; 5] = ["BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"];

impl ReplyError {
    pub(crate) fn new(command: &[u8], text: &str) -> Self {
        ReplyError {
            command: String::from_utf8_lossy(command).to_ascii_uppercase(),
            text: text.to_string(),
        }
    }

    /// The error's first word: `BUSY`, `NOPERM`, `ERR`; for a transaction
    /// discarded because of an error, that error's.
    pub(crate) fn code(&self) -> &str {
        let text = match self.text.strip_prefix("EXECABORT ") {
            Some(rest) => rest.split_once("because of: ").map_or(rest, |(_, why)| why),
            None => &self.text,
        };
        text.split(' ').next().unwrap_or_default()
    }

    pub(crate) fn class(&self) -> Class {
        if TRANSIENT.contains(&self.code()) {
            return Class::Transient;
        }
        match RedirectKind::parse(self.text.as_bytes()) {
            Some(RedirectKind::Moved { slot, .. } | RedirectKind::Ask { slot, .. }) => {
                Class::Redirect(slot)
            }
            Some(RedirectKind::Retry(_)) => Class::Transient,
            _ => Class::Fatal,
        }
    }
}

/// The reply to `command`, or its error as a [`ReplyError`].
pub(crate) fn checked(command: &[u8], reply: Value) -> Result<Value, ReplyError> {
    match reply {
        Value::Error(e) => Err(ReplyError::new(command, &e)),
        v => Ok(v),
    }
}

/// A connection to one server, for reading. Commands sent are held until
/// a reply is read, then go in one write: a pipeline reaches the server
/// whole, so it runs its commands one after another, with no other
/// client's in between as a rule (and in fewer packets).
pub(crate) struct Link {
    conn: Connection,
    interrupt: Interrupt,
    pending: Vec<u8>,
}

impl Link {
    pub(crate) fn new(conn: Connection, interrupt: Interrupt) -> Self {
        Link {
            conn,
            interrupt,
            pending: Vec::new(),
        }
    }

    pub(crate) fn addr(&self) -> &str {
        self.conn.addr()
    }

    /// Sends one command; its reply is read, in order, with
    /// [`Link::reply`].
    pub(crate) fn send(&mut self, args: &[&[u8]]) -> Result<(), Fault> {
        crate::resp::encode_command(&mut self.pending, args);
        Ok(())
    }

    /// The next reply as it came, an error reply included.
    pub(crate) fn reply(&mut self) -> Result<Value, Fault> {
        if !self.pending.is_empty() {
            let sent = self.conn.send_raw(&self.pending);
            self.pending.clear();
            sent.map_err(|e| self.fault(e))?;
        }
        loop {
            match self.conn.read_reply() {
                Ok(v) => return Ok(v),
                // The bytes read so far stay buffered: reading again goes
                // on where the signal cut in.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if let Some(signal) = self.interrupt.requested() {
                        return Err(Fault::Interrupted(signal));
                    }
                }
                Err(e) => return Err(self.fault(e)),
            }
        }
    }

    /// The next reply, which answers `command`; an error reply is a fault.
    pub(crate) fn checked(&mut self, command: &[u8]) -> Result<Value, Fault> {
        Ok(checked(command, self.reply()?)?)
    }

    /// Sends one command and reads its reply, checked.
    pub(crate) fn request(&mut self, args: &[&[u8]]) -> Result<Value, Fault> {
        self.send(args)?;
        self.checked(args[0])
    }

    /// Sends one command and reads its reply, trying again (after a pause)
    /// while the error is a transient one; any other error reply is given
    /// as it came, for the caller to judge.
    pub(crate) fn patient(&mut self, args: &[&[u8]], retry: &mut Retry) -> Result<Value, Fault> {
        loop {
            self.send(args)?;
            match self.reply()? {
                Value::Error(e) if ReplyError::new(args[0], &e).class() == Class::Transient => {
                    retry.pause(ReplyError::new(args[0], &e), &self.interrupt)?;
                }
                reply => {
                    retry.reset();
                    return Ok(reply);
                }
            }
        }
    }

    /// [`Link::patient`], with any other error reply a fault.
    pub(crate) fn patient_checked(
        &mut self,
        args: &[&[u8]],
        retry: &mut Retry,
    ) -> Result<Value, Fault> {
        Ok(checked(args[0], self.patient(args, retry)?)?)
    }

    /// The next `n` replies as they came, so that a pipeline is read whole
    /// before any of its errors is looked at.
    pub(crate) fn replies(&mut self, n: usize) -> Result<Vec<Value>, Fault> {
        (0..n).map(|_| self.reply()).collect()
    }

    fn fault(&self, e: io::Error) -> Fault {
        match self.interrupt.requested() {
            Some(signal) if e.kind() == io::ErrorKind::Interrupted => Fault::Interrupted(signal),
            _ => Fault::Io(e),
        }
    }
}

/// The pauses between tries after transient errors: from 10 ms, doubling
/// to 1 s, for at most `bound` while the errors go on.
#[derive(Debug)]
pub(crate) struct Retry {
    bound: Option<Duration>,
    /// When the errors now going on began.
    since: Option<Instant>,
    delay: Duration,
    /// Reads tried again, over the whole dump.
    pub count: u64,
    /// Time spent waiting to try again.
    pub waited: Duration,
    /// The last transient error.
    pub last: Option<String>,
}

const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// How often a pause looks at the interrupt.
const SLICE: Duration = Duration::from_millis(50);

impl Retry {
    /// Retries go on for at most `bound` (`None`: for ever).
    pub(crate) fn new(bound: Option<Duration>) -> Self {
        Retry {
            bound,
            since: None,
            delay: FIRST_PAUSE,
            count: 0,
            waited: Duration::ZERO,
            last: None,
        }
    }

    /// After the transient error `e`: pauses, or gives `e` back once such
    /// errors have gone on for the bound. A signal cuts the pause short.
    pub(crate) fn pause(&mut self, e: ReplyError, interrupt: &Interrupt) -> Result<(), Fault> {
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.bound.is_some_and(|b| since.elapsed() >= b) {
            return Err(Fault::Reply(e));
        }
        self.count += 1;
        self.last = Some(e.text);
        let until = Instant::now() + self.delay;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if let Some(signal) = interrupt.requested() {
                return Err(Fault::Interrupted(signal));
            }
            std::thread::sleep(left.min(SLICE));
        }
        self.waited += self.delay;
        self.delay = (self.delay * 2).min(LONGEST_PAUSE);
        Ok(())
    }

    /// A read went through: the next error starts a new episode.
    pub(crate) fn reset(&mut self) {
        self.since = None;
        self.delay = FIRST_PAUSE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Class {
        ReplyError::new(b"get", text).class()
    }

    #[test]
    fn busy_loading_masterdown_and_cluster_states_are_transient() {
        for text in [
            "EXECABORT Transaction discarded because of: BUSY Redis is busy running a script.",
            "BUSY Redis is busy running a script",
            "LOADING Redis is loading the dataset in memory",
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
        ] {
            assert_eq!(class(text), Class::Transient, "{text}");
        }
    }

    #[test]
    fn redirects_name_their_slot_and_the_rest_are_fatal() {
        assert_eq!(class("MOVED 3999 127.0.0.1:7001"), Class::Redirect(3999));
        assert_eq!(class("ASK 12 127.0.0.1:7002"), Class::Redirect(12));
        for text in [
            "NOPERM this user has no permissions to run the 'lrange' command",
            "OOM command not allowed when used memory > 'maxmemory'.",
            "WRONGTYPE Operation against a key holding the wrong kind of value",
            "ERR unknown command",
        ] {
            assert_eq!(class(text), Class::Fatal, "{text}");
        }
    }

    #[test]
    fn a_retry_gives_the_error_back_once_the_bound_has_passed() {
        let interrupt = Interrupt::new();
        let e = ReplyError::new(b"scan", "BUSY busy");
        let mut retry = Retry::new(Some(Duration::from_millis(30)));
        let mut tries = 0;
        let given_back = loop {
            match retry.pause(e.clone(), &interrupt) {
                Ok(()) => tries += 1,
                Err(Fault::Reply(back)) => break back,
                Err(other) => panic!("{other:?}"),
            }
        };
        assert_eq!(given_back, e);
        assert!(tries >= 2, "{tries}");
        assert_eq!(retry.count, tries);
        assert_eq!(retry.last.as_deref(), Some("BUSY busy"));
    }

    #[test]
    fn a_signal_cuts_a_pause_short() {
        let interrupt = Interrupt::new();
        interrupt.request(15);
        let mut retry = Retry::new(None);
        let e = ReplyError::new(b"scan", "LOADING");
        assert!(matches!(
            retry.pause(e, &interrupt),
            Err(Fault::Interrupted(15))
        ));
    }
}
