//! The router: sends each command to the pipe of the master that owns its
//! slot, and follows the redirects that come back.
//!
//! Per-key order is kept: a slot's commands always go down one pipe, in input
//! order. When a slot moves (`MOVED`), commands for it already sent to the
//! old master come back redirected, in order; until they all have, new
//! commands for that slot wait, so none overtakes an older one.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod block;
mod failover;
mod follow;
mod sink;

use super::keys::{CommandTable, Lookup};
use super::redirect::{Inbox, Redirect};
use super::topology::{Topology, UNOWNED};
use crate::command::{CmdMeta, Stopped, Watch};
use crate::config::{Config, Endpoint, Handles};
use crate::conn::{self, Patience};
use crate::error::ConnectError;
use crate::input::{Args, Command};
use crate::pipe::{Pipe, PipeOptions, SentCommand, Shared};
use crate::report::{Events, Stop};
use crate::sink::LocalAccount;
use crate::slot::{SLOTS, key_slot};

/// `TRYAGAIN` and `CLUSTERDOWN` are retried this often per command before
/// they count as the error they are.
const MAX_RETRIES: u32 = 8;

/// How often a waiting router looks at its inbox.
const POLL: Duration = Duration::from_millis(10);

/// Commands that go to every master: they act on each node's own data.
const EVERYWHERE: [&str; 9] = [
    "FLUSHALL",
    "FLUSHDB",
    "SELECT",
    "SCRIPT LOAD",
    "SCRIPT FLUSH",
    "FUNCTION LOAD",
    "FUNCTION DELETE",
    "FUNCTION FLUSH",
    "FUNCTION RESTORE",
];

/// The error for a command whose keys are in different slots.
const CROSSSLOT: &str =
    "CROSSSLOT Keys in request don't hash to the same slot (found by rload; not sent)";

/// One master and its pipe.
struct Member {
    host: String,
    port: u16,
    pipe: Pipe,
    /// False once its connection is gone and its commands were taken back:
    /// nothing more goes to it.
    alive: bool,
}

/// Where a command goes.
enum Route {
    Slot(u16),
    /// No keys, and it acts on each node: every master.
    Everywhere,
    /// No keys: any one master will do.
    Anywhere,
    /// Keys in different slots: not sendable.
    CrossSlot,
}

pub(crate) struct Router {
    config: Config,
    handles: Handles,
    names: Arc<[String]>,
    events: Arc<dyn Events>,
    table: CommandTable,
    owner: Vec<u16>,
    members: Vec<Member>,
    inbox: Receiver<Redirect>,
    /// The pipes' way back to the router.
    link: Arc<Inbox>,
    /// Per slot: the member and pushed count of its last command.
    last: Vec<(u16, u64)>,
    /// Slots that moved while commands for them were still at the old
    /// master: (old master, its pushed count to wait for).
    draining: HashMap<u16, (u16, u64)>,
    block: Option<block::Block>,
    /// Redirects and retries so far, by command number.
    attempts: follow::Attempts,
    /// Commands to send again once `retry_at` has passed, in order.
    retry_queue: Vec<(u16, Vec<SentCommand>)>,
    retry_at: Instant,
    /// What the router settled itself: commands refused before sending
    /// (cross-slot), and commands given up on after their retries or
    /// redirects ran out.
    pub(crate) local: LocalAccount,
    /// The oldest command taken back from a lost master and not yet sent
    /// to its new one.
    stranded: Option<u64>,
    lookup: Lookup,
}

impl Router {
    /// Connects to every master of `topo`.
    pub(crate) fn start(
        config: &Config,
        handles: &Handles,
        patience: &Patience,
        topo: Topology,
        table: CommandTable,
        names: Arc<[String]>,
        events: Arc<dyn Events>,
    ) -> Result<Self, ConnectError> {
        let (inbox_tx, inbox) = mpsc::channel();
        let link = Arc::new(Inbox(Mutex::new(inbox_tx)));
        let mut router = Router {
            config: config.clone(),
            handles: handles.clone(),
            names,
            events,
            table,
            owner: topo.owner,
            members: Vec::new(),
            inbox,
            link,
            last: vec![(UNOWNED, 0); SLOTS],
            draining: HashMap::new(),
            block: None,
            attempts: follow::Attempts::default(),
            retry_queue: Vec::new(),
            retry_at: Instant::now(),
            local: LocalAccount::default(),
            stranded: None,
            lookup: Lookup::default(),
        };
        for (host, port) in topo.masters {
            router.connect(host, port, Some(patience))?;
        }
        Ok(router)
    }

    /// Opens a pipe to a master; its index is the member's. At the start,
    /// `patience` is what is left of `--wait`.
    fn connect(
        &mut self,
        host: String,
        port: u16,
        patience: Option<&Patience>,
    ) -> Result<u16, ConnectError> {
        let mut config = self.config.clone();
        config.server.endpoint = Endpoint::Tcp {
            host: host.clone(),
            port,
        };
        let c = match patience {
            Some(p) => conn::connect_when_ready(&config.server, p, conn::cluster_state)?,
            None => conn::connect(&config.server)?,
        };
        let addr = c.addr().to_string();
        let index = self.members.len();
        let shared = Shared::new(
            &addr,
            Arc::clone(&self.names),
            Arc::clone(&self.events),
            &self.handles,
        )
        .linked(
            index,
            Arc::clone(&self.link) as Arc<dyn crate::pipe::HandBack>,
        );
        let pipe = Pipe::start(
            c,
            Arc::new(shared),
            PipeOptions::new(&config, &config.server),
        )
        .map_err(|e| ConnectError::io(&addr, e))?;
        self.members.push(Member {
            host,
            port,
            pipe,
            alive: true,
        });
        Ok(index as u16)
    }

    /// The live member at `host:port`, connecting if it is new to the
    /// router (or came back after its connection was lost).
    fn member(&mut self, host: String, port: u16) -> Result<u16, Stopped> {
        if let Some(i) = self
            .members
            .iter()
            .position(|m| m.alive && m.host == host && m.port == port)
        {
            return Ok(i as u16);
        }
        let addr = crate::config::Endpoint::Tcp {
            host: host.clone(),
            port,
        }
        .to_string();
        self.connect(host, port, None).map_err(|e| {
            self.local.failure = Some(Stop::ConnectionLost {
                addr,
                reason: crate::error::chain(&e),
            });
            Stopped
        })
    }

    /// The live members.
    fn alive(&self) -> impl Iterator<Item = u16> + '_ {
        (0..self.members.len() as u16).filter(|&m| self.members[usize::from(m)].alive)
    }

    /// The first live member, for commands any master can take.
    fn any_member(&self) -> u16 {
        self.alive().next().unwrap_or(0)
    }

    fn route(&mut self, args: &Args<'_>) -> Route {
        let mut slot = None;
        let mut cross = false;
        self.table.for_each_key(args, &mut self.lookup, |key| {
            let s = key_slot(key);
            match slot {
                None => slot = Some(s),
                Some(other) if other != s => cross = true,
                _ => {}
            }
        });
        match slot {
            _ if cross => Route::CrossSlot,
            Some(s) => Route::Slot(s),
            None if is_everywhere(args) => Route::Everywhere,
            None => Route::Anywhere,
        }
    }

    /// The member for `slot`, after any commands for it still at an old
    /// owner have come back.
    fn member_for(&mut self, slot: u16) -> Result<Option<u16>, Stopped> {
        self.wait_drained(slot)?;
        Ok(Some(self.owner[usize::from(slot)]).filter(|&m| m != UNOWNED))
    }

    fn send(&mut self, member: u16, what: Payload<'_, '_>) -> Result<(), Stopped> {
        let pipe = &mut self.members[usize::from(member)].pipe;
        match what {
            Payload::Command(cmd, meta, watch) => pipe.push(cmd, meta, watch),
            Payload::Sent(sent) => pipe.push_sent(sent),
        }
    }

    fn send_to_slot(&mut self, slot: u16, what: Payload<'_, '_>) -> Result<(), Stopped> {
        let Some(member) = self.member_for(slot)? else {
            let why = format!(
                "CLUSTERDOWN hash slot {slot} is not served by any master (found by rload; not sent)"
            );
            self.local_error(what.meta(), &why);
            return Ok(());
        };
        self.send(member, what)?;
        self.last[usize::from(slot)] = (member, self.members[usize::from(member)].pipe.pushed());
        Ok(())
    }

    /// Sends to each of `targets`, or to every live master.
    fn send_everywhere(
        &mut self,
        what: Payload<'_, '_>,
        targets: Option<&[u16]>,
    ) -> Result<(), Stopped> {
        let targets: Vec<u16> = targets.map_or_else(|| self.alive().collect(), <[u16]>::to_vec);
        for m in targets {
            self.send(m, what)?;
        }
        Ok(())
    }

    /// Routes and sends one command: into the transaction being collected,
    /// if there is one or it opens one; else to its slot's master, to every
    /// master (or to `everywhere`, when given), or to any.
    fn route_and_send(
        &mut self,
        args: &Args<'_>,
        what: Payload<'_, '_>,
        everywhere: Option<&[u16]>,
    ) -> Result<(), Stopped> {
        if self.block.is_some() || what.watch() == Some(Watch::Multi) {
            return self.add_to_block(args, what.to_sent(args));
        }
        match self.route(args) {
            Route::Slot(s) => self.send_to_slot(s, what),
            Route::Everywhere => self.send_everywhere(what, everywhere),
            Route::Anywhere => {
                let m = self.any_member();
                self.send(m, what)
            }
            Route::CrossSlot => {
                self.local_error(what.meta(), CROSSSLOT);
                Ok(())
            }
        }
    }

    /// Reports and counts an error rload found itself: a command it did not
    /// send.
    fn local_error(&mut self, meta: CmdMeta, why: &str) {
        self.report_error(meta, why);
        self.local.errors += 1;
        self.handles.meter.add_replies(0, 1);
    }

    fn report_error(&self, meta: CmdMeta, why: &str) {
        let at = crate::input::Location::new(&self.names, meta.position());
        self.events.error_reply(&at, why.as_bytes());
    }
}

/// What to send: a command from the input, or one sent before (or made by
/// rload), encoded.
#[derive(Clone, Copy)]
enum Payload<'c, 'a> {
    Command(&'c Command<'a>, CmdMeta, Option<Watch>),
    Sent(&'c SentCommand),
}

impl Payload<'_, '_> {
    fn meta(&self) -> CmdMeta {
        match self {
            Payload::Command(_, meta, _) => *meta,
            Payload::Sent(sent) => sent.meta,
        }
    }

    fn watch(&self) -> Option<Watch> {
        match self {
            Payload::Command(_, _, watch) => *watch,
            Payload::Sent(sent) => sent.watch,
        }
    }

    /// The command as sent, its arguments `args` encoded.
    fn to_sent(self, args: &Args<'_>) -> SentCommand {
        match self {
            Payload::Sent(sent) => sent.clone(),
            Payload::Command(cmd, meta, watch) => {
                let mut bytes = Vec::new();
                match cmd.resp {
                    Some(frame) => bytes.extend_from_slice(frame),
                    None => crate::resp::encode_command(&mut bytes, args),
                }
                SentCommand {
                    bytes,
                    meta,
                    watch,
                    covered: Vec::new(),
                }
            }
        }
    }
}

fn is_everywhere(args: &Args<'_>) -> bool {
    let name = args.get(0).unwrap_or_default();
    let sub = args.get(1).unwrap_or_default();
    EVERYWHERE.iter().any(|e| match e.split_once(' ') {
        Some((n, s)) => {
            name.eq_ignore_ascii_case(n.as_bytes()) && sub.eq_ignore_ascii_case(s.as_bytes())
        }
        None => name.eq_ignore_ascii_case(e.as_bytes()),
    })
}
