//! Signals: SIGINT, SIGTERM and SIGHUP stop a load with its usual account
//! and resume command (exit 128 + the signal, as shells report it); a
//! second signal exits at once.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{Background, Redis, acknowledged, resume_line, run_with, set_lines};

/// Starts a load of `input` whose stdin then stays open, idle, until rload
/// exits: the load waits for more input.
fn idle_load(redis: &Redis, input: String) -> Background {
    let port = redis.port.to_string();
    Background::start_streaming(&["--pipe", "-p", &port], move |pipe| {
        let _ = pipe.write_all(input.as_bytes());
        // Blank lines, which rload skips, until it is gone.
        while pipe.flush().is_ok() && pipe.write_all(b"\n").is_ok() {
            thread::sleep(Duration::from_millis(100));
        }
    })
}

#[test]
fn a_signal_ends_a_load_with_its_account_and_a_resume_command_that_completes_it() {
    for (signal, name, code) in [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGTERM, "SIGTERM", 143),
        (libc::SIGHUP, "SIGHUP", 129),
    ] {
        let redis = Redis::start();
        let load = idle_load(&redis, set_lines(0..1000)).underway(30, || redis.dbsize() == 1000);
        load.signal(signal);
        let run = load.wait();
        assert_eq!(run.code, code, "{name}: {run:?}");
        assert_eq!(run.counts(), (0, 1000), "{run:?}");
        assert!(
            run.stderr.contains(&format!(
                "rload: interrupted by {name}: stopped reading the input; what was already sent was drained"
            )),
            "{run:?}"
        );
        assert_eq!(acknowledged(&run), 1000, "{run:?}");
        let resume = resume_line(&run).unwrap_or_else(|| panic!("no resume line: {run:?}"));
        assert!(resume.ends_with("--resume-from 1000"), "{resume}");
        let again = run_with(
            Command::new("sh").arg("-c").arg(&resume),
            set_lines(0..1500).into_bytes(),
        );
        assert_eq!(again.code, 0, "{again:?}");
        assert_eq!(again.counts(), (0, 500), "{again:?}");
        assert_eq!(redis.dbsize(), 1500);
    }
}

/// A signal in the middle of a fast load: what was acknowledged is exactly
/// what the server holds, and resuming loads the rest.
#[test]
fn a_signal_mid_load_gets_an_exact_account() {
    const N: u64 = 400_000;
    let redis = Redis::start();
    let port = redis.port.to_string();
    let input = set_lines(0..N).into_bytes();
    let load = Background::start(&["--pipe", "-p", &port], input.clone())
        .underway(60, || redis.dbsize() > 20_000);
    load.signal(libc::SIGTERM);
    let run = load.wait();
    assert_eq!(run.code, 143, "{run:?}");
    let acked = acknowledged(&run);
    assert_eq!(acked, redis.dbsize(), "{run:?}");
    assert!(acked < N, "the load was cut short: {run:?}");
    let resume = resume_line(&run).unwrap_or_else(|| panic!("no resume line: {run:?}"));
    let again = run_with(Command::new("sh").arg("-c").arg(&resume), input);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(redis.dbsize(), N);
}

/// With a server that does not answer, the drain gives up after its bound,
/// still with an exact account; a second signal does not wait for that.
#[test]
fn the_drain_is_bounded_and_a_second_signal_exits_at_once() {
    let redis = Redis::start();
    // Writes go unanswered from now on; the connection's setup does not.
    redis.cli(&["CLIENT", "PAUSE", "30000", "WRITE"]);
    let held = || {
        let load = idle_load(&redis, "SET held 1\n".into());
        thread::sleep(Duration::from_millis(500));
        load
    };

    let load = held();
    let started = Instant::now();
    load.signal(libc::SIGINT);
    let run = load.wait();
    let waited = started.elapsed();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(15),
        "the drain waits about 5 s: {waited:?}"
    );
    assert!(
        run.stderr.contains("interrupted by SIGINT: stopped reading the input; the replies to some of what was sent did not come in time"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("the server acknowledged no command"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 0"), "{run:?}");

    let load = held();
    let started = Instant::now();
    load.signal(libc::SIGINT);
    thread::sleep(Duration::from_millis(300));
    load.signal(libc::SIGINT);
    let run = load.wait();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the second signal exits at once: {:?}",
        started.elapsed()
    );
}
