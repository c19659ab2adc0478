//! Both sides at once, key by key: the source read by the dump's driver
//! on the calling thread, each key digested ([`super::digest`]) and handed
//! over in batches to the target's readers ([`super::target`]), each a
//! connection on a thread of its own.

use std::io;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};

use super::CompareOptions;
use super::digest::{Digest, Digester};
use super::keyed::Keyed;
use super::target::{self, Batch, Found, key_hash};
use super::whole::{Narrowed, bucket_of};
use crate::config::{Config, Handles};
use crate::dump::link::Fault;
use crate::dump::{dump_into, stop_of};
use crate::error::Error;
use crate::rebuild::{Discard, Ending, Kind, Output, Piece};
use crate::report::{Events, Stop};

/// Source keys per batch handed to the target's side: one round trip
/// each, as a dump's page.
const BATCH: usize = 1000;

/// Connections reading the target, each on a thread of its own taking
/// the next batch: while one waits for the server's reply, another's
/// batch is being read or judged.
const TARGET_READERS: usize = 2;

/// Batches queued for the target's side: the source reads ahead by this
/// much, and no more (memory stays flat).
const QUEUED: usize = 4;

/// What both sides read: what the target's side found, the source's key
/// hashes (sorted), the target back, and a stop.
pub(crate) type BothSides = (Found, Vec<u64>, (Keyed, Option<Stop>));

/// Reads the source on this thread and the target on others, at once;
/// with `narrowed`, only the keys of the buckets it names (the others are
/// counted as compared: they were found equal).
pub(crate) fn both_sides(
    config: &Config,
    handles: &Handles,
    options: &CompareOptions,
    target: Keyed,
    narrowed: Option<&Narrowed>,
    events: &Arc<dyn Events>,
) -> Result<BothSides, Error> {
    let (tx, rx) = mpsc::sync_channel::<Batch>(QUEUED);
    let rx = Arc::new(Mutex::new(rx));
    let mut readers = vec![target];
    for _ in 1..TARGET_READERS {
        readers.push(Keyed::open(
            &options.target,
            options.target_cluster,
            config,
            &handles.interrupt,
            None,
            Arc::clone(events),
        )?);
    }
    let tolerance = options.ttl_tolerance_ms;
    let mut threads = Vec::new();
    for mut reader in readers {
        let rx = Arc::clone(&rx);
        let thread = std::thread::Builder::new()
            .name("rload-target".into())
            .spawn(move || {
                let mut found = Found::default();
                let result = target::forward(&mut reader, &rx, tolerance, &mut found);
                (reader, found, result)
            })
            .map_err(|e| Error::Config(format!("cannot start the target's thread: {e}")))?;
        threads.push(thread);
    }
    let mut feeder = Feeder {
        digester: Digester::new(options.db.unwrap_or(0)),
        tx,
        keys: Vec::new(),
        narrowed,
        equal: 0,
    };
    let dumped = dump_into(
        config,
        handles,
        &options.source_dump(),
        &mut feeder,
        Arc::clone(events),
    );
    let sent = feeder.send();
    let Feeder {
        tx,
        mut keys,
        equal,
        ..
    } = feeder;
    drop(tx);
    let (mut target, mut found, mut fault) = (None, Found::default(), None);
    for thread in threads {
        let (reader, part, result) = match thread.join() {
            Ok(back) => back,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        found.add(part);
        if let Err(f) = result {
            fault.get_or_insert((reader.addr().to_string(), f));
        }
        target.get_or_insert(reader);
    }
    let target = target.expect("one reader at least");
    found.compared += equal;
    let source = dumped?;
    let addr = target.addr().to_string();
    // The target's fault first: the source's side then only saw its batches
    // refused.
    let stop = match fault {
        Some((addr, f)) => Some(stop_of(&addr, f, config)),
        None => source
            .stop
            .or_else(|| sent.err().map(|e| stop_of(&addr, Fault::Io(e), config))),
    };
    keys.sort_unstable();
    Ok((found, keys, (target, stop)))
}

/// The source's side of the compare: an output that digests each key the
/// dump's driver reads, and hands the digests over in batches.
struct Feeder<'a> {
    digester: Digester,
    tx: SyncSender<Batch>,
    /// The hash of each source key handed over, to find the target's
    /// extras.
    keys: Vec<u64>,
    /// Only the keys of these buckets are handed over.
    narrowed: Option<&'a Narrowed>,
    /// Keys of the other buckets, which the first pass found equal.
    equal: u64,
}

impl Feeder<'_> {
    /// Hands over the keys digested so far.
    fn send(&mut self) -> io::Result<()> {
        if self.digester.done.is_empty() {
            return Ok(());
        }
        let db = self.digester.done[0].0;
        let batch: Vec<(Vec<u8>, Digest)> = self
            .digester
            .done
            .drain(..)
            .map(|(_, key, digest)| (key, digest))
            .collect();
        self.tx
            .send((db, batch))
            .map_err(|_| io::Error::other("the target's side stopped"))
    }
}

impl Output for Feeder<'_> {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.send()?;
        self.digester.select(db)
    }

    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        self.digester.begin(key, kind)
    }

    fn piece(&mut self, key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()> {
        self.digester.piece(key, kind, piece, first)
    }

    fn end(&mut self, key: &[u8], kind: Kind, ending: &Ending) -> io::Result<()> {
        let db = self.digester.db;
        if let Some(n) = self.narrowed
            && !n.differing.contains(&bucket_of(db, key))
        {
            if self.digester.finish(kind, ending).is_some() {
                self.equal += 1;
            }
            return Ok(());
        }
        self.digester.end(key, kind, ending)?;
        self.keys.push(key_hash(db, key));
        if self.digester.done.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }

    fn discard(&mut self, key: &[u8], kind: Kind, why: Discard) -> io::Result<()> {
        self.digester.discard(key, kind, why)
    }

    fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.digester.function(code)
    }

    fn payload(&mut self, key: &[u8], payload: &[u8], at: Option<i64>) -> io::Result<()> {
        self.digester.payload(key, payload, at)
    }

    fn written(&self) -> u64 {
        self.digester.written()
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
