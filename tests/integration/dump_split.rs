//! `--split I/N --scan` of one server: each part scans only its own
//! stretch of the server's hash table, so the N parts read each key once
//! between them while each scans about 1/N of the keys (counted by the
//! dump's account, and its `SCAN` calls by the server's `INFO
//! commandstats`); a small database is read whole by each part, which
//! keeps its hash slots; a stopped part goes on inside its stretch.

use std::collections::HashMap;

use serde_json::Value;

use crate::support::{Redis, Run, go_on, rload, rload_pipe, set_lines, stopped_once_written};

/// Keys of the big database: 50 pages of `SCAN`.
const KEYS: u64 = 50_000;

/// The most keys a part's boundary may cost: one page.
const PAGE: u64 = 1000;

/// The dump's account, its last line on standard error (`--json`).
fn account(run: &Run) -> Value {
    let line = run.stderr.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

/// The database and name of each key a dump wrote as JSON lines.
fn names(run: &Run) -> Vec<(u64, String)> {
    run.stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            (
                v["db"].as_u64().unwrap_or(0),
                v["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `rload --dump --scan` of `redis` as JSON lines, with `flags`.
fn dump(redis: &Redis, flags: &[&str]) -> Run {
    let port = redis.port.to_string();
    let mut args = vec![
        "--dump", "--scan", "-p", &port, "--format", "jsonl", "--json",
    ];
    args.extend_from_slice(flags);
    let run = rload(&args, "");
    assert_eq!(run.code, 0, "{flags:?}: {run:?}");
    run
}

/// `SCAN` calls the server answered since `CONFIG RESETSTAT`.
fn scan_calls(redis: &Redis) -> u64 {
    redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_scan:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

fn number(account: &Value, field: &str) -> u64 {
    account[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {account}"))
}

/// Asserts `parts` hold `want` keys between them, each once.
fn once_each(parts: &[Vec<(u64, String)>], want: usize, what: &str) {
    let mut seen: HashMap<&(u64, String), u32> = HashMap::new();
    for key in parts.iter().flatten() {
        *seen.entry(key).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "{what}: read twice: {twice:?}");
    assert_eq!(seen.len(), want, "{what}: keys read");
}

fn loaded(keys: u64) -> Redis {
    let redis = Redis::start();
    assert_eq!(rload_pipe(&redis, &[], set_lines(0..keys)).code, 0);
    redis
}

#[test]
fn parts_of_one_server_read_each_key_once_and_scan_only_their_share() {
    let redis = loaded(KEYS);
    redis.cli(&["CONFIG", "RESETSTAT"]);
    let whole = account(&dump(&redis, &[]));
    let whole_calls = scan_calls(&redis);
    assert_eq!(number(&whole, "scan_calls"), whole_calls);
    assert_eq!(number(&whole, "scanned_keys"), KEYS);
    for n in [2u64, 3, 4, 16] {
        let mut parts = Vec::new();
        for i in 0..n {
            redis.cli(&["CONFIG", "RESETSTAT"]);
            let run = dump(&redis, &["--split", &format!("{i}/{n}")]);
            let a = account(&run);
            let keys = names(&run);
            let what = format!("part {i}/{n}: {a}");
            assert_eq!(number(&a, "keys"), keys.len() as u64, "{what}");
            // Its share of the table holds about 1/N of the keys (within
            // an eighth when N is not a power of two, and chance).
            let share = KEYS / n;
            assert!(
                (keys.len() as u64).abs_diff(share) < share / 5,
                "{what}: {} keys",
                keys.len()
            );
            // It scanned its own keys, and at most a page of another's.
            let scanned = number(&a, "scanned_keys");
            assert!(scanned < keys.len() as u64 + PAGE, "{what}");
            // The server answered the SCAN calls the account counts: about
            // 1/N of a whole scan's, and a few at the boundary.
            let calls = scan_calls(&redis);
            assert_eq!(number(&a, "scan_calls"), calls, "{what}");
            assert!(calls <= whole_calls / n + 15, "{what}: {calls} calls");
            parts.push(keys);
        }
        once_each(&parts, KEYS as usize, &format!("{n} parts"));
    }
}

#[test]
fn a_small_database_is_read_whole_by_each_part_which_keeps_its_slots() {
    let redis = loaded(20_000);
    // 16 parts split a database of 128 keys or more by its table.
    let small = format!("SELECT 5\n{}", set_lines(0..100));
    assert_eq!(rload_pipe(&redis, &[], small).code, 0);
    let mut parts = Vec::new();
    let mut db5 = Vec::new();
    for i in 0..16 {
        let split = format!("{i}/16");
        let run = dump(&redis, &["--split", &split]);
        let a = account(&run);
        let scanned = number(&a, "scanned_keys");
        // Its share of database 0, and all of database 5.
        assert!(scanned < 20_000 / 16 * 6 / 5 + PAGE + 100, "{split}: {a}");
        parts.push(names(&run));
        let alone = dump(&redis, &["--split", &split, "-n", "5"]);
        assert_eq!(number(&account(&alone), "scanned_keys"), 100, "{split}");
        db5.push(names(&alone));
    }
    once_each(&parts, 20_100, "16 parts of two databases");
    assert!(parts.iter().flatten().filter(|k| k.0 == 5).count() == 100);
    once_each(&db5, 100, "16 parts of database 5");
}

#[test]
fn split_dumps_that_match_read_each_matching_key_once() {
    let redis = loaded(KEYS);
    let mut parts = Vec::new();
    for i in 0..4 {
        let split = format!("{i}/4");
        let run = dump(
            &redis,
            &["--split", &split, "--match", "Key1*", "--type", "string"],
        );
        let keys = names(&run);
        assert!(keys.iter().all(|k| k.1.starts_with("Key1")), "{split}");
        parts.push(keys);
    }
    // Key1, Key10-19, Key100-199, Key1000-1999, Key10000-19999.
    once_each(&parts, 11_111, "4 parts matching Key1*");
}

#[test]
fn a_stopped_part_goes_on_inside_its_stretch() {
    let redis = loaded(KEYS);
    let port = redis.port.to_string();
    let part1 = names(&dump(&redis, &["--split", "1/4"])).len() as u64;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("part1.resp");
    let args = format!("--dump --scan -p {port} --split 1/4 --rate 4000 --json");
    let stopped = stopped_once_written(&args, &file, 50_000, libc::SIGTERM);
    assert_eq!(stopped.code, 143, "{stopped:?}");
    let a = account(&stopped);
    let cursor = a["cursor"].as_str().unwrap().to_string();
    assert_ne!(cursor, "0", "{a}");

    // Another part's cursor is refused, before anything is written.
    let wrong = rload(
        &[
            "--dump", "--scan", "-p", &port, "--split", "0/4", "--cursor", &cursor,
        ],
        "",
    );
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains("does not hold this cursor"),
        "{wrong:?}"
    );
    assert!(wrong.stdout.is_empty());

    let resume = a["resume_command"].as_str().unwrap();
    let again = go_on(resume, &file);
    assert_eq!(again.code, 0, "{again:?}");
    // Between them, every key of the part, once: the page it stopped in
    // is counted by the run that went on.
    assert_eq!(number(&a, "keys") + number(&account(&again), "keys"), part1);

    // With the other parts, the whole server.
    let target = Redis::start();
    for i in [0, 2, 3] {
        let run = rload(
            &[
                "--dump",
                "--scan",
                "-p",
                &port,
                "--split",
                &format!("{i}/4"),
            ],
            "",
        );
        assert_eq!(rload_pipe(&target, &[], run.stdout).code, 0);
    }
    let file = file.to_str().unwrap();
    assert_eq!(rload_pipe(&target, &[file], "").code, 0);
    assert_eq!(target.digest(), redis.digest());
}

#[test]
fn a_stopped_part_of_a_small_database_goes_on_from_its_start() {
    let redis = loaded(100);
    let port = redis.port.to_string();
    // The part with the most keys, so that it stops with some written.
    let (i, keys) = (0..16)
        .map(|i| (i, names(&dump(&redis, &["--split", &format!("{i}/16")]))))
        .max_by_key(|(_, keys)| keys.len())
        .unwrap();
    assert!(keys.len() >= 3, "{keys:?}");
    let split = format!("{i}/16");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("part.jsonl");
    let args = format!("--dump --scan -p {port} --split {split} --format jsonl --rate 1 --json");
    let stopped = stopped_once_written(&args, &file, 0, libc::SIGTERM);
    let written = || std::fs::read_to_string(&file).unwrap_or_default();
    assert_eq!(stopped.code, 143, "{stopped:?}");
    let a = account(&stopped);
    // It may have been split by its table when it goes on: from the start,
    // and what was written counts as the page it stopped in.
    assert_eq!(a["cursor"], "0", "{a}");
    assert_eq!(number(&a, "keys"), 0, "{a}");
    let partial = number(&a, "partial_page_keys");
    assert_eq!(partial, written().lines().count() as u64, "{a}");
    assert!(partial >= 1 && partial < keys.len() as u64, "{a}");

    let again = dump(&redis, &["--split", &split, "--cursor", "0"]);
    assert_eq!(names(&again), keys);
}
