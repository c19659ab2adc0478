//! The driver: every load runs the same steps, whatever it loads into.
//!
//! 1. Open the input and connect (`target`: one server, or a cluster's
//!    nodes), reading the server's limits.
//! 2. Skip to `--resume-from` (`resume`), finding the database to resume
//!    in.
//! 3. Start the sink (one pipe, or the cluster's router) and feed it the
//!    input (`feeder`).
//! 4. Finish the sink, and turn its account and the feeder's into the
//!    [`Summary`] (`account`).

mod account;
mod feeder;
mod resume;
mod target;

use std::sync::Arc;
use std::time::Instant;

pub(crate) use feeder::{Fed, Feeder};
pub(crate) use target::Target;

use crate::coalesce::Coalescer;
use crate::config::{Config, Handles};
use crate::emit::EmitFormat;
use crate::error::Error;
use crate::input::{CommandSource, Input, InputReader, Inputs};
use crate::rdb::{RdbSource, starts_an_rdb};
use crate::records::{RecordError, RecordOptions, RecordSource};
use crate::report::{Bounded, Events, Summary};
use crate::sink::Closing;

/// What a load reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum InputKind {
    /// Commands: inline lines and RESP (an RDB file among the inputs is
    /// recognised by its first bytes, and read as one).
    #[default]
    Commands,
    /// RDB files, whatever their first bytes say (`--format rdb`).
    Rdb,
    /// Records rendered by templates into commands.
    Records(RecordOptions),
}

/// Where a load's commands go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Destination {
    /// The server (or the cluster) the [`Config`] names.
    #[default]
    Server,
    /// Standard output, written as the format says (`--emit`).
    Emit(EmitFormat),
}

/// A load's own options: what it reads, and where its commands go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// What the inputs are read as.
    pub input: InputKind,
    /// Where the commands go.
    pub to: Destination,
}

/// Loads `inputs` as `options` say into the server `config` names (or
/// writes their commands out), reporting as it goes to `events`, and
/// returns the account of what happened. `handles` can stop it early, and
/// count it as it goes.
///
/// A load that starts always returns a [`Summary`], even when it stops early
/// (bad input, a lost connection, a timeout, a signal): the summary says
/// why, and exactly what the server acknowledged.
///
/// # Errors
///
/// Failures before anything is sent: an input that cannot be opened, or a
/// server that cannot be reached, logged in to, or selected.
pub fn run(
    config: &Config,
    handles: &Handles,
    options: &LoadOptions,
    inputs: &[Input],
    events: Arc<dyn Events>,
) -> Result<Summary, Error> {
    let started = Instant::now();
    let sizes: Option<Vec<u64>> = inputs.iter().map(Input::size).collect();
    handles.meter.set_total(sizes.map_or(0, |s| s.iter().sum()));
    // --max-errors bounds the error lines printed as well.
    let bounded = config
        .max_errors
        .map(|n| Arc::new(Bounded::new(Arc::clone(&events), n)));
    let events = match &bounded {
        Some(b) => Arc::clone(b) as Arc<dyn Events>,
        None => events,
    };
    let run = Run {
        config,
        handles,
        to: options.to,
        events,
        started,
    };
    let summary = match &options.input {
        InputKind::Commands | InputKind::Rdb => {
            let mut inputs = Inputs::open(inputs)?;
            inputs.watch(handles.interrupt.clone(), handles.meter.clone());
            if options.input == InputKind::Rdb || starts_an_rdb(&mut inputs)? {
                // A cluster has one database; -n N puts every one into N.
                let select = !config.cluster && config.server.db == 0;
                run.load(&mut RdbSource::new(inputs, select))
            } else {
                run.load(&mut InputReader::new(inputs))
            }
        }
        InputKind::Records(records) => {
            let mut source = RecordSource::open(inputs, records).map_err(|e| match e {
                RecordError::Input(e) => Error::Input(e),
                other => Error::Config(other.to_string()),
            })?;
            run.load(&mut source)
        }
    };
    if let Some(b) = bounded {
        b.tell_hidden();
    }
    summary
}

/// One load's settings, handles and reporting, as the driver's steps take
/// them.
pub(crate) struct Run<'a> {
    pub config: &'a Config,
    pub handles: &'a Handles,
    pub to: Destination,
    pub events: Arc<dyn Events>,
    pub started: Instant,
}

impl Run<'_> {
    /// Loads the commands of `source`; see [`run`].
    fn load<S: CommandSource + ?Sized>(&self, source: &mut S) -> Result<Summary, Error> {
        source.watch(self.handles.interrupt.clone(), self.handles.meter.clone());
        source.check()?;
        let names: Arc<[String]> = source.names().into();
        let target = Target::connect(self, &names)?;
        self.load_into(source, target)
    }

    /// Loads the commands of `source` into `target`, connected already (an
    /// embedding program connects first, to fail before it feeds anything).
    pub(crate) fn load_into<S: CommandSource + ?Sized>(
        &self,
        source: &mut S,
        mut target: Target,
    ) -> Result<Summary, Error> {
        let Run {
            config,
            handles,
            events,
            started,
            ..
        } = self;
        let config = *config;
        let names: Arc<[String]> = source.names().into();
        let limits = target.limits();
        source.set_limits(&limits);
        let mut feeder = Feeder::new(
            config,
            handles,
            Arc::clone(&names),
            Arc::clone(events),
            limits,
        );
        feeder.emit = target.is_emit();
        let db = feeder.skip_to_resume_point(source, target.probe())?;
        // Those in the part skipped were counted by the run that sent it.
        let empty_before = source.empty_spreads();
        if config.resume_from == 0 {
            // Standard input's first chunk, looked at before the load starts:
            // input that is no commands stops it with nothing sent.
            source.prime()?;
        }
        let rules = match config.coalesce {
            true => Some(target.merge_rules(config)?),
            false => None,
        };
        let mut sink = target.start(self, &names, db)?;
        if let Some(rules) = rules {
            sink = Box::new(Coalescer::new(sink, config.cluster, rules));
        }
        let fed = feeder.run(source, &mut *sink);
        let announced = fed.all_read;
        let closing = match (fed.sink_stopped, announced) {
            (true, _) => Closing::Abandon,
            (false, false) => Closing::Close,
            (false, true) => Closing::CloseAllSent,
        };
        let finished = sink.finish(closing);
        let mut summary = account::summarize(finished, fed, &feeder, started.elapsed());
        summary.empty_spreads = source.empty_spreads() - empty_before;
        if summary.stop.is_none() && summary.all_sent && !summary.emitted {
            if !announced {
                // The transaction the input ended inside was none: the server
                // refused its MULTI.
                events.all_sent();
            }
            events.last_reply();
        }
        Ok(summary)
    }
}
