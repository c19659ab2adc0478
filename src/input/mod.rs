//! Reading commands: inline lines tokenized with redis-cli's rules, RESP
//! frames validated before they are sent, and the position of each.

mod args;
mod inline;
mod plain;
mod reader;
mod resp;

pub use args::Args;
pub use inline::InlineError;
pub use reader::{Command, Input, InputReader, MAX_COMMAND_BYTES, Next, Position};
pub use resp::{FrameError, FrameErrorKind, MAX_BULK_LEN};

pub(crate) use resp::parse_strict_i64;
