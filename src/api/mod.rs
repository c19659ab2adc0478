//! Embedding rload in a program: a load the program feeds ([`Loader`],
//! [`RecordLoader`]) and a dump it iterates ([`Keys`]), with the binary's
//! settings ([`Config`]: connection, TLS, cluster, coalescing, rate,
//! reconnect, timeouts) and its account ([`Summary`], [`DumpSummary`]).
//! Nothing here assumes files.
//!
//! A load runs on threads of its own. Commands are handed to it in batches
//! through a bounded channel: a program that produces faster than the
//! server takes waits in [`Loader::send`], and memory stays flat. An error
//! reply reaches the program's [`Events`] with the command's position: line
//! N is the N-th command sent (for records, the N-th record).
//!
//! ```no_run
//! use std::sync::Arc;
//! use rload::api::Loader;
//! use rload::{Config, Terminal};
//!
//! let mut config = Config::default();
//! config.server.apply_uri("redis://127.0.0.1:6379")?;
//! let mut load = Loader::start(&config, Arc::new(Terminal))?;
//! for i in 0..1000 {
//!     load.send(&["SET".to_string(), format!("key:{i}"), i.to_string()])?;
//! }
//! let summary = load.finish()?;
//! assert_eq!(summary.acknowledged, 1000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```no_run
//! use std::sync::Arc;
//! use rload::api::{KeyValue, Keys};
//! use rload::dump::DumpOptions;
//! use rload::{Config, Terminal};
//!
//! let config = Config::default();
//! let mut keys = Keys::start(&config, &DumpOptions::default(), Arc::new(Terminal))?;
//! for key in keys.by_ref() {
//!     if let KeyValue::Hash(fields) = &key.value {
//!         println!("{}: {} fields", String::from_utf8_lossy(&key.key), fields.len());
//!     }
//! }
//! let summary = keys.finish()?;
//! assert!(summary.stop.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod keys;
mod load;

pub use keys::{Entry, Key, KeyValue, Keys, Stream};
pub use load::{Loader, RecordLoader};

/// Where a command is in a load's input, as [`Events`] are told: for a
/// load fed from code, `line` is the command's 1-based index.
pub use crate::input::Location;
/// A load that has stopped takes no more commands; its `finish` says why.
pub use crate::input::fed::Closed;

#[allow(unused_imports)]
use crate::{Config, Events, Summary, dump::DumpSummary};
