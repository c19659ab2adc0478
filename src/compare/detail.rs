//! Naming what differs inside a key whose digests differ: only such a key
//! has its elements read, on both sides, in windows (memory stays flat
//! whatever its size). A hash's fields, a set's members and a sorted
//! set's members are looked up on the other side a window at a time
//! (`HMGET`, `SMISMEMBER`, `ZMSCORE`), both ways; a list, a string and a
//! stream are read side by side to their first difference.

use super::keyed::Keyed;
use crate::dump::link::{Class, Fault};
use crate::dump::shape::{self, bad, entries, strings};
use crate::rebuild::Kind;
use crate::resp::Value;

/// Elements named; the rest are counted.
const NAMED: usize = 3;

/// Elements per window, as the dump's.
const WINDOW: usize = 1000;

/// Bytes of a string per window, as the dump's.
const STRING_WINDOW: usize = 1 << 20;

/// The two sides of a key.
pub(crate) struct Sides<'a> {
    pub source: &'a mut Keyed,
    pub target: &'a mut Keyed,
    pub db: u32,
    pub key: &'a [u8],
}

/// What differs in the key, in words; `None` if a side refused a command
/// this needs (an older server, an ACL), which is no failure of the
/// compare.
///
/// # Errors
///
/// A lost connection or a signal.
pub(crate) fn name(sides: &mut Sides<'_>, kind: Kind) -> Result<Option<String>, Fault> {
    let named = match kind {
        Kind::Hash => sides.lookups(b"HSCAN", b"HMGET", "field", true),
        Kind::Set => sides.lookups(b"SSCAN", b"SMISMEMBER", "member", false),
        Kind::Zset => sides.lookups(b"ZSCAN", b"ZMSCORE", "member", true),
        Kind::String => sides.bytes(),
        Kind::List | Kind::Stream => sides.side_by_side(kind),
    };
    match named {
        Err(Fault::Reply(e)) if e.class() == Class::Fatal => Ok(None),
        other => other.map(Some),
    }
}

/// A key or element as redis-cli quotes it.
pub(crate) fn quoted(b: &[u8]) -> String {
    let mut out = Vec::new();
    crate::resp::encode_inline(&mut out, &[b]);
    String::from_utf8_lossy(&out).trim_end().to_string()
}

/// Elements that differ: how many, and the first few named.
struct Tally {
    what: &'static str,
    count: u64,
    names: Vec<String>,
}

impl Tally {
    fn add(&mut self, name: &[u8], how: &str) {
        self.count += 1;
        if self.names.len() < NAMED {
            self.names.push(format!("{} ({how})", quoted(name)));
        }
    }

    fn words(&self) -> String {
        if self.count == 0 {
            return format!("no {} differs now (it changed meanwhile?)", self.what);
        }
        let more = if self.count > self.names.len() as u64 {
            ", ..."
        } else {
            ""
        };
        let s = if self.count == 1 { "" } else { "s" };
        format!(
            "{} {}{s} differ{}: {}{more}",
            self.count,
            self.what,
            if self.count == 1 { "s" } else { "" },
            self.names.join(", ")
        )
    }
}

/// A score as a number, to compare `1.50` with `1.5`.
fn score(v: &[u8]) -> Option<f64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

impl Sides<'_> {
    /// Each window of one side's `scan` looked up on the other with
    /// `lookup`, both ways. `paired`: the scan gives pairs (a field and its
    /// value, a member and its score).
    fn lookups(
        &mut self,
        scan: &[u8],
        lookup: &[u8],
        what: &'static str,
        paired: bool,
    ) -> Result<String, Fault> {
        let mut tally = Tally {
            what,
            count: 0,
            names: Vec::new(),
        };
        for forward in [true, false] {
            let mut cursor = b"0".to_vec();
            loop {
                let (from, to) = if forward {
                    (&mut *self.source, &mut *self.target)
                } else {
                    (&mut *self.target, &mut *self.source)
                };
                let count = WINDOW.to_string();
                let page = from.request(
                    self.db,
                    self.key,
                    &[scan, self.key, &cursor, b"COUNT", count.as_bytes()],
                )?;
                let (next, items) = shape::scan_page(page)?;
                let step = if paired { 2 } else { 1 };
                let names: Vec<&[u8]> = items.iter().step_by(step).map(Vec::as_slice).collect();
                if !names.is_empty() {
                    let mut args: Vec<&[u8]> = vec![lookup, self.key];
                    args.extend(&names);
                    let found = to
                        .request(self.db, self.key, &args)?
                        .into_items()
                        .ok_or_else(|| bad(format!("{} returned no array", quoted(lookup))))?;
                    for (i, (name, there)) in names.iter().zip(found).enumerate() {
                        let absent = matches!(there, Value::Null | Value::Int(0));
                        if absent {
                            let side = if forward { "source" } else { "target" };
                            tally.add(name, &format!("only in the {side}"));
                        } else if forward && paired {
                            let here = &items[2 * i + 1];
                            let there = there.as_bytes().unwrap_or_default();
                            let same = if lookup == b"ZMSCORE" {
                                score(here) == score(there)
                            } else {
                                here.as_slice() == there
                            };
                            if !same {
                                tally.add(
                                    name,
                                    if lookup == b"ZMSCORE" {
                                        "score"
                                    } else {
                                        "value"
                                    },
                                );
                            }
                        }
                    }
                }
                if next == b"0" {
                    break;
                }
                cursor = next;
            }
        }
        Ok(tally.words())
    }

    /// A string read on both sides, window by window, to its first
    /// differing byte.
    fn bytes(&mut self) -> Result<String, Fault> {
        let mut at = 0usize;
        loop {
            let (from, to) = (at.to_string(), (at + STRING_WINDOW - 1).to_string());
            let args: [&[u8]; 4] = [b"GETRANGE", self.key, from.as_bytes(), to.as_bytes()];
            let mine = self.source.request(self.db, self.key, &args)?;
            let theirs = self.target.request(self.db, self.key, &args)?;
            let (mine, theirs) = (
                mine.as_bytes().unwrap_or_default(),
                theirs.as_bytes().unwrap_or_default(),
            );
            if let Some(i) = mine.iter().zip(theirs).position(|(a, b)| a != b) {
                return Ok(format!("first difference at byte {}", at + i));
            }
            if let Some(longer) = longer(mine.len(), theirs.len(), at, "byte") {
                return Ok(longer);
            }
            if mine.len() < STRING_WINDOW {
                return Ok("no difference now (it changed meanwhile?)".into());
            }
            at += mine.len();
        }
    }

    /// A list or stream read on both sides, window by window, to the first
    /// difference.
    fn side_by_side(&mut self, kind: Kind) -> Result<String, Fault> {
        let (mut at, mut after) = (0usize, b"-".to_vec());
        loop {
            let (mine, theirs) = (
                self.window(true, kind, at, &after)?,
                self.window(false, kind, at, &after)?,
            );
            let first = mine.iter().zip(&theirs).position(|(a, b)| a != b);
            let unit = "element";
            if let Some(i) = first {
                return Ok(match kind {
                    Kind::Stream => format!(
                        "entry {} differs",
                        quoted(
                            &mine[i][..mine[i]
                                .iter()
                                .position(|&b| b == 0)
                                .unwrap_or(mine[i].len())]
                        )
                    ),
                    _ => format!("first difference at {unit} {}", at + i),
                });
            }
            if let Some(longer) = longer(mine.len(), theirs.len(), at, unit) {
                return Ok(longer);
            }
            if mine.len() < WINDOW {
                return Ok(if kind == Kind::Stream {
                    "the entries are the same: the last ID or the consumer groups differ".into()
                } else {
                    "no difference now (it changed meanwhile?)".into()
                });
            }
            at += mine.len();
            if kind == Kind::Stream {
                let last = mine.last().expect("a full window");
                let id = &last[..last.iter().position(|&b| b == 0).unwrap_or(last.len())];
                after = [b"(".as_slice(), id].concat();
            }
        }
    }

    /// One window of one side, as comparable items: a list's elements, a
    /// stream's entries (ID, a zero byte, then its fields and values, each
    /// with its length).
    fn window(
        &mut self,
        source: bool,
        kind: Kind,
        at: usize,
        after: &[u8],
    ) -> Result<Vec<Vec<u8>>, Fault> {
        let side = if source {
            &mut *self.source
        } else {
            &mut *self.target
        };
        let (from, to) = (at.to_string(), (at + WINDOW - 1).to_string());
        let count = WINDOW.to_string();
        let args: Vec<&[u8]> = match kind {
            Kind::Stream => vec![b"XRANGE", self.key, after, b"+", b"COUNT", count.as_bytes()],
            _ => vec![b"LRANGE", self.key, from.as_bytes(), to.as_bytes()],
        };
        let reply = side.request(self.db, self.key, &args)?;
        Ok(match kind {
            Kind::Stream => entries(reply)?
                .into_iter()
                .map(|(id, fields)| {
                    let mut item = id;
                    item.push(0);
                    for (f, v) in fields {
                        for part in [f, v] {
                            item.extend((part.len() as u64).to_le_bytes());
                            item.extend(part);
                        }
                    }
                    item
                })
                .collect(),
            _ => strings(reply)?,
        })
    }
}

/// Which side is longer, when windows of `mine` and `theirs` units that
/// start at `at` agree as far as both go: `the source is longer, from
/// byte N`.
fn longer(mine: usize, theirs: usize, at: usize, unit: &str) -> Option<String> {
    let which = match mine.cmp(&theirs) {
        std::cmp::Ordering::Equal => return None,
        std::cmp::Ordering::Greater => "source",
        std::cmp::Ordering::Less => "target",
    };
    Some(format!(
        "the {which} is longer, from {unit} {}",
        at + mine.min(theirs)
    ))
}
