//! The load itself: reads the input, sends every command down one pipe, and
//! turns the pipe's outcome into a [`Summary`].

use std::sync::Arc;
use std::sync::atomic::Ordering;

mod feeder;
mod resume;

pub(crate) use feeder::Feeder;

use crate::cluster::LocalAccount;
use crate::config::{Config, ServerConfig};
use crate::conn;
use crate::error::{ConnectError, Error};
use crate::input::{Command, Input, InputReader, Location};
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
    reader.set_interrupt(config.interrupt.clone());
    let names: Arc<[String]> = reader.names().into();
    if config.cluster {
        return crate::cluster::run(config, &mut reader, names, events);
    }
    let mut conn = conn::connect(&config.server)?;
    let limits = conn.limits()?;
    reader.set_max_bulk(limits.max_bulk);
    let mut feeder = Feeder::new(config, names.clone(), Arc::clone(&events), limits);
    let mut server = config.server.clone();
    if let Some(db) = feeder.skip_to_resume_point(&mut reader, Some(&mut conn))? {
        // The database the skipped part left selected; rload's own SELECT,
        // so not a reply of the load's.
        if db != server.db {
            conn.select(db)?;
            server.db = db;
        }
    }
    let addr = conn.addr().to_string();
    let shared = Arc::new(Shared::new(
        &addr,
        names,
        Arc::clone(&events),
        config.interrupt.clone(),
    ));
    let mut pipe = Pipe::start(conn, Arc::clone(&shared), pipe_options(config, &server))
        .map_err(|e| ConnectError::io(&addr, e))?;

    let (stop, sent_all) = feeder.run(&mut reader, &mut pipe);
    let outcome = pipe.finish(!feeder.stopped_by_pipe, || {
        if sent_all {
            events.all_sent();
        }
    });
    if sent_all && outcome.stop.is_none() {
        events.last_reply();
    }
    Ok(summarize(
        vec![(shared, outcome)],
        stop,
        &feeder,
        sent_all,
        LocalAccount::default(),
    ))
}

/// The pipe settings a load's configuration asks for, on `server`.
pub(crate) fn pipe_options(config: &Config, server: &ServerConfig) -> PipeOptions {
    let reconnect = (config.reconnect > 0).then(|| Reconnect {
        server: server.clone(),
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
    /// Sends a command handed over as its own encoded bytes (a huge one,
    /// taken out of the input), without copying them.
    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
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

    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        Pipe::push_owned(self, bytes, meta, watch)
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

/// The account of a load over one pipe or several: counts summed, the
/// first pipe's stop reported, and a resume point before the oldest command
/// any pipe left unacknowledged.
pub(crate) fn summarize(
    pipes: Vec<(Arc<Shared>, PipeOutcome)>,
    stop: Option<Stop>,
    feeder: &Feeder,
    all_sent: bool,
    local: LocalAccount,
) -> Summary {
    let pipe_stop = pipes.iter().find_map(|(shared, o)| {
        let addr = shared.addr.clone();
        match o.stop.clone()? {
            PipeStop::Timeout(t) => Some(Stop::Timeout(t)),
            PipeStop::Lost(reason) => Some(Stop::ConnectionLost { addr, reason }),
            PipeStop::Protocol(reason) => Some(Stop::Protocol { addr, reason }),
            PipeStop::Interrupted => None,
        }
    });
    let undrained = pipes
        .iter()
        .any(|(_, o)| o.stop == Some(PipeStop::Interrupted));
    let interrupted = feeder
        .interrupt
        .requested()
        .filter(|_| undrained || matches!(stop, Some(Stop::Interrupted { .. })))
        .map(|signal| Stop::Interrupted {
            signal,
            drained: !undrained,
        });
    let stop = pipe_stop.or(interrupted).or(stop);
    let timeouts = u64::from(matches!(stop, Some(Stop::Timeout(_))));
    let first_pending = pipes
        .iter()
        .filter_map(|(_, o)| o.first_pending.filter(|m| m.seq > 0))
        .map(|m| m.seq)
        .chain(local.pending)
        .min();
    let last = pipes
        .iter()
        .filter_map(|(s, o)| o.commit.last.filter(|m| m.seq > 0).map(|m| (m, s)))
        .max_by_key(|(m, _)| m.seq)
        .map(|(m, s)| Acknowledged {
            seq: m.seq,
            at: s.location(&m),
        });
    let nodes = if pipes.len() > 1 || local.errors > 0 {
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
        replies: pipes.iter().map(|(_, o)| o.replies).sum::<u64>() + local.replies,
        errors: pipes.iter().map(|(_, o)| o.errors).sum::<u64>()
            + timeouts
            + feeder.invalid
            + local.errors,
        invalid: feeder.invalid,
        acknowledged: pipes.iter().map(|(_, o)| o.commit.count).sum::<u64>() + local.acknowledged,
        last_acknowledged: last,
        resume_from: first_pending.map_or(feeder.done_through(), |seq| {
            (seq - 1).min(feeder.done_through())
        }),
        discarded: feeder.discarded.map(|pos| Location::new(&feeder.names, pos)),
        all_sent,
        stop,
        nodes,
    }
}
