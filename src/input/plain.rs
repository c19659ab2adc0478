//! The fast path for the common inline line: plain words separated by
//! spaces, tabs or CRs, with no quote, NUL, `\v` or `\f` in it.
//!
//! For such a line `sdssplitargs` reduces to "split on SP, `\t`, `\r`". This
//! splits many such lines at once: the buffer is classified 64 bytes at a
//! time into bitmasks of delimiters, line ends and special bytes (four SSE2
//! compares per kind), and every token and line boundary is read off the
//! masks with `trailing_zeros`, so there is no branch per byte to mispredict
//! and each byte is classified once. A batch stops before the first line it
//! cannot vouch for (a special byte, a line starting with `*`, or a line not
//! yet complete); the general tokenizer, which is exact, takes it from there.

use std::ops::Range;

use super::args::Span;

/// The most lines split ahead: enough to amortise a batch's setup, few
/// enough that the spans stay in cache.
const MAX_LINES: usize = 1024;

/// Lines longer than this are left to the general path, which scans a line
/// still being read only once; a batch would start over after every read.
const MAX_LINE: usize = 64 * 1024;

/// One non-blank plain line of a batch, as absolute buffer offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlainLine {
    /// Offset of the line's first byte.
    pub start: usize,
    /// Offset of its `\n`.
    pub end: usize,
    /// Blank lines between the previous line of the batch (or the batch
    /// start) and this one.
    pub blank_before: u64,
    /// Its arguments in [`PlainLines::spans`].
    pub args: Range<usize>,
}

/// Plain lines split ahead of the reader.
#[derive(Debug, Default)]
pub(crate) struct PlainLines {
    pub lines: Vec<PlainLine>,
    /// Every line's arguments, as spans of the whole buffer.
    pub spans: Vec<Span>,
    /// The next line to hand out.
    pub next: usize,
    /// Where the batch ends: the first byte it did not vouch for.
    pub end: usize,
    /// Blank lines after the last line of the batch, up to `end`.
    pub blank_after: u64,
}

impl PlainLines {
    /// Whether the batch has been handed out in full.
    pub(crate) fn is_done(&self) -> bool {
        self.next == self.lines.len()
    }

    /// Forgets the batch; its offsets are stale once the buffer moves.
    pub(crate) fn reset(&mut self) {
        self.lines.clear();
        self.next = 0;
        self.end = 0;
        self.blank_after = 0;
    }

    /// Splits the plain lines of `buf[from..to]` ahead. Afterwards, `end`
    /// tells how far it got: `from` if the first line is not plain.
    pub(crate) fn split(&mut self, buf: &[u8], from: usize, to: usize) {
        self.end = from;
        #[cfg(target_arch = "x86_64")]
        self.split_prepared(|out| sse2::split(out, buf, from, to));
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (buf, to);
    }

    /// Empties the batch, then runs `split` on it.
    fn split_prepared(&mut self, split: impl FnOnce(&mut PlainLines)) {
        self.lines.clear();
        self.spans.clear();
        self.next = 0;
        self.blank_after = 0;
        split(self);
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };

    use super::{MAX_LINE, MAX_LINES, PlainLine, PlainLines, Span};

    /// Bitmasks of one 64-byte block: bit i is byte i.
    struct Masks {
        newline: u64,
        space: u64,
        special: u64,
    }

    /// Turns 64 bytes into [`Masks`] with one vector width.
    trait Classify {
        /// # Safety
        ///
        /// The CPU must have the instructions the implementation uses.
        unsafe fn classify(block: &[u8; 64]) -> Masks;
    }

    /// Four 16-byte SSE2 compares per mask: SSE2 is the x86_64 baseline.
    struct Sse2;

    impl Classify for Sse2 {
        #[inline(always)]
        unsafe fn classify(block: &[u8; 64]) -> Masks {
            let mut m = Masks {
                newline: 0,
                space: 0,
                special: 0,
            };
            for (i, quarter) in block.chunks_exact(16).enumerate() {
                // SAFETY: SSE2 is always there on x86_64; the load reads
                // exactly the 16 bytes of `quarter`.
                let (newline, space, special) = unsafe {
                    let v = _mm_loadu_si128(quarter.as_ptr() as *const __m128i);
                    let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
                    let or = |a, b| _mm_or_si128(a, b);
                    (
                        _mm_movemask_epi8(eq(b'\n')) as u16,
                        _mm_movemask_epi8(or(or(eq(b' '), eq(b'\t')), eq(b'\r'))) as u16,
                        _mm_movemask_epi8(or(
                            or(or(eq(b'"'), eq(b'\'')), eq(0)),
                            or(eq(0x0b), eq(0x0c)),
                        )) as u16,
                    )
                };
                let shift = 16 * i;
                m.newline |= u64::from(newline) << shift;
                m.space |= u64::from(space) << shift;
                m.special |= u64::from(special) << shift;
            }
            m
        }
    }

    /// Two 32-byte AVX2 compares per mask, when the CPU has AVX2.
    struct Avx2;

    impl Classify for Avx2 {
        #[inline]
        #[target_feature(enable = "avx2")]
        unsafe fn classify(block: &[u8; 64]) -> Masks {
            let mut m = Masks {
                newline: 0,
                space: 0,
                special: 0,
            };
            for (i, half) in block.chunks_exact(32).enumerate() {
                // SAFETY: the caller checked for AVX2; the load reads
                // exactly the 32 bytes of `half`.
                let (newline, space, special) = unsafe {
                    let v = _mm256_loadu_si256(half.as_ptr() as *const __m256i);
                    let eq = |b: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b as i8));
                    let or = |a, b| _mm256_or_si256(a, b);
                    (
                        _mm256_movemask_epi8(eq(b'\n')) as u32,
                        _mm256_movemask_epi8(or(or(eq(b' '), eq(b'\t')), eq(b'\r'))) as u32,
                        _mm256_movemask_epi8(or(
                            or(or(eq(b'"'), eq(b'\'')), eq(0)),
                            or(eq(0x0b), eq(0x0c)),
                        )) as u32,
                    )
                };
                let shift = 32 * i;
                m.newline |= u64::from(newline) << shift;
                m.space |= u64::from(space) << shift;
                m.special |= u64::from(special) << shift;
            }
            m
        }
    }

    /// Splits with AVX2 when the CPU has it (checked once, then cached by
    /// the standard library), else with SSE2.
    pub(super) fn split(out: &mut PlainLines, buf: &[u8], from: usize, to: usize) {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            unsafe { split_avx2(out, buf, from, to) }
        } else {
            // SAFETY: SSE2 is always present on x86_64.
            unsafe { split_with::<Sse2>(out, buf, from, to) }
        }
    }

    /// Each vector width in turn, for tests that must cover both.
    #[cfg(test)]
    pub(super) fn split_each(buf: &[u8], from: usize, to: usize) -> Vec<PlainLines> {
        let mut all = Vec::new();
        let mut sse = PlainLines {
            end: from,
            ..PlainLines::default()
        };
        sse.split_prepared(|out| unsafe { split_with::<Sse2>(out, buf, from, to) });
        all.push(sse);
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut avx = PlainLines {
                end: from,
                ..PlainLines::default()
            };
            avx.split_prepared(|out| unsafe { split_avx2(out, buf, from, to) });
            all.push(avx);
        }
        all
    }

    #[target_feature(enable = "avx2")]
    unsafe fn split_avx2(out: &mut PlainLines, buf: &[u8], from: usize, to: usize) {
        // SAFETY: this function only runs where AVX2 is present.
        unsafe { split_with::<Avx2>(out, buf, from, to) }
    }

    /// Splits whole 64-byte blocks of `buf[from..to]` into plain lines.
    ///
    /// Per block, `words` marks token bytes; a token starts where a word
    /// byte follows a non-word byte (`starts`) and ends at the first
    /// non-word byte after it (`ends`), so the k-th start pairs with the
    /// k-th end. Lines are the stretches between newline bits.
    ///
    /// # Safety
    ///
    /// The CPU must support `C`'s instructions.
    #[inline(always)]
    unsafe fn split_with<C: Classify>(out: &mut PlainLines, buf: &[u8], from: usize, to: usize) {
        if buf.get(from).is_none_or(|&b| b == b'*') {
            return;
        }
        out.lines.reserve(MAX_LINES);
        let mut s = State {
            line_start: from,
            line_args: 0,
            blank: 0,
            open: None,
        };
        let mut carry = 0u64;
        let mut base = from;
        // Only whole blocks: a line reaching past the last one is left to
        // the next batch or to the general path.
        while base + 64 <= to {
            let block: &[u8; 64] = buf[base..base + 64].try_into().expect("64 bytes");
            // SAFETY: as the caller promised.
            let m = unsafe { C::classify(block) };
            let words = !(m.space | m.newline);
            let prev = (words << 1) | carry;
            carry = words >> 63;
            let mut t = Tokens {
                starts: words & !prev,
                ends: !words & prev,
                base,
            };
            // Bits from the first special byte on may not be used.
            let usable = if m.special == 0 {
                u64::MAX
            } else {
                (m.special & m.special.wrapping_neg()) - 1
            };
            let mut newlines = m.newline;
            while newlines != 0 {
                let at = newlines.trailing_zeros();
                newlines &= newlines - 1;
                let below = (1u64 << at) - 1;
                if below & !usable != 0 {
                    return s.stop(out);
                }
                t.take(below, &mut s.open, &mut out.spans);
                if !s.end_line(out, base + at as usize, buf, to) {
                    return s.stop(out);
                }
            }
            // The rest of the block belongs to a line that goes on.
            if !usable != 0 || base + 64 - s.line_start > MAX_LINE {
                return s.stop(out);
            }
            t.take(u64::MAX, &mut s.open, &mut out.spans);
            base += 64;
        }
        s.stop(out)
    }

    /// The line being split.
    struct State {
        line_start: usize,
        /// Its first span in `spans`.
        line_args: usize,
        /// Blank lines since the last line recorded.
        blank: u64,
        /// A token running on from an earlier block.
        open: Option<usize>,
    }

    impl State {
        /// Ends the current line at the `\n` at `nl`; false when the batch
        /// must stop before the next line.
        #[inline(always)]
        fn end_line(&mut self, out: &mut PlainLines, nl: usize, buf: &[u8], to: usize) -> bool {
            if let Some(start) = self.open.take() {
                out.spans.push(Span::base(start, nl));
            }
            if out.spans.len() > self.line_args {
                let args = self.line_args..out.spans.len();
                out.lines.push(PlainLine {
                    start: self.line_start,
                    end: nl,
                    blank_before: self.blank,
                    args,
                });
                self.blank = 0;
            } else {
                self.blank += 1;
            }
            self.line_start = nl + 1;
            self.line_args = out.spans.len();
            out.lines.len() < MAX_LINES && self.line_start < to && buf[self.line_start] != b'*'
        }

        /// Ends the batch before the current line, dropping its tokens.
        fn stop(self, out: &mut PlainLines) {
            out.spans.truncate(self.line_args);
            out.end = self.line_start;
            out.blank_after = self.blank;
        }
    }

    /// A block's token boundaries not yet used.
    struct Tokens {
        starts: u64,
        ends: u64,
        base: usize,
    }

    impl Tokens {
        /// Records the tokens that start within `below` (the bits of the
        /// current line left in this block), pairing each start with the
        /// next end; a token with no end here stays open in `open`.
        #[inline(always)]
        fn take(&mut self, below: u64, open: &mut Option<usize>, spans: &mut Vec<Span>) {
            if let Some(start) = *open
                && self.ends != 0
            {
                spans.push(Span::base(
                    start,
                    self.base + self.ends.trailing_zeros() as usize,
                ));
                self.ends &= self.ends - 1;
                *open = None;
            }
            let mut mine = self.starts & below;
            self.starts &= !below;
            while mine != 0 {
                let start = self.base + mine.trailing_zeros() as usize;
                mine &= mine - 1;
                if self.ends == 0 {
                    *open = Some(start);
                    return;
                }
                spans.push(Span::base(
                    start,
                    self.base + self.ends.trailing_zeros() as usize,
                ));
                self.ends &= self.ends - 1;
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::input::args::ArgBuf;
    use crate::input::inline::split_inline;

    /// Splits `data` in one batch; returns the lines' arguments.
    fn batch(data: &[u8]) -> (PlainLines, Vec<Vec<Vec<u8>>>) {
        let mut p = PlainLines::default();
        p.split(data, 0, data.len());
        let lines = p.lines.iter().map(|l| resolve(&p, l, data)).collect();
        (p, lines)
    }

    fn resolve(p: &PlainLines, l: &PlainLine, data: &[u8]) -> Vec<Vec<u8>> {
        crate::input::Args::new(data, &[], &p.spans[l.args.clone()])
            .iter()
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn general(line: &[u8]) -> Vec<Vec<u8>> {
        let mut buf = ArgBuf::default();
        split_inline(line, &mut buf).unwrap();
        buf.args(line).iter().map(<[u8]>::to_vec).collect()
    }

    /// Every line the fast path accepts must split as the general tokenizer
    /// splits it, wherever it falls across blocks.
    #[test]
    fn agrees_with_the_general_tokenizer() {
        let words = [
            "SET",
            "Key123456789012345",
            "v",
            "",
            "\t",
            "  ",
            "\r",
            "x".repeat(70).leak(),
        ];
        let mut text = Vec::new();
        let mut want = Vec::new();
        for a in &words {
            for b in &words {
                for c in &words {
                    for line in [format!("{a} {b}\t{c}"), format!("{a}{b}  {c} ")] {
                        let args = general(line.as_bytes());
                        if !args.is_empty() {
                            want.push(args);
                        }
                        text.extend_from_slice(line.as_bytes());
                        text.push(b'\n');
                    }
                }
            }
        }
        text.extend_from_slice(&[b' '; 64]);
        let widths = sse2::split_each(&text, 0, text.len()).len();
        for width in 0..widths {
            let mut got = Vec::new();
            let mut from = 0;
            while from < text.len() - 64 {
                let p = sse2::split_each(&text, from, text.len()).swap_remove(width);
                assert!(p.end > from, "progress at {from} with width {width}");
                got.extend(p.lines.iter().map(|l| resolve(&p, l, &text)));
                from = p.end;
            }
            assert_eq!(got, want, "width {width}");
        }
    }

    #[test]
    fn counts_blank_lines_between_and_after() {
        let mut data = b"\n \nSET a b\n\t\r\nGET a\n\n".to_vec();
        data.extend_from_slice(&[b' '; 64]);
        let (p, lines) = batch(&data);
        assert_eq!(
            lines,
            [
                vec![b"SET".to_vec(), b"a".to_vec(), b"b".to_vec()],
                vec![b"GET".to_vec(), b"a".to_vec()]
            ]
        );
        assert_eq!(
            (
                p.lines[0].blank_before,
                p.lines[1].blank_before,
                p.blank_after
            ),
            (2, 1, 1)
        );
        assert_eq!(p.end, 21);
    }

    #[test]
    fn stops_before_a_line_it_cannot_vouch_for() {
        let pad = [b' '; 64];
        for (stop, tail) in [
            (&b"SET a \"b\"\n"[..], 8),
            (b"SET a 'b'\n", 8),
            (b"SET a\0b\n", 8),
            (b"SET a\x0bb\n", 8),
            (b"*1\r\n$4\r\nPING\r\n", 8),
        ] {
            let mut data = b"SET k v\n".to_vec();
            data.extend_from_slice(stop);
            data.extend_from_slice(&pad);
            let (p, lines) = batch(&data);
            assert_eq!((lines.len(), p.end), (1, tail), "{stop:?}");
        }
    }

    #[test]
    fn leaves_a_line_near_the_end_of_the_buffer_alone() {
        let (p, lines) = batch(b"SET a b\nSET c d\n");
        assert!(lines.is_empty());
        assert_eq!(p.end, 0);
    }
}
