//! `--dump`: reading keys back out, as commands that rebuild them (RESP or
//! inline lines, which `rload --pipe` and `redis-cli --pipe` load), as
//! `RESTORE` commands, or as JSON lines. `rload --dump -h SRC | rload
//! --pipe -h DST` is a migration.
//!
//! Keys are found with `SCAN` (`MATCH` and `TYPE` filter on the server), a
//! page at a time; each page is read by `read::KeyReader` in as few
//! commands as the server allows and written by a `write::Output`. In a
//! cluster, every master is dumped in turn, in the order of their
//! addresses. After each page the position is known (a master and its
//! `SCAN` cursor), so a dump cut short can go on from there: `SCAN`
//! returns every key present throughout, so resuming misses none that
//! stayed.

mod read;
mod write;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, Endpoint, ServerConfig};
use crate::conn;
use crate::error::{ConnectError, Error};
use crate::meter::Meter;
use crate::rate::Bucket;
use crate::report::{Events, Stop};
use crate::resp::Value;

use read::{Found, KeyReader};
use write::{Commands, Encoding, JsonLines, Output};

/// Keys asked of `SCAN` per page.
const PAGE: usize = 1000;

/// How keys are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpFormat {
    /// Commands as RESP (the default).
    Resp,
    /// Commands as inline lines, quoted as redis-cli reads them.
    Inline,
    /// One JSON object per key.
    Jsonl,
    /// `RESTORE ... REPLACE ABSTTL` with `DUMP`'s payload.
    Restore,
}

/// What to dump, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpOptions {
    /// How keys are written.
    pub format: DumpFormat,
    /// Only keys matching this glob (`SCAN ... MATCH`).
    pub pattern: Option<String>,
    /// Only keys of these types; all when empty.
    pub types: Vec<String>,
    /// Where a dump cut short stopped: `CURSOR`, or in a cluster
    /// `HOST:PORT@CURSOR`.
    pub cursor: Option<String>,
}

/// The account of a dump.
#[derive(Debug)]
#[non_exhaustive]
pub struct DumpSummary {
    /// Keys written whole.
    pub keys: u64,
    /// Commands written (JSON lines: lines).
    pub written: u64,
    /// How they were written.
    pub format: DumpFormat,
    /// Keys of a type only `--format restore` can write (a module's),
    /// skipped.
    pub skipped: u64,
    /// The masters (or the server) dumped.
    pub nodes: Vec<String>,
    /// Why the dump stopped early, if it did.
    pub stop: Option<Stop>,
    /// Where to go on from, after a stop: a `--cursor` value.
    pub resume: Option<String>,
    /// How long the dump took.
    pub elapsed: Duration,
}

impl DumpSummary {
    /// The exit status: 0, or as a load's for the stop (5 for a lost
    /// connection or a broken output, 128 + N for signal N).
    pub fn exit_code(&self) -> i32 {
        use crate::report::exit;
        match &self.stop {
            None => exit::OK,
            Some(Stop::Interrupted { signal, .. }) => 128 + signal,
            Some(_) => exit::CONNECTION_LOST,
        }
    }

    /// Prints the account: what was dumped, and, after a stop, why.
    ///
    /// # Errors
    ///
    /// Only a failure to write.
    pub fn print(&self, err: &mut dyn Write) -> io::Result<()> {
        use crate::report::count;
        let from = self.nodes.join(", ");
        let unit = if self.format == DumpFormat::Jsonl {
            "line"
        } else {
            "command"
        };
        writeln!(
            err,
            "rload: dumped {} from {from} ({}) in {:.1} s",
            count(self.keys, "key"),
            count(self.written, unit),
            self.elapsed.as_secs_f64()
        )?;
        if self.skipped > 0 {
            writeln!(
                err,
                "rload: skipped {} of a module's type (use --format restore)",
                count(self.skipped, "key")
            )?;
        }
        match &self.stop {
            None => {}
            Some(Stop::Interrupted { signal, .. }) => {
                writeln!(err, "rload: interrupted by {}", crate::signal_name(*signal))?;
            }
            Some(Stop::ConnectionLost { addr, reason }) => {
                writeln!(err, "rload: {addr} lost: {reason}")?;
            }
            Some(_) => {}
        }
        Ok(())
    }
}

/// A writer that remembers whether a write failed, to tell a broken output
/// from a broken connection.
struct Tracked<W> {
    inner: W,
    failed: bool,
    /// Counts the bytes written.
    meter: Meter,
}

impl<W: Write> Write for Tracked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        match &r {
            Ok(n) => self.meter.add_bytes(*n as u64),
            Err(_) => self.failed = true,
        }
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.failed |= r.is_err();
        r
    }
}

/// Dumps the server (or cluster) `config` names to `out`.
///
/// # Errors
///
/// Failures before anything is written: a server that cannot be reached
/// or logged in to, a bad `--cursor`.
pub fn dump(
    config: &Config,
    options: &DumpOptions,
    out: &mut dyn Write,
    events: Arc<dyn Events>,
) -> Result<DumpSummary, Error> {
    let started = Instant::now();
    let nodes = nodes(config)?;
    let (first, cursor) = start_at(&nodes, options.cursor.as_deref())?;
    if options.pattern.is_none() && options.types.is_empty() && options.cursor.is_none() {
        config.meter.set_total(total_keys(&nodes));
    }
    let mut out = Tracked {
        inner: io::BufWriter::with_capacity(256 * 1024, out),
        failed: false,
        meter: config.meter.clone(),
    };
    let mut output: Box<dyn Output + '_> = match options.format {
        DumpFormat::Resp | DumpFormat::Restore => Box::new(Commands::new(&mut out, Encoding::Resp)),
        DumpFormat::Inline => Box::new(Commands::new(&mut out, Encoding::Inline)),
        DumpFormat::Jsonl => Box::new(JsonLines::new(&mut out)),
    };
    let mut summary = DumpSummary {
        keys: 0,
        written: 0,
        format: options.format,
        skipped: 0,
        nodes: nodes.iter().map(ServerConfig::addr).collect(),
        stop: None,
        resume: None,
        elapsed: Duration::ZERO,
    };
    let mut cursor = cursor;
    for (i, node) in nodes.iter().enumerate().skip(first) {
        let position = |c: &[u8]| {
            let c = String::from_utf8_lossy(c);
            if config.cluster {
                format!("{}@{c}", node.addr())
            } else {
                c.into_owned()
            }
        };
        let mut dumper = Dumper {
            reader: KeyReader::new(
                conn::connect(node)?,
                node.db,
                config.cluster,
                options.format == DumpFormat::Jsonl,
            )?,
            options,
            output: output.as_mut(),
            events: events.as_ref(),
            config,
            keys: 0,
            skipped: 0,
            bucket: config.rate.map(Bucket::new),
            page_size: config
                .rate
                .map_or(PAGE, |r| (r / 10).clamp(10, PAGE as u64) as usize),
        };
        dumper
            .reader
            .conn()
            .set_read_timeout(config.pipe_timeout)
            .map_err(|e| ConnectError::io(&node.addr(), e))?;
        let ended = dumper.node(&mut cursor);
        summary.keys += dumper.keys;
        summary.skipped += dumper.skipped;
        if let Err(stop) = ended {
            summary.resume = Some(position(&cursor));
            summary.stop = Some(stop);
            break;
        }
        cursor = b"0".to_vec();
        let _ = i;
    }
    if output.flush().is_err() && summary.stop.is_none() {
        summary.stop = Some(output_lost());
    }
    summary.written = output.written();
    drop(output);
    if out.failed
        && !matches!(&summary.stop, Some(Stop::ConnectionLost { addr, .. }) if addr == OUTPUT)
    {
        summary.stop = Some(output_lost());
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// A `SCAN` reply, or the error it is.
fn scan_reply(reply: Value) -> io::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    match reply {
        Value::Error(e) => Err(io::Error::other(e)),
        reply => read::scan_page(reply),
    }
}

/// The name of standard output in an account.
const OUTPUT: &str = "standard output";

fn output_lost() -> Stop {
    Stop::ConnectionLost {
        addr: OUTPUT.into(),
        reason: "writing failed".into(),
    }
}

/// The servers to dump: `config.server`, or every master of its cluster,
/// in the order of their addresses.
fn nodes(config: &Config) -> Result<Vec<ServerConfig>, Error> {
    if !config.cluster {
        return Ok(vec![config.server.clone()]);
    }
    let mut seed = conn::connect(&config.server)?;
    let addr = seed.addr().to_string();
    let reply = seed.call("CLUSTER SLOTS", &[b"CLUSTER", b"SLOTS"])?;
    let host = match &config.server.endpoint {
        Endpoint::Tcp { host, .. } => host.clone(),
        Endpoint::Unix(_) => return Err(Error::Config("cluster mode needs a TCP address".into())),
    };
    let masters = crate::cluster::masters(reply, &host).map_err(|reply| ConnectError::Setup {
        addr,
        command: "CLUSTER SLOTS",
        reply,
    })?;
    let mut nodes: Vec<ServerConfig> = masters
        .into_iter()
        .map(|(host, port)| ServerConfig {
            endpoint: Endpoint::Tcp { host, port },
            ..config.server.clone()
        })
        .collect();
    nodes.sort_by_key(ServerConfig::addr);
    Ok(nodes)
}

/// The keys the servers hold (`DBSIZE`), for a progress display; 0 if one
/// cannot say.
fn total_keys(nodes: &[ServerConfig]) -> u64 {
    let mut total = 0;
    for node in nodes {
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

/// Where to start: the first node to dump and its cursor.
fn start_at(nodes: &[ServerConfig], cursor: Option<&str>) -> Result<(usize, Vec<u8>), Error> {
    let Some(cursor) = cursor else {
        return Ok((0, b"0".to_vec()));
    };
    let bad = || {
        Error::Config(format!(
            "--cursor {cursor}: give the value a dump cut short printed"
        ))
    };
    match cursor.rsplit_once('@') {
        None if nodes.len() == 1 => {
            cursor.parse::<u64>().map_err(|_| bad())?;
            Ok((0, cursor.as_bytes().to_vec()))
        }
        Some((addr, c)) => {
            c.parse::<u64>().map_err(|_| bad())?;
            let i = nodes.iter().position(|n| n.addr() == addr).ok_or_else(|| {
                Error::Config(format!(
                    "--cursor {cursor}: {addr} is not a master of this cluster"
                ))
            })?;
            Ok((i, c.as_bytes().to_vec()))
        }
        None => Err(bad()),
    }
}

/// Dumps one server.
struct Dumper<'a, 'o> {
    reader: KeyReader,
    options: &'a DumpOptions,
    output: &'a mut (dyn Output + 'o),
    events: &'a dyn Events,
    config: &'a Config,
    keys: u64,
    skipped: u64,
    /// `--rate`: what holds the keys back.
    bucket: Option<Bucket>,
    /// Keys asked of `SCAN` per page: fewer under a low `--rate`, so that
    /// pages come smoothly.
    page_size: usize,
}

impl Dumper<'_, '_> {
    /// Dumps every key from `cursor` on; `cursor` is left where the dump
    /// can go on from, if it stops.
    fn node(&mut self, cursor: &mut Vec<u8>) -> Result<(), Stop> {
        let addr = self.reader.conn().addr().to_string();
        let lost = |e: io::Error| Stop::ConnectionLost {
            addr: addr.clone(),
            reason: e.to_string(),
        };
        let first = self.scan_args(cursor);
        let first: Vec<&[u8]> = first.iter().map(Vec::as_slice).collect();
        let mut page =
            scan_reply(self.reader.conn().request(&first).map_err(lost)?).map_err(lost)?;
        loop {
            if let Some(signal) = self.config.interrupt.requested() {
                return Err(Stop::Interrupted {
                    signal,
                    drained: true,
                });
            }
            let (next, keys) = page;
            if let Some(bucket) = &mut self.bucket {
                let output = &mut self.output;
                let interrupt = &self.config.interrupt;
                if !bucket.wait(keys.len() as u64, interrupt, || {
                    let _ = output.flush();
                }) && let Some(signal) = interrupt.requested()
                {
                    return Err(Stop::Interrupted {
                        signal,
                        drained: true,
                    });
                }
            }
            // The next page is asked for in the same round trip as this
            // page's keys.
            let then = (next != b"0").then(|| self.scan_args(&next));
            let then: Option<Vec<&[u8]>> =
                then.as_ref().map(|a| a.iter().map(Vec::as_slice).collect());
            let next_reply = self.page(&keys, then.as_deref()).map_err(lost)?;
            *cursor = next;
            match next_reply {
                None => return Ok(()),
                Some(reply) => page = scan_reply(reply).map_err(lost)?,
            }
        }
    }

    /// `SCAN` from `cursor`, as the options filter it.
    fn scan_args(&self, cursor: &[u8]) -> Vec<Vec<u8>> {
        let mut args = vec![
            b"SCAN".to_vec(),
            cursor.to_vec(),
            b"COUNT".to_vec(),
            self.page_size.to_string().into_bytes(),
        ];
        if let Some(p) = &self.options.pattern {
            args.extend([b"MATCH".to_vec(), p.as_bytes().to_vec()]);
        }
        // One type is filtered by the server; several, by the read script.
        if let [t] = self.options.types.as_slice() {
            args.extend([b"TYPE".to_vec(), t.as_bytes().to_vec()]);
        }
        args
    }

    /// Writes one page of keys; sends `then` in the same round trip and
    /// returns its reply.
    fn page(&mut self, keys: &[Vec<u8>], then: Option<&[&[u8]]>) -> io::Result<Option<Value>> {
        let before = self.keys;
        let next = self.page_keys(keys, then);
        self.config.meter.add_commands(self.keys - before);
        next
    }

    fn page_keys(&mut self, keys: &[Vec<u8>], then: Option<&[&[u8]]>) -> io::Result<Option<Value>> {
        if self.options.format == DumpFormat::Restore {
            let (payloads, next) = self.reader.payloads(keys, then)?;
            for (key, found) in keys.iter().zip(payloads) {
                if let Some((payload, at)) = found {
                    self.output.payload(key, &payload, at)?;
                    self.keys += 1;
                }
            }
            return Ok(next);
        }
        let (found, next) = self.reader.page(keys, &self.options.types, then)?;
        self.write(keys, found)?;
        Ok(next)
    }

    fn write(&mut self, keys: &[Vec<u8>], found: Vec<Found>) -> io::Result<()> {
        for (key, found) in keys.iter().zip(found) {
            match found {
                Found::Skip => {}
                Found::Unknown(t) => {
                    self.skipped += 1;
                    self.events.notice(&format!(
                        "{} is of type {t}, which only --format restore can dump: skipped",
                        String::from_utf8_lossy(key)
                    ));
                }
                Found::Key {
                    kind,
                    expire_at,
                    value: Some(v),
                } => {
                    self.reader
                        .write_small(self.output, key, kind, v, expire_at)?;
                    self.keys += 1;
                }
                Found::Key {
                    kind, value: None, ..
                } => match self.reader.write_big(self.output, key, kind) {
                    Ok(whole) => self.keys += u64::from(whole),
                    Err(e) => {
                        // What was written of it must not stand.
                        let _ = self.output.vanished(key, kind);
                        return Err(e);
                    }
                },
            }
        }
        Ok(())
    }
}
