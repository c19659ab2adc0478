//! `--repair-output FILE`: for each key that differs, the commands that
//! make the target equal to the source, as RESP that `rload --pipe` (or
//! `redis-cli --pipe`) loads into the target. A key the source has is
//! written exactly as `--dump` writes it (`DEL` and the value in commands
//! of bounded size, or a `SET` that replaces any type, then its expiry),
//! read again from the source as it is now; a key only the target has is
//! a `DEL`. Keys of a database other than 0 come after a `SELECT`.
//!
//! A live source is read key by key. An RDB file cannot be: it is read
//! again, and only the differing keys are let through.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::Arc;

use super::diff::{DiffKind, Difference};
use super::keyed::Keyed;
use crate::config::{Config, Handles};
use crate::dump::link::Fault;
use crate::dump::read::Found;
use crate::dump::write::{Encoded, Encoding};
use crate::dump::{DumpOptions, KeyOutcome, dump_into};
use crate::rebuild::{CommandSink, Commands, Discard, Ending, Kind, Output, Piece};
use crate::report::Events;

/// The repair's commands, going to a file.
type Repair<'a> = Commands<Encoded<&'a mut BufWriter<File>>>;

/// Creates `path`, for the repair's commands.
///
/// # Errors
///
/// The file cannot be created.
pub(crate) fn create(path: &Path) -> io::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(256 * 1024, File::create(path)?))
}

/// Writes the repair of `diffs`, reading each key the source has from
/// `source`; the number of commands written.
///
/// # Errors
///
/// A fault reading the source, or writing the file (`Fault::Output`).
pub(crate) fn from_server(
    file: &mut BufWriter<File>,
    diffs: &[Difference],
    source: &mut Keyed,
) -> Result<u64, Fault> {
    let mut out: Repair<'_> = Commands::new(Encoded::new(file, Encoding::Resp));
    let mut db_now = 0;
    for d in diffs {
        if d.db != db_now {
            out.select(d.db)?;
            db_now = d.db;
        }
        if d.kind == DiffKind::Extra {
            out.sink().command(&[b"DEL", &d.key])?;
            continue;
        }
        rebuild(&mut out, source, d)?;
    }
    out.flush()?;
    Ok(out.sink_ref().count())
}

/// Writes the source's key of `d` as the dump writes it; a key gone from
/// the source since is deleted.
fn rebuild(out: &mut Repair<'_>, source: &mut Keyed, d: &Difference) -> Result<(), Fault> {
    let reader = source.reader_of(d.db, &d.key)?;
    let key = d.key.as_slice();
    for _ in 0..3 {
        let found = reader.page(std::slice::from_ref(&d.key), &[])?.pop();
        let outcome = match found {
            Some(Found::Key {
                kind,
                expire_at,
                value: Some(v),
                field_expiry,
            }) => {
                reader.write_small(out, key, kind, v, expire_at, field_expiry)?;
                KeyOutcome::Whole
            }
            Some(Found::Key {
                kind, value: None, ..
            }) => reader.write_big(out, key, kind)?,
            // Gone, or of a type only a payload can carry.
            _ => KeyOutcome::Vanished,
        };
        match outcome {
            KeyOutcome::Whole => return Ok(()),
            KeyOutcome::Vanished => break,
            KeyOutcome::Changed => {}
        }
    }
    out.sink().command(&[b"DEL", key])?;
    Ok(())
}

/// Writes the repair of `diffs` from the RDB file the compare read: the
/// file is read again, and only the differing keys are written; extras
/// are deleted. The number of commands written.
///
/// # Errors
///
/// The file cannot be read again, or the repair file written.
pub(crate) fn from_file(
    file: &mut BufWriter<File>,
    diffs: &[Difference],
    config: &Config,
    handles: &Handles,
    options: &DumpOptions,
    events: Arc<dyn Events>,
) -> Result<u64, crate::error::Error> {
    let mut out: Repair<'_> = Commands::new(Encoded::new(file, Encoding::Resp));
    let mut db_now = 0;
    let write_err = |e: io::Error| crate::error::Error::Config(format!("--repair-output: {e}"));
    for d in diffs.iter().filter(|d| d.kind == DiffKind::Extra) {
        if d.db != db_now {
            out.select(d.db).map_err(write_err)?;
            db_now = d.db;
        }
        out.sink().command(&[b"DEL", &d.key]).map_err(write_err)?;
    }
    let wanted: HashSet<(u32, &[u8])> = diffs
        .iter()
        .filter(|d| d.kind != DiffKind::Extra)
        .map(|d| (d.db, d.key.as_slice()))
        .collect();
    let mut only = Only {
        out: &mut out,
        wanted,
        db: options.db.unwrap_or(0),
        db_out: db_now,
        passing: false,
    };
    if !only.wanted.is_empty() {
        let summary = dump_into(config, handles, options, &mut only, events)?;
        if let Some(stop) = summary.stop {
            return Err(crate::error::Error::Config(format!(
                "--repair-output: reading the file again failed: {stop}"
            )));
        }
    }
    out.flush().map_err(write_err)?;
    Ok(out.sink_ref().count())
}

/// An output that lets through only the keys wanted.
struct Only<'a, 'b> {
    out: &'a mut Repair<'b>,
    wanted: HashSet<(u32, &'a [u8])>,
    /// The database of the keys that come, and the one last selected in
    /// the output.
    db: u32,
    db_out: u32,
    /// Whether the key being written is wanted.
    passing: bool,
}

impl Output for Only<'_, '_> {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.db = db;
        Ok(())
    }

    fn begin(&mut self, key: &[u8], kind: Kind) -> io::Result<()> {
        self.passing = self.wanted.contains(&(self.db, key));
        if !self.passing {
            return Ok(());
        }
        if self.db != self.db_out {
            self.out.select(self.db)?;
            self.db_out = self.db;
        }
        self.out.begin(key, kind)
    }

    fn piece(&mut self, key: &[u8], kind: Kind, piece: Piece<'_>, first: bool) -> io::Result<()> {
        if self.passing {
            self.out.piece(key, kind, piece, first)?;
        }
        Ok(())
    }

    fn end(&mut self, key: &[u8], kind: Kind, ending: &Ending) -> io::Result<()> {
        if self.passing {
            self.out.end(key, kind, ending)?;
        }
        Ok(())
    }

    fn discard(&mut self, key: &[u8], kind: Kind, why: Discard) -> io::Result<()> {
        if self.passing {
            self.out.discard(key, kind, why)?;
        }
        Ok(())
    }

    fn string(&mut self, key: &[u8], value: &[u8], expire_at: Option<i64>) -> io::Result<()> {
        self.begin(key, Kind::String)?;
        if self.passing {
            self.out.string(key, value, expire_at)?;
        }
        self.passing = false;
        Ok(())
    }

    fn function(&mut self, _code: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn payload(&mut self, _key: &[u8], _payload: &[u8], _at: Option<i64>) -> io::Result<()> {
        Ok(())
    }

    fn written(&self) -> u64 {
        self.out.written()
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
