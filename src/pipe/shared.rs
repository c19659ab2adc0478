//! State one pipe's threads share: counters, the time of the last reply, why
//! the pipe stopped, and the handle that closes its connection.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::chunk::CmdMeta;
use crate::conn::Closer;
use crate::error::Location;
use crate::report::Events;

/// How often a blocked thread looks up to check for a stop or a timeout.
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Why a pipe stopped before its last reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PipeStop {
    /// No reply came for this long while rload waited on the server.
    Timeout(Duration),
    /// The connection broke.
    Lost(String),
    /// The server's replies broke the protocol or fell out of step.
    Protocol(String),
}

pub(crate) struct Shared {
    pub addr: String,
    pub names: Arc<[String]>,
    pub events: Arc<dyn Events>,
    /// The 20 random bytes of the closing ECHO.
    pub sentinel: [u8; 20],
    pub replies: AtomicU64,
    pub errors: AtomicU64,
    epoch: Instant,
    last_reply_ms: AtomicU64,
    stop: Mutex<Option<PipeStop>>,
    closer: Mutex<Option<Closer>>,
    /// While set, the writer is reconnecting: silence is not a timeout.
    reconnecting: AtomicBool,
}

impl Shared {
    pub(crate) fn new(addr: &str, names: Arc<[String]>, events: Arc<dyn Events>) -> Self {
        Shared {
            addr: addr.to_string(),
            names,
            events,
            sentinel: rand::random(),
            replies: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            epoch: Instant::now(),
            last_reply_ms: AtomicU64::new(0),
            stop: Mutex::new(None),
            closer: Mutex::new(None),
            reconnecting: AtomicBool::new(false),
        }
    }

    pub(crate) fn note_reply(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_reply_ms.store(ms, Ordering::Relaxed);
    }

    fn last_reply(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_reply_ms.load(Ordering::Relaxed))
    }

    /// Whether the server has been silent for `timeout` since `waiting_since`
    /// (or since its last reply, if later). If so, stops the pipe with a
    /// timeout; returns whether the pipe is stopped for any reason.
    pub(crate) fn check_stall(&self, waiting_since: Instant, timeout: Option<Duration>) -> bool {
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
