//! Dumping one server: every database that holds keys (or the one `-n`
//! picks), each read with `SCAN` a page at a time. The position moves past
//! a page only once every key of it is written, so a dump cut short (a lost
//! connection, a signal, an error reply) goes on from the page it was in.
//! With `--reconnect`, a lost connection is opened again and the dump goes
//! on from there by itself.

use std::time::Duration;

use super::link::{Fault, Link, ReplyError, Retry};
use super::page::{PageState, Pager};
use super::part::{self, Way};
use super::position::Position;
use super::read::KeyReader;
use super::shape;
use super::{DumpFormat, DumpOptions, Ended};
use crate::config::{Config, ServerConfig};
use crate::conn::{self, Patience};
use crate::error::Error;
use crate::interrupt::Interrupt;

/// Connects to `server` and readies a reader, in database `db`. The first
/// connection of a dump has `first`, what `--wait` allows; a node of a
/// cluster dumped without `-c` is then named as one.
pub(crate) fn open(
    server: &ServerConfig,
    config: &Config,
    options: &DumpOptions,
    cluster: bool,
    interrupt: &Interrupt,
    retry: &mut Retry,
    first: Option<&Patience>,
) -> Result<KeyReader, Error> {
    let mut server = server.clone();
    // The reader takes replies apart as RESP2 gives them, and selects the
    // database itself, patient with a busy server.
    server.resp3 = false;
    let db = std::mem::take(&mut server.db);
    let mut conn = match first {
        Some(patience) => conn::connect_waiting(&server, patience)?,
        None => conn::connect(&server)?,
    };
    if let (Some(patience), false) = (first, cluster)
        && conn.partial_cluster_node()?
    {
        patience.notice(&format!(
            "{} is a Redis Cluster node: this dumps its own keys only; -c dumps the whole cluster",
            conn.addr()
        ));
    }
    let addr = conn.addr().to_string();
    conn.set_read_timeout(config.pipe_timeout)
        .map_err(|e| crate::error::ConnectError::io(&addr, e))?;
    let link = Link::new(conn, interrupt.clone());
    let whole_strings = options.format == DumpFormat::Jsonl;
    let mut reader =
        KeyReader::new(link, cluster, whole_strings, retry).map_err(|f| setup_error(&addr, f))?;
    if db != 0 {
        reader
            .select(db, retry)
            .map_err(|f| setup_error(&addr, f))?;
    }
    Ok(reader)
}

/// A fault while readying a connection, as a failure to connect.
pub(crate) fn setup_error(addr: &str, f: Fault) -> Error {
    use crate::error::ConnectError;
    Error::Connect(match f {
        Fault::Io(e) | Fault::Output(e) => ConnectError::io(addr, e),
        Fault::Interrupted(_) => ConnectError::io(addr, std::io::ErrorKind::Interrupted.into()),
        Fault::Reply(e) => ConnectError::Setup {
            addr: addr.to_string(),
            command: "readying the dump",
            reply: format!("{} answered {}", e.command, e.text),
        },
    })
}

/// What [`plan`] decides.
type Plan = (Vec<(u32, u64)>, bool, Vec<u8>);

/// The databases to dump, whether each is `SELECT`ed in the output (when
/// every database is dumped, unless only database 0 has keys), and where
/// to start.
fn plan(
    reader: &mut KeyReader,
    config: &Config,
    options: &DumpOptions,
    retry: &mut Retry,
) -> Result<Plan, Error> {
    let addr = reader.link.addr().to_string();
    let start = match &options.cursor {
        Some(c) => Position::parse(c, false)?,
        None => Position::Server {
            db: None,
            cursor: b"0".to_vec(),
        },
    };
    let Position::Server { db: from, cursor } = start else {
        unreachable!("parsed as one server's")
    };
    let info = reader
        .link
        .patient_checked(&[b"INFO", b"keyspace"], retry)
        .map_err(|f| setup_error(&addr, f))?;
    let keyspace = shape::keyspace(&info).unwrap_or_default();
    let size = |db: u32| keyspace.iter().find(|d| d.0 == db).map_or(0, |d| d.1);
    match (options.db, from) {
        (Some(n), Some(from)) if n != from => Err(Error::Config(format!(
            "--cursor {from}:...: the dump that printed it read database {from}, not -n {n}"
        ))),
        (Some(n), _) => Ok((vec![(n, size(n))], false, cursor)),
        // A plain cursor: the database the connection is in.
        (None, None) if options.cursor.is_some() => {
            let db = config.server.db;
            Ok((vec![(db, size(db))], false, cursor))
        }
        (None, from) => {
            let from = from.unwrap_or(0);
            let mut dbs: Vec<(u32, u64)> = keyspace
                .iter()
                .filter(|d| d.0 >= from)
                .map(|d| (d.0, d.1))
                .collect();
            if dbs.first().is_none_or(|d| d.0 != from) && options.cursor.is_some() {
                dbs.insert(0, (from, 0));
            }
            // Only database 0: the output needs no SELECT, and loads into
            // any database the loader picks (or a cluster).
            let all =
                options.cursor.is_some() || dbs.len() > 1 || dbs.first().is_some_and(|d| d.0 != 0);
            Ok((dbs, all, cursor))
        }
    }
}

/// Dumps one server. `Err` is a failure before anything was written.
pub(crate) fn run(
    pager: &mut Pager<'_>,
    config: &Config,
    options: &DumpOptions,
    patience: &Patience,
) -> Result<Ended, Error> {
    let mut reader = open(
        &config.server,
        config,
        options,
        false,
        &pager.interrupt,
        &mut pager.retry,
        Some(patience),
    )?;
    let addr = reader.link.addr().to_string();
    let (dbs, all, mut cursor) = plan(&mut reader, config, options, &mut pager.retry)?;
    let unsplit = options.pattern.is_none() && options.types.is_empty() && options.split.is_none();
    if unsplit && options.cursor.is_none() {
        pager.meter.set_total(dbs.iter().map(|d| d.1).sum());
    }
    let by_slot = options.split.is_some()
        && options.scan
        && table_unchecked(&mut reader, &mut pager.retry).map_err(|f| setup_error(&addr, f))?;
    pager.summary.reached(&addr);
    let mut reconnects = config.reconnect;
    for (i, &(db, keys)) in dbs.iter().enumerate() {
        if i > 0 {
            cursor = b"0".to_vec();
        }
        let way = Way::of(options, by_slot, keys, &cursor);
        if let Way::Stretch(stretch) = way {
            cursor = part::first_cursor(stretch, &cursor, db, options)?;
        }
        let mut state = PageState::default();
        let position = |c: &[u8]| Position::Server {
            db: all.then_some(db),
            cursor: c.to_vec(),
        };
        loop {
            let ended = db_from(pager, &mut reader, db, all, way, &mut cursor, &mut state);
            let Err(fault) = ended else { break };
            if let (Fault::Io(e), true) = (&fault, reconnects > 0) {
                reconnects -= 1;
                pager.events.notice(&format!(
                    "{addr} lost ({e}): reconnecting, and going on from the page it was in"
                ));
                std::thread::sleep(Duration::from_millis(200));
                match open(
                    &config.server,
                    config,
                    options,
                    false,
                    &pager.interrupt,
                    &mut pager.retry,
                    None,
                ) {
                    Ok(r) => {
                        reader = r;
                        state = PageState::default();
                        continue;
                    }
                    Err(e) => {
                        let stop =
                            super::stop_of(&addr, Fault::Io(std::io::Error::other(e)), config);
                        return Ok(stopped(pager, way, db, stop, position(&cursor), &state));
                    }
                }
            }
            let stop = super::stop_of(&addr, fault, config);
            return Ok(stopped(pager, way, db, stop, position(&cursor), &state));
        }
    }
    Ok(Ended::Done)
}

/// The account's end of a dump of database `db` that stopped at
/// `position`. A part split by slot because its database was small goes
/// on from the database's start: every key of it written so far is
/// written again.
fn stopped(
    pager: &mut Pager<'_>,
    way: Way,
    db: u32,
    stop: crate::report::Stop,
    position: Position,
    state: &PageState,
) -> Ended {
    if let (Way::Slots { again: true, .. }, Position::Server { db: at, .. }) = (way, &position) {
        let again = pager.summary.take_back(db);
        let position = Position::Server {
            db: *at,
            cursor: b"0".to_vec(),
        };
        return Ended::stopped(stop, position, again + state.written);
    }
    Ended::stopped(stop, position, state.written)
}

/// Whether the server runs in cluster mode.
/// Whether the server's keys are not in the one hash table per database
/// whose `SCAN` the split by stretches was worked out on (Redis's
/// `dictScan`): a cluster node's (a table per slot), or Valkey's (whose
/// hash table of 8.1 was not checked). Its parts are split by slot.
fn table_unchecked(reader: &mut KeyReader, retry: &mut Retry) -> Result<bool, Fault> {
    if cluster_enabled(reader, retry)? {
        return Ok(true);
    }
    let info = reader.link.patient(&[b"INFO", b"server"], retry)?;
    Ok(info
        .as_bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
        .is_some_and(is_valkey))
}

/// Whether `INFO server` is a Valkey server's.
fn is_valkey(info: &str) -> bool {
    info.lines().any(|l| l.trim() == "server_name:valkey")
}

fn cluster_enabled(reader: &mut KeyReader, retry: &mut Retry) -> Result<bool, Fault> {
    let info = reader.link.patient(&[b"INFO", b"cluster"], retry)?;
    Ok(info
        .as_bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
        .is_some_and(|t| t.lines().any(|l| l.trim() == "cluster_enabled:1")))
}

/// Dumps database `db` from `cursor`, its keys shared as `way` says;
/// `cursor` stays on the page being written until it is whole.
fn db_from(
    pager: &mut Pager<'_>,
    reader: &mut KeyReader,
    db: u32,
    all: bool,
    way: Way,
    cursor: &mut Vec<u8>,
    state: &mut PageState,
) -> Result<(), Fault> {
    reader.select(db, &mut pager.retry)?;
    if all {
        pager.output.select(db)?;
    }
    let mut count = pager.page_size;
    loop {
        let (next, keys) = next_page(pager, reader, way, cursor, &mut count)?;
        pager.page(reader, &keys, state)?;
        if let Some(slot) = state.moved.first() {
            // Only a cluster's node redirects: its keys are not all here.
            return Err(Fault::Reply(ReplyError {
                command: "a read".into(),
                text: format!(
                    "MOVED or ASK for slot {slot}: this is a cluster node whose slots are moving; dump the cluster with -c"
                ),
            }));
        }
        pager.summary.add_keys(db, state.written);
        *state = PageState::default();
        match next {
            Some(next) => *cursor = next,
            None => return Ok(()),
        }
    }
}

/// The cursor after a page (`None` at the end), and the page's keys that
/// are this dump's.
type Page = (Option<Vec<u8>>, Vec<Vec<u8>>);

/// The next page from `cursor`, `count` keys asked of `SCAN` (see
/// `part::Stretch::page`).
fn next_page(
    pager: &mut Pager<'_>,
    reader: &mut KeyReader,
    way: Way,
    cursor: &[u8],
    count: &mut usize,
) -> Result<Page, Fault> {
    if let Way::Stretch(stretch) = way {
        let (next, keys) = stretch.page(part::number(cursor)?, count, |c, n| {
            Ok(scan(pager, reader, c.to_string().as_bytes(), n, None)?.page)
        })?;
        return Ok((next.map(|n| n.to_string().into_bytes()), keys));
    }
    let (next, mut keys) = scan(pager, reader, cursor, *count, None)?.page;
    if let Way::Slots { split, .. } = way {
        keys.retain(|k| split.has(k));
    }
    Ok(((next != b"0").then_some(next), keys))
}

/// A `SCAN` page, and the reply to what was sent before it.
pub(crate) struct Scanned {
    pub before: Option<crate::resp::Value>,
    pub page: (Vec<u8>, Vec<Vec<u8>>),
}

/// One `SCAN` page of `count` keys from `cursor`, as the options filter
/// it, retrying transient errors; `before` is sent in the same round trip,
/// first, and its reply (unchecked) returned too.
pub(crate) fn scan(
    pager: &mut Pager<'_>,
    reader: &mut KeyReader,
    cursor: &[u8],
    count: usize,
    before: Option<&[&[u8]]>,
) -> Result<Scanned, Fault> {
    let count = count.to_string();
    let mut args: Vec<&[u8]> = vec![b"SCAN", cursor, b"COUNT", count.as_bytes()];
    if let Some(p) = &pager.options.pattern {
        args.extend([&b"MATCH"[..], p.as_bytes()]);
    }
    // One type is filtered by the server; several, by the read script.
    if let [t] = pager.options.types.as_slice() {
        args.extend([&b"TYPE"[..], t.as_bytes()]);
    }
    loop {
        if let Some(signal) = pager.interrupt.requested() {
            return Err(Fault::Interrupted(signal));
        }
        if let Some(before) = before {
            reader.link.send(before)?;
        }
        reader.link.send(&args)?;
        let before_reply = match before {
            Some(_) => Some(reader.link.reply()?),
            None => None,
        };
        match reader.link.checked(b"SCAN") {
            Ok(reply) => {
                pager.retry.reset();
                let page = shape::scan_page(reply)?;
                pager.summary.scans += 1;
                pager.summary.scanned += page.1.len() as u64;
                return Ok(Scanned {
                    before: before_reply,
                    page,
                });
            }
            Err(Fault::Reply(e)) if e.class() == super::link::Class::Transient => {
                pager.retry.pause(e, &pager.interrupt)?
            }
            Err(f) => return Err(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_valkey;

    #[test]
    fn a_valkey_server_is_told_by_its_info() {
        let valkey =
            "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.1.1\r\n";
        assert!(is_valkey(valkey));
        assert!(!is_valkey("# Server\r\nredis_version:7.0.15\r\n"));
    }
}
