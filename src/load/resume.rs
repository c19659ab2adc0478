//! Skipping to the resume point (`--resume-from N`): the skipped commands
//! are read and validated, a point that would split a transaction is
//! refused, and the database the skipped part left selected is found, so
//! the rest lands where a clean load puts it.
//!
//! A skipped `SELECT` counts only if it took effect: its database exists
//! (below the server's `databases`), and if it sat in a transaction, that
//! transaction ran. A transaction the input discarded did not; one the
//! server aborted at `EXEC` (`EXECABORT`, when a queued command is refused)
//! did not either, and rload finds that out by queueing the transaction's
//! commands again inside a `MULTI` it then discards, which executes none of
//! them. A `MULTI` the server refuses (an ACL without it) opens no
//! transaction: rload asks the server once, when it skips one.

use super::feeder::{Feeder, Halt};
use crate::command::Watch;
use crate::command::classify;
use crate::conn::Connection;
use crate::error::{ConnectError, Error};
use crate::input::InvalidKind;
use crate::input::{CommandSource, Next};
use crate::report::{Stop, count};

/// A skipped transaction's commands are kept, to find out whether it ran,
/// up to this many bytes; a larger one is taken to have run.
const MAX_PROBED_BLOCK: usize = 1 << 20;

/// A transaction in the skipped part of the input.
#[derive(Default)]
struct SkippedBlock {
    /// The database its `SELECT` switches to, if it has one.
    select: Option<u32>,
    /// Its commands after the `MULTI`, while they fit.
    commands: Vec<Vec<Vec<u8>>>,
    bytes: usize,
    /// Too large to keep.
    overflowed: bool,
}

impl SkippedBlock {
    fn keep(&mut self, args: Vec<Vec<u8>>) {
        self.bytes += args.iter().map(Vec::len).sum::<usize>();
        if self.bytes > MAX_PROBED_BLOCK {
            self.overflowed = true;
            self.commands = Vec::new();
        } else if !self.overflowed {
            self.commands.push(args);
        }
    }
}

impl Feeder {
    /// Reads past the first `--resume-from` commands, validating them.
    /// Returns the database the skipped part left selected, if it changed
    /// it; `probe` is the connection that will carry the load, used to find
    /// out whether a skipped transaction ran. A reason not to go on (an
    /// invalid command, a point inside a transaction) is kept for
    /// [`Feeder::run`] to report.
    ///
    /// # Errors
    ///
    /// The probe's connection failed, or the input ends before the resume
    /// point.
    pub(crate) fn skip_to_resume_point<S: CommandSource + ?Sized>(
        &mut self,
        source: &mut S,
        mut probe: Option<&mut Connection>,
    ) -> Result<Option<u32>, Error> {
        let mut db = None;
        let mut block: Option<SkippedBlock> = None;
        let mut refused = None;
        while self.seq < self.resume_from {
            let cmd = match source.next_buffered() {
                Ok(Next::Command(cmd)) => cmd,
                Ok(Next::NeedInput) => {
                    if let Err(e) = source.read_more()
                        && let Err(stop) = self.skip_or_stop(e)
                    {
                        return Ok(self.stop_early(stop));
                    }
                    continue;
                }
                // Resuming a load of other input, most likely: nothing is
                // sent, and the exit status says so.
                Ok(Next::End) => {
                    return Err(Error::Config(format!(
                        "--resume-from {} is past the end of the input, which holds {}: nothing was sent",
                        self.resume_from,
                        count(self.seq, "command")
                    )));
                }
                Err(e) => match self.skip_or_stop(e) {
                    Ok(()) => continue,
                    Err(stop) => return Ok(self.stop_early(stop)),
                },
            };
            let watch = match classify(&cmd.args, self.limits.databases) {
                Ok(w) => w,
                Err(why) => {
                    let e = self.invalid_input(cmd.pos, InvalidKind::Refused(why));
                    match self.skip_or_stop(e) {
                        Ok(()) => continue,
                        Err(stop) => return Ok(self.stop_early(stop)),
                    }
                }
            };
            // A MULTI the server refuses (an ACL without it) opened nothing
            // when it was sent: its commands ran one by one.
            let watch = match watch {
                Some(Watch::Multi)
                    if block.is_none() && multi_refused(&mut refused, probe.as_deref_mut())? =>
                {
                    None
                }
                w => w,
            };
            self.seq += 1;
            self.meter.set_skipped(self.seq);
            self.track_block(watch, cmd.pos);
            match (watch, block.as_mut()) {
                (Some(Watch::Multi), None) => block = Some(SkippedBlock::default()),
                (Some(Watch::Exec), Some(b)) => {
                    let b = std::mem::take(b);
                    block = None;
                    if b.select.is_some() && ran(&b, probe.as_deref_mut())? {
                        db = b.select.or(db);
                    }
                }
                (Some(Watch::Reset), _) => {
                    block = None;
                    db = Some(0);
                }
                (Some(w), Some(_)) if w.ends_block() => block = None,
                (watch, Some(b)) => {
                    if let Some(Watch::Select(n)) = watch {
                        b.select = Some(n);
                    }
                    b.keep(cmd.args.iter().map(<[u8]>::to_vec).collect());
                }
                (Some(Watch::Select(n)), None) => db = Some(n),
                _ => {}
            }
        }
        if let Some(open) = self.open_block.take() {
            // The transaction must be sent whole: resuming before its MULTI does.
            self.done_through = open.seq - 1;
            let why = format!(
                "--resume-from {} falls inside the transaction that starts with this MULTI (command {}); resume from {} instead",
                self.resume_from, open.seq, self.done_through
            );
            let e = self.invalid_input(open.pos, InvalidKind::Refused(why));
            return Ok(self.stop_early(Halt::Stop(Stop::Input(e))));
        }
        Ok(db)
    }

    /// Keeps `stop` for [`Feeder::run`]; nothing is selected.
    fn stop_early(&mut self, stop: Halt) -> Option<u32> {
        self.early_stop = Some(stop);
        None
    }
}

/// Whether the server refuses `MULTI` (an ACL without it), found once
/// (`known`) on the probe; without a probe, it is taken to accept it.
fn multi_refused(known: &mut Option<bool>, probe: Option<&mut Connection>) -> Result<bool, Error> {
    if let Some(refused) = *known {
        return Ok(refused);
    }
    let Some(conn) = probe else {
        return Ok(false);
    };
    let refused = conn.call("MULTI", &[b"MULTI"])?.error().is_some();
    if !refused {
        conn.call("DISCARD", &[b"DISCARD"])?;
    }
    *known = Some(refused);
    Ok(refused)
}

/// Whether a skipped transaction ran when it was sent: queues its commands
/// again inside a `MULTI`, then discards it. A command the server refuses
/// to queue made it abort the transaction at `EXEC`. Without a probe, or
/// for a transaction too large to have kept, it is taken to have run.
fn ran(block: &SkippedBlock, probe: Option<&mut Connection>) -> Result<bool, ConnectError> {
    let Some(conn) = probe else {
        return Ok(true);
    };
    if block.overflowed || conn.call("MULTI", &[b"MULTI"])?.error().is_some() {
        return Ok(true);
    }
    let mut refused = false;
    for args in &block.commands {
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        refused |= conn.call("MULTI", &args)?.error().is_some();
    }
    conn.call("DISCARD", &[b"DISCARD"])?;
    Ok(!refused)
}
