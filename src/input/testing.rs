//! Helpers for tests and the fuzz checks: input that arrives in pieces, and
//! arguments quoted as redis-cli would read them.

use std::io::{self, Read};

/// Hands out its data in reads of 1 to `max` bytes, varying, as a pipe
/// might.
pub(crate) struct Pieces {
    data: Vec<u8>,
    at: usize,
    max: usize,
}

impl Pieces {
    pub(crate) fn new(data: Vec<u8>, max: usize) -> Self {
        Pieces {
            data,
            at: 0,
            max: max.max(1),
        }
    }
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.at % self.max + 1)
            .min(buf.len())
            .min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Writes `arg` double-quoted, every byte that is not plain printable ASCII
/// as `\xHH`.
pub(crate) fn quote(arg: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b' '..=b'~' => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}
