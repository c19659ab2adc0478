//! Dumping a cluster, so that `SCAN`'s guarantee holds across masters:
//! every key present for the whole dump is written, even while slots move.
//!
//! The dump keeps the set of slots whose keys are still to be written
//! (all of them at first). It reads the masters one after another, in the
//! order of their addresses, each with `SCAN`, writing only keys of slots
//! still to be written. With each page it asks the master for its own view
//! of its slots (`CLUSTER NODES`, in the same round trip): a slot it owned
//! from before its first page to after its last, never migrating, had
//! every one of its keys on that master throughout, so it is done. A slot
//! that moved, or was moving, or whose key answered a read with `MOVED` or
//! `ASK`, stays to be written; and so do the slots of a master lost to a
//! failover. Rounds over the masters that now own what is left go on until
//! nothing is, pausing while migrations are under way, and giving up (with
//! a stop and a continue command) if no slot gets done for as long as
//! `--pipe-timeout`. The keys of a slot read again may be written twice;
//! the later state comes last.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use super::link::Fault;
use super::page::{PageState, Pager};
use super::position::{Position, SlotSet};
use super::read::KeyReader;
use super::server::{open, scan};
use super::{DumpOptions, Ended};
use crate::cluster::{SLOTS, key_slot};
use crate::config::{Config, Endpoint, ServerConfig};
use crate::conn::{self, Patience};
use crate::error::{ConnectError, Error};
use crate::report::Stop;
use crate::resp::Value;

/// A master's own view of its slots, from its `myself` line of `CLUSTER
/// NODES`.
struct View {
    owned: SlotSet,
    migrating: SlotSet,
}

impl View {
    /// Reads `... myself,master ... connected 0-5460 [5461->-id]`; `None`
    /// if the reply holds no such line.
    fn of(reply: &Value) -> Option<View> {
        let text = std::str::from_utf8(reply.as_bytes()?).ok()?;
        let line = text.lines().find(|l| {
            l.split(' ')
                .nth(2)
                .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
        })?;
        let mut view = View {
            owned: SlotSet::none(),
            migrating: SlotSet::none(),
        };
        for range in line.split(' ').skip(8) {
            if let Some(inner) = range.strip_prefix('[') {
                if let Some((slot, _)) = inner.split_once("->-") {
                    view.migrating.insert(slot.parse().ok()?);
                }
                continue;
            }
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            if b as usize >= SLOTS || a > b {
                return None;
            }
            (a..=b).for_each(|s| view.owned.insert(s));
        }
        Some(view)
    }

    /// Marks in `unstable` the slots of `wanted` this view does not own
    /// steadily.
    fn unsteady(&self, wanted: &SlotSet, unstable: &mut SlotSet) {
        for s in wanted.iter() {
            if !self.owned.contains(s) || self.migrating.contains(s) {
                unstable.insert(s);
            }
        }
    }
}

/// Of `slots`, those `node` owns and is not migrating, in its own view
/// (`CLUSTER NODES`); none if it gives no view of itself.
///
/// # Errors
///
/// The node cannot be reached.
pub(crate) fn steady_of(node: &ServerConfig, slots: &SlotSet) -> Result<SlotSet, Error> {
    let mut conn = conn::connect(node)?;
    let reply = conn.call("CLUSTER NODES", &[b"CLUSTER", b"NODES"])?;
    let mut steady = SlotSet::none();
    if let Some(view) = View::of(&reply) {
        let mut unsteady = SlotSet::none();
        view.unsteady(slots, &mut unsteady);
        for s in slots.iter().filter(|&s| !unsteady.contains(s)) {
            steady.insert(s);
        }
    }
    Ok(steady)
}

/// The cluster's masters and which slots each owns, by `CLUSTER SLOTS`
/// asked of the first of `seeds` that answers.
/// At the start, `first` is what `--wait` allows the first seed.
pub(crate) fn masters(
    seeds: &[ServerConfig],
    first: Option<&Patience>,
) -> Result<Vec<(ServerConfig, SlotSet)>, Error> {
    let mut last = None;
    for (i, seed) in seeds.iter().enumerate() {
        let Endpoint::Tcp { host, .. } = &seed.endpoint else {
            return Err(Error::Config("cluster mode needs a TCP address".into()));
        };
        let attempt = match first.filter(|_| i == 0) {
            Some(patience) => conn::connect_when_ready(seed, patience, conn::cluster_state),
            None => conn::connect(seed),
        };
        let mut conn = match attempt {
            Ok(c) => c,
            Err(e) => {
                last = Some(Error::from(e));
                continue;
            }
        };
        let addr = conn.addr().to_string();
        let reply = conn.call("CLUSTER SLOTS", &[b"CLUSTER", b"SLOTS"])?;
        let topology = crate::cluster::topology_of(reply, host).map_err(|reply| {
            Error::from(ConnectError::Setup {
                addr,
                command: "CLUSTER SLOTS",
                reply,
            })
        })?;
        let mut out: Vec<(ServerConfig, SlotSet)> = topology
            .into_iter()
            .map(|((host, port), slots)| {
                let mut slot_set = SlotSet::none();
                slots.into_iter().for_each(|s| slot_set.insert(s));
                let node = ServerConfig {
                    endpoint: Endpoint::Tcp { host, port },
                    db: 0,
                    ..seed.clone()
                };
                (node, slot_set)
            })
            .collect();
        out.sort_by_key(|(n, _)| n.addr());
        return Ok(out);
    }
    Err(last.unwrap_or_else(|| Error::Config("no cluster node to ask".into())))
}

/// A master in progress: its address, cursor, and the slots it is read
/// for.
type At = (String, Vec<u8>, SlotSet);

/// Where a master's read starts when it goes on from a stop: its cursor,
/// and the slots it was read for.
type ResumeFrom = (Vec<u8>, SlotSet);

/// Dumps a cluster. `Err` is a failure before anything was written.
pub(crate) fn run(
    pager: &mut Pager<'_>,
    config: &Config,
    options: &DumpOptions,
    patience: &Patience,
) -> Result<Ended, Error> {
    let (mut left, mut resume) = match &options.cursor {
        Some(c) => match Position::parse(c, true)? {
            Position::Cluster { at, left } => (left, at),
            _ => unreachable!("parsed as a cluster's"),
        },
        None => (SlotSet::all(), None),
    };
    if let Some(split) = options.split {
        // A part of the keyspace is a part of the slots.
        for s in 0..crate::cluster::SLOTS as u16 {
            if !split.has_slot(s) {
                left.remove(s);
            }
        }
    }
    let mut seeds = vec![config.server.clone()];
    let mut readers: HashMap<String, KeyReader> = HashMap::new();
    let mut reconnects = config.reconnect;
    let (mut round, mut stalled_since, mut pause) = (0u64, None, Duration::from_millis(50));
    let stopped = |stop, at: Option<At>, left: &SlotSet, partial| {
        let left = left.clone();
        Ok(Ended::stopped(
            stop,
            Position::Cluster { at, left },
            partial,
        ))
    };
    loop {
        let first = (round == 0).then_some(patience);
        let masters = match masters(&seeds, first) {
            Ok(m) => m,
            Err(e) if round == 0 => return Err(e),
            Err(e) => {
                let stop = Stop::ConnectionLost {
                    addr: config.server.addr(),
                    reason: e.to_string(),
                };
                return stopped(stop, None, &left, 0);
            }
        };
        seeds = std::iter::once(config.server.clone())
            .chain(masters.iter().map(|(n, _)| n.clone()))
            .collect();
        if round == 0 && options.pattern.is_none() && options.types.is_empty() && resume.is_none() {
            pager.meter.set_total(total_keys(&masters));
        }
        // A continuation first finishes the master it stopped in, if that
        // is still a master; otherwise those slots are simply still to do.
        let mut work: Vec<(ServerConfig, Option<ResumeFrom>)> = Vec::new();
        if let Some((addr, cursor, current)) = resume.take() {
            match masters.iter().find(|(n, _)| n.addr() == addr) {
                Some((node, _)) => work.push((node.clone(), Some((cursor, current)))),
                None => current.iter().for_each(|s| left.insert(s)),
            }
        }
        if work.is_empty() && left.is_empty() {
            return Ok(Ended::Done);
        }
        work.extend(
            masters
                .iter()
                .filter(|(_, slots)| slots.iter().any(|s| left.contains(s)))
                .map(|(n, _)| (n.clone(), None)),
        );
        let before = left.len();
        for (node, from) in work {
            let addr = node.addr();
            let reader = match readers.entry(addr.clone()) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(v) => match open(
                    &node,
                    config,
                    options,
                    true,
                    &pager.interrupt,
                    &mut pager.retry,
                    first,
                ) {
                    Ok(r) => v.insert(r),
                    Err(e) if round == 0 && pager.summary.keys == 0 => return Err(e),
                    Err(e) => {
                        let stop = Stop::ConnectionLost {
                            addr,
                            reason: e.to_string(),
                        };
                        return stopped(stop, None, &left, 0);
                    }
                },
            };
            pager.summary.reached(&addr);
            let mut read = MasterRead::new(from);
            match master(pager, reader, &mut read, &left) {
                Ok(()) => read.settle(&mut left),
                Err(Fault::Io(e)) if reconnects > 0 => {
                    // Its slots are still to do: a later round reads them
                    // from whichever master owns them then.
                    reconnects -= 1;
                    readers.remove(&addr);
                    read.give_back(&mut left);
                    pager.events.notice(&format!(
                        "{addr} lost ({e}): reconnecting; its slots are read again"
                    ));
                }
                Err(fault) => {
                    let stop = super::stop_of(&addr, fault, config);
                    let partial = read.state.written;
                    let at = read.stop_at(addr, &mut left);
                    return stopped(stop, at, &left, partial);
                }
            }
        }
        if round > 0 {
            pager.summary.reread_slots += before.saturating_sub(left.len()) as u64;
        }
        round += 1;
        if left.is_empty() {
            return Ok(Ended::Done);
        }
        if left.len() < before {
            (stalled_since, pause) = (None, Duration::from_millis(50));
            continue;
        }
        // Nothing got done: slots are migrating. Wait for them to settle.
        let since = *stalled_since.get_or_insert_with(Instant::now);
        let bound = config.pipe_timeout.unwrap_or(Duration::MAX);
        if since.elapsed() >= bound {
            pager.events.notice(&format!(
                "{} kept moving for {} s: giving up",
                crate::report::count(left.len() as u64, "slot"),
                bound.as_secs()
            ));
            return stopped(Stop::Timeout(bound), None, &left, 0);
        }
        sleep(pause, &pager.interrupt);
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

fn sleep(d: Duration, interrupt: &crate::interrupt::Interrupt) {
    let until = Instant::now() + d;
    while Instant::now() < until && interrupt.requested().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One master's read: where it is, which slots it is for, and which of
/// them turned out unsteady.
struct MasterRead {
    cursor: Vec<u8>,
    /// The slots to read from it: its own still to do, or (continuing)
    /// the ones a stopped dump was reading from it.
    wanted: Option<SlotSet>,
    unstable: SlotSet,
    state: PageState,
}

impl MasterRead {
    fn new(from: Option<ResumeFrom>) -> Self {
        let (cursor, wanted) = match from {
            Some((cursor, current)) => (cursor, Some(current)),
            None => (b"0".to_vec(), None),
        };
        MasterRead {
            cursor,
            wanted,
            unstable: SlotSet::none(),
            state: PageState::default(),
        }
    }

    /// The read is over: its steady slots are done, its unsteady ones are
    /// still to do.
    fn settle(self, left: &mut SlotSet) {
        let Some(wanted) = self.wanted else { return };
        for s in wanted.iter() {
            if self.unstable.contains(s) {
                left.insert(s);
            } else {
                left.remove(s);
            }
        }
    }

    /// The read is abandoned: all its slots are still to do.
    fn give_back(self, left: &mut SlotSet) {
        if let Some(wanted) = self.wanted {
            wanted.iter().for_each(|s| left.insert(s));
        }
    }

    /// Where a stopped dump goes on from: this master's cursor, for its
    /// steady slots; its unsteady ones go back to what is left.
    fn stop_at(self, addr: String, left: &mut SlotSet) -> Option<At> {
        let wanted = self.wanted?;
        let mut current = SlotSet::none();
        for s in wanted.iter() {
            left.remove(s);
            if self.unstable.contains(s) {
                left.insert(s);
            } else {
                current.insert(s);
            }
        }
        Some((addr, self.cursor, current))
    }
}

/// Reads one master: the keys of the slots `read` is for (by default, its
/// own that are still to do), from `read.cursor` on, noting the slots that
/// are not steadily its own.
fn master(
    pager: &mut Pager<'_>,
    reader: &mut KeyReader,
    read: &mut MasterRead,
    left: &SlotSet,
) -> Result<(), Fault> {
    const NODES: &[&[u8]] = &[b"CLUSTER", b"NODES"];
    let view =
        View::of(&reader.link.patient_checked(NODES, &mut pager.retry)?).ok_or_else(no_view)?;
    let wanted = read.wanted.get_or_insert_with(|| {
        let mut wanted = SlotSet::none();
        for s in view.owned.iter().filter(|&s| left.contains(s)) {
            wanted.insert(s);
        }
        wanted
    });
    view.unsteady(wanted, &mut read.unstable);
    let wanted = wanted.clone();
    loop {
        let scanned = scan(pager, reader, &read.cursor, pager.page_size, Some(NODES))?;
        let before = scanned.before.expect("sent before");
        View::of(&before)
            .ok_or_else(no_view)?
            .unsteady(&wanted, &mut read.unstable);
        let (next, mut keys) = scanned.page;
        keys.retain(|k| {
            let s = key_slot(k);
            wanted.contains(s) && !read.unstable.contains(s)
        });
        pager.page(reader, &keys, &mut read.state)?;
        read.state
            .moved
            .drain(..)
            .for_each(|s| read.unstable.insert(s));
        pager.summary.add_keys(0, read.state.written);
        read.state = PageState::default();
        if next == b"0" {
            break;
        }
        read.cursor = next;
    }
    let view =
        View::of(&reader.link.patient_checked(NODES, &mut pager.retry)?).ok_or_else(no_view)?;
    view.unsteady(&wanted, &mut read.unstable);
    Ok(())
}

fn no_view() -> Fault {
    super::shape::bad("CLUSTER NODES has no line for the node itself".into())
}

/// The keys the masters hold (`DBSIZE`), for a progress display; 0 if one
/// cannot say.
fn total_keys(masters: &[(ServerConfig, SlotSet)]) -> u64 {
    let mut total = 0;
    for (node, _) in masters {
        let size = conn::connect(node)
            .ok()
            .and_then(|mut c| c.call("DBSIZE", &[b"DBSIZE"]).ok());
        match size {
            Some(Value::Int(n)) => total += n.max(0) as u64,
            _ => return 0,
        }
    }
    total
}
