//! Errors: each names what went wrong and where (the flag, the input line, the
//! byte offset, the server address). Error *replies* from the server are not
//! errors here; they are data, counted in the summary.

use std::io;
use std::time::Duration;

use crate::input::InputError;

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
    /// The peer's first answer is not RESP: it is no Redis server.
    #[error("{addr} does not speak Redis's protocol; it sent \"{sent}\"")]
    NotRedis {
        /// The peer's address.
        addr: String,
        /// The start of what it sent, printable.
        sent: String,
    },
    /// The connection was reset before the server answered anything, as a
    /// TLS port does to a client that does not speak TLS.
    #[error(
        "could not connect to Redis at {addr}: connection reset by peer before it answered (is this a TLS port? try --tls)"
    )]
    ResetUnanswered {
        /// The peer's address.
        addr: String,
    },
    /// The peer closed the connection before answering anything.
    #[error(
        "could not connect to Redis at {addr}: the peer closed the connection without answering (is Redis listening there? a TLS port needs --tls)"
    )]
    ClosedUnanswered {
        /// The peer's address.
        addr: String,
    },
    /// With `--wait`, the server was still not ready when the wait ended.
    #[error("{addr} was not ready after waiting {} s: {why}", .waited.as_secs_f64())]
    NotReady {
        /// The server's address.
        addr: String,
        /// What it was not ready for (`cluster_state:fail`).
        why: String,
        /// How long rload waited.
        waited: Duration,
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
