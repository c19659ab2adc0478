//! rload: a bulk loader for Redis, and a drop-in replacement for
//! `redis-cli --pipe`.
//!
//! # Layout
//!
//! - [`input`]: reads commands, tokenizing inline lines with redis-cli's
//!   quoting rules and validating RESP frames, and tracks where each starts.
//! - [`error`]: what can go wrong, with where.
#![deny(missing_docs)]

pub mod error;
pub mod input;
pub mod resp;

pub use error::{ConnectError, Error, InputError};
