//! `--compare`'s flags: refused without it, and turned into its
//! [`CompareOptions`]: the target from `--target` (its TLS from the TLS
//! flags, as the source's), the filters and the source as `--dump` takes
//! them.

use super::{Args, dump_options, uri_names_db};
use rload::compare::CompareOptions;
use rload::config::{ServerConfig, TlsVerify, redact_uri};
use rload::error::Error;
use rload::input::Input;

impl Args {
    /// `--compare`'s flags are refused without it, and `--target` is
    /// needed with it.
    pub(super) fn refuse_compare_flags(&self) -> Result<(), Error> {
        if self.compare {
            if self.target.is_none() {
                return Err(Error::Config(
                    "--compare needs --target URI, the server to compare the source with".into(),
                ));
            }
            return Ok(());
        }
        for (flag, given) in [
            ("--target", self.target.is_some()),
            ("--target-cluster", self.target_cluster),
            ("--ttl-tolerance", self.ttl_tolerance != 1000),
            ("--recheck", self.recheck != 0),
            ("--repair-output", self.repair_output.is_some()),
        ] {
            if given {
                return Err(Error::Config(format!(
                    "{flag} is for --compare, which compares two databases"
                )));
            }
        }
        Ok(())
    }

    /// `--compare`'s target, from `--target`: its TLS (a `rediss://` URI)
    /// takes the TLS flags, as the source's does; and whether its URI
    /// carries a password (for redis-cli's warning).
    pub(super) fn target_server(
        &self,
        verify: Option<TlsVerify>,
    ) -> Result<(Option<ServerConfig>, bool), Error> {
        let Some(uri) = &self.target else {
            return Ok((None, false));
        };
        let mut target = ServerConfig::default();
        target.apply_uri(uri)?;
        if uri_names_db(uri) {
            return Err(Error::Config(format!(
                "--target {}: name the database with -n, which applies to both sides",
                redact_uri(uri)
            )));
        }
        if let Some(tls) = &mut target.tls {
            tls.ca_cert = self.cacert.clone();
            tls.ca_cert_dir = self.cacertdir.clone();
            tls.cert = self.cert.clone();
            tls.key = self.key.clone();
            tls.sni = self.sni.clone();
            tls.verify = verify.unwrap_or_default();
        }
        Ok((Some(target), redact_uri(uri) != *uri))
    }

    /// `--compare`'s settings, but for what the caller takes from the
    /// source's connection: the target's `-t` and `--wait`, and `-n`.
    pub(super) fn compare_options(&self, target: ServerConfig) -> Result<CompareOptions, Error> {
        let input = match self.files.as_slice() {
            [] => None,
            [one] if one == "-" => Some(Input::Stdin),
            [one] => Some(Input::File(one.into())),
            _ => {
                return Err(Error::Config(
                    "--compare reads a server, or one RDB file, as the source: give one FILE at most".into(),
                ));
            }
        };
        if input.is_some() && (self.scan || self.cluster) {
            return Err(Error::Config(
                "--scan and -c are for a source server; an RDB file is read whole".into(),
            ));
        }
        let options = dump_options(None, self.pattern.clone(), self.types.clone(), None)?;
        Ok(CompareOptions {
            target,
            target_cluster: self.target_cluster,
            ttl_tolerance_ms: self.ttl_tolerance,
            pattern: options.pattern,
            types: options.types,
            db: None,
            input,
            scan: self.scan,
            recheck: self.recheck,
            repair_output: self.repair_output.clone(),
        })
    }
}
