//! The driver: every load runs the same steps, whatever it loads into.
//!
//! 1. Open the input and connect ([`target`]: one server, or a cluster's
//!    nodes), reading the server's limits.
//! 2. Skip to `--resume-from` ([`resume`]), finding the database to resume
//!    in.
//! 3. Start the sink (one pipe, or the cluster's router) and feed it the
//!    input ([`feeder`]).
//! 4. Finish the sink, and turn its account and the feeder's into the
//!    [`Summary`] ([`account`]).

mod account;
mod feeder;
mod resume;
mod target;

use std::sync::Arc;
use std::time::Instant;

pub(crate) use feeder::{Fed, Feeder};
pub(crate) use target::Target;

use crate::coalesce::Coalescer;
use crate::config::Config;
use crate::error::Error;
use crate::input::rdb::starts_an_rdb;
use crate::input::{CommandSource, Input, InputReader, Inputs, RdbSource};
use crate::records::{RecordError, RecordSource};
use crate::report::{Bounded, Events, Summary};

/// Loads `inputs` into the server `config` names, reporting as it goes to
/// `events`, and returns the account of what happened.
///
/// A load that starts always returns a [`Summary`], even when it stops early
/// (bad input, a lost connection, a timeout, a signal): the summary says
/// why, and exactly what the server acknowledged.
///
/// # Errors
///
/// Failures before anything is sent: an input that cannot be opened, or a
/// server that cannot be reached, logged in to, or selected.
pub fn run(config: &Config, inputs: &[Input], events: Arc<dyn Events>) -> Result<Summary, Error> {
    let started = Instant::now();
    let sizes: Option<Vec<u64>> = inputs.iter().map(Input::size).collect();
    config.meter.set_total(sizes.map_or(0, |s| s.iter().sum()));
    // --max-errors bounds the error lines printed as well.
    let bounded = config
        .max_errors
        .map(|n| Arc::new(Bounded::new(Arc::clone(&events), n)));
    let events = match &bounded {
        Some(b) => Arc::clone(b) as Arc<dyn Events>,
        None => events,
    };
    let summary = match &config.records {
        None => {
            let mut inputs = Inputs::open(inputs)?;
            inputs.watch(config.interrupt.clone(), config.meter.clone());
            if config.rdb || starts_an_rdb(&mut inputs)? {
                // A cluster has one database; -n N puts every one into N.
                let select = !config.cluster && config.server.db == 0;
                let mut source = RdbSource::new(inputs, select);
                load(config, &mut source, events, started)
            } else {
                load(config, &mut InputReader::new(inputs), events, started)
            }
        }
        Some(options) => {
            let mut source = RecordSource::open(inputs, options).map_err(|e| match e {
                RecordError::Input(e) => Error::Input(e),
                other => Error::Config(other.to_string()),
            })?;
            load(config, &mut source, events, started)
        }
    };
    if let Some(b) = bounded {
        b.tell_hidden();
    }
    summary
}

/// Loads the commands of `source`; see [`run`].
fn load<S: CommandSource + ?Sized>(
    config: &Config,
    source: &mut S,
    events: Arc<dyn Events>,
    started: Instant,
) -> Result<Summary, Error> {
    source.watch(config.interrupt.clone(), config.meter.clone());
    source.check()?;
    let names: Arc<[String]> = source.names().into();
    let target = Target::connect(config, &names, &events)?;
    load_into(config, source, events, started, target)
}

/// Loads the commands of `source` into `target`, connected already (an
/// embedding program connects first, to fail before it feeds anything).
pub(crate) fn load_into<S: CommandSource + ?Sized>(
    config: &Config,
    source: &mut S,
    events: Arc<dyn Events>,
    started: Instant,
    mut target: Target,
) -> Result<Summary, Error> {
    let names: Arc<[String]> = source.names().into();
    let limits = target.limits();
    source.set_limits(&limits);
    let mut feeder = Feeder::new(config, Arc::clone(&names), Arc::clone(&events), limits);
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
    let mut sink = target.start(config, &names, &events, db)?;
    if let Some(rules) = rules {
        sink = Box::new(Coalescer::new(sink, config.cluster, rules));
    }
    let fed = feeder.run(source, &mut *sink);
    let announced = fed.all_read;
    let finished = sink.finish(!fed.sink_stopped, announced);
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
