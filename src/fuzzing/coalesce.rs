//! The `--coalesce` property, a differential of plain against merged: the
//! same random input, run one command at a time on one model server, and
//! merged by the coalescer onto another, as the load's user (one of
//! several ACL users), leaves the same data, with error replies on the same
//! input commands; every input command is accounted for exactly once; and
//! an `RPUSH` or `LPUSH` merge stands for a contiguous run, unless it is
//! inside a batch that applies together, which must then stand for a
//! contiguous run itself.
//!
//! The merged side runs online, as a pipe's server would: each command as
//! it is sent, so the coalescer's questions about the server's `WATCH` get
//! the answer the replies would give. Its account follows the window's: a
//! merged command's error counts for every input command it stands for;
//! in rload's own transaction, a command refused when queued counts then,
//! and the `EXEC` counts the failed elements, or, aborted, every command
//! not counted yet.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use super::model::{Acl, Reply, Server};
use crate::coalesce::Coalescer;
use crate::command::classify;
use crate::command::{CmdMeta, Stopped, Watch};
use crate::conn::MergeRules;
use crate::input::{ArgBuf, Command, InputReader, frame_args};
use crate::sink::{Closing, Edge, Finished, LocalAccount, Sink, Together};

/// A command sent: its arguments, and the input commands it stands for
/// (its own number alone, or a span's; none for rload's own).
type Sent = (Vec<Vec<u8>>, CmdMeta, Vec<u64>);

/// What the coalescer sent, and what the server made of it.
#[derive(Default)]
struct Merged {
    sent: Vec<Sent>,
    /// The input commands whose reply was an error.
    errors: BTreeSet<u64>,
    /// rload's own open transaction: each command's input commands, and
    /// whether it was refused when queued.
    block: Option<Vec<(Vec<u64>, bool)>>,
}

/// The pipe's part: sends to a model server, online, and keeps the account.
struct Recorder {
    server: Rc<RefCell<Server>>,
    merged: Rc<RefCell<Merged>>,
    /// Whether it takes batches that apply together, as a pipe does.
    together: bool,
}

fn owned(args: &crate::input::Args<'_>) -> Vec<Vec<u8>> {
    args.iter().map(<[u8]>::to_vec).collect()
}

impl Recorder {
    fn send(&mut self, args: Vec<Vec<u8>>, meta: CmdMeta, inputs: Vec<u64>) {
        let reply = self.server.borrow_mut().run(&args);
        let mut merged = self.merged.borrow_mut();
        match &mut merged.block {
            Some(block) if !meta.is_own() => block.push((inputs.clone(), reply == Reply::Error)),
            _ => {}
        }
        if reply == Reply::Error {
            merged.errors.extend(inputs.iter().copied());
        }
        merged.sent.push((args, meta, inputs));
    }
}

impl Sink for Recorder {
    fn push(&mut self, cmd: &Command<'_>, meta: CmdMeta, _: Option<Watch>) -> Result<(), Stopped> {
        self.send(owned(&cmd.args), meta, vec![meta.seq]);
        Ok(())
    }

    fn push_owned(
        &mut self,
        bytes: Vec<u8>,
        meta: CmdMeta,
        _: Option<Watch>,
    ) -> Result<(), Stopped> {
        self.push_span(&bytes, meta, &[])
    }

    fn push_span(
        &mut self,
        bytes: &[u8],
        meta: CmdMeta,
        covered: &[CmdMeta],
    ) -> Result<(), Stopped> {
        let mut buf = ArgBuf::default();
        let args = frame_args(bytes, &mut buf).expect("the coalescer encodes valid RESP");
        let inputs = match covered {
            [] => vec![meta.seq],
            covered => covered.iter().map(|m| m.seq).collect(),
        };
        self.send(owned(&args), meta, inputs);
        Ok(())
    }

    fn together(&mut self) -> Option<&mut dyn Together> {
        match self.together {
            true => Some(self),
            false => None,
        }
    }

    fn abandon_transaction(&mut self, _: CmdMeta) -> Result<(), Stopped> {
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stopped> {
        Ok(())
    }

    fn errors(&self) -> u64 {
        0
    }

    fn finish(self: Box<Self>, _: Closing) -> Finished {
        Finished {
            pipes: Vec::new(),
            closed: true,
            local: LocalAccount::default(),
        }
    }
}

impl Together for Recorder {
    /// rload's own `MULTI` and `EXEC`, settled as the window settles them.
    fn apply_together(&mut self, edge: Edge, at: CmdMeta) -> Result<(), Stopped> {
        let name: &[u8] = match edge {
            Edge::Begin => b"MULTI",
            Edge::End => b"EXEC",
        };
        let reply = self.server.borrow_mut().run(&[name.to_vec()]);
        let mut merged = self.merged.borrow_mut();
        merged
            .sent
            .push((vec![name.to_vec()], CmdMeta::own(Some(&at)), Vec::new()));
        if edge == Edge::Begin {
            // Refused, the commands run (and count) one by one.
            merged.block = (reply == Reply::Ok).then(Vec::new);
            return Ok(());
        }
        let Some(block) = merged.block.take() else {
            return Ok(());
        };
        let failed: Vec<u64> = match reply {
            Reply::Array(failed) => block
                .iter()
                .zip(failed)
                .filter(|(_, f)| *f)
                .flat_map(|((inputs, _), _)| inputs.clone())
                .collect(),
            _ => block
                .iter()
                .filter(|(_, refused)| !refused)
                .flat_map(|(inputs, _)| inputs.clone())
                .collect(),
        };
        merged.errors.extend(failed);
        Ok(())
    }

    fn watching(&mut self) -> Result<bool, Stopped> {
        Ok(self.server.borrow().watching())
    }
}

/// Keys, two of them sharing a slot by their hash tag (and forbidden to
/// the user whose keys must start with `k`).
const KEYS: [&str; 4] = ["k0", "k1", "{t}a", "{t}b"];
const ITEMS: [&str; 4] = ["a", "b", "c", "d"];
const SCORES: [&str; 4] = ["1", "2.5", "-3", "x"];
/// Coordinates: on the map, at its edges, and off it.
const PLACES: [&str; 6] = [
    "13.36 38.11",
    "-180 85.05112878",
    "180 -85.05112878",
    "180.5 0",
    "0 -85.06",
    "x 1",
];

/// The input the fuzz bytes stand for: three bytes a command.
fn input_of(data: &[u8]) -> String {
    let mut text = String::new();
    let mut open = false;
    for c in data.chunks(3) {
        let [op, k, i] = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let key = KEYS[usize::from(k) % KEYS.len()];
        let other_key = KEYS[usize::from(k / 4) % KEYS.len()];
        let item = ITEMS[usize::from(i) % ITEMS.len()];
        let other = ITEMS[usize::from(i / 4) % ITEMS.len()];
        let score = SCORES[usize::from(i / 16) % SCORES.len()];
        let place = PLACES[usize::from(i / 16) % PLACES.len()];
        let line = match op % 25 {
            0..=2 => format!("SET {key} {item}"),
            3 | 4 => format!("RPUSH {key} {item}"),
            5 => format!("LPUSH {key} {item} {other}"),
            6 | 7 => format!("SADD {key} {item}"),
            8 => format!("SREM {key} {item}"),
            9 | 10 => format!("HSET {key} {item} {other}"),
            11 => format!("HDEL {key} {item}"),
            12 => format!("ZADD {key} {score} {item}"),
            13 => format!("ZREM {key} {item}"),
            14 => format!("PFADD {key} {item}"),
            15 => format!("GET {key}"),
            16 => format!("INCR {key}"),
            17 => format!("DEL {key}"),
            18 if !open => {
                open = true;
                "MULTI".to_string()
            }
            18 => {
                open = false;
                "EXEC".to_string()
            }
            19 => format!("HMSET {key} {item} {other} {other} {item}"),
            20 => format!("GEOADD {key} {place} {item}"),
            21 => format!("WATCH {key} {other_key}"),
            22 => "UNWATCH".to_string(),
            // Without a MULTI, an EXEC or a DISCARD fails, and the WATCH
            // stays.
            23 if k % 2 == 0 => "EXEC".to_string(),
            23 => "DISCARD".to_string(),
            _ => {
                open = false;
                if i % 2 == 0 { "DISCARD" } else { "EXEC" }.to_string()
            }
        };
        text.push_str(&line);
        text.push('\n');
    }
    if open {
        text.push_str("EXEC\n");
    }
    text
}

/// The merges the coalescer may use for `acl`, as `MergeRules::read` finds
/// them: every one only for the user allowed everything.
fn rules_for(acl: Acl) -> MergeRules {
    match acl {
        Acl::All => MergeRules::ALL,
        _ => MergeRules::WHOLE,
    }
}

/// The property. The first byte picks cluster mode (bit 0), a sink that
/// takes batches that apply together (bit 1, outside cluster mode), where
/// flushes fall, and (with the second) the user's ACL.
pub fn coalesce(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((&user, ops)) = rest.split_first() else {
        return;
    };
    let acl = Acl::of(user);
    let text = input_of(ops);
    let mut reader = InputReader::from_readers(
        vec!["fuzz".into()],
        vec![Box::new(std::io::Cursor::new(text.clone().into_bytes()))],
    );
    let mut direct = Server::new(acl);
    let mut direct_errors = BTreeSet::new();
    let merged = Rc::new(RefCell::new(Merged::default()));
    let server = Rc::new(RefCell::new(Server::new(acl)));
    let recorder = Recorder {
        server: Rc::clone(&server),
        merged: Rc::clone(&merged),
        together: mode & 3 == 2,
    };
    let mut coalescer = Coalescer::new(Box::new(recorder), mode & 1 == 1, rules_for(acl));
    let mut seq = 0u64;
    while let Some(cmd) = reader.next_command().expect("the input is valid") {
        seq += 1;
        if direct.run(&owned(&cmd.args)) == Reply::Error {
            direct_errors.insert(seq);
        }
        let watch = classify(&cmd.args, 16).expect("no refused command");
        let meta = CmdMeta::input(seq, cmd.pos);
        coalescer
            .push(&cmd, meta, watch)
            .expect("the recorder never stops");
        if mode > 1 && seq.is_multiple_of(u64::from(mode)) {
            coalescer.flush().expect("the recorder never stops");
        }
    }
    coalescer.flush().expect("the recorder never stops");
    drop(coalescer);
    let merged = merged.borrow();
    check_shape(&merged.sent, seq, mode & 1 == 1);
    assert!(
        server.borrow().same_data(&direct),
        "merging changed the data, as {acl:?}, of:\n{text}"
    );
    assert_eq!(
        merged.errors, direct_errors,
        "merging changed which commands got errors, as {acl:?}, in:\n{text}"
    );
}

/// What was sent stands for every input command once; pushes merge only
/// runs (or apply together, over a run); an `MSET` keeps to one slot in a
/// cluster.
fn check_shape(sent: &[Sent], commands: u64, cluster: bool) {
    let mut seen = vec![0u32; commands as usize + 1];
    // Inside rload's own MULTI: the input commands its commands stand for.
    let mut block: Option<Vec<u64>> = None;
    for (args, meta, inputs) in sent {
        if meta.is_own() {
            match block.take() {
                None => block = Some(Vec::new()),
                Some(mut seqs) => {
                    seqs.sort_unstable();
                    assert!(
                        seqs.windows(2).all(|w| w[0] + 1 == w[1]),
                        "a block applied together is not a run of the input: {seqs:?}"
                    );
                }
            }
            continue;
        }
        if let Some(seqs) = &mut block {
            seqs.extend(inputs);
        }
        assert_eq!(meta.count as usize, inputs.len(), "{args:?}");
        assert_eq!(meta.seq, inputs[0]);
        assert!(inputs.windows(2).all(|w| w[0] < w[1]), "{inputs:?}");
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        if (name == "RPUSH" || name == "LPUSH") && block.is_none() {
            assert!(
                inputs.windows(2).all(|w| w[0] + 1 == w[1]),
                "{name} merged a run that is not contiguous: {inputs:?}"
            );
        }
        if name == "MSET" && cluster {
            let slots: BTreeSet<u16> = args[1..]
                .chunks(2)
                .map(|p| crate::cluster::key_slot(&p[0]))
                .collect();
            assert_eq!(slots.len(), 1, "an MSET across slots: {args:?}");
        }
        for &s in inputs {
            seen[s as usize] += 1;
        }
    }
    assert!(block.is_none(), "a block applied together was left open");
    assert!(
        seen[1..].iter().all(|&n| n == 1),
        "every input command is sent exactly once"
    );
}
