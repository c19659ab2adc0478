//! RDB files as a load's input (`rload --pipe dump.rdb`): each key is
//! replayed ([`super::replay`]) into the commands that rebuild it, the
//! commands a dump's RESP holds, or, where the target reads the file's RDB
//! version, into `RESTORE` of the key's own serialized bytes (small keys;
//! a big one is streamed as commands, in flat memory). A command's
//! position is its key's: line N is the N-th key of the file.
//!
//! A file that turns out truncated or corrupt stops the load at the key it
//! is in, with the byte offset, and what was sent of that key is undone
//! (`DEL`), so no key is left half-made.

use std::io::{self, Read};

use super::RdbReader;
use super::replay::{Replay, ReplayError, ReplayOptions, Step};
use crate::filter::KeyFilter;
use crate::input::{
    ArgBuf, ArgQueue, Command, CommandSource, Input, InputError, Inputs, InvalidKind, Limits,
    Location, Next, Position, looks_like_rdb,
};
use crate::interrupt::Interrupt;
use crate::meter::Meter;
use crate::rebuild::Commands;

/// Commands made before they are handed over: the feeder sends what it
/// has before it asks for more, so a handful per call would cost a write
/// each; and their bytes, which bound the memory a big key's pieces take
/// (each up to a megabyte).
const BATCH: usize = 256;
const BATCH_BYTES: usize = 2 << 20;

/// The bytes of the current input, decompressed.
pub(crate) struct InputsRead(pub(crate) Inputs);

impl Read for InputsRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(io::Error::other)
    }
}

/// Whether the current input of `inputs` is an RDB file (its first bytes
/// say so, through any compression); they are read ahead, not consumed.
///
/// # Errors
///
/// The input cannot be read.
pub(crate) fn starts_an_rdb(inputs: &mut Inputs) -> Result<bool, InputError> {
    // As few reads as it takes: commands typed at a terminal come a line
    // at a time, and must not wait for more.
    let mut head = inputs.peek_once(crate::input::SNIFF_LEN)?.to_vec();
    while head.len() < 9 && maybe_rdb(&head) {
        let more = inputs.peek_once(9 - head.len())?.to_vec();
        if more.len() == head.len() {
            break;
        }
        head = more;
    }
    Ok(looks_like_rdb(&head))
}

/// Whether `head`, shorter than a header, could still begin one.
fn maybe_rdb(head: &[u8]) -> bool {
    !head.is_empty()
        && [&b"REDIS0"[..], b"VALKEY"]
            .iter()
            .any(|m| m.starts_with(&head[..head.len().min(m.len())]) || head.starts_with(m))
}

/// RDB files, as commands.
pub struct RdbSource {
    /// The inputs, while no file is being read.
    inputs: Option<Inputs>,
    names: Vec<String>,
    current: u32,
    replay: Option<Replay<InputsRead>>,
    options: ReplayOptions,
    commands: Commands<ArgQueue<Vec<ArgBuf>>>,
    /// The commands of `commands` lent so far, and where each is from:
    /// its key's number in the file and the byte offset it was read at.
    next: usize,
    at: Vec<(u64, u64)>,
    line: u64,
    offset: u64,
    /// An error to give once the commands before it are lent.
    failed: Option<InputError>,
    /// A file was opened: the next is the input after it.
    opened: bool,
    ended: bool,
}

impl RdbSource {
    /// The RDB files `inputs` (the first one peeked at already, or not);
    /// `select`: each database's keys go after a `SELECT` of it (else all
    /// into the database the load is in).
    pub fn new(inputs: Inputs, select: bool) -> Self {
        let names = inputs.names().to_vec();
        RdbSource {
            inputs: Some(inputs),
            names,
            current: 0,
            replay: None,
            options: ReplayOptions {
                select,
                restore_upto: None,
                restore_strings: false,
                now_ms: Some(now_ms()),
            },
            commands: Commands::new(ArgQueue::new(Vec::new())),
            next: 0,
            at: Vec::new(),
            line: 1,
            offset: 0,
            failed: None,
            opened: false,
            ended: false,
        }
    }

    fn invalid(&self, why: String, offset: u64) -> InputError {
        let at = Position {
            source: self.current,
            line: self.line,
            offset,
        };
        InputError::Invalid {
            at: Location::new(&self.names, at),
            kind: InvalidKind::Rdb(why),
        }
    }

    /// Opens the next file as an RDB; false when there is none.
    fn open(&mut self) -> Result<bool, InputError> {
        let Some(mut inputs) = self.inputs.take() else {
            return Ok(false);
        };
        if self.opened {
            if !inputs.next_input() {
                return Ok(false);
            }
            self.current += 1;
        }
        self.opened = true;
        if !starts_an_rdb(&mut inputs)? {
            let name = &self.names[self.current as usize];
            return Err(InputError::Read {
                name: name.clone(),
                source: io::Error::other(
                    "not an RDB file: load RDB files on their own, not with other inputs",
                ),
            });
        }
        let reader =
            RdbReader::new(InputsRead(inputs)).map_err(|e| self.invalid(e.to_string(), 0))?;
        let replay = Replay::new(reader, KeyFilter::default(), self.options);
        self.replay = Some(replay);
        self.line = 1;
        Ok(true)
    }

    /// Replays until some commands are made, the file ends, or it fails.
    fn fill(&mut self) -> Result<(), InputError> {
        self.commands.sink().clear();
        self.at.clear();
        self.next = 0;
        loop {
            let Some(replay) = &mut self.replay else {
                if !self.open()? {
                    self.ended = true;
                    return Ok(());
                }
                continue;
            };
            self.line = replay.reader().keys_done() + 1;
            self.offset = replay.reader().offset();
            let step = replay.step(&mut self.commands);
            let made = self.commands.sink_ref().len();
            self.at.resize(made, (self.line, self.offset));
            match step {
                Ok(Step::End) => {
                    let replay = self.replay.take().expect("being read");
                    self.inputs = Some(replay.into_source().0);
                }
                // Enough to be worth handing over: the feeder sends what
                // it has before it asks for more.
                Ok(_)
                    if self.commands.sink_ref().len() >= BATCH
                        || self.commands.sink_ref().bytes() >= BATCH_BYTES =>
                {
                    return Ok(());
                }
                Ok(_) => {}
                Err(ReplayError::Output(e)) => return Err(self.invalid(e.to_string(), self.offset)),
                Err(ReplayError::Rdb(e)) => {
                    let offset = e.at().map_or(self.offset, |at| at.offset);
                    // What was sent of the key must not stand.
                    let _ = replay.abandon(&mut self.commands);
                    self.failed = Some(self.invalid(e.to_string(), offset));
                    self.replay = None;
                    self.ended = true;
                    return Ok(());
                }
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl CommandSource for RdbSource {
    fn next_buffered(&mut self) -> Result<Next<'_>, InputError> {
        if self.next < self.commands.sink_ref().len() {
            let i = self.next;
            self.next += 1;
            let (line, offset) = self.at[i];
            let pos = Position {
                source: self.current,
                line,
                offset,
            };
            return Ok(Next::Command(Command {
                pos,
                args: self.commands.sink_ref().get(i).args(&[]),
                resp: None,
                takeable: false,
            }));
        }
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        Ok(if self.ended {
            Next::End
        } else {
            Next::NeedInput
        })
    }

    fn read_more(&mut self) -> Result<(), InputError> {
        self.fill()
    }

    fn take_last(&mut self) -> Vec<u8> {
        unreachable!("commands made from an RDB are never takeable")
    }

    fn names(&self) -> &[String] {
        &self.names
    }

    fn set_max_bulk(&mut self, _max: u64) {}

    fn set_limits(&mut self, limits: &Limits) {
        self.options.restore_upto = limits.rdb_version;
    }

    fn watch(&mut self, interrupt: Interrupt, meter: Meter) {
        if let Some(inputs) = &mut self.inputs {
            inputs.watch(interrupt, meter);
        }
    }
}

impl Input {
    /// Whether this input is an RDB file, by its first bytes (through any
    /// compression). Standard input is not looked at here.
    pub fn is_rdb(&self) -> bool {
        if matches!(self, Input::Stdin) {
            return false;
        }
        Inputs::open(std::slice::from_ref(self))
            .and_then(|mut i| starts_an_rdb(&mut i))
            .unwrap_or(false)
    }
}
