//! Nothing lost, nothing hidden: exact accounts after a crash, resuming,
//! reconnecting, error limits, skipped invalid input, and bounded memory.

use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::support::{
    AOF_ALWAYS, Background, Redis, acknowledged, error_lines, resume_line, rload_pipe, run_with,
    set_lines, wait_until,
};

/// The server is killed mid-load. Writes are paused first, so every command
/// it executed was answered; with `appendfsync always` every answered write
/// is on disk. The account must equal what the restarted server holds, and
/// the printed resume command must complete the load.
#[test]
fn a_killed_server_is_accounted_for_exactly_and_the_resume_command_completes_the_load() {
    const N: u64 = 300_000;
    let mut redis = Redis::start_with(&AOF_ALWAYS);
    let port = redis.port.to_string();
    let input = set_lines(0..N).into_bytes();
    let load = Background::start(&["--pipe", "-p", &port], input.clone())
        .underway(60, || redis.dbsize() > 20_000);
    let held = redis.pause_writes_and_count();
    redis.kill();
    let run = load.wait();
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(acknowledged(&run), held, "{run:?}");

    redis.restart();
    assert_eq!(
        redis.dbsize(),
        held,
        "the restarted server holds what was acknowledged"
    );
    let resume = resume_line(&run).unwrap_or_else(|| panic!("no resume command in {run:?}"));
    assert!(
        resume.contains(&format!("--resume-from {held}")),
        "{resume}"
    );
    let again = run_with(Command::new("sh").arg("-c").arg(&resume), input);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.counts(), (0, N - held));
    assert_eq!(redis.dbsize(), N);
}

/// The server restarts mid-load (a crash, then AOF recovery); with
/// `--reconnect` the load goes on and every key arrives, in one run.
#[test]
fn reconnect_carries_a_load_across_a_server_restart() {
    const N: u64 = 300_000;
    let mut redis = Redis::start_with(&AOF_ALWAYS);
    let port = redis.port.to_string();
    let load = Background::start(
        &["--pipe", "-p", &port, "--reconnect", "30"],
        set_lines(0..N).into_bytes(),
    )
    .underway(60, || redis.dbsize() > 20_000);
    redis.kill();
    thread::sleep(Duration::from_millis(300));
    redis.respawn();
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, N), "every command answered exactly once");
    assert!(
        run.stderr
            .contains(&format!("reconnected to 127.0.0.1:{port}")),
        "{run:?}"
    );
    assert!(
        wait_until(30, || redis.dbsize() == N),
        "dbsize {}",
        redis.dbsize()
    );
}

/// With `maxmemory` and no eviction, writes past the limit fail with OOM;
/// each error names its line, and those are exactly the missing keys.
#[test]
fn out_of_memory_errors_are_tied_to_their_lines() {
    const N: u64 = 40_000;
    let redis = Redis::start_with(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
    let value = "v".repeat(100);
    let input: String = (0..N).map(|i| format!("SET Key{i} {value}\n")).collect();
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 1, "{run:?}");
    let (errors, replies) = run.counts();
    assert_eq!(replies, N);
    let held = redis.dbsize();
    assert!(errors > 0 && held > 0, "{run:?}");
    assert_eq!(errors + held, N);
    let failed = error_lines(&run, &["OOM command not allowed"]);
    let keys = redis.cli(&["KEYS", "Key*"]);
    let mut missing: Vec<u64> = {
        let present: std::collections::HashSet<&str> = keys.lines().collect();
        (0..N)
            .filter(|i| !present.contains(format!("Key{i}").as_str()))
            .collect()
    };
    missing.sort_unstable();
    assert_eq!(
        failed, missing,
        "the error lines are exactly the keys that are missing"
    );
}

#[test]
fn max_errors_stops_reading_and_drains_what_was_sent() {
    const N: u64 = 300_000;
    let redis = Redis::start();
    redis.cli(&["SET", "s", "text"]);
    let input = "INCR s\n".repeat(N as usize);
    let run = rload_pipe(&redis, &["--max-errors", "10"], input);
    assert_eq!(run.code, 1, "{run:?}");
    let (errors, replies) = run.counts();
    assert_eq!(errors, replies, "every reply is an error");
    assert!((10..N).contains(&errors), "stopped early: {errors} errors");
    assert!(
        run.stderr
            .contains("stopped reading the input after 10 errors (--max-errors)"),
        "{run:?}"
    );
    assert!(!run.stdout.contains("All data transferred"), "{run:?}");
    assert!(
        run.stderr.contains(&format!("--resume-from {replies}")),
        "{run:?}"
    );
}

#[test]
fn skip_invalid_counts_bad_commands_as_errors_and_carries_on() {
    let redis = Redis::start();
    let input = "SET a 1\nSET b \"x\nSET c 3\n*2\r\n$3\r\nGET\r\n:1\r\nSET d 4\r\n*1\r\n$4\r\nPING\r\nSUBSCRIBE x\nSET e 5\n";
    let run = rload_pipe(&redis, &["--skip-invalid"], input);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (3, 4), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].starts_with("<stdin>:2: invalid input, skipped: unbalanced quotes"),
        "{run:?}"
    );
    assert!(
        lines[1].starts_with("<stdin>:7: invalid input, skipped: expected '$'"),
        "{run:?}"
    );
    assert!(
        lines[2].starts_with("<stdin>:12: invalid input, skipped: SUBSCRIBE cannot be sent"),
        "{run:?}"
    );
    assert!(run.stdout.contains("All data transferred"), "{run:?}");
    // A malformed frame is skipped up to the next line starting with '*'.
    assert_eq!(redis.cli(&["MGET", "a", "c", "d", "e"]), "1\n3\n\n5");
}

/// The server is paused while more than 1 GiB of input waits: rload must not
/// buffer it. Its peak RSS stays near its usual 10 MiB.
#[test]
fn memory_stays_bounded_when_the_server_is_paused() {
    const LINES: u64 = 1_100_000;
    let redis = Redis::start();
    let port = redis.port.to_string();
    redis.cli(&["CLIENT", "PAUSE", "2000", "WRITE"]);
    let mut load = Background::start_streaming(&["--pipe", "-p", &port], |stdin| {
        let line = format!("SET k {}\n", "x".repeat(1000));
        let block = line.repeat(1000);
        for _ in 0..LINES / 1000 {
            if stdin.write_all(block.as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut peak = 0;
    while load.running() {
        peak = peak.max(load.peak_rss_kib().unwrap_or(0));
        thread::sleep(Duration::from_millis(20));
    }
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, LINES));
    assert!(
        peak > 0 && peak < 48 * 1024,
        "peak RSS {peak} KiB for {} MiB of input",
        (LINES * 1006) >> 20
    );
}
