//! LZF decompression (Redis's `lzf_d.c`), as a stream: the compressed
//! bytes are read from the input as needed, and the output can be taken in
//! windows, since a back-reference reaches at most 8 KiB back.
//!
//! The format is a run of operations, each starting with a control byte:
//! - `000LLLLL`: a literal run of `L + 1` bytes, which follow;
//! - `LLLooooo oooooooo`: copy `L + 2` bytes from `o + 1` bytes back;
//! - `111ooooo LLLLLLLL oooooooo`: the same with a length of `L + 9`.

use std::io::Read;

use super::error::RdbError;
use super::input::Input;

/// How far back a back-reference can reach: 13 bits of offset, plus one.
pub(super) const LZF_WINDOW: usize = 8192;

/// The longest operation, in compressed bytes: a control byte and a
/// 32-byte literal run.
const MAX_OP: usize = 33;

/// The state of one compressed string.
pub(super) struct Lzf {
    in_left: u64,
    out_left: u64,
    /// The offset of the compressed bytes' start, for errors.
    at: u64,
}

impl Lzf {
    /// Reads the compressed and uncompressed lengths that follow the LZF
    /// marker.
    pub(super) fn start<R: Read>(
        input: &mut Input<R>,
        what: &'static str,
    ) -> Result<Lzf, RdbError> {
        let in_left = input.len(what)?;
        let out_left = input.len(what)?;
        Ok(Lzf {
            in_left,
            out_left,
            at: input.offset(),
        })
    }

    /// The uncompressed bytes still to come.
    pub(super) fn out_left(&self) -> u64 {
        self.out_left
    }

    /// Whether all the compressed bytes are consumed.
    pub(super) fn done(&self) -> bool {
        self.in_left == 0
    }

    /// Decompresses into `out` until it holds `stop` bytes or the
    /// compressed bytes end. A back-reference may reach back to `out[floor]`
    /// and no further.
    pub(super) fn run<R: Read>(
        &mut self,
        input: &mut Input<R>,
        out: &mut Vec<u8>,
        floor: usize,
        stop: usize,
    ) -> Result<(), RdbError> {
        while self.in_left > 0 && out.len() < stop {
            let want = usize::try_from(self.in_left).map_or(MAX_OP, |n| n.min(MAX_OP));
            input.fill(want, "LZF-compressed bytes")?;
            let base = input.offset();
            let avail = input.available();
            let last = (avail.len() as u64) >= self.in_left;
            let data =
                &avail[..usize::try_from(self.in_left).map_or(avail.len(), |n| n.min(avail.len()))];
            let mut i = 0;
            while i < data.len() && out.len() < stop && (last || data.len() - i >= MAX_OP) {
                match self.op(data, i, out, floor) {
                    Ok(next) => i = next,
                    Err(what) => {
                        return Err(RdbError::corrupt(base + i as u64, "valid LZF data", what));
                    }
                }
            }
            input.consume(i);
            self.in_left -= i as u64;
        }
        Ok(())
    }

    /// Runs the operation at `data[i]`, returning where the next starts.
    #[inline(always)]
    fn op(
        &mut self,
        data: &[u8],
        mut i: usize,
        out: &mut Vec<u8>,
        floor: usize,
    ) -> Result<usize, &'static str> {
        let ctrl = usize::from(data[i]);
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let run = data.get(i..i + n).ok_or("a literal run past the end")?;
            self.produce(n)?;
            out.extend_from_slice(run);
            return Ok(i + n);
        }
        let mut len = ctrl >> 5;
        if len == 7 {
            len += usize::from(*data.get(i).ok_or("a back-reference past the end")?);
            i += 1;
        }
        let low = usize::from(*data.get(i).ok_or("a back-reference past the end")?);
        i += 1;
        let back = ((ctrl & 0x1f) << 8) + low + 1;
        let len = len + 2;
        let from = out
            .len()
            .checked_sub(back)
            .filter(|&f| f >= floor)
            .ok_or("a back-reference before the start")?;
        self.produce(len)?;
        // An overlapping reference repeats the last `back` bytes: copy
        // what is there, which doubles what can be copied next.
        let mut left = len;
        while left > 0 {
            let n = left.min(out.len() - from);
            out.extend_from_within(from..from + n);
            left -= n;
        }
        Ok(i)
    }

    fn produce(&mut self, n: usize) -> Result<(), &'static str> {
        self.out_left = self
            .out_left
            .checked_sub(n as u64)
            .ok_or("more bytes than its stated length")?;
        Ok(())
    }

    /// Checks that the output filled its stated length exactly.
    pub(super) fn finish<R: Read>(&self, input: &Input<R>) -> Result<(), RdbError> {
        if self.in_left == 0 && self.out_left == 0 {
            return Ok(());
        }
        Err(RdbError::corrupt(
            input.offset().max(self.at),
            "LZF data that fills its stated length",
            format!("{} bytes short", self.out_left),
        ))
    }
}

/// Compresses `data` the simplest valid way (literal runs, and a
/// back-reference for each repeat of the previous byte run), for tests.
#[cfg(test)]
pub(super) fn compress_for_tests(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        // A run of one byte repeated: one literal, then a back-reference
        // of distance 1 for the rest (up to 264 at a time).
        let mut run = 1;
        while i + run < data.len() && data[i + run] == data[i] && run < 265 {
            run += 1;
        }
        if run >= 4 {
            out.extend_from_slice(&[0, data[i]]);
            let len = run - 1 - 2;
            if len < 7 {
                out.extend_from_slice(&[(len << 5) as u8, 0]);
            } else {
                out.extend_from_slice(&[0xe0, (len - 7) as u8, 0]);
            }
            i += run;
        } else {
            let n = (data.len() - i).min(32);
            out.push((n - 1) as u8);
            out.extend_from_slice(&data[i..i + n]);
            i += n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::testing::Pieces;

    fn lzf_string(data: &[u8]) -> Vec<u8> {
        let c = compress_for_tests(data);
        let mut s = vec![0xc3, 0x80];
        s.extend_from_slice(&(c.len() as u32).to_be_bytes());
        s.push(0x80);
        s.extend_from_slice(&(data.len() as u32).to_be_bytes());
        s.extend_from_slice(&c);
        s
    }

    #[test]
    fn decompresses_literals_and_overlapping_back_references() {
        let mut data = b"abc".to_vec();
        data.extend_from_slice(&[b'x'; 1000]);
        data.extend_from_slice(b"the end, with more than thirty-two bytes of literal text");
        let mut input = Input::new(Pieces::new(lzf_string(&data), 5));
        let mut out = Vec::new();
        input.string_into(&mut out, "s").unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn decompresses_a_real_redis_lzf_string() {
        // 100 a's, as Redis 7.0's DUMP writes them: a 2-byte literal, a
        // 96-byte back-reference of distance 1, a 2-byte literal.
        let mut input = Input::new(Pieces::new(
            b"\xc3\x09\x40\x64\x01aa\xe0\x57\x00\x01aa".to_vec(),
            2,
        ));
        let mut out = Vec::new();
        input.string_into(&mut out, "s").unwrap();
        assert_eq!(out, vec![b'a'; 100]);
    }

    #[test]
    fn rejects_a_back_reference_before_the_start() {
        let mut input = Input::new(Pieces::new(b"\xc3\x04\x05\x00\x61\x20\x05".to_vec(), 9));
        let e = input.string_into(&mut Vec::new(), "s").unwrap_err();
        assert!(
            e.to_string().contains("a back-reference before the start"),
            "{e}"
        );
    }

    #[test]
    fn rejects_output_longer_or_shorter_than_stated() {
        for (stated, data) in [(2u8, &b"\x02abc"[..]), (9, &b"\x02abc"[..])] {
            let mut s = vec![0xc3, data.len() as u8, stated];
            s.extend_from_slice(data);
            let mut input = Input::new(Pieces::new(s, 9));
            let e = input.string_into(&mut Vec::new(), "s").unwrap_err();
            assert!(matches!(e, RdbError::Corrupt { .. }), "{e}");
        }
    }
}
