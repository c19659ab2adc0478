//! The byte stream under a connection, and its split into halves that two
//! threads can use at once.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
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

    /// Sets the read timeout; `None` blocks forever.
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tls(s) => s.socket().set_read_timeout(t),
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

impl ReadHalf {
    /// Lets the kernel gather replies before waking a blocked read: the read
    /// waits until `bytes` have arrived (`SO_RCVLOWAT`) or `poll` has passed
    /// (`SO_RCVTIMEO`), whichever comes first, and a read that times out
    /// returns what did arrive, or `WouldBlock` if nothing did. Returns
    /// false, changing nothing, under TLS, where records hide how many reply
    /// bytes are on their way.
    ///
    /// Replies are a few bytes each and the server writes them a few
    /// kilobytes at a time. A reader woken for each of those writes costs the
    /// *server* CPU, since the wake-up runs in the server's send path.
    pub(crate) fn set_low_water(&self, bytes: usize, poll: Duration) -> io::Result<bool> {
        let fd = match self {
            ReadHalf::Tcp(s) => {
                s.set_read_timeout(Some(poll))?;
                s.as_raw_fd()
            }
            ReadHalf::Unix(s) => {
                s.set_read_timeout(Some(poll))?;
                s.as_raw_fd()
            }
            ReadHalf::Tls(_) => return Ok(false),
        };
        let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fd` is an open socket owned by `self`, and the option
        // value is a live `c_int` of the size given.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&raw const bytes).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(true)
    }
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
