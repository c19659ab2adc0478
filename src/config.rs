//! Validated settings: where the server is, how to log in, and how a run
//! behaves; and the handles a run is given beside them ([`Handles`]: the
//! interrupt a signal requests, the meter a progress display reads).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::interrupt::Interrupt;
use crate::meter::Meter;

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP host and port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port number.
        port: u16,
    },
    /// A unix domain socket path.
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Endpoint::Tcp { host, port } => write!(f, "{host}:{port}"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A password, which never appears in `Debug` output or any message.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }

    /// The password itself, for the AUTH command only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// How much of the server's certificate to verify (`--tls-verify`), named
/// after PostgreSQL's `sslmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsVerify {
    /// The chain to a trusted CA, and that the certificate is valid for the
    /// host name (or `--sni`): stricter than redis-cli.
    #[default]
    Full,
    /// The chain to a trusted CA only, as redis-cli does.
    Ca,
    /// Nothing: any certificate is accepted (`--insecure`).
    None,
}

/// TLS settings, as redis-cli names them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificate file that signs the server's certificate.
    pub ca_cert: Option<PathBuf>,
    /// Directory of CA certificates.
    pub ca_cert_dir: Option<PathBuf>,
    /// Client certificate, for mutual TLS.
    pub cert: Option<PathBuf>,
    /// Client private key, for mutual TLS.
    pub key: Option<PathBuf>,
    /// Server name to send and verify, instead of the host.
    pub sni: Option<String>,
    /// How much of the server's certificate to verify.
    pub verify: TlsVerify,
}

/// How to reach and log in to one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where the server listens.
    pub endpoint: Endpoint,
    /// ACL user name for AUTH.
    pub user: Option<String>,
    /// Password for AUTH.
    pub password: Option<Password>,
    /// Database to SELECT after connecting.
    pub db: u32,
    /// Switch to RESP3 with HELLO 3.
    pub resp3: bool,
    /// TLS, when enabled.
    pub tls: Option<TlsConfig>,
    /// Limit on connecting and on each setup command.
    pub connect_timeout: Option<Duration>,
    /// `--wait`: how long the first connection keeps trying while the
    /// server is not up yet (refused, loading, a cluster not ready);
    /// `None` tries once.
    pub wait: Option<Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            endpoint: Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 6379,
            },
            user: None,
            password: None,
            db: 0,
            resp3: false,
            tls: None,
            connect_timeout: Some(Duration::from_secs(30)),
            wait: None,
        }
    }
}

impl ServerConfig {
    /// The server's address, for messages: `host:port` or the socket path.
    pub fn addr(&self) -> String {
        self.endpoint.to_string()
    }

    /// Applies a `redis://[user[:password]@]host[:port][/db]` or `rediss://`
    /// URI, as redis-cli's `-u` does. User and password are percent-decoded.
    ///
    /// # Errors
    ///
    /// A URI that is not of that form; the message never shows the password.
    pub fn apply_uri(&mut self, uri: &str) -> Result<(), Error> {
        let bad = |why: &str| Error::Config(format!("invalid URI {}: {why}", redact_uri(uri)));
        let (tls, rest) = if let Some(r) = uri.strip_prefix("redis://") {
            (false, r)
        } else if let Some(r) = uri.strip_prefix("rediss://") {
            (true, r)
        } else {
            return Err(bad("it must start with redis:// or rediss://"));
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(info) = userinfo {
            // As redis-cli reads it: `user:password`, or a lone password.
            let (user, pass) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => ("", Some(info)),
            };
            if !user.is_empty() {
                self.user =
                    Some(percent_decode(user).ok_or_else(|| bad("bad %-escape in the user"))?);
            }
            if let Some(p) = pass {
                self.password = Some(Password(
                    percent_decode(p).ok_or_else(|| bad("bad %-escape in the password"))?,
                ));
            }
        }
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        let port = port.unwrap_or(6379);
        if !host.is_empty() {
            self.endpoint = Endpoint::Tcp { host, port };
        } else if let Endpoint::Tcp { port: p, .. } = &mut self.endpoint {
            *p = port;
        }
        let db = path.split(['?', '#']).next().unwrap_or("");
        if !db.is_empty() {
            self.db = db
                .parse()
                .map_err(|_| bad("the path must be a database number"))?;
        }
        if tls && self.tls.is_none() {
            self.tls = Some(TlsConfig::default());
        }
        Ok(())
    }
}

/// Splits `host[:port]` or `[v6]:port`; `None` on a malformed port.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(v6) = s.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if rest.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((s.to_string(), None)),
    }
}

/// `s` with its `%XX` escapes decoded, as URIs carry them; `None` for a
/// malformed escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The URI with any password replaced by `***`, for messages.
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://").map(|i| i + 3) else {
        return uri.to_string();
    };
    let rest = &uri[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &uri[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            // A lone userinfo is a password.
            None => format!("{}***{}", &uri[..scheme_end], &rest[at..]),
        },
        None => uri.to_string(),
    }
}

/// The settings every run shares, whatever its mode: the server (or the
/// cluster node to discover one from), how patient to be with it, and how
/// to load. What a mode reads and writes is its own options' business
/// (a load's `LoadOptions`, a dump's `DumpOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The server, or in cluster mode the node to discover the cluster from.
    pub server: ServerConfig,
    /// How long to wait with no reply while rload is waiting on the server;
    /// `None` waits forever.
    pub pipe_timeout: Option<Duration>,
    /// Skip this many commands of the input before sending: the number a
    /// failed run reported as done.
    pub resume_from: u64,
    /// Reconnect up to this many times after a lost connection, replaying
    /// the commands the server had not acknowledged.
    pub reconnect: u32,
    /// Stop reading the input once this many errors (error replies and
    /// skipped invalid commands) have been counted.
    pub max_errors: Option<u64>,
    /// Count invalid input commands as errors and carry on, instead of
    /// stopping at the first.
    pub skip_invalid: bool,
    /// Treat the server as a node of a Redis Cluster: route each command to
    /// the master that owns its keys' slot.
    pub cluster: bool,
    /// Send at most this many commands per second (a dump: read at most
    /// this many keys per second); `None` is as fast as the server goes.
    pub rate: Option<u64>,
    /// Merge commands into variadic ones (`--coalesce`): `RPUSH`, `SADD`,
    /// `HSET`... on one key into one command, plain `SET`s into `MSET`.
    pub coalesce: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            pipe_timeout: Some(Duration::from_secs(30)),
            resume_from: 0,
            reconnect: 0,
            max_errors: None,
            skip_invalid: false,
            cluster: false,
            rate: None,
            coalesce: false,
        }
    }
}

/// What a run is given beside its [`Config`]: handles shared with whoever
/// started it, not settings.
#[derive(Clone, Debug, Default)]
pub struct Handles {
    /// Asks the run to stop early (a signal): a load stops reading its
    /// input, drains what is in flight, and gives its account.
    pub interrupt: Interrupt,
    /// Counts the run as it goes, for a progress display.
    pub meter: Meter,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> ServerConfig {
        let mut c = ServerConfig::default();
        c.apply_uri(s).unwrap();
        c
    }

    #[test]
    fn applies_a_full_uri() {
        let c = uri("redis://alice:s%40cret@example.com:7000/3");
        assert_eq!(
            c.endpoint,
            Endpoint::Tcp {
                host: "example.com".into(),
                port: 7000
            }
        );
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("s@cret"));
        assert_eq!(c.db, 3);
        assert!(c.tls.is_none());
    }

    #[test]
    fn applies_a_password_only_uri_and_ipv6() {
        let c = uri("rediss://:pw@[::1]:6380");
        assert_eq!(
            c.endpoint,
            Endpoint::Tcp {
                host: "::1".into(),
                port: 6380
            }
        );
        assert_eq!(c.user, None);
        assert_eq!(c.password.as_ref().map(Password::expose), Some("pw"));
        assert!(c.tls.is_some());
        assert_eq!(c.endpoint.to_string(), "[::1]:6380");
    }

    #[test]
    fn a_lone_userinfo_is_the_password_as_in_redis_cli() {
        let c = uri("redis://SECRET@h:1");
        assert_eq!(c.user, None);
        assert_eq!(c.password.as_ref().map(Password::expose), Some("SECRET"));
        assert_eq!(redact_uri("redis://SECRET@h:1"), "redis://***@h:1");
    }

    #[test]
    fn defaults_the_port() {
        assert_eq!(
            uri("redis://h").endpoint,
            Endpoint::Tcp {
                host: "h".into(),
                port: 6379
            }
        );
    }

    #[test]
    fn rejects_bad_uris_without_showing_the_password() {
        for bad in [
            "http://h",
            "redis://u:hunter2@h:port",
            "redis://u:hunter2@h/db",
        ] {
            let e = ServerConfig::default()
                .apply_uri(bad)
                .unwrap_err()
                .to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.starts_with("invalid URI"), "{e}");
        }
    }

    #[test]
    fn passwords_never_show_in_debug() {
        let c = uri("redis://u:hunter2@h");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(redact_uri("redis://u:hunter2@h:1/2"), "redis://u:***@h:1/2");
    }
}
