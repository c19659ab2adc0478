//! Stopping a load early on request: a signal (SIGINT, SIGTERM, SIGHUP) or
//! another thread. The load stops reading its input, drains what is in
//! flight for at most [`DRAIN_BOUND`], and gives the usual account.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// After a stop is requested, how long the load still waits for the
/// replies to what it had sent, at most (or the pipe timeout, if shorter).
/// What arrives in time is accounted for; what does not is left
/// unacknowledged, so the account stays exact either way.
pub const DRAIN_BOUND: Duration = Duration::from_secs(5);

/// A request to stop a load, shared between whoever asks (a signal
/// handler, another thread) and the load. Clones share one request.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    /// The signal number asked with, or 0 while none is.
    signal: Arc<AtomicUsize>,
    /// When the load first saw the request.
    seen: Arc<OnceLock<Instant>>,
}

impl Interrupt {
    /// A request not yet made.
    pub fn new() -> Self {
        Self::default()
    }

    /// The flag a signal handler sets to the signal's number (see
    /// `signal_hook::flag::register_usize`).
    pub fn flag(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.signal)
    }

    /// Asks the load to stop, as if signal `signal` had arrived.
    pub fn request(&self, signal: i32) {
        self.signal
            .store(usize::try_from(signal).unwrap_or(1), Ordering::Relaxed);
    }

    /// The signal a stop was asked with, if one was; the first call that
    /// sees it starts the drain's clock.
    pub fn requested(&self) -> Option<i32> {
        match self.signal.load(Ordering::Relaxed) {
            0 => None,
            signal => {
                self.seen.get_or_init(Instant::now);
                Some(i32::try_from(signal).unwrap_or(i32::MAX))
            }
        }
    }

    /// Whether a stop was asked for more than `bound` ago: time to stop
    /// waiting on the server.
    pub(crate) fn overdue(&self, bound: Duration) -> bool {
        self.requested().is_some() && self.seen.get().is_some_and(|t| t.elapsed() >= bound)
    }
}

impl PartialEq for Interrupt {
    /// The same request.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.signal, &other.signal)
    }
}

impl Eq for Interrupt {}

/// The name of a signal, for messages: `SIGINT`, or `signal 10`.
pub fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGHUP => "SIGHUP".into(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_seen_by_every_clone() {
        let a = Interrupt::new();
        let b = a.clone();
        assert_eq!(b.requested(), None);
        assert!(!b.overdue(Duration::ZERO));
        a.request(libc::SIGTERM);
        assert_eq!(b.requested(), Some(libc::SIGTERM));
        assert!(b.overdue(Duration::ZERO));
        assert!(!b.overdue(Duration::from_secs(3600)));
        assert_eq!(a, b);
        assert_ne!(a, Interrupt::new());
    }
}
