//! A key's value, read piece by piece: how each RDB object type is laid
//! out (`rdbLoadObject` in `rdb.c`), and the state kept between pieces.

use std::io::Read;
use std::ops::Range;

use super::error::RdbError;
use super::event::{Kind, ModuleType, Piece};
use super::input::Length;
use super::lzf::{LZF_WINDOW, Lzf};
use super::opcodes::Ready;
use super::plain::skip_module_value;
use super::{MAX_PIECE_BYTES, MAX_PIECE_ELEMENTS, Magic, RdbReader, stream};

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
    pub(super) next: usize,
    pub(super) how: How,
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

    /// Whether the value being read has nothing more to hand out: its
    /// next event is the key's end.
    pub(super) fn value_whole(&self) -> bool {
        self.chunk.is_none()
            && match self.value {
                Value::Str { left, first } => left == 0 && !first,
                Value::Done => true,
                _ => false,
            }
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
