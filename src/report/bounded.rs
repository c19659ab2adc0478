//! `--max-errors N` bounds what is printed as well as what is read: at
//! most N error lines (error replies and skipped invalid commands), then
//! one line at the end for the rest. A load stopped by `--max-errors` still
//! drains the replies already in flight, which can be thousands of errors
//! (a cluster node loaded without `-c` answers MOVED to nearly all): they
//! are counted exactly, and not printed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Events, count};
use crate::input::Location;

/// Events that print at most `limit` error lines, and count the rest.
pub(crate) struct Bounded {
    inner: Arc<dyn Events>,
    limit: u64,
    /// Error lines asked for so far, printed or not.
    seen: AtomicU64,
    /// Those not printed: error replies, invalid commands.
    hidden_replies: AtomicU64,
    hidden_invalid: AtomicU64,
}

impl Bounded {
    /// `inner`, printing at most `limit` error lines.
    pub(crate) fn new(inner: Arc<dyn Events>, limit: u64) -> Self {
        Bounded {
            inner,
            limit,
            seen: AtomicU64::new(0),
            hidden_replies: AtomicU64::new(0),
            hidden_invalid: AtomicU64::new(0),
        }
    }

    /// Whether one more error line is printed; counts it if not.
    fn shown(&self, hidden: &AtomicU64) -> bool {
        if self.seen.fetch_add(1, Ordering::Relaxed) < self.limit {
            return true;
        }
        hidden.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Says how many error lines were not printed, if any were not: one
    /// line, once the load is over.
    pub(crate) fn tell_hidden(&self) {
        let replies = self.hidden_replies.load(Ordering::Relaxed);
        let invalid = self.hidden_invalid.load(Ordering::Relaxed);
        if replies > 0 {
            let what = if replies == 1 { "reply" } else { "replies" };
            self.inner
                .notice(&format!("{replies} more error {what} not shown"));
        }
        if invalid > 0 {
            let n = count(invalid, "more invalid command");
            self.inner.notice(&format!("{n} not shown"));
        }
    }
}

impl Events for Bounded {
    fn error_reply(&self, at: &Location, text: &[u8]) {
        if self.shown(&self.hidden_replies) {
            self.inner.error_reply(at, text);
        }
    }

    fn all_sent(&self) {
        self.inner.all_sent();
    }

    fn last_reply(&self) {
        self.inner.last_reply();
    }

    fn invalid_command(&self, at: &Location, why: &str) {
        if self.shown(&self.hidden_invalid) {
            self.inner.invalid_command(at, why);
        }
    }

    fn notice(&self, text: &str) {
        self.inner.notice(text);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl Events for Lines {
        fn error_reply(&self, at: &Location, text: &[u8]) {
            let line = format!("{at}: {}", String::from_utf8_lossy(text));
            self.0.lock().unwrap().push(line);
        }
        fn invalid_command(&self, at: &Location, why: &str) {
            self.0.lock().unwrap().push(format!("{at}: {why}"));
        }
        fn notice(&self, text: &str) {
            self.0.lock().unwrap().push(format!("rload: {text}"));
        }
    }

    #[test]
    fn prints_at_most_the_limit_then_one_line_for_the_rest() {
        let lines = Arc::new(Lines::default());
        let bounded = Bounded::new(Arc::clone(&lines) as _, 3);
        let at = Location {
            name: "<stdin>".into(),
            line: 1,
            offset: 0,
        };
        for _ in 0..1000 {
            bounded.error_reply(&at, b"MOVED 1 h:1");
        }
        bounded.invalid_command(&at, "bad");
        bounded.tell_hidden();
        let got = lines.0.lock().unwrap().clone();
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[3], "rload: 997 more error replies not shown");
        assert_eq!(got[4], "rload: 1 more invalid command not shown");
    }

    #[test]
    fn says_nothing_more_when_all_were_shown() {
        let lines = Arc::new(Lines::default());
        let bounded = Bounded::new(Arc::clone(&lines) as _, 3);
        bounded.tell_hidden();
        assert!(lines.0.lock().unwrap().is_empty());
    }
}
