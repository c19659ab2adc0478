//! Keyword options onto [`rload::Config`], named as the binary's flags
//! are (`tls_verify` for `--tls-verify`...), applied in the binary's
//! order: the URL first, explicit options over it, `REDISCLI_AUTH` when no
//! password is given.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rload::Config;
use rload::config::{Endpoint, Password, ServerConfig, TlsConfig, TlsVerify};

use crate::errors::config;

/// Every option a connection or a load takes; anything else is refused.
pub const KNOWN: &[&str] = &[
    "url",
    "host",
    "port",
    "unix_socket",
    "user",
    "password",
    "db",
    "resp3",
    "tls",
    "tls_ca_cert",
    "tls_ca_cert_dir",
    "tls_cert",
    "tls_key",
    "tls_sni",
    "tls_verify",
    "cluster",
    "connect_timeout",
    "pipe_timeout",
    "wait",
    "reconnect",
    "max_errors",
    "skip_invalid",
    "coalesce",
    "rate",
    "resume_from",
];

/// The options given, taken one by one; what is left is unknown.
struct Given<'py>(Bound<'py, PyDict>);

impl<'py> Given<'py> {
    fn take<T: FromPyObjectOwned<'py>>(&self, name: &str) -> PyResult<Option<T>> {
        let Some(value) = self.0.get_item(name)? else {
            return Ok(None);
        };
        self.0.del_item(name)?;
        if value.is_none() {
            return Ok(None);
        }
        value.extract::<T>().map(Some).map_err(|_| {
            let got = value
                .get_type()
                .name()
                .map_or_else(|_| "?".to_string(), |n| n.to_string());
            config(format!("{name}: expected {}, got {got}", expected::<T>()))
        })
    }

    fn flag(&self, name: &str) -> PyResult<bool> {
        Ok(self.take::<bool>(name)?.unwrap_or(false))
    }
}

fn expected<T>() -> &'static str {
    let t = std::any::type_name::<T>();
    if t.contains("bool") {
        "a bool"
    } else if t.contains("f64") {
        "a number of seconds"
    } else if t.contains("u16") || t.contains("u32") || t.contains("u64") {
        "a whole number, 0 or more"
    } else {
        "a str"
    }
}

/// Seconds as an optional limit: 0 is none, as the binary's `-t 0`.
fn seconds(name: &str, s: Option<f64>, default: Option<Duration>) -> PyResult<Option<Duration>> {
    match s {
        None => Ok(default),
        Some(s) if !(s.is_finite() && s >= 0.0) => Err(config(format!(
            "{name}={s}: give a number of seconds, 0 or more (0: no limit)"
        ))),
        Some(s) => Ok((s > 0.0).then(|| Duration::from_secs_f64(s))),
    }
}

fn verify(text: &str) -> PyResult<TlsVerify> {
    match text {
        "full" => Ok(TlsVerify::Full),
        "ca" => Ok(TlsVerify::Ca),
        "none" => Ok(TlsVerify::None),
        other => Err(config(format!(
            "tls_verify={other:?}: give \"full\" (the chain and the host name), \"ca\" (the chain only) or \"none\""
        ))),
    }
}

/// The server options: where, how to log in, TLS.
fn server(given: &Given<'_>) -> PyResult<ServerConfig> {
    let mut server = ServerConfig::default();
    if let Some(url) = given.take::<String>("url")? {
        server.apply_uri(&url).map_err(crate::errors::to_py)?;
    }
    if let Some(host) = given.take::<String>("host")? {
        let port = match &server.endpoint {
            Endpoint::Tcp { port, .. } => *port,
            Endpoint::Unix(_) => 6379,
        };
        server.endpoint = Endpoint::Tcp { host, port };
    }
    if let Some(port) = given.take::<u16>("port")? {
        let host = match &server.endpoint {
            Endpoint::Tcp { host, .. } => host.clone(),
            Endpoint::Unix(_) => "127.0.0.1".into(),
        };
        server.endpoint = Endpoint::Tcp { host, port };
    }
    if let Some(path) = given.take::<PathBuf>("unix_socket")? {
        server.endpoint = Endpoint::Unix(path);
    }
    if let Some(pw) = given.take::<String>("password")? {
        server.password = Some(Password::new(pw));
    } else if server.password.is_none()
        && let Ok(pw) = std::env::var("REDISCLI_AUTH")
    {
        server.password = Some(Password::new(pw));
    }
    if let Some(user) = given.take::<String>("user")? {
        server.user = Some(user);
    }
    if let Some(db) = given.take::<u32>("db")? {
        server.db = db;
    }
    server.resp3 |= given.flag("resp3")?;
    tls(given, &mut server)?;
    server.connect_timeout = seconds(
        "connect_timeout",
        given.take("connect_timeout")?,
        server.connect_timeout,
    )?;
    server.wait = seconds("wait", given.take("wait")?, None)?;
    Ok(server)
}

fn tls(given: &Given<'_>, server: &mut ServerConfig) -> PyResult<()> {
    let ca_cert = given.take::<PathBuf>("tls_ca_cert")?;
    let ca_cert_dir = given.take::<PathBuf>("tls_ca_cert_dir")?;
    let cert = given.take::<PathBuf>("tls_cert")?;
    let key = given.take::<PathBuf>("tls_key")?;
    let sni = given.take::<String>("tls_sni")?;
    let verify = given
        .take::<String>("tls_verify")?
        .map(|v| verify(&v))
        .transpose()?;
    let any = ca_cert.is_some()
        || ca_cert_dir.is_some()
        || cert.is_some()
        || key.is_some()
        || sni.is_some()
        || verify.is_some();
    if given.flag("tls")? && server.tls.is_none() {
        server.tls = Some(TlsConfig::default());
    }
    match &mut server.tls {
        Some(tls) => {
            tls.ca_cert = ca_cert.or(tls.ca_cert.take());
            tls.ca_cert_dir = ca_cert_dir.or(tls.ca_cert_dir.take());
            tls.cert = cert.or(tls.cert.take());
            tls.key = key.or(tls.key.take());
            tls.sni = sni.or(tls.sni.take());
            tls.verify = verify.unwrap_or(tls.verify);
        }
        None if any => {
            return Err(config(
                "TLS options need tls=True (or a rediss:// URL); without it the connection would not be encrypted",
            ));
        }
        None => {}
    }
    if matches!(
        (&server.tls, &server.endpoint),
        (Some(_), Endpoint::Unix(_))
    ) {
        return Err(config(
            "TLS needs a TCP connection: unix_socket and tls do not go together",
        ));
    }
    Ok(())
}

/// The settings `options` give. Unknown names are refused, with the list
/// of known ones.
pub fn to_config(options: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let py = options.map(|o| o.py());
    let given = match (options, py) {
        (Some(o), Some(_)) => Given(o.copy()?),
        _ => return Ok(Config::default()),
    };
    let server = server(&given)?;
    let pipe_timeout = seconds(
        "pipe_timeout",
        given.take("pipe_timeout")?,
        Config::default().pipe_timeout,
    )?;
    let rate = given.take::<u64>("rate")?;
    if rate == Some(0) {
        return Err(config("rate=0: give the most commands a second, 1 or more"));
    }
    let config_ = Config {
        server,
        pipe_timeout,
        reconnect: given.take::<u32>("reconnect")?.unwrap_or(0),
        max_errors: given.take::<u64>("max_errors")?,
        skip_invalid: given.flag("skip_invalid")?,
        cluster: given.flag("cluster")?,
        rate,
        coalesce: given.flag("coalesce")?,
        resume_from: given.take::<u64>("resume_from")?.unwrap_or(0),
    };
    if let Some((name, _)) = given.0.iter().next() {
        let name = name
            .cast::<PyString>()
            .map_or_else(|_| "?".to_string(), |s| s.to_string());
        return Err(config(format!(
            "unknown option {name:?}; the options are: {}",
            KNOWN.join(", ")
        )));
    }
    Ok(config_)
}
