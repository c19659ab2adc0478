//! Faults a real server can produce on cue: a server that stops replying, and
//! a server that goes away mid-load.

use crate::support::{Background, Redis, acknowledged, rload_pipe, set_lines};

#[test]
fn a_paused_server_times_out_after_the_input_ends() {
    let redis = Redis::start();
    redis.cli(&["CLIENT", "PAUSE", "20000", "WRITE"]);
    let run = rload_pipe(&redis, &["--pipe-timeout", "1"], "SET a 1\nSET b 2\n");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("No replies for 1 second: exiting."),
        "{run:?}"
    );
    assert!(run.stdout.contains("All data transferred."), "{run:?}");
    assert!(run.stdout.ends_with("errors: 1, replies: 0\n"), "{run:?}");
}

#[test]
fn a_paused_server_times_out_while_rload_is_still_writing() {
    let redis = Redis::start();
    redis.cli(&["CLIENT", "PAUSE", "20000", "WRITE"]);
    // Far more than the in-flight window holds.
    let run = rload_pipe(&redis, &["--pipe-timeout", "1"], set_lines(0..400_000));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("No replies for 1 second: exiting."),
        "{run:?}"
    );
    assert!(!run.stdout.contains("All data transferred."), "{run:?}");
    assert!(
        run.stderr.contains("the server acknowledged no command"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 0"), "{run:?}");
}

/// Replies that trickle in are read as they come, though fewer than the
/// reader waits for before waking: each is a sign of life for the timeout.
#[test]
fn replies_that_trickle_in_are_read_as_they_come() {
    let redis = Redis::start();
    // Each BLPOP waits 0.1 s for an empty list, then answers nil: 3 s or
    // more in all, one reply at a time, never 1 s without one.
    let run = rload_pipe(
        &redis,
        &["--pipe-timeout", "1"],
        "BLPOP empty 0.1\n".repeat(30),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.ends_with("errors: 0, replies: 30\n"), "{run:?}");
}

/// The server is killed mid-load. To know exactly what it held, writes are
/// paused first, so every executed command's reply has reached rload.
#[test]
fn a_killed_server_gets_an_exact_account() {
    let mut redis = Redis::start();
    let port = redis.port.to_string();
    let load = Background::start(
        &["--pipe", "-p", &port],
        set_lines(0..3_000_000).into_bytes(),
    )
    .underway(30, || redis.dbsize() > 50_000);
    let held = redis.pause_writes_and_count();
    redis.kill();
    let run = load.wait();
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("rload: connection to 127.0.0.1:{port} lost")),
        "{run:?}"
    );
    assert_eq!(acknowledged(&run), held, "{run:?}");
    assert_eq!(run.counts(), (0, held));
    assert!(
        run.stderr
            .contains(&format!("the last was command {held} at <stdin>:{held}")),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!("--resume-from {held}")),
        "{run:?}"
    );
}

#[test]
fn a_server_shut_down_mid_load_gets_an_account() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let load = Background::start(
        &["--pipe", "-p", &port],
        set_lines(0..3_000_000).into_bytes(),
    )
    .underway(30, || redis.dbsize() > 50_000);
    redis.cli(&["SHUTDOWN", "NOSAVE"]);
    let run = load.wait();
    assert_eq!(run.code, 5, "{run:?}");
    assert!(run.stderr.contains("lost"), "{run:?}");
    let acked = acknowledged(&run);
    assert!(acked >= 50_000, "{run:?}");
    assert_eq!(run.counts(), (0, acked));
}
