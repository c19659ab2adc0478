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

/// The printed resume command works, run as printed with `REDISCLI_AUTH`
/// set to the password where the line asks for it, for every way of giving
/// credentials: against a server with `requirepass`, and as an ACL user
/// (whose name, sent as a password, fails). The password is never printed.
#[test]
fn the_printed_resume_command_works_for_every_way_of_giving_credentials() {
    const PW: &str = "pw-Resume-7";
    let by_password = Redis::start_with(&["--requirepass", PW]);
    let by_user = Redis::start_with(&["--requirepass", "default-Other-9"]);
    by_user.cli(&[
        "-a",
        "default-Other-9",
        "--no-auth-warning",
        "ACL",
        "SETUSER",
        "bob",
        "on",
        &format!(">{PW}"),
        "~*",
        "&*",
        "+@all",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.txt");
    let name = file.display().to_string();
    let (p, u) = (by_password.port, by_user.port);
    let cases: Vec<(&Redis, Vec<String>, bool)> = vec![
        (
            &by_password,
            vec!["-p".into(), p.to_string(), "-a".into(), PW.into()],
            false,
        ),
        (
            &by_password,
            vec!["-p".into(), p.to_string(), format!("--pass={PW}")],
            false,
        ),
        (
            &by_password,
            vec!["-u".into(), format!("redis://:{PW}@127.0.0.1:{p}")],
            false,
        ),
        (
            &by_password,
            vec!["-u".into(), format!("redis://{PW}@127.0.0.1:{p}")],
            false,
        ),
        (&by_password, vec!["-p".into(), p.to_string()], true),
        (
            &by_user,
            vec![
                "-p".into(),
                u.to_string(),
                "--user".into(),
                "bob".into(),
                "-a".into(),
                PW.into(),
            ],
            false,
        ),
        (
            &by_user,
            vec!["-u".into(), format!("redis://bob:{PW}@127.0.0.1:{u}")],
            false,
        ),
        (
            &by_user,
            vec![
                "-u".into(),
                format!("redis://bob:{PW}@127.0.0.1:{u}/0"),
                "-n".into(),
                "0".into(),
            ],
            false,
        ),
        (
            &by_user,
            vec![
                "-u".into(),
                format!("redis://127.0.0.1:{u}"),
                "--user".into(),
                "bob".into(),
            ],
            true,
        ),
    ];
    for (redis, creds, from_env) in cases {
        redis.cli(&[
            "-a",
            PW,
            "--user",
            if redis.port == u { "bob" } else { "default" },
            "--no-auth-warning",
            "FLUSHALL",
        ]);
        std::fs::write(&file, "SET a 1\nSET b \"2\nSET c 3\n").unwrap();
        let mut args = vec!["--pipe", "--no-auth-warning"];
        args.extend(creds.iter().map(String::as_str));
        args.push(&name);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rload"));
        cmd.args(&args);
        if from_env {
            cmd.env("REDISCLI_AUTH", PW);
        }
        let run = run_with(&mut cmd, Vec::new());
        assert_eq!(run.code, 3, "{creds:?}: {run:?}");
        assert!(
            !run.stderr.contains(PW) && !run.stdout.contains(PW),
            "{run:?}"
        );
        let line = run
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("rload: fix the input, then resume with: "))
            .unwrap_or_else(|| panic!("no resume line: {run:?}"))
            .to_string();
        assert!(line.ends_with("--resume-from 1"), "{line}");
        // As the user would: the password in REDISCLI_AUTH, where the line
        // asks for it (or where it was all along).
        let (asks, line) = match line.strip_prefix("REDISCLI_AUTH=... ") {
            Some(rest) => (true, rest.to_string()),
            None => (false, line),
        };
        assert!(
            asks || from_env,
            "{creds:?}: the line must ask for the password: {line}"
        );
        std::fs::write(&file, "SET a 1\nSET b 2\nSET c 3\n").unwrap();
        let mut again = Command::new("sh");
        again.args(["-c", &line]).env_remove("REDISCLI_AUTH");
        if asks || from_env {
            again.env("REDISCLI_AUTH", PW);
        }
        let again = run_with(&mut again, Vec::new());
        assert_eq!(again.code, 0, "{creds:?}: {line}: {again:?}");
        assert_eq!(again.counts(), (0, 2), "{creds:?}: {again:?}");
        let user = if redis.port == u { "bob" } else { "default" };
        let get = |k: &str| redis.cli(&["--user", user, "-a", PW, "--no-auth-warning", "GET", k]);
        assert_eq!(
            (get("a"), get("b"), get("c")),
            ("1".into(), "2".into(), "3".into()),
            "{creds:?}"
        );
    }

    // --askpass stays in the line, and asks again: typed on a terminal.
    std::fs::write(&file, "SET a 1\nSET b \"2\n").unwrap();
    let cmd = format!(
        "{} --pipe -p {u} --user bob --askpass {name}",
        env!("CARGO_BIN_EXE_rload")
    );
    let run = run_with(
        Command::new("script").args(["-qec", &cmd, "/dev/null"]),
        format!("{PW}\n").into_bytes(),
    );
    let line = run
        .stdout
        .lines()
        .find_map(|l| {
            l.trim_end()
                .strip_prefix("rload: fix the input, then resume with: ")
        })
        .unwrap_or_else(|| panic!("no resume line: {run:?}"))
        .to_string();
    assert!(
        line.contains("--askpass") && !line.starts_with("REDISCLI_AUTH"),
        "{line}"
    );
    std::fs::write(&file, "SET a 1\nSET b 2\n").unwrap();
    let again = run_with(
        Command::new("script").args(["-qec", &line, "/dev/null"]),
        format!("{PW}\n").into_bytes(),
    );
    assert!(
        again.stdout.contains("errors: 0, replies: 1"),
        "{line}: {again:?}"
    );
    assert_eq!(
        by_user.cli(&["--user", "bob", "-a", PW, "--no-auth-warning", "GET", "b"]),
        "2"
    );
}
