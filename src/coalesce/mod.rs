//! `--coalesce`: commands merged into variadic ones, so the server does less
//! work. A sink in front of the load's sink (a pipe, a cluster's router, or
//! `--emit`), which it sends the merged commands on to.
//!
//! The server's cost of a bulk load is mostly per command, so merging
//! `RPUSH l a`, `RPUSH l b`, `RPUSH l c` into `RPUSH l a b c`, per-field
//! `HSET`s into one per key, and plain `SET`s into `MSET`, cuts it several
//! times over. The merge is only one of form: the server is left with the
//! same data, the account is per input command as before, and every reply
//! to a merged command counts (and, an error, is reported) for each input
//! command it stands for.
//!
//! Commands are gathered into a *batch*: a bounded run of consecutive
//! mergeable input commands, each joining a *group* (one merged command) of
//! its kind and key. Any other command, a transaction, a flush, or a full
//! batch sends the batch on, its groups in the order they were opened, so:
//!
//! - commands on one key keep their order: a command joins the group its
//!   key was last written by, or a new one; a key written by a later group
//!   never joins an earlier one;
//! - commands on different keys are independent (each mergeable command
//!   touches one key), so their relative order within a batch is free;
//! - most kinds merge across the batch: resuming may send some of them
//!   again, which changes nothing, since each item's last write wins (see
//!   [`Kind::idempotent`]);
//! - `RPUSH` and `LPUSH` add an element each time they run, so none may
//!   run twice. Merged only in runs of consecutive input commands, each
//!   stands for a stretch of the input, and the resume point (the command
//!   before the oldest one not acknowledged) stays exact. Merged across
//!   other commands, they make the batch *apply together*: it is sent
//!   inside rload's own `MULTI` … `EXEC`, so it runs whole or not at all,
//!   and the window keeps the resume point before it until its `EXEC` is
//!   answered. Only a sink on one connection can do that (not a cluster's
//!   router, nor `--emit`), and not while the server holds a `WATCH` of
//!   the input's (by its replies: see [`Sink::watching`]), which rload's
//!   `EXEC` would end, and be aborted by.
//!
//! In a cluster, `MSET` merges only keys of one slot. A merged command
//! must fail whole or not at all, for each input command to get the reply
//! it would get alone: one on one key does (the same command, the same
//! key); `MSET` and a batch applied together may not, so they are used
//! only as [`MergeRules`] allow (for a user allowed everything, on every
//! key).

mod shape;

use std::hash::{BuildHasher, Hasher};

use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::cluster::key_slot;
use crate::command::{CmdMeta, Stopped, Watch};
use crate::conn::MergeRules;
use crate::input::{Args, Command};
use crate::resp::{encode_bulks, push_array_header, push_bulk};
use crate::sink::{Closing, Edge, Finished, Sink};

pub(crate) use shape::Kind;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use shape::is_score;
use shape::mergeable;

/// A merged command stands for at most this many input commands...
const GROUP_COMMANDS: usize = 1024;
/// ...and holds at most about this many bytes of items.
const GROUP_BYTES: usize = 256 * 1024;
/// A command with this many bytes of key and items or more is not merged:
/// the server's cost of it is its payload, not the command, so merging
/// would only copy it twice more (2,000 SETs of 100 KB ran at 0.87 of
/// redis-cli's speed merged, against 0.96 not).
const MERGE_MAX: usize = 16 * 1024;
/// A batch is sent on once it holds this many input commands...
const BATCH_COMMANDS: usize = 8192;
/// ...or this many bytes: what `--coalesce` holds back, at most.
const BATCH_BYTES: usize = 1024 * 1024;

/// Merges the commands it is sent, and sends them on to `inner`.
pub(crate) struct Coalescer {
    inner: Box<dyn Sink>,
    /// Cluster mode: `MSET` keys must share a slot.
    cluster: bool,
    batch: Batch,
    /// Inside a transaction of the input: commands pass as they are.
    in_block: bool,
    /// The inner sink can apply a batch together (one connection).
    can_apply_together: bool,
    /// The server's `WATCH` for the input: rload's own `EXEC` would end
    /// it (and be aborted by it), so batches do not apply together while
    /// it is held.
    watch: WatchState,
    /// Scratch for encoding one merged command.
    out: Vec<u8>,
}

/// What the coalescer knows of the server's `WATCH` for the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WatchState {
    /// None is held: none was sent, or the server's replies say it ended.
    Clear,
    /// The server's replies say one is held.
    Held,
    /// A `WATCH`, or a command that may end one, was sent since the server
    /// last said: its replies will tell ([`Sink::watching`]). An `EXEC`
    /// without `MULTI` (or whose `MULTI` the server refused) ends none.
    Unknown,
}

/// One merged command in the making.
#[derive(Debug)]
struct Group {
    kind: Kind,
    /// Its key; empty for `MSET`, whose keys are among its items.
    key: Vec<u8>,
    /// The items, each encoded as a RESP bulk string.
    items: Vec<u8>,
    nitems: usize,
    /// The input commands it stands for, in input order.
    covered: Vec<CmdMeta>,
}

impl Group {
    fn has_room(&self) -> bool {
        self.covered.len() < GROUP_COMMANDS && self.items.len() < GROUP_BYTES
    }
}

/// The commands gathered so far: groups in the order they were opened.
///
/// Keys are tracked by a 64-bit hash, not by their bytes, which saves an
/// allocation per key. Two keys that share a hash only merge less: `last`
/// keeps the latest group of either, which is never earlier than the
/// latest group of each, and a group is joined only by its own key.
#[derive(Debug, Default)]
struct Batch {
    groups: Vec<Group>,
    /// Groups already sent on (the batch is sent from the front).
    sent: usize,
    /// Groups of earlier batches, emptied, kept for their allocations: a
    /// batch of small groups would otherwise allocate three times a group.
    /// At most a batch's worth, so bounded as a batch is.
    spare: Vec<Group>,
    /// The latest group that wrote each key (by the key's hash).
    last: FxHashMap<u64, usize>,
    /// The open `MSET` group of each slot (slot 0 outside a cluster).
    mset: FxHashMap<u16, usize>,
    /// The group the previous input command joined: the only one an `RPUSH`
    /// or `LPUSH` may join, unless the batch may apply together.
    previous: Option<usize>,
    /// An `RPUSH` or `LPUSH` group stands for input commands that are not
    /// consecutive: the batch must apply together.
    interleaved: bool,
    commands: usize,
    bytes: usize,
    /// `SET`s may merge into `MSET` ([`MergeRules::mset`]).
    mset_allowed: bool,
}

impl Batch {
    /// The oldest input command held and not yet sent on.
    fn first_held(&self) -> Option<u64> {
        self.groups[self.sent..]
            .iter()
            .filter_map(|g| g.covered.first())
            .map(|m| m.seq)
            .min()
    }

    fn clear(&mut self) {
        self.spare.extend(self.groups.drain(..).map(|mut g| {
            g.key.clear();
            g.items.clear();
            g.nitems = 0;
            g.covered.clear();
            g
        }));
        self.sent = 0;
        self.last.clear();
        self.mset.clear();
        self.previous = None;
        self.interleaved = false;
        self.commands = 0;
        self.bytes = 0;
    }

    /// The group a command of `kind` on `key` (whose hash is `h`) joins,
    /// if one may take it. With `together`, the batch may be sent to apply
    /// together, so an `RPUSH` or `LPUSH` may join any group of its key.
    fn joinable(&self, kind: Kind, key: &[u8], h: u64, slot: u16, together: bool) -> Option<usize> {
        let last = self.last.get(&h).copied();
        let g = if kind == Kind::Set {
            if !self.mset_allowed {
                return None;
            }
            let g = *self.mset.get(&slot)?;
            // Not if a later group wrote the key since.
            if last.is_some_and(|l| l > g) {
                return None;
            }
            g
        } else {
            let g = last?;
            let group = &self.groups[g];
            if group.kind != kind
                || group.key != key
                || (!kind.idempotent() && !together && self.previous != Some(g))
            {
                return None;
            }
            g
        };
        self.groups[g].has_room().then_some(g)
    }

    /// Adds a command of `kind` on `key`, whose arguments are `args`.
    fn add(
        &mut self,
        kind: Kind,
        key: &[u8],
        args: &Args<'_>,
        slot: u16,
        meta: CmdMeta,
        together: bool,
    ) {
        let h = {
            let mut hasher = FxBuildHasher.build_hasher();
            hasher.write(key);
            hasher.finish()
        };
        let g = match self.joinable(kind, key, h, slot, together) {
            Some(g) => {
                self.interleaved |= !kind.idempotent() && self.previous != Some(g);
                g
            }
            None => {
                let mut group = self.spare.pop().unwrap_or_else(|| Group {
                    kind,
                    key: Vec::new(),
                    items: Vec::new(),
                    nitems: 0,
                    covered: Vec::new(),
                });
                group.kind = kind;
                if kind != Kind::Set {
                    group.key.extend_from_slice(key);
                    // Held, and sent, once per group: it counts toward the
                    // batch's bound like the items.
                    self.bytes += key.len();
                }
                self.groups.push(group);
                let g = self.groups.len() - 1;
                if kind == Kind::Set && self.mset_allowed {
                    self.mset.insert(slot, g);
                }
                g
            }
        };
        let group = &mut self.groups[g];
        let before = group.items.len();
        // Past the name: an MSET's items are its keys and values; the
        // others' are what follows the key.
        let from = if kind == Kind::Set { 1 } else { 2 };
        group.nitems += encode_bulks(&mut group.items, args, from);
        group.covered.push(meta);
        self.bytes += group.items.len() - before;
        self.commands += 1;
        self.previous = Some(g);
        if kind == Kind::Set {
            // A key only SETs wrote needs no entry: a command of another
            // kind on it finds none and opens a group after every MSET, and
            // a SET joins the open MSET group. Tracked once another kind
            // wrote the key, so a later SET does not join an earlier MSET.
            if let Some(last) = self.last.get_mut(&h) {
                *last = (*last).max(g);
            }
        } else {
            let last = self.last.entry(h).or_insert(g);
            *last = (*last).max(g);
        }
    }

    fn is_full(&self) -> bool {
        self.commands >= BATCH_COMMANDS || self.bytes >= BATCH_BYTES
    }
}

impl Coalescer {
    /// Merges what `rules` allow for the load's user, sending it on to
    /// `inner`; `cluster`: `MSET` keys must share a slot.
    pub(crate) fn new(mut inner: Box<dyn Sink>, cluster: bool, rules: MergeRules) -> Self {
        let can_apply_together = inner.together().is_some() && rules.together;
        Coalescer {
            inner,
            cluster,
            batch: Batch {
                mset_allowed: rules.mset,
                ..Batch::default()
            },
            in_block: false,
            can_apply_together,
            watch: WatchState::Clear,
            out: Vec::new(),
        }
    }

    /// Sends the batch on, group by group, in the order they were opened.
    fn send_batch(&mut self) -> Result<(), Stopped> {
        let together = self.batch.interleaved && self.batch.sent == 0;
        let at = self.batch.groups.first().map(|g| g.covered[0]);
        if together
            && let Some(at) = at
            && let Some(sink) = self.inner.together()
        {
            sink.apply_together(Edge::Begin, at)?;
        }
        while let Some(group) = self.batch.groups.get(self.batch.sent) {
            let out = &mut self.out;
            out.clear();
            let n = group.covered.len();
            match group.kind {
                Kind::Set if n == 1 => {
                    push_array_header(out, 3);
                    push_bulk(out, b"SET");
                }
                Kind::Set => {
                    push_array_header(out, 1 + group.nitems);
                    push_bulk(out, b"MSET");
                }
                kind => {
                    push_array_header(out, 2 + group.nitems);
                    push_bulk(out, kind.name());
                    push_bulk(out, &group.key);
                }
            }
            out.extend_from_slice(&group.items);
            let meta = CmdMeta {
                count: u32::try_from(n).expect("a group is bounded"),
                ..group.covered[0]
            };
            let covered: &[CmdMeta] = if n == 1 { &[] } else { &group.covered };
            self.inner.push_span(out, meta, covered)?;
            self.batch.sent += 1;
        }
        if together
            && let Some(at) = at
            && let Some(sink) = self.inner.together()
        {
            sink.apply_together(Edge::End, at)?;
        }
        self.batch.clear();
        Ok(())
    }

    /// Sends the batch on, then `cmd` as it is, keeping track of the
    /// input's transactions.
    fn pass(
        &mut self,
        cmd: &Command<'_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.send_batch()?;
        self.track(watch);
        self.inner.push(cmd, meta, watch)
    }

    /// Keeps track of the input's transactions, and of what may change the
    /// server's `WATCH`: the server's replies will say what did.
    fn track(&mut self, watch: Option<Watch>) {
        match watch {
            Some(Watch::Multi) => self.in_block = true,
            Some(w) if w.ends_block() => self.in_block = false,
            _ => {}
        }
        match watch {
            Some(Watch::Keys) => self.watch = WatchState::Unknown,
            Some(Watch::Unwatch | Watch::Exec | Watch::Discard | Watch::Reset)
                if self.watch != WatchState::Clear =>
            {
                self.watch = WatchState::Unknown;
            }
            _ => {}
        }
    }

    /// Whether no `WATCH` is held, so a batch may apply together; asks the
    /// server's replies when a command since may have changed that.
    fn watch_clear(&mut self) -> Result<bool, Stopped> {
        if self.watch == WatchState::Unknown {
            let held = match self.inner.together() {
                Some(sink) => sink.watching()?,
                None => true,
            };
            self.watch = if held {
                WatchState::Held
            } else {
                WatchState::Clear
            };
        }
        Ok(self.watch == WatchState::Clear)
    }
}

impl Sink for Coalescer {
    fn push(
        &mut self,
        cmd: &Command<'_>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        if self.in_block || watch.is_some() {
            return self.pass(cmd, meta, watch);
        }
        let Some(kind) = mergeable(cmd.args.iter()) else {
            return self.pass(cmd, meta, watch);
        };
        let key = cmd.args.get(1).expect("a mergeable command has a key");
        let items = (2..cmd.args.len())
            .map(|i| cmd.args.len_of(i))
            .sum::<usize>();
        if items + key.len() >= MERGE_MAX {
            // Too large to gain from a merge: as it is, in its place.
            return self.pass(cmd, meta, watch);
        }
        let slot = if self.cluster && kind == Kind::Set {
            key_slot(key)
        } else {
            0
        };
        // Only an RPUSH or LPUSH merges otherwise when the batch applies
        // together (and only it may need to ask the server).
        let together = self.can_apply_together && !kind.idempotent() && self.watch_clear()?;
        self.batch.add(kind, key, &cmd.args, slot, meta, together);
        if self.batch.is_full() {
            self.send_batch()?;
        }
        Ok(())
    }

    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        watch: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.send_batch()?;
        self.track(watch);
        self.inner.push_owned(bytes, meta, watch)
    }

    fn push_span(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        covered: &[CmdMeta],
    ) -> Result<(), Stopped> {
        self.send_batch()?;
        self.inner.push_span(bytes, meta, covered)
    }

    fn abandon_transaction(&mut self, multi: CmdMeta) -> Result<(), Stopped> {
        self.send_batch()?;
        self.in_block = false;
        self.inner.abandon_transaction(multi)
    }

    /// The input waits, or the load ends: what is gathered goes now.
    fn flush(&mut self) -> Result<(), Stopped> {
        self.send_batch()?;
        self.inner.flush()
    }

    fn errors(&self) -> u64 {
        self.inner.errors()
    }

    /// What could not be sent on is pending: the resume point is before it.
    fn finish(mut self: Box<Self>, closing: Closing) -> Finished {
        let sent = closing != Closing::Abandon && self.send_batch().is_ok();
        let held = self.batch.first_held();
        let closing = if sent { closing } else { Closing::Abandon };
        let mut finished = self.inner.finish(closing);
        finished.local.pending = finished.local.pending.into_iter().chain(held).min();
        finished
    }
}
