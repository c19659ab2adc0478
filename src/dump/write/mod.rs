//! Writing keys out: as commands that rebuild them (RESP, or inline lines
//! quoted as redis-cli reads them, through [`crate::rebuild::Commands`]),
//! as JSON lines, or as `RESTORE` commands. A key arrives in pieces of
//! bounded size (a big key's value is read in windows), so every format
//! writes as it goes, in flat memory.

mod encoded;
mod json;

pub(crate) use crate::rebuild::{Discard, Ending, Entry, Kind, Output, Pair, Piece, StreamMeta};
pub(crate) use encoded::{Encoded, Encoding};
pub(crate) use json::JsonLines;
