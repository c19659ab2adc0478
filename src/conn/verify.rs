//! Verifying the server's certificate as `--tls-verify` asks: `full` checks
//! the chain to a trusted CA and the host name, `ca` the chain only (as
//! redis-cli does), `none` nothing.
//!
//! `full` and `ca` are rustls's `WebPkiServerVerifier`, with two changes:
//!
//! - A certificate that is itself one of the certificates given with
//!   `--cacert` or `--cacertdir`, byte for byte, is trusted as it is. This
//!   is how a self-signed certificate is used, and `openssl req -x509`
//!   marks those `CA:TRUE`, which webpki refuses in a server
//!   (`CaUsedAsEndEntity`). Its dates, and under `full` the host name, are
//!   still checked, and the handshake's signatures still verified.
//! - A certificate not valid for the host name says why: it has no
//!   subjectAltName (rustls, like browsers, never uses the common name), or
//!   it lists the names it is valid for.
//!
//! `ca` ignores only a name mismatch. rustls checks the chain before the
//! name, and returns the first failure, so a name mismatch means the chain
//! was verified.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_name};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};

use super::x509;

/// Why rload refused a certificate that rustls's own errors do not
/// explain; `tls::describe` shows it as it is.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Rejected {
    /// Not valid for the name, and no subjectAltName to be valid for any.
    #[error(
        "the server's certificate is not valid for {name}: it has no subjectAltName, and its common name does not count (--tls-verify ca checks the chain only, as redis-cli does)"
    )]
    NoAltNames {
        /// The name verified.
        name: String,
    },
    /// Not valid for the name, and its subjectAltName names no host.
    #[error(
        "the server's certificate is not valid for {name}: its subjectAltName names no host (--tls-verify ca checks the chain only, as redis-cli does)"
    )]
    NoHostNames {
        /// The name verified.
        name: String,
    },
    /// Valid for other names.
    #[error(
        "the server's certificate is not valid for {name}: it is valid for: {names} (--sni names the host to verify; --tls-verify ca checks the chain only, as redis-cli does)"
    )]
    OtherNames {
        /// The name verified.
        name: String,
        /// The names it has, as OpenSSL prints them.
        names: String,
    },
    /// A CA certificate presented as the server's, and not trusted as is.
    #[error(
        "the server's certificate is a CA certificate (CA:TRUE) that is not among those given with --cacert or --cacertdir (to trust a self-signed certificate, give that certificate itself with --cacert)"
    )]
    UntrustedCa,
}

impl From<Rejected> for rustls::Error {
    fn from(r: Rejected) -> Self {
        CertificateError::Other(OtherError(Arc::new(r))).into()
    }
}

/// `--tls-verify full` or `ca`: the chain, and the host name if `full`.
#[derive(Debug)]
pub(crate) struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates given with `--cacert` and `--cacertdir`.
    given: Vec<CertificateDer<'static>>,
    check_name: bool,
}

impl Verifier {
    /// Verifies against `roots`, trusting any of `given` as it is, and
    /// checking the host name if `check_name`.
    pub(crate) fn new(
        roots: RootCertStore,
        given: Vec<CertificateDer<'static>>,
        check_name: bool,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, String> {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Verifier {
            webpki,
            given,
            check_name,
        })
    }

    /// Checks a certificate webpki refused as a CA: trusted only if it is
    /// one of those given, and then only within its dates and, under
    /// `full`, for the name.
    fn verify_given(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.given.iter().any(|c| c.as_ref() == end_entity.as_ref()) {
            return Err(Rejected::UntrustedCa.into());
        }
        let cert = x509::Certificate::parse(end_entity).ok_or(CertificateError::BadEncoding)?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now < cert.not_before {
            return Err(CertificateError::NotValidYet.into());
        }
        if now > cert.not_after {
            return Err(CertificateError::Expired.into());
        }
        if self.check_name {
            let parsed = ParsedCertificate::try_from(end_entity)?;
            verify_server_name(&parsed, server_name)
                .map_err(|e| explain_name_error(e, end_entity, server_name))?;
        }
        Ok(ServerCertVerified::assertion())
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict =
            self.webpki
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        match verdict {
            Err(e) if is_name_error(&e) && !self.check_name => Ok(ServerCertVerified::assertion()),
            Err(e) if is_name_error(&e) => Err(explain_name_error(e, end_entity, server_name)),
            Err(e) if is_ca_as_end_entity(&e) => self.verify_given(end_entity, server_name, now),
            verdict => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

fn is_name_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

fn is_ca_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// A name mismatch, with the names the certificate does have; `e` as it
/// is if the certificate cannot be read.
fn explain_name_error(
    e: rustls::Error,
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
) -> rustls::Error {
    let Some(cert) = x509::Certificate::parse(end_entity) else {
        return e;
    };
    let name = server_name.to_str().into_owned();
    match cert.alt_names {
        None => Rejected::NoAltNames { name },
        Some(names) if names.is_empty() => Rejected::NoHostNames { name },
        Some(names) => Rejected::OtherNames {
            name,
            names: names.join(", "),
        },
    }
    .into()
}

/// `--tls-verify none`: accepts any certificate. Signatures are still
/// checked, so the handshake itself is sound.
#[derive(Debug)]
pub(crate) struct NoVerification(pub(crate) Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
