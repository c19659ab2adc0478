//! Problems with the input: one that cannot be read, and commands that are
//! not valid, each with its place (the input's name, the line, the byte
//! offset).

use std::io;

use super::{FrameError, InlineError, Looks, Position};

/// A problem with the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The file could not be opened.
    #[error("cannot open {name}")]
    Open {
        /// The input as the user named it.
        name: String,
        /// Why the open failed.
        #[source]
        source: io::Error,
    },
    /// The input is a directory.
    #[error("cannot read {name}: it is a directory")]
    Directory {
        /// The input as the user named it.
        name: String,
    },
    /// Reading failed part way.
    #[error("cannot read {name}")]
    Read {
        /// The input as the user named it.
        name: String,
        /// Why the read failed.
        #[source]
        source: io::Error,
    },
    /// The input is not text rload can read (an image, an archive, an RDB
    /// snapshot, UTF-16), as its first bytes say; nothing of it was sent.
    #[error("{name} looks like {}: nothing of it was sent{}", .looks.what, .looks.hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    NotText {
        /// The input as the user named it.
        name: String,
        /// What it looks like.
        looks: Looks,
    },
    /// A header (a CSV file's first line) does not fit the templates.
    #[error("{at}: {why}")]
    Header {
        /// Where the header is.
        at: Location,
        /// What does not fit.
        why: String,
    },
    /// The load was asked to stop while it waited for input.
    #[error("interrupted while waiting for input")]
    Interrupted,
    /// A command is not valid; nothing of it was sent.
    #[error("{at}: {kind}")]
    Invalid {
        /// Where the command starts.
        at: Location,
        /// What is wrong with it.
        kind: InvalidKind,
    },
}

/// A place in the input, for messages: `name:line` and the byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The input as the user named it, or `<stdin>`.
    pub name: String,
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the command's first byte in that input.
    pub offset: u64,
}

impl Location {
    /// Where `pos` is, in one of the inputs `names` (indexed by
    /// [`Position::source`]).
    pub fn new(names: &[String], pos: Position) -> Self {
        Location {
            name: names.get(pos.source as usize).cloned().unwrap_or_default(),
            line: pos.line,
            offset: pos.offset,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.line)
    }
}

/// The ways a command in the input can be invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidKind {
    /// An inline line breaks the quoting rules.
    Inline(InlineError),
    /// A RESP frame is malformed; the offset is absolute in the input.
    Frame(FrameError, u64),
    /// The input ends inside a RESP frame.
    Truncated,
    /// One command is longer than rload will hold in memory.
    TooLong(usize),
    /// A command that would break the reply stream, such as `SUBSCRIBE`.
    Refused(String),
    /// The input ends inside the transaction this `MULTI` opened.
    OpenTransaction,
    /// An RDB file cannot be read on: what is wrong, and where.
    Rdb(String),
    /// A record does not give a command: why (a field a template needs is
    /// missing, the record is not valid CSV or JSON).
    Record(String),
    /// An inline argument longer than the server accepts
    /// (`proto-max-bulk-len`), which would make it close the connection.
    ArgTooLong {
        /// The argument's 1-based position; 1 is the command name.
        index: usize,
        /// Its length.
        len: u64,
        /// The server's limit.
        max: u64,
    },
}

impl std::fmt::Display for InvalidKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidKind::Inline(e) => e.fmt(f),
            InvalidKind::Frame(e, offset) => write!(f, "{e} (at byte offset {offset})"),
            InvalidKind::Truncated => f.write_str("the input ends inside a RESP frame"),
            InvalidKind::TooLong(max) => write!(
                f,
                "the command is longer than {} MiB, the most rload holds for one command",
                max >> 20
            ),
            InvalidKind::Refused(why) | InvalidKind::Rdb(why) => f.write_str(why),
            InvalidKind::ArgTooLong { index, len, max } => write!(
                f,
                "argument {index} is {len} bytes long, over the server's limit of {} (proto-max-bulk-len)",
                super::show_size(*max)
            ),
            InvalidKind::Record(why) => write!(f, "invalid record: {why}"),
            InvalidKind::OpenTransaction => f.write_str(
                "the input ends inside the transaction this MULTI opens (no EXEC or DISCARD follows)",
            ),
        }
    }
}
