//! A key's value, read piece by piece: how each RDB object type is laid
//! out (`rdbLoadObject` in `rdb.c`), and the state kept between pieces.

use std::io::Read;
use std::ops::Range;

use super::encoded::{self, Bad, Entry};
use super::error::RdbError;
use super::event::{Kind, ModuleType, Piece};
use super::input::{Input, Length};
use super::lzf::{LZF_WINDOW, Lzf};
use super::{MAX_PIECE_BYTES, MAX_PIECE_ELEMENTS, Magic, RdbReader, Ready, stream};

/// A string is handed out in windows of this size.
const STRING_WINDOW: usize = 512 * 1024;

/// How the current value is being read.
pub(super) enum Value {
    /// A plain string: `left` bytes more; `first` until a piece is out.
    Str { left: u64, first: bool },
    /// An integer-encoded string.
    Int(i64),
    /// An LZF-compressed string, decompressed through the window.
    Lzf(Lzf),
    /// Elements one by one: `left` more of `shape`.
    Plain { shape: Shape, left: u64 },
    /// One blob holds the whole value.
    Blob(Blob),
    /// Quicklist nodes: `nodes` more, ziplists (type 14) or listpacks
    /// and plain nodes (type 18).
    Quicklist { ziplists: bool, nodes: u64 },
    /// Stream nodes: `nodes` more, then the metadata.
    Stream { nodes: u64 },
    /// A module value's opcodes, up to its end marker.
    Module,
    /// Read whole.
    Done,
}

/// What each element of a plainly encoded collection is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// A string (types 1 and 2).
    Item,
    /// A member and a score as text, length-prefixed (type 3).
    ZsetText,
    /// A member and a binary double (type 5).
    ZsetBinary,
    /// A field and a value (type 4).
    Hash,
    /// A TTL relative to `min` (0: none), a field and a value (type 24).
    HashTtl { min: u64 },
    /// An absolute TTL (0: none), a field and a value (type 22, 7.4 RCs).
    HashTtlAbsolute,
    /// A field, a value and an 8-byte expiry (-1: none) (Valkey's 22).
    HashValkey,
}

/// Which blob a value is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Blob {
    Zipmap,
    ListZiplist,
    Intset,
    SetListpack,
    PairsZiplist,
    PairsListpack,
    /// Field, value and TTL triples (types 23 and 25).
    HashTtlListpack,
}

/// How decoded elements in `out` are handed out.
#[derive(Clone, Copy)]
pub(super) struct Chunk {
    next: usize,
    how: How,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum How {
    Items,
    Pairs,
    Expiring,
}

/// Which piece was read, to be lent out.
pub(super) enum Shown {
    /// The last `n` bytes the input consumed.
    Input(usize),
    /// The window from this offset.
    Window(usize),
    /// Elements of `out`.
    Elems(How, Range<usize>),
    /// Stream entries.
    Entries,
}

impl<R: Read> RdbReader<R> {
    /// Reads the head of a value of type `t` (lengths, a module's type)
    /// and returns its kind.
    pub(super) fn begin_value(&mut self, at: u64, t: u8) -> Result<Kind, RdbError> {
        let valkey = self.magic == Magic::Valkey;
        let plain = |shape| Value::Plain { shape, left: 0 };
        let (kind, value) = match t {
            0 => (Kind::String, self.string_head()?),
            1 | 2 => (
                if t == 1 { Kind::List } else { Kind::Set },
                plain(Shape::Item),
            ),
            3 => (Kind::Zset, plain(Shape::ZsetText)),
            5 => (Kind::Zset, plain(Shape::ZsetBinary)),
            4 => (Kind::Hash, plain(Shape::Hash)),
            22 if valkey => (Kind::Hash, plain(Shape::HashValkey)),
            22 => (Kind::Hash, plain(Shape::HashTtlAbsolute)),
            24 if !valkey => {
                let min = self.input.u64_le("a hash's next field expiry")?;
                (Kind::Hash, plain(Shape::HashTtl { min }))
            }
            6 => {
                return Err(RdbError::unsupported(
                    at,
                    "pre-release module value (Redis 4.0 RCs)",
                ));
            }
            7 => {
                let id = self.input.len("a module type ID")?;
                (Kind::Module(ModuleType { id }), Value::Module)
            }
            9 => (Kind::Hash, Value::Blob(Blob::Zipmap)),
            10 => (Kind::List, Value::Blob(Blob::ListZiplist)),
            11 => (Kind::Set, Value::Blob(Blob::Intset)),
            20 => (Kind::Set, Value::Blob(Blob::SetListpack)),
            12 => (Kind::Zset, Value::Blob(Blob::PairsZiplist)),
            13 => (Kind::Hash, Value::Blob(Blob::PairsZiplist)),
            16 => (Kind::Hash, Value::Blob(Blob::PairsListpack)),
            17 => (Kind::Zset, Value::Blob(Blob::PairsListpack)),
            23 | 25 if !valkey => {
                if t == 25 {
                    self.input.u64_le("a hash's next field expiry")?;
                }
                (Kind::Hash, Value::Blob(Blob::HashTtlListpack))
            }
            14 | 18 => {
                let nodes = self.input.len("a quicklist's node count")?;
                (
                    Kind::List,
                    Value::Quicklist {
                        ziplists: t == 14,
                        nodes,
                    },
                )
            }
            15 | 19 | 21 => {
                let nodes = self.input.len("a stream's node count")?;
                (Kind::Stream, Value::Stream { nodes })
            }
            _ => {
                return Err(RdbError::Unknown {
                    at: super::At {
                        offset: at,
                        keys: 0,
                    },
                    byte: t,
                });
            }
        };
        self.value = match value {
            Value::Plain { shape, .. } => Value::Plain {
                shape,
                left: self.input.len("an element count")?,
            },
            v => v,
        };
        Ok(kind)
    }

    /// A string value's head: its length, or its special encoding.
    fn string_head(&mut self) -> Result<Value, RdbError> {
        let at = self.input.offset();
        Ok(match self.input.length("a string value")? {
            Length::Len(left) => Value::Str { left, first: true },
            Length::Special(k @ 0..=2) => Value::Int(self.input.int(k, "an integer string")?),
            Length::Special(3) => {
                self.window.clear();
                Value::Lzf(Lzf::start(&mut self.input, "an LZF string")?)
            }
            Length::Special(k) => {
                return Err(RdbError::corrupt(at, "a string encoding (0 to 3)", k));
            }
        })
    }

    /// Reads the next piece of the value, or its end.
    pub(super) fn value_step(&mut self) -> Result<Ready, RdbError> {
        loop {
            if let Some(r) = self.next_chunk() {
                return Ok(r);
            }
            match &mut self.value {
                Value::Str { left, first } if *left > 0 || *first => {
                    let n = (*left).min(STRING_WINDOW as u64) as usize;
                    (*left, *first) = (*left - n as u64, false);
                    self.input.take(n, "a string's bytes")?;
                    self.elements += n as u64;
                    return Ok(Ready::Piece(Shown::Input(n)));
                }
                Value::Int(v) => {
                    self.window.clear();
                    self.window
                        .extend_from_slice(itoa::Buffer::new().format(*v).as_bytes());
                    self.elements = self.window.len() as u64;
                    self.value = Value::Done;
                    return Ok(Ready::Piece(Shown::Window(0)));
                }
                Value::Lzf(_) => return self.lzf_step(),
                Value::Plain { shape, left } if *left > 0 => {
                    let (shape, left) = (*shape, *left);
                    return self.plain_step(shape, left);
                }
                Value::Blob(blob) => {
                    let blob = *blob;
                    self.value = Value::Done;
                    self.blob_value(blob)?;
                }
                Value::Quicklist { ziplists, nodes } if *nodes > 0 => {
                    let ziplists = *ziplists;
                    *nodes -= 1;
                    self.quicklist_node(ziplists)?;
                }
                Value::Stream { nodes } if *nodes > 0 => {
                    *nodes -= 1;
                    if self.stream_node()? {
                        return Ok(Ready::Piece(Shown::Entries));
                    }
                }
                Value::Stream { .. } => {
                    self.value = Value::Done;
                    stream::read_meta(&mut self.input, self.rtype, &mut self.meta)?;
                }
                Value::Module => {
                    self.value = Value::Done;
                    skip_module_value(&mut self.input)?;
                }
                _ => return self.key_end(),
            }
        }
    }

    /// The next window of an LZF string: decompresses after the last 8 KiB
    /// of the previous window, which back-references may still reach.
    fn lzf_step(&mut self) -> Result<Ready, RdbError> {
        let Value::Lzf(lzf) = &mut self.value else {
            unreachable!("called on an LZF string")
        };
        let keep = self.window.len().min(LZF_WINDOW);
        self.window.drain(..self.window.len() - keep);
        lzf.run(&mut self.input, &mut self.window, 0, keep + STRING_WINDOW)?;
        if lzf.done() {
            lzf.finish(&self.input)?;
            self.value = Value::Done;
        }
        self.elements += (self.window.len() - keep) as u64;
        Ok(Ready::Piece(Shown::Window(keep)))
    }

    /// Reads up to a piece's worth of plainly encoded elements.
    fn plain_step(&mut self, shape: Shape, left: u64) -> Result<Ready, RdbError> {
        self.out.clear();
        self.expires.clear();
        let mut n = 0;
        while n < left
            && self.out.len() < MAX_PIECE_ELEMENTS
            && self.out.data.len() < MAX_PIECE_BYTES
        {
            self.plain_element(shape)?;
            n += 1;
        }
        self.value = Value::Plain {
            shape,
            left: left - n,
        };
        self.elements += n;
        let how = match shape {
            Shape::Item => How::Items,
            Shape::ZsetText | Shape::ZsetBinary | Shape::Hash => How::Pairs,
            _ => How::Expiring,
        };
        Ok(Ready::Piece(Shown::Elems(how, 0..self.out.len())))
    }

    /// Reads one element (or pair) of `shape` into `out`.
    fn plain_element(&mut self, shape: Shape) -> Result<(), RdbError> {
        let (input, out) = (&mut self.input, &mut self.out);
        let at = input.offset();
        let ttl = match shape {
            Shape::HashTtl { .. } | Shape::HashTtlAbsolute => input.len("a hash field's TTL")?,
            _ => 0,
        };
        input.string_into(&mut out.data, "an element")?;
        out.seal();
        match shape {
            Shape::Item => return Ok(()),
            Shape::ZsetText => zset_text_score(input, &mut out.data)?,
            Shape::ZsetBinary => {
                let at = input.offset();
                let score = f64::from_bits(input.u64_le("a binary score")?);
                if score.is_nan() {
                    return Err(RdbError::corrupt(at, "a score that is a number", "NaN"));
                }
                format_score(score, &mut out.data);
            }
            _ => input.string_into(&mut out.data, "a hash value")?,
        }
        out.seal();
        let expire = match shape {
            Shape::HashTtl { min } if ttl != 0 => Some(ttl.checked_add(min).map(|t| t - 1)),
            Shape::HashTtlAbsolute if ttl != 0 => Some(Some(ttl)),
            Shape::HashValkey => {
                let t = input.u64_le("a hash field's expiry")? as i64;
                (t != -1).then_some(Some(t as u64))
            }
            _ => None,
        };
        let expire = match expire {
            None => None,
            Some(Some(t)) if t <= i64::MAX as u64 => Some(t as i64),
            Some(_) => {
                return Err(RdbError::corrupt(
                    at,
                    "a hash field expiry in range",
                    "an overflow",
                ));
            }
        };
        if matches!(
            shape,
            Shape::HashTtl { .. } | Shape::HashTtlAbsolute | Shape::HashValkey
        ) {
            self.expires.push(expire);
        }
        Ok(())
    }

    /// Reads a blob (a string) into `blob`, returning where it started.
    fn read_blob(&mut self, what: &'static str) -> Result<u64, RdbError> {
        let at = self.input.offset();
        self.blob.clear();
        self.input.string_into(&mut self.blob, what)?;
        Ok(at)
    }

    /// Reads and decodes a value held in one blob, then hands it out.
    fn blob_value(&mut self, blob: Blob) -> Result<(), RdbError> {
        let at = self.read_blob("an encoded value")?;
        self.out.clear();
        self.expires.clear();
        let (out, bytes) = (&mut self.out, &self.blob[..]);
        let decoded = match blob {
            Blob::Zipmap => encoded::zipmap_into(bytes, out),
            Blob::ListZiplist => encoded::ziplist_into(bytes, out),
            Blob::Intset => encoded::intset_into(bytes, out),
            Blob::SetListpack => encoded::listpack_into(bytes, out),
            Blob::PairsZiplist => encoded::ziplist_into(bytes, out).and_then(even),
            Blob::PairsListpack => encoded::listpack_into(bytes, out).and_then(even),
            Blob::HashTtlListpack => triples_into(bytes, out, &mut self.expires),
        };
        let n = decoded.map_err(|b| blob_error(at, self.blob.len(), b))?;
        self.elements += n as u64;
        let how = match blob {
            Blob::ListZiplist | Blob::Intset | Blob::SetListpack => How::Items,
            Blob::HashTtlListpack => How::Expiring,
            _ => How::Pairs,
        };
        self.chunk = Some(Chunk { next: 0, how });
        Ok(())
    }

    /// Reads one quicklist node into `out`: a ziplist, a listpack, or
    /// (container 1) a single plain element.
    fn quicklist_node(&mut self, ziplists: bool) -> Result<(), RdbError> {
        let at = self.input.offset();
        let container = if ziplists {
            2
        } else {
            self.input.len("a quicklist node's container")?
        };
        if !matches!(container, 1 | 2) {
            return Err(RdbError::corrupt(
                at,
                "a quicklist node container (1 or 2)",
                container,
            ));
        }
        let at = self.read_blob("a quicklist node")?;
        self.out.clear();
        let n = if container == 1 {
            self.out.push(&self.blob);
            1
        } else if ziplists {
            encoded::ziplist_into(&self.blob, &mut self.out)
                .map_err(|b| blob_error(at, self.blob.len(), b))?
        } else {
            encoded::listpack_into(&self.blob, &mut self.out)
                .map_err(|b| blob_error(at, self.blob.len(), b))?
        };
        self.elements += n as u64;
        self.chunk = Some(Chunk {
            next: 0,
            how: How::Items,
        });
        Ok(())
    }

    /// Reads one stream node (its master ID, then its listpack) into
    /// `entries`; whether it holds a live entry.
    fn stream_node(&mut self) -> Result<bool, RdbError> {
        let at = self.read_blob("a stream node key")?;
        let master = stream::node_id(&self.blob)
            .map_err(|f| RdbError::corrupt(at, "a 16-byte stream node key", f))?;
        let at = self.read_blob("a stream node")?;
        self.entries.clear();
        self.entries
            .add_node(master, &self.blob)
            .map_err(|b| blob_error(at, self.blob.len(), b))?;
        self.elements += self.entries.len() as u64;
        Ok(self.entries.len() > 0)
    }

    /// The next run of decoded elements, if any are left to hand out.
    fn next_chunk(&mut self) -> Option<Ready> {
        let c = self.chunk.as_mut()?;
        let len = self.out.len();
        if c.next >= len {
            self.chunk = None;
            return None;
        }
        let tuple = if c.how == How::Items { 1 } else { 2 };
        let start = c.next;
        let mut end = len.min(start + MAX_PIECE_ELEMENTS / tuple * tuple);
        // Past the byte bound, halve the run (keeping at least one tuple).
        while end - start > tuple && self.out.bytes(start..end) > MAX_PIECE_BYTES {
            end = start + ((end - start) / 2).div_ceil(tuple) * tuple;
        }
        c.next = end;
        Some(Ready::Piece(Shown::Elems(c.how, start..end)))
    }

    /// Lends out the piece `shown`.
    pub(super) fn piece(&self, shown: Shown) -> Piece<'_> {
        match shown {
            Shown::Input(n) => Piece::Bytes(self.input.last(n)),
            Shown::Window(from) => Piece::Bytes(&self.window[from..]),
            Shown::Elems(How::Items, r) => Piece::Items(self.out.view(r)),
            Shown::Elems(How::Pairs, r) => Piece::Pairs(self.out.view(r)),
            Shown::Elems(How::Expiring, r) => Piece::ExpiringPairs {
                expire_at_ms: &self.expires[r.start / 2..r.end / 2],
                pairs: self.out.view(r),
            },
            Shown::Entries => Piece::Entries(self.entries.view()),
        }
    }
}

/// A blob's error at the file offset of the blob's string.
fn blob_error(at: u64, len: usize, b: Bad) -> RdbError {
    RdbError::corrupt(
        at,
        b.expected,
        format!("{} (at byte {} of the {len}-byte blob)", b.found, b.at),
    )
}

/// Checks that a blob of pairs held an even number of elements.
fn even(n: usize) -> Result<usize, Bad> {
    if n % 2 == 1 {
        return Err(Bad {
            at: 0,
            expected: "pairs of elements",
            found: format!("{n} elements"),
        });
    }
    Ok(n / 2)
}

/// Decodes a listpack of (field, value, TTL) triples into pairs in `out`
/// and expiries (TTL 0: none) in `expires`; returns how many pairs.
fn triples_into(
    blob: &[u8],
    out: &mut super::elems::Flat,
    expires: &mut Vec<Option<i64>>,
) -> Result<usize, Bad> {
    let mut lp = encoded::listpack(blob)?;
    let mut n = 0;
    while let Some(field) = lp.next_entry()? {
        let value = lp.next_entry()?;
        let ttl = lp.next_entry()?;
        let (Some(value), Some(Entry::Int(ttl))) = (value, ttl) else {
            return Err(Bad {
                at: 0,
                expected: "a field, a value and an integer TTL",
                found: "an incomplete triple".into(),
            });
        };
        field.push_to(out);
        value.push_to(out);
        expires.push((ttl != 0).then_some(ttl));
        n += 1;
    }
    Ok(n)
}

/// A score written as text after a length byte: 253 is NaN (which no
/// sorted set holds), 254 `inf`, 255 `-inf`.
fn zset_text_score<R: Read>(input: &mut Input<R>, out: &mut Vec<u8>) -> Result<(), RdbError> {
    let at = input.offset();
    match input.u8("a score")? {
        253 => return Err(RdbError::corrupt(at, "a score that is a number", "NaN")),
        254 => out.extend_from_slice(b"inf"),
        255 => out.extend_from_slice(b"-inf"),
        n => {
            let text = input.take(usize::from(n), "a score")?;
            let valid = std::str::from_utf8(text)
                .ok()
                .and_then(|s| s.parse::<f64>().ok());
            if valid.is_none_or(f64::is_nan) {
                return Err(RdbError::corrupt(
                    at,
                    "a score",
                    String::from_utf8_lossy(text),
                ));
            }
            out.extend_from_slice(text);
        }
    }
    Ok(())
}

/// Writes a binary score as the shortest text that reads back as the same
/// double: an integer where it is one, `inf` and `-inf`.
pub(super) fn format_score(score: f64, out: &mut Vec<u8>) {
    if score == 0.0 && score.is_sign_negative() {
        out.extend_from_slice(b"-0");
    } else if score.is_infinite() {
        out.extend_from_slice(if score > 0.0 { b"inf" } else { b"-inf" });
    } else if score.fract() == 0.0 && score.abs() < 1e15 {
        out.extend_from_slice(itoa::Buffer::new().format(score as i64).as_bytes());
    } else {
        use std::io::Write;
        // Debug is the shortest round-trip text, in exponent form when
        // very large or small.
        let _ = write!(out, "{score:?}");
    }
}

/// Consumes a module value's opcodes up to its end marker: 1 and 2 are
/// integers (lengths), 3 a 4-byte float, 4 an 8-byte double, 5 a string.
pub(super) fn skip_module_value<R: Read>(input: &mut Input<R>) -> Result<(), RdbError> {
    loop {
        let at = input.offset();
        match input.len("a module value opcode")? {
            0 => return Ok(()),
            1 | 2 => {
                input.len("a module integer")?;
            }
            3 => {
                input.take(4, "a module float")?;
            }
            4 => {
                input.take(8, "a module double")?;
            }
            5 => input.skip_string("a module string")?,
            op => return Err(RdbError::corrupt(at, "a module value opcode (0 to 5)", op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_scores_so_they_read_back_exactly() {
        for s in [
            0.0,
            -0.0,
            1.0,
            -3.0,
            0.1,
            1.5e300,
            -2.5e-300,
            123456789.123,
            1e15,
            9007199254740993.0,
        ] {
            let mut out = Vec::new();
            format_score(s, &mut out);
            let back: f64 = std::str::from_utf8(&out).unwrap().parse().unwrap();
            assert_eq!(back.to_bits(), s.to_bits(), "{s}");
        }
        let mut out = Vec::new();
        format_score(f64::NEG_INFINITY, &mut out);
        out.push(b' ');
        format_score(42.0, &mut out);
        assert_eq!(out, b"-inf 42");
    }
}
