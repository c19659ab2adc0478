//! What the reader yields: the file's opcodes, and each key as a start, the
//! pieces of its value, and an end.

use super::elems::Elems;
use super::stream::{Entries, StreamMeta};

/// A key's type, as `TYPE` names it (and module values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    String,
    /// A list.
    List,
    /// A set.
    Set,
    /// A sorted set.
    Zset,
    /// A hash.
    Hash,
    /// A stream.
    Stream,
    /// A module's value, kept as its serialized bytes.
    Module(ModuleType),
}

impl Kind {
    /// The name `TYPE` gives (a module type's own 9-character name).
    pub fn name(&self) -> String {
        match self {
            Kind::String => "string".into(),
            Kind::List => "list".into(),
            Kind::Set => "set".into(),
            Kind::Zset => "zset".into(),
            Kind::Hash => "hash".into(),
            Kind::Stream => "stream".into(),
            Kind::Module(m) => m.name(),
        }
    }
}

/// A module data type, as its 64-bit ID names it: nine characters of
/// `A-Za-z0-9-_` (6 bits each) and a 10-bit encoding version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModuleType {
    /// The ID as written in the file.
    pub id: u64,
}

impl ModuleType {
    const CHARSET: &'static [u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// The type's name (such as `ReJSON-RL`).
    pub fn name(&self) -> String {
        (0..9)
            .rev()
            .map(|k| char::from(Self::CHARSET[((self.id >> (10 + 6 * k)) & 63) as usize]))
            .collect()
    }

    /// The encoding version the module wrote the value with.
    pub fn version(&self) -> u16 {
        (self.id & 1023) as u16
    }
}

/// A key begins.
#[derive(Clone, Copy, Debug)]
pub struct KeyStart<'a> {
    /// Its database.
    pub db: u64,
    /// Its name.
    pub key: &'a [u8],
    /// Its type.
    pub kind: Kind,
    /// The RDB object type byte: how the value is encoded in the file.
    pub encoding: u8,
    /// When it expires, in milliseconds since the epoch.
    pub expire_at_ms: Option<i64>,
    /// Its LRU idle time in seconds, if the file keeps it.
    pub idle: Option<u64>,
    /// Its LFU frequency counter, if the file keeps it.
    pub freq: Option<u8>,
}

/// The next piece of a key's value. Each holds at most about
/// [`MAX_PIECE_ELEMENTS`](super::MAX_PIECE_ELEMENTS) elements or
/// [`MAX_PIECE_BYTES`](super::MAX_PIECE_BYTES) bytes, except that one
/// element is never split (nor one stream node).
#[derive(Clone, Copy, Debug)]
pub enum Piece<'a> {
    /// A string's bytes: the next window of them. A string has at least
    /// one, even when empty.
    Bytes(&'a [u8]),
    /// List elements, in order, or set members.
    Items(Elems<'a>),
    /// A hash's fields and values, or a sorted set's members and scores,
    /// in turn. A score is text `ZADD` takes back exactly: as the file
    /// wrote it, or the shortest text of its binary double (`inf`, `-inf`).
    Pairs(Elems<'a>),
    /// A hash's fields and values with each field's expiry (Redis 7.4's
    /// hash field expiration, Valkey 9's): `expire_at_ms[i]` is for pair
    /// `i`, in milliseconds since the epoch, `None` for a field that does
    /// not expire.
    ExpiringPairs {
        /// The fields and values, in turn.
        pairs: Elems<'a>,
        /// Each pair's expiry.
        expire_at_ms: &'a [Option<i64>],
    },
    /// Stream entries, each an ID and its fields and values.
    Entries(Entries<'a>),
}

/// A key ends, read whole.
#[derive(Clone, Copy, Debug)]
pub struct KeyEnd<'a> {
    /// The elements read: bytes of a string, elements of a list or set,
    /// pairs of a hash or sorted set, entries of a stream. A collection
    /// with none (old files can hold them) is skipped by the server when
    /// it loads the file, and a loader should skip it too.
    pub elements: u64,
    /// A stream's metadata.
    pub stream: Option<&'a StreamMeta>,
    /// The key's serialized value, exactly as in the file, if it is no
    /// longer than the reader's raw limit: what `RESTORE` takes, through
    /// [`Raw::restore_payload`]. Always there for a module value, which
    /// only `RESTORE` can load.
    pub raw: Option<Raw<'a>>,
}

/// A key's value as the file serializes it.
#[derive(Clone, Copy, Debug)]
pub struct Raw<'a> {
    /// The RDB object type byte.
    pub encoding: u8,
    /// The value after it.
    pub value: &'a [u8],
}

impl Raw<'_> {
    /// The payload `RESTORE` takes, for a server that reads RDB `version`
    /// (the file's, from [`RdbReader::version`](super::RdbReader::version)):
    /// the type byte and the value, the version as 2 bytes little-endian,
    /// and the CRC-64 of all that as 8 bytes little-endian.
    pub fn restore_payload(&self, version: u16) -> Vec<u8> {
        super::crc64::restore_payload(self.encoding, self.value, version)
    }
}

/// One thing read from the RDB.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// An auxiliary field (`redis-ver`, `ctime`, `repl-id`, ...).
    Aux {
        /// The field's name.
        key: &'a [u8],
        /// Its value.
        value: &'a [u8],
    },
    /// The keys that follow are in this database.
    SelectDb(u64),
    /// How many keys, and keys with an expiry, the database holds.
    ResizeDb {
        /// Keys.
        keys: u64,
        /// Keys with an expiry.
        expires: u64,
    },
    /// A function library's source (load it with `FUNCTION LOAD REPLACE`).
    Function {
        /// The code, starting with its `#!` line.
        code: &'a [u8],
    },
    /// A module's data outside the keyspace.
    ModuleAux {
        /// The module's type.
        module: ModuleType,
        /// Before (1) or after (2) the keyspace.
        when: u64,
        /// Its serialized bytes, up to and including its end marker.
        data: &'a [u8],
    },
    /// A cluster slot's key counts.
    SlotInfo {
        /// The slot.
        slot: u64,
        /// Its keys.
        keys: u64,
        /// Its keys with an expiry.
        expires: u64,
    },
    /// A key begins; pieces of its value follow, then its end.
    KeyStart(KeyStart<'a>),
    /// A piece of the current key's value.
    Piece(Piece<'a>),
    /// The current key ends.
    KeyEnd(KeyEnd<'a>),
    /// The file ends; its checksum matched (`None`: the file has none, or
    /// it was written with checksums off).
    End {
        /// The CRC-64 from the file.
        checksum: Option<u64>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_module_type_from_its_id() {
        // "ReJSON-RL" version 3: each character's index in the charset,
        // 6 bits each, then the version in 10 bits.
        let name = b"ReJSON-RL";
        let id = name.iter().fold(0u64, |acc, c| {
            acc << 6 | ModuleType::CHARSET.iter().position(|x| x == c).unwrap() as u64
        }) << 10
            | 3;
        let m = ModuleType { id };
        assert_eq!(m.name(), "ReJSON-RL");
        assert_eq!(m.version(), 3);
    }
}
