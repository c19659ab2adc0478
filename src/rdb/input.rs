//! The bytes of an RDB: a buffer over any reader that knows its offset,
//! folds what it consumes into the CRC-64, and can copy what it consumes
//! aside (a key's serialized value, for `RESTORE`); and the format's
//! primitives on top: lengths, strings (plain, integer, LZF), fixed-width
//! numbers.
//!
//! Lengths come from the file and are never trusted for an allocation: a
//! string grows as its bytes arrive, so a corrupt length costs at most what
//! the input really holds.

use std::io::{self, Read};

use super::crc64::crc64;
use super::error::{At, RdbError};
use super::lzf::Lzf;

/// The buffer: big enough for the largest piece handed out whole (a string
/// window), so each read from the source is large.
pub(super) const BUF_SIZE: usize = 1 << 20;

/// The most reserved ahead for a string whose length the file claims.
const RESERVE_CAP: usize = 64 * 1024;

/// A length, or the marker of a specially encoded string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Length {
    Len(u64),
    /// `11xxxxxx`: an integer (0, 1, 2: 8, 16, 32 bits) or LZF (3).
    Special(u8),
}

/// What is consumed between a start and an end, up to a limit: left in the
/// buffer while it stays there, copied aside when the buffer moves.
#[derive(Default)]
struct Capture {
    on: bool,
    /// The buffer position from which bytes are not copied yet.
    from: usize,
    /// Whether the buffer moved since the start, so the bytes are in
    /// `data`.
    spilled: bool,
    data: Vec<u8>,
    limit: usize,
    over: bool,
    /// Where the last capture's bytes are in the buffer, if they stayed.
    kept: Option<(usize, usize)>,
}

pub(super) struct Input<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The offset of `buf[0]` in the RDB.
    base: u64,
    /// The CRC-64 of the bytes before `buf[crc_from]`, if it is kept.
    crc: Option<u64>,
    crc_from: usize,
    capture: Capture,
}

impl<R: Read> Input<R> {
    /// The source, once the RDB is read (bytes read ahead past its end
    /// are dropped).
    pub(super) fn into_inner(self) -> R {
        self.src
    }

    pub(super) fn new(src: R) -> Self {
        Input {
            src,
            buf: vec![0; BUF_SIZE],
            pos: 0,
            end: 0,
            base: 0,
            crc: None,
            crc_from: 0,
            capture: Capture::default(),
        }
    }

    /// The offset of the next byte.
    pub(super) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Starts the CRC-64 with everything consumed so far.
    pub(super) fn keep_crc(&mut self) {
        self.crc = Some(crc64(0, &self.buf[..self.pos]));
        self.crc_from = self.pos;
    }

    /// The CRC-64 of everything consumed so far.
    pub(super) fn crc(&mut self) -> Option<u64> {
        self.fold_crc();
        self.crc
    }

    /// Folds the bytes consumed since the last fold into the CRC: done
    /// before the buffer moves, so the CRC runs over large slices.
    fn fold_crc(&mut self) {
        if let Some(crc) = self.crc {
            self.crc = Some(crc64(crc, &self.buf[self.crc_from..self.pos]));
            self.crc_from = self.pos;
        }
    }

    /// Copies the bytes consumed since the capture's start, or its last
    /// copy, out of the buffer (which is about to move).
    fn fold_capture(&mut self) {
        let c = &mut self.capture;
        if c.on {
            if !c.over {
                let new = &self.buf[c.from..self.pos];
                if c.data.len() + new.len() > c.limit {
                    c.over = true;
                    c.data.clear();
                } else {
                    c.data.extend_from_slice(new);
                }
            }
            (c.from, c.spilled) = (self.pos, true);
        }
    }

    /// Makes at least `n` (at most [`BUF_SIZE`]) bytes available.
    pub(super) fn fill(&mut self, n: usize, what: &'static str) -> Result<(), RdbError> {
        debug_assert!(n <= BUF_SIZE);
        if self.end - self.pos >= n {
            return Ok(());
        }
        self.fold_crc();
        self.fold_capture();
        self.buf.copy_within(self.pos..self.end, 0);
        self.base += self.pos as u64;
        self.end -= self.pos;
        (self.pos, self.crc_from, self.capture.from) = (0, 0, 0);
        while self.end < n {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(self.truncated(what)),
                Ok(got) => self.end += got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    let offset = self.base + self.end as u64;
                    return Err(RdbError::Io {
                        at: At { offset, keys: 0 },
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    fn truncated(&self, expected: &'static str) -> RdbError {
        RdbError::Truncated {
            at: At {
                offset: self.base + self.end as u64,
                keys: 0,
            },
            expected,
        }
    }

    /// The bytes available without reading.
    pub(super) fn available(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Consumes `n` available bytes.
    pub(super) fn consume(&mut self, n: usize) {
        debug_assert!(self.pos + n <= self.end);
        self.pos += n;
    }

    /// The next `n` (at most [`BUF_SIZE`]) bytes.
    #[inline]
    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], RdbError> {
        self.fill(n, what)?;
        self.pos += n;
        Ok(&self.buf[self.pos - n..self.pos])
    }

    #[inline]
    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8, RdbError> {
        if self.pos == self.end {
            self.fill(1, what)?;
        }
        self.pos += 1;
        Ok(self.buf[self.pos - 1])
    }

    /// Eight bytes little-endian (times in milliseconds, binary doubles).
    pub(super) fn u64_le(&mut self, what: &'static str) -> Result<u64, RdbError> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("eight bytes")))
    }

    /// Four bytes little-endian (times in seconds).
    pub(super) fn u32_le(&mut self, what: &'static str) -> Result<u32, RdbError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes(b.try_into().expect("four bytes")))
    }

    /// A length: `00xxxxxx` (6 bits), `01xxxxxx xxxxxxxx` (14 bits),
    /// `0x80` + 4 bytes or `0x81` + 8 bytes big-endian, or `11xxxxxx` for a
    /// specially encoded string.
    #[inline]
    pub(super) fn length(&mut self, what: &'static str) -> Result<Length, RdbError> {
        // The common case, a 6-bit length or a special encoding, in one byte.
        if let Some(&first) = self.buf[..self.end].get(self.pos) {
            match first >> 6 {
                0 => {
                    self.pos += 1;
                    return Ok(Length::Len(u64::from(first)));
                }
                3 => {
                    self.pos += 1;
                    return Ok(Length::Special(first & 0x3f));
                }
                _ => {}
            }
        }
        let at = self.offset();
        let first = self.u8(what)?;
        Ok(match first >> 6 {
            0 => Length::Len(u64::from(first & 0x3f)),
            1 => Length::Len(u64::from(first & 0x3f) << 8 | u64::from(self.u8(what)?)),
            3 => Length::Special(first & 0x3f),
            _ if first == 0x80 => {
                let b = self.take(4, what)?;
                Length::Len(u64::from(u32::from_be_bytes(b.try_into().expect("four"))))
            }
            _ if first == 0x81 => {
                let b = self.take(8, what)?;
                Length::Len(u64::from_be_bytes(b.try_into().expect("eight")))
            }
            _ => {
                return Err(RdbError::corrupt(
                    at,
                    what,
                    format!("length byte {first:#04x}"),
                ));
            }
        })
    }

    /// A plain length (not a string's special encoding).
    #[inline]
    pub(super) fn len(&mut self, what: &'static str) -> Result<u64, RdbError> {
        let at = self.offset();
        match self.length(what)? {
            Length::Len(n) => Ok(n),
            Length::Special(k) => Err(RdbError::corrupt(
                at,
                what,
                format!("a string encoding marker ({k})"),
            )),
        }
    }

    /// A string (plain, an integer, or LZF-compressed), appended to `out`.
    #[inline]
    pub(super) fn string_into(
        &mut self,
        out: &mut Vec<u8>,
        what: &'static str,
    ) -> Result<(), RdbError> {
        let at = self.offset();
        match self.length(what)? {
            Length::Len(n) if n <= (self.end - self.pos) as u64 => {
                out.extend_from_slice(&self.buf[self.pos..self.pos + n as usize]);
                self.pos += n as usize;
                Ok(())
            }
            Length::Len(n) => self.bytes_into(n, out, what),
            Length::Special(k @ 0..=2) => {
                let v = self.int(k, what)?;
                out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
                Ok(())
            }
            Length::Special(3) => {
                let mut lzf = Lzf::start(self, what)?;
                let floor = out.len();
                out.reserve(
                    usize::try_from(lzf.out_left()).map_or(RESERVE_CAP, |n| n.min(RESERVE_CAP)),
                );
                lzf.run(self, out, floor, usize::MAX)?;
                lzf.finish(self)
            }
            Length::Special(k) => Err(RdbError::corrupt(at, what, format!("string encoding {k}"))),
        }
    }

    /// An integer-encoded string's value: 1, 2 or 4 bytes little-endian,
    /// signed.
    pub(super) fn int(&mut self, kind: u8, what: &'static str) -> Result<i64, RdbError> {
        Ok(match kind {
            0 => i64::from(self.u8(what)? as i8),
            1 => {
                let b = self.take(2, what)?;
                i64::from(i16::from_le_bytes([b[0], b[1]]))
            }
            _ => {
                let b = self.take(4, what)?;
                i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
        })
    }

    /// `n` raw bytes appended to `out`, in buffer-sized steps.
    pub(super) fn bytes_into(
        &mut self,
        n: u64,
        out: &mut Vec<u8>,
        what: &'static str,
    ) -> Result<(), RdbError> {
        out.reserve(usize::try_from(n).map_or(RESERVE_CAP, |n| n.min(RESERVE_CAP)));
        let mut left = n;
        while left > 0 {
            let step = usize::try_from(left).map_or(BUF_SIZE, |l| l.min(BUF_SIZE));
            out.extend_from_slice(self.take(step, what)?);
            left -= step as u64;
        }
        Ok(())
    }

    /// Consumes a string without keeping it.
    pub(super) fn skip_string(&mut self, what: &'static str) -> Result<(), RdbError> {
        let at = self.offset();
        let n = match self.length(what)? {
            Length::Len(n) => n,
            Length::Special(k @ 0..=2) => return self.int(k, what).map(drop),
            Length::Special(3) => {
                let compressed = self.len(what)?;
                self.len(what)?;
                compressed
            }
            Length::Special(k) => {
                return Err(RdbError::corrupt(at, what, format!("string encoding {k}")));
            }
        };
        let mut left = n;
        while left > 0 {
            let step = usize::try_from(left).map_or(BUF_SIZE, |l| l.min(BUF_SIZE));
            self.take(step, what)?;
            left -= step as u64;
        }
        Ok(())
    }

    /// Starts keeping what is consumed, up to `limit` bytes (past it, it
    /// is dropped).
    pub(super) fn start_capture(&mut self, limit: usize) {
        let c = &mut self.capture;
        c.data.clear();
        (c.on, c.spilled, c.over, c.from, c.limit) = (true, false, false, self.pos, limit);
    }

    /// The last capture, as [`end_capture`](Self::end_capture) left it.
    pub(super) fn captured(&self) -> &[u8] {
        match self.capture.kept {
            Some((from, to)) => &self.buf[from..to],
            None => &self.capture.data,
        }
    }

    /// The last `n` bytes consumed, while no read came since.
    pub(super) fn last(&self, n: usize) -> &[u8] {
        &self.buf[self.pos - n..self.pos]
    }

    /// Stops keeping, and says whether all was kept (within the limit);
    /// [`captured`](Self::captured) then gives it, until the next read.
    pub(super) fn end_capture(&mut self) -> bool {
        let c = &mut self.capture;
        if !std::mem::replace(&mut c.on, false) {
            return false;
        }
        if !c.spilled {
            c.kept = Some((c.from, self.pos));
            return self.pos - c.from <= c.limit;
        }
        c.kept = None;
        c.on = true;
        self.fold_capture();
        self.capture.on = false;
        !self.capture.over
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::testing::Pieces;

    fn input(bytes: &[u8]) -> Input<Pieces> {
        Input::new(Pieces::new(bytes.to_vec(), 3))
    }

    #[test]
    fn reads_every_length_encoding() {
        let mut i =
            input(b"\x05\x41\x02\x80\x00\x01\x00\x00\x81\x00\x00\x00\x01\x00\x00\x00\x00\xc3");
        assert_eq!(i.length("n").unwrap(), Length::Len(5));
        assert_eq!(i.length("n").unwrap(), Length::Len(0x102));
        assert_eq!(i.length("n").unwrap(), Length::Len(0x10000));
        assert_eq!(i.length("n").unwrap(), Length::Len(1 << 32));
        assert_eq!(i.length("n").unwrap(), Length::Special(3));
        assert_eq!(i.offset(), 18);
    }

    #[test]
    fn reads_integer_encoded_strings_as_their_decimal_text() {
        let mut i = input(b"\xc0\xfe\xc1\x00\x80\xc2\xff\xff\xff\x7f");
        let mut out = Vec::new();
        for _ in 0..3 {
            i.string_into(&mut out, "s").unwrap();
            out.push(b' ');
        }
        assert_eq!(out, b"-2 -32768 2147483647 ");
    }

    #[test]
    fn a_length_past_the_end_is_truncation_at_the_end_without_allocating_it() {
        let mut i = input(b"\x81\x00\x00\x10\x00\x00\x00\x00\x00abc");
        let mut out = Vec::new();
        let e = i.string_into(&mut out, "a key").unwrap_err();
        assert!(
            matches!(
                e,
                RdbError::Truncated {
                    at: At { offset: 12, .. },
                    expected: "a key"
                }
            ),
            "{e}"
        );
        assert!(out.capacity() <= RESERVE_CAP + BUF_SIZE);
    }

    #[test]
    fn a_bad_length_byte_is_named_with_its_offset() {
        let mut i = input(b"\x00\x82");
        i.u8("t").unwrap();
        let e = i.len("a length").unwrap_err();
        assert_eq!(
            e.to_string(),
            "corrupt RDB at byte 1 (0 keys read whole before it): expected a length, found length byte 0x82"
        );
    }

    #[test]
    fn captures_what_is_consumed_in_the_buffer_and_across_refills_up_to_its_limit() {
        let data: Vec<u8> = (0..3 * BUF_SIZE).map(|i| i as u8).collect();
        let mut i = Input::new(io::Cursor::new(data.clone()));
        i.take(10, "x").unwrap();
        i.start_capture(100);
        i.take(100, "x").unwrap();
        assert!(i.end_capture());
        assert_eq!(i.captured(), &data[10..110]);
        i.start_capture(2 * BUF_SIZE);
        for _ in 0..BUF_SIZE / 1000 + 5 {
            i.take(1000, "x").unwrap();
        }
        let end = i.offset() as usize;
        assert!(i.end_capture());
        assert_eq!(i.captured(), &data[110..end]);
        i.start_capture(100);
        i.take(101, "x").unwrap();
        assert!(!i.end_capture());
        i.start_capture(BUF_SIZE / 2);
        i.take(BUF_SIZE, "x").unwrap();
        assert!(!i.end_capture(), "over its limit across a refill");
    }

    #[test]
    fn keeps_the_crc_of_what_is_consumed_across_refills() {
        let data: Vec<u8> = (0..BUF_SIZE + 12345).map(|i| (i * 7) as u8).collect();
        let mut i = Input::new(io::Cursor::new(data.clone()));
        i.take(9, "x").unwrap();
        i.keep_crc();
        let mut out = Vec::new();
        i.bytes_into((BUF_SIZE + 1000) as u64, &mut out, "x")
            .unwrap();
        let end = i.offset() as usize;
        assert_eq!(i.crc(), Some(crc64(0, &data[..end])));
    }
}
