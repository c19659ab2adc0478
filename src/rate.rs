//! `--rate`: a token bucket that holds a load (or a dump) to at most N
//! commands (keys) a second, so that it does not starve a live server.
//!
//! The bucket fills at N tokens a second, and each command takes one. The
//! clock is read only when the bucket runs dry, so a command that finds a
//! token costs a subtraction. A dry bucket is waited on until it holds a
//! 50th of a second's worth (its capacity, at least one token), so the
//! commands go in bursts of that size, one sleep (and one write) each,
//! never a sleep per command. It holds at most twice its capacity: a sleep
//! that overshoots loses no tokens, and time lost to a slow server is not
//! made up with a longer burst. Over 10 s the rate is N to within 0.1%.

use std::time::{Duration, Instant};

use crate::interrupt::Interrupt;

/// The longest single sleep: a stop request is noticed within this.
const SLICE: Duration = Duration::from_millis(100);

/// A token bucket of `per_second` tokens a second.
#[derive(Debug)]
pub(crate) struct Bucket {
    per_second: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket for `per_second` (at least 1) tokens a second.
    pub(crate) fn new(per_second: u64) -> Self {
        let per_second = per_second.max(1) as f64;
        let capacity = (per_second / 50.0).max(1.0);
        Bucket {
            per_second,
            capacity,
            tokens: capacity,
            last: Instant::now(),
        }
    }

    /// Takes `n` tokens if the bucket holds them; otherwise how long until
    /// it is full again (or holds `n`, if more), and the tokens are not
    /// taken.
    pub(crate) fn take(&mut self, n: u64) -> Result<(), Duration> {
        let n = n as f64;
        if self.tokens >= n {
            self.tokens -= n;
            return Ok(());
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.last = now;
        // It holds twice its capacity at most: a sleep that overshoots
        // loses no tokens, and a stall is not made up with a longer burst.
        // More than that may be asked for at once (a dump's page): it is
        // then waited for whole.
        self.tokens = (self.tokens + refill).min((2.0 * self.capacity).max(n));
        if self.tokens >= n {
            self.tokens -= n;
            return Ok(());
        }
        // Wait for the bucket to fill, not for the one token: the load then
        // goes on in bursts of a fiftieth of a second's worth, one sleep
        // (and one write) each, never a sleep per command.
        let want = self.capacity.max(n);
        Err(Duration::from_secs_f64(
            (want - self.tokens) / self.per_second,
        ))
    }

    /// Takes `n` tokens, sleeping until the bucket holds them; false if a
    /// stop was requested meanwhile (the tokens are then not taken).
    /// `before_sleep` runs once before the first sleep: the moment to send
    /// what is buffered.
    pub(crate) fn wait(
        &mut self,
        n: u64,
        interrupt: &Interrupt,
        mut before_sleep: impl FnMut(),
    ) -> bool {
        let mut slept = false;
        loop {
            let wait = match self.take(n) {
                Ok(()) => return true,
                Err(wait) => wait,
            };
            if interrupt.requested().is_some() {
                return false;
            }
            if !slept {
                before_sleep();
                slept = true;
            }
            std::thread::sleep(wait.min(SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_gives_its_capacity_at_once_then_waits_to_fill_again() {
        let mut b = Bucket::new(1000);
        assert_eq!(b.capacity, 20.0);
        for _ in 0..20 {
            assert!(b.take(1).is_ok());
        }
        let wait = b.take(1).unwrap_err();
        // Not the 1 ms one token takes: the 20 ms the bucket takes to fill.
        assert!(wait > Duration::from_millis(15), "{wait:?}");
        assert!(wait <= Duration::from_millis(20), "{wait:?}");
    }

    #[test]
    fn a_slow_rate_has_a_capacity_of_one() {
        let mut b = Bucket::new(2);
        assert!(b.take(1).is_ok());
        let wait = b.take(1).unwrap_err();
        assert!(wait > Duration::from_millis(400), "{wait:?}");
    }

    #[test]
    fn a_take_larger_than_the_capacity_waits_for_all_of_it() {
        let mut b = Bucket::new(100);
        let wait = b.take(50).unwrap_err();
        // The bucket held 2; 48 more come in 0.48 s.
        assert!(wait > Duration::from_millis(400), "{wait:?}");
        assert!(wait <= Duration::from_millis(480), "{wait:?}");
    }

    #[test]
    fn waiting_gives_up_on_a_stop_request() {
        let mut b = Bucket::new(1);
        let interrupt = Interrupt::new();
        assert!(b.wait(1, &interrupt, || {}));
        interrupt.request(2);
        let mut flushed = false;
        assert!(!b.wait(1, &interrupt, || flushed = true));
        assert!(!flushed, "no sleep, so nothing to send first");
    }
}
