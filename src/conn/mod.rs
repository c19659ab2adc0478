//! Connecting: TCP or a unix socket, then AUTH, SELECT and HELLO, each failure
//! reported with the server's address and never the password.
//!
//! A connection is used synchronously for setup, then split into a read half
//! for the pipe's reader thread and a write half for its writer.

mod peer;
mod rules;
mod stream;
mod tls;
mod verify;
mod wait;
mod x509;

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub(crate) use rules::MergeRules;
pub(crate) use stream::{Closer, ReadHalf, Stream, WriteHalf};
pub(crate) use wait::{Patience, cluster_state, connect_waiting, connect_when_ready};

use crate::config::{Endpoint, ServerConfig, TlsConfig};
use crate::error::ConnectError;
use crate::input::Limits;
use crate::resp::{ReplyScanner, Value, encode_to_vec, parse_value};

/// The newest RDB version a server reads, from its `INFO server`: Redis
/// 4 reads 8, 5 and 6 read 9, 7.0 10, 7.2 11, 7.4 and later 12 (8.6: 13);
/// Valkey up to 8.1 reads 11, and Valkey 9 its own 80 (and Redis's up to
/// 11, not the 12 to 79 it calls foreign).
fn rdb_version(info: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(info).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let version = |v: &str| -> Option<(u32, u32)> {
        let mut parts = v.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    if let Some(v) = field("valkey_version").and_then(version) {
        return Some(if v.0 >= 9 { 80 } else { 11 });
    }
    Some(match version(field("redis_version")?)? {
        (5 | 6, _) => 9,
        (4, _) => 8,
        (major, _) if major < 4 => 7,
        (7, 0) => 10,
        (7, 2) => 11,
        (8, minor) if minor >= 6 => 13,
        (major, _) if major > 8 => 13,
        _ => 12,
    })
}

/// A connected, logged-in connection to one server.
pub(crate) struct Connection {
    stream: Stream,
    addr: String,
    /// Replies read: `buf[start..]` is not consumed yet, and up to
    /// `scanned` it has been scanned.
    buf: Vec<u8>,
    start: usize,
    scanned: usize,
    /// Boxed: it is large, and connections move.
    scanner: Box<ReplyScanner>,
    /// The bound on each setup command (`-t`), for the message when the
    /// server lets it pass.
    setup_timeout: Option<Duration>,
    /// A reply has come: the peer speaks RESP.
    answered: bool,
}

impl Connection {
    /// The server's address, for messages.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one command and waits for its reply, skipping pushes.
    pub(crate) fn request(&mut self, args: &[&[u8]]) -> io::Result<Value> {
        self.send(args)?;
        self.read_reply()
    }

    /// Sends one command; its reply is read with [`read_reply`](Self::read_reply),
    /// in order, so several may be in flight.
    pub(crate) fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        self.stream.write_all(&encode_to_vec(args))?;
        self.stream.flush()
    }

    /// Sends bytes already encoded (several commands, pipelined), in one
    /// write.
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads the next reply, skipping pushes. Bytes are scanned once, as
    /// they arrive, and the reply is built once it is whole, so a large
    /// reply costs its size, not its size times its reads.
    pub(crate) fn read_reply(&mut self) -> io::Result<Value> {
        let bad = |e| io::Error::new(io::ErrorKind::InvalidData, e);
        loop {
            let batch = self.scanner.scan(&self.buf[self.scanned..], 1);
            self.scanned += batch.consumed;
            if let Some(e) = batch.error {
                return Err(bad(e));
            }
            if batch.replies == 1 {
                return self.take_reply().map_err(bad);
            }
            if self.start > 0 && self.start >= self.buf.len() / 2 {
                self.buf.drain(..self.start);
                self.scanned -= self.start;
                self.start = 0;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Builds the reply the scanner found whole, passing over pushes before
    /// it.
    fn take_reply(&mut self) -> Result<Value, crate::resp::ScanError> {
        loop {
            let (v, used) = parse_value(&self.buf[self.start..self.scanned])?
                .expect("the scanner found a whole reply");
            self.start += used;
            self.answered = true;
            if !matches!(v, Value::Push(_)) {
                if self.start == self.buf.len() {
                    self.buf.clear();
                    (self.start, self.scanned) = (0, 0);
                }
                return Ok(v);
            }
        }
    }

    /// An I/O failure during the setup `command`, as a [`ConnectError`]: a
    /// TLS failure (such as the server's rejection of a client certificate,
    /// which TLS 1.3 delivers after the handshake) is explained as one, and
    /// a timeout says the server did not answer.
    fn io_error(&self, command: &'static str, e: io::Error) -> ConnectError {
        if let Some(reason) = tls_error(&e) {
            return ConnectError::Tls {
                addr: self.addr.clone(),
                reason,
            };
        }
        if !self.answered {
            let tls = matches!(self.stream, Stream::Tls(_));
            if let Some(e) = peer::first_reply_failure(&self.addr, &e, &self.buf, tls) {
                return e;
            }
        }
        match (e.kind(), self.setup_timeout) {
            // A socket timeout reads as EAGAIN ("resource temporarily
            // unavailable"), which says nothing useful.
            (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, Some(timeout)) => {
                ConnectError::Unanswered {
                    addr: self.addr.clone(),
                    command,
                    timeout,
                }
            }
            _ => ConnectError::io(&self.addr, e),
        }
    }

    /// Sends a setup command and returns its reply, even an error reply.
    pub(crate) fn call(
        &mut self,
        command: &'static str,
        args: &[&[u8]],
    ) -> Result<Value, ConnectError> {
        self.request(args).map_err(|e| self.io_error(command, e))
    }

    /// Sends a setup command, turning an error reply into a [`ConnectError`].
    pub(crate) fn setup(
        &mut self,
        command: &'static str,
        args: &[&[u8]],
    ) -> Result<Value, ConnectError> {
        match self.call(command, args)? {
            Value::Error(reply) => Err(ConnectError::Setup {
                addr: self.addr.clone(),
                command,
                reply,
            }),
            v => Ok(v),
        }
    }

    /// Bounds each read of a reply (`None`: wait as long as it takes).
    ///
    /// # Errors
    ///
    /// The socket refused the setting.
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(t)
    }

    /// Selects database `db`.
    ///
    /// # Errors
    ///
    /// The server refused it, or the connection failed.
    pub(crate) fn select(&mut self, db: u32) -> Result<(), ConnectError> {
        let n = db.to_string();
        match self.call("SELECT", &[b"SELECT", n.as_bytes()])? {
            Value::Error(reply) => Err(ConnectError::Select {
                addr: self.addr.clone(),
                db,
                reply,
            }),
            _ => Ok(()),
        }
    }

    /// The server's settings that decide which input it accepts, read with
    /// `CONFIG GET` where the ACL allows it; the defaults where not.
    ///
    /// # Errors
    ///
    /// A failure of the connection (an error reply is not one).
    pub(crate) fn limits(&mut self) -> Result<Limits, ConnectError> {
        let mut limits = Limits::default();
        if let Some(n) = self.config_number("proto-max-bulk-len")? {
            limits.max_bulk = n;
        }
        if let Some(n) = self.config_number("databases")? {
            limits.databases = u32::try_from(n).unwrap_or(u32::MAX);
        }
        limits.rdb_version = match self.call("INFO", &[b"INFO", b"server"])? {
            Value::Bulk(info) | Value::Verbatim { text: info, .. } => rdb_version(&info),
            _ => None,
        };
        Ok(limits)
    }

    /// A numeric setting from `CONFIG GET`, or `None` if it cannot be read.
    fn config_number(&mut self, name: &str) -> Result<Option<u64>, ConnectError> {
        let reply = self.call("CONFIG GET", &[b"CONFIG", b"GET", name.as_bytes()])?;
        let value = reply
            .into_items()
            .and_then(|items| items.into_iter().nth(1))
            .and_then(|v| std::str::from_utf8(v.as_bytes()?).ok()?.parse().ok());
        Ok(value)
    }

    /// Hands over the stream and the bytes read from it but not consumed,
    /// for a protocol that is not replies (a replica's sync payload).
    pub(crate) fn into_parts(mut self) -> (Stream, Vec<u8>) {
        self.buf.drain(..self.start);
        (self.stream, self.buf)
    }

    /// Splits the connection for the pipe: the reader's half, the writer's
    /// half, and a handle that can shut both down from any thread.
    pub(crate) fn split(self) -> io::Result<(ReadHalf, WriteHalf, Closer)> {
        debug_assert!(
            self.start == self.buf.len(),
            "setup replies are all consumed"
        );
        self.stream.split()
    }
}

/// Connects to `cfg`'s server and runs AUTH, SELECT and HELLO as configured.
///
/// # Errors
///
/// Connection, TLS, AUTH, SELECT or HELLO failures, each naming the address.
pub(crate) fn connect(cfg: &ServerConfig) -> Result<Connection, ConnectError> {
    connect_with(cfg, None)
}

/// [`connect`]; with `patience` (`--wait`), a server loading its dataset is
/// waited for as long as it allows, rather than for the connect timeout.
fn connect_with(
    cfg: &ServerConfig,
    patience: Option<&Patience>,
) -> Result<Connection, ConnectError> {
    let addr = cfg.endpoint.to_string();
    let stream = open(cfg).map_err(|e| ConnectError::io(&addr, e))?;
    let stream = match &cfg.tls {
        Some(tls) => wrap_tls(stream, cfg, tls, &addr)?,
        None => stream,
    };
    stream
        .set_timeouts(cfg.connect_timeout)
        .map_err(|e| ConnectError::io(&addr, e))?;
    let mut conn = Connection {
        stream,
        addr,
        buf: Vec::new(),
        start: 0,
        scanned: 0,
        scanner: Box::default(),
        setup_timeout: cfg.connect_timeout,
        answered: false,
    };
    login(&mut conn, cfg, patience)?;
    conn.stream
        .set_timeouts(None)
        .map_err(|e| ConnectError::io(&conn.addr, e))?;
    Ok(conn)
}

/// The longest the TLS handshake may take, or `-t` if that is shorter
/// (with `-t 0`, this still applies). A handshake is a few round trips; a
/// port that does not speak TLS, such as Redis's plain port (which waits
/// for the end of a command that never comes), never answers the
/// ClientHello at all, and this bound turns that wait into a prompt error.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The bound on the TLS handshake under the connect timeout `connect`.
fn handshake_timeout(connect: Option<Duration>) -> Duration {
    connect.map_or(TLS_HANDSHAKE_TIMEOUT, |t| t.min(TLS_HANDSHAKE_TIMEOUT))
}

/// Puts TLS over a TCP connection and runs the handshake, so that a bad
/// certificate, or a port that does not answer in TLS, is reported here,
/// naming the address.
fn wrap_tls(
    stream: Stream,
    cfg: &ServerConfig,
    tls: &TlsConfig,
    addr: &str,
) -> Result<Stream, ConnectError> {
    let fail = |reason: String| ConnectError::Tls {
        addr: addr.to_string(),
        reason,
    };
    let (Stream::Tcp(sock), Endpoint::Tcp { host, .. }) = (stream, &cfg.endpoint) else {
        return Err(fail("TLS needs a TCP connection, not a unix socket".into()));
    };
    let config = tls::client_config(tls).map_err(fail)?;
    let name = tls::server_name(tls, host).map_err(fail)?;
    let bound = handshake_timeout(cfg.connect_timeout);
    sock.set_read_timeout(Some(bound))
        .and_then(|()| sock.set_write_timeout(Some(bound)))
        .map_err(|e| ConnectError::io(addr, e))?;
    match tls::TlsStream::handshake(sock, config, name) {
        Ok(s) => Ok(Stream::Tls(Box::new(s))),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(fail(format!(
                "the server did not answer the TLS handshake within {} s (is this its TLS port?)",
                bound.as_secs_f64()
            )))
        }
        Err(e) => Err(fail(tls_error(&e).unwrap_or_else(|| e.to_string()))),
    }
}

/// The explanation of a TLS failure carried in an I/O error, if it is one.
fn tls_error(e: &io::Error) -> Option<String> {
    e.get_ref()?
        .downcast_ref::<rustls::Error>()
        .map(tls::describe)
}

fn open(cfg: &ServerConfig) -> io::Result<Stream> {
    match &cfg.endpoint {
        Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
        Endpoint::Tcp { host, port } => {
            let mut last = io::Error::new(
                io::ErrorKind::NotFound,
                "the host name resolves to no address",
            );
            for sa in (host.as_str(), *port).to_socket_addrs()? {
                let attempt = match cfg.connect_timeout {
                    Some(t) => TcpStream::connect_timeout(&sa, t),
                    None => TcpStream::connect(sa),
                };
                match attempt {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        return Ok(Stream::Tcp(s));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
    }
}

/// How often to ask again while the server loads its dataset.
const LOADING_RETRY: Duration = Duration::from_millis(100);

/// AUTH, a PING, SELECT and HELLO 3, as configured.
fn login(
    conn: &mut Connection,
    cfg: &ServerConfig,
    patience: Option<&Patience>,
) -> Result<(), ConnectError> {
    if let Some(pw) = &cfg.password {
        let pw = pw.expose().as_bytes();
        let reply = match &cfg.user {
            Some(user) => conn.call("AUTH", &[b"AUTH", user.as_bytes(), pw])?,
            None => conn.call("AUTH", &[b"AUTH", pw])?,
        };
        if let Value::Error(reply) = reply {
            return Err(ConnectError::Auth {
                addr: conn.addr.clone(),
                reply,
            });
        }
    }
    wait_until_ready(conn, cfg, patience)?;
    if cfg.db != 0 {
        conn.select(cfg.db)?;
    }
    if cfg.resp3 {
        conn.setup("HELLO 3", &[b"HELLO", b"3"])?;
    }
    Ok(())
}

/// PINGs until the server answers other than `-LOADING`.
///
/// The PING finds out at once whether the server wants a password (rather
/// than after every command of the load has failed with NOAUTH), and waits
/// while a restarted server is still loading its dataset (`-LOADING`), so a
/// reconnect does not replay commands into errors. With `patience`
/// (`--wait`), the wait is its own.
fn wait_until_ready(
    conn: &mut Connection,
    cfg: &ServerConfig,
    patience: Option<&Patience>,
) -> Result<(), ConnectError> {
    let started = Instant::now();
    loop {
        match conn.call("PING", &[b"PING"])? {
            Value::Error(e) if e.starts_with("NOAUTH") => {
                let addr = conn.addr.clone();
                return Err(match cfg.password {
                    None => ConnectError::PasswordNeeded { addr },
                    Some(_) => ConnectError::Auth { addr, reply: e },
                });
            }
            Value::Error(e) if e.starts_with("LOADING") => {
                let waited_out = match patience {
                    Some(p) => !p.keep_waiting(&conn.addr, wait::LOADING),
                    None => cfg.connect_timeout.is_some_and(|t| started.elapsed() >= t),
                };
                if waited_out {
                    return Err(ConnectError::Setup {
                        addr: conn.addr.clone(),
                        command: "PING",
                        reply: e,
                    });
                }
                if patience.is_none() {
                    std::thread::sleep(LOADING_RETRY);
                }
            }
            // Any other answer, even an error (an ACL without PING), will do.
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection over one end of a socket pair; the other end is the
    /// "server".
    fn pair() -> (Connection, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        let conn = Connection {
            stream: Stream::Unix(a),
            addr: "test".into(),
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            scanner: Box::default(),
            setup_timeout: None,
            answered: false,
        };
        (conn, b)
    }

    #[test]
    fn reads_replies_that_arrive_in_pieces_passing_over_pushes() {
        let (mut conn, mut server) = pair();
        let big = vec![b'v'; 1 << 20];
        let mut stream = b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n".to_vec();
        stream.extend_from_slice(format!("${}\r\n", big.len()).as_bytes());
        stream.extend_from_slice(&big);
        stream.extend_from_slice(b"\r\n*2\r\n:1\r\n%1\r\n+k\r\n,2.5\r\n");
        let writer = std::thread::spawn(move || {
            for piece in stream.chunks(999) {
                server.write_all(piece).unwrap();
            }
            server
        });
        assert_eq!(conn.read_reply().unwrap(), Value::Bulk(big));
        assert_eq!(
            conn.read_reply().unwrap(),
            Value::Array(vec![
                Value::Int(1),
                Value::Map(vec![(Value::Status("k".into()), Value::Double(2.5))])
            ])
        );
        drop(writer.join());
        assert_eq!(conn.start, conn.buf.len(), "everything read was consumed");
    }
}
