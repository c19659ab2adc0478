//! Streams commands out of a list of inputs, in constant memory.
//!
//! Each command is decided by its first byte, as the server decides: `*`
//! starts a RESP frame, anything else an inline line that ends at `\n` (a `\r`
//! before it is dropped). Blank lines and `*0` frames are skipped. A frame may
//! not span two inputs; a last line without a newline is still a command, as
//! it is under `redis-cli --pipe`.

#[cfg(any(test, feature = "fuzzing"))]
use std::io::Read;
use std::ops::Range;

mod general;

use general::Resync;

use super::args::{ArgBuf, Args};

use super::plain::PlainLines;
use super::resp::RespFramer;
use super::source::Input;
use super::{InputError, Inputs, InvalidKind, Location};
use crate::interrupt::Interrupt;

/// Bytes asked of the input per read, at most: large enough that a read is
/// a small cost per command, small enough to stay in cache while it is
/// framed.
const READ_SIZE: usize = 256 * 1024;

/// Past this size the read buffer grows by this much at a time (a huge
/// command), not by doubling.
const GROW_STEP: usize = 4 << 20;

/// The first read's size; each read after doubles it, up to [`READ_SIZE`],
/// so a one-line input never pays for a large buffer.
const FIRST_READ: usize = 8 * 1024;

/// The most rload buffers for one command. The server's own limit on a
/// client's query buffer (`client-query-buffer-limit`) is 1 GiB by default.
pub const MAX_COMMAND_BYTES: usize = 1 << 30;

/// Where a command starts: which input, which line, which byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Index of the input in the list given to the reader.
    pub source: u32,
    /// 1-based line number within that input.
    pub line: u64,
    /// Byte offset within that input.
    pub offset: u64,
}

/// One framed command, borrowed from the reader until the next call.
#[derive(Debug)]
pub struct Command<'a> {
    /// Where it starts.
    pub pos: Position,
    /// Its arguments; the first is the command name.
    pub args: Args<'a>,
    /// The exact RESP frame, when the input gave the command as RESP.
    pub resp: Option<&'a [u8]>,
    /// Whether [`InputReader::take_last`] can take this command out of the
    /// input: it is huge ([`HUGE_COMMAND`] or more), and can be encoded
    /// over its own bytes.
    pub takeable: bool,
}

/// A command this long is taken out of the read buffer rather than copied
/// (see [`InputReader::take_last`]), so it is held once, not twice.
pub const HUGE_COMMAND: usize = 1 << 20;

/// A command found in the buffer, as offsets, before it is lent out.
struct Found {
    start: usize,
    end: usize,
    resp: bool,
    pos: Position,
    /// For a line of a plain batch, its spans there; else the spans are in
    /// the `ArgBuf`, relative to `start`.
    batch: Option<Range<usize>>,
}

/// What framing the buffered input gave.
enum Step {
    Found(Found),
    /// A blank line or an empty frame was skipped.
    Skipped,
    /// More input is needed (how much is kept in `InputReader::need`).
    NeedInput,
    End,
}

/// The next thing the buffered input holds.
#[derive(Debug)]
pub enum Next<'a> {
    /// A command.
    Command(Command<'a>),
    /// The buffer is used up: call [`InputReader::read_more`], which may block.
    NeedInput,
    /// Every input has ended.
    End,
}

/// Reads and frames commands from a list of inputs, one at a time.
pub struct InputReader {
    inputs: Inputs,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes needed from `start` before framing can go on.
    need: usize,
    line: u64,
    offset: u64,
    args: ArgBuf,
    framer: RespFramer,
    plain: PlainLines,
    resync: Resync,
    /// Bytes from `start` already searched for a newline and found to have
    /// none, so a long line arriving in many reads is searched once.
    searched: usize,
    /// How much the next read asks for.
    read_size: usize,
    /// The longest argument the server accepts (`proto-max-bulk-len`).
    max_bulk: u64,
    /// Where the last command of the general path is in `buf` (start, end,
    /// whether RESP), for [`InputReader::take_last`].
    last: Option<(usize, usize, bool)>,
}

impl InputReader {
    /// A reader of `inputs`' commands; see [`Inputs::open`].
    ///
    /// # Errors
    ///
    /// The first input that cannot be opened, or that is a directory.
    pub fn open(inputs: &[Input]) -> Result<Self, InputError> {
        Ok(Self::new(Inputs::open(inputs)?))
    }

    /// A reader over already opened inputs.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn from_readers(names: Vec<String>, readers: Vec<Box<dyn Read + Send>>) -> Self {
        Self::new(Inputs::from_readers(names, readers))
    }

    /// A reader of the commands in `inputs`.
    pub fn new(inputs: Inputs) -> Self {
        InputReader {
            inputs,
            buf: Vec::new(),
            read_size: FIRST_READ,
            start: 0,
            end: 0,
            eof: false,
            need: 1,
            line: 1,
            offset: 0,
            args: ArgBuf::default(),
            framer: RespFramer::default(),
            plain: PlainLines::default(),
            resync: Resync::Ready,
            searched: 0,
            max_bulk: super::MAX_BULK_LEN,
            last: None,
        }
    }

    /// Takes the command [`next_buffered`](Self::next_buffered) last
    /// returned, which must be [`takeable`](Command::takeable), out of the
    /// input, encoded as RESP, without a second copy: the read buffer
    /// becomes the command's bytes (an inline line is encoded over itself),
    /// and the reader goes on in a new buffer with the input that followed.
    /// A huge command is then held once, not once here and once in flight.
    ///
    /// # Panics
    ///
    /// If the last command is not takeable.
    pub fn take_last(&mut self) -> Vec<u8> {
        let (start, end, resp) = self.last.take().expect("a takeable command was just read");
        let mut fresh = vec![0; (self.end - self.start).max(FIRST_READ)];
        fresh[..self.end - self.start].copy_from_slice(&self.buf[self.start..self.end]);
        let mut bytes = std::mem::replace(&mut self.buf, fresh);
        (self.end, self.start) = (self.end - self.start, 0);
        self.plain.reset();
        self.searched = 0;
        if resp {
            bytes.copy_within(start..end, 0);
            bytes.truncate(end - start);
        } else {
            self.args.encode_in_place(&mut bytes, start);
        }
        bytes
    }

    /// Makes a read that waits on a producer (a pipe, a terminal) give up
    /// with [`InputError::Interrupted`] once `interrupt` is requested, and
    /// counts the bytes read in `meter`.
    pub fn watch(&mut self, interrupt: Interrupt, meter: crate::meter::Meter) {
        self.inputs.watch(interrupt, meter);
    }

    /// Validates arguments against the server's `proto-max-bulk-len`,
    /// instead of its default: a longer one makes the server close the
    /// connection, so it is invalid input.
    pub fn set_max_bulk(&mut self, max: u64) {
        self.max_bulk = max;
    }

    /// The names of the inputs, indexed by `Position::source`.
    pub fn names(&self) -> &[String] {
        self.inputs.names()
    }

    /// The next command, reading input as needed, or `None` after the last
    /// input ends.
    ///
    /// # Errors
    ///
    /// A read failure, or an invalid command; nothing of an invalid command
    /// is returned, and the reader should not be used after an error.
    #[inline]
    pub fn next_command(&mut self) -> Result<Option<Command<'_>>, InputError> {
        let found = loop {
            if let Some(found) = self.plain_line() {
                break found;
            }
            match self.advance()? {
                Step::Found(found) => break found,
                Step::Skipped => {}
                Step::NeedInput => self.read_more()?,
                Step::End => return Ok(None),
            }
        };
        Ok(Some(self.lend(found)))
    }

    /// The next command already in the buffer, without reading; see
    /// [`Next`]. Lets a caller flush its own output before a read that may
    /// block.
    ///
    /// # Errors
    ///
    /// As [`InputReader::next_command`].
    #[inline]
    pub fn next_buffered(&mut self) -> Result<Next<'_>, InputError> {
        loop {
            if let Some(found) = self.plain_line() {
                return Ok(Next::Command(self.lend(found)));
            }
            match self.advance()? {
                Step::Found(found) => {
                    self.last = Some((found.start, found.end, found.resp));
                    return Ok(Next::Command(self.lend(found)));
                }
                Step::Skipped => {}
                Step::NeedInput => return Ok(Next::NeedInput),
                Step::End => return Ok(Next::End),
            }
        }
    }

    /// Reads the first chunk of the input, if nothing is read yet.
    ///
    /// # Errors
    ///
    /// As [`InputReader::read_more`].
    pub(crate) fn prime(&mut self) -> Result<(), InputError> {
        if self.end == 0 && !self.eof {
            self.read_more()?;
        }
        Ok(())
    }

    /// Reads more input, once, blocking if the input has none ready.
    ///
    /// # Errors
    ///
    /// A read failure, or a command longer than [`MAX_COMMAND_BYTES`].
    pub fn read_more(&mut self) -> Result<(), InputError> {
        self.fill(self.need)
    }

    /// The fast path: the next line of a batch of plain inline lines,
    /// splitting a new batch when one is used up. `None` sends the caller
    /// down the general path.
    #[inline(always)]
    fn plain_line(&mut self) -> Option<Found> {
        if self.resync != Resync::Ready {
            return None;
        }
        if self.plain.is_done() {
            self.finish_batch();
            self.plain.split(&self.buf, self.start, self.end);
            if self.plain.lines.is_empty() {
                self.finish_batch();
                return None;
            }
        }
        let line = &self.plain.lines[self.plain.next];
        self.plain.next += 1;
        let (start, end, blank, args) =
            (line.start, line.end, line.blank_before, line.args.clone());
        self.consume(start - self.start, blank);
        let pos = self.position();
        self.consume(end + 1 - start, 1);
        Some(Found {
            start,
            end,
            resp: false,
            pos,
            batch: Some(args),
        })
    }

    /// Consumes the blank lines a used-up batch vouched for after its last line.
    fn finish_batch(&mut self) {
        if self.plain.end > self.start {
            let (skip, blank) = (self.plain.end - self.start, self.plain.blank_after);
            self.consume(skip, blank);
        }
        self.plain.reset();
    }

    #[inline(always)]
    fn lend(&self, found: Found) -> Command<'_> {
        let general = found.batch.is_none();
        let args = match found.batch {
            Some(spans) => Args::new(&self.buf, &[], &self.plain.spans[spans]),
            None => self.args.args(&self.buf[found.start..found.end]),
        };
        let resp = found.resp.then(|| &self.buf[found.start..found.end]);
        let takeable = general
            && found.end - found.start >= HUGE_COMMAND
            && (found.resp || self.args.encodes_in_place());
        Command {
            pos: found.pos,
            args,
            resp,
            takeable,
        }
    }

    fn consume(&mut self, len: usize, newlines: u64) {
        self.searched = 0;
        self.start += len;
        self.offset += len as u64;
        self.line += newlines;
    }

    fn position(&self) -> Position {
        Position {
            source: self.inputs.current(),
            line: self.line,
            offset: self.offset,
        }
    }

    fn invalid(&self, pos: Position, kind: InvalidKind) -> InputError {
        InputError::Invalid {
            at: self.location(pos),
            kind,
        }
    }

    /// The printable location of a position.
    pub fn location(&self, pos: Position) -> Location {
        Location::new(self.inputs.names(), pos)
    }

    /// Moves to the next input, closing the one read; false when there is
    /// none.
    fn next_input(&mut self) -> bool {
        if !self.inputs.next_input() {
            return false;
        }
        self.eof = false;
        self.searched = 0;
        self.line = 1;
        self.offset = 0;
        true
    }

    /// Reads once, after making room for at least `need` bytes from `start`.
    fn fill(&mut self, need: usize) -> Result<(), InputError> {
        if need > MAX_COMMAND_BYTES {
            let err = self.invalid(self.position(), InvalidKind::TooLong(MAX_COMMAND_BYTES));
            if self.buf.get(self.start) == Some(&b'*') {
                self.skip_frame();
            } else {
                self.resync = Resync::LineEnd;
            }
            return Err(err);
        }
        self.plain.reset();
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = need.max(self.end + self.read_size);
        self.read_size = (self.read_size * 2).min(READ_SIZE);
        if want > self.buf.len() && want <= GROW_STEP {
            // A fresh zeroed allocation (calloc: large ones are fresh pages,
            // never written) plus a copy of the live bytes, rather than
            // `resize`, which would write every zero.
            let mut grown = vec![0; want.next_power_of_two()];
            grown[..self.end].copy_from_slice(&self.buf[..self.end]);
            self.buf = grown;
        } else if want > self.buf.len() {
            // A huge command: grow in steps, in place (a large block is
            // remapped, not copied), so the buffer is never much more than
            // the command, and never held twice while it grows.
            let len = want
                .next_multiple_of(GROW_STEP)
                .min(MAX_COMMAND_BYTES + READ_SIZE);
            self.buf.reserve_exact(len - self.buf.len());
            self.buf.resize(len, 0);
        } else if self.buf.len() > 8 * READ_SIZE && want <= 2 * READ_SIZE {
            // A huge command has gone: give its memory back.
            self.buf.truncate(2 * READ_SIZE);
            self.buf.shrink_to_fit();
        }
        match self.inputs.read(&mut self.buf[self.end..])? {
            0 => self.eof = true,
            n => self.end += n,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(data: &[u8]) -> InputReader {
        InputReader::open(&[Input::Bytes {
            name: "t".into(),
            data: bytes::Bytes::copy_from_slice(data),
        }])
        .unwrap()
    }

    /// A command as (line, offset, args, was-resp).
    type Framed = (u64, u64, Vec<Vec<u8>>, bool);

    fn all(data: &[u8]) -> Result<Vec<Framed>, InputError> {
        let mut r = reader(data);
        let mut out = Vec::new();
        while let Some(c) = r.next_command()? {
            out.push((
                c.pos.line,
                c.pos.offset,
                c.args.iter().map(<[u8]>::to_vec).collect(),
                c.resp.is_some(),
            ));
        }
        Ok(out)
    }

    fn invalid(data: &[u8]) -> (Location, InvalidKind) {
        match all(data) {
            Err(InputError::Invalid { at, kind }) => (at, kind),
            other => panic!("expected an invalid command, got {other:?}"),
        }
    }

    #[test]
    fn mixes_inline_lines_and_resp_frames_with_positions() {
        let got = all(b"SET a 1\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n\n  \nPING").unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            (
                1,
                0,
                vec![b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()],
                false
            )
        );
        assert_eq!(got[1], (2, 9, vec![b"GET".to_vec(), b"a".to_vec()], true));
        assert_eq!(got[2], (9, 33, vec![b"PING".to_vec()], false));
    }

    #[test]
    fn skips_stray_newlines_after_resp_and_empty_frames() {
        let got = all(b"*1\r\n$4\r\nPING\r\n\n*0\r\n*-1\r\n\n*1\r\n$4\r\nPING\r\n\n").unwrap();
        assert_eq!(got.iter().map(|c| c.0).collect::<Vec<_>>(), [1, 8]);
    }

    #[test]
    fn resp_line_numbers_count_newlines_inside_payloads() {
        let got = all(b"*2\r\n$4\r\nECHO\r\n$3\r\na\nb\r\nPING\n").unwrap();
        assert_eq!(got[1].0, 7);
    }

    #[test]
    fn names_the_line_of_an_invalid_inline_command() {
        let (at, kind) = invalid(b"SET a 1\nSET b \"2\n");
        assert_eq!((at.name.as_str(), at.line, at.offset), ("t", 2, 8));
        assert!(matches!(kind, InvalidKind::Inline(_)));
    }

    #[test]
    fn names_the_line_and_offset_of_a_bad_frame_byte() {
        let (at, kind) = invalid(b"PING\n*2\r\n$4\r\nECHO\r\n:1\r\n");
        assert_eq!(at.line, 5);
        let InvalidKind::Frame(e, offset) = kind else {
            panic!("{kind:?}")
        };
        assert_eq!(offset, 19);
        assert!(e.to_string().contains("expected '$'"));
    }

    #[test]
    fn a_frame_cut_by_the_end_of_input_is_truncated() {
        let (at, kind) = invalid(b"PING\n*2\r\n$4\r\nECHO\r\n$5\r\nhel");
        assert_eq!((at.line, kind), (2, InvalidKind::Truncated));
    }

    #[test]
    fn a_last_line_without_newline_is_a_command() {
        let got = all(b"PING\r\nSET a b\r").unwrap();
        assert_eq!(got[1].2, [b"SET".to_vec(), b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn frames_commands_far_larger_than_one_read() {
        let big = vec![b'x'; 3 * READ_SIZE + 17];
        let mut data = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", big.len()).into_bytes();
        data.extend_from_slice(&big);
        data.extend_from_slice(b"\r\nSET k2 ");
        data.extend_from_slice(&big);
        data.push(b'\n');
        let got = all(&data).unwrap();
        assert_eq!(got[0].2[2], big);
        assert_eq!(got[1].2[2], big);
    }

    #[test]
    fn reads_inputs_in_order_and_restarts_lines_per_input() {
        let a = Input::Bytes {
            name: "a".into(),
            data: "PING\n".into(),
        };
        let b = Input::Bytes {
            name: "b".into(),
            data: "\nECHO x\n".into(),
        };
        let mut r = InputReader::open(&[a, b]).unwrap();
        let first = r.next_command().unwrap().unwrap().pos;
        let second = r.next_command().unwrap().unwrap().pos;
        assert_eq!((first.source, first.line), (0, 1));
        assert_eq!((second.source, second.line), (1, 2));
        assert_eq!(r.location(second).to_string(), "b:2");
        assert!(r.next_command().unwrap().is_none());
    }

    #[test]
    fn a_missing_file_or_a_directory_fails_to_open() {
        let missing = InputReader::open(&[Input::File("/no/such/file".into())]);
        assert!(matches!(missing, Err(InputError::Open { .. })));
        let dir = InputReader::open(&[Input::File(std::env::temp_dir())]);
        assert!(matches!(dir, Err(InputError::Directory { .. })));
    }

    /// Writes an argument as redis-cli's quoting would have it: bare when
    /// safe, else double-quoted with `\x` escapes.
    fn quote_inline(arg: &[u8], out: &mut Vec<u8>) {
        let bare = !arg.is_empty()
            && arg
                .iter()
                .all(|b| b.is_ascii_graphic() && !b"\"'\\".contains(b));
        if bare {
            out.extend_from_slice(arg);
        } else {
            crate::input::testing::quote(arg, out);
        }
    }

    #[test]
    fn random_commands_survive_encoding_and_random_read_boundaries() {
        use rand::{RngExt, SeedableRng};
        for seed in 0..20u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut data = Vec::new();
            let mut want = Vec::new();
            for _ in 0..300 {
                let argc = rng.random_range(1..6);
                let args: Vec<Vec<u8>> = (0..argc)
                    .map(|_| {
                        let len = rng.random_range(0..40);
                        let alphabet: &[u8] = if rng.random_bool(0.5) {
                            b"abcXYZ019_-:"
                        } else {
                            b"a \t\r\n\0\"'\\\xff\x7fz"
                        };
                        (0..len)
                            .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                            .collect()
                    })
                    .collect();
                if rng.random_bool(0.5) {
                    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                    data.extend_from_slice(&crate::resp::encode_to_vec(&refs));
                } else {
                    for (i, a) in args.iter().enumerate() {
                        if i > 0 {
                            data.push(b' ');
                        }
                        quote_inline(a, &mut data);
                    }
                    data.extend_from_slice(if rng.random_bool(0.5) { b"\r\n" } else { b"\n" });
                }
                want.push(args);
            }
            let pieces = crate::input::testing::Pieces::new(data, rng.random_range(1..=64));
            let mut r = InputReader::from_readers(vec!["t".into()], vec![Box::new(pieces)]);
            let mut got = Vec::new();
            while let Some(c) = r.next_command().unwrap() {
                got.push(c.args.iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
            }
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn a_huge_command_is_taken_out_encoded_and_the_input_after_it_goes_on() {
        let big = vec![b'v'; HUGE_COMMAND + 5];
        let mut data = b"SET a ".to_vec();
        data.extend_from_slice(&big);
        data.extend_from_slice(b"\nSET next 1\n");
        data.extend_from_slice(&crate::resp::encode_to_vec(&[b"SET", b"b", &big]));
        data.extend_from_slice(b"PING\n");
        let pieces = crate::input::testing::Pieces::new(data, 300_000);
        let mut r = InputReader::from_readers(vec!["t".into()], vec![Box::new(pieces)]);
        let mut got = Vec::new();
        loop {
            match r.next_buffered().unwrap() {
                Next::Command(c) if c.takeable => got.push(r.take_last()),
                Next::Command(c) => got.push(crate::resp::encode_to_vec(
                    &c.args.iter().collect::<Vec<_>>(),
                )),
                Next::NeedInput => r.read_more().unwrap(),
                Next::End => break,
            }
        }
        let want = [
            crate::resp::encode_to_vec(&[b"SET", b"a", &big]),
            crate::resp::encode_to_vec(&[b"SET", b"next", b"1"]),
            crate::resp::encode_to_vec(&[b"SET", b"b", &big]),
            crate::resp::encode_to_vec(&[b"PING"]),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(
                g == w,
                "{} != {}",
                String::from_utf8_lossy(&g[..40.min(g.len())]),
                String::from_utf8_lossy(&w[..40.min(w.len())])
            );
        }
    }

    #[test]
    fn carries_on_after_an_invalid_command_when_asked() {
        let data = b"SET a 1\nSET b \"x\nSET c 3\n*2\r\n$3\r\nGET\r\n:1\r\nSET d 4\r\n*1\r\n$4\r\nPING\r\n";
        let mut r = reader(data);
        let mut got = Vec::new();
        let mut errors = Vec::new();
        loop {
            match r.next_command() {
                Ok(Some(c)) => got.push((c.pos.line, c.args.get(0).unwrap().to_vec())),
                Ok(None) => break,
                Err(InputError::Invalid { at, .. }) => errors.push(at.line),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(errors, [2, 7]);
        assert_eq!(
            got,
            [
                (1, b"SET".to_vec()),
                (3, b"SET".to_vec()),
                (9, b"PING".to_vec())
            ],
            "a malformed frame is skipped up to the next line starting with '*'"
        );
    }

    /// Regression: after a malformed frame, the search for the next frame
    /// skipped a byte at every read, so a `\n*` split by a read was missed.
    #[test]
    fn finds_the_next_frame_after_a_bad_one_whatever_the_read_sizes() {
        let data = b"*2\r\n$3\r\nGET\r\n:1\r\nrest of the bad frame\r\n*1\r\n$4\r\nPING\r\n";
        for max in 1..8 {
            let pieces = crate::input::testing::Pieces::new(data.to_vec(), max);
            let mut r = InputReader::from_readers(vec!["t".into()], vec![Box::new(pieces)]);
            assert!(
                matches!(r.next_command(), Err(InputError::Invalid { .. })),
                "read size {max}"
            );
            let next = r
                .next_command()
                .unwrap()
                .expect("the PING after the bad frame");
            assert_eq!(
                (next.pos.line, next.args.get(0)),
                (6, Some(&b"PING"[..])),
                "read size {max}"
            );
        }
    }
}
