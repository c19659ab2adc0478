//! TLS with rustls: certificates verified by default (against `--cacert`,
//! `--cacertdir`, or the system's roots; see `verify`), less only
//! when `--tls-verify` asks, and mutual TLS with `--cert` and `--key`.
//!
//! A TLS session is one state machine, but the pipe reads and writes from two
//! threads. So the halves share the `ClientConnection` behind a mutex that is
//! never held across a blocking socket call: the reader blocks on the raw
//! socket, then decrypts under the lock; the writer encrypts under the lock,
//! then sends the records in order from a shared outgoing queue.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{AlertDescription, CertificateError, ClientConfig, ClientConnection};

use super::verify::{NoVerification, Rejected, Verifier};
use super::x509;
use crate::config::{TlsConfig, TlsVerify};

/// Plaintext encrypted per write: a few TLS records, so one write never
/// holds the session lock for long.
const WRITE_SLICE: usize = 64 * 1024;

/// Builds the rustls client configuration for `tls`.
pub(crate) fn client_config(tls: &TlsConfig) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match tls.verify {
        TlsVerify::None => Arc::new(NoVerification(Arc::clone(&provider))),
        mode => {
            let (roots, given) = roots(tls)?;
            let check_name = mode == TlsVerify::Full;
            Arc::new(Verifier::new(
                roots,
                given,
                check_name,
                Arc::clone(&provider),
            )?)
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let client = client_key(cert, key, &provider)?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(client)))
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("--cert and --key must be given together".into()),
    };
    Ok(Arc::new(config))
}

/// The client certificate in `cert` with the key in `key`, for mutual TLS.
///
/// rustls's `with_client_auth_cert` checks that the two go together by
/// reading the certificate with webpki, which refuses X.509 version 1
/// certificates: `openssl x509 -req` still makes those when given no
/// extensions, and Redis accepts them. So the check is made here, on any
/// version; a pair it cannot check goes to the server, which decides.
fn client_key(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let chain = load_certs(cert)?;
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the key {}: {e}", key.display()))?;
    let signer = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| format!("cannot use the key in {}: {e}", key.display()))?;
    let cert_key = x509::Certificate::parse(&chain[0]).map(|c| c.public_key_info);
    if let (Some(ours), Some(theirs)) = (signer.public_key(), cert_key)
        && ours.as_ref() != theirs
    {
        return Err(format!(
            "the key in {} does not belong to the certificate in {}: their public keys differ",
            key.display(),
            cert.display()
        ));
    }
    Ok(CertifiedKey::new(chain, signer))
}

/// The trusted roots: the given CA file and directory, else the system's;
/// and the certificates given, which are also trusted as they are.
fn roots(tls: &TlsConfig) -> Result<(rustls::RootCertStore, Vec<CertificateDer<'static>>), String> {
    let mut given = Vec::new();
    let mut roots = rustls::RootCertStore::empty();
    if let Some(file) = &tls.ca_cert {
        for cert in load_certs(file)? {
            roots
                .add(cert.clone())
                .map_err(|e| format!("bad CA certificate in {}: {e}", file.display()))?;
            given.push(cert);
        }
    }
    if let Some(dir) = &tls.ca_cert_dir {
        let entries =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            // Anything in the directory that holds certificates counts.
            if let Ok(certs) = load_certs(&entry.path()) {
                roots.add_parsable_certificates(certs.iter().cloned());
                given.extend(certs);
            }
        }
    }
    if tls.ca_cert.is_none() && tls.ca_cert_dir.is_none() {
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    }
    if roots.is_empty() {
        return Err("no trusted CA certificates (give one with --cacert)".into());
    }
    Ok((roots, given))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

/// The name to send and verify: `--sni`, else the host.
pub(crate) fn server_name(tls: &TlsConfig, host: &str) -> Result<ServerName<'static>, String> {
    let name = tls.sni.as_deref().unwrap_or(host);
    ServerName::try_from(name.to_string())
        .map_err(|_| format!("'{name}' is not a valid TLS server name"))
}

/// Explains a TLS failure in the user's terms.
pub(crate) fn describe(err: &rustls::Error) -> String {
    use rustls::Error as E;
    if let E::InvalidCertificate(CertificateError::Other(other)) = err
        && let Some(rejected) = other.0.downcast_ref::<Rejected>()
    {
        return rejected.to_string();
    }
    match err {
        E::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by a trusted CA (give its CA with --cacert, or skip verification with --tls-verify none)".into()
        }
        E::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => {
            "the server's certificate is not valid for this host name (--sni names the host the certificate is for; --tls-verify ca checks the chain only)".into()
        }
        E::InvalidCertificate(CertificateError::BadSignature) => {
            "the server's certificate names a trusted CA as its issuer, but that CA's key did not sign it (is --cacert the CA that signed it, or one made again under the same name?)".into()
        }
        E::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "the server's certificate has expired".into()
        }
        E::InvalidCertificate(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (is the clock right?)".into()
        }
        E::AlertReceived(AlertDescription::CertificateRequired) => {
            "the server requires a client certificate (give one with --cert and --key)".into()
        }
        E::AlertReceived(AlertDescription::UnknownCA | AlertDescription::BadCertificate) => {
            "the server rejected the client certificate".into()
        }
        E::InvalidMessage(_) => "the server did not answer in TLS (is this its TLS port?)".into(),
        other => other.to_string(),
    }
}

/// A connected TLS stream, used synchronously for setup.
pub(crate) struct TlsStream {
    conn: ClientConnection,
    sock: TcpStream,
}

impl TlsStream {
    /// Runs the handshake over `sock`.
    pub(crate) fn handshake(
        mut sock: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Self> {
        let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        Ok(TlsStream { conn, sock })
    }

    pub(crate) fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// Splits the session for a reader thread and a writer thread.
    pub(crate) fn split(self) -> io::Result<(TlsReader, TlsWriter, TcpStream)> {
        let read_sock = self.sock.try_clone()?;
        let closer = self.sock.try_clone()?;
        let shared = Arc::new(Session {
            conn: Mutex::new(self.conn),
            out: Mutex::new(Outgoing {
                sock: self.sock,
                pending: Vec::new(),
            }),
        });
        let reader = TlsReader {
            session: Arc::clone(&shared),
            sock: read_sock,
            buf: vec![0; 32 * 1024],
            start: 0,
            end: 0,
        };
        Ok((reader, TlsWriter { session: shared }, closer))
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        rustls::Stream::new(&mut self.conn, &mut self.sock).read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        rustls::Stream::new(&mut self.conn, &mut self.sock).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        rustls::Stream::new(&mut self.conn, &mut self.sock).flush()
    }
}

/// The session the two halves share.
struct Session {
    conn: Mutex<ClientConnection>,
    out: Mutex<Outgoing>,
}

/// TLS records waiting to be sent, in order, and the socket they go on.
struct Outgoing {
    sock: TcpStream,
    pending: Vec<u8>,
}

impl Session {
    fn conn(&self) -> MutexGuard<'_, ClientConnection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn out(&self) -> MutexGuard<'_, Outgoing> {
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the records the session wants to send to the outgoing queue.
    /// Called with the session locked, so records queue in the order they
    /// were made, whichever thread made them.
    fn queue_records(conn: &mut ClientConnection, out: &mut Outgoing) -> io::Result<()> {
        while conn.wants_write() {
            conn.write_tls(&mut out.pending)?;
        }
        Ok(())
    }
}

impl Outgoing {
    /// Sends queued records; `WouldBlock` or `TimedOut` if the socket's
    /// write timeout passed first (some may then remain).
    fn send(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            let n = self.sock.write(&self.pending)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.pending.drain(..n);
        }
        Ok(())
    }
}

/// The reading half of a split TLS session.
pub(crate) struct TlsReader {
    session: Arc<Session>,
    sock: TcpStream,
    /// TLS bytes read from the socket and not yet given to the session.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Read for TlsReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut conn = self.session.conn();
                match conn.reader().read(out) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The peer closed without close_notify: end of stream.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(e) => return Err(e),
                }
                if self.start < self.end {
                    let mut pending = &self.buf[self.start..self.end];
                    let taken = conn.read_tls(&mut pending)?;
                    self.start += taken;
                    conn.process_new_packets().map_err(io::Error::other)?;
                    if conn.wants_write() {
                        // A reply the session owes (a key update): queue it
                        // in order, then send it without the session lock.
                        let mut outgoing = self.session.out();
                        Session::queue_records(&mut conn, &mut outgoing)?;
                        drop(conn);
                        let _ = outgoing.send();
                    }
                    continue;
                }
            }
            // Block on the socket with no lock held.
            let n = self.sock.read(&mut self.buf)?;
            if n == 0 {
                return Ok(0);
            }
            (self.start, self.end) = (0, n);
        }
    }
}

/// The writing half of a split TLS session.
pub(crate) struct TlsWriter {
    session: Arc<Session>,
}

impl TlsWriter {
    pub(crate) fn set_write_timeout(&self, t: Option<std::time::Duration>) -> io::Result<()> {
        self.session.out().sock.set_write_timeout(t)
    }
}

impl Write for TlsWriter {
    /// Encrypts up to [`WRITE_SLICE`] bytes and starts sending them. Records
    /// still queued are sent first; `flush` sends the rest.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.session.out().send()?;
        let mut conn = self.session.conn();
        let n = conn.writer().write(&buf[..buf.len().min(WRITE_SLICE)])?;
        let mut outgoing = self.session.out();
        Session::queue_records(&mut conn, &mut outgoing)?;
        drop(conn);
        match outgoing.send() {
            Err(e)
                if !matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(e)
            }
            _ => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.session.out().send()
    }
}
