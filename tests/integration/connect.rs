//! Connection options, as redis-cli has them: -n, -a, --user,
//! REDISCLI_AUTH, -s, -u, and the errors for each failure.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Redis, rload, rload_pipe, run_with};

#[test]
fn selects_the_database_with_n() {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &["-n", "3"], "SET k v\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["-n", "3", "GET", "k"]), "v");
    assert_eq!(redis.cli(&["EXISTS", "k"]), "0");
}

#[test]
fn a_database_the_server_lacks_fails_with_the_address() {
    let redis = Redis::start_with(&["--databases", "4"]);
    let run = rload_pipe(&redis, &["-n", "9"], "SET k v\n");
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "SELECT 9 failed at 127.0.0.1:{}: ERR DB index is out of range",
            redis.port
        )),
        "{run:?}"
    );
}

#[test]
fn authenticates_with_requirepass() {
    let redis = Redis::start_with(&["--requirepass", "s3cret-pw"]);
    let run = rload_pipe(&redis, &["-a", "s3cret-pw"], "SET k v\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe."));
    assert_eq!(
        redis.cli(&["-a", "s3cret-pw", "--no-auth-warning", "GET", "k"]),
        "v"
    );
}

#[test]
fn takes_the_password_from_rediscli_auth_without_a_warning() {
    let redis = Redis::start_with(&["--requirepass", "s3cret-pw"]);
    let port = redis.port.to_string();
    let run = run_with(
        Command::new(env!("CARGO_BIN_EXE_rload"))
            .args(["--pipe", "-p", &port])
            .env("REDISCLI_AUTH", "s3cret-pw"),
        b"SET k v\n".to_vec(),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("Warning"), "{run:?}");
}

#[test]
fn a_wrong_or_missing_password_fails_without_showing_it() {
    let redis = Redis::start_with(&["--requirepass", "s3cret-pw"]);
    let wrong = rload_pipe(
        &redis,
        &["-a", "not-the-pw", "--no-auth-warning"],
        "SET k v\n",
    );
    assert_eq!(wrong.code, 4, "{wrong:?}");
    assert!(
        wrong.stderr.contains(&format!(
            "AUTH failed at 127.0.0.1:{}: WRONGPASS",
            redis.port
        )),
        "{wrong:?}"
    );
    assert!(
        !wrong.stderr.contains("not-the-pw") && !wrong.stdout.contains("not-the-pw"),
        "{wrong:?}"
    );
    // No AUTH was sent, so no AUTH failed: say what is missing instead.
    let missing = rload_pipe(&redis, &[], "SET k v\n");
    assert_eq!(missing.code, 4, "{missing:?}");
    assert!(
        missing.stderr.contains(&format!(
            "the server at 127.0.0.1:{} needs a password: give it with -a, REDISCLI_AUTH or --askpass",
            redis.port
        )),
        "{missing:?}"
    );
    assert!(!missing.stderr.contains("AUTH failed"), "{missing:?}");
    assert_eq!(
        redis.cli(&["-a", "s3cret-pw", "--no-auth-warning", "DBSIZE"]),
        "0"
    );
}

#[test]
fn authenticates_an_acl_user() {
    let redis = Redis::start();
    redis.cli(&[
        "ACL",
        "SETUSER",
        "loader",
        "on",
        ">loader-pw",
        "~app:*",
        "+set",
        "+ping",
    ]);
    let run = rload_pipe(
        &redis,
        &["--user", "loader", "-a", "loader-pw", "--no-auth-warning"],
        "SET app:1 v\nSET other v\n",
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (1, 2));
    assert!(run.stderr.contains("<stdin>:2: NOPERM"), "{run:?}");
    // The user may not run ECHO: the end of the load is still found.
    assert!(
        run.stderr.contains("refused rload's closing ECHO"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("Last reply received from server."),
        "{run:?}"
    );
    let bad = rload_pipe(
        &redis,
        &["--user", "loader", "-a", "wrong", "--no-auth-warning"],
        "SET app:1 v\n",
    );
    assert_eq!(bad.code, 4, "{bad:?}");
}

#[test]
fn connects_over_a_unix_socket() {
    let redis = Redis::start();
    let socket = redis.socket();
    let run = rload(&["--pipe", "-s", socket.to_str().unwrap()], "SET k v\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["GET", "k"]), "v");
}

#[test]
fn connects_with_a_uri() {
    let redis = Redis::start();
    redis.cli(&["ACL", "SETUSER", "loader", "on", ">p@ss", "~*", "+@all"]);
    let uri = format!("redis://loader:p%40ss@127.0.0.1:{}/2", redis.port);
    let run = rload(&["--pipe", "-u", &uri], "SET k v\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Warning: Using a password"), "{run:?}");
    assert_eq!(redis.cli(&["-n", "2", "GET", "k"]), "v");
}

#[test]
fn a_refused_connection_names_the_address() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = rload(&["--pipe", "-p", &port.to_string()], "SET k v\n");
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "rload: could not connect to Redis at 127.0.0.1:{port}: Connection refused"
        )),
        "{run:?}"
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn a_server_that_connects_but_never_answers_is_reported_with_the_timeout() {
    // Nothing ever accepts from this listener's backlog, but the kernel
    // completes the connection: a server that is there and silent.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let run = rload(&["--pipe", "-p", &port.to_string(), "-t", "1"], "SET k v\n");
    assert!(started.elapsed() < Duration::from_secs(10), "{run:?}");
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "rload: connected to 127.0.0.1:{port}, but the server did not answer PING within 1 s (-t sets this limit)"
        )),
        "{run:?}"
    );
    drop(silent);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(rload(&["data.txt"], "").code, 2);
    assert_eq!(rload(&["--pipe", "--no-such-flag"], "").code, 2);
    assert_eq!(rload(&["--pipe", "-p", "notaport"], "").code, 2);
    let help = rload(&["--help"], "");
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("-h <HOSTNAME>") && help.stdout.contains("Exit status:"),
        "{help:?}"
    );
}
