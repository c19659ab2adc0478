//! The commands a dump writes, encoded: as RESP, or as inline lines quoted
//! as redis-cli reads them, counted as they go.

use std::io::{self, Write};

use crate::rebuild::CommandSink;
use crate::resp::{INLINE_LIMIT, encode_command, encode_inline};

/// How a command is written: RESP, or an inline line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Resp,
    Inline,
}

/// Commands are encoded one after another into a buffer, handed to the
/// output this many bytes at a time: one copy and one write call per
/// quarter megabyte, not per command.
const OUT_BYTES: usize = 256 * 1024;

/// Commands written to `out`.
pub(crate) struct Encoded<W: Write> {
    out: W,
    encoding: Encoding,
    buf: Vec<u8>,
    written: u64,
    long_lines: u64,
}

impl<W: Write> Encoded<W> {
    pub(crate) fn new(out: W, encoding: Encoding) -> Self {
        Encoded {
            out,
            encoding,
            buf: Vec::with_capacity(OUT_BYTES + OUT_BYTES / 4),
            written: 0,
            long_lines: 0,
        }
    }
}

impl<W: Write> CommandSink for Encoded<W> {
    fn command(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let start = self.buf.len();
        match self.encoding {
            Encoding::Resp => encode_command(&mut self.buf, args),
            Encoding::Inline => {
                encode_inline(&mut self.buf, args);
                // The newline is not part of the line.
                if self.buf.len() - start > INLINE_LIMIT + 1 {
                    self.long_lines += 1;
                }
            }
        }
        self.written += 1;
        if self.buf.len() >= OUT_BYTES {
            self.hand_over()?;
        }
        Ok(())
    }

    fn inline(&self) -> bool {
        self.encoding == Encoding::Inline
    }

    fn count(&self) -> u64 {
        self.written
    }

    fn long_lines(&self) -> u64 {
        self.long_lines
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_over()?;
        self.out.flush()
    }
}

impl<W: Write> Encoded<W> {
    /// Writes what is buffered to the output.
    fn hand_over(&mut self) -> io::Result<()> {
        let r = self.out.write_all(&self.buf);
        self.buf.clear();
        if self.buf.capacity() > 4 * OUT_BYTES {
            // A huge command passed through: give its memory back.
            self.buf = Vec::with_capacity(OUT_BYTES + OUT_BYTES / 4);
        }
        r
    }
}
