//! Reading commands: inline lines tokenized with redis-cli's rules, RESP
//! frames validated before they are sent, and the position of each.

mod args;
mod error;
pub(crate) mod inline;
pub(crate) mod plain;
mod reader;
mod resp;
mod source;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod testing;

pub(crate) use args::ArgBuf;
pub use args::Args;
pub use error::{InputError, InvalidKind, Location};
pub use inline::InlineError;
pub use reader::{Command, HUGE_COMMAND, InputReader, MAX_COMMAND_BYTES, Next, Position};
pub use resp::{FrameError, FrameErrorKind, MAX_BULK_LEN};
pub use source::Input;

pub(crate) use resp::{frame_args, show_size};
