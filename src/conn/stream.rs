//! The byte stream under a connection, and its split into halves that two
//! threads can use at once.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::config::{ServerConfig, TlsConfig};
use crate::error::ConnectError;

/// A connected socket.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// Sets both read and write timeouts; `None` blocks forever.
    pub(crate) fn set_timeouts(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_read_timeout(t)?;
        self.set_write_timeout(t)
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            Stream::Unix(s) => s.set_write_timeout(t),
        }
    }

    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    /// Splits the stream into a reader's half, a writer's half and a closer.
    pub(crate) fn split(self) -> io::Result<(ReadHalf, WriteHalf, Closer)> {
        let writer = self.try_clone()?;
        let closer = self.try_clone()?;
        Ok((ReadHalf(self), WriteHalf(writer), Closer(closer)))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Wraps a connected socket in TLS.
pub(crate) fn wrap_tls(
    _stream: Stream,
    cfg: &ServerConfig,
    _tls: &TlsConfig,
) -> Result<Stream, ConnectError> {
    Err(ConnectError::Tls {
        addr: cfg.endpoint.to_string(),
        reason: "TLS is not available in this build".into(),
    })
}

/// The half the reader thread reads replies from.
pub(crate) struct ReadHalf(Stream);

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

/// The half the writer thread sends commands on.
pub(crate) struct WriteHalf(Stream);

impl WriteHalf {
    /// Bounds each write, so a server that stops reading is noticed.
    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.0.set_write_timeout(t)
    }
}

impl Write for WriteHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Shuts a connection down from any thread, waking its blocked reader and
/// writer.
pub(crate) struct Closer(Stream);

impl Closer {
    pub(crate) fn close(&self) {
        let _ = match &self.0 {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }
}
