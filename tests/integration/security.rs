//! TLS against `redis-server --tls-port` with certificates made at test time,
//! and passwords: never shown, never required on the command line.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Background, Certs, Redis, Run, rload, run_with, set_lines, wait_until};

/// `rload --pipe --tls` to `port`, trusting the CA in the file `ca`, with
/// `extra` flags.
fn rload_tls(port: &str, ca: &str, extra: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    let mut args = vec!["--pipe", "-p", port, "--tls", "--cacert", ca];
    args.extend_from_slice(extra);
    rload(&args, stdin)
}

#[test]
fn loads_over_mutual_tls() {
    let certs = Certs::generate();
    let (redis, tls_port) = Redis::start_tls(&certs, true);
    let port = tls_port.to_string();
    let (ca, cert, key) = (
        certs.path("ca.crt"),
        certs.path("client.crt"),
        certs.path("client.key"),
    );
    let run = rload_tls(
        &port,
        &ca,
        &["--cert", &cert, "--key", &key],
        set_lines(0..200_000),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 200_000));
    assert_eq!(redis.dbsize(), 200_000);
}

#[test]
fn loads_with_a_rediss_uri() {
    let certs = Certs::generate();
    let (redis, tls_port) = Redis::start_tls(&certs, false);
    let uri = format!("rediss://localhost:{tls_port}/3");
    let run = rload(
        &["--pipe", "-u", &uri, "--cacert", &certs.path("ca.crt")],
        "SET k v\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["-n", "3", "GET", "k"]), "v");
}

#[test]
fn a_certificate_from_an_unknown_ca_is_rejected() {
    let certs = Certs::generate();
    let (redis, tls_port) = Redis::start_tls(&certs, false);
    let port = tls_port.to_string();
    let run = rload_tls(&port, &certs.path("other-ca.crt"), &[], "SET k v\n");
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(&format!("TLS with 127.0.0.1:{port} failed: the server's certificate is not signed by a trusted CA")),
        "{run:?}"
    );
    assert_eq!(redis.dbsize(), 0);
    // --insecure is the explicit way past verification.
    let run = rload(&["--pipe", "-p", &port, "--tls", "--insecure"], "SET k v\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.dbsize(), 1);
}

#[test]
fn a_missing_client_certificate_is_rejected() {
    let certs = Certs::generate();
    let (redis, tls_port) = Redis::start_tls(&certs, true);
    let port = tls_port.to_string();
    let run = rload_tls(&port, &certs.path("ca.crt"), &[], "SET k v\n");
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("client certificate"), "{run:?}");
    assert_eq!(redis.dbsize(), 0);
}

#[test]
fn the_server_name_is_verified() {
    let certs = Certs::generate();
    let (_redis, tls_port) = Redis::start_tls(&certs, false);
    let port = tls_port.to_string();
    let run = rload_tls(
        &port,
        &certs.path("ca.crt"),
        &["--sni", "elsewhere.example"],
        "PING\n",
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(
            "not valid for elsewhere.example: it is valid for: DNS:localhost, IP:127.0.0.1"
        ),
        "{run:?}"
    );
}

/// The plain port waits for the end of a command, so it never answers the
/// ClientHello: the handshake's own bound (5 s) ends the wait, not the
/// default -t of 30 s.
#[test]
fn tls_to_a_plain_port_fails_clearly() {
    let certs = Certs::generate();
    let (redis, _) = Redis::start_tls(&certs, false);
    let port = redis.port.to_string();
    let started = Instant::now();
    let run = rload_tls(&port, &certs.path("ca.crt"), &[], "PING\n");
    assert!(started.elapsed() < Duration::from_secs(15), "{run:?}");
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "TLS with 127.0.0.1:{port} failed: the server did not answer the TLS handshake within 5 s (is this its TLS port?)"
        )),
        "{run:?}"
    );
}

/// A password given with -a, in a URI, or in REDISCLI_AUTH must not appear
/// in any output: not in errors, summaries, nor the resume command.
#[test]
fn no_password_appears_in_any_message() {
    const SECRET: &str = "pw-Zebra-7731";
    let mut redis = Redis::start_with(&["--requirepass", SECRET]);
    let port = redis.port.to_string();
    let uri = format!("redis://:{SECRET}@127.0.0.1:{port}");
    let bad_uri = format!("redis://:{SECRET}@127.0.0.1:notaport");
    let mut outputs = vec![
        rload(
            &["--pipe", "-p", &port, "-a", "wrong-pw-Zebra"],
            "SET k v\n",
        ),
        rload(&["--pipe", "-p", &port, "-a", SECRET], "SET k v\nINCR k\n"),
        rload(&["--pipe", "-u", &uri], "SET k v\nSET \"bad\n"),
        rload(&["--pipe", "-u", &bad_uri], "SET k v\n"),
        run_with(
            Command::new(env!("CARGO_BIN_EXE_rload"))
                .args(["--pipe", "-p", &port])
                .env("REDISCLI_AUTH", SECRET),
            b"SET k v\n".to_vec(),
        ),
    ];
    // A connection lost mid-load prints the resume command.
    let load = Background::start(
        &["--pipe", "-p", &port, "-a", SECRET],
        set_lines(0..3_000_000).into_bytes(),
    );
    assert!(wait_until(30, || redis
        .cli(&["-a", SECRET, "--no-auth-warning", "DBSIZE"])
        .parse::<u64>()
        .unwrap_or(0)
        > 10_000));
    redis.kill();
    outputs.push(load.wait());
    assert!(
        outputs
            .last()
            .unwrap()
            .stderr
            .contains("to resume: REDISCLI_AUTH=..."),
        "{:?}",
        outputs.last()
    );
    for run in &outputs {
        assert!(
            !run.stdout.contains("Zebra") && !run.stderr.contains("Zebra"),
            "password shown in {run:?}"
        );
    }
    assert_eq!(outputs[0].code, 4);
    assert_eq!(outputs[1].code, 1);
}

#[test]
fn askpass_reads_the_password_from_the_terminal() {
    const SECRET: &str = "pw-Askpass-42";
    let redis = Redis::start_with(&["--requirepass", SECRET]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.txt");
    std::fs::write(&data, "SET from-askpass 1\n").unwrap();
    let cmd = format!(
        "{} --pipe -p {} --askpass {}",
        env!("CARGO_BIN_EXE_rload"),
        redis.port,
        data.display()
    );
    // `script` runs rload on a pseudo-terminal and types our stdin into it.
    // It types at once, so the terminal may echo the password before the
    // prompt, when echo is still on; after the prompt it must not.
    let run = run_with(
        Command::new("script").args(["-qec", &cmd, "/dev/null"]),
        format!("{SECRET}\n").into_bytes(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let (_, after_prompt) = run
        .stdout
        .split_once("Please input password: ")
        .unwrap_or_else(|| panic!("no prompt: {run:?}"));
    assert!(
        !after_prompt.contains(SECRET),
        "the password was echoed: {run:?}"
    );
    assert_eq!(
        redis.cli(&["-a", SECRET, "--no-auth-warning", "GET", "from-askpass"]),
        "1"
    );
    let no_tty = rload(&["--pipe", "-p", &redis.port.to_string(), "--askpass"], "");
    assert_eq!(no_tty.code, 2, "{no_tty:?}");
    assert!(
        no_tty.stderr.contains("--askpass needs a terminal"),
        "{no_tty:?}"
    );
}
