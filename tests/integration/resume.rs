//! Resume points: every `--resume-from` rload prints must be one from which
//! the same (or corrected) input completes the load to the dataset a clean
//! load gives, and `--resume-from` refuses points that would split a
//! transaction.

use std::process::Command;

use crate::support::{Redis, Run, resume_line, rload_pipe, run_with};

/// Runs the printed resume command of `run` (the server's port is in it) on
/// `input`.
fn follow_resume(run: &Run, input: &str) -> Run {
    let resume = resume_line(run)
        .or_else(|| {
            run.stderr
                .lines()
                .find_map(|l| l.strip_prefix("rload: fix the input, then resume with: "))
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no resume command in {run:?}"));
    run_with(Command::new("sh").arg("-c").arg(&resume), input.into())
}

/// The digest of a fresh server loaded cleanly with `input`.
fn clean_digest(input: &str) -> String {
    let clean = Redis::start();
    let run = rload_pipe(&clean, &[], input);
    assert_eq!(run.code, 0, "{run:?}");
    clean.digest()
}

#[test]
fn input_ending_inside_a_transaction_resumes_before_its_multi() {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &[], "SET a 1\nMULTI\nSET b 2\n");
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.counts(), (0, 3), "{run:?}");
    assert!(
        run.stderr
            .contains("rload: <stdin>:2: the input ends inside the transaction this MULTI opens"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(
            "the transaction that starts at <stdin>:2 was discarded: none of it was applied"
        ),
        "{run:?}"
    );
    assert!(!run.stderr.contains("nothing of that command"), "{run:?}");
    assert!(
        run.stderr
            .contains("the server acknowledged 1 command; the last was command 1 at <stdin>:1"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 1"), "{run:?}");
    assert_eq!(redis.cli(&["EXISTS", "b"]), "0");

    let corrected = "SET a 1\nMULTI\nSET b 2\nEXEC\n";
    let again = follow_resume(&run, corrected);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.counts(), (0, 3), "{again:?}");
    assert_eq!(redis.digest(), clean_digest(corrected));
}

#[test]
fn a_discarded_transaction_keeps_the_account_of_what_came_before() {
    let redis = Redis::start();
    let mut input = crate::support::set_lines(0..5000);
    input.push_str("MULTI\nSET inside 1\n");
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(
            "the server acknowledged 5000 commands; the last was command 5000 at <stdin>:5000"
        ),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 5000"), "{run:?}");
    assert_eq!(redis.dbsize(), 5000);
}

#[test]
fn resume_points_inside_a_transaction_are_refused_up_to_its_exec() {
    let input = "SET a 1\nMULTI\nSET b 2\nEXEC\nSET c 3\n";
    for inside in ["2", "3"] {
        let redis = Redis::start();
        let run = rload_pipe(&redis, &["--resume-from", inside], input);
        assert_eq!(run.code, 3, "--resume-from {inside}: {run:?}");
        assert!(
            run.stderr.contains(&format!(
                "<stdin>:2: --resume-from {inside} falls inside the transaction that starts with this MULTI (command 2); resume from 1 instead"
            )),
            "{run:?}"
        );
        assert!(
            run.stderr.contains("then resume with: ") && run.stderr.contains("--resume-from 1\n"),
            "the refusal and the resume line agree: {run:?}"
        );
        assert_eq!(redis.dbsize(), 0, "nothing was sent, no lone EXEC");
        let again = follow_resume(&run, input);
        assert_eq!(again.code, 0, "{again:?}");
        assert_eq!(redis.cli(&["GET", "b"]), "2");
        assert_eq!(redis.cli(&["EXISTS", "a"]), "0", "command 1 stays skipped");
    }
    // Right after the EXEC is a clean point.
    let redis = Redis::start();
    let run = rload_pipe(&redis, &["--resume-from", "4"], input);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 1), "{run:?}");
    assert_eq!(redis.cli(&["GET", "c"]), "3");
}

#[test]
fn invalid_input_inside_a_transaction_discards_it_and_names_the_line() {
    let redis = Redis::start();
    let input = "SET a 1\nMULTI\nSET b 2\nSET c \"x\nEXEC\n";
    let run = rload_pipe(&redis, &[], input);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("rload: <stdin>:4: unbalanced quotes: the double quote at column 7"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("ECHO"), "{run:?}");
    assert!(
        run.stderr.contains(
            "the transaction that starts at <stdin>:2 was discarded: none of it was applied"
        ),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 1\n"), "{run:?}");
    assert_eq!(redis.dbsize(), 1);
    let corrected = "SET a 1\nMULTI\nSET b 2\nSET c \"x\"\nEXEC\n";
    let again = follow_resume(&run, corrected);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(redis.digest(), clean_digest(corrected));
}

#[test]
fn max_errors_reached_inside_a_transaction_discards_it() {
    let redis = Redis::start();
    let mut input = String::from("SET s x\nINCR s\nMULTI\n");
    input.push_str(&crate::support::set_lines(0..300_000));
    input.push_str("EXEC\nSET after 1\n");
    let run = rload_pipe(&redis, &["--max-errors", "1"], input.clone());
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("stopped reading the input after 1 error (--max-errors)"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("ECHO"), "{run:?}");
    assert!(
        run.stderr.contains(
            "the transaction that starts at <stdin>:3 was discarded: none of it was applied"
        ),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("the server acknowledged 2 commands; the last was command 2"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 2\n"), "{run:?}");
    assert_eq!(redis.dbsize(), 1, "only s: the transaction was discarded");
    let again = follow_resume(&run, &input);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(redis.dbsize(), 300_002);
}

/// A resume point past the end of the input is most likely a resume of
/// another input: nothing is sent, and the exit status is not 0.
#[test]
fn a_resume_point_past_the_end_of_the_input_fails_and_sends_nothing() {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &["--resume-from", "10"], "SET a 1\nSET b 2\n");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains(
            "--resume-from 10 is past the end of the input, which holds 2 commands: nothing was sent"
        ),
        "{run:?}"
    );
    assert!(!run.stdout.contains("errors: 0"), "no load ran: {run:?}");
    assert_eq!(redis.dbsize(), 0);
    let one = rload_pipe(&redis, &["--resume-from", "3"], "SET a 1\nSET b 2\n");
    assert_eq!(one.code, 2, "{one:?}");
    assert!(one.stderr.contains("which holds 2 commands"), "{one:?}");
    // At the very end, the load is done: nothing to send, and that is all.
    let done = rload_pipe(&redis, &["--resume-from", "2"], "SET a 1\nSET b 2\n");
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(done.counts(), (0, 0));
    let json = rload_pipe(&redis, &["--json", "--resume-from", "9"], "SET a 1\n");
    assert_eq!(json.code, 2, "{json:?}");
    assert!(
        json.stdout
            .contains("past the end of the input, which holds 1 command:"),
        "{json:?}"
    );
    assert_eq!(redis.dbsize(), 0);
}

/// The resume command keeps `--resume-from` before a `--` (after which
/// everything is a file), and never prints a password given as a URI's
/// lone userinfo, which is a password as redis-cli reads it.
#[test]
fn the_resume_command_works_after_a_double_dash_and_a_lone_userinfo_password() {
    let redis = Redis::start_with(&["--requirepass", "SECRET"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("-data.txt");
    std::fs::write(&file, "SET a 1\nSET b \"2\nSET c 3\n").unwrap();
    let uri = format!("redis://SECRET@127.0.0.1:{}", redis.port);
    let file_arg = file.display().to_string();
    let args = ["--pipe", "-u", &uri, "--no-auth-warning", "--", &file_arg];
    let run = crate::support::rload(&args, "");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(!run.stderr.contains("SECRET"), "{run:?}");
    let resume = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("rload: fix the input, then resume with: "))
        .unwrap_or_else(|| panic!("no resume line in {run:?}"));
    assert!(
        resume.starts_with("REDISCLI_AUTH=... ")
            && resume.contains(&format!("--resume-from 1 -- {file_arg}")),
        "{resume}"
    );
    std::fs::write(&file, "SET a 1\nSET b \"2\"\nSET c 3\n").unwrap();
    let command = resume.replace("REDISCLI_AUTH=...", "REDISCLI_AUTH=SECRET");
    let again = run_with(Command::new("sh").arg("-c").arg(&command), Vec::new());
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.counts(), (0, 2), "{again:?}");
}

/// Inputs are opened one at a time, as they are reached: more files than
/// the open-files limit allows at once still load.
#[test]
fn loads_more_files_than_may_be_open_at_once() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<String> = (0..300)
        .map(|i| {
            let path = dir.path().join(format!("{i}.txt"));
            std::fs::write(&path, format!("SET k{i} {i}\n")).unwrap();
            path.display().to_string()
        })
        .collect();
    let mut command = format!(
        "ulimit -n 64 && exec {} --pipe -p {}",
        env!("CARGO_BIN_EXE_rload"),
        redis.port
    );
    for f in &files {
        command.push(' ');
        command.push_str(f);
    }
    let run = run_with(Command::new("sh").arg("-c").arg(&command), Vec::new());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 300), "{run:?}");
    assert_eq!(redis.dbsize(), 300);
}

/// Loads the first `n` commands of `lines` into one server, then resumes
/// the whole of it from `n`; loads it whole into another. The two must
/// hold the same data, and the resumed run must count only the replies
/// to the commands it sent from the input.
fn resuming_matches_a_clean_load(lines: &[&str], n: usize) {
    let whole: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let prefix: String = lines[..n].iter().map(|l| format!("{l}\n")).collect();
    let resumed = Redis::start();
    let first = rload_pipe(&resumed, &[], prefix);
    let again = rload_pipe(&resumed, &["--resume-from", &n.to_string()], whole.clone());
    assert_eq!(
        again.counts().1,
        (lines.len() - n) as u64,
        "rload's own SELECT is not a reply of the load: {again:?}"
    );
    let clean = Redis::start();
    let full = rload_pipe(&clean, &[], whole);
    assert_eq!(
        resumed.digest(),
        clean.digest(),
        "resumed from {n}: {first:?}\n{again:?}\nclean: {full:?}"
    );
}

#[test]
fn a_resumed_load_selects_the_database_the_skipped_part_left_selected() {
    resuming_matches_a_clean_load(&["SELECT 2", "SET a 1", "SET b 2"], 2);
    // SELECT 99 failed: the database stayed 2.
    resuming_matches_a_clean_load(&["SELECT 2", "SET a 1", "SELECT 99", "SET b 2"], 3);
    // RESET goes back to database 0.
    resuming_matches_a_clean_load(&["SELECT 2", "RESET", "SET b 2"], 2);
}

#[test]
fn a_select_in_a_skipped_transaction_counts_only_if_the_transaction_ran() {
    // Ran: database 3 from then on.
    resuming_matches_a_clean_load(&["MULTI", "SELECT 3", "SET x 1", "EXEC", "SET b 2"], 4);
    // Discarded: still database 1.
    resuming_matches_a_clean_load(
        &[
            "SELECT 1", "MULTI", "SELECT 3", "SET x 1", "DISCARD", "SET b 2",
        ],
        5,
    );
    // Aborted at EXEC (a queued command was refused): still database 1.
    resuming_matches_a_clean_load(
        &[
            "SELECT 1",
            "MULTI",
            "SELECT 3",
            "NOSUCHCOMMAND x",
            "EXEC",
            "SET b 2",
        ],
        5,
    );
}

/// A `MULTI` the server refuses opens no transaction: its commands run one
/// by one, so the account says so (no "discarded", no stop at the end of
/// the input), and the resume point is after them: resuming does not run
/// them twice. Refused for its arguments, and by an ACL without `multi`.
#[test]
fn a_refused_multi_opens_no_transaction_and_the_resume_point_follows_its_commands() {
    let redis = Redis::start();
    redis.cli(&[
        "ACL", "SETUSER", "nomulti", "on", ">pw", "~*", "+@all", "-multi",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.txt");
    let name = file.display().to_string();
    let port = redis.port.to_string();
    for (multi, who) in [
        ("MULTI now", &["--pipe", "-p", &port][..]),
        (
            "MULTI",
            &[
                "--pipe",
                "-p",
                &port,
                "--user",
                "nomulti",
                "-a",
                "pw",
                "--no-auth-warning",
            ][..],
        ),
    ] {
        redis.cli(&["FLUSHALL"]);
        // The input ends inside what it meant as a transaction.
        let input = format!("SET a 1\n{multi}\nINCR n\nRPUSH l x\n");
        let mut args = who.to_vec();
        args.push("--json");
        let run = crate::support::rload(&args, input.as_str());
        assert_eq!(run.code, 1, "{multi}: {run:?}");
        let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(json["errors"], 1, "the MULTI's error: {json}");
        assert_eq!(json["replies"], 4, "{json}");
        assert_eq!(json["all_sent"], true, "{json}");
        assert_eq!(
            json["discarded_transaction"],
            serde_json::Value::Null,
            "{json}"
        );
        assert!(json["stop"].is_null(), "{json}");
        assert_eq!(
            (
                redis.cli(&["GET", "n"]),
                redis.cli(&["LRANGE", "l", "0", "-1"])
            ),
            ("1".into(), "x".into())
        );

        // Stopped by an invalid line after it: resumed, nothing runs twice.
        redis.cli(&["FLUSHALL"]);
        std::fs::write(&file, format!("{input}SET b \"2\nSET c 3\n")).unwrap();
        let mut args = who.to_vec();
        args.push(&name);
        let run = crate::support::rload(&args, "");
        assert_eq!(run.code, 3, "{multi}: {run:?}");
        assert!(!run.stderr.contains("discarded"), "{multi}: {run:?}");
        assert!(
            run.stderr
                .contains("the server acknowledged 4 commands; the last was command 4"),
            "{multi}: {run:?}"
        );
        std::fs::write(&file, format!("{input}SET b 2\nSET c 3\n")).unwrap();
        let line = run
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("rload: fix the input, then resume with: "))
            .unwrap_or_else(|| panic!("no resume line: {run:?}"));
        assert!(line.ends_with("--resume-from 4"), "{multi}: {line}");
        let mut again = Command::new("sh");
        if let Some(rest) = line.strip_prefix("REDISCLI_AUTH=... ") {
            again.env("REDISCLI_AUTH", "pw").args(["-c", rest]);
        } else {
            again.args(["-c", line]);
        }
        let again = run_with(&mut again, Vec::new());
        assert_eq!(again.code, 0, "{multi}: {line}: {again:?}");
        assert_eq!(again.counts(), (0, 2), "{again:?}");
        assert_eq!(redis.cli(&["GET", "n"]), "1", "{multi}: INCR ran once");
        assert_eq!(redis.cli(&["LRANGE", "l", "0", "-1"]), "x", "{multi}");
        assert_eq!(
            (redis.cli(&["GET", "b"]), redis.cli(&["GET", "c"])),
            ("2".into(), "3".into())
        );
    }
}
