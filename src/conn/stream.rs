//! The byte stream under a connection, and its split into halves that two
//! threads can use at once.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::tls::{TlsReader, TlsStream, TlsWriter};

/// A connected socket, possibly under TLS.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// Sets both read and write timeouts; `None` blocks forever.
    pub(crate) fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            Stream::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(t)
            }
            Stream::Tls(s) => {
                s.socket().set_read_timeout(t)?;
                s.socket().set_write_timeout(t)
            }
        }
    }

    /// Splits the stream into a reader's half, a writer's half and a closer.
    pub(crate) fn split(self) -> io::Result<(ReadHalf, WriteHalf, Closer)> {
        Ok(match self {
            Stream::Tcp(s) => {
                let (w, c) = (s.try_clone()?, s.try_clone()?);
                (ReadHalf::Tcp(s), WriteHalf::Tcp(w), Closer::Tcp(c))
            }
            Stream::Unix(s) => {
                let (w, c) = (s.try_clone()?, s.try_clone()?);
                (ReadHalf::Unix(s), WriteHalf::Unix(w), Closer::Unix(c))
            }
            Stream::Tls(s) => {
                let (r, w, c) = s.split()?;
                (ReadHalf::Tls(r), WriteHalf::Tls(w), Closer::Tcp(c))
            }
        })
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

/// The half the reader thread reads replies from.
pub(crate) enum ReadHalf {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(TlsReader),
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ReadHalf::Tcp(s) => s.read(buf),
            ReadHalf::Unix(s) => s.read(buf),
            ReadHalf::Tls(s) => s.read(buf),
        }
    }
}

/// The half the writer thread sends commands on. A write may return
/// `WouldBlock` or `TimedOut` when the write timeout passes; `flush` must
/// succeed before everything written is on its way.
pub(crate) enum WriteHalf {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(TlsWriter),
}

impl WriteHalf {
    /// Bounds each write, so a server that stops reading is noticed.
    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            WriteHalf::Tcp(s) => s.set_write_timeout(t),
            WriteHalf::Unix(s) => s.set_write_timeout(t),
            WriteHalf::Tls(s) => s.set_write_timeout(t),
        }
    }
}

impl Write for WriteHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            WriteHalf::Tcp(s) => s.write(buf),
            WriteHalf::Unix(s) => s.write(buf),
            WriteHalf::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            WriteHalf::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

/// Shuts a connection down from any thread, waking its blocked reader and
/// writer.
pub(crate) enum Closer {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Closer {
    pub(crate) fn close(&self) {
        let _ = match self {
            Closer::Tcp(s) => s.shutdown(Shutdown::Both),
            Closer::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}
