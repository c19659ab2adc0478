//! Which keys a dump (or a load of an RDB file) takes: [`Glob`] patterns
//! as Redis matches them (`stringmatchlen` in `util.c`, for `SCAN ...
//! MATCH` and `KEYS`: `*` any bytes, `?` one byte, `[abc]`, `[^abc]`,
//! `[a-z]` a set or range of bytes, `\x` the byte `x` itself), a part of
//! the keyspace ([`Split`]), and all of them with types and a database
//! ([`KeyFilter`]), for keys not read from a server that would filter them
//! itself: an RDB file's.

use crate::error::Error;
use crate::slot::{SLOTS, key_slot};

/// A pattern, matched against keys as Redis matches them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(Vec<u8>);

impl Glob {
    /// The pattern `pattern`.
    pub fn new(pattern: &[u8]) -> Self {
        Glob(pattern.to_vec())
    }

    /// Whether `key` matches.
    pub fn matches(&self, key: &[u8]) -> bool {
        matches(&self.0, key)
    }
}

/// Part `index` of `count` of a keyspace: the keys whose hash slot (as a
/// cluster computes it, `{tags}` included) is `index` modulo `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Which part, from 0.
    pub index: u16,
    /// How many parts.
    pub count: u16,
}

impl Split {
    /// Whether hash slot `slot` is in this part.
    pub fn has_slot(self, slot: u16) -> bool {
        slot % self.count == self.index
    }

    /// Whether `key` is in this part.
    pub fn has(self, key: &[u8]) -> bool {
        self.has_slot(key_slot(key))
    }

    /// Reads `I/N`.
    ///
    /// # Errors
    ///
    /// Not two numbers, or I not below N.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Config(format!(
                "--split {text}: give I/N, part I (from 0) of N parts, N at most 16384"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u16, u16) =
            (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if count == 0 || index >= count || count as usize > SLOTS {
            return Err(bad());
        }
        Ok(Split { index, count })
    }
}

/// A set of hash slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SlotSet(Vec<u64>);

impl SlotSet {
    pub(crate) fn all() -> Self {
        SlotSet(vec![u64::MAX; SLOTS / 64])
    }

    pub(crate) fn none() -> Self {
        SlotSet(vec![0; SLOTS / 64])
    }

    pub(crate) fn contains(&self, slot: u16) -> bool {
        self.0[slot as usize / 64] & (1 << (slot % 64)) != 0
    }

    pub(crate) fn insert(&mut self, slot: u16) {
        self.0[slot as usize / 64] |= 1 << (slot % 64);
    }

    pub(crate) fn remove(&mut self, slot: u16) {
        self.0[slot as usize / 64] &= !(1 << (slot % 64));
    }

    pub(crate) fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..SLOTS as u16).filter(|&s| self.contains(s))
    }

    /// `0-5460,7000`.
    pub(crate) fn ranges(&self) -> String {
        let mut out: Vec<String> = Vec::new();
        let mut slots = self.iter().peekable();
        while let Some(start) = slots.next() {
            let mut end = start;
            while slots.peek() == Some(&(end + 1)) {
                end = slots.next().expect("peeked");
            }
            out.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
        }
        out.join(",")
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut set = SlotSet::none();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            if a > b || b as usize >= SLOTS {
                return None;
            }
            (a..=b).for_each(|s| set.insert(s));
        }
        Some(set)
    }
}

/// The keys to take: those matching `pattern`, of one of `types` (all when
/// empty), in database `db` (all when `None`), in `split`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// Only keys matching this glob.
    pub pattern: Option<Glob>,
    /// Only keys of these types (`TYPE`'s names).
    pub types: Vec<String>,
    /// Only keys of this database.
    pub db: Option<u64>,
    /// Only keys of this part of the keyspace.
    pub split: Option<Split>,
    /// Only keys of these hash slots.
    pub(crate) slots: Option<SlotSet>,
}

impl KeyFilter {
    /// Whether the key `key` of type `kind` in database `db` is taken.
    pub fn takes(&self, db: u64, key: &[u8], kind: &str) -> bool {
        self.takes_lazily(db, key, || kind.to_string())
    }

    /// [`KeyFilter::takes`], asking for the type's name only when types
    /// are filtered on.
    pub fn takes_lazily(&self, db: u64, key: &[u8], kind: impl FnOnce() -> String) -> bool {
        self.db.is_none_or(|d| d == db)
            && (self.types.is_empty() || {
                let kind = kind();
                self.types.contains(&kind)
            })
            && self.pattern.as_ref().is_none_or(|g| g.matches(key))
            && self.split.is_none_or(|s| s.has(key))
            && self
                .slots
                .as_ref()
                .is_none_or(|set| set.contains(key_slot(key)))
    }
}

fn matches(mut p: &[u8], mut s: &[u8]) -> bool {
    while let Some(&c) = p.first() {
        match c {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                return (0..=s.len()).any(|i| matches(&p[1..], &s[i..]));
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                let Some((&b, rest)) = s.split_first() else {
                    return false;
                };
                let (hit, after) = class(&p[1..], b);
                if !hit {
                    return false;
                }
                (p, s) = (after, rest);
                continue;
            }
            b'\\' if p.len() >= 2 => {
                if s.first() != Some(&p[1]) {
                    return false;
                }
                (p, s) = (&p[2..], &s[1..]);
                continue;
            }
            _ => {
                if s.first() != Some(&c) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    s.is_empty()
}

/// Whether byte `b` is in the class that starts at `p` (after its `[`),
/// and the pattern after the class's `]` (or its end, as Redis reads an
/// unclosed class).
fn class(mut p: &[u8], b: u8) -> (bool, &[u8]) {
    let not = p.first() == Some(&b'^');
    if not {
        p = &p[1..];
    }
    let mut hit = false;
    loop {
        match p {
            [] => break,
            [b']', rest @ ..] => return (hit != not, rest),
            [b'\\', x, rest @ ..] => {
                hit |= *x == b;
                p = rest;
            }
            [lo, b'-', hi, rest @ ..] if *hi != b']' => {
                let (lo, hi) = if lo <= hi { (*lo, *hi) } else { (*hi, *lo) };
                hit |= (lo..=hi).contains(&b);
                p = rest;
            }
            [x, rest @ ..] => {
                hit |= *x == b;
                p = rest;
            }
        }
    }
    (hit != not, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::new(p.as_bytes()).matches(s.as_bytes())
    }

    #[test]
    fn matches_as_redis_does() {
        assert!(m("*", ""));
        assert!(m("user:*", "user:1"));
        assert!(!m("user:*", "users"));
        assert!(m("h?llo", "hello") && !m("h?llo", "hllo"));
        assert!(m("h[ae]llo", "hallo") && !m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo") && !m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo") && m("h[b-a]llo", "hallo"));
        assert!(m("a\\*b", "a*b") && !m("a\\*b", "axb"));
        assert!(m("*:*:x", "a:b:c:x") && !m("*:*:x", "a:x"));
        assert!(m("a**b", "ab") && m("[\\]]", "]"));
    }
}
