//! The arguments of one framed command, borrowed from the input buffer.
//!
//! Unquoted inline tokens and RESP bulk strings are spans of the input
//! buffer itself; only quoted inline tokens, whose escapes must be resolved,
//! are copied into a scratch buffer. Nothing is allocated per command once the
//! buffers have grown to fit the input.

/// Where one argument's bytes live: in the command's own bytes or in scratch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    end: usize,
    in_scratch: bool,
}

impl Span {
    /// The argument `scratch[start..end]`.
    #[inline(always)]
    pub(crate) fn scratch(start: usize, end: usize) -> Span {
        Span {
            start,
            end,
            in_scratch: true,
        }
    }

    /// The argument `base[start..end]`.
    #[inline(always)]
    pub(crate) fn base(start: usize, end: usize) -> Span {
        Span {
            start,
            end,
            in_scratch: false,
        }
    }
}

/// Commands taken into argument buffers, one buffer each (reused from one
/// record or key to the next): where the commands that rebuild a key go
/// when a source makes them. It holds its buffers, or borrows them.
pub(crate) struct ArgQueue<B> {
    out: B,
    n: usize,
    /// Bytes of the arguments taken.
    bytes: usize,
}

impl<B: std::borrow::BorrowMut<Vec<ArgBuf>>> ArgQueue<B> {
    /// Commands into `out`, from its first buffer on.
    pub(crate) fn new(out: B) -> Self {
        ArgQueue {
            out,
            n: 0,
            bytes: 0,
        }
    }

    /// Commands taken.
    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// Command `i`'s arguments.
    pub(crate) fn get(&self, i: usize) -> &ArgBuf {
        &self.out.borrow()[i]
    }

    /// Bytes of the arguments taken.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Takes commands from the first buffer again.
    pub(crate) fn clear(&mut self) {
        self.n = 0;
        self.bytes = 0;
    }
}

impl<B: std::borrow::BorrowMut<Vec<ArgBuf>>> crate::rebuild::CommandSink for ArgQueue<B> {
    fn command(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        let out = self.out.borrow_mut();
        if out.len() == self.n {
            out.push(ArgBuf::default());
        }
        let buf = &mut out[self.n];
        buf.clear();
        for a in args {
            let start = buf.scratch.len();
            buf.scratch.extend_from_slice(a);
            buf.push_scratch(start);
            self.bytes += a.len();
        }
        self.n += 1;
        Ok(())
    }

    fn count(&self) -> u64 {
        self.n as u64
    }
}

/// Reusable storage for the arguments of the command being framed.
#[derive(Debug, Default)]
pub(crate) struct ArgBuf {
    pub(crate) spans: Vec<Span>,
    pub(crate) scratch: Vec<u8>,
}

impl ArgBuf {
    pub(crate) fn clear(&mut self) {
        self.spans.clear();
        self.scratch.clear();
    }

    /// Records an argument that is `base[start..end]`.
    #[inline]
    pub(crate) fn push_base(&mut self, start: usize, end: usize) {
        self.spans.push(Span::base(start, end));
    }

    /// Records an argument that is `scratch[start..]`, up to the scratch end.
    #[inline]
    pub(crate) fn push_scratch(&mut self, start: usize) {
        let end = self.scratch.len();
        self.spans.push(Span {
            start,
            end,
            in_scratch: true,
        });
    }

    /// The 1-based position and the length of the longest argument.
    pub(crate) fn longest(&self) -> Option<(usize, usize)> {
        self.spans
            .iter()
            .enumerate()
            .map(|(i, s)| (i + 1, s.end - s.start))
            .max_by_key(|&(_, len)| len)
    }

    /// Borrows the arguments, resolving base spans against `base`.
    pub(crate) fn args<'a>(&'a self, base: &'a [u8]) -> Args<'a> {
        Args::new(base, &self.scratch, &self.spans)
    }
}

/// The length of the header before an argument of `len` bytes, `$<len>\r\n`.
fn bulk_header_len(len: usize) -> usize {
    crate::resp::digits(len) + 3
}

impl ArgBuf {
    /// Whether the command whose arguments these are (base spans relative
    /// to a line) can be encoded over its own line: every argument of the
    /// line lands no further left, relative to where it was, than the one
    /// before it, so the moves never overwrite a source not yet moved.
    pub(crate) fn encodes_in_place(&self) -> bool {
        let mut out = 1 + crate::resp::digits(self.spans.len()) + 2;
        let mut last: Option<i128> = None;
        for s in &self.spans {
            let len = s.end - s.start;
            out += bulk_header_len(len);
            if !s.in_scratch {
                let shift = out as i128 - s.start as i128;
                if last.is_some_and(|l| shift < l) {
                    return false;
                }
                last = Some(shift);
            }
            out += len + 2;
        }
        true
    }

    /// Encodes the command as RESP over its own bytes, `buf[base..]` (where
    /// the base spans are), with no second copy: the result is `buf`,
    /// truncated to the command. Anything in `buf` after the line is
    /// overwritten. Call only if [`ArgBuf::encodes_in_place`].
    pub(crate) fn encode_in_place(&self, buf: &mut Vec<u8>, base: usize) {
        debug_assert!(self.encodes_in_place());
        let mut at = Vec::with_capacity(self.spans.len());
        let mut out = 1 + crate::resp::digits(self.spans.len()) + 2;
        for s in &self.spans {
            let len = s.end - s.start;
            out += bulk_header_len(len);
            at.push(out);
            out += len + 2;
        }
        if buf.len() < out {
            buf.resize(out, 0);
        }
        let moves = || self.spans.iter().zip(&at).filter(|(s, _)| !s.in_scratch);
        // Arguments moving left go first, in order; then those moving
        // right, from the last: each lands where no source waits.
        for (s, &to) in moves().filter(|(s, to)| **to <= base + s.start) {
            buf.copy_within(base + s.start..base + s.end, to);
        }
        for (s, &to) in moves()
            .filter(|(s, to)| **to > base + s.start)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            buf.copy_within(base + s.start..base + s.end, to);
        }
        for (s, &to) in self.spans.iter().zip(&at).filter(|(s, _)| s.in_scratch) {
            buf[to..to + s.end - s.start].copy_from_slice(&self.scratch[s.start..s.end]);
        }
        // The headers and CRLFs, in the gaps, last.
        let mut head = Vec::with_capacity(24);
        head.push(b'*');
        head.extend_from_slice(self.spans.len().to_string().as_bytes());
        head.extend_from_slice(b"\r\n");
        buf[..head.len()].copy_from_slice(&head);
        for (s, &to) in self.spans.iter().zip(&at) {
            let len = s.end - s.start;
            let header = format!("${len}\r\n");
            buf[to - header.len()..to].copy_from_slice(header.as_bytes());
            buf[to + len..to + len + 2].copy_from_slice(b"\r\n");
        }
        buf.truncate(out);
    }
}

impl crate::resp::sealed::Sealed for Args<'_> {}

impl crate::resp::CommandArgs for Args<'_> {
    #[inline(always)]
    fn arg_count(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn arg(&self, i: usize) -> &[u8] {
        self.get(i).expect("i < arg_count")
    }

    #[inline(always)]
    fn arg_len(&self, i: usize) -> usize {
        self.len_of(i)
    }
}

/// The arguments of one command, in order; the first is the command name.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    base: &'a [u8],
    scratch: &'a [u8],
    spans: &'a [Span],
}

impl<'a> Args<'a> {
    #[inline(always)]
    pub(crate) fn new(base: &'a [u8], scratch: &'a [u8], spans: &'a [Span]) -> Self {
        Args {
            base,
            scratch,
            spans,
        }
    }

    /// The number of arguments, the command name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no arguments at all.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The `i`th argument, or `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.spans.get(i).map(|s| self.resolve(*s))
    }

    /// The length of the `i`th argument, without resolving it.
    ///
    /// # Panics
    ///
    /// If `i` is out of range.
    #[inline]
    pub fn len_of(&self, i: usize) -> usize {
        let s = self.spans[i];
        s.end - s.start
    }

    /// The arguments in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + Clone + 'a {
        let (base, scratch) = (self.base, self.scratch);
        self.spans.iter().map(move |s| {
            if s.in_scratch {
                &scratch[s.start..s.end]
            } else {
                &base[s.start..s.end]
            }
        })
    }

    #[inline]
    fn resolve(&self, s: Span) -> &'a [u8] {
        if s.in_scratch {
            &self.scratch[s.start..s.end]
        } else {
            &self.base[s.start..s.end]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::inline::split_inline;

    /// Encodes `line` over itself, placed at `base` in a buffer with other
    /// bytes around it, and checks it against the ordinary encoder.
    fn in_place(line: &[u8], base: usize) -> Option<Vec<u8>> {
        let mut args = ArgBuf::default();
        split_inline(line, &mut args).unwrap();
        let mut want = Vec::new();
        crate::resp::encode_command(&mut want, &args.args(line));
        if !args.encodes_in_place() {
            return None;
        }
        let mut buf = vec![b'#'; base];
        buf.extend_from_slice(line);
        buf.extend_from_slice(b"\nSET next 1\n");
        args.encode_in_place(&mut buf, base);
        assert_eq!(buf, want, "{}", String::from_utf8_lossy(line));
        Some(buf)
    }

    #[test]
    fn encodes_a_line_over_itself_as_the_encoder_would() {
        for base in [0, 3, 1000] {
            for line in [
                &b"SET k v"[..],
                b"SET key \"quoted value\\x41\" tail",
                b"  HSET h f1 v1 f2 'v 2' f3 v3",
                b"RPUSH l a b c d e f g h i j k l m n o p",
                b"PING",
            ] {
                assert!(
                    in_place(line, base).is_some(),
                    "{}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }

    #[test]
    fn a_line_whose_arguments_would_overtake_each_other_is_left_alone() {
        // Far more space before the second argument than its header needs,
        // then a tight third: the shifts are not in order.
        let mut line = b"SET".to_vec();
        line.extend_from_slice(&[b' '; 40]);
        line.extend_from_slice(b"k v");
        assert!(in_place(&line, 0).is_none());
    }
}
