//! Validates RESP multibulk frames in the input before any byte is sent.
//!
//! A command that starts with `*` is framed as the server would frame it:
//!
//! ```text
//! *<argc>\r\n
//! $<len>\r\n<len bytes>\r\n      (argc times)
//! ```
//!
//! Numbers follow the server's `string2ll`: an optional `-`, then `0` or a
//! digit string without a leading zero. Like the server, an `argc` of zero or
//! less is a frame with no command and no reply. rload is stricter than the
//! server where the server trusts the client: every line must end in CRLF,
//! every bulk must be followed by CRLF, and `$-1` is rejected rather than
//! desynchronising the connection (redis#3756, #4401).
//!
//! The framer is resumable: when a frame is cut by the end of the buffer, it
//! remembers how far it got, so a frame arriving in many reads is parsed once.

use super::args::{ArgBuf, Args};

pub use crate::resp::MAX_BULK_LEN;
use crate::resp::parse_strict_i64;

/// The server's limit on a multibulk count (`INT_MAX`).
const MAX_ARGC: i64 = i32::MAX as i64;

/// A count line holds at most a sign and 19 digits before its CRLF.
const MAX_NUMBER_LEN: usize = 20;

/// What the framer found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A whole command of this many bytes; its arguments are in the `ArgBuf`.
    Command(usize),
    /// A `*0` or `*-N` header of this many bytes: no command, no reply.
    Empty(usize),
    /// The frame goes on past the buffer; at least this many bytes in all
    /// are needed before trying again.
    Incomplete(usize),
}

/// What is wrong with a frame, and where, as a byte offset from its start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// Offset of the offending byte from the start of the frame.
    pub offset: usize,
    /// What was wrong.
    pub kind: FrameErrorKind,
}

/// The ways a RESP input frame can be invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameErrorKind {
    /// The `*` count is not a number the server accepts.
    BadCount,
    /// An argument does not start with `$`; holds the byte found instead.
    ExpectedDollar(u8),
    /// A `$` length is not a number the server accepts.
    BadBulkLength,
    /// A `$-1` null bulk, which is not an argument.
    NullBulk,
    /// A bulk longer than the server's `proto-max-bulk-len`.
    BulkTooLong {
        /// The bulk's length.
        len: u64,
        /// The server's limit.
        max: u64,
    },
    /// A `*` or `$` line does not end in CRLF.
    MissingCrlf,
    /// The bytes after a bulk's payload are not CRLF.
    BulkNotTerminated,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            FrameErrorKind::BadCount => f.write_str("invalid multibulk count after '*'"),
            FrameErrorKind::ExpectedDollar(b) => {
                write!(
                    f,
                    "expected '$' at the start of an argument, got {}",
                    show_byte(b)
                )
            }
            FrameErrorKind::BadBulkLength => f.write_str("invalid bulk length after '$'"),
            FrameErrorKind::NullBulk => {
                f.write_str("'$-1' (a null bulk) cannot be an argument of a command")
            }
            FrameErrorKind::BulkTooLong { len, max } => write!(
                f,
                "bulk length {len} is over the server's limit of {} (proto-max-bulk-len)",
                show_size(max)
            ),
            FrameErrorKind::MissingCrlf => {
                f.write_str("expected CRLF at the end of a '*' or '$' line")
            }
            FrameErrorKind::BulkNotTerminated => {
                f.write_str("bulk payload is not followed by CRLF")
            }
        }
    }
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// A size as people write it: `512 MiB`, or bytes when not whole MiB.
pub(crate) fn show_size(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// A resumable frame parser. Reset it (by `Default`) after every frame.
#[derive(Debug, Default)]
pub(crate) struct RespFramer {
    /// The frame's argument count, once its `*` line is parsed.
    argc: Option<usize>,
    /// Offset of the next unparsed byte within the frame.
    at: usize,
}

impl RespFramer {
    /// Frames the command at the start of `buf` (whose first byte is `*`),
    /// continuing where the last call on this frame stopped. Arguments are
    /// appended to `args` as spans of `buf`.
    ///
    /// # Errors
    ///
    /// The first violation found, with its offset from the frame start.
    pub(crate) fn frame(
        &mut self,
        buf: &[u8],
        args: &mut ArgBuf,
        max_bulk: u64,
    ) -> Result<Frame, FrameError> {
        let argc = match self.argc {
            Some(n) => n,
            None => {
                args.clear();
                let Some((n, next)) = number(buf, 0, FrameErrorKind::BadCount)? else {
                    return Ok(Frame::Incomplete(buf.len() + 1));
                };
                if n <= 0 {
                    return Ok(Frame::Empty(next));
                }
                if n > MAX_ARGC {
                    return Err(FrameError {
                        offset: 1,
                        kind: FrameErrorKind::BadCount,
                    });
                }
                self.at = next;
                self.argc = Some(n as usize);
                n as usize
            }
        };
        while args.spans.len() < argc {
            let at = self.at;
            match buf.get(at) {
                None => return Ok(Frame::Incomplete(at + 1)),
                Some(b'$') => {}
                Some(&b) => {
                    return Err(FrameError {
                        offset: at,
                        kind: FrameErrorKind::ExpectedDollar(b),
                    });
                }
            }
            let Some((len, start)) = number(buf, at, FrameErrorKind::BadBulkLength)? else {
                return Ok(Frame::Incomplete(buf.len() + 1));
            };
            let len = bulk_len(len, at, max_bulk)?;
            let end = start + len;
            if buf.len() < end + 2 {
                return Ok(Frame::Incomplete(end + 2));
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(FrameError {
                    offset: end,
                    kind: FrameErrorKind::BulkNotTerminated,
                });
            }
            args.push_base(start, end);
            self.at = end + 2;
        }
        Ok(Frame::Command(self.at))
    }
}

/// The arguments of `bytes`, if it is one whole RESP command (one rload
/// encoded, to be sent again).
pub(crate) fn frame_args<'a>(bytes: &'a [u8], buf: &'a mut ArgBuf) -> Option<Args<'a>> {
    match RespFramer::default().frame(bytes, buf, u64::MAX).ok()? {
        Frame::Command(len) if len == bytes.len() => Some(buf.args(bytes)),
        _ => None,
    }
}

/// Checks a parsed `$` length; `at` is the offset of its `$`.
fn bulk_len(len: i64, at: usize, max: u64) -> Result<usize, FrameError> {
    let kind = match len {
        -1 => FrameErrorKind::NullBulk,
        n if n < 0 => FrameErrorKind::BadBulkLength,
        n if n as u64 > max => FrameErrorKind::BulkTooLong { len: n as u64, max },
        n => return Ok(n as usize),
    };
    Err(FrameError {
        offset: at + 1,
        kind,
    })
}

/// Parses the `<type><number>\r\n` line at `buf[at..]`, returning the number
/// and the offset just past the CRLF, or `None` if the line is incomplete.
fn number(buf: &[u8], at: usize, bad: FrameErrorKind) -> Result<Option<(i64, usize)>, FrameError> {
    let digits_at = at + 1;
    let window = &buf[digits_at.min(buf.len())..buf.len().min(digits_at + MAX_NUMBER_LEN + 1)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        if window.len() > MAX_NUMBER_LEN {
            return Err(FrameError {
                offset: digits_at,
                kind: bad,
            });
        }
        return Ok(None);
    };
    let Some(&lf) = buf.get(digits_at + cr + 1) else {
        return Ok(None);
    };
    if lf != b'\n' {
        return Err(FrameError {
            offset: digits_at + cr + 1,
            kind: FrameErrorKind::MissingCrlf,
        });
    }
    match parse_strict_i64(&window[..cr]) {
        Some(n) => Ok(Some((n, digits_at + cr + 2))),
        None => Err(FrameError {
            offset: digits_at,
            kind: bad,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(buf: &[u8]) -> (Result<Frame, FrameError>, Vec<Vec<u8>>) {
        let mut args = ArgBuf::default();
        let r = RespFramer::default().frame(buf, &mut args, MAX_BULK_LEN);
        let got = args.args(buf).iter().map(<[u8]>::to_vec).collect();
        (r, got)
    }

    fn err(buf: &[u8]) -> FrameError {
        frame(buf).0.unwrap_err()
    }

    #[test]
    fn frames_a_whole_command_and_its_arguments() {
        let buf = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\nrest";
        let (r, args) = frame(buf);
        assert_eq!(r, Ok(Frame::Command(buf.len() - 4)));
        assert_eq!(args, [b"SET".to_vec(), b"k".to_vec(), vec![]]);
    }

    #[test]
    fn binary_payloads_may_hold_crlf_and_nul() {
        let buf = b"*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\0\n\r\n";
        let (r, args) = frame(buf);
        assert_eq!(r, Ok(Frame::Command(buf.len())));
        assert_eq!(args[1], b"\r\n\0\n");
    }

    #[test]
    fn zero_and_negative_counts_are_empty_frames() {
        assert_eq!(frame(b"*0\r\nx").0, Ok(Frame::Empty(4)));
        assert_eq!(frame(b"*-1\r\n").0, Ok(Frame::Empty(5)));
    }

    #[test]
    fn reports_incomplete_frames_with_the_bytes_needed() {
        assert_eq!(frame(b"*").0, Ok(Frame::Incomplete(2)));
        assert_eq!(frame(b"*2\r").0, Ok(Frame::Incomplete(4)));
        assert_eq!(frame(b"*1\r\n").0, Ok(Frame::Incomplete(5)));
        assert_eq!(frame(b"*1\r\n$5\r\nab").0, Ok(Frame::Incomplete(15)));
    }

    #[test]
    fn resumes_a_frame_split_across_reads() {
        let whole = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
        let mut framer = RespFramer::default();
        let mut args = ArgBuf::default();
        for cut in 1..whole.len() {
            assert!(matches!(
                framer.frame(&whole[..cut], &mut args, MAX_BULK_LEN),
                Ok(Frame::Incomplete(_))
            ));
        }
        assert_eq!(
            framer.frame(whole, &mut args, MAX_BULK_LEN),
            Ok(Frame::Command(whole.len()))
        );
        assert_eq!(args.args(whole).get(1), Some(&b"hello"[..]));
    }

    #[test]
    fn rejects_bad_counts() {
        for bad in [
            &b"*x\r\n"[..],
            b"*\r\n",
            b"*01\r\n",
            b"*-0\r\n",
            b"*+1\r\n",
            b"*1 \r\n",
        ] {
            assert_eq!(err(bad).kind, FrameErrorKind::BadCount, "{bad:?}");
        }
        assert_eq!(
            err(b"*99999999999999999999999\r\n").kind,
            FrameErrorKind::BadCount
        );
        assert_eq!(err(b"*2147483648\r\n").kind, FrameErrorKind::BadCount);
    }

    #[test]
    fn rejects_a_missing_dollar() {
        let e = err(b"*1\r\n:3\r\nSET\r\n");
        assert_eq!(
            (e.offset, e.kind),
            (4, FrameErrorKind::ExpectedDollar(b':'))
        );
        assert!(e.to_string().contains("got ':'"));
    }

    #[test]
    fn rejects_null_negative_and_oversized_bulks() {
        assert_eq!(err(b"*1\r\n$-1\r\n").kind, FrameErrorKind::NullBulk);
        assert_eq!(err(b"*1\r\n$-2\r\n").kind, FrameErrorKind::BadBulkLength);
        assert_eq!(err(b"*1\r\n$abc\r\n").kind, FrameErrorKind::BadBulkLength);
        assert_eq!(
            err(b"*1\r\n$536870913\r\n").kind,
            FrameErrorKind::BulkTooLong {
                len: 536_870_913,
                max: MAX_BULK_LEN
            }
        );
    }

    #[test]
    fn rejects_a_bulk_not_followed_by_crlf() {
        let e = err(b"*1\r\n$3\r\nSETX\r\n");
        assert_eq!((e.offset, e.kind), (11, FrameErrorKind::BulkNotTerminated));
    }

    #[test]
    fn rejects_a_header_line_without_crlf() {
        assert_eq!(err(b"*1\rX").kind, FrameErrorKind::MissingCrlf);
        assert_eq!(err(b"*1\n$3\r\n").kind, FrameErrorKind::BadCount);
    }
}
