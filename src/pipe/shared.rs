//! State one pipe's threads share: counters, the time of the last reply, why
//! the pipe stopped, and the handle that closes its connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::chunk::{CmdMeta, Watch};
use crate::conn::Closer;
use crate::input::Location;
use crate::interrupt::{DRAIN_BOUND, Interrupt};
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

/// Commands a cluster node answered with a redirect, on their way back to
/// the router to be sent again: one command, or a whole transaction.
#[derive(Debug)]
pub(crate) struct Redirect {
    /// The pipe that received the redirect.
    pub from: usize,
    pub kind: RedirectKind,
    pub cmds: Vec<RedirectedCmd>,
}

/// One command to send again, as it was sent.
#[derive(Debug)]
pub(crate) struct RedirectedCmd {
    pub bytes: Vec<u8>,
    pub meta: CmdMeta,
    pub watch: Option<Watch>,
}

/// What a cluster node asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RedirectKind {
    /// `MOVED slot host:port`: the slot has a new owner.
    Moved { slot: u16, host: String, port: u16 },
    /// `ASK slot host:port`: this key is at the target, mid-migration.
    Ask { slot: u16, host: String, port: u16 },
    /// `TRYAGAIN` or `CLUSTERDOWN`: try again later; holds the error text.
    Retry(String),
    /// The connection to this master is gone, for this reason; what it
    /// had not acknowledged is there to take back ([`super::Pipe::take_back`]).
    Lost(String),
}

impl RedirectKind {
    /// Reads a redirect out of an error reply's text.
    pub(crate) fn parse(text: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(text).ok()?;
        let mut words = text.split(' ');
        let kind = words.next()?;
        if kind == "TRYAGAIN" || kind == "CLUSTERDOWN" {
            return Some(RedirectKind::Retry(text.to_string()));
        }
        let slot = words.next()?.parse().ok()?;
        let (host, port) = words.next()?.rsplit_once(':')?;
        let (host, port) = (
            host.trim_matches(['[', ']']).to_string(),
            port.parse().ok()?,
        );
        match kind {
            "MOVED" => Some(RedirectKind::Moved { slot, host, port }),
            "ASK" => Some(RedirectKind::Ask { slot, host, port }),
            _ => None,
        }
    }
}

/// How a pipe in a cluster reports back to the router.
pub(crate) struct ClusterLink {
    /// The pipe's index at the router.
    pub index: usize,
    pub inbox: Sender<Redirect>,
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
    /// Commands this node redirected.
    pub redirects: AtomicU64,
    /// Set in a cluster: redirects go to the router.
    pub cluster: Option<ClusterLink>,
    epoch: Instant,
    last_reply_ms: AtomicU64,
    stop: Mutex<Option<PipeStop>>,
    closer: Mutex<Option<Closer>>,
    /// While set, the writer is reconnecting: silence is not a timeout.
    reconnecting: AtomicBool,
    /// A request to stop the load.
    pub interrupt: Interrupt,
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
        interrupt: Interrupt,
    ) -> Self {
        Shared {
            addr: addr.to_string(),
            names,
            events,
            sentinel: rand::random(),
            replies: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            resolved: AtomicU64::new(0),
            redirects: AtomicU64::new(0),
            cluster: None,
            epoch: Instant::now(),
            last_reply_ms: AtomicU64::new(0),
            stop: Mutex::new(None),
            closer: Mutex::new(None),
            reconnecting: AtomicBool::new(false),
            interrupt,
            orphaned: AtomicBool::new(false),
        }
    }

    /// Makes this the pipe of cluster member `index`, reporting redirects to
    /// `inbox`.
    pub(crate) fn in_cluster(mut self, index: usize, inbox: Sender<Redirect>) -> Self {
        self.cluster = Some(ClusterLink { index, inbox });
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
        Location {
            name: self
                .names
                .get(meta.source as usize)
                .cloned()
                .unwrap_or_default(),
            line: meta.line,
            offset: 0,
        }
    }

    pub(crate) fn add_counts(&self, replies: u64, errors: u64) {
        self.replies.fetch_add(replies, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
    }

    pub(crate) fn sub_counts(&self, replies: u64, errors: u64) {
        self.replies.fetch_sub(replies, Ordering::Relaxed);
        self.errors.fetch_sub(errors, Ordering::Relaxed);
    }

    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.replies.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redirects_out_of_error_replies() {
        assert_eq!(
            RedirectKind::parse(b"MOVED 3999 127.0.0.1:6381"),
            Some(RedirectKind::Moved {
                slot: 3999,
                host: "127.0.0.1".into(),
                port: 6381
            })
        );
        assert_eq!(
            RedirectKind::parse(b"ASK 12 [::1]:7000"),
            Some(RedirectKind::Ask {
                slot: 12,
                host: "::1".into(),
                port: 7000
            })
        );
        assert!(matches!(
            RedirectKind::parse(b"TRYAGAIN Multiple keys request during rehashing of slot"),
            Some(RedirectKind::Retry(_))
        ));
        assert!(matches!(
            RedirectKind::parse(b"CLUSTERDOWN The cluster is down"),
            Some(RedirectKind::Retry(_))
        ));
        assert_eq!(RedirectKind::parse(b"ERR wrong number of arguments"), None);
        assert_eq!(RedirectKind::parse(b"MOVED notaslot h:1"), None);
    }
}
