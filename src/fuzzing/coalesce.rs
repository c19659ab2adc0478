//! The `--coalesce` property: whatever the input, running the merged
//! commands leaves the same data as running the input one command at a
//! time, with error replies on the same input commands; every input command
//! is accounted for exactly once; and an `RPUSH` or `LPUSH` merge stands for
//! a contiguous run, unless it is inside a batch that applies together,
//! which must then stand for a contiguous run itself.
//!
//! Both sides run on a small model of the server's data types, with the
//! server's rules that matter to merging: a command on a key of another
//! type fails and changes nothing, an emptied collection is deleted, `SET`
//! replaces any type, and the last write of an item wins.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::rc::Rc;

use crate::coalesce::Coalescer;
use crate::command::classify;
use crate::input::{ArgBuf, Command, InputReader, frame_args};
use crate::pipe::{CmdMeta, Stopped, Watch};
use crate::sink::{Finished, LocalAccount, Sink};

/// A value in the model.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(Vec<u8>),
    List(VecDeque<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Zset(BTreeMap<Vec<u8>, String>),
    Hll(BTreeSet<Vec<u8>>),
}

#[derive(Debug, Default, PartialEq)]
struct Model {
    keys: HashMap<Vec<u8>, Value>,
}

/// Runs one command; false if it is an error reply.
impl Model {
    fn run(&mut self, args: &[Vec<u8>]) -> bool {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let key = args.get(1).cloned().unwrap_or_default();
        let items = args.get(2..).unwrap_or_default();
        match name.as_str() {
            "SET" => {
                self.keys.insert(key, Value::Str(items[0].clone()));
                true
            }
            "MSET" => {
                for pair in args[1..].chunks(2) {
                    self.keys
                        .insert(pair[0].clone(), Value::Str(pair[1].clone()));
                }
                true
            }
            "GET" => {
                !matches!(self.keys.get(&key), Some(v) if !matches!(v, Value::Str(_) | Value::Hll(_)))
            }
            "DEL" => {
                self.keys.remove(&key);
                true
            }
            "INCR" => match self.keys.get_mut(&key) {
                None => {
                    self.keys.insert(key, Value::Str(b"1".to_vec()));
                    true
                }
                Some(Value::Str(s)) => {
                    s.push(b'1');
                    true
                }
                Some(_) => false,
            },
            "MULTI" | "EXEC" => true,
            _ => self.collection(&name, key, items),
        }
    }

    fn collection(&mut self, name: &str, key: Vec<u8>, items: &[Vec<u8>]) -> bool {
        let fresh = || match name {
            "RPUSH" | "LPUSH" => Some(Value::List(VecDeque::new())),
            "SADD" => Some(Value::Set(BTreeSet::new())),
            "HSET" | "HMSET" => Some(Value::Hash(BTreeMap::new())),
            "ZADD" | "GEOADD" => Some(Value::Zset(BTreeMap::new())),
            "PFADD" => Some(Value::Hll(BTreeSet::new())),
            _ => None,
        };
        if name == "ZADD" && items.chunks(2).any(|p| !crate::coalesce::is_score(&p[0])) {
            return false;
        }
        if name == "GEOADD" && items.chunks(3).any(|p| !on_the_map(&p[0], &p[1])) {
            return false;
        }
        let value = match self.keys.get_mut(&key) {
            Some(v) => v,
            None => match fresh() {
                Some(v) => self.keys.entry(key.clone()).or_insert(v),
                // Removing from a missing key: nothing to do.
                None => return true,
            },
        };
        let ok = match (name, value) {
            ("RPUSH", Value::List(l)) => {
                l.extend(items.iter().cloned());
                true
            }
            ("LPUSH", Value::List(l)) => {
                items.iter().for_each(|i| l.push_front(i.clone()));
                true
            }
            ("SADD", Value::Set(s)) | ("PFADD", Value::Hll(s)) => {
                s.extend(items.iter().cloned());
                true
            }
            ("SREM", Value::Set(s)) => {
                for i in items {
                    s.remove(i);
                }
                true
            }
            ("HSET" | "HMSET", Value::Hash(h)) => {
                for p in items.chunks(2) {
                    h.insert(p[0].clone(), p[1].clone());
                }
                true
            }
            ("HDEL", Value::Hash(h)) => {
                items.iter().for_each(|i| drop(h.remove(i)));
                true
            }
            ("ZADD", Value::Zset(z)) => {
                for p in items.chunks(2) {
                    let score = String::from_utf8_lossy(&p[0]).parse::<f64>().unwrap();
                    z.insert(p[1].clone(), format!("{score}"));
                }
                true
            }
            ("GEOADD", Value::Zset(z)) => {
                for p in items.chunks(3) {
                    let at = format!("{},{}", number(&p[0]), number(&p[1]));
                    z.insert(p[2].clone(), at);
                }
                true
            }
            ("ZREM", Value::Zset(z)) => {
                items.iter().for_each(|i| drop(z.remove(i)));
                true
            }
            _ => false,
        };
        let empty = match &self.keys[&key] {
            Value::List(l) => l.is_empty(),
            Value::Set(s) | Value::Hll(s) => s.is_empty(),
            Value::Hash(h) => h.is_empty(),
            Value::Zset(z) => z.is_empty(),
            Value::Str(_) => false,
        };
        if empty {
            self.keys.remove(&key);
        }
        ok
    }
}

fn number(s: &[u8]) -> f64 {
    String::from_utf8_lossy(s).parse().unwrap_or(f64::NAN)
}

/// The server's `GEOADD` limits, written out apart from the coalescer's.
fn on_the_map(longitude: &[u8], latitude: &[u8]) -> bool {
    let (x, y) = (number(longitude), number(latitude));
    (-180.0..=180.0).contains(&x) && (-85.05112878..=85.05112878).contains(&y)
}

/// What the coalescer sent on: each command's arguments, and the input
/// commands it stands for.
type Sent = Rc<RefCell<Vec<(Vec<Vec<u8>>, CmdMeta, Vec<CmdMeta>)>>>;

#[derive(Default)]
struct Recorder {
    sent: Sent,
    /// Whether it takes batches that apply together, as a pipe does.
    together: bool,
}

fn owned(args: &crate::input::Args<'_>) -> Vec<Vec<u8>> {
    args.iter().map(<[u8]>::to_vec).collect()
}

impl Sink for Recorder {
    fn push(&mut self, cmd: &Command<'_>, meta: CmdMeta, _: Option<Watch>) -> Result<(), Stopped> {
        self.sent
            .borrow_mut()
            .push((owned(&cmd.args), meta, Vec::new()));
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
        self.sent
            .borrow_mut()
            .push((owned(&args), meta, covered.to_vec()));
        Ok(())
    }

    fn can_apply_together(&self) -> bool {
        self.together
    }

    /// Recorded as rload's own `MULTI` and `EXEC` (a count of 0).
    fn apply_together(&mut self, begin: bool, at: CmdMeta) -> Result<(), Stopped> {
        let name: &[u8] = if begin { b"MULTI" } else { b"EXEC" };
        self.sent
            .borrow_mut()
            .push((vec![name.to_vec()], CmdMeta::own(Some(&at)), Vec::new()));
        Ok(())
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

    fn finish(self: Box<Self>, _: bool, _: bool) -> Finished {
        Finished {
            pipes: Vec::new(),
            closed: true,
            local: LocalAccount::default(),
        }
    }
}

/// Keys, two of them sharing a slot by their hash tag.
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
        let item = ITEMS[usize::from(i) % ITEMS.len()];
        let other = ITEMS[usize::from(i / 4) % ITEMS.len()];
        let score = SCORES[usize::from(i / 16) % SCORES.len()];
        let place = PLACES[usize::from(i / 16) % PLACES.len()];
        let line = match op % 21 {
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
            _ => format!("GEOADD {key} {place} {item}"),
        };
        text.push_str(&line);
        text.push('\n');
    }
    if open {
        text.push_str("EXEC\n");
    }
    text
}

/// The property; the first byte picks cluster mode (bit 0), a sink that
/// takes batches that apply together (bit 1, outside cluster mode), and
/// where flushes fall.
pub fn coalesce(data: &[u8]) {
    let Some((&mode, ops)) = data.split_first() else {
        return;
    };
    let text = input_of(ops);
    let mut reader = InputReader::from_readers(
        vec!["fuzz".into()],
        vec![Box::new(std::io::Cursor::new(text.into_bytes()))],
    );
    let mut direct = Model::default();
    // The input commands that got an error reply, by number.
    let mut direct_errors = BTreeSet::new();
    let sent = Sent::default();
    let recorder = Recorder {
        sent: Rc::clone(&sent),
        together: mode & 3 == 2,
    };
    let mut coalescer = Coalescer::new(Box::new(recorder), mode & 1 == 1);
    let mut seq = 0u64;
    while let Some(cmd) = reader.next_command().expect("the input is valid") {
        seq += 1;
        if !direct.run(&owned(&cmd.args)) {
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

    let mut merged = Model::default();
    let mut merged_errors = BTreeSet::new();
    let mut seen = vec![0u32; seq as usize + 1];
    // Inside rload's own MULTI: the input commands its commands stand for.
    let mut block: Option<Vec<u64>> = None;
    for (args, meta, covered) in sent.borrow().iter() {
        if meta.is_own() {
            // Applied together, a block must stand for a run of consecutive
            // input commands, for the resume point to be exact.
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
            match covered.as_slice() {
                [] => seqs.push(meta.seq),
                covered => seqs.extend(covered.iter().map(|m| m.seq)),
            }
        }
        if !merged.run(args) {
            // Reported on every input command it stands for.
            merged_errors.extend(covered.iter().map(|m| m.seq));
            if covered.is_empty() {
                merged_errors.insert(meta.seq);
            }
        }
        if covered.is_empty() {
            assert_eq!(meta.count, 1, "{args:?}");
            seen[meta.seq as usize] += 1;
            continue;
        }
        assert_eq!(meta.count as usize, covered.len());
        assert_eq!(meta.seq, covered[0].seq);
        assert!(
            covered.windows(2).all(|w| w[0].seq < w[1].seq),
            "{covered:?}"
        );
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        if (name == "RPUSH" || name == "LPUSH") && block.is_none() {
            assert!(
                covered.windows(2).all(|w| w[0].seq + 1 == w[1].seq),
                "{name} merged a run that is not contiguous: {covered:?}"
            );
        }
        if name == "MSET" && mode & 1 == 1 {
            let slots: BTreeSet<u16> = args[1..]
                .chunks(2)
                .map(|p| crate::cluster::key_slot(&p[0]))
                .collect();
            assert_eq!(slots.len(), 1, "an MSET across slots: {args:?}");
        }
        for m in covered {
            seen[m.seq as usize] += 1;
        }
    }
    assert!(block.is_none(), "a block applied together was left open");
    assert!(
        seen[1..].iter().all(|&n| n == 1),
        "every input command is sent exactly once"
    );
    assert_eq!(merged, direct, "merging changed the data");
    assert_eq!(
        merged_errors, direct_errors,
        "merging changed which commands got errors"
    );
}
