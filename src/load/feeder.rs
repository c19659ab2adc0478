//! The feeder: numbers the input's commands, sends them to a sink, and
//! applies `--skip-invalid` and `--max-errors`. It keeps the resume point
//! of what it sent: never inside a transaction, so resuming sends every
//! transaction whole.

use std::sync::Arc;

use crate::command::classify;
use crate::command::{CmdMeta, Stopped, Watch};
use crate::config::{Config, Handles};
use crate::input::Limits;
use crate::input::{CommandSource, Next, Position};
use crate::input::{InputError, InvalidKind, Location};
use crate::interrupt::Interrupt;
use crate::meter::Meter;
use crate::rate::Bucket;
use crate::report::{Events, Stop};
use crate::sink::Sink;

/// Why feeding stopped before the end of the input.
#[derive(Debug)]
pub(super) enum Halt {
    /// For this reason (a signal, bad input, `--max-errors`).
    Stop(Stop),
    /// The sink stopped: its account says why.
    SinkStopped,
}

/// A sink that stopped halts the feeding.
fn sink_stopped(_: Stopped) -> Halt {
    Halt::SinkStopped
}

/// How feeding went.
pub(crate) struct Fed {
    /// Why it stopped before the end of the input, if it did and the sink
    /// did not.
    pub stop: Option<Stop>,
    /// The whole input was read and handed to the sink.
    pub all_read: bool,
    /// The sink stopped; its account says why.
    pub sink_stopped: bool,
    /// The whole input was read and handed to the sink, though it ended
    /// inside a transaction (`all_read` is false then).
    pub input_ended: bool,
}

/// A transaction the input has opened and not yet ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OpenBlock {
    /// The number of its `MULTI`.
    pub seq: u64,
    /// Where its `MULTI` is.
    pub pos: Position,
}

/// Numbers the commands, sends them on, and keeps the account the summary
/// needs of what was sent.
pub(crate) struct Feeder {
    pub(super) names: Arc<[String]>,
    pub(super) events: Arc<dyn Events>,
    pub(super) limits: Limits,
    pub(crate) interrupt: Interrupt,
    /// Commands numbered so far.
    pub(super) seq: u64,
    pub(super) resume_from: u64,
    /// Every command up to this one was sent (or skipped by `--resume-from`)
    /// and it ends no partial transaction: the resume point when nothing
    /// sent is still unanswered.
    pub(super) done_through: u64,
    skip_invalid: bool,
    max_errors: Option<u64>,
    /// Invalid commands skipped.
    pub(crate) invalid: u64,
    /// The commands go to standard output (`--emit`).
    pub(crate) emit: bool,
    /// The transaction still open in the input.
    pub(super) open_block: Option<OpenBlock>,
    /// The transaction rload discarded because the load stopped inside
    /// it (or the input ended): its `MULTI`, which the server may have
    /// refused, opening nothing.
    pub(crate) discarded: Option<OpenBlock>,
    /// Why the load cannot start, found while skipping to the resume point.
    pub(super) early_stop: Option<Halt>,
    /// `--rate`: what holds the commands back.
    bucket: Option<Bucket>,
    /// Where the commands sent are counted for a progress display.
    pub(super) meter: Meter,
}

impl Feeder {
    pub(crate) fn new(
        config: &Config,
        handles: &Handles,
        names: Arc<[String]>,
        events: Arc<dyn Events>,
        limits: Limits,
    ) -> Self {
        Feeder {
            names,
            events,
            limits,
            interrupt: handles.interrupt.clone(),
            seq: 0,
            resume_from: config.resume_from,
            done_through: config.resume_from,
            skip_invalid: config.skip_invalid,
            max_errors: config.max_errors,
            invalid: 0,
            emit: false,
            open_block: None,
            discarded: None,
            early_stop: None,
            bucket: config.rate.map(Bucket::new),
            meter: handles.meter.clone(),
        }
    }

    /// Feeds the rest of the input to `sink`. A transaction left open, at
    /// the end of the input or by a stop inside it, is discarded.
    pub(crate) fn run<S: CommandSource + ?Sized>(
        &mut self,
        source: &mut S,
        sink: &mut dyn Sink,
    ) -> Fed {
        let fed = match self.early_stop.take() {
            Some(halt) => Err(halt),
            None => self.feed_all(source, sink),
        };
        let input_ended = fed.is_ok();
        let (stop, sink_stopped) = match fed {
            Ok(()) => {
                let open = self
                    .open_block
                    .map(|b| Stop::Input(self.invalid_input(b.pos, InvalidKind::OpenTransaction)));
                (open, false)
            }
            Err(Halt::Stop(stop)) => (Some(stop), false),
            Err(Halt::SinkStopped) => (None, true),
        };
        if !sink_stopped {
            self.discard_open_block(sink);
        }
        Fed {
            all_read: stop.is_none() && !sink_stopped,
            stop,
            sink_stopped,
            input_ended,
        }
    }

    fn feed_all<S: CommandSource + ?Sized>(
        &mut self,
        source: &mut S,
        sink: &mut dyn Sink,
    ) -> Result<(), Halt> {
        loop {
            if let Some(signal) = self.interrupt.requested() {
                return Err(Halt::Stop(Stop::Interrupted {
                    signal,
                    drained: true,
                }));
            }
            if let Some(max) = self.max_errors
                && sink.errors() + self.invalid >= max
            {
                return Err(Halt::Stop(Stop::MaxErrors(max)));
            }
            let cmd = match source.next_buffered() {
                Ok(Next::Command(cmd)) => cmd,
                Ok(Next::NeedInput) => {
                    // The read may block on a slow producer: send what we have.
                    sink.flush().map_err(sink_stopped)?;
                    if let Err(e) = source.read_more() {
                        self.skip_or_stop(e)?;
                    }
                    continue;
                }
                Ok(Next::End) => return Ok(()),
                Err(e) => {
                    self.skip_or_stop(e)?;
                    continue;
                }
            };
            let watch = match classify(&cmd.args, self.limits.databases) {
                Ok(w) => w,
                Err(why) => {
                    let e = self.invalid_input(cmd.pos, InvalidKind::Refused(why));
                    self.skip_or_stop(e)?;
                    continue;
                }
            };
            if let Some(bucket) = &mut self.bucket {
                let mut flushed = Ok(());
                if !bucket.wait(1, &self.interrupt, || flushed = sink.flush()) {
                    // Asked to stop while held back: the loop's top says so.
                    continue;
                }
                flushed.map_err(sink_stopped)?;
            }
            self.seq += 1;
            self.track_block(watch, cmd.pos);
            let meta = CmdMeta::input(self.seq, cmd.pos);
            let pushed = if cmd.takeable {
                // Held once: the read buffer becomes the command's.
                sink.push_owned(source.take_last(), meta, watch)
            } else {
                sink.push(&cmd, meta, watch)
            };
            pushed.map_err(sink_stopped)?;
            self.meter.set_commands(self.seq);
            if self.open_block.is_none() {
                self.done_through = self.seq;
            }
        }
    }

    /// Notes the transaction a command opens or ends.
    pub(super) fn track_block(&mut self, watch: Option<Watch>, pos: Position) {
        match watch {
            Some(Watch::Multi) if self.open_block.is_none() => {
                self.open_block = Some(OpenBlock { seq: self.seq, pos })
            }
            Some(w) if w.ends_block() => self.open_block = None,
            _ => {}
        }
    }

    /// With `--skip-invalid`, reports and counts an invalid command and
    /// carries on; otherwise stops.
    pub(super) fn skip_or_stop(&mut self, e: InputError) -> Result<(), Halt> {
        match e {
            InputError::Interrupted => Err(Halt::Stop(Stop::Interrupted {
                signal: self.interrupt.requested().unwrap_or(0),
                drained: true,
            })),
            InputError::Invalid { at, kind } if self.skip_invalid => {
                self.events.invalid_command(&at, &kind.to_string());
                self.invalid += 1;
                Ok(())
            }
            e => Err(Halt::Stop(Stop::Input(e))),
        }
    }

    /// Discards a transaction the input left open (at its end, or because
    /// the load stopped inside it): the server would drop it with the
    /// connection anyway, and the closing ECHO must not be queued into it.
    fn discard_open_block(&mut self, sink: &mut dyn Sink) {
        let Some(block) = self.open_block.take() else {
            return;
        };
        self.discarded = Some(block);
        let _ = sink.abandon_transaction(CmdMeta::input(block.seq, block.pos));
    }

    /// The resume point when nothing sent is left unanswered; with
    /// `multi_refused`, the server refused the `MULTI` of the transaction
    /// the load stopped inside, so none was open: every command sent is
    /// done.
    pub(crate) fn done_through(&self, multi_refused: bool) -> u64 {
        if multi_refused {
            self.seq
        } else {
            self.done_through
        }
    }

    /// Commands handed to the sink in this run (those skipped to the
    /// resume point are not).
    pub(crate) fn sent(&self) -> u64 {
        self.seq.saturating_sub(self.resume_from)
    }

    pub(super) fn invalid_input(&self, pos: Position, kind: InvalidKind) -> InputError {
        InputError::Invalid {
            at: Location::new(&self.names, pos),
            kind,
        }
    }
}
