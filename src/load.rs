//! The load itself: reads the input, sends every command down one pipe, and
//! turns the pipe's outcome into a [`Summary`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::command::classify;
use crate::config::Config;
use crate::conn;
use crate::error::{ConnectError, Error, InputError, InvalidKind, Location};
use crate::input::{Command, Input, InputReader, Next, Position};
use crate::pipe::{
    CmdMeta, Pipe, PipeOptions, PipeOutcome, PipeStop, Reconnect, Shared, Stopped, Watch,
};
use crate::report::{Acknowledged, Events, NodeSummary, Stop, Summary};
use crate::resp::encode_command;

/// Loads `inputs` into the server `config` names, reporting as it goes to
/// `events`, and returns the account of what happened.
///
/// A load that starts always returns a [`Summary`], even when it stops early
/// (bad input, a lost connection, a timeout): the summary says why, and
/// exactly what the server acknowledged.
///
/// # Errors
///
/// Failures before anything is sent: an input that cannot be opened, or a
/// server that cannot be reached, logged in to, or selected.
pub fn run(config: &Config, inputs: &[Input], events: Arc<dyn Events>) -> Result<Summary, Error> {
    let mut reader = InputReader::open(inputs)?;
    let names: Arc<[String]> = reader.names().into();
    if config.cluster {
        return crate::cluster::run(config, &mut reader, names, events);
    }
    let conn = conn::connect(&config.server)?;
    let addr = conn.addr().to_string();
    let shared = Arc::new(Shared::new(&addr, Arc::clone(&names), Arc::clone(&events)));
    let mut pipe = Pipe::start(conn, Arc::clone(&shared), pipe_options(config))
        .map_err(|e| ConnectError::io(&addr, e))?;

    let mut feeder = Feeder::new(config, names, Arc::clone(&events));
    let (stop, sent_all) = feeder.run(&mut reader, &mut pipe);
    let outcome = pipe.finish(!feeder.stopped_by_pipe, || {
        if sent_all {
            events.all_sent();
        }
    });
    Ok(summarize(
        vec![(shared, outcome)],
        stop,
        &feeder,
        sent_all,
        0,
    ))
}

/// The pipe settings a load's configuration asks for.
pub(crate) fn pipe_options(config: &Config) -> PipeOptions {
    let reconnect = (config.reconnect > 0).then(|| Reconnect {
        server: config.server.clone(),
        attempts: config.reconnect,
    });
    PipeOptions {
        timeout: config.pipe_timeout,
        reconnect,
    }
}

/// Where the feeder sends commands: one pipe, or a cluster's router.
pub(crate) trait Sink {
    /// Sends a command from the input.
    fn push(&mut self, cmd: &Command<'_>, seq: u64, watch: Option<Watch>) -> Result<(), Stopped>;
    /// Sends an already encoded command (a `SELECT` replayed on resume).
    fn push_encoded(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped>;
    /// Ends a transaction the input left open; nothing more of it is sent.
    fn abandon_transaction(&mut self, meta: CmdMeta) -> Result<(), Stopped>;
    /// Hands what is buffered to the connection(s).
    fn flush(&mut self) -> Result<(), Stopped>;
    /// Errors counted so far.
    fn errors(&self) -> u64;
}

impl Sink for Pipe {
    fn push(&mut self, cmd: &Command<'_>, seq: u64, watch: Option<Watch>) -> Result<(), Stopped> {
        Pipe::push(self, cmd, seq, watch)
    }

    fn push_encoded(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        Pipe::push_encoded(self, bytes, meta, watch)
    }

    /// The server would drop it with the connection anyway; `DISCARD` drops
    /// it now, so the closing ECHO is not queued into it.
    fn abandon_transaction(&mut self, meta: CmdMeta) -> Result<(), Stopped> {
        let mut discard = Vec::new();
        encode_command(&mut discard, &[&b"DISCARD"[..]][..]);
        Pipe::push_encoded(self, &discard, meta, Some(Watch::Abandon))
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        Pipe::flush(self)
    }

    fn errors(&self) -> u64 {
        self.shared().errors.load(Ordering::Relaxed)
    }
}

/// Why feeding stopped before the end of the input.
enum FeedStop {
    Input(InputError),
    MaxErrors(u64),
    Pipe,
}

impl From<Stopped> for FeedStop {
    fn from(_: Stopped) -> Self {
        FeedStop::Pipe
    }
}

/// A transaction the input has opened and not yet ended.
#[derive(Clone, Copy, Debug)]
struct OpenBlock {
    /// The number of its `MULTI`.
    seq: u64,
    /// Where its `MULTI` is.
    pos: Position,
}

/// Numbers the commands, skips those before `--resume-from`, tracks state
/// that a resumed load must restore, and applies `--skip-invalid` and
/// `--max-errors`.
pub(crate) struct Feeder {
    names: Arc<[String]>,
    events: Arc<dyn Events>,
    seq: u64,
    resume_from: u64,
    /// Every command up to this one was sent (or skipped by `--resume-from`)
    /// and it ends no partial transaction: the resume point when nothing
    /// sent is still unanswered.
    done_through: u64,
    skip_invalid: bool,
    max_errors: Option<u64>,
    /// Invalid commands skipped.
    invalid: u64,
    pub(crate) stopped_by_pipe: bool,
    /// The transaction still open in the input.
    open_block: Option<OpenBlock>,
    /// The `MULTI` of a transaction rload discarded because the load
    /// stopped inside it.
    pub(crate) discarded: Option<Position>,
    /// The last `SELECT` among skipped commands, to send before resuming.
    skipped_select: Option<(Vec<u8>, CmdMeta, u32)>,
}

impl Feeder {
    pub(crate) fn new(config: &Config, names: Arc<[String]>, events: Arc<dyn Events>) -> Self {
        Feeder {
            names,
            events,
            seq: 0,
            resume_from: config.resume_from,
            done_through: config.resume_from,
            skip_invalid: config.skip_invalid,
            max_errors: config.max_errors,
            invalid: 0,
            stopped_by_pipe: false,
            open_block: None,
            discarded: None,
            skipped_select: None,
        }
    }

    /// Feeds the whole input to `sink`: why it stopped early, if it did, and
    /// whether all of it was sent. A transaction left open, at the end of
    /// the input or by a stop inside it, is discarded.
    pub(crate) fn run(
        &mut self,
        reader: &mut InputReader,
        sink: &mut dyn Sink,
    ) -> (Option<Stop>, bool) {
        let fed = self.feed_all(reader, sink);
        self.stopped_by_pipe = matches!(fed, Err(FeedStop::Pipe));
        if fed.is_ok() && self.seq < self.resume_from {
            self.events.notice(&format!(
                "--resume-from {} is past the end of the input, which holds {}: nothing was sent",
                self.resume_from,
                crate::report::count(self.seq, "command")
            ));
        }
        let stop = match fed {
            Ok(()) => self
                .open_block
                .filter(|b| b.seq > self.resume_from)
                .map(|b| Stop::Input(self.invalid_input(b.pos, InvalidKind::OpenTransaction))),
            Err(FeedStop::Input(e)) => Some(Stop::Input(e)),
            Err(FeedStop::MaxErrors(n)) => Some(Stop::MaxErrors(n)),
            Err(FeedStop::Pipe) => None,
        };
        if !self.stopped_by_pipe {
            self.discard_open_block(sink);
        }
        let all_sent = stop.is_none() && !self.stopped_by_pipe;
        (stop, all_sent)
    }

    fn feed_all(&mut self, reader: &mut InputReader, pipe: &mut dyn Sink) -> Result<(), FeedStop> {
        loop {
            if let Some(max) = self.max_errors
                && pipe.errors() + self.invalid >= max
            {
                return Err(FeedStop::MaxErrors(max));
            }
            let cmd = match reader.next_buffered() {
                Ok(Next::Command(cmd)) => cmd,
                Ok(Next::NeedInput) => {
                    // The read may block on a slow producer: send what we have.
                    pipe.flush()?;
                    if let Err(e) = reader.read_more() {
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
            let watch = match classify(&cmd.args) {
                Ok(w) => w,
                Err(why) => {
                    let e = self.invalid_input(cmd.pos, InvalidKind::Refused(why));
                    self.skip_or_stop(e)?;
                    continue;
                }
            };
            self.seq += 1;
            let open_before = self.open_block;
            match watch {
                Some(Watch::Multi) if self.open_block.is_none() => {
                    self.open_block = Some(OpenBlock {
                        seq: self.seq,
                        pos: cmd.pos,
                    })
                }
                Some(Watch::EndMulti | Watch::Reset) => self.open_block = None,
                _ => {}
            }
            if self.seq <= self.resume_from {
                self.skip(&cmd, watch);
                continue;
            }
            if self.seq == self.resume_from + 1 {
                self.start_resumed(open_before, pipe)?;
            }
            pipe.push(&cmd, self.seq, watch)?;
            if self.open_block.is_none() {
                self.done_through = self.seq;
            }
        }
    }

    /// With `--skip-invalid`, reports and counts an invalid command and
    /// carries on; otherwise stops.
    fn skip_or_stop(&mut self, e: InputError) -> Result<(), FeedStop> {
        match e {
            InputError::Invalid { at, kind } if self.skip_invalid => {
                self.events.invalid_command(&at, &kind.to_string());
                self.invalid += 1;
                Ok(())
            }
            e => Err(FeedStop::Input(e)),
        }
    }

    /// Remembers what a skipped command would have changed.
    fn skip(&mut self, cmd: &Command<'_>, watch: Option<Watch>) {
        match watch {
            Some(Watch::Select(db)) => {
                let mut bytes = Vec::new();
                encode_command(&mut bytes, &cmd.args);
                let meta = CmdMeta {
                    seq: self.seq,
                    line: cmd.pos.line,
                    source: cmd.pos.source,
                    end: 0,
                };
                self.skipped_select = Some((bytes, meta, db));
            }
            Some(Watch::Reset) => self.skipped_select = None,
            _ => {}
        }
    }

    /// At the first command after `--resume-from`: refuse to start inside a
    /// transaction (`open_before` is the one open before this command), and
    /// send the database selection the skipped part made.
    fn start_resumed(
        &mut self,
        open_before: Option<OpenBlock>,
        pipe: &mut dyn Sink,
    ) -> Result<(), FeedStop> {
        if self.resume_from == 0 {
            return Ok(());
        }
        if let Some(block) = open_before {
            // The block must be sent whole: resuming before its MULTI does.
            self.done_through = block.seq - 1;
            self.open_block = None;
            let why = format!(
                "--resume-from {} falls inside the transaction that starts with this MULTI (command {}); resume from {} instead",
                self.resume_from, block.seq, self.done_through
            );
            return Err(FeedStop::Input(
                self.invalid_input(block.pos, InvalidKind::Refused(why)),
            ));
        }
        if let Some((bytes, meta, db)) = self.skipped_select.take() {
            pipe.push_encoded(&bytes, meta, Some(Watch::Select(db)))?;
        }
        Ok(())
    }

    /// Discards a transaction the input left open (at its end, or because
    /// the load stopped inside it): the server would drop it with the
    /// connection anyway, and the closing ECHO must not be queued into it.
    fn discard_open_block(&mut self, sink: &mut dyn Sink) {
        let Some(block) = self.open_block.take() else {
            return;
        };
        if block.seq <= self.resume_from {
            return;
        }
        let meta = CmdMeta {
            seq: 0,
            line: block.pos.line,
            source: block.pos.source,
            end: 0,
        };
        self.discarded = Some(block.pos);
        let _ = sink.abandon_transaction(meta);
    }

    /// The resume point when nothing sent is left unanswered.
    pub(crate) fn done_through(&self) -> u64 {
        self.done_through
    }

    fn invalid_input(&self, pos: Position, kind: InvalidKind) -> InputError {
        InputError::Invalid {
            at: location(&self.names, pos),
            kind,
        }
    }
}

/// The printable location of a position in one of the inputs `names`.
pub(crate) fn location(names: &[String], pos: Position) -> Location {
    Location {
        name: names.get(pos.source as usize).cloned().unwrap_or_default(),
        line: pos.line,
        offset: pos.offset,
    }
}

/// The account of a load over one pipe or several: counts summed, the
/// first pipe's stop reported, and a resume point before the oldest command
/// any pipe left unacknowledged.
pub(crate) fn summarize(
    pipes: Vec<(Arc<Shared>, PipeOutcome)>,
    stop: Option<Stop>,
    feeder: &Feeder,
    all_sent: bool,
    local_errors: u64,
) -> Summary {
    let pipe_stop = pipes.iter().find_map(|(shared, o)| {
        let addr = shared.addr.clone();
        match o.stop.clone()? {
            PipeStop::Timeout(t) => Some(Stop::Timeout(t)),
            PipeStop::Lost(reason) => Some(Stop::ConnectionLost { addr, reason }),
            PipeStop::Protocol(reason) => Some(Stop::Protocol { addr, reason }),
        }
    });
    let stop = pipe_stop.or(stop);
    let timeouts = u64::from(matches!(stop, Some(Stop::Timeout(_))));
    let first_pending = pipes
        .iter()
        .filter_map(|(_, o)| o.first_pending.filter(|m| m.seq > 0))
        .map(|m| m.seq)
        .min();
    let last = pipes
        .iter()
        .filter_map(|(s, o)| o.commit.last.filter(|m| m.seq > 0).map(|m| (m, s)))
        .max_by_key(|(m, _)| m.seq)
        .map(|(m, s)| Acknowledged {
            seq: m.seq,
            at: s.location(&m),
        });
    let nodes = if pipes.len() > 1 || local_errors > 0 {
        pipes
            .iter()
            .map(|(s, o)| NodeSummary {
                addr: s.addr.clone(),
                replies: o.replies,
                errors: o.errors,
                redirects: s.redirects.load(Ordering::Relaxed),
            })
            .collect()
    } else {
        Vec::new()
    };
    Summary {
        replies: pipes.iter().map(|(_, o)| o.replies).sum(),
        errors: pipes.iter().map(|(_, o)| o.errors).sum::<u64>()
            + timeouts
            + feeder.invalid
            + local_errors,
        invalid: feeder.invalid,
        acknowledged: pipes.iter().map(|(_, o)| o.commit.count).sum(),
        last_acknowledged: last,
        resume_from: first_pending.map_or(feeder.done_through(), |seq| {
            (seq - 1).min(feeder.done_through())
        }),
        discarded: feeder.discarded.map(|pos| location(&feeder.names, pos)),
        all_sent,
        stop,
        nodes,
    }
}
