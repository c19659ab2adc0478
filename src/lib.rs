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
//! The modules follow the data's path, each depending only on those below
//! it in this list:
//!
//! - [`resp`]: the wire format: encodes commands, scans replies without
//!   building them, and builds values where a reply is wanted.
//! - [`input`]: where commands come from. [`input::Inputs`] is the bytes
//!   (files and standard input, each opened when reached);
//!   a [`input::CommandSource`] turns them into commands with their
//!   positions: [`input::InputReader`] reads inline lines (redis-cli's
//!   quoting) and RESP frames, validating each before it is sent. Each
//!   input's first bytes are looked at before any of it is sent, and one
//!   that is no commands or records (an image, an RDB file) is refused.
//! - [`rdb`]: RDB snapshots as a source: a streaming reader of every RDB
//!   version and encoding, yielding each key in bounded pieces, and a
//!   replica's full sync that fetches one from a live server.
//! - `conn`: connects over TCP, a unix socket or TLS (rustls), with AUTH,
//!   SELECT and HELLO, and reads the server's limits (and, for
//!   `--coalesce`, which merges the load's user may be given); waits for a
//!   server that is not up yet (`--wait`), and names a peer that does not
//!   speak RESP.
//! - `pipe`: one connection's engine: a writer thread, a reader thread, and
//!   a bounded window of commands in flight between them, which is what
//!   lets an error name its input line, a reconnect replay what was not
//!   acknowledged, and a redirect send a command elsewhere (through a
//!   hand-back it knows only as a trait). A command in the window may
//!   stand for a span of input commands; counts stay per input command.
//! - `sink`: the `Sink` trait the feeder sends commands to, and what a
//!   sink settles itself. A pipe is one sink; a cluster's router another.
//! - [`cluster`]: slots, key specs, topology, redirects, and the router:
//!   the sink that sends each command to its slot's master, follows
//!   redirects and failovers.
//! - `coalesce`: `--coalesce`, a sink in front of the load's sink that
//!   merges commands on one key into one variadic command, and plain
//!   `SET`s into `MSET`, keeping per-key order and a per-input account
//!   (batches that must apply whole go inside rload's own `MULTI`/`EXEC`).
//! - [`compare`]: `--compare`, the driver that reads a source and a target
//!   at once (each through the dump's driver) into order-independent
//!   digests, then key by key where they differ, and says which keys
//!   differ, and how; and writes their repair.
//! - `load`: the one driver: connect, skip to the resume point, feed the
//!   source to the sink, finish, and account.
//! - [`report`]: the events and summary a user sees, and exit statuses;
//!   [`Meter`], the counts a load keeps as it goes, and [`progress`], the
//!   display the binary draws from them.
//! - [`config`] and [`cli`]: validated settings, and the command line.
//! - [`error`]: what stops a load from starting: bad settings, input, or
//!   connection.
#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod cluster;
mod coalesce;
mod command;
pub mod compare;
pub mod config;
mod conn;
pub mod dump;
mod emit;
pub mod error;
pub mod filter;
/// Checks for the fuzz targets in `fuzz/`: only built for tests and with
/// the `fuzzing` feature, never into the shipped library.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod input;
mod interrupt;
mod load;
mod meter;
mod pipe;
pub mod progress;
mod rate;
pub mod rdb;
mod rebuild;
pub mod records;
pub mod report;
pub mod resp;
mod sink;

pub use config::{Config, EmitFormat, Endpoint, Password, ServerConfig, TlsConfig, TlsVerify};
pub use conn::Limits;
pub use error::{ConnectError, Error};
pub use input::Input;
pub use input::InputError;
pub use interrupt::{DRAIN_BOUND, Interrupt, signal_name};
pub use load::run;
pub use meter::Meter;
pub use report::{Events, Stop, Summary, Terminal};
