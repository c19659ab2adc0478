//! What a user watches and what a script reads: the progress display (on a
//! pseudo-terminal made by util-linux `script`, and absent on pipes),
//! `--json` on success and on each kind of stop, `--rate`, and the
//! completions and man page generated from the flags.

use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::fake_peer::{Script, against_fake_with};
use crate::support::{Background, Cluster, Redis, Run, rload, rload_pipe, run_with, set_lines};

/// Runs `rload ARGS` on a pseudo-terminal (stdin, stdout and stderr all on
/// it), as a user at a terminal would; returns everything it printed, and
/// how it exited.
fn on_terminal(args: &[&str]) -> (String, i32) {
    let mut line = String::from(env!("CARGO_BIN_EXE_rload"));
    for a in args {
        line.push_str(" '");
        line.push_str(a);
        line.push('\'');
    }
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .output()
        .expect("util-linux `script` must be installed");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// What a terminal shows in the end, roughly: escape sequences dropped,
/// each carriage return or newline starting a line, blank lines dropped.
fn lines_of(screen: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = screen.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, then one final letter.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(if c == '\r' { '\n' } else { c });
    }
    plain
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A file of `n` SETs.
fn input_file(dir: &tempfile::TempDir, n: u64) -> String {
    let path = dir.path().join("input.txt");
    std::fs::write(&path, set_lines(0..n)).unwrap();
    path.display().to_string()
}

fn json_of(text: &str) -> Value {
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn progress_is_drawn_on_a_terminal_and_cleared_before_redis_clis_lines() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let file = input_file(&dir, 3000);
    let port = redis.port.to_string();
    // Held to 2000 a second, the load lasts long enough to be drawn.
    let (screen, code) = on_terminal(&["--pipe", "-p", &port, "--rate", "2000", &file]);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(redis.dbsize(), 3000);
    let lines = lines_of(&screen);
    let drawn: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" commands · "))
        .collect();
    assert!(drawn.len() >= 2, "redrawn in place: {lines:#?}");
    // The input is a file: a percentage, and a rate close to the limit.
    assert!(drawn.iter().any(|l| l.contains('%')), "{lines:#?}");
    assert!(drawn.iter().all(|l| l.contains("0 errors")), "{lines:#?}");
    assert!(drawn.iter().any(|l| l.contains(" KiB read")), "{lines:#?}");
    // Cleared (the line erased) before redis-cli's lines, which are intact.
    let transferred = screen
        .find("All data transferred. Waiting for the last reply...")
        .expect("redis-cli's line");
    let last_draw = screen.rfind(" commands · ").unwrap();
    let erase = screen[last_draw..transferred].find("\x1b[2K");
    assert!(erase.is_some(), "the display is erased first: {screen:?}");
    let tail: Vec<&String> = lines.iter().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            "errors: 0, replies: 3000",
            "Last reply received from server.",
            "All data transferred. Waiting for the last reply...",
        ],
        "{lines:#?}"
    );
}

#[test]
fn error_replies_print_above_the_display_and_it_counts_them() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.txt");
    let mut input = String::from("INCR a b\n");
    input.push_str(&set_lines(0..2000));
    std::fs::write(&path, input).unwrap();
    let port = redis.port.to_string();
    let file = path.display().to_string();
    let (screen, code) = on_terminal(&["--pipe", "-p", &port, "--rate", "2000", &file]);
    assert_eq!(code, 1, "{screen}");
    let lines = lines_of(&screen);
    let message = format!("{file}:1: ERR wrong number of arguments for 'incr' command");
    assert!(lines.contains(&message), "on a line of its own: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" commands · ") && l.contains("1 error ")),
        "{lines:#?}"
    );
    assert_eq!(lines.last().unwrap(), "errors: 1, replies: 2001");
}

#[test]
fn no_progress_on_pipes_unless_asked_for_and_none_when_refused() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let file = input_file(&dir, 3000);

    // stderr is a pipe: nothing but redis-cli's lines.
    let run = rload_pipe(&redis, &["--rate", "2000", &file], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
    assert_eq!(
        run.stdout,
        "All data transferred. Waiting for the last reply...\n\
         Last reply received from server.\n\
         errors: 0, replies: 3000\n"
    );

    // --progress on a pipe: a plain line a second, for logs; stdout as is.
    let forced = rload_pipe(&redis, &["--rate", "2000", "--progress", &file], "");
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_eq!(forced.stdout, run.stdout);
    let progress: Vec<&str> = forced
        .stderr
        .lines()
        .filter(|l| l.starts_with("rload: ") && l.contains(" commands · "))
        .collect();
    assert!(!progress.is_empty(), "{forced:?}");
    assert!(
        progress
            .iter()
            .all(|l| l.contains("% · ") && l.contains("/s · ")),
        "{forced:?}"
    );
    assert!(
        !forced.stderr.contains('\x1b'),
        "no escapes in a log: {forced:?}"
    );

    // --no-progress on a terminal: nothing drawn.
    let port = redis.port.to_string();
    let (screen, code) = on_terminal(&[
        "--pipe",
        "-p",
        &port,
        "--rate",
        "2000",
        "--no-progress",
        &file,
    ]);
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains(" commands · "), "{screen:?}");
    assert_eq!(
        lines_of(&screen),
        [
            "All data transferred. Waiting for the last reply...",
            "Last reply received from server.",
            "errors: 0, replies: 3000",
        ]
    );
}

#[test]
fn a_dump_shows_keys_and_its_share_of_the_total() {
    let redis = Redis::start();
    rload_pipe(&redis, &[], set_lines(0..3000));
    let port = redis.port.to_string();
    let (screen, code) =
        on_terminal(&["--dump", "-p", &port, "--rate", "2000", "--format", "jsonl"]);
    assert_eq!(code, 0, "{screen}");
    let lines = lines_of(&screen);
    let drawn: Vec<&String> = lines.iter().filter(|l| l.contains(" keys · ")).collect();
    assert!(!drawn.is_empty(), "{lines:#?}");
    assert!(
        drawn
            .iter()
            .any(|l| l.contains('%') && l.contains(" written")),
        "{lines:#?}"
    );
    assert!(
        lines.last().unwrap().starts_with("rload: dumped 3000 keys"),
        "{lines:#?}"
    );
}

#[test]
fn json_gives_the_account_on_success_with_no_other_output_on_stdout() {
    let redis = Redis::start();
    let input = "SET a 1\nINCR a b\nSET b 2\n";
    let text = rload_pipe(&redis, &[], input);
    let run = rload_pipe(&redis, &["--json"], input);
    assert_eq!(run.code, text.code, "exit statuses unchanged: {run:?}");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout.lines().count(), 1, "one JSON object: {run:?}");
    let j = json_of(&run.stdout);
    assert_eq!(j["mode"], "pipe");
    assert_eq!(j["ok"], false);
    assert_eq!(j["exit_status"], 1);
    assert_eq!(j["errors"], 1);
    assert_eq!(j["replies"], 3);
    assert_eq!(j["invalid"], 0);
    assert_eq!(j["acknowledged"], 3);
    assert_eq!(j["resume_from"], 3);
    assert_eq!(j["all_sent"], true);
    assert_eq!(j["stop"], Value::Null);
    assert_eq!(j["resume_command"], Value::Null);
    assert_eq!(j["nodes"], serde_json::json!([]));
    assert_eq!(
        j["last_acknowledged"],
        serde_json::json!({"command": 3, "input": "<stdin>", "line": 3})
    );
    assert!(j["elapsed_seconds"].as_f64().unwrap() > 0.0, "{j}");
    // Error replies still go to stderr, tied to their lines.
    assert!(
        run.stderr
            .contains("<stdin>:2: ERR wrong number of arguments"),
        "{run:?}"
    );

    let clean = rload_pipe(&redis, &["--json"], set_lines(0..100));
    let j = json_of(&clean.stdout);
    assert_eq!(
        (clean.code, j["ok"].clone(), j["exit_status"].clone()),
        (0, true.into(), 0.into())
    );
    assert_eq!(
        (j["errors"].clone(), j["replies"].clone()),
        (0.into(), 100.into())
    );
}

#[test]
fn json_names_each_kind_of_stop_with_its_facts_and_the_resume_command() {
    let redis = Redis::start();

    // Invalid input: where it is.
    let run = rload_pipe(
        &redis,
        &["--json"],
        "SET a 1\nSET b \"unbalanced\nSET c 3\n",
    );
    assert_eq!(run.code, 3, "{run:?}");
    let j = json_of(&run.stdout);
    assert_eq!(j["stop"]["kind"], "input", "{j}");
    assert_eq!(j["stop"]["at"]["line"], 2, "{j}");
    assert_eq!(j["stop"]["at"]["offset"], 8, "{j}");
    assert!(
        j["stop"]["message"]
            .as_str()
            .unwrap()
            .contains("unbalanced"),
        "{j}"
    );
    assert_eq!(j["acknowledged"], 1);
    assert_eq!(j["resume_from"], 1);
    assert!(
        j["resume_command"]
            .as_str()
            .unwrap()
            .ends_with("--resume-from 1"),
        "{j}"
    );

    // --max-errors: errors come back while the input is still being read.
    let run = rload_pipe(
        &redis,
        &["--json", "--max-errors", "2"],
        "INCR a b\n".repeat(300_000),
    );
    let j = json_of(&run.stdout);
    assert_eq!(run.code, 1);
    assert_eq!(j["errors"], j["replies"], "{j}");
    assert!(j["replies"].as_u64().unwrap() < 300_000, "{j}");
    assert_eq!(j["stop"]["kind"], "max_errors", "{j}");
    assert_eq!(j["stop"]["max_errors"], 2, "{j}");

    // A server that stops replying.
    redis.cli(&["CLIENT", "PAUSE", "20000", "WRITE"]);
    let run = rload_pipe(&redis, &["--json", "--pipe-timeout", "1"], "SET a 1\n");
    let j = json_of(&run.stdout);
    assert_eq!(run.code, 1);
    assert_eq!(j["stop"]["kind"], "timeout", "{j}");
    assert_eq!(j["stop"]["seconds"], 1.0, "{j}");
    assert_eq!(
        (j["errors"].clone(), j["replies"].clone()),
        (1.into(), 0.into())
    );
    redis.cli(&["CLIENT", "UNPAUSE"]);

    // A setting only the input can show wrong: a template that does not
    // parse, found when the records are opened.
    let run = rload(
        &[
            "--pipe",
            "-p",
            "1",
            "--json",
            "--format",
            "csv",
            "--template",
            "SET {id",
        ],
        "id\n1\n",
    );
    assert_eq!(run.code, 2, "{run:?}");
    let j = json_of(&run.stdout);
    assert_eq!(j["stop"]["kind"], "config", "{j}");
    assert_eq!(
        (j["ok"].clone(), j["acknowledged"].clone()),
        (false.into(), 0.into())
    );

    // Nothing listening: a failure before anything was sent.
    let run = rload(&["--pipe", "-p", "1", "--json"], "SET a 1\n");
    assert_eq!(run.code, 4, "{run:?}");
    let j = json_of(&run.stdout);
    assert_eq!(j["stop"]["kind"], "connect", "{j}");
    assert!(
        j["stop"]["message"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{j}"
    );
    assert_eq!(
        (j["acknowledged"].clone(), j["all_sent"].clone()),
        (0.into(), false.into())
    );
}

#[test]
fn json_names_a_lost_connection_and_a_broken_reply() {
    let run = against_fake_with(
        Script {
            ok: 250,
            then: b"",
            close: true,
        },
        1000,
        &["--json"],
    );
    assert_eq!(run.code, 5, "{run:?}");
    let j = json_of(&run.stdout);
    assert_eq!(j["stop"]["kind"], "connection_lost", "{j}");
    assert!(
        j["stop"]["addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{j}"
    );
    assert_eq!(j["acknowledged"], 250);
    assert_eq!(j["resume_from"], 250);
    assert!(
        j["resume_command"]
            .as_str()
            .unwrap()
            .ends_with("--resume-from 250"),
        "{j}"
    );

    let run = against_fake_with(
        Script {
            ok: 7,
            then: b"?what\r\n",
            close: false,
        },
        1000,
        &["--json"],
    );
    let j = json_of(&run.stdout);
    assert_eq!(j["stop"]["kind"], "protocol", "{j}");
    assert!(
        j["stop"]["reason"].as_str().unwrap().contains("0x3f"),
        "{j}"
    );
    assert_eq!(j["acknowledged"], 7);
}

#[test]
fn json_names_a_signal() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let input = set_lines(0..1000);
    let load = Background::start_streaming(&["--pipe", "-p", &port, "--json"], move |pipe| {
        let _ = pipe.write_all(input.as_bytes());
        while pipe.flush().is_ok() && pipe.write_all(b"\n").is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    })
    .underway(30, || redis.dbsize() == 1000);
    load.signal(libc::SIGTERM);
    let run = load.wait();
    assert_eq!(run.code, 143, "{run:?}");
    let j = json_of(&run.stdout);
    assert_eq!(j["stop"]["kind"], "interrupted", "{j}");
    assert_eq!(j["stop"]["signal"], "SIGTERM", "{j}");
    assert_eq!(j["stop"]["signal_number"], 15, "{j}");
    assert_eq!(j["stop"]["drained"], true, "{j}");
    assert_eq!(j["acknowledged"], 1000);
    assert_eq!(j["resume_from"], 1000);
}

#[test]
fn json_gives_each_masters_share_in_cluster_mode() {
    let cluster = Cluster::start(3);
    let run = rload(
        &["--pipe", "-c", "-p", &cluster.port(), "--json"],
        set_lines(0..3000),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let j = json_of(&run.stdout);
    let nodes = j["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "{j}");
    let sum: u64 = nodes.iter().map(|n| n["replies"].as_u64().unwrap()).sum();
    assert_eq!(sum, 3000, "{j}");
    assert!(
        nodes.iter().all(|n| n["replies"].as_u64().unwrap() > 0),
        "{j}"
    );
    assert_eq!(j["replies"], 3000);
}

#[test]
fn json_goes_to_stderr_when_stdout_carries_the_data() {
    let redis = Redis::start();
    rload_pipe(&redis, &[], set_lines(0..500));
    let port = redis.port.to_string();
    let dump = rload(&["--dump", "-p", &port, "--json"], "");
    assert_eq!(dump.code, 0, "{dump:?}");
    assert!(dump.stdout.starts_with("*3\r\n$3\r\nSET\r\n"), "{dump:?}");
    let j = json_of(&dump.stderr);
    assert_eq!(j["mode"], "dump");
    assert_eq!(j["keys"], 500);
    assert_eq!(j["written"], 500);
    assert_eq!(j["format"], "resp");
    assert_eq!(j["stop"], Value::Null);

    let emit = rload(&["--emit", "--json"], "SET a 1\nSET b 2\n");
    assert_eq!(emit.code, 0, "{emit:?}");
    assert!(emit.stdout.starts_with("*3\r\n$3\r\nSET\r\n"), "{emit:?}");
    let j = json_of(&emit.stderr);
    assert_eq!(j["mode"], "emit");
    assert_eq!(j["acknowledged"], 2);

    let failed = rload(&["--dump", "-p", "1", "--json"], "");
    assert_eq!(failed.code, 4, "{failed:?}");
    let j = json_of(&failed.stderr);
    assert_eq!(j["stop"]["kind"], "connect", "{j}");
}

/// A functional bound, not a benchmark: 3000 commands at 1000 a second
/// take about 3 s; the bounds only catch a limit that does not hold.
#[test]
fn rate_holds_a_load_near_its_limit() {
    let redis = Redis::start();
    let started = Instant::now();
    let run = rload_pipe(&redis, &["--rate", "1000"], set_lines(0..3000));
    let took = started.elapsed().as_secs_f64();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.dbsize(), 3000);
    assert!(
        (2.7..5.0).contains(&took),
        "3000 commands at 1000/s took {took:.2} s"
    );

    let started = Instant::now();
    let dump = rload(
        &["--dump", "-p", &redis.port.to_string(), "--rate", "1000"],
        "",
    );
    let took = started.elapsed().as_secs_f64();
    assert_eq!(dump.code, 0, "{dump:?}");
    assert!(
        (2.5..6.0).contains(&took),
        "3000 keys at 1000/s took {took:.2} s"
    );
}

#[test]
fn a_signal_cuts_a_rate_limited_wait_short() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let load = Background::start(
        &["--pipe", "-p", &port, "--rate", "10"],
        set_lines(0..1000).into_bytes(),
    )
    .underway(30, || redis.dbsize() >= 3);
    let signalled = Instant::now();
    load.signal(libc::SIGINT);
    let run = load.wait();
    assert!(signalled.elapsed().as_secs_f64() < 3.0, "{run:?}");
    assert_eq!(run.code, 130, "{run:?}");
    let done = redis.dbsize();
    let resume = crate::support::resume_line(&run).expect("a resume line");
    assert!(
        resume.ends_with(&format!("--resume-from {done}")),
        "{resume} vs {done}"
    );
}

#[test]
fn rate_must_be_at_least_one() {
    let run = rload(&["--pipe", "--rate", "0"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--rate"), "{run:?}");
}

#[test]
fn completions_and_the_man_page_come_from_the_flags() {
    for (shell, marker) in [
        ("bash", "_rload()"),
        ("zsh", "#compdef rload"),
        ("fish", "complete -c rload"),
        ("elvish", "rload"),
        ("powershell", "rload"),
    ] {
        let run = rload(&["--completions", shell], "");
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        for flag in ["pipe", "rate", "json", "no-progress", "dump"] {
            assert!(run.stdout.contains(flag), "{shell} lacks --{flag}");
        }
    }
    // bash really loads it.
    let bash = rload(&["--completions", "bash"], "");
    let check = run_with(
        Command::new("bash").args(["-c", "source /dev/stdin && complete -p rload"]),
        bash.stdout.into_bytes(),
    );
    assert_eq!(check.code, 0, "{check:?}");
    assert!(check.stdout.contains("rload"), "{check:?}");

    let man = rload(&["--man"], "");
    assert_eq!(man.code, 0, "{man:?}");
    assert!(man.stdout.starts_with(".ie"), "roff: {}", &man.stdout[..40]);
    assert!(man.stdout.contains(".TH rload 1"), "{}", man.stdout);
    for flag in [
        "\\-\\-rate",
        "\\-\\-json",
        "\\-\\-progress",
        "\\-\\-completions",
    ] {
        assert!(man.stdout.contains(flag), "the man page lacks {flag}");
    }

    let both = rload(&["--man", "--pipe"], "");
    assert_eq!(both.code, 2, "--man stands alone: {both:?}");
}

/// Progress must not change what is loaded: the same dataset as without.
#[test]
fn a_load_with_progress_on_loads_what_one_without_does() {
    let a = Redis::start();
    let b = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let file = input_file(&dir, 20_000);
    let plain: Run = rload_pipe(&a, &[&file], "");
    let port = b.port.to_string();
    let (screen, code) = on_terminal(&["--pipe", "-p", &port, "--progress", &file]);
    assert_eq!((plain.code, code), (0, 0), "{screen}");
    assert_eq!(a.digest(), b.digest());
}

/// Runs `rload ARGS` with `stdin` and its standard output closed at once
/// (a reader that went away); its status and standard error.
fn with_stdout_closed(args: &[&str], stdin: Vec<u8>) -> (i32, String) {
    let run = Background::start(args, stdin).close_stdout().wait();
    (run.code, run.stderr)
}

#[test]
fn a_closed_standard_output_is_its_own_stop_not_a_lost_connection() {
    let redis = Redis::start();
    rload_pipe(&redis, &[], set_lines(0..20_000));
    let port = redis.port.to_string();
    for args in [
        vec!["--dump", "-p", &port, "--json"],
        vec!["--emit", "--json"],
    ] {
        let (code, stderr) = with_stdout_closed(&args, set_lines(0..20_000).into_bytes());
        assert_eq!(code, 5, "{args:?}: {stderr}");
        let j = json_of(&stderr);
        assert_eq!(j["stop"]["kind"], "output_lost", "{args:?}: {j}");
        assert!(
            j["stop"]["message"]
                .as_str()
                .unwrap()
                .starts_with("writing to standard output failed"),
            "{j}"
        );
        assert_eq!(j["ok"], false, "{j}");
    }
    // As text: the same words, and the status.
    let (code, stderr) = with_stdout_closed(&["--emit"], set_lines(0..20_000).into_bytes());
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("rload: writing to standard output failed"),
        "{stderr}"
    );
}
