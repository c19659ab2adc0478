//! Reading commands: inline lines tokenized with redis-cli's rules, RESP
//! frames validated before they are sent, and the position of each.

mod args;
mod error;
pub mod fed;
mod gzip;
pub(crate) mod inline;
mod inputs;
pub(crate) mod plain;
mod reader;
mod resp;
mod sniff;
mod source;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod testing;

pub use args::Args;
pub(crate) use args::{ArgBuf, ArgQueue};
pub use error::{InputError, InvalidKind, Location};
pub use inline::InlineError;
pub use inputs::Inputs;
pub use reader::{Command, HUGE_COMMAND, InputReader, MAX_COMMAND_BYTES, Next, Position};
pub use resp::{FrameError, FrameErrorKind, MAX_BULK_LEN};
pub(crate) use sniff::SNIFF_LEN;
pub use sniff::{Expect, Looks, looks_like_rdb};
pub use source::{Input, SharedReader};

pub(crate) use resp::{frame_args, show_size};

/// What the server accepts, as far as rload checks the input against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest argument (`proto-max-bulk-len`): a longer one makes the
    /// server close the connection.
    pub max_bulk: u64,
    /// The number of databases: `SELECT` of any other fails.
    pub databases: u32,
    /// The newest RDB version whose `DUMP` payloads the server's `RESTORE`
    /// takes, when it said what it is.
    pub rdb_version: Option<u32>,
}

impl Default for Limits {
    /// The server's defaults.
    fn default() -> Self {
        Limits {
            max_bulk: crate::resp::MAX_BULK_LEN,
            databases: 16,
            rdb_version: None,
        }
    }
}

/// Where a load's commands come from: input framed into commands, one at a
/// time, each with its place in the input. [`InputReader`] (inline lines
/// and RESP) is one; a source of records turned into commands is another.
///
/// A command is lent until the next call; the feeder asks for the next one
/// already buffered, sends what it has when none is, then reads more (which
/// may block on a slow producer).
pub trait CommandSource {
    /// The next command already in the buffer, without reading; see
    /// [`Next`].
    ///
    /// # Errors
    ///
    /// An invalid command (nothing of it is returned); after one, the
    /// source goes on with the next command.
    fn next_buffered(&mut self) -> Result<Next<'_>, InputError>;

    /// Reads more input, once, blocking if the input has none ready.
    ///
    /// # Errors
    ///
    /// A read failure, or a command too long to hold.
    fn read_more(&mut self) -> Result<(), InputError>;

    /// Takes the command last lent, which must be
    /// [`takeable`](Command::takeable), out of the source as its encoded
    /// bytes, without copying it.
    fn take_last(&mut self) -> Vec<u8>;

    /// The inputs' names, indexed by [`Position::source`].
    fn names(&self) -> &[String];

    /// Checks arguments against the server's `proto-max-bulk-len`.
    fn set_max_bulk(&mut self, max: u64);

    /// Learns what the server accepts, once connected: by default, the
    /// longest argument.
    fn set_limits(&mut self, limits: &Limits) {
        self.set_max_bulk(limits.max_bulk);
    }

    /// Makes a read that waits on a producer give up once `interrupt` is
    /// requested, and counts the bytes read in `meter`.
    fn watch(&mut self, interrupt: crate::interrupt::Interrupt, meter: crate::meter::Meter);

    /// Reads what must be read before anything is sent (a CSV header) and
    /// checks it, so a mistake stops the load before it starts.
    ///
    /// # Errors
    ///
    /// What was read does not fit (a header lacks a column a template
    /// names), or the read failed.
    fn check(&mut self) -> Result<(), InputError> {
        Ok(())
    }

    /// Reads the first of the input, if nothing of it is read yet, so
    /// that what its first bytes say (binary input) stops the load before
    /// it starts.
    ///
    /// # Errors
    ///
    /// The read failed, or the input is not commands.
    fn prime(&mut self) -> Result<(), InputError> {
        Ok(())
    }

    /// Commands a record gave that are not sent, because a spread (`{a[]}`
    /// of an empty array, `{*}` of an empty object) gave them nothing.
    fn empty_spreads(&self) -> u64 {
        0
    }
}

impl CommandSource for InputReader {
    #[inline(always)]
    fn next_buffered(&mut self) -> Result<Next<'_>, InputError> {
        InputReader::next_buffered(self)
    }

    fn read_more(&mut self) -> Result<(), InputError> {
        InputReader::read_more(self)
    }

    fn take_last(&mut self) -> Vec<u8> {
        InputReader::take_last(self)
    }

    fn names(&self) -> &[String] {
        InputReader::names(self)
    }

    fn set_max_bulk(&mut self, max: u64) {
        InputReader::set_max_bulk(self, max);
    }

    fn watch(&mut self, interrupt: crate::interrupt::Interrupt, meter: crate::meter::Meter) {
        InputReader::watch(self, interrupt, meter);
    }

    fn prime(&mut self) -> Result<(), InputError> {
        InputReader::prime(self)
    }
}
