//! Where a JSON array's element ends, found as the bytes arrive: by the
//! element's first byte alone, without parsing it.

/// What the element being scanned is, by its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// An object or an array: it ends where its brackets balance.
    Nested,
    /// A string: it ends at its closing quote.
    String,
    /// A number, `true`, `false`, `null`, or text that is none of them: it
    /// ends before the next separator or white space.
    Scalar,
}

/// The scan of one element, carried across reads.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Scan {
    /// Bytes of the element scanned so far.
    scanned: usize,
    /// Brackets open (a nested element).
    depth: u32,
    /// Inside a string, and just after a backslash in it.
    in_string: bool,
    escaped: bool,
}

impl Scan {
    /// The end of the element starting at `data[0]`, scanning on from where
    /// the last call stopped: `None` until it is whole (a scalar is whole
    /// at the byte after it, or at `eof`).
    pub(super) fn end(&mut self, data: &[u8], eof: bool) -> Option<usize> {
        let shape = match data.first()? {
            b'{' | b'[' => Shape::Nested,
            b'"' => Shape::String,
            _ => Shape::Scalar,
        };
        if shape == Shape::Scalar {
            let from = self.scanned.max(1);
            return match data[from..].iter().position(|&b| ends_scalar(b)) {
                Some(i) => Some(self.done(from + i)),
                None if eof => Some(self.done(data.len())),
                None => {
                    self.scanned = data.len();
                    None
                }
            };
        }
        if self.scanned == 0 {
            // The opening quote or bracket.
            (self.scanned, self.in_string, self.depth) = (1, shape == Shape::String, 1);
        }
        while self.scanned < data.len() {
            let c = data[self.scanned];
            self.scanned += 1;
            if self.in_string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                if !self.in_string && shape == Shape::String {
                    return Some(self.done(self.scanned));
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(self.done(self.scanned));
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn done(&mut self, end: usize) -> usize {
        *self = Scan::default();
        end
    }
}

/// Whether `b` ends a scalar: a separator, a bracket, a quote, white space.
fn ends_scalar(b: u8) -> bool {
    matches!(b, b',' | b']' | b'}' | b'[' | b'{' | b'"' | b':') || is_space(b)
}

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}
