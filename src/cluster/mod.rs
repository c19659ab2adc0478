//! Cluster mode (`-c`): one pipe per master, each command routed by its
//! keys' slot, MOVED and ASK followed, and one account for the whole load.
//!
//! - `slot`: CRC16 hash slots and `{hash tags}`.
//! - `keys`: which arguments are keys, from the server's `COMMAND` table.
//! - `topology`: which master owns each slot, from `CLUSTER SLOTS`.
//! - `router`: the routing, the redirects, and per-slot order.

mod keys;
mod router;
mod slot;
mod topology;

use std::sync::Arc;

use crate::config::{Config, Endpoint};
use crate::conn;
use crate::error::{ConnectError, Error};
use crate::input::InputReader;
use crate::load::{Feeder, summarize};
use crate::report::{Events, Stop, Summary};
use crate::resp::Value;

pub(crate) use router::LocalAccount;
pub use slot::key_slot;

/// Loads the input into the cluster that `config.server` is a node of.
///
/// # Errors
///
/// Failures before anything is sent: the node cannot be reached, is not in
/// cluster mode, or a master cannot be connected to.
pub(crate) fn run(
    config: &Config,
    reader: &mut InputReader,
    names: Arc<[String]>,
    events: Arc<dyn Events>,
) -> Result<Summary, Error> {
    let Endpoint::Tcp { host, .. } = &config.server.endpoint else {
        return Err(Error::Config(
            "cluster mode needs a TCP address (-h and -p), not a unix socket".into(),
        ));
    };
    let mut seed = conn::connect(&config.server)?;
    let addr = seed.addr().to_string();
    let slots = match seed.request(&[b"CLUSTER", b"SLOTS"]) {
        Ok(Value::Error(e)) => {
            let reply = format!("{e} (-c needs a node of a Redis Cluster)");
            return Err(ConnectError::Setup {
                addr,
                command: "CLUSTER SLOTS",
                reply,
            }
            .into());
        }
        Ok(v) => v,
        Err(e) => return Err(ConnectError::io(&addr, e).into()),
    };
    let bad_reply = |command, reply| {
        Error::from(ConnectError::Setup {
            addr: addr.clone(),
            command,
            reply,
        })
    };
    let topology =
        topology::Topology::from_slots(slots, host).map_err(|e| bad_reply("CLUSTER SLOTS", e))?;
    let table = match seed.request(&[b"COMMAND"]) {
        Ok(Value::Error(e)) => return Err(bad_reply("COMMAND", e)),
        Ok(v) => keys::CommandTable::from_reply(v).map_err(|e| bad_reply("COMMAND", e))?,
        Err(e) => return Err(ConnectError::io(&addr, e).into()),
    };
    let limits = seed.limits()?;
    drop(seed);

    let mut router = router::Router::start(
        config,
        topology,
        table,
        Arc::clone(&names),
        Arc::clone(&events),
    )?;
    reader.set_max_bulk(limits.max_bulk);
    // A cluster has one database: SELECT 0 is all that works.
    let limits = crate::conn::Limits {
        databases: 1,
        ..limits
    };
    let mut feeder = Feeder::new(config, names, Arc::clone(&events), limits);
    feeder.skip_to_resume_point(reader, None)?;
    let (stop, read_all) = feeder.run(reader, &mut router);
    let (pipes, closed, mut local) = router.finish(!feeder.stopped_by_pipe);
    let failure = local.failure.take();
    let sent_all = read_all && closed;
    if sent_all {
        events.all_sent();
    }
    let mut summary = summarize(pipes, stop, &feeder, sent_all, local);
    if let (None, Some(f)) = (&summary.stop, failure) {
        summary.stop = Some(Stop::ConnectionLost {
            addr: f.addr,
            reason: f.reason,
        });
    }
    if summary.stop.is_none() && sent_all {
        events.last_reply();
    }
    Ok(summary)
}
