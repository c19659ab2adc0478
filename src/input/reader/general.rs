//! The general framing path, for what the plain fast path leaves: RESP
//! frames, lines with quotes or escapes, the end of an input, and finding
//! the next command after an invalid one.

use memchr::memchr;

use super::{Found, InputReader, Position, Step};
use crate::input::inline::split_inline;
use crate::input::resp::{Frame, RespFramer};
use crate::input::{InputError, InvalidKind};

/// After an invalid command, how the reader finds its footing again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resync {
    /// Not needed: framing goes on where it is.
    Ready,
    /// Skip to just past the end of the current line.
    LineEnd,
    /// Skip a malformed RESP frame, whose end is unknown, up to the next line
    /// that starts with `*`.
    NextFrame,
}

impl InputReader {
    /// The general path: a RESP frame, a line the fast path left, the
    /// end of an input. Kept out of line, away from the fast path.
    #[inline(never)]
    pub(super) fn advance(&mut self) -> Result<Step, InputError> {
        if self.resync != Resync::Ready {
            return Ok(self.resync_step());
        }
        if self.start == self.end {
            if !self.eof {
                return Ok(self.need_input(1));
            }
            if !self.next_input() {
                return Ok(Step::End);
            }
            return Ok(Step::Skipped);
        }
        if self.buf[self.start] == b'*' {
            self.frame_resp()
        } else {
            self.frame_inline()
        }
    }

    /// Starts skipping a malformed RESP frame: its `*` goes at once, so the
    /// search for the next frame, which may take several reads, never finds
    /// this one.
    pub(super) fn skip_frame(&mut self) {
        self.framer = RespFramer::default();
        self.resync = Resync::NextFrame;
        self.consume(1, 0);
    }

    /// Skips input after an invalid command, as `resync` says, so that a
    /// caller that carries on (`--skip-invalid`) gets the next command.
    pub(super) fn resync_step(&mut self) -> Step {
        let data = &self.buf[self.start..self.end];
        let found = match self.resync {
            Resync::LineEnd => memchr(b'\n', data).map(|i| i + 1),
            // A newline followed by `*` (the bad frame's own `*` went with
            // the error, so this is never the frame being skipped).
            Resync::NextFrame => memchr::memmem::find(data, b"\n*").map(|i| i + 1),
            Resync::Ready => Some(0),
        };
        let (skip, done) = match found {
            Some(n) => (n, true),
            None if self.eof => (data.len(), true),
            // Keep the last byte: it may be the `\n` of a `\n*` cut by a read.
            None => (data.len().saturating_sub(1), false),
        };
        let newlines = memchr::memchr_iter(b'\n', &data[..skip]).count() as u64;
        self.consume(skip, newlines);
        if done {
            self.resync = Resync::Ready;
            Step::Skipped
        } else {
            let need = self.end - self.start + 1;
            self.need_input(need)
        }
    }

    pub(super) fn need_input(&mut self, need: usize) -> Step {
        self.need = need;
        Step::NeedInput
    }

    pub(super) fn frame_resp(&mut self) -> Result<Step, InputError> {
        let data = &self.buf[self.start..self.end];
        let pos = self.position();
        match self.framer.frame(data, &mut self.args, self.max_bulk) {
            Ok(Frame::Command(len)) => {
                self.framer = RespFramer::default();
                let newlines = memchr::memchr_iter(b'\n', &data[..len]).count();
                self.consume(len, newlines as u64);
                Ok(Step::Found(Found {
                    start: self.start - len,
                    end: self.start,
                    resp: true,
                    pos,
                    batch: None,
                }))
            }
            Ok(Frame::Empty(len)) => {
                self.framer = RespFramer::default();
                self.consume(len, 1);
                Ok(Step::Skipped)
            }
            Ok(Frame::Incomplete(_)) if self.eof => {
                self.skip_frame();
                Err(self.invalid(pos, InvalidKind::Truncated))
            }
            Ok(Frame::Incomplete(need)) => Ok(self.need_input(need)),
            Err(e) => {
                let lines_before = memchr::memchr_iter(b'\n', &data[..e.offset]).count() as u64;
                let at = Position {
                    line: pos.line + lines_before,
                    ..pos
                };
                self.skip_frame();
                Err(self.invalid(at, InvalidKind::Frame(e, pos.offset + e.offset as u64)))
            }
        }
    }

    pub(super) fn frame_inline(&mut self) -> Result<Step, InputError> {
        let data = &self.buf[self.start..self.end];
        let pos = self.position();
        let len = match memchr(b'\n', &data[self.searched..]) {
            Some(i) => self.split_general(self.searched + i, pos)?,
            None if self.eof => self.split_general(data.len(), pos)?,
            None => {
                self.searched = data.len();
                let need = data.len() + 1;
                return Ok(self.need_input(need));
            }
        };
        let start = self.start;
        self.consume((len + 1).min(self.end - start), 1);
        if self.args.spans.is_empty() {
            return Ok(Step::Skipped);
        }
        Ok(Step::Found(Found {
            start,
            end: start + len,
            resp: false,
            pos,
            batch: None,
        }))
    }

    /// Tokenizes the line of `len` bytes at `start` with the general,
    /// exact tokenizer, dropping a `\r` before its end; returns `len`.
    pub(super) fn split_general(&mut self, len: usize, pos: Position) -> Result<usize, InputError> {
        let line = &self.buf[self.start..self.start + len];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let kind = match split_inline(line, &mut self.args) {
            // No argument is longer than its line.
            Ok(()) if line.len() as u64 <= self.max_bulk => return Ok(len),
            Ok(()) => match self.args.longest() {
                Some((index, arg_len)) if arg_len as u64 > self.max_bulk => {
                    InvalidKind::ArgTooLong {
                        index,
                        len: arg_len as u64,
                        max: self.max_bulk,
                    }
                }
                _ => return Ok(len),
            },
            Err(e) => InvalidKind::Inline(e),
        };
        self.resync = Resync::LineEnd;
        Err(self.invalid(pos, kind))
    }
}
