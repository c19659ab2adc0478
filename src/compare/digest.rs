//! A key's value reduced to a digest, as its pieces arrive: the
//! [`Digester`] is an [`Output`], so the dump's readers (a page read by its
//! script, a big key in windows checked with `WATCH`, an RDB file's keys)
//! feed it exactly as they feed `--dump`'s formats, and memory stays flat
//! whatever the key's size.
//!
//! Strings, lists and streams are hashed in order. Sets, hashes and sorted
//! sets come back from `SSCAN`, `HSCAN` and `ZSCAN` in no useful order, so
//! each element is hashed on its own and the hashes are added (modulo
//! 2^64): the sum does not depend on the order the elements came in. The
//! hash is XXH3 (64 bits), which covers each element's length, so binary
//! data is never ambiguous; a sequence is hashed by chaining, each
//! element's hash seeded with the hash of those before it. A sorted set's score is hashed as the number it is (`1.50`
//! and `1.5`, `-0` and `0` are one score), a stream's consumer groups by
//! name and last delivered ID, besides its last ID.

use std::io;

use xxhash_rust::xxh3::{Xxh3, xxh3_64, xxh3_64_with_seed};

use crate::rebuild::{Discard, Ending, Kind, Output, Piece};

/// What a key holds, reduced: two keys with equal digests hold the same
/// value (but for a 64-bit hash collision).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Digest {
    /// Its type.
    pub kind: Kind,
    /// Its length: bytes of a string, elements of the others.
    pub len: u64,
    /// The hash of its elements (in order, or summed: see the module doc).
    pub hash: u64,
    /// A stream's last ID and groups, hashed; 0 for the other types.
    pub meta: u64,
    /// When it expires, in milliseconds since the epoch.
    pub expire_at: Option<i64>,
    /// A hash's fields that expire (Redis 7.4), and when, reduced: the sum
    /// of a hash of each field and its time (exact, in ms); 0 for none.
    pub field_ttls: u64,
}

impl Digest {
    /// A string's, whole: as its pieces would digest.
    pub(crate) fn string(value: &[u8], expire_at: Option<i64>) -> Digest {
        Digest {
            kind: Kind::String,
            len: value.len() as u64,
            hash: xxh3_64(value),
            meta: 0,
            expire_at,
            field_ttls: 0,
        }
    }

    /// Whether the values (not the expiries) are the same.
    pub(crate) fn same_value(&self, other: &Digest) -> bool {
        (self.kind, self.len, self.hash, self.meta)
            == (other.kind, other.len, other.hash, other.meta)
    }
}

/// The most bytes of a string kept to be hashed at once.
const STRING_AT_ONCE: usize = 64 * 1024;

/// The hash of `parts`, in order: each part's hash is seeded with the
/// hash of those before it (XXH3 covers a part's length, so `["ab", "c"]`
/// and `["a", "bc"]` differ).
pub(crate) fn hash_parts(parts: &[&[u8]]) -> u64 {
    parts.iter().fold(0, |h, p| chain(h, p))
}

/// `h`, the hash of a sequence, followed by `part`.
#[inline]
fn chain(h: u64, part: &[u8]) -> u64 {
    xxh3_64_with_seed(part, h)
}

/// A sorted-set score as the number it is, so that two servers' ways of
/// writing one number hash alike; bytes that are no number, as they are.
fn score_bits(score: &[u8]) -> [u8; 8] {
    match std::str::from_utf8(score)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        // -0 and 0 are one score to every command.
        Some(0.0) => 0f64.to_bits().to_le_bytes(),
        Some(f) => f.to_bits().to_le_bytes(),
        None => hash_parts(&[score]).to_le_bytes(),
    }
}

/// The key being digested.
struct Current {
    kind: Kind,
    len: u64,
    /// In-order hash (lists, streams; a string's is the digester's
    /// `string`, which hashes its windows as one).
    seq: u64,
    /// Sum of element hashes (sets, hashes, sorted sets).
    sum: u64,
}

/// An [`Output`] that digests each key it is given, and keeps the
/// finished digests until taken.
pub(crate) struct Digester {
    /// The database of the keys that come (as `select` says).
    pub db: u32,
    current: Option<Current>,
    /// The string being read: its bytes, while they are few enough to be
    /// hashed at once at its end (most strings); past that, hashed as its
    /// windows come. The two give one hash.
    string: Vec<u8>,
    streamed: Option<Box<Xxh3>>,
    /// Keys finished: database, name, digest.
    pub done: Vec<(u32, Vec<u8>, Digest)>,
    count: u64,
}

impl Digester {
    /// A digester whose keys are of database `db` until told otherwise.
    pub(crate) fn new(db: u32) -> Self {
        Digester {
            db,
            current: None,
            string: Vec::new(),
            streamed: None,
            done: Vec::new(),
            count: 0,
        }
    }

    /// The digest of the key being read, which ends with `ending`; `None`
    /// if it was discarded. The caller keeps it, or not ([`Output::end`]
    /// keeps it in `done`).
    pub(crate) fn finish(&mut self, kind: Kind, ending: &Ending) -> Option<Digest> {
        let c = self.current.take()?;
        let meta = ending.stream.as_ref().map_or(0, |m| {
            let groups = m.groups.iter().fold(0u64, |sum, (name, last)| {
                sum.wrapping_add(hash_parts(&[name, last]))
            });
            hash_parts(&[&m.last_id, &groups.to_le_bytes()])
        });
        let hash = match kind {
            Kind::Set | Kind::Hash | Kind::Zset => c.sum,
            Kind::String => match self.streamed.take() {
                Some(h) => h.digest(),
                None => xxh3_64(&self.string),
            },
            _ => c.seq,
        };
        let field_ttls = ending.field_expiry.iter().fold(0u64, |sum, (field, at)| {
            sum.wrapping_add(hash_parts(&[field, &at.to_le_bytes()]))
        });
        self.count += 1;
        Some(Digest {
            kind,
            len: c.len,
            hash,
            meta,
            expire_at: ending.expire_at,
            field_ttls,
        })
    }
}

impl Output for Digester {
    fn select(&mut self, db: u32) -> io::Result<()> {
        self.db = db;
        Ok(())
    }

    fn begin(&mut self, _key: &[u8], kind: Kind) -> io::Result<()> {
        if kind == Kind::String {
            self.string.clear();
            self.streamed = None;
        }
        self.current = Some(Current {
            kind,
            len: 0,
            seq: 0,
            sum: 0,
        });
        Ok(())
    }

    fn piece(
        &mut self,
        _key: &[u8],
        _kind: Kind,
        piece: Piece<'_>,
        _first: bool,
    ) -> io::Result<()> {
        let Some(c) = &mut self.current else {
            return Ok(());
        };
        match piece {
            Piece::Bytes(b) => {
                c.len += b.len() as u64;
                // Windows of a string hash as the whole would.
                match &mut self.streamed {
                    Some(h) => h.update(b),
                    None if self.string.len() + b.len() <= STRING_AT_ONCE => {
                        self.string.extend_from_slice(b);
                    }
                    None => {
                        let mut h = Box::new(Xxh3::new());
                        h.update(&self.string);
                        h.update(b);
                        self.string.clear();
                        self.streamed = Some(h);
                    }
                }
            }
            Piece::Items(items) if c.kind == Kind::List => {
                c.len += items.len() as u64;
                for item in items.iter() {
                    c.seq = chain(c.seq, item);
                }
            }
            Piece::Items(items) => {
                c.len += items.len() as u64;
                for item in items.iter() {
                    c.sum = c.sum.wrapping_add(xxh3_64(item));
                }
            }
            Piece::Pairs(pairs) => {
                c.len += pairs.len() as u64;
                for (a, b) in pairs.iter() {
                    let h = if c.kind == Kind::Zset {
                        hash_parts(&[a, &score_bits(b)])
                    } else {
                        hash_parts(&[a, b])
                    };
                    c.sum = c.sum.wrapping_add(h);
                }
            }
            Piece::Entries(entries) => {
                c.len += entries.len() as u64;
                for (id, fields) in entries {
                    c.seq = chain(c.seq, id);
                    c.seq = chain(c.seq, &(fields.len() as u64).to_le_bytes());
                    for (f, v) in fields {
                        c.seq = chain(chain(c.seq, f), v);
                    }
                }
            }
        }
        Ok(())
    }

    fn end(&mut self, key: &[u8], kind: Kind, ending: &Ending) -> io::Result<()> {
        if let Some(digest) = self.finish(kind, ending) {
            self.done.push((self.db, key.to_vec(), digest));
        }
        Ok(())
    }

    fn discard(&mut self, _key: &[u8], _kind: Kind, _why: Discard) -> io::Result<()> {
        self.current = None;
        Ok(())
    }

    fn function(&mut self, _code: &[u8]) -> io::Result<()> {
        // Functions are not keys: a compare is of keys.
        Ok(())
    }

    fn payload(&mut self, _key: &[u8], _payload: &[u8], _at: Option<i64>) -> io::Result<()> {
        // Only the restore format reads payloads; a compare never asks.
        Ok(())
    }

    fn written(&self) -> u64 {
        self.count
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(kind: Kind, pieces: &[Piece<'_>]) -> Digest {
        let mut d = Digester::new(0);
        d.begin(b"k", kind).unwrap();
        for (i, p) in pieces.iter().enumerate() {
            let p = match p {
                Piece::Bytes(b) => Piece::Bytes(b),
                Piece::Items(i) => Piece::Items(*i),
                Piece::Pairs(p) => Piece::Pairs(*p),
                Piece::Entries(e) => Piece::Entries(e),
            };
            d.piece(b"k", kind, p, i == 0).unwrap();
        }
        d.end(b"k", kind, &Ending::default()).unwrap();
        d.done.pop().unwrap().2
    }

    fn v(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_string_in_windows_digests_as_the_whole() {
        let whole = digest(Kind::String, &[Piece::Bytes(b"hello world")]);
        let windows = digest(
            Kind::String,
            &[Piece::Bytes(b"hello"), Piece::Bytes(b" world")],
        );
        assert_eq!(whole, windows);
        assert_ne!(whole, digest(Kind::String, &[Piece::Bytes(b"hello worle")]));
    }

    #[test]
    fn a_string_whole_digests_as_its_pieces() {
        let mut d = Digester::new(0);
        d.begin(b"k", Kind::String).unwrap();
        d.piece(b"k", Kind::String, Piece::Bytes(b"hello "), true)
            .unwrap();
        d.piece(b"k", Kind::String, Piece::Bytes(b"world"), false)
            .unwrap();
        let ending = Ending {
            expire_at: Some(7),
            ..Ending::default()
        };
        let pieces = d.finish(Kind::String, &ending).unwrap();
        assert_eq!(pieces, Digest::string(b"hello world", Some(7)));
        // Past the bytes kept to hash at once, the hash is streamed.
        let big = vec![b'x'; 3 * STRING_AT_ONCE];
        d.begin(b"k", Kind::String).unwrap();
        for (i, w) in big.chunks(STRING_AT_ONCE / 2 + 1).enumerate() {
            d.piece(b"k", Kind::String, Piece::Bytes(w), i == 0)
                .unwrap();
        }
        let streamed = d.finish(Kind::String, &Ending::default()).unwrap();
        assert_eq!(streamed, Digest::string(&big, None));
    }

    #[test]
    fn sets_digest_alike_in_any_order_and_lists_do_not() {
        let (ab, ba) = (v(&["a", "b"]), v(&["b", "a"]));
        assert_eq!(
            digest(Kind::Set, &[Piece::items(&ab)]),
            digest(Kind::Set, &[Piece::items(&ba[..1]), Piece::items(&ba[1..])])
        );
        assert_ne!(
            digest(Kind::List, &[Piece::items(&ab)]),
            digest(Kind::List, &[Piece::items(&ba)])
        );
    }

    #[test]
    fn elements_are_not_confused_where_they_split() {
        let one = v(&["ab", "c"]);
        let two = v(&["a", "bc"]);
        assert_ne!(
            digest(Kind::List, &[Piece::items(&one)]),
            digest(Kind::List, &[Piece::items(&two)])
        );
        let p1 = vec![(b"ab".to_vec(), b"c".to_vec())];
        let p2 = vec![(b"a".to_vec(), b"bc".to_vec())];
        assert_ne!(
            digest(Kind::Hash, &[Piece::pairs(&p1)]),
            digest(Kind::Hash, &[Piece::pairs(&p2)])
        );
    }

    #[test]
    fn a_score_is_the_number_whatever_its_spelling() {
        let a = vec![
            (b"m".to_vec(), b"1.5".to_vec()),
            (b"z".to_vec(), b"-0".to_vec()),
        ];
        let b = vec![
            (b"z".to_vec(), b"0".to_vec()),
            (b"m".to_vec(), b"1.50".to_vec()),
        ];
        let c = vec![
            (b"m".to_vec(), b"1.6".to_vec()),
            (b"z".to_vec(), b"0".to_vec()),
        ];
        let d = |p: &Vec<crate::rebuild::Pair>| digest(Kind::Zset, &[Piece::pairs(p)]);
        assert_eq!(d(&a), d(&b));
        assert_ne!(d(&a), d(&c));
    }

    #[test]
    fn a_discarded_key_leaves_nothing() {
        let mut d = Digester::new(3);
        d.begin(b"k", Kind::List).unwrap();
        d.discard(b"k", Kind::List, Discard::Changed).unwrap();
        d.end(b"k", Kind::List, &Ending::default()).unwrap();
        assert!(d.done.is_empty());
    }
}
