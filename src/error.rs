//! Errors: each names what went wrong and where (the flag, the input line, the
//! byte offset, the server address). Error *replies* from the server are not
//! errors here; they are data, counted in the summary.

use std::io;
use std::time::Duration;

use crate::input::{FrameError, InlineError};

/// Everything that can stop rload from starting or finishing a load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A flag or setting is invalid.
    #[error("{0}")]
    Config(String),
    /// An input could not be opened or read, or holds an invalid command.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The connection could not be set up.
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

impl Error {
    /// The exit status for this error; see [`crate::report::exit`].
    pub fn exit_code(&self) -> i32 {
        use crate::report::exit;
        match self {
            Error::Config(_) => exit::USAGE,
            Error::Input(_) => exit::INPUT,
            Error::Connect(_) => exit::CONNECT,
        }
    }
}

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
            InvalidKind::Refused(why) => f.write_str(why),
            InvalidKind::ArgTooLong { index, len, max } => write!(
                f,
                "argument {index} is {len} bytes long, over the server's limit of {} (proto-max-bulk-len)",
                crate::input::show_size(*max)
            ),
            InvalidKind::OpenTransaction => f.write_str(
                "the input ends inside the transaction this MULTI opens (no EXEC or DISCARD follows)",
            ),
        }
    }
}

/// A failure to connect, authenticate, select the database or set up TLS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The TCP or unix socket connection failed.
    #[error("could not connect to Redis at {addr}")]
    Io {
        /// The address tried.
        addr: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The connection was made, but the server did not answer a setup
    /// command (AUTH, PING, SELECT, HELLO) within the connect timeout.
    #[error(
        "connected to {addr}, but the server did not answer {command} within {} s (-t sets this limit)",
        .timeout.as_secs_f64()
    )]
    Unanswered {
        /// The server's address.
        addr: String,
        /// The command it did not answer.
        command: &'static str,
        /// How long rload waited.
        timeout: Duration,
    },
    /// The server needs a password, and none was given.
    #[error("the server at {addr} needs a password: give it with -a, REDISCLI_AUTH or --askpass")]
    PasswordNeeded {
        /// The server's address.
        addr: String,
    },
    /// The server refused the credentials.
    #[error("AUTH failed at {addr}: {reply}")]
    Auth {
        /// The server's address.
        addr: String,
        /// The server's error reply.
        reply: String,
    },
    /// The server refused the database number.
    #[error("SELECT {db} failed at {addr}: {reply}")]
    Select {
        /// The server's address.
        addr: String,
        /// The database asked for.
        db: u32,
        /// The server's error reply.
        reply: String,
    },
    /// A setup command other than AUTH or SELECT failed.
    #[error("{command} failed at {addr}: {reply}")]
    Setup {
        /// The server's address.
        addr: String,
        /// The command that failed.
        command: &'static str,
        /// The server's error reply, or what was wrong with its reply.
        reply: String,
    },
    /// TLS could not be configured or negotiated.
    #[error("TLS with {addr} failed: {reason}")]
    Tls {
        /// The server's address.
        addr: String,
        /// What went wrong.
        reason: String,
    },
}

impl ConnectError {
    pub(crate) fn io(addr: &str, source: io::Error) -> Self {
        ConnectError::Io {
            addr: addr.to_string(),
            source,
        }
    }
}

/// Formats an error with its chain of causes, `outer: inner: innermost`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}
