//! Reading keys by name from one side of a compare, a server or a
//! cluster, as digests: a page of keys in one round trip per node (the
//! dump's read script, or `MGET`), a big key in windows checked with
//! `WATCH`, exactly as `--dump` reads them. Every reply is checked (an
//! error reply is never a value, nor a missing key); transient errors are
//! retried with the dump's bounded backoff; in a cluster, a key whose slot
//! moved is read again where it went.

use std::sync::Arc;
use std::time::Duration;

use super::digest::{Digest, Digester};
use crate::config::{Config, ServerConfig};
use crate::conn::Patience;
use crate::dump::link::{Class, Fault, ReplyError, Retry};
use crate::dump::read::{Found, KeyReader};
use crate::dump::{DumpOptions, KeyOutcome, cluster, server, shape};
use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::report::Events;

/// Times a key replaced by one of another type while read is read again.
const REPLACED_TRIES: u32 = 3;

/// Times the slots of a cluster are asked again after keys moved.
const MOVED_TRIES: u32 = 50;

/// What one side holds under a key's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// No key.
    Missing,
    /// A key of a type a compare does not read (a module's).
    Other(String),
    /// A key, digested.
    Key(Digest),
}

/// One node: its address and its reader.
struct Node {
    addr: String,
    reader: KeyReader,
    /// The database selected, for a server that has several.
    db: u32,
}

/// One side of a compare, read by key name.
pub(crate) struct Keyed {
    nodes: Vec<Node>,
    /// A cluster: the node of each slot (an index into `nodes`).
    owner: Option<Vec<usize>>,
    server: ServerConfig,
    config: Config,
    interrupt: Interrupt,
    pub(crate) retry: Retry,
    events: Arc<dyn Events>,
}

impl Keyed {
    /// Connects to `server` (a cluster's seed when `cluster`), with
    /// `config`'s timeout and interrupt.
    ///
    /// # Errors
    ///
    /// The server cannot be reached, logged in to, or readied.
    pub(crate) fn open(
        server: &ServerConfig,
        cluster: bool,
        config: &Config,
        interrupt: &Interrupt,
        patience: Option<&Patience>,
        events: Arc<dyn Events>,
    ) -> Result<Self, Error> {
        let mut keyed = Keyed {
            nodes: Vec::new(),
            owner: None,
            server: server.clone(),
            config: config.clone(),
            interrupt: interrupt.clone(),
            retry: Retry::new(config.pipe_timeout),
            events,
        };
        if cluster {
            keyed.discover(patience)?;
        } else {
            let reader = keyed.reader(server, false, patience)?;
            keyed.nodes.push(Node {
                addr: reader.link.addr().to_string(),
                reader,
                db: 0,
            });
        }
        Ok(keyed)
    }

    fn reader(
        &mut self,
        server: &ServerConfig,
        cluster: bool,
        patience: Option<&Patience>,
    ) -> Result<KeyReader, Error> {
        let mut node = server.clone();
        node.db = 0;
        let options = DumpOptions::default();
        server::open(
            &node,
            &self.config,
            &options,
            cluster,
            &self.interrupt,
            &mut self.retry,
            patience,
        )
    }

    /// Asks the cluster for its masters and their slots, connecting to
    /// those not yet connected.
    fn discover(&mut self, patience: Option<&Patience>) -> Result<(), Error> {
        let mut seeds = vec![self.server.clone()];
        seeds.extend(self.nodes.iter().filter_map(|n| {
            let mut s = self.server.clone();
            let (host, port) = n.addr.rsplit_once(':')?;
            s.endpoint = crate::config::Endpoint::Tcp {
                host: host.trim_matches(['[', ']']).to_string(),
                port: port.parse().ok()?,
            };
            Some(s)
        }));
        let masters = cluster::masters(&seeds, patience)?;
        let mut owner = vec![usize::MAX; crate::cluster::SLOTS];
        for (node, slots) in masters {
            let addr = node.addr();
            let i = match self.nodes.iter().position(|n| n.addr == addr) {
                Some(i) => i,
                None => {
                    let reader = self.reader(&node, true, None)?;
                    self.nodes.push(Node {
                        addr,
                        reader,
                        db: 0,
                    });
                    self.nodes.len() - 1
                }
            };
            slots.iter().for_each(|s| owner[s as usize] = i);
        }
        self.owner = Some(owner);
        Ok(())
    }

    /// The address of the side, for messages: the server, or the first
    /// master.
    pub(crate) fn addr(&self) -> &str {
        self.nodes.first().map_or("", |n| n.addr.as_str())
    }

    /// The nodes' addresses.
    pub(crate) fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// The number of nodes read (one for a server; the masters).
    pub(crate) fn nodes(&self) -> usize {
        self.nodes.len()
    }

    fn node_of(&self, key: &[u8]) -> usize {
        match &self.owner {
            Some(owner) => owner[crate::cluster::key_slot(key) as usize].min(self.nodes.len() - 1),
            None => 0,
        }
    }

    /// What this side holds under each of `keys`, in database `db`.
    ///
    /// # Errors
    ///
    /// A fault that a retry does not cure: the connection, a signal, an
    /// error reply.
    pub(crate) fn read(&mut self, db: u32, keys: &[Vec<u8>]) -> Result<Vec<Seen>, Fault> {
        let mut out: Vec<Option<Seen>> = vec![None; keys.len()];
        for _ in 0..MOVED_TRIES {
            let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
            for (i, k) in keys.iter().enumerate() {
                if out[i].is_none() {
                    groups[self.node_of(k)].push(i);
                }
            }
            for (node, group) in groups.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
                let batch: Vec<Vec<u8>> = group.iter().map(|&i| keys[i].clone()).collect();
                let seen = self.read_node_patiently(node, db, &batch)?;
                for (&i, s) in group.iter().zip(seen) {
                    out[i] = s;
                }
            }
            if out.iter().all(Option::is_some) {
                return Ok(out.into_iter().map(|s| s.expect("all read")).collect());
            }
            // Slots moved: ask the cluster where they are now.
            std::thread::sleep(Duration::from_millis(100));
            self.discover(None)
                .map_err(|e| Fault::Io(std::io::Error::other(e.to_string())))?;
        }
        Err(Fault::Reply(ReplyError {
            command: "a read".into(),
            text: "MOVED or ASK each time: the cluster's slots keep moving".into(),
        }))
    }

    /// [`Keyed::read_node`], trying again after transient errors.
    fn read_node_patiently(
        &mut self,
        node: usize,
        db: u32,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Seen>>, Fault> {
        loop {
            let result = self.read_node(node, db, keys);
            for notice in self.nodes[node].reader.notices.drain(..) {
                self.events.notice(&notice);
            }
            match result {
                Err(Fault::Reply(e)) if e.class() == Class::Transient => {
                    self.retry.pause(e, &self.interrupt)?;
                }
                other => {
                    self.retry.reset();
                    return other;
                }
            }
        }
    }

    /// The keys of one node; `None` for a key whose slot is elsewhere.
    fn read_node(
        &mut self,
        node: usize,
        db: u32,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Seen>>, Fault> {
        let Node { reader, db: at, .. } = &mut self.nodes[node];
        if *at != db {
            reader.select(db, &mut self.retry)?;
            *at = db;
        }
        if let Some(signal) = self.interrupt.requested() {
            return Err(Fault::Interrupted(signal));
        }
        let found = reader.page(keys, &[])?;
        let mut out = Vec::with_capacity(keys.len());
        for (key, found) in keys.iter().zip(found) {
            out.push(one(reader, key, found)?);
        }
        Ok(out)
    }

    /// A `SCAN` page of node `node`'s database `db` from `cursor`, with
    /// `MATCH` and `TYPE` as given: the next cursor and the keys.
    ///
    /// # Errors
    ///
    /// As [`Keyed::read`].
    pub(crate) fn scan(
        &mut self,
        node: usize,
        db: u32,
        cursor: &[u8],
        pattern: Option<&str>,
        kind: Option<&str>,
    ) -> Result<(Vec<u8>, Vec<Vec<u8>>), Fault> {
        if let Some(signal) = self.interrupt.requested() {
            return Err(Fault::Interrupted(signal));
        }
        let Node { reader, db: at, .. } = &mut self.nodes[node];
        if *at != db {
            reader.select(db, &mut self.retry)?;
            *at = db;
        }
        let mut args: Vec<&[u8]> = vec![b"SCAN", cursor, b"COUNT", b"1000"];
        if let Some(p) = pattern {
            args.extend([&b"MATCH"[..], p.as_bytes()]);
        }
        if let Some(t) = kind {
            args.extend([&b"TYPE"[..], t.as_bytes()]);
        }
        let reply = reader.link.patient_checked(&args, &mut self.retry)?;
        shape::scan_page(reply)
    }

    /// The databases that hold keys on any node, with their sizes summed.
    ///
    /// # Errors
    ///
    /// As [`Keyed::read`].
    pub(crate) fn keyspace(&mut self) -> Result<Vec<(u32, u64)>, Fault> {
        let mut dbs: Vec<(u32, u64)> = Vec::new();
        for node in &mut self.nodes {
            let info = node
                .reader
                .link
                .patient_checked(&[b"INFO", b"keyspace"], &mut self.retry)?;
            for (db, keys, _) in shape::keyspace(&info).unwrap_or_default() {
                match dbs.iter_mut().find(|d| d.0 == db) {
                    Some(d) => d.1 += keys,
                    None => dbs.push((db, keys)),
                }
            }
        }
        dbs.sort_unstable();
        Ok(dbs)
    }

    /// One command on `key`'s node, in database `db`, its reply checked,
    /// transient errors retried.
    ///
    /// # Errors
    ///
    /// As [`Keyed::read`].
    pub(crate) fn request(
        &mut self,
        db: u32,
        key: &[u8],
        args: &[&[u8]],
    ) -> Result<crate::resp::Value, Fault> {
        if let Some(signal) = self.interrupt.requested() {
            return Err(Fault::Interrupted(signal));
        }
        let node = self.node_of(key);
        let Node { reader, db: at, .. } = &mut self.nodes[node];
        if *at != db {
            reader.select(db, &mut self.retry)?;
            *at = db;
        }
        reader.link.patient_checked(args, &mut self.retry)
    }

    /// The reader of `key`'s node, selected on `db`: to read a key whole
    /// into another output (a repair).
    ///
    /// # Errors
    ///
    /// As [`Keyed::read`].
    pub(crate) fn reader_of(&mut self, db: u32, key: &[u8]) -> Result<&mut KeyReader, Fault> {
        let node = self.node_of(key);
        let Node { reader, db: at, .. } = &mut self.nodes[node];
        if *at != db {
            reader.select(db, &mut self.retry)?;
            *at = db;
        }
        Ok(reader)
    }
}

/// What one key read by a page is, its value read in windows where the
/// page did not read it; a key replaced by another type meanwhile is read
/// again.
fn one(reader: &mut KeyReader, key: &[u8], mut found: Found) -> Result<Option<Seen>, Fault> {
    let mut digester = Digester::new(0);
    for _ in 0..REPLACED_TRIES {
        let outcome = match found {
            Found::Skip => return Ok(Some(Seen::Missing)),
            Found::Unknown(t) => return Ok(Some(Seen::Other(t))),
            Found::Moved(_) => return Ok(None),
            Found::Key {
                kind,
                expire_at,
                value: Some(v),
                field_expiry,
            } => {
                reader.write_small(&mut digester, key, kind, v, expire_at, field_expiry)?;
                KeyOutcome::Whole
            }
            Found::Key {
                kind, value: None, ..
            } => match reader.write_big(&mut digester, key, kind) {
                Err(Fault::Reply(e)) if matches!(e.class(), Class::Redirect(_)) => {
                    return Ok(None);
                }
                other => other?,
            },
        };
        match outcome {
            KeyOutcome::Whole => {
                let (_, _, digest) = digester.done.pop().expect("a key written whole");
                return Ok(Some(Seen::Key(digest)));
            }
            KeyOutcome::Vanished => return Ok(Some(Seen::Missing)),
            KeyOutcome::Changed => {
                found = reader
                    .page(&[key.to_vec()], &[])?
                    .pop()
                    .unwrap_or(Found::Skip);
            }
        }
    }
    Err(Fault::Reply(ReplyError {
        command: "TYPE".into(),
        text: format!(
            "{} was replaced by a key of another type each time it was read",
            String::from_utf8_lossy(key)
        ),
    }))
}
