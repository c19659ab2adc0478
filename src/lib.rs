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
//! - `conn`: connects over TCP or a unix socket, with AUTH, SELECT, HELLO.
//! - `pipe`: one connection's engine: a writer thread, a reader thread, and a
//!   bounded window of commands in flight between them.
//! - `load`: reads the input into a pipe and accounts for the outcome.
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
#[doc(hidden)]
pub mod fuzzing;
pub mod input;
mod load;
mod pipe;
pub mod report;
pub mod resp;

pub use config::{Config, Endpoint, Password, ServerConfig, TlsConfig};
pub use error::{ConnectError, Error, InputError};
pub use input::Input;
pub use load::run;
pub use report::{Events, Stop, Summary, Terminal};
