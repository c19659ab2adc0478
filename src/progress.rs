//! What the binary shows while a load (or a dump) runs: a progress display
//! on standard error, drawn from a [`Meter`], and the [`Events`] that print
//! around it.
//!
//! On a terminal the display is a line redrawn in place a few times a
//! second (indicatif): commands (keys) done, the rate over the last
//! seconds, bytes read (written), errors, and, when the size of the whole
//! is known, a bar with the percentage and the time left. It is cleared
//! before redis-cli's closing lines, and any message printed meanwhile (an
//! error reply) is printed above it. Where standard error is not a
//! terminal and the display is asked for anyway, it is a plain line every
//! second instead, for logs.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::ProgressStyle;
use indicatif::{HumanBytes, HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget};

use rload::Meter;
use rload::input::Location;
use rload::report::{Events, Terminal};

/// Whether to show progress (`--progress`, `--no-progress`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Show {
    /// When standard error is a terminal.
    #[default]
    Auto,
    /// Always: redrawn on a terminal, a line a second elsewhere.
    Always,
    /// Never.
    Never,
}

/// What is being done, for the display's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// A load (`--pipe`, `--emit`): commands, bytes read, errors.
    Load,
    /// A dump: keys, bytes written.
    Dump,
}

/// How often the counts are read and the display redrawn.
const TICK: Duration = Duration::from_millis(200);
/// How often a plain progress line is printed.
const LINE_EVERY: Duration = Duration::from_secs(1);
/// The rate is over this much of the recent past.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// The binary's [`Events`]: redis-cli's lines and rload's messages, printed
/// around a progress display when there is one. With `stdout_lines` off
/// (`--json`), nothing goes to standard output.
pub struct Console {
    bar: Option<ProgressBar>,
    ticker: Mutex<Option<Ticker>>,
    stdout_lines: bool,
}

/// The thread that redraws the display; it ends when its sender drops.
struct Ticker {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Console {
    /// Starts the display `show` asks for, counting from `meter`.
    pub fn start(meter: &Meter, show: Show, work: Work, stdout_lines: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let (bar, lines) = match show {
            Show::Never => (false, false),
            Show::Auto => (terminal, false),
            Show::Always => (terminal, !terminal),
        };
        let bar = bar.then(|| {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5))
                .with_style(style(false))
        });
        let ticker = if bar.is_some() || lines {
            let (stop, ticks) = mpsc::channel();
            let mut view = View::new(meter.clone(), work, bar.clone());
            let thread = std::thread::spawn(move || {
                let every = if lines { LINE_EVERY } else { TICK };
                if !lines {
                    view.draw(false);
                }
                while let Err(RecvTimeoutError::Timeout) = ticks.recv_timeout(every) {
                    view.draw(lines);
                }
            });
            Some(Ticker { stop, thread })
        } else {
            None
        };
        Console {
            bar,
            ticker: Mutex::new(ticker),
            stdout_lines,
        }
    }

    /// Stops the display and clears it; the next lines print where it was.
    pub fn finish(&self) {
        let ticker = self
            .ticker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(Ticker { stop, thread }) = ticker {
            drop(stop);
            let _ = thread.join();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Runs `f`, which prints to standard error, with the display out of
    /// the way.
    fn above<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Events for Console {
    fn error_reply(&self, at: &Location, text: &[u8]) {
        self.above(|| Terminal.error_reply(at, text));
    }

    fn all_sent(&self) {
        self.finish();
        if self.stdout_lines {
            Terminal.all_sent();
        }
    }

    fn last_reply(&self) {
        if self.stdout_lines {
            Terminal.last_reply();
        }
    }

    fn invalid_command(&self, at: &Location, why: &str) {
        self.above(|| Terminal.invalid_command(at, why));
    }

    fn notice(&self, text: &str) {
        self.above(|| Terminal.notice(text));
    }
}

fn style(with_bar: bool) -> ProgressStyle {
    let template = if with_bar {
        "{spinner:.green} [{bar:24.cyan/blue}] {percent:>3}% {msg}"
    } else {
        "{spinner:.green} {msg}"
    };
    ProgressStyle::with_template(template)
        .expect("the templates are valid")
        .progress_chars("=> ")
}

/// The counts as last seen, and recent samples for the rate.
struct View {
    meter: Meter,
    work: Work,
    bar: Option<ProgressBar>,
    started: Instant,
    /// (when, commands, progress towards the total) over the rate window.
    samples: VecDeque<(Instant, u64, u64)>,
    /// The total the bar was last given.
    total: u64,
}

impl View {
    fn new(meter: Meter, work: Work, bar: Option<ProgressBar>) -> Self {
        let started = Instant::now();
        View {
            meter,
            work,
            bar,
            started,
            // From nothing at the start: the first line has a rate too.
            samples: VecDeque::from([(started, 0, 0)]),
            total: 0,
        }
    }

    /// Reads the counts and redraws (or prints a line, with `line`).
    fn draw(&mut self, line: bool) {
        let (mut text, towards, total) = self.sample(Instant::now());
        match &self.bar {
            Some(bar) => {
                if total > 0 && self.total != total {
                    bar.set_style(style(true));
                    bar.set_length(total);
                    self.total = total;
                }
                bar.set_position(towards.min(total));
                bar.set_message(text);
                bar.tick();
            }
            None if line => {
                if total > 0 {
                    let percent = (towards.min(total) as f64 * 100.0 / total as f64) as u64;
                    text = format!("{percent}% · {text}");
                }
                let _ = writeln!(std::io::stderr(), "rload: {text}");
            }
            None => {}
        }
    }

    /// Reads the counts at `now`: the text to show, the progress towards
    /// the total, and the total.
    fn sample(&mut self, now: Instant) -> (String, u64, u64) {
        let done = self.meter.commands();
        let total = self.meter.total();
        let towards = match self.work {
            Work::Load => self.meter.bytes(),
            Work::Dump => done,
        };
        let skipped = self.meter.skipped();
        if skipped > 0 && done == skipped {
            // Still reading up to the resume point: how fast that goes is
            // no rate of the load, so the window starts when it is over.
            self.samples.clear();
        }
        self.samples.push_back((now, done, towards));
        while self
            .samples
            .front()
            .is_some_and(|s| now.duration_since(s.0) > RATE_WINDOW)
        {
            self.samples.pop_front();
        }
        let (since, done_then, towards_then) = *self.samples.front().expect("one was pushed");
        let span = now.duration_since(since).as_secs_f64();
        let rate =
            |now: u64, then: u64| (span > 0.0).then(|| now.saturating_sub(then) as f64 / span);
        let per_sec = rate(done, done_then);
        let left = (total > 0)
            .then(|| rate(towards, towards_then))
            .flatten()
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(total.saturating_sub(towards) as f64 / r));
        (self.counts(done, per_sec, left), towards, total)
    }

    /// `1,234,567 commands · 456,789/s · 12.3 MiB read · 0 errors · 0:12
    /// left`.
    fn counts(&self, done: u64, per_sec: Option<f64>, left: Option<Duration>) -> String {
        let (unit, bytes) = match self.work {
            Work::Load => ("command", "read"),
            Work::Dump => ("key", "written"),
        };
        let mut text = format!("{} {unit}{}", HumanCount(done), plural(done));
        let skipped = self.meter.skipped();
        if skipped > 0 && done == skipped {
            text = format!("skipping to the resume point: {text} read");
        } else if let Some(r) = per_sec {
            let _ = write!(text, " · {}/s", HumanCount(r.round() as u64));
        }
        let _ = write!(text, " · {} {bytes}", HumanBytes(self.meter.bytes()));
        if self.work == Work::Load {
            let errors = self.meter.errors();
            let _ = write!(text, " · {} error{}", HumanCount(errors), plural(errors));
        }
        match left {
            Some(left) => {
                let _ = write!(text, " · {} left", HumanDuration(left));
            }
            None => {
                let _ = write!(text, " · {} elapsed", HumanDuration(self.started.elapsed()));
            }
        }
        text
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_to_the_resume_point_is_shown_as_such_and_not_as_a_rate() {
        let meter = Meter::new();
        let mut view = View::new(meter.clone(), Work::Load, None);
        let t0 = Instant::now();
        meter.set_skipped(1_000_000);
        let (text, ..) = view.sample(t0 + Duration::from_millis(200));
        assert!(
            text.starts_with("skipping to the resume point: 1,000,000 commands read"),
            "{text}"
        );
        assert!(!text.contains("/s"), "{text}");
        meter.set_commands(1_000_010);
        let (text, ..) = view.sample(t0 + Duration::from_millis(1200));
        assert!(text.starts_with("1,000,010 commands · 10/s"), "{text}");
    }
}
