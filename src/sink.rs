//! Where the feeder sends commands: one pipe, or a cluster's router, which
//! sends each on to one of its pipes. The driver (`load`) knows a sink only
//! by this trait, and each kind of sink gives its account the same way.

use std::sync::Arc;

use crate::command::{CmdMeta, Stopped, Watch};
use crate::input::Command;
use crate::pipe::{Pipe, PipeOutcome, Shared};
use crate::report::Stop;
use crate::resp::encode_command;

/// Takes the load's commands, in input order, and sends them on.
pub(crate) trait Sink {
    /// Sends a command from the input.
    fn push(
        &mut self,
        cmd: &Command<'_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped>;
    /// Sends a command handed over as its own encoded bytes (a huge one,
    /// taken out of the input), without copying them.
    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped>;
    /// Sends a command rload made, encoded, that stands for the input
    /// commands `covered` (ascending; `meta` is the first of them, its
    /// count theirs), or, with `covered` empty, for `meta` alone.
    fn push_span(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        covered: &[CmdMeta],
    ) -> Result<(), Stopped>;
    /// What this sink can do to apply commands rload made together, where
    /// it can: on one connection, whose window settles rload's own
    /// transactions. `None` elsewhere.
    fn together(&mut self) -> Option<&mut dyn Together> {
        None
    }
    /// Ends a transaction the input left open; nothing more of it is sent.
    /// `multi` is its `MULTI`.
    fn abandon_transaction(&mut self, multi: CmdMeta) -> Result<(), Stopped>;
    /// Hands what is buffered to the connection(s).
    fn flush(&mut self) -> Result<(), Stopped>;
    /// Errors counted so far.
    fn errors(&self) -> u64;
    /// Ends the load as `closing` says, waits for every connection to end,
    /// and gives the account.
    fn finish(self: Box<Self>, closing: Closing) -> Finished;
}

/// How a load ends its sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closing {
    /// The sink stopped: nothing more is sent.
    Abandon,
    /// rload's closing `ECHO` goes out on every connection (once every
    /// redirect is settled); the input was not all sent.
    Close,
    /// As [`Closing::Close`], and the whole input was sent: once the
    /// closing `ECHO`s are out, the events are told so.
    CloseAllSent,
}

/// Commands rload made that must apply together or not at all, inside its
/// own `MULTI` and `EXEC`, on a sink that settles them.
pub(crate) trait Together {
    /// Sends rload's own `MULTI` (at [`Edge::Begin`]) or `EXEC`. `at` is
    /// the first input command among those inside, for messages.
    fn apply_together(&mut self, edge: Edge, at: CmdMeta) -> Result<(), Stopped>;
    /// Whether the server holds a `WATCH` of the input's, by its replies to
    /// every command sent so far: waits for them. Such a `WATCH` would
    /// abort rload's own `EXEC` (and be ended by it).
    fn watching(&mut self) -> Result<bool, Stopped>;
}

/// Which end of commands that apply together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Edge {
    /// rload's `MULTI`, before them.
    Begin,
    /// rload's `EXEC`, after them.
    End,
}

/// How a sink ended.
pub(crate) struct Finished {
    /// Each connection's account.
    pub pipes: Vec<(Arc<Shared>, PipeOutcome)>,
    /// Whether every closing `ECHO` went out.
    pub closed: bool,
    /// What the sink settled itself.
    pub local: LocalAccount,
}

/// What a sink settled itself, not a server's reply: commands it refused
/// to send (a cluster's cross-slot commands), and commands it gave up on
/// after their retries or redirects ran out.
#[derive(Debug, Default)]
pub(crate) struct LocalAccount {
    /// Errors: refused commands, and commands given up on.
    pub errors: u64,
    /// Replies: the error reply that ended each command given up on.
    pub replies: u64,
    /// Commands given up on, whose last reply was final.
    pub acknowledged: u64,
    /// The oldest command the sink still held when the load ended.
    pub pending: Option<u64>,
    /// The last command the sink settled itself (wrote, for `--emit`).
    pub last: Option<CmdMeta>,
    /// Why the sink could not go on, when no pipe says.
    pub failure: Option<Stop>,
}

impl Sink for Pipe {
    fn push(
        &mut self,
        cmd: &Command<'_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        Pipe::push(self, cmd, meta, watch)
    }

    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        Pipe::push_owned(self, bytes, meta, watch)
    }

    fn push_span(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        covered: &[CmdMeta],
    ) -> Result<(), Stopped> {
        Pipe::push_span(self, bytes, meta, covered)
    }

    fn together(&mut self) -> Option<&mut dyn Together> {
        Some(self)
    }

    /// The server would drop it with the connection anyway; `DISCARD` drops
    /// it now, so the closing ECHO is not queued into it.
    fn abandon_transaction(&mut self, multi: CmdMeta) -> Result<(), Stopped> {
        let mut discard = Vec::new();
        encode_command(&mut discard, &[&b"DISCARD"[..]][..]);
        self.push_encoded(&discard, CmdMeta::own(Some(&multi)), Some(Watch::Abandon))
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        Pipe::flush(self)
    }

    fn errors(&self) -> u64 {
        self.shared()
            .errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn finish(self: Box<Self>, closing: Closing) -> Finished {
        let shared = Arc::clone(self.shared());
        let mut closed = false;
        let outcome = (*self).finish(closing != Closing::Abandon, || {
            closed = true;
            if closing == Closing::CloseAllSent {
                shared.events.all_sent();
            }
        });
        Finished {
            pipes: vec![(shared, outcome)],
            closed,
            local: LocalAccount::default(),
        }
    }
}

impl Together for Pipe {
    fn apply_together(&mut self, edge: Edge, at: CmdMeta) -> Result<(), Stopped> {
        let (name, watch): (&[u8], _) = match edge {
            Edge::Begin => (b"MULTI", Watch::Atomic),
            Edge::End => (b"EXEC", Watch::AtomicExec),
        };
        let mut bytes = Vec::new();
        encode_command(&mut bytes, &[name][..]);
        self.push_encoded(&bytes, CmdMeta::own(Some(&at)), Some(watch))
    }

    fn watching(&mut self) -> Result<bool, Stopped> {
        Pipe::watching(self)
    }
}
