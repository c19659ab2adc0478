//! Following a failover (`-c --reconnect N`): when a master's connection is
//! lost, the router takes back what it had not acknowledged, asks the other
//! nodes for the slot map until the lost master's slots are served again
//! (by a promoted replica, or by the master back from a restart), and sends
//! the commands taken back to their slots' new masters, in order, before any
//! newer command for those slots.

use std::thread;
use std::time::Duration;

use super::super::topology::{Topology, UNOWNED};
use super::block::Block;
use super::{Payload, Router};
use crate::command::Stopped;
use crate::config::Endpoint;
use crate::conn;
use crate::input::{ArgBuf, frame_args};
use crate::pipe::SentCommand;
use crate::report::Stop;
use crate::report::count;
use crate::resp::Value;

/// The first wait before asking for the slot map again; it doubles after
/// each try, up to [`MAX_WAIT`], for at most `--reconnect` tries.
const FIRST_WAIT: Duration = Duration::from_millis(100);
const MAX_WAIT: Duration = Duration::from_secs(5);

/// How long each node asked for the slot map may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

impl Router {
    /// Master `dead` is gone: takes back its unacknowledged commands, finds
    /// its slots' new masters, and sends the commands there.
    pub(super) fn fail_over(&mut self, dead: u16, reason: &str) -> Result<(), Stopped> {
        let addr = self.members[usize::from(dead)].pipe.shared().addr.clone();
        self.members[usize::from(dead)].alive = false;
        let Some(cmds) = self.members[usize::from(dead)].pipe.take_back() else {
            self.local.failure = Some(Stop::ConnectionLost {
                addr,
                reason: format!(
                    "{reason}; a transaction too large to keep was in flight, so the load cannot go on elsewhere"
                ),
            });
            return Err(Stopped);
        };
        self.stranded = cmds.iter().map(|c| c.meta.seq).min();
        self.events.notice(&format!(
            "connection to {addr} lost ({reason}); asking the cluster which master serves its slots now"
        ));
        let orphaned: Vec<usize> = (0..self.owner.len())
            .filter(|&s| self.owner[s] == dead)
            .collect();
        let topo = self.refresh_topology(&addr, reason)?;
        self.apply_topology(topo)?;
        let mut heirs: Vec<u16> = orphaned.iter().map(|&s| self.owner[s]).collect();
        heirs.sort_unstable();
        heirs.dedup();
        heirs.retain(|&m| m != UNOWNED);
        let names: Vec<String> = heirs
            .iter()
            .map(|&m| self.members[usize::from(m)].pipe.shared().addr.clone())
            .collect();
        let what = match cmds.len() {
            0 => format!("{addr} had no command left unacknowledged"),
            n => format!(
                "sending it the {} {addr} had not acknowledged",
                count(n as u64, "command")
            ),
        };
        self.events.notice(&format!(
            "{addr}'s slots are served by {}; {what}",
            names.join(", ")
        ));
        self.resend(cmds, &heirs)?;
        self.stranded = None;
        Ok(())
    }

    /// Asks the cluster's nodes for the slot map until none of the lost
    /// master's slots is left with it, or it answers again.
    fn refresh_topology(&mut self, dead: &str, reason: &str) -> Result<Topology, Stopped> {
        let mut wait = FIRST_WAIT;
        for _ in 0..self.config.reconnect {
            if self.handles.interrupt.requested().is_some() {
                break;
            }
            thread::sleep(wait);
            wait = (wait * 2).min(MAX_WAIT);
            let mut nodes: Vec<(String, u16)> = self
                .alive()
                .map(|m| {
                    let m = &self.members[usize::from(m)];
                    (m.host.clone(), m.port)
                })
                .collect();
            // Last, the lost master itself: it may be back.
            nodes.extend(self.lost_addresses());
            for (host, port) in nodes {
                if let Some(topo) = self.ask_slots(&host, port)
                    && self.serves_again(&topo, dead)
                {
                    return Ok(topo);
                }
            }
        }
        self.local.failure = Some(Stop::ConnectionLost {
            addr: dead.to_string(),
            reason: format!(
                "{reason}, and no node of the cluster served its slots again within {}",
                count(u64::from(self.config.reconnect), "try")
            ),
        });
        Err(Stopped)
    }

    fn lost_addresses(&self) -> Vec<(String, u16)> {
        self.members
            .iter()
            .filter(|m| !m.alive)
            .map(|m| (m.host.clone(), m.port))
            .collect()
    }

    /// `CLUSTER SLOTS` from one node, if it answers.
    fn ask_slots(&self, host: &str, port: u16) -> Option<Topology> {
        let mut server = self.config.server.clone();
        server.endpoint = Endpoint::Tcp {
            host: host.to_string(),
            port,
        };
        server.connect_timeout = Some(
            server
                .connect_timeout
                .map_or(ASK_TIMEOUT, |t| t.min(ASK_TIMEOUT)),
        );
        let mut c = conn::connect(&server).ok()?;
        match c.request(&[b"CLUSTER", b"SLOTS"]).ok()? {
            Value::Error(_) => None,
            v => Topology::from_slots(v, host).ok(),
        }
    }

    /// Whether `topo` serves every slot again: it names the lost master
    /// nowhere, or the lost master answers again.
    fn serves_again(&self, topo: &Topology, dead: &str) -> bool {
        let names_dead = topo.masters.iter().any(|(h, p)| {
            Endpoint::Tcp {
                host: h.clone(),
                port: *p,
            }
            .to_string()
                == dead
        });
        let covered =
            (0..self.owner.len()).all(|s| self.owner[s] == UNOWNED || topo.owner[s] != UNOWNED);
        covered && (!names_dead || self.ask_slots_of(dead))
    }

    fn ask_slots_of(&self, addr: &str) -> bool {
        let Some((host, port)) = addr.rsplit_once(':') else {
            return false;
        };
        let host = host.trim_matches(['[', ']']);
        port.parse()
            .ok()
            .and_then(|p| self.ask_slots(host, p))
            .is_some()
    }

    /// Routes by `topo` from now on, connecting to masters new to it.
    fn apply_topology(&mut self, topo: Topology) -> Result<(), Stopped> {
        let mut index = Vec::with_capacity(topo.masters.len());
        for (host, port) in topo.masters {
            index.push(self.member(host, port)?);
        }
        for (slot, owner) in topo.owner.into_iter().enumerate() {
            self.owner[slot] = match owner {
                UNOWNED => UNOWNED,
                i => index[usize::from(i)],
            };
        }
        // Nothing is left to wait for at a lost master.
        let members = &self.members;
        self.draining
            .retain(|_, (old, _)| members[usize::from(*old)].alive);
        Ok(())
    }

    /// Sends commands taken back (or retried) to their slots' masters, in
    /// order, transactions whole. A command that went to every master goes
    /// to `heirs`, the masters that took over the lost one's slots.
    pub(super) fn resend(&mut self, cmds: Vec<SentCommand>, heirs: &[u16]) -> Result<(), Stopped> {
        // A transaction the input is in the middle of waits, apart.
        let input_block = self.block.take();
        let mut buf = ArgBuf::default();
        for c in cmds {
            let Some(args) = frame_args(&c.bytes, &mut buf) else {
                continue;
            };
            self.route_and_send(&args, Payload::Sent(&c), Some(heirs))?;
        }
        // A transaction taken back is always whole.
        debug_assert!(
            self.block
                .as_ref()
                .is_none_or(|b: &Block| b.cmds.is_empty())
        );
        self.block = input_block;
        Ok(())
    }
}
