//! A small model of one Redis connection, for the `--coalesce` property:
//! the data types merging touches, with the server's rules that matter to
//! it (a command on a key of another type fails and changes nothing, an
//! emptied collection is deleted, `SET` replaces any type, the last write
//! of an item wins), transactions (`MULTI`, `EXEC`, `DISCARD`, commands
//! refused when queued abort the `EXEC`), `WATCH` (a write to a watched key
//! makes the `EXEC` return null), and an ACL user (commands and keys it may
//! not touch are refused with `NOPERM`, when queued too).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

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

/// A reply, as far as the account cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Reply {
    Ok,
    Error,
    Queued,
    /// `EXEC`'s: which of the commands failed.
    Array(Vec<bool>),
    /// `EXEC` after a watched key changed.
    Null,
}

/// What the user may do: the rules of an `ACL SETUSER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Acl {
    /// `+@all ~*`.
    All,
    /// `+@all ~k*`: the keys with a hash tag are forbidden.
    KeysK,
    /// `+@all -mset ~*`.
    NoMset,
    /// `+@all -multi ~*`.
    NoMulti,
    /// `+@all -hset ~*` (`HMSET` is allowed).
    NoHset,
}

impl Acl {
    pub(super) fn of(n: u8) -> Acl {
        [Acl::All, Acl::KeysK, Acl::NoMset, Acl::NoMulti, Acl::NoHset][usize::from(n % 5)]
    }

    fn allows(self, name: &str, keys: &[Vec<u8>]) -> bool {
        match self {
            Acl::All => true,
            Acl::KeysK => keys.iter().all(|k| k.starts_with(b"k")),
            Acl::NoMset => name != "MSET",
            Acl::NoMulti => name != "MULTI",
            Acl::NoHset => name != "HSET",
        }
    }
}

/// One connection to a server, and the server's data.
#[derive(Debug)]
pub(super) struct Server {
    keys: HashMap<Vec<u8>, Value>,
    acl: Acl,
    /// The open transaction's commands, and whether one was refused.
    multi: Option<(Vec<Vec<Vec<u8>>>, bool)>,
    watched: BTreeSet<Vec<u8>>,
    /// A watched key was written.
    dirty: bool,
}

impl Server {
    pub(super) fn new(acl: Acl) -> Self {
        Server {
            keys: HashMap::new(),
            acl,
            multi: None,
            watched: BTreeSet::new(),
            dirty: false,
        }
    }

    /// Whether a `WATCH` is held.
    pub(super) fn watching(&self) -> bool {
        !self.watched.is_empty()
    }

    /// Whether the data is the same as `other`'s.
    pub(super) fn same_data(&self, other: &Server) -> bool {
        self.keys == other.keys
    }

    /// Runs one command as the server would on this connection.
    pub(super) fn run(&mut self, args: &[Vec<u8>]) -> Reply {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let keys = keys_of(&name, args);
        if !self.acl.allows(&name, &keys) {
            if let Some((_, refused)) = &mut self.multi {
                *refused = true;
            }
            return Reply::Error;
        }
        match (name.as_str(), &mut self.multi) {
            ("MULTI", Some(_)) | ("WATCH", Some(_)) => Reply::Error,
            ("MULTI", None) => {
                self.multi = Some((Vec::new(), false));
                Reply::Ok
            }
            ("EXEC" | "DISCARD", None) => Reply::Error,
            ("DISCARD", Some(_)) => {
                self.multi = None;
                self.unwatch();
                Reply::Ok
            }
            ("EXEC", Some(_)) => self.exec(),
            ("WATCH", None) => {
                self.watched.extend(args[1..].iter().cloned());
                Reply::Ok
            }
            ("UNWATCH", _) => {
                self.unwatch();
                Reply::Ok
            }
            (_, Some((queued, _))) => {
                queued.push(args.to_vec());
                Reply::Queued
            }
            (_, None) => self.apply(&name, args),
        }
    }

    fn unwatch(&mut self) {
        self.watched.clear();
        self.dirty = false;
    }

    fn exec(&mut self) -> Reply {
        let (queued, refused) = self.multi.take().expect("checked");
        let dirty = self.dirty;
        self.unwatch();
        if refused {
            return Reply::Error;
        }
        if dirty {
            return Reply::Null;
        }
        let failed = queued
            .iter()
            .map(|args| {
                let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
                self.apply(&name, args) == Reply::Error
            })
            .collect();
        Reply::Array(failed)
    }

    /// Runs a data command; a write that succeeds touches its keys.
    fn apply(&mut self, name: &str, args: &[Vec<u8>]) -> Reply {
        let ok = self.data(name, args);
        if ok && name != "GET" {
            self.dirty |= keys_of(name, args).iter().any(|k| self.watched.contains(k));
        }
        if ok { Reply::Ok } else { Reply::Error }
    }

    fn data(&mut self, name: &str, args: &[Vec<u8>]) -> bool {
        let key = args.get(1).cloned().unwrap_or_default();
        let items = args.get(2..).unwrap_or_default();
        match name {
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
            _ => self.collection(name, key, items),
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
        let ok = write(name, value, items);
        if is_empty(&self.keys[&key]) {
            self.keys.remove(&key);
        }
        ok
    }
}

/// Writes `items` to a collection; false if it is of another type.
fn write(name: &str, value: &mut Value, items: &[Vec<u8>]) -> bool {
    match (name, value) {
        ("RPUSH", Value::List(l)) => l.extend(items.iter().cloned()),
        ("LPUSH", Value::List(l)) => items.iter().for_each(|i| l.push_front(i.clone())),
        ("SADD", Value::Set(s)) | ("PFADD", Value::Hll(s)) => s.extend(items.iter().cloned()),
        ("SREM", Value::Set(s)) => items.iter().for_each(|i| {
            s.remove(i);
        }),
        ("HSET" | "HMSET", Value::Hash(h)) => {
            for p in items.chunks(2) {
                h.insert(p[0].clone(), p[1].clone());
            }
        }
        ("HDEL", Value::Hash(h)) => items.iter().for_each(|i| drop(h.remove(i))),
        ("ZADD", Value::Zset(z)) => {
            for p in items.chunks(2) {
                let score = String::from_utf8_lossy(&p[0]).parse::<f64>().unwrap();
                z.insert(p[1].clone(), format!("{score}"));
            }
        }
        ("GEOADD", Value::Zset(z)) => {
            for p in items.chunks(3) {
                let at = format!("{},{}", number(&p[0]), number(&p[1]));
                z.insert(p[2].clone(), at);
            }
        }
        ("ZREM", Value::Zset(z)) => items.iter().for_each(|i| drop(z.remove(i))),
        _ => return false,
    }
    true
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::List(l) => l.is_empty(),
        Value::Set(s) | Value::Hll(s) => s.is_empty(),
        Value::Hash(h) => h.is_empty(),
        Value::Zset(z) => z.is_empty(),
        Value::Str(_) => false,
    }
}

/// The keys a command touches, for the ACL and for `WATCH`.
fn keys_of(name: &str, args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    match name {
        "MULTI" | "EXEC" | "DISCARD" | "UNWATCH" => Vec::new(),
        "WATCH" => args[1..].to_vec(),
        "MSET" => args[1..].iter().step_by(2).cloned().collect(),
        _ => args.get(1).cloned().into_iter().collect(),
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
