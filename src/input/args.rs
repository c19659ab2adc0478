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
