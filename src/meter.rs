//! What a load (or a dump) has done so far, counted as it goes, for the
//! progress display and for an embedder that wants to show its own:
//! commands sent (keys, for a dump), bytes of input read as stored (before
//! any decompression; for a dump, bytes written), replies and errors, and
//! the size of the whole when it is known.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts shared between a load and whoever watches it. Clones share one
/// set of counts.
#[derive(Clone, Debug, Default)]
pub struct Meter(Arc<Counts>);

/// The feeder, the input and the reader threads each update their own
/// counts, on cache lines of their own, so counting costs no contention.
#[derive(Debug, Default)]
struct Counts {
    commands: Line,
    /// Commands passed over to reach the resume point.
    skipped: AtomicU64,
    bytes: Line,
    replies: Line,
    errors: Line,
    total: AtomicU64,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Line(AtomicU64);

impl Meter {
    /// Counts at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Commands of the input done: sent, or skipped to reach the resume
    /// point (for a dump, keys written).
    pub fn commands(&self) -> u64 {
        self.0.commands.0.load(Ordering::Relaxed)
    }

    /// Commands of the input passed over to reach the resume point
    /// (`--resume-from`), so far: while it is all [`commands`](Self::commands)
    /// counts, the load is still skipping, and its speed is no rate.
    pub fn skipped(&self) -> u64 {
        self.0.skipped.load(Ordering::Relaxed)
    }

    /// Bytes of input read, as stored (compressed input: its compressed
    /// bytes); for a dump, bytes written.
    pub fn bytes(&self) -> u64 {
        self.0.bytes.0.load(Ordering::Relaxed)
    }

    /// Replies received so far, errors included.
    pub fn replies(&self) -> u64 {
        self.0.replies.0.load(Ordering::Relaxed)
    }

    /// Error replies so far.
    pub fn errors(&self) -> u64 {
        self.0.errors.0.load(Ordering::Relaxed)
    }

    /// The size of the whole, when it is known: bytes of input (every input
    /// a file), or keys for a dump; 0 when it is not.
    pub fn total(&self) -> u64 {
        self.0.total.load(Ordering::Relaxed)
    }

    /// Commands (or keys) done so far: set by the one thread that counts
    /// them, so a plain store. Public so that a display can be tried on a
    /// meter no run counts.
    pub fn set_commands(&self, n: u64) {
        self.0.commands.0.store(n, Ordering::Relaxed);
    }

    /// Commands skipped to reach the resume point, which are commands
    /// done too.
    pub fn set_skipped(&self, n: u64) {
        self.0.skipped.store(n, Ordering::Relaxed);
        self.set_commands(n);
    }

    pub(crate) fn add_commands(&self, n: u64) {
        self.0.commands.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.0.bytes.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set_total(&self, n: u64) {
        self.0.total.store(n, Ordering::Relaxed);
    }

    pub(crate) fn add_replies(&self, replies: u64, errors: u64) {
        self.0.replies.0.fetch_add(replies, Ordering::Relaxed);
        if errors > 0 {
            self.0.errors.0.fetch_add(errors, Ordering::Relaxed);
        }
    }

    /// Replies and errors taken back: a replay will count them again.
    pub(crate) fn sub_replies(&self, replies: u64, errors: u64) {
        self.0.replies.0.fetch_sub(replies, Ordering::Relaxed);
        self.0.errors.0.fetch_sub(errors, Ordering::Relaxed);
    }
}

impl PartialEq for Meter {
    /// The same counts.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Meter {}
