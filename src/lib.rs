//! rload: a bulk loader for Redis, and a drop-in replacement for
//! `redis-cli --pipe`; and a library that loads and dumps from code.
//!
//! A load of files, as `rload --pipe` runs one:
//!
//! ```no_run
//! use std::sync::Arc;
//! use rload::{Config, Handles, Input, LoadOptions, Terminal};
//!
//! let summary = rload::run(
//!     &Config::default(),
//!     &Handles::default(),
//!     &LoadOptions::default(),
//!     &[Input::File("data.txt".into())],
//!     Arc::new(Terminal),
//! )?;
//! println!("errors: {}, replies: {}", summary.errors, summary.replies);
//! # Ok::<(), rload::Error>(())
//! ```
//!
//! A load fed from code, with back-pressure, and the same account
//! ([`api::Loader`]; [`api::RecordLoader`] takes records and templates):
//!
//! ```no_run
//! use std::sync::Arc;
//! use rload::api::Loader;
//! use rload::{Config, Terminal};
//!
//! let mut config = Config::default();
//! config.server.apply_uri("redis://127.0.0.1:6380")?;
//! config.coalesce = true;
//! let mut load = Loader::start(&config, Arc::new(Terminal))?;
//! for i in 0..100_000 {
//!     load.send(&["RPUSH".to_string(), "queue".into(), i.to_string()])?;
//! }
//! let summary = load.finish()?;
//! assert_eq!(summary.acknowledged, 100_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A dump the program iterates: every key as a typed value
//! ([`api::Keys`]):
//!
//! ```no_run
//! use std::sync::Arc;
//! use rload::api::{KeyValue, Keys};
//! use rload::dump::DumpOptions;
//! use rload::{Config, Terminal};
//!
//! let options = DumpOptions {
//!     pattern: Some("user:*".into()),
//!     ..DumpOptions::default()
//! };
//! let mut keys = Keys::start(&Config::default(), &options, Arc::new(Terminal))?;
//! for key in keys.by_ref() {
//!     if let KeyValue::Hash(fields) = &key.value {
//!         println!("{}: {} fields", String::from_utf8_lossy(&key.key), fields.len());
//!     }
//! }
//! assert!(keys.finish()?.stop.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The binary (`src/main.rs`, with its own `cli` and `progress` modules,
//! behind the default `cli` feature) maps the command line onto one mode
//! and its options, and runs it through this library.
//!
//! # Layout
//!
//! Top to bottom, each module uses only the modules below it in this list
//! (`tests/layering.rs` checks it):
//!
//! - `fuzzing`: the checks the fuzz targets run (tests and the `fuzzing`
//!   feature only).
//! - [`api`]: embedding: a load a program feeds, a dump it iterates.
//! - [`compare`]: `--compare`, the driver that reads a source and a target
//!   at once (each through the dump's driver) into order-independent
//!   digests, then key by key where they differ; says which keys differ,
//!   and how, and writes their repair.
//! - [`load`]: the load driver: open the source, connect, skip to the
//!   resume point, feed the source to the sink, finish, and account.
//! - [`dump`]: the dump driver: every key of every database (or of a
//!   cluster that reshards), read with `SCAN` pages or from the server's
//!   own snapshot, or from an RDB file, written as commands or JSON lines.
//! - `coalesce`: `--coalesce`, a sink in front of the load's sink that
//!   merges commands on one key into one variadic command, keeping per-key
//!   order and a per-input account.
//! - [`cluster`]: key specs, topology, redirects, and the router: the sink
//!   that sends each command to its slot's master, following redirects and
//!   failovers.
//! - `emit`: `--emit`, the sink that writes commands to standard output.
//! - `sink`: the `Sink` trait the feeder sends commands to; a pipe is one.
//! - `pipe`: one connection's engine: a writer thread, a reader thread,
//!   and a bounded window of commands in flight between them, which is
//!   what lets an error name its input line, a reconnect replay what was
//!   not acknowledged, and a redirect send a command elsewhere.
//! - `command`: the data path's vocabulary, shared by every sink: what a
//!   command sent stands for (`CmdMeta`), whose replies change what must be
//!   tracked (`Watch`), a sink that stopped (`Stopped`); and which commands
//!   cannot go through a pipe.
//! - [`records`]: a source: CSV, TSV and JSON records rendered by
//!   templates into commands.
//! - [`rdb`]: a source: a streaming reader of every RDB version, the
//!   replay of its keys into commands (`RdbSource`), and a replica's full
//!   sync that fetches a live server's snapshot.
//! - [`filter`]: which keys a dump or a replay takes: a glob, types, a
//!   database, a split, a set of slots.
//! - `conn`: connects over TCP, a unix socket or TLS (rustls), with AUTH,
//!   SELECT and HELLO; reads the server's limits and what `--coalesce` may
//!   merge; waits for a server not up yet (`--wait`); names a peer that
//!   does not speak RESP.
//! - [`report`]: the events a user sees as a run goes, the [`Summary`] of
//!   a load, the [`Account`] every mode ends with, and exit statuses.
//! - [`config`]: validated settings every mode shares, and the [`Handles`]
//!   a run is given beside them.
//! - [`error`]: what stops a run from starting: bad settings, input, or
//!   connection.
//! - [`input`]: where commands come from: [`input::Inputs`] is the bytes
//!   (files, standard input, streams; gzip and zstd; binary input refused
//!   before anything is sent), a [`input::CommandSource`] turns them into
//!   commands with their positions, and [`input::InputReader`] reads
//!   inline lines (redis-cli's quoting) and RESP frames, validating each.
//! - `rebuild`: a key rebuilt as commands (`Output`), however it was read.
//! - `rate`: `--rate`, a token bucket.
//! - `meter`: the counts a run keeps as it goes ([`Meter`]).
//! - `interrupt`: a stop requested by a signal ([`Interrupt`]).
//! - `slot`: hash slots: CRC16 of a key or its `{hash tag}`.
//! - [`resp`]: the wire format: encodes commands, scans replies without
//!   building them, and builds values where a reply is wanted.
#![deny(missing_docs)]

pub mod api;
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
pub mod load;
mod meter;
mod pipe;
mod rate;
pub mod rdb;
mod rebuild;
pub mod records;
pub mod report;
pub mod resp;
mod sink;
mod slot;

pub use config::{Config, Endpoint, Handles, Password, ServerConfig, TlsConfig, TlsVerify};
pub use emit::EmitFormat;
pub use error::{ConnectError, Error};
pub use input::Input;
pub use input::InputError;
pub use input::Limits;
pub use interrupt::{DRAIN_BOUND, Interrupt, signal_name};
pub use load::{Destination, InputKind, LoadOptions, run};
pub use meter::Meter;
pub use report::{Account, Events, Resume, Stop, Summary, Terminal};
