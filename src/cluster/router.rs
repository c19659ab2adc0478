//! The router: sends each command to the pipe of the master that owns its
//! slot, and follows the redirects that come back.
//!
//! Per-key order is kept: a slot's commands always go down one pipe, in input
//! order. When a slot moves (`MOVED`), commands for it already sent to the
//! old master come back redirected, in order; until they all have, new
//! commands for that slot wait, so none overtakes an older one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

mod failover;
mod follow;

use super::keys::{CommandTable, Lookup};
use super::slot::{SLOTS, key_slot};
use super::topology::{Topology, UNOWNED};
use crate::config::{Config, Endpoint};
use crate::conn;
use crate::error::ConnectError;
use crate::input::{Args, Command};
use crate::load::{Sink, pipe_options};
use crate::pipe::{CmdMeta, Pipe, Redirect, RedirectedCmd, Shared, Stopped, Watch};
use crate::report::Events;
use crate::resp::encode_command;

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

/// A transaction being collected, to travel as one unit.
#[derive(Default)]
struct Block {
    cmds: Vec<(Vec<u8>, CmdMeta, Option<Watch>)>,
    slot: Option<u16>,
    cross: bool,
    everywhere: bool,
}

pub(crate) struct Router {
    config: Config,
    names: Arc<[String]>,
    events: Arc<dyn Events>,
    table: CommandTable,
    owner: Vec<u16>,
    members: Vec<Member>,
    inbox: Receiver<Redirect>,
    inbox_tx: Sender<Redirect>,
    /// Per slot: the member and pushed count of its last command.
    last: Vec<(u16, u64)>,
    /// Slots that moved while commands for them were still at the old
    /// master: (old master, its pushed count to wait for).
    draining: HashMap<u16, (u16, u64)>,
    block: Option<Block>,
    /// Redirects and retries so far, by command number.
    attempts: follow::Attempts,
    /// Commands to send again once `retry_at` has passed, in order.
    retry_queue: Vec<(u16, Vec<RedirectedCmd>)>,
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

/// What the router settled itself, for the summary.
#[derive(Debug, Default)]
pub(crate) struct LocalAccount {
    /// Errors: refused commands, and commands given up on.
    pub errors: u64,
    /// Replies: the error reply that ended each command given up on.
    pub replies: u64,
    /// Commands given up on, whose last reply was final.
    pub acknowledged: u64,
    /// The oldest command the router still held when the load ended.
    pub pending: Option<u64>,
    /// Why the cluster could not go on, when no pipe says.
    pub failure: Option<Failure>,
}

/// Why the cluster could not go on.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The master (or node) it concerns.
    pub addr: String,
    /// What happened.
    pub reason: String,
}

impl Router {
    /// Connects to every master of `topo`.
    pub(crate) fn start(
        config: &Config,
        topo: Topology,
        table: CommandTable,
        names: Arc<[String]>,
        events: Arc<dyn Events>,
    ) -> Result<Self, ConnectError> {
        let (inbox_tx, inbox) = mpsc::channel();
        let mut router = Router {
            config: config.clone(),
            names,
            events,
            table,
            owner: topo.owner,
            members: Vec::new(),
            inbox,
            inbox_tx,
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
            router.connect(host, port)?;
        }
        Ok(router)
    }

    /// Opens a pipe to a master; its index is the member's.
    fn connect(&mut self, host: String, port: u16) -> Result<u16, ConnectError> {
        let mut config = self.config.clone();
        config.server.endpoint = Endpoint::Tcp {
            host: host.clone(),
            port,
        };
        let c = conn::connect(&config.server)?;
        let addr = c.addr().to_string();
        let index = self.members.len();
        let shared = Shared::new(
            &addr,
            Arc::clone(&self.names),
            Arc::clone(&self.events),
            self.config.interrupt.clone(),
        )
        .in_cluster(index, self.inbox_tx.clone());
        let pipe = Pipe::start(c, Arc::new(shared), pipe_options(&config, &config.server))
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
        self.connect(host, port).map_err(|e| {
            self.local.failure = Some(Failure {
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

    fn send(
        &mut self,
        member: u16,
        what: Payload<'_, '_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        let pipe = &mut self.members[usize::from(member)].pipe;
        match what {
            Payload::Command(cmd) => pipe.push(cmd, meta.seq, watch),
            Payload::Bytes(bytes) => pipe.push_encoded(bytes, meta, watch),
        }
    }

    fn send_to_slot(
        &mut self,
        slot: u16,
        what: Payload<'_, '_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        let Some(member) = self.member_for(slot)? else {
            let why = format!(
                "CLUSTERDOWN hash slot {slot} is not served by any master (found by rload; not sent)"
            );
            self.local_error(meta, &why);
            return Ok(());
        };
        self.send(member, what, meta, watch)?;
        self.last[usize::from(slot)] = (member, self.members[usize::from(member)].pipe.pushed());
        Ok(())
    }

    fn send_everywhere(
        &mut self,
        what: Payload<'_, '_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        let targets: Vec<u16> = self.alive().collect();
        for m in targets {
            self.send(m, what, meta, watch)?;
        }
        Ok(())
    }

    /// Routes and sends one encoded command: into the transaction being
    /// collected, if there is one or it opens one; else to its slot's
    /// master, to every master (or to `everywhere`, when given), or to any.
    fn send_encoded(
        &mut self,
        args: &Args<'_>,
        bytes: &[u8],
        meta: CmdMeta,
        watch: Option<Watch>,
        everywhere: Option<&[u16]>,
    ) -> Result<(), Stopped> {
        if self.block.is_some() || watch == Some(Watch::Multi) {
            return self.add_to_block(args, bytes.to_vec(), meta, watch);
        }
        match (self.route(args), everywhere) {
            (Route::Slot(s), _) => self.send_to_slot(s, Payload::Bytes(bytes), meta, watch),
            (Route::Everywhere, None) => self.send_everywhere(Payload::Bytes(bytes), meta, watch),
            (Route::Everywhere, Some(targets)) => {
                for &m in targets {
                    self.send(m, Payload::Bytes(bytes), meta, watch)?;
                }
                Ok(())
            }
            (Route::Anywhere, _) => {
                let m = self.any_member();
                self.send(m, Payload::Bytes(bytes), meta, watch)
            }
            (Route::CrossSlot, _) => {
                self.local_error(meta, CROSSSLOT);
                Ok(())
            }
        }
    }

    /// Reports and counts an error rload found itself: a command it did not
    /// send.
    fn local_error(&mut self, meta: CmdMeta, why: &str) {
        self.report_error(meta, why);
        self.local.errors += 1;
    }

    fn report_error(&self, meta: CmdMeta, why: &str) {
        let at = crate::input::Location::new(
            &self.names,
            crate::input::Position {
                source: meta.source,
                line: meta.line,
                offset: 0,
            },
        );
        self.events.error_reply(&at, why.as_bytes());
    }

    /// Adds a command to the open transaction; sends the transaction when
    /// the command ends it. `bytes` is the command encoded.
    fn add_to_block(
        &mut self,
        args: &Args<'_>,
        bytes: Vec<u8>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        let route = self.route(args);
        let block = self.block.get_or_insert_with(Block::default);
        block.cmds.push((bytes, meta, watch));
        match route {
            Route::Slot(s) if block.slot.is_some_and(|b| b != s) => block.cross = true,
            Route::Slot(s) => block.slot = Some(s),
            Route::CrossSlot => block.cross = true,
            Route::Everywhere => block.everywhere = true,
            Route::Anywhere => {}
        }
        if watch.is_some_and(Watch::ends_block) {
            let block = self.block.take().expect("just added to");
            return self.send_block(block);
        }
        Ok(())
    }

    fn send_block(&mut self, block: Block) -> Result<(), Stopped> {
        let first = block.cmds[0].1;
        if block.cross || (block.everywhere && block.slot.is_some()) {
            let why = "CROSSSLOT the keys of this MULTI block hash to different slots (found by rload; the block was not sent)";
            self.local_error(first, why);
            return Ok(());
        }
        let member = match block.slot {
            Some(s) => match self.member_for(s)? {
                Some(m) => m,
                None => {
                    self.local_error(first, &format!("CLUSTERDOWN hash slot {s} is not served by any master (found by rload; the block was not sent)"));
                    return Ok(());
                }
            },
            None => self.any_member(),
        };
        let targets: Vec<u16> = if block.everywhere {
            self.alive().collect()
        } else {
            vec![member]
        };
        for m in targets {
            for (bytes, meta, watch) in &block.cmds {
                self.send(m, Payload::Bytes(bytes), *meta, *watch)?;
            }
        }
        if let Some(s) = block.slot {
            self.last[usize::from(s)] = (member, self.members[usize::from(member)].pipe.pushed());
        }
        Ok(())
    }
}

/// What to send: a command from the input, or one already encoded.
#[derive(Clone, Copy)]
enum Payload<'c, 'a> {
    Command(&'c Command<'a>),
    Bytes(&'c [u8]),
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

impl Sink for Router {
    fn push(&mut self, cmd: &Command<'_>, seq: u64, watch: Option<Watch>) -> Result<(), Stopped> {
        self.serve_inbox()?;
        let meta = CmdMeta {
            seq,
            line: cmd.pos.line,
            source: cmd.pos.source,
            end: 0,
        };
        if self.block.is_some() || watch == Some(Watch::Multi) {
            let mut bytes = Vec::new();
            encode_command(&mut bytes, &cmd.args);
            return self.add_to_block(&cmd.args, bytes, meta, watch);
        }
        match self.route(&cmd.args) {
            Route::Slot(s) => self.send_to_slot(s, Payload::Command(cmd), meta, watch),
            Route::Everywhere => self.send_everywhere(Payload::Command(cmd), meta, watch),
            Route::Anywhere => {
                let m = self.any_member();
                self.send(m, Payload::Command(cmd), meta, watch)
            }
            Route::CrossSlot => {
                self.local_error(meta, CROSSSLOT);
                Ok(())
            }
        }
    }

    /// A command alone for a slot goes on as it is; anything else (in a
    /// transaction, to every master) is copied as usual.
    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.serve_inbox()?;
        let mut buf = crate::input::ArgBuf::default();
        let args = crate::input::frame_args(&bytes, &mut buf).expect("rload encoded it");
        let route = self.route(&args);
        match route {
            Route::Slot(s) if self.block.is_none() && watch != Some(Watch::Multi) => {
                let Some(member) = self.member_for(s)? else {
                    return self.send_to_slot(s, Payload::Bytes(&bytes), meta, watch);
                };
                let pipe = &mut self.members[usize::from(member)].pipe;
                pipe.push_owned(bytes, meta, watch)?;
                self.last[usize::from(s)] = (member, pipe.pushed());
                Ok(())
            }
            _ => self.send_encoded(&args, &bytes, meta, watch, None),
        }
    }

    /// A transaction is only sent once complete: an unfinished one is
    /// simply never sent.
    fn abandon_transaction(&mut self, _meta: CmdMeta) -> Result<(), Stopped> {
        self.block = None;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        self.serve_inbox()?;
        for m in self.members.iter_mut().filter(|m| m.alive) {
            m.pipe.flush()?;
        }
        Ok(())
    }

    fn errors(&self) -> u64 {
        self.local.errors
            + self
                .members
                .iter()
                .map(|m| m.pipe.shared().errors.load(Ordering::Relaxed))
                .sum::<u64>()
    }
}
