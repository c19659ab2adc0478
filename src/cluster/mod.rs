//! Cluster mode (`-c`): one pipe per master, each command routed by its
//! keys' slot, MOVED and ASK followed, and one account for the whole load.
//!
//! - `keys`: which arguments are keys, from the server's `COMMAND` table.
//! - `topology`: which master owns each slot, from `CLUSTER SLOTS`.
//! - `redirect`: the replies that send a command elsewhere, on their way
//!   back from a pipe to the router.
//! - `router`: the load's sink in a cluster: the
//!   routing, the redirects, per-slot order, and failovers.

mod keys;
mod redirect;
mod router;
mod topology;

use std::sync::Arc;

use crate::config::{Config, Endpoint, Handles};
use crate::conn::{self, MergeRules, Patience};
use crate::error::{ConnectError, Error};
use crate::input::Limits;
use crate::report::Events;
use crate::resp::Value;

pub(crate) use crate::slot::SLOTS;
pub use crate::slot::key_slot;
pub(crate) use redirect::RedirectKind;

/// A master's host and port, and the slots it owns.
pub(crate) type MasterSlots = ((String, u16), Vec<u16>);

/// The masters a `CLUSTER SLOTS` reply names, each with the slots it
/// owns; an empty host means `seed_host`.
///
/// # Errors
///
/// A reply that does not describe slot ranges.
pub(crate) fn topology_of(reply: Value, seed_host: &str) -> Result<Vec<MasterSlots>, String> {
    let topology = topology::Topology::from_slots(reply, seed_host)?;
    let mut out: Vec<MasterSlots> = topology
        .masters
        .into_iter()
        .map(|m| (m, Vec::new()))
        .collect();
    for (slot, &owner) in topology.owner.iter().enumerate() {
        if owner != topology::UNOWNED {
            out[owner as usize].1.push(slot as u16);
        }
    }
    Ok(out)
}

/// A cluster, learned from one of its nodes: its layout, its command table,
/// and what it accepts. [`Seed::start`] connects to every master.
pub(crate) struct Seed {
    /// What is left of `--wait`, for the masters.
    patience: Patience,
    config: Config,
    handles: Handles,
    names: Arc<[String]>,
    events: Arc<dyn Events>,
    topology: topology::Topology,
    table: keys::CommandTable,
    limits: Limits,
    merge_rules: MergeRules,
}

impl Seed {
    /// Reads the cluster's layout and command table from the node that
    /// `config.server` names.
    ///
    /// # Errors
    ///
    /// The node cannot be reached, or is not in cluster mode.
    pub(crate) fn connect(
        config: &Config,
        handles: &Handles,
        names: &Arc<[String]>,
        events: &Arc<dyn Events>,
        patience: &Patience,
    ) -> Result<Self, Error> {
        let Endpoint::Tcp { host, .. } = &config.server.endpoint else {
            return Err(Error::Config(
                "cluster mode needs a TCP address (-h and -p), not a unix socket".into(),
            ));
        };
        let mut node = conn::connect_when_ready(&config.server, patience, conn::cluster_state)?;
        let addr = node.addr().to_string();
        let bad_reply = |command, reply| {
            Error::from(ConnectError::Setup {
                addr: addr.clone(),
                command,
                reply,
            })
        };
        let slots = match node.call("CLUSTER SLOTS", &[b"CLUSTER", b"SLOTS"])? {
            Value::Error(e) => {
                return Err(bad_reply(
                    "CLUSTER SLOTS",
                    format!("{e} (-c needs a node of a Redis Cluster)"),
                ));
            }
            v => v,
        };
        let topology = topology::Topology::from_slots(slots, host)
            .map_err(|e| bad_reply("CLUSTER SLOTS", e))?;
        let table = match node.call("COMMAND", &[b"COMMAND"])? {
            Value::Error(e) => return Err(bad_reply("COMMAND", e)),
            v => keys::CommandTable::from_reply(v).map_err(|e| bad_reply("COMMAND", e))?,
        };
        let limits = Limits {
            // A cluster has one database: SELECT 0 is all that works.
            databases: 1,
            ..node.limits()?
        };
        let merge_rules = match config.coalesce {
            true => MergeRules::read(&mut node, config.server.user.as_deref())?,
            false => MergeRules::WHOLE,
        };
        Ok(Seed {
            patience: patience.clone(),
            config: config.clone(),
            handles: handles.clone(),
            names: Arc::clone(names),
            events: Arc::clone(events),
            topology,
            table,
            limits,
            merge_rules,
        })
    }

    /// What the cluster accepts.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// What `--coalesce` may merge for the load's user, as the seed node
    /// said.
    pub(crate) fn merge_rules(&self) -> MergeRules {
        self.merge_rules
    }

    /// Connects to every master: the load's sink.
    ///
    /// # Errors
    ///
    /// A master that cannot be connected to.
    pub(crate) fn start(self) -> Result<router::Router, Error> {
        Ok(router::Router::start(
            &self.config,
            &self.handles,
            &self.patience,
            self.topology,
            self.table,
            self.names,
            self.events,
        )?)
    }
}
