//! Certificates as users and Redis make them, with the `openssl` command
//! line, against `redis-server --tls-port`: a self-signed certificate
//! (which `openssl req -x509` marks CA:TRUE), Redis's own test certificates
//! (`utils/gen-test-certs.sh`: no subjectAltName, and a version 1
//! certificate for clients), and the three modes of `--tls-verify`.

use std::process::Command;

use tempfile::TempDir;

use crate::support::{Certs, Redis, Run, rload};

/// `rload --pipe -p PORT --tls` plus `extra`, loading `SET k v`.
fn rload_tls(port: u16, extra: &[&str]) -> Run {
    let port = port.to_string();
    let mut args = vec!["--pipe", "-p", &port, "--tls"];
    args.extend_from_slice(extra);
    rload(&args, "SET k v\n")
}

/// A directory of keys and certificates made by the `openssl` command.
/// Keys are RSA 2048 (gen-test-certs.sh gives its CA 4096), to keep the
/// tests cheap.
struct OpenSsl {
    dir: TempDir,
}

impl OpenSsl {
    fn new() -> OpenSsl {
        let dir = tempfile::Builder::new()
            .prefix("rload-openssl-")
            .tempdir()
            .expect("temp dir");
        OpenSsl { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Runs `openssl` in the directory with the space-separated `words`,
    /// then `args`; returns its stdout.
    fn run(&self, words: &str, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(words.split(' '))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl must be installed (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {words} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `openssl x509 -text` of `name.crt`.
    fn text(&self, name: &str) -> String {
        self.run("x509 -noout -text -in", &[&format!("{name}.crt")])
    }

    /// `name.crt` and `name.key`: a self-signed certificate for localhost
    /// and 127.0.0.1, the way its man page and most guides make one.
    fn self_signed(&self, name: &str) {
        let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
        self.run(
            "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost",
            &[
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
                &key,
                "-out",
                &crt,
            ],
        );
    }

    /// `name.crt` and `name.key`: a CA, as gen-test-certs.sh makes it.
    fn ca(&self, name: &str) {
        let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
        self.run("genrsa -out", &[&key, "2048"]);
        let subject = "/O=Redis Test/CN=Certificate Authority";
        self.run(
            "req -x509 -new -nodes -sha256 -days 2",
            &["-key", &key, "-subj", subject, "-out", &crt],
        );
    }

    /// `name.crt` and `name.key`, signed by the CA `ca` as gen-test-certs.sh
    /// does it, with the extensions in `extensions` (the lines of an
    /// extfile section), or with none: then `openssl x509 -req` makes an
    /// X.509 version 1 certificate.
    fn signed(&self, name: &str, cn: &str, ca: &str, extensions: Option<&str>) {
        let [crt, key, csr, extfile] = ["crt", "key", "csr", "cnf"].map(|e| format!("{name}.{e}"));
        self.run("genrsa -out", &[&key, "2048"]);
        let subject = format!("/O=Redis Test/CN={cn}");
        self.run(
            "req -new -sha256",
            &["-subj", &subject, "-key", &key, "-out", &csr],
        );
        let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
        let mut args = vec!["-CA", &ca_crt, "-CAkey", &ca_key, "-in", &csr, "-out", &crt];
        if let Some(lines) = extensions {
            std::fs::write(self.path(&extfile), format!("[ ext ]\n{lines}\n")).expect("extfile");
            args.extend(["-extfile", &extfile, "-extensions", "ext"]);
        }
        self.run(
            "x509 -req -sha256 -CAserial ca.txt -CAcreateserial -days 2",
            &args,
        );
    }
}

#[test]
fn a_self_signed_certificate_given_with_cacert_is_trusted_for_its_names() {
    let ssl = OpenSsl::new();
    ssl.self_signed("self");
    ssl.self_signed("stranger");
    assert!(ssl.text("self").contains("CA:TRUE"));
    let (cert, key) = (ssl.path("self.crt"), ssl.path("self.key"));
    let (redis, port) = Redis::start_tls_files(&cert, &key, &cert, false);
    let run = rload_tls(port, &["--cacert", &cert]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.dbsize(), 1);
    // The host name is still checked, and the message lists the names.
    let run = rload_tls(port, &["--cacert", &cert, "--sni", "other.example"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(
            "the server's certificate is not valid for other.example: it is valid for: DNS:localhost, IP:127.0.0.1 (--sni names the host to verify; --tls-verify ca checks"
        ),
        "{run:?}"
    );
    // Only that certificate itself is trusted, not another self-signed one.
    let run = rload_tls(port, &["--cacert", &ssl.path("stranger.crt")]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr
            .contains("is a CA certificate (CA:TRUE) that is not among those given"),
        "{run:?}"
    );
}

/// gen-test-certs.sh's server certificate: keyUsage and nsCertType only.
const SERVER_ONLY: &str = "keyUsage = digitalSignature, keyEncipherment\nnsCertType = server";

#[test]
fn a_certificate_without_alt_names_needs_tls_verify_ca_or_none() {
    let ssl = OpenSsl::new();
    ssl.ca("ca");
    ssl.ca("other-ca"); // the same name, another key
    ssl.signed("server", "Server-only", "ca", Some(SERVER_ONLY));
    assert!(!ssl.text("server").contains("Subject Alternative Name"));
    let (ca, other_ca) = (ssl.path("ca.crt"), ssl.path("other-ca.crt"));
    let (redis, port) =
        Redis::start_tls_files(&ssl.path("server.crt"), &ssl.path("server.key"), &ca, false);
    let full = rload_tls(port, &["--cacert", &ca]);
    assert_eq!(full.code, 4, "{full:?}");
    assert!(
        full.stderr.contains(&format!(
            "TLS with 127.0.0.1:{port} failed: the server's certificate is not valid for 127.0.0.1: it has no subjectAltName"
        )) && full.stderr.contains("--tls-verify ca checks the chain only"),
        "{full:?}"
    );
    // --sni cannot help a certificate with no names.
    assert!(!full.stderr.contains("--sni"), "{full:?}");
    assert_eq!(redis.dbsize(), 0);
    let ca_only = rload_tls(port, &["--cacert", &ca, "--tls-verify", "ca"]);
    assert_eq!(ca_only.code, 0, "{ca_only:?}");
    assert_eq!(redis.dbsize(), 1);
    // The chain is still verified under ca: against a CA made again under
    // the same name, and against an unrelated one.
    let remade = rload_tls(port, &["--cacert", &other_ca, "--tls-verify", "ca"]);
    assert_eq!(remade.code, 4, "{remade:?}");
    assert!(
        remade.stderr.contains("but that CA's key did not sign it"),
        "{remade:?}"
    );
    let unrelated = Certs::generate();
    let unrelated = unrelated.path("other-ca.crt");
    let unknown = rload_tls(port, &["--cacert", &unrelated, "--tls-verify", "ca"]);
    assert_eq!(unknown.code, 4, "{unknown:?}");
    assert!(
        unknown.stderr.contains("not signed by a trusted CA"),
        "{unknown:?}"
    );
    let none = rload_tls(port, &["--tls-verify", "none"]);
    assert_eq!(none.code, 0, "{none:?}");
}

#[test]
fn a_v1_client_certificate_loads_and_a_key_not_its_own_is_named() {
    let ssl = OpenSsl::new();
    ssl.ca("ca");
    let san = "subjectAltName = DNS:localhost, IP:127.0.0.1";
    ssl.signed("server", "Server-only", "ca", Some(san));
    // gen-test-certs.sh's "redis" certificate, which Redis's tests use as a
    // client certificate too: no extensions, so version 1.
    ssl.signed("client", "Generic-cert", "ca", None);
    assert!(ssl.text("client").contains("Version: 1 (0x0)"));
    let ca = ssl.path("ca.crt");
    let (redis, port) =
        Redis::start_tls_files(&ssl.path("server.crt"), &ssl.path("server.key"), &ca, true);
    let (cert, key) = (ssl.path("client.crt"), ssl.path("client.key"));
    let run = rload_tls(port, &["--cacert", &ca, "--cert", &cert, "--key", &key]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.dbsize(), 1);
    let wrong_key = ssl.path("server.key");
    let run = rload_tls(
        port,
        &["--cacert", &ca, "--cert", &cert, "--key", &wrong_key],
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "the key in {wrong_key} does not belong to the certificate in {cert}"
        )),
        "{run:?}"
    );
}
