//! The incremental reply scanner: counts replies without building them.
//!
//! It walks every RESP2 and RESP3 type, keeping only a fixed stack of open
//! aggregates and a small copy of the reply the caller cares about, so no
//! reply is ever allocated. It is resumable at any byte: a bulk larger than
//! the buffer is skipped as it streams past, never held whole.
//!
//! ```text
//! +OK\r\n  -ERR x\r\n  :1\r\n  _\r\n  ,1.5\r\n  #t\r\n  (123\r\n      lines
//! $3\r\nabc\r\n  !3\r\nerr\r\n  =7\r\ntxt:abc\r\n               sized payloads
//! $-1\r\n  *-1\r\n                                             RESP2 nulls
//! *2 ..  ~2 ..  >2 ..  %1 k v  |1 k v <reply>                  aggregates
//! $?\r\n;3\r\nabc\r\n;0\r\n   *?\r\n .. .\r\n                  streamed forms
//! ```
//!
//! A reply is one complete top-level value. An attribute (`|`) belongs to the
//! value after it, and a push (`>`) is out of band: neither is counted.

use memchr::memchr;

use super::parse_strict_i64;

/// The deepest nesting accepted. Redis nests a handful of levels at most; a
/// fixed cap keeps the stack a plain array and a hostile peer harmless.
pub const MAX_DEPTH: usize = 128;

/// The longest `+`, `-` or header line accepted. Redis error lines are short
/// (it truncates quoted arguments), so a longer one means a broken stream.
pub const MAX_LINE: usize = 64 * 1024;

/// How much of a watched reply is kept, for error messages and the sentinel.
pub const CAPTURE_MAX: usize = 1024;

/// A protocol violation in the server's replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// A type byte that RESP does not define.
    #[error("unknown reply type byte 0x{0:02x}")]
    UnknownType(u8),
    /// A length or count that is not a valid number.
    #[error("invalid length in a '{}' reply", *.0 as char)]
    BadLength(u8),
    /// A line or payload not ended by CRLF.
    #[error("a reply line or payload is not followed by CRLF")]
    MissingCrlf,
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    #[error("replies nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
    /// A line longer than [`MAX_LINE`].
    #[error("a reply line is longer than {} KiB", MAX_LINE / 1024)]
    LineTooLong,
    /// A `.` or `;` where it cannot appear.
    #[error("'{}' outside a streamed reply", *.0 as char)]
    Misplaced(u8),
}

/// What one call to [`ReplyScanner::scan`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Bytes of the buffer used; the rest must be passed again, with more.
    pub consumed: usize,
    /// Complete replies counted.
    pub replies: u64,
    /// The type byte of the last counted reply (`-` or `!` for an error).
    pub last_type: Option<u8>,
    /// The protocol violation that ended the batch, if one did.
    pub error: Option<ScanError>,
}

impl Batch {
    /// Whether the last counted reply is an error reply.
    pub fn ended_in_error(&self) -> bool {
        matches!(self.last_type, Some(b'-') | Some(b'!'))
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Level {
    /// Elements still to come; unused when `streamed`.
    remaining: u64,
    /// A `*?`-style aggregate that ends at `.\r\n`.
    streamed: bool,
    /// An attribute: when done, the value it annotates follows.
    attribute: bool,
    /// A top-level push: when done, nothing is counted.
    push: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At a type byte (or a `;` chunk header inside a streamed string).
    Header,
    /// Inside a sized payload with this many bytes to go.
    Payload(u64),
    /// After a payload: its CRLF, with the CR already seen or not.
    Crlf(bool),
}

/// Counts complete replies in a stream of bytes. See the module docs.
pub struct ReplyScanner {
    state: State,
    stack: [Level; MAX_DEPTH],
    depth: usize,
    /// Inside a `$?` streamed string, expecting `;` chunk headers.
    chunked: bool,
    /// Some byte of the reply in progress has been read.
    started: bool,
    /// The type byte of the top-level reply in progress, if it has begun.
    top_type: Option<u8>,
    /// Whether the reply in progress is copied into `captured`.
    capturing: bool,
    captured: [u8; CAPTURE_MAX],
    captured_len: usize,
    /// Whether the reply in progress is a watched array, whose elements'
    /// errors are kept (the reply to an `EXEC`).
    tracking: bool,
    /// Elements of that array completed so far.
    elements: u32,
    /// The index and text of each of its elements that is an error.
    element_errors: Vec<(u32, Vec<u8>)>,
}

impl Default for ReplyScanner {
    fn default() -> Self {
        ReplyScanner {
            state: State::Header,
            stack: [Level::default(); MAX_DEPTH],
            depth: 0,
            chunked: false,
            started: false,
            top_type: None,
            capturing: false,
            captured: [0; CAPTURE_MAX],
            captured_len: 0,
            tracking: false,
            elements: 0,
            element_errors: Vec::new(),
        }
    }
}

/// What finishing an element did to the reply in progress.
enum Done {
    /// The reply goes on.
    Open,
    /// A top-level reply is complete.
    Reply,
    /// A top-level push is complete: not a reply.
    Push,
}

impl ReplyScanner {
    /// A scanner at the start of a reply stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the scanner is between replies (no partial reply pending).
    pub fn at_boundary(&self) -> bool {
        self.state == State::Header && !self.started
    }

    /// The start of the last counted reply's text, when it was watched: the
    /// line of a `+` or `-` reply, `-1` for a null array, or the payload of
    /// a `$`, `!` or `=` reply,
    /// up to [`CAPTURE_MAX`] bytes. Error replies are always watched; others
    /// only when they are the `max`th reply of a batch.
    pub fn last_text(&self) -> &[u8] {
        &self.captured[..self.captured_len]
    }

    /// When the last counted reply was watched and an array: the index and
    /// text of each of its elements that is an error (up to
    /// [`CAPTURE_MAX`] bytes of a simple error's line; a blob error's text
    /// is not kept). How the reply to an `EXEC` tells which of the
    /// transaction's commands failed.
    pub fn element_errors(&self) -> &[(u32, Vec<u8>)] {
        &self.element_errors
    }

    /// Scans `buf`, counting up to `max` replies, and stops early after an
    /// error reply so the caller can attribute it. A protocol violation ends
    /// the batch with [`Batch::error`] set; the replies counted before it
    /// still stand, but the stream cannot be trusted after it.
    pub fn scan(&mut self, buf: &[u8], max: u64) -> Batch {
        let mut batch = Batch {
            consumed: 0,
            replies: 0,
            last_type: None,
            error: None,
        };
        if let Err(e) = self.scan_into(buf, max, &mut batch) {
            batch.error = Some(e);
        }
        batch
    }

    /// The body of [`scan`](Self::scan), keeping `batch` up to date so that
    /// it is exact whenever this returns.
    fn scan_into(&mut self, buf: &[u8], max: u64, batch: &mut Batch) -> Result<(), ScanError> {
        while batch.replies < max && batch.consumed < buf.len() {
            let pos = batch.consumed;
            let done = match self.state {
                State::Header => {
                    // The fast path: a plain +OK between replies, not watched.
                    if self.depth == 0
                        && !self.chunked
                        && batch.replies + 1 < max
                        && buf.len() - pos >= 5
                        && &buf[pos..pos + 5] == b"+OK\r\n"
                    {
                        batch.consumed += 5;
                        batch.replies += 1;
                        self.started = false;
                        batch.last_type = Some(b'+');
                        continue;
                    }
                    let Some(nl) = memchr(b'\n', &buf[pos..]) else {
                        if buf.len() - pos > MAX_LINE {
                            return Err(ScanError::LineTooLong);
                        }
                        return Ok(());
                    };
                    if nl == 0 || buf[pos + nl - 1] != b'\r' {
                        return Err(ScanError::MissingCrlf);
                    }
                    let line = &buf[pos..pos + nl - 1];
                    batch.consumed += nl + 1;
                    let watch = batch.replies + 1 == max;
                    self.header(line, watch)?
                }
                State::Payload(left) => {
                    let take = left.min((buf.len() - pos) as u64) as usize;
                    if self.capturing {
                        self.capture(&buf[pos..pos + take]);
                    }
                    batch.consumed += take;
                    self.state = if take as u64 == left {
                        State::Crlf(false)
                    } else {
                        State::Payload(left - take as u64)
                    };
                    Done::Open
                }
                State::Crlf(seen_cr) => {
                    let want = if seen_cr { b'\n' } else { b'\r' };
                    if buf[pos] != want {
                        return Err(ScanError::MissingCrlf);
                    }
                    batch.consumed += 1;
                    if !seen_cr {
                        self.state = State::Crlf(true);
                        Done::Open
                    } else {
                        self.state = State::Header;
                        if self.chunked {
                            Done::Open
                        } else {
                            self.element_done()
                        }
                    }
                }
            };
            match done {
                Done::Open => {}
                Done::Push => self.reset_top(),
                Done::Reply => {
                    batch.replies += 1;
                    batch.last_type = self.top_type;
                    self.reset_top();
                    if batch.ended_in_error() {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles one header line (without its CRLF).
    fn header(&mut self, line: &[u8], watch: bool) -> Result<Done, ScanError> {
        // An empty line has no type byte: report the CR where it should be.
        let Some((&ty, body)) = line.split_first() else {
            return Err(ScanError::UnknownType(b'\r'));
        };
        self.started = true;
        if self.chunked {
            // Inside `$?`: `;<n>` chunks until `;0`.
            if ty != b';' {
                return Err(ScanError::Misplaced(ty));
            }
            return match length(ty, body)? {
                0 => {
                    self.chunked = false;
                    Ok(self.element_done())
                }
                n => {
                    self.state = State::Payload(n);
                    Ok(Done::Open)
                }
            };
        }
        if self.depth == 0 && self.top_type.is_none() && ty != b'|' {
            self.top_type = Some(ty);
            self.capturing = watch || ty == b'-' || ty == b'!';
            self.captured_len = 0;
            if self.capturing && (matches!(ty, b'+' | b'-') || (ty == b'*' && body == b"-1")) {
                self.capture(body);
            }
            self.tracking = watch && ty == b'*';
            self.elements = 0;
            self.element_errors.clear();
        } else if self.tracking && self.depth == 1 && matches!(ty, b'-' | b'!') {
            let text = if ty == b'-' { body } else { &b""[..] };
            let text = &text[..text.len().min(CAPTURE_MAX)];
            self.element_errors.push((self.elements, text.to_vec()));
        }
        match ty {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(self.element_done()),
            b'$' | b'!' | b'=' => {
                if body == b"?" && ty == b'$' {
                    self.chunked = true;
                    return Ok(Done::Open);
                }
                if body == b"-1" && ty == b'$' {
                    return Ok(self.element_done());
                }
                self.state = State::Payload(length(ty, body)?);
                Ok(Done::Open)
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => self.aggregate(ty, body),
            b'.' => {
                if self.depth == 0 || !self.stack[self.depth - 1].streamed || !body.is_empty() {
                    return Err(ScanError::Misplaced(b'.'));
                }
                self.depth -= 1;
                Ok(self.closed(self.stack[self.depth]))
            }
            b';' => Err(ScanError::Misplaced(b';')),
            other => Err(ScanError::UnknownType(other)),
        }
    }

    /// Opens an aggregate, or finishes it at once when it is empty or null.
    fn aggregate(&mut self, ty: u8, body: &[u8]) -> Result<Done, ScanError> {
        let mut level = Level {
            attribute: ty == b'|',
            push: ty == b'>' && self.depth == 0,
            ..Level::default()
        };
        if body == b"?" {
            level.streamed = true;
        } else if body == b"-1" && ty == b'*' {
            return Ok(self.element_done());
        } else {
            let n = length(ty, body)?;
            level.remaining = if matches!(ty, b'%' | b'|') {
                n.checked_mul(2).ok_or(ScanError::BadLength(ty))?
            } else {
                n
            };
            if level.remaining == 0 {
                return Ok(self.closed(level));
            }
        }
        if self.depth == MAX_DEPTH {
            return Err(ScanError::TooDeep);
        }
        self.stack[self.depth] = level;
        self.depth += 1;
        Ok(Done::Open)
    }

    /// Records that one element is complete and closes every aggregate it
    /// completes in turn.
    fn element_done(&mut self) -> Done {
        loop {
            if self.depth == 0 {
                return Done::Reply;
            }
            if self.depth == 1 && self.tracking {
                self.elements += 1;
            }
            let top = &mut self.stack[self.depth - 1];
            if top.streamed {
                return Done::Open;
            }
            top.remaining -= 1;
            if top.remaining > 0 {
                return Done::Open;
            }
            let closed = *top;
            self.depth -= 1;
            if let Some(done) = self.settle(closed) {
                return done;
            }
        }
    }

    /// Finishes an aggregate that has just closed (already popped, or never
    /// pushed because it was empty) and everything it completes in turn.
    fn closed(&mut self, level: Level) -> Done {
        self.settle(level).unwrap_or_else(|| self.element_done())
    }

    /// What a closed aggregate means on its own: an attribute leaves its
    /// parent's slot open for the annotated value, and a top-level push is
    /// not a reply. `None` when it simply fills one slot of its parent.
    fn settle(&self, level: Level) -> Option<Done> {
        if level.attribute {
            Some(Done::Open)
        } else if level.push && self.depth == 0 {
            Some(Done::Push)
        } else {
            None
        }
    }

    fn reset_top(&mut self) {
        self.started = false;
        self.top_type = None;
        self.capturing = false;
    }

    fn capture(&mut self, bytes: &[u8]) {
        let room = CAPTURE_MAX - self.captured_len;
        let n = bytes.len().min(room);
        self.captured[self.captured_len..self.captured_len + n].copy_from_slice(&bytes[..n]);
        self.captured_len += n;
    }
}

/// Parses a non-negative length or count.
fn length(ty: u8, body: &[u8]) -> Result<u64, ScanError> {
    match parse_strict_i64(body) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(ScanError::BadLength(ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `bytes` in one go, without a limit.
    fn count(bytes: &[u8]) -> Result<(u64, usize), ScanError> {
        let mut s = ReplyScanner::new();
        let mut total = 0;
        let mut pos = 0;
        loop {
            let b = s.scan(&bytes[pos..], u64::MAX);
            if let Some(e) = b.error {
                return Err(e);
            }
            total += b.replies;
            pos += b.consumed;
            if b.replies == 0 {
                return Ok((total, pos));
            }
        }
    }

    #[test]
    fn counts_every_resp2_type() {
        let stream =
            b"+OK\r\n-ERR bad\r\n:42\r\n$3\r\nfoo\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n$1\r\na\r\n:1\r\n";
        assert_eq!(count(stream), Ok((8, stream.len())));
    }

    #[test]
    fn counts_every_resp3_type() {
        let stream = b"_\r\n,1.5\r\n#t\r\n(123\r\n!3\r\nerr\r\n=7\r\ntxt:abc\r\n%1\r\n+k\r\n:1\r\n~2\r\n:1\r\n:2\r\n";
        assert_eq!(count(stream), Ok((8, stream.len())));
    }

    #[test]
    fn attributes_and_pushes_are_not_replies() {
        let stream =
            b"|1\r\n+ttl\r\n:3\r\n+OK\r\n>2\r\n+message\r\n+x\r\n*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n";
        assert_eq!(count(stream), Ok((2, stream.len())));
    }

    #[test]
    fn empty_and_streamed_pushes_are_not_replies() {
        // Found by the `replies` fuzz target: an empty top-level push was
        // counted as a reply.
        assert_eq!(count(b">0\r\n+OK\r\n"), Ok((1, 9)));
        assert_eq!(count(b">?\r\n+a\r\n.\r\n:1\r\n"), Ok((1, 15)));
        assert_eq!(count(b"*1\r\n>0\r\n"), Ok((1, 8)));
        assert_eq!(count(b"|?\r\n+a\r\n+b\r\n.\r\n:1\r\n"), Ok((1, 19)));
    }

    #[test]
    fn the_ok_fast_path_stays_out_of_streamed_strings() {
        // Found by the `replies` fuzz target: `+OK` inside `$?` was taken as
        // a reply when more than one reply was allowed in the batch.
        let stream = b"$?\r\n+OK\r\n";
        for max in [1, 2, 10] {
            let b = ReplyScanner::new().scan(stream, max);
            assert_eq!((b.replies, b.error), (0, Some(ScanError::Misplaced(b'+'))));
        }
    }

    #[test]
    fn counts_streamed_strings_and_aggregates() {
        let stream =
            b"$?\r\n;3\r\nabc\r\n;1\r\nd\r\n;0\r\n*?\r\n:1\r\n%?\r\n+a\r\n+b\r\n.\r\n.\r\n+OK\r\n";
        assert_eq!(count(stream), Ok((3, stream.len())));
    }

    #[test]
    fn nested_aggregates_are_one_reply() {
        let stream = b"*2\r\n*2\r\n:1\r\n*1\r\n$1\r\nx\r\n%1\r\n+k\r\n*0\r\n";
        assert_eq!(count(stream), Ok((1, stream.len())));
    }

    #[test]
    fn stops_after_an_error_and_keeps_its_text() {
        let mut s = ReplyScanner::new();
        let b = s.scan(b"+OK\r\n-WRONGTYPE Operation\r\n+OK\r\n", 10);
        assert_eq!((b.replies, b.consumed), (2, 27));
        assert!(b.ended_in_error());
        assert_eq!(s.last_text(), b"WRONGTYPE Operation");
    }

    #[test]
    fn keeps_blob_error_text_across_reads() {
        let mut s = ReplyScanner::new();
        let b1 = s.scan(b"!10\r\nSYNTAX", 10);
        assert_eq!((b1.replies, b1.consumed), (0, 11));
        let b2 = s.scan(b" bad\r\n", 10);
        assert!(b2.ended_in_error());
        assert_eq!(s.last_text(), b"SYNTAX bad");
    }

    #[test]
    fn keeps_the_errors_inside_a_watched_array_at_every_split_point() {
        // An EXEC's reply: elements of every shape, errors at 1, 3 and 5.
        let exec = b"*6\r\n:3\r\n-WRONGTYPE Operation\r\n*2\r\n-inner\r\n:1\r\n-ERR x\r\n$2\r\nok\r\n!4\r\nblob\r\n";
        let stream = [&b"+OK\r\n"[..], exec, b"+OK\r\n"].concat();
        for cut in 0..stream.len() {
            let mut s = ReplyScanner::new();
            let mut batch = s.scan(&stream[..cut], 2);
            let mut at = batch.consumed;
            let mut replies = batch.replies;
            while replies < 2 {
                batch = s.scan(&stream[at..], 2 - replies);
                at += batch.consumed;
                replies += batch.replies;
            }
            assert_eq!(batch.last_type, Some(b'*'), "cut {cut}");
            let errors: Vec<(u32, &[u8])> = s
                .element_errors()
                .iter()
                .map(|(i, t)| (*i, t.as_slice()))
                .collect();
            assert_eq!(
                errors,
                [(1, &b"WRONGTYPE Operation"[..]), (3, b"ERR x"), (5, b"")],
                "cut {cut}"
            );
        }
        // Not watched: nothing kept.
        let mut s = ReplyScanner::new();
        s.scan(exec, 10);
        assert!(s.element_errors().is_empty());
    }

    #[test]
    fn stops_at_max_and_captures_only_the_watched_reply() {
        let mut s = ReplyScanner::new();
        let b = s.scan(b"+OK\r\n$5\r\nhello\r\n+OK\r\n", 2);
        assert_eq!((b.replies, b.consumed, b.last_type), (2, 16, Some(b'$')));
        assert_eq!(s.last_text(), b"hello");
    }

    #[test]
    fn resumes_at_every_split_point() {
        let stream = b"+OK\r\n*3\r\n$5\r\nhello\r\n|1\r\n+a\r\n+b\r\n:7\r\n$?\r\n;2\r\nab\r\n;0\r\n-ERR x\r\n>1\r\n+p\r\n_\r\n";
        for cut in 0..stream.len() {
            let mut s = ReplyScanner::new();
            let mut total = 0;
            let mut pending = stream[..cut].to_vec();
            for part in [&stream[cut..], &[][..]] {
                loop {
                    let b = s.scan(&pending, u64::MAX);
                    assert_eq!(b.error, None);
                    total += b.replies;
                    pending.drain(..b.consumed);
                    if b.replies == 0 {
                        break;
                    }
                }
                pending.extend_from_slice(part);
            }
            assert_eq!(total, 4, "cut at {cut}");
            assert!(s.at_boundary());
        }
    }

    #[test]
    fn rejects_protocol_violations_without_panicking() {
        let cases: [(&[u8], ScanError); 9] = [
            (b"\r\n", ScanError::UnknownType(b'\r')),
            (b"?x\r\n", ScanError::UnknownType(b'?')),
            (b"$x\r\n", ScanError::BadLength(b'$')),
            (b"*-2\r\n", ScanError::BadLength(b'*')),
            (b"+OK\n", ScanError::MissingCrlf),
            (b"$1\r\nab\r\n", ScanError::MissingCrlf),
            (b".\r\n", ScanError::Misplaced(b'.')),
            (b";3\r\n", ScanError::Misplaced(b';')),
            (b"*1\r\n$-5\r\n", ScanError::BadLength(b'$')),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                ReplyScanner::new().scan(bytes, 10).error,
                Some(want),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn counts_the_replies_before_a_protocol_error() {
        let b = ReplyScanner::new().scan(b"+OK\r\n:1\r\n$3\r\nabc\r\n?broken\r\n", 10);
        assert_eq!(
            (b.replies, b.error),
            (3, Some(ScanError::UnknownType(b'?')))
        );
    }

    #[test]
    fn caps_nesting_depth() {
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(
            ReplyScanner::new().scan(&deep, 1).error,
            Some(ScanError::TooDeep)
        );
    }

    #[test]
    fn rejects_an_endless_line() {
        let long = vec![b'+'; MAX_LINE + 2];
        assert_eq!(
            ReplyScanner::new().scan(&long, 1).error,
            Some(ScanError::LineTooLong)
        );
    }

    /// Appends one random value, nested at most `depth` more levels, and
    /// returns its type byte (for an attribute, the annotated value's).
    fn random_value(rng: &mut rand::rngs::StdRng, depth: u32, out: &mut Vec<u8>) -> u8 {
        let start = out.len();
        use rand::RngExt;
        let kinds = if depth == 0 { 11 } else { 17 };
        let bytes = |rng: &mut rand::rngs::StdRng| -> Vec<u8> {
            let n = rng.random_range(0..20);
            (0..n)
                .map(|_| b"ab\r\n\0$*"[rng.random_range(0..7)])
                .collect()
        };
        let children = |rng: &mut rand::rngs::StdRng, n: usize, out: &mut Vec<u8>| {
            for _ in 0..n {
                random_value(rng, depth - 1, out);
            }
        };
        match rng.random_range(0..kinds) {
            0 => out.extend_from_slice(b"+OK\r\n"),
            1 => out.extend_from_slice(b"-ERR x\r\n"),
            2 => out.extend_from_slice(b":-123\r\n"),
            3 => out.extend_from_slice(b"$-1\r\n"),
            4 => out.extend_from_slice(if rng.random_bool(0.5) {
                b"_\r\n"
            } else {
                b",1.5\r\n"
            }),
            5 => out.extend_from_slice(b"#t\r\n"),
            6 => out.extend_from_slice(b"(12345678901234567890\r\n"),
            7..=9 => {
                let payload = bytes(rng);
                let ty = [b'$', b'!', b'='][rng.random_range(0..3)];
                out.extend_from_slice(format!("{}{}\r\n", ty as char, payload.len()).as_bytes());
                out.extend_from_slice(&payload);
                out.extend_from_slice(b"\r\n");
            }
            10 => {
                out.extend_from_slice(b"$?\r\n");
                for _ in 0..rng.random_range(0..3) {
                    let payload = bytes(rng);
                    if !payload.is_empty() {
                        out.extend_from_slice(format!(";{}\r\n", payload.len()).as_bytes());
                        out.extend_from_slice(&payload);
                        out.extend_from_slice(b"\r\n");
                    }
                }
                out.extend_from_slice(b";0\r\n");
            }
            11 | 12 => {
                let n = rng.random_range(0..4);
                let ty = if rng.random_bool(0.5) { '*' } else { '~' };
                out.extend_from_slice(format!("{ty}{n}\r\n").as_bytes());
                children(rng, n, out);
            }
            13 => {
                let n = rng.random_range(0..3);
                out.extend_from_slice(format!("%{n}\r\n").as_bytes());
                children(rng, 2 * n, out);
            }
            14 => {
                // An attribute, then the value it annotates.
                let n = rng.random_range(0..2);
                out.extend_from_slice(format!("|{n}\r\n").as_bytes());
                children(rng, 2 * n, out);
                return random_value(rng, depth - 1, out);
            }
            15 => {
                out.extend_from_slice(b"*?\r\n");
                let n = rng.random_range(0..3);
                children(rng, n, out);
                out.extend_from_slice(b".\r\n");
            }
            _ => out.extend_from_slice(b"*-1\r\n"),
        }
        out[start]
    }

    #[test]
    fn random_replies_scan_back_at_random_split_points() {
        use rand::{RngExt, SeedableRng};
        for seed in 0..200u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut stream = Vec::new();
            let (mut replies, mut errors) = (0u64, 0u64);
            for _ in 0..50 {
                if rng.random_bool(0.1) {
                    stream.extend_from_slice(b">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n");
                    continue;
                }
                replies += 1;
                if matches!(random_value(&mut rng, 3, &mut stream), b'-' | b'!') {
                    errors += 1;
                }
            }
            let mut scanner = ReplyScanner::new();
            let (mut got, mut got_errors) = (0u64, 0u64);
            let mut pending: Vec<u8> = Vec::new();
            let mut at = 0;
            while at < stream.len() || !pending.is_empty() {
                let take = rng.random_range(1..=17).min(stream.len() - at);
                pending.extend_from_slice(&stream[at..at + take]);
                at += take;
                loop {
                    let max = rng.random_range(1..=5);
                    let b = scanner.scan(&pending, max);
                    assert_eq!(b.error, None, "seed {seed}");
                    got += b.replies;
                    got_errors += u64::from(b.ended_in_error());
                    pending.drain(..b.consumed);
                    if b.consumed == 0 {
                        break;
                    }
                }
                if at == stream.len() && !pending.is_empty() {
                    panic!("seed {seed}: {} bytes left unscanned", pending.len());
                }
            }
            assert_eq!((got, got_errors), (replies, errors), "seed {seed}");
            assert!(scanner.at_boundary(), "seed {seed}");
        }
    }
}
