//! RESP on the wire: the command encoder, the allocation-free reply scanner
//! used during a load, and a value parser for setup commands.

mod encode;
mod inline;
mod number;
mod scan;
mod value;

pub use encode::{CommandArgs, encode_command, encode_to_vec, encoded_len};
pub(crate) use encode::{digits, encode_bulks, push_array_header, push_bulk, sealed};
pub use inline::{INLINE_LIMIT, encode_inline, inline_len, inline_prefix};
pub use number::MAX_BULK_LEN;
pub(crate) use number::parse_strict_i64;
pub use scan::{Batch, CAPTURE_MAX, MAX_DEPTH, MAX_LINE, ReplyScanner, ScanError};
pub use value::{Value, parse_value};
