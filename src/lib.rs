//! rload: a bulk loader for Redis, and a drop-in replacement for
//! `redis-cli --pipe`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rload::{Config, Input, Terminal};
//!
//! let summary = rload::run(&Config::default(), &[Input::File("data.txt".into())], Arc::new(Terminal))?;
//! println!("errors: {}, replies: {}", summary.errors, summary.replies);
//! # Ok::<(), rload::Error>(())
//! ```
//!
//! # Layout
//!
//! The modules follow the data's path:
//!
//! - [`input`]: reads commands, tokenizing inline lines with redis-cli's
//!   quoting rules and validating RESP frames, and tracks where each starts.
//! - [`resp`]: encodes commands, and scans replies without building them.
//! - `conn`: connects over TCP, a unix socket or TLS (rustls), with AUTH,
//!   SELECT and HELLO.
//! - `pipe`: one connection's engine: a writer thread, a reader thread, and a
//!   bounded window of commands in flight between them, which is what lets
//!   an error name its input line, a reconnect replay what was not
//!   acknowledged, and a cluster redirect re-send a command.
//! - `load`: numbers the input's commands, feeds them to one pipe (or to the
//!   cluster router), and accounts for the outcome.
//! - [`cluster`]: slots, key specs, topology, and the router that sends each
//!   command to its slot's master and follows redirects.
//! - [`report`]: the events and summary a user sees, and exit statuses.
//! - [`config`] and [`cli`]: validated settings, and the command line.
//! - [`error`]: what can go wrong, and where.
#![deny(missing_docs)]

pub mod cli;
pub mod cluster;
mod command;
pub mod config;
mod conn;
pub mod error;
/// Checks for the fuzz targets in `fuzz/`: only built for tests and with
/// the `fuzzing` feature, never into the shipped library.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod input;
mod interrupt;
mod load;
mod pipe;
pub mod report;
pub mod resp;
mod sink;

pub use config::{Config, Endpoint, Password, ServerConfig, TlsConfig, TlsVerify};
pub use error::{ConnectError, Error};
pub use input::Input;
pub use input::InputError;
pub use interrupt::{DRAIN_BOUND, Interrupt, signal_name};
pub use load::run;
pub use report::{Events, Stop, Summary, Terminal};
