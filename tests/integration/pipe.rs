//! `rload --pipe` end to end: redis-cli's output, counts, and exit status.

use crate::support::{Redis, resp, rload_pipe, set_lines};

/// Redis's own "Piping raw protocol" test (tests/integration/redis-cli.tcl),
/// with the stray newline Tcl's `puts` adds after every command.
#[test]
fn passes_redis_own_piping_raw_protocol_test() {
    let redis = Redis::start();
    let mut input = Vec::new();
    let mut cmd = |args: &[&[u8]]| {
        input.extend_from_slice(&resp(args));
        input.push(b'\n');
    };
    cmd(&[b"select", b"9"]);
    cmd(&[b"del", b"test-counter"]);
    let large = vec![b'x'; 20000];
    for _ in 0..1000 {
        cmd(&[b"incr", b"test-counter"]);
        cmd(&[b"set", b"large-key", &large]);
    }
    let very_large = vec![b'x'; 512000];
    for _ in 0..100 {
        cmd(&[b"set", b"very-large-key", &very_large]);
    }
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["-n", "9", "GET", "test-counter"]), "1000");
    let out = &run.stdout;
    let transferred = out.find("All data transferred").expect("transferred line");
    let last = out
        .find("Last reply received from server.")
        .expect("last reply line");
    assert!(transferred < last, "{run:?}");
    assert!(out.ends_with("errors: 0, replies: 2102\n"), "{run:?}");
}

#[test]
fn loads_100k_inline_sets() {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &[], set_lines(0..100_000));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 100_000));
    assert_eq!(redis.dbsize(), 100_000);
    assert_eq!(redis.cli(&["GET", "Key99999"]), "Value99999");
}

#[test]
fn prints_exactly_redis_clis_lines() {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &[], "SET a 1\r\nGET a\r\n");
    assert_eq!(
        run.stdout,
        "All data transferred. Waiting for the last reply...\nLast reply received from server.\nerrors: 0, replies: 2\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn empty_input_gives_zero_replies_and_success() {
    let redis = Redis::start();
    for input in ["", "\n\n  \t\r\n"] {
        let run = rload_pipe(&redis, &[], input);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.counts(), (0, 0));
    }
}

#[test]
fn error_replies_are_counted_and_tied_to_their_lines() {
    let redis = Redis::start();
    let input = "SET s text\nINCR s\n\nLPUSH s x\nSET ok 1\nNOSUCHCOMMAND a\n";
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (3, 5));
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(
        lines[0].starts_with("<stdin>:2: ERR value is not an integer"),
        "{run:?}"
    );
    assert!(lines[1].starts_with("<stdin>:4: WRONGTYPE"), "{run:?}");
    assert!(
        lines[2].starts_with("<stdin>:6: ERR unknown command 'NOSUCHCOMMAND'"),
        "{run:?}"
    );
    assert_eq!(redis.cli(&["GET", "ok"]), "1");
}

#[test]
fn error_lines_in_resp_input_and_files_name_the_file() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.resp");
    let mut data = resp(&[b"SET", b"s", b"x"]);
    data.extend_from_slice(&resp(&[b"INCR", b"s"]));
    std::fs::write(&a, data).unwrap();
    let b = dir.path().join("b.txt");
    std::fs::write(&b, "PING\nHINCRBY s f 1\n").unwrap();
    let run = rload_pipe(&redis, &[a.to_str().unwrap(), b.to_str().unwrap()], "");
    assert_eq!(run.counts(), (2, 4));
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{}:8: ERR value is not an integer", a.display())),
        "{run:?}"
    );
    assert!(
        lines[1].starts_with(&format!("{}:2: WRONGTYPE", b.display())),
        "{run:?}"
    );
}

#[test]
fn reads_stdin_between_files_where_dash_says() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.txt");
    std::fs::write(&a, "RPUSH l a\n").unwrap();
    let b = dir.path().join("b.txt");
    std::fs::write(&b, "RPUSH l c").unwrap();
    let run = rload_pipe(
        &redis,
        &[a.to_str().unwrap(), "-", b.to_str().unwrap()],
        "RPUSH l b\n",
    );
    assert_eq!(run.counts(), (0, 3), "{run:?}");
    assert_eq!(redis.cli(&["LRANGE", "l", "0", "-1"]), "a\nb\nc");
}

#[test]
fn mixes_inline_and_resp_in_one_stream() {
    let redis = Redis::start();
    let mut input = b"SET a 1\n".to_vec();
    input.extend_from_slice(&resp(&[b"SET", b"b", b"two\r\nlines"]));
    input.extend_from_slice(b"\nAPPEND a \"\\x00z\"\r\n");
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.counts(), (0, 3), "{run:?}");
    assert_eq!(redis.cli(&["--no-raw", "GET", "a"]), "\"1\\x00z\"");
    assert_eq!(redis.cli(&["--no-raw", "GET", "b"]), "\"two\\r\\nlines\"");
}

#[test]
fn transactions_and_select_pass_through() {
    let redis = Redis::start();
    let input = "SELECT 2\nMULTI\nSET t 1\nINCR t\nEXEC\nSELECT 0\nSET u 1\n";
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.counts(), (0, 7), "{run:?}");
    assert_eq!(redis.cli(&["-n", "2", "GET", "t"]), "2");
    assert_eq!(redis.cli(&["GET", "u"]), "1");
}

#[test]
fn resp3_replies_are_counted_like_resp2() {
    let redis = Redis::start();
    let input = "HSET h a 1 b 2\nHGETALL h\nHELLO 3\nHGETALL h\nCLIENT TRACKING on\nGET x\nSET x 1\nDEBUG PROTOCOL attrib\n";
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 8));
}
