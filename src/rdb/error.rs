//! What can go wrong reading an RDB. Each error inside the file names the
//! byte offset, what was expected there, and how many keys were read whole
//! before it: a resume point counted in keys.

use std::fmt;
use std::io;

/// Where in the RDB an error was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// The byte offset from the start of the RDB (its magic).
    pub offset: u64,
    /// How many keys were read whole before the error: a load that stops
    /// here has them all, and can resume by skipping that many keys.
    pub keys: u64,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at byte {} ({} keys read whole before it)",
            self.offset, self.keys
        )
    }
}

/// A failure to read an RDB.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RdbError {
    /// The input does not start with an RDB header.
    #[error(
        "not an RDB file: it starts with {found:?}, where REDIS or VALKEY and a version were expected"
    )]
    NotRdb {
        /// The first bytes, as text.
        found: String,
    },
    /// The RDB's version is one this reader does not know.
    #[error(
        "RDB version {version} behind the {magic} magic is not one this reader knows (it reads REDIS 1 to 12 and VALKEY 80)"
    )]
    Version {
        /// `REDIS` or `VALKEY`.
        magic: &'static str,
        /// The version in the header.
        version: u32,
    },
    /// The input ended inside the RDB.
    #[error("the RDB ends early {at}: expected {expected}")]
    Truncated {
        /// Where it ended.
        at: At,
        /// What was being read.
        expected: &'static str,
    },
    /// The bytes at `at` are not what the format allows there.
    #[error("corrupt RDB {at}: expected {expected}, found {found}")]
    Corrupt {
        /// Where the bad bytes start.
        at: At,
        /// What the format allows there.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// A type or opcode byte this reader does not know.
    #[error("unknown object type or opcode {byte} {at}")]
    Unknown {
        /// Where the byte is.
        at: At,
        /// The byte.
        byte: u8,
    },
    /// Something the format documents that this reader does not read.
    #[error("unsupported {what} {at}")]
    Unsupported {
        /// Where it starts.
        at: At,
        /// What it is.
        what: &'static str,
    },
    /// The CRC-64 at the end does not match the file's bytes.
    #[error("bad RDB checksum {at}: the file says {stored:016x}, its bytes give {computed:016x}")]
    Checksum {
        /// Where the checksum is.
        at: At,
        /// The checksum in the file.
        stored: u64,
        /// The checksum of the bytes before it.
        computed: u64,
    },
    /// Reading the input failed.
    #[error("reading the RDB failed {at}")]
    Io {
        /// How far it had got.
        at: At,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

impl RdbError {
    /// Where in the file the error is, if it is inside the file.
    pub fn at(&self) -> Option<At> {
        match self {
            RdbError::NotRdb { .. } | RdbError::Version { .. } => None,
            RdbError::Truncated { at, .. }
            | RdbError::Corrupt { at, .. }
            | RdbError::Unknown { at, .. }
            | RdbError::Unsupported { at, .. }
            | RdbError::Checksum { at, .. }
            | RdbError::Io { at, .. } => Some(*at),
        }
    }

    /// How many keys were read whole before the error.
    pub fn keys_done(&self) -> u64 {
        self.at().map_or(0, |at| at.keys)
    }

    /// The same error, counting `keys` read whole before it.
    pub(super) fn with_keys(mut self, keys: u64) -> Self {
        match &mut self {
            RdbError::NotRdb { .. } | RdbError::Version { .. } => {}
            RdbError::Truncated { at, .. }
            | RdbError::Corrupt { at, .. }
            | RdbError::Unknown { at, .. }
            | RdbError::Unsupported { at, .. }
            | RdbError::Checksum { at, .. }
            | RdbError::Io { at, .. } => at.keys = keys,
        }
        self
    }

    /// Bad bytes at `offset`.
    pub(super) fn corrupt(offset: u64, expected: &'static str, found: impl fmt::Display) -> Self {
        RdbError::Corrupt {
            at: At { offset, keys: 0 },
            expected,
            found: found.to_string(),
        }
    }

    /// Something documented but not read, at `offset`.
    pub(super) fn unsupported(offset: u64, what: &'static str) -> Self {
        RdbError::Unsupported {
            at: At { offset, keys: 0 },
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_offset_what_was_expected_and_the_keys_done() {
        let e = RdbError::corrupt(1234, "a listpack entry", "byte 0xf7").with_keys(42);
        assert_eq!(
            e.to_string(),
            "corrupt RDB at byte 1234 (42 keys read whole before it): expected a listpack entry, found byte 0xf7"
        );
        assert_eq!(e.keys_done(), 42);
        assert_eq!(e.at().map(|a| a.offset), Some(1234));
    }
}
