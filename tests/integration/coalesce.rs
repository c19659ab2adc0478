//! `--coalesce` against real servers: the same dataset, counts and error
//! lines as `redis-cli --pipe` on the same input, with errors inside merged
//! runs, commands that break runs, transactions and SELECT; in a cluster,
//! through a live reshard; and an exact account and resume point after a
//! lost connection, a reconnect and a signal.

use std::collections::HashMap;
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::support::{
    AOF_ALWAYS, Background, Cluster, Redis, acknowledged, error_lines, redis_cli, resp,
    resume_line, rload, rload_pipe, run_with, value_digests, wait_until,
};

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.below(of.len() as u64) as usize]
    }
}

/// Commands of every mergeable kind on a small pool of keys, so runs form
/// and types collide (WRONGTYPE errors inside merged runs), mixed with
/// forms that are not merged (options, bad scores, odd arities), commands
/// that break runs, transactions (one aborted by a bad command inside) and
/// SELECT. Each command is a list of plain tokens.
pub fn mixed_commands(seed: u64, n: usize) -> Vec<Vec<String>> {
    let mut g = Gen(seed);
    let mut out: Vec<Vec<String>> = Vec::new();
    let cmd = |words: &[String]| words.to_vec();
    while out.len() < n {
        let key = format!("{}{}", g.pick(&["k", "l", "s", "h", "z", "p"]), g.below(6));
        let v = format!("v{}", g.below(40));
        let w = format!("w{}", g.below(40));
        let run = 1 + g.below(12);
        match g.below(20) {
            0..=3 => {
                let verb = g.pick(&["RPUSH", "LPUSH"]);
                for i in 0..run {
                    out.push(cmd(&[verb.into(), key.clone(), format!("{v}.{i}")]));
                }
            }
            4 | 5 => {
                for _ in 0..run {
                    let verb = g.pick(&["SADD", "SADD", "SREM", "PFADD"]);
                    let m = format!("m{}", g.below(30));
                    out.push(cmd(&[verb.into(), key.clone(), m, v.clone()]));
                }
            }
            6 | 7 => {
                for _ in 0..run {
                    let f = format!("f{}", g.below(10));
                    let verb = g.pick(&["HSET", "HSET", "HMSET", "HDEL"]);
                    let args = if verb == "HDEL" {
                        vec![verb.into(), key.clone(), f]
                    } else {
                        vec![
                            verb.into(),
                            key.clone(),
                            f,
                            v.clone(),
                            "g".into(),
                            w.clone(),
                        ]
                    };
                    out.push(args);
                }
            }
            8 | 9 => {
                for _ in 0..run {
                    let m = format!("m{}", g.below(20));
                    let score = g.pick(&["1", "-2.5", "3e2", "+inf", "-inf", "7"]);
                    let verb = g.pick(&["ZADD", "ZADD", "ZADD", "ZREM", "GEOADD"]);
                    let args = match verb {
                        "ZREM" => vec![verb.into(), key.clone(), m],
                        "GEOADD" => {
                            // On the map, at its edges, and off it.
                            let (x, y) = [
                                ("13.361389", "38.115556"),
                                ("-180", "85.05112878"),
                                ("180", "-85.05112878"),
                                ("180.0001", "0"),
                                ("0", "85.0512"),
                            ][g.below(5) as usize];
                            vec![verb.into(), key.clone(), x.into(), y.into(), m]
                        }
                        _ => vec![verb.into(), key.clone(), score.into(), m],
                    };
                    out.push(args);
                }
            }
            10..=12 => {
                for i in 0..run {
                    let k = format!("k{}", g.below(50));
                    out.push(cmd(&["SET".into(), k, format!("{v}.{i}")]));
                }
            }
            // Not merged: options, bad scores, odd arities.
            13 => out.push(match g.below(5) {
                0 => cmd(&["SET".into(), key, v, "EX".into(), "1000".into()]),
                1 => cmd(&["ZADD".into(), key, "nan".into(), v]),
                2 => cmd(&["ZADD".into(), key, "XX".into(), "1".into(), v]),
                3 => cmd(&["HSET".into(), key, v]),
                _ => cmd(&["SET".into(), key, v, "NX".into()]),
            }),
            // Breaking commands: reads, other writes, multi-key ones.
            14 | 15 => out.push(match g.below(6) {
                0 => cmd(&["INCR".into(), key]),
                1 => cmd(&["DEL".into(), key]),
                2 => cmd(&["LPOP".into(), key]),
                3 => cmd(&["APPEND".into(), key, v]),
                4 => cmd(&["RENAME".into(), key, format!("k{}", g.below(6))]),
                _ => cmd(&["LRANGE".into(), key, "0".into(), "-1".into()]),
            }),
            16 | 17 => {
                if g.below(3) == 0 {
                    // rload must not apply a batch together (its own EXEC
                    // would end this WATCH) until the EXEC below.
                    out.push(cmd(&["WATCH".into(), key.clone()]));
                    for i in 0..run {
                        let list = format!("l{}", i % 3);
                        out.push(cmd(&["RPUSH".into(), list, format!("{v}.{i}")]));
                    }
                }
                out.push(cmd(&["MULTI".into()]));
                for i in 0..run.min(4) {
                    let verb = g.pick(&["RPUSH", "SADD", "HSET", "SET"]);
                    let mut args = vec![verb.into(), key.clone(), format!("{v}.{i}")];
                    if verb == "HSET" {
                        args.push(w.clone());
                    }
                    out.push(args);
                }
                if g.below(4) == 0 {
                    // Aborts the whole transaction at EXEC.
                    out.push(cmd(&["RPUSH".into(), key]));
                }
                out.push(cmd(&["EXEC".into()]));
            }
            // Pushes onto lists in turn: merged across the batch, which
            // then applies together.
            19 if g.below(2) == 0 => {
                for i in 0..run * 4 {
                    let list = format!("l{}", i % 3);
                    let verb = g.pick(&["RPUSH", "RPUSH", "LPUSH"]);
                    out.push(cmd(&[verb.into(), list, format!("{v}.{i}")]));
                }
            }
            18 => {
                out.push(cmd(&["SELECT".into(), "1".into()]));
                for i in 0..run {
                    out.push(cmd(&["RPUSH".into(), key.clone(), format!("{v}.{i}")]));
                    out.push(cmd(&["SET".into(), format!("k{i}"), v.clone()]));
                }
                out.push(cmd(&["SELECT".into(), "0".into()]));
            }
            _ => {
                // The same key, taken by another type: every merged command
                // after it fails, on each line it stands for.
                let taken = format!("k{}", g.below(6));
                out.push(cmd(&["SET".into(), taken.clone(), v.clone()]));
                for i in 0..run {
                    out.push(cmd(&["RPUSH".into(), taken.clone(), format!("{i}")]));
                }
            }
        }
    }
    out
}

pub fn as_text(commands: &[Vec<String>]) -> String {
    commands.iter().map(|c| c.join(" ") + "\n").collect()
}

fn as_resp(commands: &[Vec<String>]) -> Vec<u8> {
    commands
        .iter()
        .flat_map(|c| resp(&c.iter().map(String::as_bytes).collect::<Vec<_>>()))
        .collect()
}

/// The error messages a run printed, sorted; rload's without their
/// `file:line: ` prefix.
pub fn error_messages(stderr: &str, prefixed: bool) -> Vec<String> {
    let mut all: Vec<String> = stderr
        .lines()
        .filter(|l| !l.starts_with("All data transferred"))
        .map(|l| {
            if prefixed {
                let (_, rest) = l.split_once(": ").unwrap_or_else(|| panic!("{l}"));
                rest.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    all.sort();
    all
}

/// Calls of each command the server executed (INFO commandstats).
fn calls(redis: &Redis) -> HashMap<String, u64> {
    redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(":calls=")?;
            let n = rest.split(',').next()?.parse().ok()?;
            Some((name.to_string(), n))
        })
        .collect()
}

#[test]
fn a_coalesced_load_matches_redis_cli_pipe_in_data_counts_and_errors() {
    let commands = mixed_commands(0x5eed_c0a1, 30_000);
    let reference = Redis::start();
    let ours = Redis::start();
    let cli = redis_cli(
        &["-p", &reference.port.to_string(), "--pipe"],
        as_resp(&commands),
    );
    let run = rload_pipe(&ours, &["--coalesce"], as_text(&commands));
    let (errors, replies) = cli.counts();
    assert!(errors > 500, "the corpus has errors inside runs: {cli:?}");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (errors, replies));
    assert_eq!(ours.digest(), reference.digest());
    assert_eq!(
        error_messages(&run.stderr, true),
        error_messages(&cli.stderr, false),
        "the same error replies, one per input command"
    );
    // Merged: the server ran far fewer list pushes than the input holds.
    let pushes = commands
        .iter()
        .filter(|c| c[0] == "RPUSH" || c[0] == "LPUSH")
        .count() as u64;
    let ran = calls(&ours);
    let ran_pushes =
        ran.get("rpush").copied().unwrap_or(0) + ran.get("lpush").copied().unwrap_or(0);
    assert!(
        ran_pushes * 2 < pushes,
        "{ran_pushes} of {pushes} pushes ran"
    );
    assert!(ran.get("mset").copied().unwrap_or(0) > 0, "{ran:?}");
    assert!(
        ran.get("exec").copied().unwrap_or(0) > calls(&reference).get("exec").copied().unwrap_or(0),
        "some batches applied together: {ran:?}"
    );
    let geoadds = commands.iter().filter(|c| c[0] == "GEOADD").count() as u64;
    assert!(ran.get("geoadd").copied().unwrap_or(0) < geoadds, "{ran:?}");
    assert_eq!(calls(&reference).get("mset"), None);
}

#[test]
fn an_error_reply_to_a_merged_command_is_reported_on_every_line_it_covers() {
    let redis = Redis::start();
    let input = "SET k string\nRPUSH k a\nRPUSH k b\nRPUSH k c\nSADD s x\nSADD s y\nRPUSH l 1\n";
    let run = rload_pipe(&redis, &["--coalesce"], input);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (3, 7));
    let wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value";
    let want: String = (2..=4)
        .map(|n| format!("<stdin>:{n}: {wrongtype}\n"))
        .collect();
    assert_eq!(run.stderr, want, "{run:?}");
    let ran = calls(&redis);
    assert_eq!(
        ran.get("rpush"),
        Some(&2),
        "one merged RPUSH k, one RPUSH l"
    );
    assert_eq!(ran.get("sadd"), Some(&1));
    assert_eq!(redis.cli(&["SCARD", "s"]), "2");
}

#[test]
fn emitted_coalesced_commands_load_the_same_dataset() {
    let commands = mixed_commands(0xe4e1, 10_000);
    let plain = Redis::start();
    let from_emit = Redis::start();
    let direct = rload_pipe(&plain, &[], as_text(&commands));
    let emitted = rload(&["--emit", "--coalesce"], as_text(&commands));
    assert_eq!(emitted.code, 0, "{emitted:?}");
    let loaded = redis_cli(
        &["-p", &from_emit.port.to_string(), "--pipe"],
        emitted.stdout.clone().into_bytes(),
    );
    let (_, replies) = loaded.counts();
    assert!(
        replies * 4 < direct.counts().1 * 3,
        "{replies} merged commands for {:?}",
        direct.counts()
    );
    assert_eq!(from_emit.digest(), plain.digest());
}

/// `RPUSH` onto 8 lists, in runs of `run` elements per list. Each element
/// is its number, padded to 96 digits, so that a batch takes the server
/// many reads of its socket (each followed by an fsync, with
/// `appendfsync always`) and a pause lands inside one.
pub fn list_runs(n: u64, run: u64) -> String {
    (0..n)
        .map(|i| format!("RPUSH list:{} {i:0>96}\n", (i / run) % 8))
        .collect()
}

/// A server of its own loaded with `input`, plainly and without a fault:
/// the dataset a faulted load must end at.
fn clean_load(input: &str) -> Redis {
    let clean = Redis::start();
    let run = rload_pipe(&clean, &[], input);
    assert_eq!(run.code, 0, "{run:?}");
    clean
}

/// `input` in a file of a temporary directory (kept while the first is):
/// read from a file, 256 KiB at a time, batches are full size.
fn in_a_file(input: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("input.txt");
    std::fs::write(&file, input).expect("write the input");
    (dir, file)
}

/// The elements of the lists `list_runs` writes (read one by one: a script
/// would wait out a `CLIENT PAUSE WRITE`).
fn list_elements(redis: &Redis) -> u64 {
    (0..8)
        .map(|l| -> u64 {
            let n = redis.cli(&["LLEN", &format!("list:{l}")]);
            n.parse().unwrap_or_else(|_| panic!("LLEN: {n}"))
        })
        .sum()
}

/// The server dies mid-load; writes were paused first, so every executed
/// merged command was answered. The account counts the input commands
/// those stand for, exactly; the resume command completes the load to the
/// dataset of a clean one, each element once and in order.
#[test]
fn a_lost_connection_gets_an_exact_account_and_the_resume_command_completes_the_load() {
    lost_connection_then_resume(list_runs(N_LISTED, 50), false);
}

/// The same, with the lists fed in turn: merged pushes stand for input
/// commands that are not consecutive, so each batch applies together
/// (rload's own MULTI/EXEC), and the account and resume point stay exact:
/// from standard input, and from a file, read in full-size batches whose
/// blocks span several chunks.
#[test]
fn pushes_fed_in_turn_apply_together_and_resume_exactly() {
    lost_connection_then_resume(list_runs(N_LISTED, 1), false);
    lost_connection_then_resume(list_runs(N_LISTED, 1), true);
}

const N_LISTED: u64 = 300_000;

fn lost_connection_then_resume(input: String, from_file: bool) {
    const N: u64 = N_LISTED;
    let clean = clean_load(&input);

    let (_dir, file) = in_a_file(&input);
    let mut redis = Redis::start_with(&AOF_ALWAYS);
    let port = redis.port.to_string();
    let mut args = vec!["--pipe", "-p", &port, "--coalesce"];
    if from_file {
        args.push(file.to_str().expect("a UTF-8 path"));
    }
    let load = Background::start(&args, input.clone().into_bytes())
        .underway(60, || redis.dbsize() == 8 && list_elements(&redis) > 20_000);
    redis.cli(&["CLIENT", "PAUSE", "60000", "WRITE"]);
    thread::sleep(Duration::from_millis(500));
    let held = list_elements(&redis);
    redis.kill();
    let run = load.wait();
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(acknowledged(&run), held, "{run:?}");
    assert!(held < N, "{run:?}");

    redis.restart();
    assert_eq!(list_elements(&redis), held);
    let resume = resume_line(&run).unwrap_or_else(|| panic!("no resume command in {run:?}"));
    assert!(
        resume.contains(&format!("--resume-from {held}")),
        "{resume}"
    );
    let again = run_with(
        Command::new("sh").arg("-c").arg(&resume),
        input.into_bytes(),
    );
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.counts(), (0, N - held));
    assert_eq!(redis.digest(), clean.digest());
}

/// The server restarts mid-load; with `--reconnect` the unacknowledged
/// merged commands are sent again and the load ends as a clean one would.
/// The input is of idempotent kinds (MSET, HSET, SADD), which may be
/// executed twice when a reply is lost with the connection.
#[test]
fn reconnect_replays_merged_commands_to_the_clean_dataset() {
    const N: u64 = 600_000;
    let input: String = (0..N)
        .map(|i| match i % 3 {
            0 => format!("SET key:{i} {i}\n"),
            1 => format!("HSET user:{} f{i} {i}\n", i % 5000),
            _ => format!("SADD set:{} {i}\n", i % 700),
        })
        .collect();
    let clean = clean_load(&input);

    let mut redis = Redis::start_with(&AOF_ALWAYS);
    let port = redis.port.to_string();
    let load = Background::start(
        &[
            "--pipe",
            "-p",
            &port,
            "--coalesce",
            "--reconnect",
            "30",
            "--rate",
            "300000",
        ],
        input.into_bytes(),
    )
    .underway(60, || redis.dbsize() > 20_000);
    redis.kill();
    thread::sleep(Duration::from_millis(300));
    redis.respawn();
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, N), "every input command answered once");
    assert!(run.stderr.contains("reconnected to"), "{run:?}");
    assert!(wait_until(30, || redis.digest() == clean.digest()));
}

/// SIGTERM mid-load, with per-field HSETs merged across the batch (not only
/// runs): what was acknowledged is what the server holds, and the resume
/// command, which may send some fields again, ends at the clean dataset.
#[test]
fn a_signal_mid_load_gets_an_exact_account_and_resumes_to_the_clean_dataset() {
    const N: u64 = 600_000;
    let input: String = (0..N)
        .map(|i| format!("HSET user:{} f{i} {i}\n", i % 1000))
        .collect();
    let clean = clean_load(&input);

    let redis = Redis::start();
    let port = redis.port.to_string();
    let fields = || -> u64 {
        const SUM: &str = "local n = 0 for _, k in ipairs(redis.call('KEYS', '*')) do n = n + redis.call('HLEN', k) end return n";
        redis.cli(&["EVAL", SUM, "0"]).parse().expect("a count")
    };
    let load = Background::start(
        &["--pipe", "-p", &port, "--coalesce", "--rate", "300000"],
        input.clone().into_bytes(),
    )
    .underway(60, || redis.dbsize() == 1000);
    load.signal(libc::SIGTERM);
    let run = load.wait();
    assert_eq!(run.code, 143, "{run:?}");
    let acked = acknowledged(&run);
    assert_eq!(acked, fields(), "{run:?}");
    assert!(acked < N, "the load was cut short: {run:?}");
    let resume = resume_line(&run).unwrap_or_else(|| panic!("no resume line: {run:?}"));
    let again = run_with(
        Command::new("sh").arg("-c").arg(&resume),
        input.into_bytes(),
    );
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(redis.digest(), clean.digest());
}

/// In a cluster, MSET takes keys of one slot only (hash-tagged keys merge,
/// others go alone), and the dataset and counts are those of a plain load
/// into one node, errors and all.
#[test]
fn a_coalesced_cluster_load_equals_a_plain_load_into_one_node() {
    let cluster = Cluster::start(3);
    let single = Redis::start();
    let input: String = (0..40_000)
        .map(|i| {
            let j = (i / 7) % 97;
            format!(
                "SET s:{i} v{i}\nSET {{t{}}}:{i} v{i}\nHSET h:{j} f{i} {i}\nRPUSH l:{j} {i}\nSADD {{tag}}set {i}\nZADD z:{j} {i} m{i}\n{}",
                i % 5,
                if i % 1000 == 0 {
                    format!("SADD l:{j} oops\n")
                } else {
                    String::new()
                }
            )
        })
        .collect();
    let port = cluster.port();
    let on_cluster = rload(&["--pipe", "-c", "-p", &port, "--coalesce"], input.clone());
    let on_single = rload_pipe(&single, &[], input);
    assert_eq!(on_cluster.code, 1, "{on_cluster:?}");
    assert_eq!(on_cluster.counts(), on_single.counts());
    assert_eq!(on_cluster.counts().0, 40, "{on_cluster:?}");
    assert_eq!(
        error_messages(&on_cluster.stderr, true),
        error_messages(&on_single.stderr, true)
    );
    let got = value_digests(&cluster.nodes.iter().collect::<Vec<_>>());
    let want = value_digests(&[&single]);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want, "every key holds the same value");
    let msets: u64 = cluster
        .nodes
        .iter()
        .map(|n| calls(n).get("mset").copied().unwrap_or(0))
        .sum();
    assert!(msets > 0, "hash-tagged keys of one slot merge");
}

/// Slots move while a coalesced load runs: merged commands redirected to
/// the new owner land once each, and every list keeps its input order.
#[test]
fn a_live_reshard_keeps_every_merged_element_once_and_in_order() {
    let cluster = Cluster::start(3);
    crate::cluster::pushes_through_a_reshard(&cluster, &["--coalesce", "--rate", "200000"], |i| {
        (i / 20) % 500
    });
}

/// A master dies mid-load. Writes are paused everywhere first, so every
/// merged command a master executed was answered: the account, in input
/// commands, equals the elements the masters hold.
#[test]
fn a_killed_master_gets_an_exact_account_of_merged_commands() {
    // Read-only, so a CLIENT PAUSE WRITE does not hold it back.
    const ELEMENTS: &str = "local n = 0 for _, k in ipairs(redis.call('KEYS', '*')) do n = n + redis.call('LLEN', k) end return n";
    let elements = |node: &Redis| -> u64 {
        let n = node.cli(&["EVAL_RO", ELEMENTS, "0"]);
        n.parse().unwrap_or_else(|_| panic!("EVAL_RO: {n}"))
    };
    let mut cluster = Cluster::start(3);
    let port = cluster.port();
    let input: String = (0..1_500_000u64)
        .map(|i| format!("RPUSH list:{} {i}\n", (i / 50) % 64))
        .collect();
    let load = Background::start(
        &[
            "--pipe",
            "-c",
            "-p",
            &port,
            "--coalesce",
            "--rate",
            "400000",
        ],
        input.into_bytes(),
    )
    .underway(60, || {
        cluster.nodes.iter().map(elements).sum::<u64>() > 100_000
    });
    let counts: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|node| {
            node.cli(&["CLIENT", "PAUSE", "60000", "WRITE"]);
            thread::sleep(Duration::from_millis(300));
            elements(node)
        })
        .collect();
    let victim = cluster.nodes[2].port;
    let lost = counts[2];
    assert!(lost > 0, "the victim holds some of the lists");
    cluster.nodes[2].kill();
    for node in &cluster.nodes[..2] {
        node.cli(&["CLIENT", "UNPAUSE"]);
    }
    let run = load.wait();
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("connection to 127.0.0.1:{victim} lost")),
        "{run:?}"
    );
    let held: u64 = cluster.nodes[..2].iter().map(elements).sum::<u64>() + lost;
    assert_eq!(acknowledged(&run), held, "{run:?}");
    assert!(run.stderr.contains("--resume-from"), "{run:?}");
}

/// Writes past `maxmemory` fail with OOM inside batches that apply
/// together: when queued, or, for commands queued before the limit was
/// reached, by the EXECABORT that follows. Either way every input command
/// is applied or reported as an error on its own line, never both, never
/// neither.
#[test]
fn out_of_memory_inside_a_batch_applied_together_is_reported_line_by_line() {
    const N: u64 = 40_000;
    let redis = Redis::start_with(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
    let input: String = (0..N)
        .map(|i| format!("RPUSH list:{} {i:0>100}\n", i % 4))
        .collect();
    let run = rload_pipe(&redis, &["--coalesce"], input);
    assert_eq!(run.code, 1, "{run:?}");
    let (errors, replies) = run.counts();
    assert_eq!(replies, N);
    let failed = error_lines(&run, &["OOM command not allowed", "EXECABORT"]);
    assert_eq!(failed.len() as u64, errors, "one line per error");
    let mut held: Vec<u64> = (0..4)
        .flat_map(|l| {
            redis
                .cli(&["LRANGE", &format!("list:{l}"), "0", "-1"])
                .lines()
                .map(|e| e.parse::<u64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    held.sort_unstable();
    assert!(errors > 0 && !held.is_empty(), "{run:?}");
    let mut all: Vec<u64> = failed.iter().chain(&held).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..N).collect::<Vec<_>>(),
        "every command applied or failed, once"
    );
    assert!(
        calls(&redis).get("exec").copied().unwrap_or(0) > 0,
        "batches applied together"
    );
}

/// The server restarts in the middle of batches that apply together
/// (writes paused first, so nothing ran unanswered): `--reconnect` sends
/// the open block again, whole, and every list ends as a clean load leaves
/// it, each element once and in order.
#[test]
fn reconnect_replays_a_block_applied_together_whole() {
    let input = list_runs(N_LISTED, 1);
    let clean = clean_load(&input);

    // From a file, so the blocks are full size and span several chunks.
    let (_dir, file) = in_a_file(&input);
    let mut redis = Redis::start_with(&AOF_ALWAYS);
    let port = redis.port.to_string();
    let load = Background::start(
        &[
            "--pipe",
            "-p",
            &port,
            "--coalesce",
            "--reconnect",
            "30",
            file.to_str().expect("a UTF-8 path"),
        ],
        Vec::new(),
    )
    .underway(60, || redis.dbsize() == 8 && list_elements(&redis) > 20_000);
    redis.cli(&["CLIENT", "PAUSE", "60000", "WRITE"]);
    thread::sleep(Duration::from_millis(500));
    let held = list_elements(&redis);
    redis.kill();
    redis.respawn();
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.counts(),
        (0, N_LISTED),
        "every input command answered once"
    );
    assert!(run.stderr.contains("reconnected to"), "{run:?}");
    assert!(held < N_LISTED, "the restart came mid-load");
    assert_eq!(redis.digest(), clean.digest());
}

/// A user not allowed MULTI: rload asks the server what the user may run
/// before it merges, so it never sends a MULTI of its own (nor a notice
/// that one was refused), and the load matches a plain one.
#[test]
fn a_user_without_multi_gets_no_batch_applied_together_and_the_load_still_matches() {
    let redis = Redis::start();
    let clean = Redis::start();
    redis.cli(&[
        "ACL", "SETUSER", "loader", "on", ">pw", "~*", "+@all", "-multi",
    ]);
    let input = list_runs(20_000, 1);
    let plain = rload_pipe(&clean, &[], input.clone());
    let run = rload_pipe(
        &redis,
        &[
            "--coalesce",
            "--user",
            "loader",
            "-a",
            "pw",
            "--no-auth-warning",
        ],
        input,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), plain.counts());
    assert!(!run.stderr.contains("refused rload's MULTI"), "{run:?}");
    assert!(
        !redis
            .cli(&["INFO", "commandstats"])
            .contains("cmdstat_multi"),
        "no MULTI was sent, not even refused"
    );
    assert_eq!(redis.digest(), clean.digest());
}

/// Errors inside blocks applied together are all counted and reported
/// when the writer is far ahead of the server: writes are paused while
/// rload fills its window, so once they resume, a block's first chunks are
/// answered (and could go back to the pool) long before its EXEC is.
#[test]
fn errors_in_blocks_applied_together_are_all_counted_when_the_server_lags() {
    // A quarter of the pushes fail: `l2` holds a string throughout.
    let mut commands = vec![vec!["SET".to_string(), "l2".into(), "taken".into()]];
    for i in 0..300_000u64 {
        commands.push(vec![
            "RPUSH".into(),
            format!("l{}", i % 4),
            format!("{i:0>60}"),
        ]);
    }
    let reference = Redis::start();
    let cli = redis_cli(
        &["-p", &reference.port.to_string(), "--pipe"],
        as_resp(&commands),
    );
    assert_eq!(cli.counts(), (75_000, 300_001), "{cli:?}");
    // From a file: read 256 KiB at a time, the batches are full size.
    let (_dir, file) = in_a_file(&as_text(&commands));
    let redis = Redis::start();
    redis.cli(&["CLIENT", "PAUSE", "1500", "WRITE"]);
    let run = rload_pipe(&redis, &["--coalesce", file.to_str().unwrap()], "");
    assert_eq!(run.counts(), cli.counts(), "{}", &run.stdout);
    assert_eq!(
        run.stderr.lines().count() as u64,
        cli.counts().0,
        "one line per error"
    );
    assert_eq!(redis.digest(), reference.digest());
}
