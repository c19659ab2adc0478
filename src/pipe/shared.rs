//! State one pipe's threads share: counters, the time of the last reply, why
//! the pipe stopped, and the handle that closes its connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::chunk::SentCommand;
use crate::command::CmdMeta;
use crate::config::Handles;
use crate::conn::Closer;
use crate::input::Location;
use crate::interrupt::{DRAIN_BOUND, Interrupt};
use crate::meter::Meter;
use crate::report::Events;

/// How often a blocked thread looks up to check for a stop or a timeout.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Why a pipe stopped before its last reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PipeStop {
    /// No reply came for this long while rload waited on the server.
    Timeout(Duration),
    /// The load was asked to stop, and the replies to what was sent did
    /// not all come within the drain's bound.
    Interrupted,
    /// The connection broke.
    Lost(String),
    /// The server's replies broke the protocol or fell out of step.
    Protocol(String),
}

/// Whoever can send a pipe's commands elsewhere (a cluster's router): an
/// error reply may ask for a command to go elsewhere, and a connection lost
/// for good may leave its commands to be taken back.
pub(crate) trait HandBack: Send + Sync {
    /// Whether this error reply asks for its command to be sent elsewhere.
    fn wants_resend(&self, reply: &[u8]) -> bool;
    /// Pipe `from`'s commands `cmds`, answered with `reply`, to send
    /// elsewhere; for a transaction, the whole of it.
    fn resend(&self, from: usize, reply: &[u8], cmds: Vec<SentCommand>);
    /// Pipe `from`'s connection is gone, for `reason`: true if its
    /// unacknowledged commands will be taken back ([`super::Pipe::take_back`])
    /// rather than the pipe reconnecting or stopping.
    fn lost(&self, from: usize, reason: &str) -> bool;
}

/// A pipe's link to whoever takes its commands back.
pub(crate) struct Link {
    /// The pipe's index there.
    pub index: usize,
    pub to: Arc<dyn HandBack>,
}

pub(crate) struct Shared {
    pub addr: String,
    pub names: Arc<[String]>,
    pub events: Arc<dyn Events>,
    /// The 20 random bytes of the closing ECHO.
    pub sentinel: [u8; 20],
    pub replies: AtomicU64,
    pub errors: AtomicU64,
    /// Commands answered or redirected, rload's own included: with the
    /// count of commands pushed, it tells the router what is still in flight.
    pub resolved: AtomicU64,
    /// Commands handed back to be sent elsewhere (cluster redirects).
    pub handed_back: AtomicU64,
    /// Where commands whose replies ask for a resend go; none on one node.
    pub link: Option<Link>,
    epoch: Instant,
    last_reply_ms: AtomicU64,
    stop: Mutex<Option<PipeStop>>,
    closer: Mutex<Option<Closer>>,
    /// While set, the writer is reconnecting: silence is not a timeout.
    reconnecting: AtomicBool,
    /// A request to stop the load.
    pub interrupt: Interrupt,
    /// The load's running counts, which the pipe's replies add to.
    meter: Meter,
    /// Replies and errors of rload's own open transaction, counted here
    /// but not yet on the meter: a program that waits on the meter for
    /// its commands' replies (`Loader::flush`) must also wait for the
    /// `EXEC` that settles them, and for its errors' events.
    held: Mutex<(u64, u64)>,
    /// The server holds a `WATCH` of the input's, as the reader last saw
    /// the replies (see `Window::watching`).
    pub watching: AtomicBool,
    /// In a cluster that follows failovers: the connection is gone, and the
    /// router will take back what the pipe holds. Until it does, pushes
    /// still succeed (the pool may grow), so none is lost in between.
    orphaned: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        addr: &str,
        names: Arc<[String]>,
        events: Arc<dyn Events>,
        handles: &Handles,
    ) -> Self {
        Shared {
            addr: addr.to_string(),
            names,
            events,
            sentinel: rand::random(),
            replies: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            resolved: AtomicU64::new(0),
            handed_back: AtomicU64::new(0),
            link: None,
            epoch: Instant::now(),
            last_reply_ms: AtomicU64::new(0),
            stop: Mutex::new(None),
            closer: Mutex::new(None),
            reconnecting: AtomicBool::new(false),
            interrupt: handles.interrupt.clone(),
            meter: handles.meter.clone(),
            held: Mutex::new((0, 0)),
            orphaned: AtomicBool::new(false),
            watching: AtomicBool::new(false),
        }
    }

    /// Links the pipe, as number `index`, to whoever sends its commands
    /// elsewhere.
    pub(crate) fn linked(mut self, index: usize, to: Arc<dyn HandBack>) -> Self {
        self.link = Some(Link { index, to });
        self
    }

    pub(crate) fn note_reply(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_reply_ms.store(ms, Ordering::Relaxed);
    }

    fn last_reply(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_reply_ms.load(Ordering::Relaxed))
    }

    /// Whether the server has been silent for `timeout` since `waiting_since`
    /// (or since its last reply, if later), or the load was asked to stop
    /// longer ago than the drain's bound. If so, stops the pipe; returns
    /// whether the pipe is stopped for any reason.
    pub(crate) fn check_stall(&self, waiting_since: Instant, timeout: Option<Duration>) -> bool {
        let drain = timeout.map_or(DRAIN_BOUND, |t| t.min(DRAIN_BOUND));
        if self.interrupt.overdue(drain) {
            self.stop(PipeStop::Interrupted);
        }
        if let Some(t) = timeout
            && !self.reconnecting.load(Ordering::Relaxed)
            && waiting_since.max(self.last_reply()).elapsed() >= t
        {
            self.stop(PipeStop::Timeout(t));
        }
        self.stopped()
    }

    /// Stops the pipe for `why` (the first reason given wins) and closes the
    /// connection, which wakes the reader and the writer.
    pub(crate) fn stop(&self, why: PipeStop) {
        let mut stop = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
        if stop.is_none() {
            *stop = Some(why);
        }
        drop(stop);
        self.close_connection();
    }

    /// Marks a reconnect as under way, or over; either way the clock for the
    /// pipe timeout starts again.
    pub(crate) fn set_reconnecting(&self, on: bool) {
        self.reconnecting.store(on, Ordering::Relaxed);
        self.note_reply();
    }

    /// Marks the pipe's connection as gone for good, its commands to be
    /// taken back by the router.
    pub(crate) fn orphan(&self) {
        self.orphaned.store(true, Ordering::Release);
    }

    pub(crate) fn orphaned(&self) -> bool {
        self.orphaned.load(Ordering::Acquire)
    }

    pub(crate) fn stopped(&self) -> bool {
        self.stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    pub(crate) fn take_stop(&self) -> Option<PipeStop> {
        self.stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_closer(&self, closer: Closer) {
        *self.closer.lock().unwrap_or_else(PoisonError::into_inner) = Some(closer);
    }

    pub(crate) fn close_connection(&self) {
        if let Some(c) = self
            .closer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            c.close();
        }
    }

    /// The input location of a command, for messages.
    pub(crate) fn location(&self, meta: &CmdMeta) -> Location {
        Location::new(&self.names, meta.position())
    }

    pub(crate) fn add_counts(&self, replies: u64, errors: u64) {
        self.replies.fetch_add(replies, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
        self.meter.add_replies(replies, errors);
    }

    /// Counts replies inside rload's own open transaction: on the meter
    /// only once [`Shared::release_held`] says its `EXEC` settled them.
    pub(crate) fn add_held_counts(&self, replies: u64, errors: u64) {
        self.replies.fetch_add(replies, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
        let mut held = self.held.lock().expect("not poisoned");
        held.0 += replies;
        held.1 += errors;
    }

    /// rload's own transaction is settled: what it held goes on the meter.
    pub(crate) fn release_held(&self) {
        let (replies, errors) = std::mem::take(&mut *self.held.lock().expect("not poisoned"));
        self.meter.add_replies(replies, errors);
    }

    /// Un-counts replies a replay sends again: the latest first, so what
    /// an open transaction held comes off that, and the rest off the meter.
    pub(crate) fn sub_counts(&self, replies: u64, errors: u64) {
        self.replies.fetch_sub(replies, Ordering::Relaxed);
        self.errors.fetch_sub(errors, Ordering::Relaxed);
        let mut held = self.held.lock().expect("not poisoned");
        let (r, e) = (replies.min(held.0), errors.min(held.1));
        held.0 -= r;
        held.1 -= e;
        self.meter.sub_replies(replies - r, errors - e);
    }

    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.replies.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}
