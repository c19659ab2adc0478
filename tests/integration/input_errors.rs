//! Bad input: a clear error naming the input, the line (or byte offset) and
//! what was wrong; nothing of the bad command sent; what came before it
//! finished and accounted for; exit status 3.

use crate::support::{Redis, resp, rload, rload_pipe};

/// Loads `good` commands, then `bad`, then one more command that must never
/// be sent; returns stderr after checking the common contract.
fn rejects(bad: &[u8]) -> String {
    let redis = Redis::start();
    let mut input = b"SET k1 v\nSET k2 v\n".to_vec();
    input.extend_from_slice(bad);
    input.extend_from_slice(b"\nSET after v\n");
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.counts(), (0, 2), "{run:?}");
    assert!(!run.stdout.contains("All data transferred"), "{run:?}");
    assert!(
        run.stderr
            .contains("nothing of that command, or of the input after it, was sent"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("the server acknowledged 2 commands"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 2"), "{run:?}");
    assert_eq!(
        redis.dbsize(),
        2,
        "only the commands before the bad one ran"
    );
    run.stderr
}

#[test]
fn rejects_an_unbalanced_quote() {
    let err = rejects(b"SET k3 \"never closed");
    assert!(
        err.contains("<stdin>:3: unbalanced quotes: the double quote at column 8 is never closed"),
        "{err}"
    );
}

#[test]
fn rejects_a_closing_quote_followed_by_text() {
    let err = rejects(b"SET k3 'v'x");
    assert!(
        err.contains("<stdin>:3: the closing quote at column 10 must be followed by a space"),
        "{err}"
    );
}

#[test]
fn rejects_a_raw_nul_byte_past_the_first_8_kib_at_its_line() {
    // Within the first 8 KiB, a NUL on an inline line makes the input
    // binary, and nothing is sent (first_minutes.rs); past them, it is an
    // invalid command, named by its line and column.
    let redis = Redis::start();
    let mut input = crate::support::set_lines(0..1000).into_bytes();
    assert!(input.len() > 8 * 1024);
    input.extend_from_slice(b"SET k3 a\0b\nSET after v\n");
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(
            "<stdin>:1001: raw NUL byte at column 9 (write it as \\x00 inside double quotes)"
        ),
        "{run:?}"
    );
    assert_eq!(run.counts(), (0, 1000), "{run:?}");
}

#[test]
fn rejects_a_bad_multibulk_count() {
    let err = rejects(b"*x\r\n$3\r\nSET\r\n");
    assert!(
        err.contains("<stdin>:3: invalid multibulk count after '*' (at byte offset 19)"),
        "{err}"
    );
}

#[test]
fn rejects_a_missing_dollar() {
    let err = rejects(b"*2\r\n$3\r\nGET\r\n#1\r\nk\r\n");
    assert!(
        err.contains(
            "<stdin>:6: expected '$' at the start of an argument, got '#' (at byte offset 31)"
        ),
        "{err}"
    );
}

#[test]
fn rejects_a_negative_bulk_length() {
    let err = rejects(b"*2\r\n$3\r\nGET\r\n$-5\r\nk\r\n");
    assert!(
        err.contains("<stdin>:6: invalid bulk length after '$'"),
        "{err}"
    );
}

#[test]
fn rejects_an_oversized_bulk_length() {
    let err = rejects(b"*2\r\n$3\r\nGET\r\n$999999999999\r\n");
    assert!(
        err.contains(
            "bulk length 999999999999 is over the server's limit of 512 MiB (proto-max-bulk-len)"
        ),
        "{err}"
    );
}

#[test]
fn rejects_a_null_bulk_inside_a_command() {
    let err = rejects(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n");
    assert!(
        err.contains("<stdin>:8: '$-1' (a null bulk) cannot be an argument of a command"),
        "{err}"
    );
}

#[test]
fn rejects_a_bulk_not_followed_by_crlf() {
    let err = rejects(b"*2\r\n$3\r\nGETX\r\n$1\r\nk\r\n");
    assert!(
        err.contains("<stdin>:5: bulk payload is not followed by CRLF"),
        "{err}"
    );
}

#[test]
fn rejects_a_command_that_would_break_the_reply_stream() {
    let err = rejects(b"SUBSCRIBE news");
    assert!(
        err.contains("<stdin>:3: SUBSCRIBE cannot be sent through a pipe"),
        "{err}"
    );
}

#[test]
fn rejects_a_frame_truncated_at_the_end_of_input() {
    let redis = Redis::start();
    let mut input = b"SET k1 v\n".to_vec();
    input.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$5\r\nabc");
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.counts(), (0, 1));
    assert!(
        run.stderr
            .contains("<stdin>:2: the input ends inside a RESP frame"),
        "{run:?}"
    );
    assert_eq!(redis.dbsize(), 1);
}

#[test]
fn an_unfinished_transaction_at_the_end_is_discarded_and_reported() {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &[], "SET a 1\nMULTI\nSET b 2\n");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("<stdin>:2: the input ends inside the transaction this MULTI opens"),
        "{run:?}"
    );
    assert_eq!(redis.cli(&["EXISTS", "b"]), "0");
    assert_eq!(redis.cli(&["GET", "a"]), "1");
}

#[test]
fn names_the_file_of_a_bad_command() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "SET a 1\n").unwrap();
    let bad = dir.path().join("bad.resp");
    let mut data = resp(&[b"SET", b"b", b"2"]);
    data.extend_from_slice(b"*1\r\n$3\r\nPING\r\n");
    std::fs::write(&bad, data).unwrap();
    let run = rload_pipe(&redis, &[good.to_str().unwrap(), bad.to_str().unwrap()], "");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{}:10: bulk payload is not followed by CRLF",
            bad.display()
        )),
        "{run:?}"
    );
    assert_eq!(run.counts(), (0, 2));
}

#[test]
fn a_missing_file_or_a_directory_stops_before_anything_is_sent() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "SET a 1\n").unwrap();
    let missing = dir.path().join("missing.txt");
    let port = redis.port.to_string();
    for (bad, why) in [
        (missing.to_str().unwrap(), "No such file"),
        (dir.path().to_str().unwrap(), "is a directory"),
    ] {
        let run = rload(&["--pipe", "-p", &port, good.to_str().unwrap(), bad], "");
        assert_eq!(run.code, 3, "{run:?}");
        assert!(
            run.stderr.contains(bad) && run.stderr.contains(why),
            "{run:?}"
        );
        assert_eq!(run.stdout, "");
    }
    assert_eq!(redis.dbsize(), 0);
}

#[test]
fn an_unreadable_file_stops_before_anything_is_sent() {
    let redis = Redis::start();
    let run = rload(
        &["--pipe", "-p", &redis.port.to_string(), "/proc/self/mem"],
        "",
    );
    // /proc/self/mem opens but cannot be read from offset 0.
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("cannot read /proc/self/mem"), "{run:?}");
    assert_eq!(redis.dbsize(), 0);
}

/// The server's own `proto-max-bulk-len`, read when rload connects: an
/// argument over it would make the server close the connection, so it is
/// invalid input, inline or RESP, and nothing of it is sent.
#[test]
fn arguments_over_the_servers_proto_max_bulk_len_are_invalid_input() {
    let redis = Redis::start_with(&["--proto-max-bulk-len", "1mb"]);
    let big = "x".repeat((1 << 20) + 1);
    let run = rload_pipe(&redis, &[], format!("SET a 1\nSET b {big}\nSET c 1\n"));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(
            "<stdin>:2: argument 3 is 1048577 bytes long, over the server's limit of 1 MiB (proto-max-bulk-len)"
        ),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("the server acknowledged 1 command; the last was command 1"),
        "{run:?}"
    );
    assert_eq!(redis.dbsize(), 1);
    let mut input = resp(&[b"SET", b"a", b"1"]);
    input.extend_from_slice(&resp(&[b"SET", b"b", big.as_bytes()]));
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(
            "<stdin>:13: bulk length 1048577 is over the server's limit of 1 MiB (proto-max-bulk-len)"
        ),
        "{run:?}"
    );
    // Exactly at the limit is fine.
    let at_limit = "x".repeat(1 << 20);
    let run = rload_pipe(&redis, &[], format!("SET b {at_limit}\n"));
    assert_eq!(run.code, 0, "{run:?}");
}

/// A user the ACL keeps from CONFIG gets the server's defaults.
#[test]
fn without_config_the_default_limit_applies() {
    let redis = Redis::start_with(&["--proto-max-bulk-len", "1mb"]);
    redis.cli(&[
        "ACL", "SETUSER", "loader", "on", ">pw", "~*", "+@all", "-config",
    ]);
    let big = "x".repeat((1 << 20) + 1);
    let run = rload_pipe(
        &redis,
        &["--user", "loader", "-a", "pw", "--no-auth-warning"],
        format!("SET a 1\nSET b {big}\n"),
    );
    // The server closes the connection: rload did not know its limit,
    // but its account still holds (the SET of b is not acknowledged).
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr.contains(
            "the server refused command 2 at <stdin>:2 and closed the connection: ERR Protocol error: invalid bulk length"
        ),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 1\n"), "{run:?}");
    assert!(
        run.stderr
            .contains("the server acknowledged 1 command; the last was command 1"),
        "{run:?}"
    );
}
