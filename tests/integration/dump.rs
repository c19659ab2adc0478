//! `--dump` against real servers: every type, binary data, TTLs and a
//! consumer group, dumped and loaded into an empty server (and over stale
//! keys), in each format; a cluster; big keys in flat memory; a dump cut
//! short and continued.

use std::process::Command;

use crate::support::{
    Background, Cluster, Redis, Run, go_on, redis_cli, rload, rload_pipe, run_with,
};

/// Every core type, binary keys and values, TTLs, a stream with a deleted
/// entry and two consumer groups, a HyperLogLog, and scores of every kind.
const SOURCE: &str = r#"SET s "hello world"
SET "bin\x00key" "\x00\xff\r\n"
SET ttl v
PEXPIRE ttl 100000000
RPUSH l a b c "d e" ""
SADD st x y z "\xfe"
ZADD z 1.5 a inf b -inf c 2 "d d" 0.1 e -0 f
HSET h f1 v1 "f 2" "v 2" "" empty
PEXPIRE h 200000000
XADD x 1-1 a 1
XADD x 2-1 b 2
XADD x 3-1 c 3
XDEL x 3-1
XGROUP CREATE x g1 1-1
XGROUP CREATE x g2 $
XGROUP CREATE empty g 0 MKSTREAM
PFADD hll a b c d
"#;

fn loaded_source() -> Redis {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &[], SOURCE);
    assert_eq!(run.code, 0, "{run:?}");
    redis
}

/// `rload --dump` of `redis` with `flags`; stdout is the dump.
fn dump(redis: &Redis, flags: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_rload"))
        .args(["--dump", "-p", &redis.port.to_string()])
        .args(flags)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// What the digest does not cover: expiry times, stream IDs and groups.
fn extras(redis: &Redis) -> Vec<String> {
    let mut v = vec![
        redis.cli(&["PEXPIRETIME", "ttl"]),
        redis.cli(&["PEXPIRETIME", "h"]),
        redis.cli(&["PEXPIRETIME", "s"]),
        redis.cli(&["XINFO", "GROUPS", "x"]),
        redis.cli(&["XINFO", "GROUPS", "empty"]),
    ];
    let info = redis.cli(&["XINFO", "STREAM", "x"]);
    v.extend(
        info.lines()
            .collect::<Vec<_>>()
            .chunks(2)
            .filter(|kv| {
                matches!(
                    kv[0],
                    "last-generated-id" | "entries-added" | "max-deleted-entry-id"
                )
            })
            .map(|kv| kv.join("=")),
    );
    v
}

fn assert_same(a: &Redis, b: &Redis) {
    assert_eq!(a.digest(), b.digest(), "the datasets differ");
    assert_eq!(extras(a), extras(b), "expiries or streams differ");
    assert_eq!(a.dbsize(), b.dbsize());
}

#[test]
fn a_dump_loads_back_to_the_same_dataset_in_every_command_format() {
    let source = loaded_source();
    for format in ["resp", "inline", "restore"] {
        let dumped = dump(&source, &["--format", format]);
        let target = Redis::start();
        let run = rload_pipe(&target, &[], dumped.clone());
        assert_eq!(run.code, 0, "{format}: {run:?}");
        assert_same(&source, &target);
        // And redis-cli loads it the same.
        let target = Redis::start();
        let cli = redis_cli(&["-p", &target.port.to_string(), "--pipe"], dumped);
        assert_eq!(cli.counts().0, 0, "{format}: {cli:?}");
        assert_same(&source, &target);
    }
}

/// The same source with keys in two more databases: every format,
/// JSON lines too (loaded back without a template), rebuilds all of them.
#[test]
fn every_format_round_trips_several_databases() {
    let source = Redis::start();
    let more = "SELECT 3\nSET three 3\nZADD z3 1 a 2 b\nSELECT 15\nXADD x15 5-5 f v\nSET t15 v\nPEXPIRE t15 90000000\n";
    let run = rload_pipe(&source, &[], format!("{SOURCE}{more}"));
    assert_eq!(run.code, 0, "{run:?}");
    for format in ["resp", "inline", "restore", "jsonl"] {
        let dumped = dump(&source, &["--format", format]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("dump.{format}"));
        std::fs::write(&file, &dumped).unwrap();
        let target = Redis::start();
        let run = rload(
            &[
                "--pipe",
                "-p",
                &target.port.to_string(),
                file.to_str().unwrap(),
            ],
            "",
        );
        assert_eq!(run.code, 0, "{format}: {run:?}");
        assert_same(&source, &target);
        for db in ["3", "15"] {
            assert_eq!(
                source.cli(&["-n", db, "DBSIZE"]),
                target.cli(&["-n", db, "DBSIZE"]),
                "{format}: db {db}"
            );
        }
        assert_eq!(
            source.cli(&["-n", "15", "PEXPIRETIME", "t15"]),
            target.cli(&["-n", "15", "PEXPIRETIME", "t15"])
        );
    }
}

#[test]
fn a_dump_replaces_stale_keys_of_other_types() {
    let source = loaded_source();
    let target = Redis::start();
    let stale =
        "SADD s x\nSET l x\nRPUSH st a\nSET z 1\nSADD h a\nSET x 1\nLPUSH empty a\nHSET ttl a b\n";
    assert_eq!(rload_pipe(&target, &[], stale).code, 0);
    let run = rload_pipe(&target, &[], dump(&source, &[]));
    assert_eq!(run.code, 0, "{run:?}");
    assert_same(&source, &target);
}

#[test]
fn json_lines_parse_and_name_every_key() {
    let source = loaded_source();
    let dumped = String::from_utf8(dump(&source, &["--format", "jsonl"])).unwrap();
    let mut keys: Vec<String> = dumped
        .lines()
        .map(|line| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            match &v["key"] {
                serde_json::Value::String(s) => s.clone(),
                other => format!("base64:{}", other["base64"].as_str().unwrap()),
            }
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bin\0key", "empty", "h", "hll", "l", "s", "st", "ttl", "x", "z"
        ]
    );
    let st = dumped
        .lines()
        .find(|l| l.contains("\"key\":\"st\""))
        .unwrap();
    assert!(
        st.contains("{\"base64\":\"/g==\"}"),
        "not UTF-8: base64: {st}"
    );
    let z = dumped
        .lines()
        .find(|l| l.contains("\"key\":\"z\""))
        .unwrap();
    assert!(
        z.contains("[\"b\",\"inf\"]") && z.contains("[\"a\",1.5]"),
        "{z}"
    );
}

#[test]
fn match_and_type_select_keys_on_the_server() {
    let source = loaded_source();
    let dumped =
        String::from_utf8(dump(&source, &["--format", "inline", "--match", "s*"])).unwrap();
    let keys: Vec<&str> = dumped
        .lines()
        .filter(|l| l.starts_with("SET") || l.starts_with("DEL"))
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert!(keys.iter().all(|k| k.starts_with('s')), "{dumped}");
    assert!(keys.contains(&"s") && keys.contains(&"st"), "{dumped}");
    for types in [
        vec!["--type", "zset"],
        vec!["--type", "zset", "--type", "list"],
    ] {
        let dumped = String::from_utf8(dump(
            &source,
            &[&["--format", "jsonl"][..], &types].concat(),
        ))
        .unwrap();
        let kinds: Vec<String> = dumped
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(
            !kinds.is_empty() && kinds.iter().all(|k| types.contains(&k.as_str())),
            "{kinds:?}"
        );
    }
}

/// A list of 2M elements, a hash, a set and a sorted set of 200k: read in
/// windows and written in bounded commands, in flat memory.
#[test]
fn big_keys_dump_in_flat_memory() {
    let source = Redis::start();
    let mut input = String::new();
    for i in 0..2_000 {
        input.push_str("RPUSH big");
        for j in 0..1_000 {
            input.push_str(&format!(" v{}", i * 1000 + j));
        }
        input.push('\n');
    }
    for i in 0..200 {
        let (mut h, mut s, mut z) = (
            String::from("HSET bh"),
            String::from("SADD bs"),
            String::from("ZADD bz"),
        );
        for j in 0..1_000 {
            let n = i * 1000 + j;
            h.push_str(&format!(" f{n} v{n}"));
            s.push_str(&format!(" m{n}"));
            z.push_str(&format!(" {n}.5 m{n}"));
        }
        input.push_str(&format!("{h}\n{s}\n{z}\n"));
    }
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.resp");
    let mut dumping = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec {} --dump -p {} --match 'b*' > {}",
            env!("CARGO_BIN_EXE_rload"),
            source.port,
            file.display()
        ))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", dumping.id());
    let mut peak = 0;
    while dumping.try_wait().unwrap().is_none() {
        let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        });
        peak = peak.max(hwm.unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(dumping.wait().unwrap().success());
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    assert!(peak > 0, "the dump's memory was read");
    let target = Redis::start();
    let back = run_with(
        Command::new(env!("CARGO_BIN_EXE_rload"))
            .args(["--pipe", "-p", &target.port.to_string()])
            .arg(&file),
        Vec::new(),
    );
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(source.digest(), target.digest());
    assert_eq!(target.cli(&["LLEN", "big"]), "2000000");
}

/// Every master of a cluster, in turn.
#[test]
fn a_cluster_dumps_every_master() {
    let cluster = Cluster::start(3);
    let input = crate::support::set_lines(0..30_000) + "RPUSH {t}l a b\nHSET {t}h f v\n";
    let port = cluster.port();
    let run = rload(&["--pipe", "-c", "-p", &port], input.clone());
    assert_eq!(run.code, 0, "{run:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_rload"))
        .args(["--dump", "-c", "-p", &port])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let account = String::from_utf8_lossy(&out.stderr);
    assert!(account.contains("dumped 30002 keys from "), "{account}");
    let single = Redis::start();
    assert_eq!(rload_pipe(&single, &[], out.stdout).code, 0);
    let clean = Redis::start();
    assert_eq!(rload_pipe(&clean, &[], input).code, 0);
    assert_eq!(single.digest(), clean.digest());
}

/// A dump whose connection is lost: its account says where it stopped, and
/// the printed command, appending to the same output, completes it.
#[test]
fn a_dump_cut_short_goes_on_from_where_it_stopped() {
    let source = Redis::start();
    let mut input = crate::support::set_lines(0..200_000);
    input.push_str("RPUSH tail a b c\n");
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.txt");
    let command = format!(
        "{} --dump --scan -p {} --format inline > {}",
        env!("CARGO_BIN_EXE_rload"),
        source.port,
        file.display()
    );
    let dumping = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::metadata(&file).map_or(0, |m| m.len()) < 200_000
        && started.elapsed().as_secs() < 30
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    source.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
    let out = dumping.wait_with_output().unwrap();
    let account = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(5), "{account}");
    let resume = account
        .lines()
        .find_map(|l| l.strip_prefix("rload: to go on (appending to what was written): "))
        .unwrap_or_else(|| panic!("no way to go on: {account}"));
    assert!(resume.contains("--cursor "), "{resume}");
    let again = go_on(resume, &file);
    assert_eq!(again.code, 0, "{again:?}");
    let target = Redis::start();
    let back = rload(
        &[
            "--pipe",
            "-p",
            &target.port.to_string(),
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(
        source.digest(),
        target.digest(),
        "every key, once the dump went on"
    );
}

/// A big key that goes away while it is read in windows leaves nothing
/// half-written: the dump undoes what it wrote of it.
#[test]
fn a_key_that_goes_away_mid_dump_is_not_left_half_written() {
    let source = Redis::start();
    let mut input = String::new();
    for i in 0..3_000 {
        input.push_str("RPUSH doomed");
        for j in 0..1_000 {
            input.push_str(&format!(" v{}", i * 1000 + j));
        }
        input.push('\n');
    }
    input.push_str("SET other 1\n");
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    let port = source.port.to_string();
    let dumping = Background::start_streaming(
        &["--dump", "--scan", "-p", &port, "--format", "resp"],
        |_| {},
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    source.cli(&["DEL", "doomed"]);
    let run: Run = dumping.wait();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let target = Redis::start();
    assert_eq!(rload_pipe(&target, &[], run.stdout.into_bytes()).code, 0);
    assert_eq!(target.cli(&["EXISTS", "doomed"]), "0");
    assert_eq!(target.cli(&["GET", "other"]), "1");
}

/// Redis 7.4's hash field expiry, through every way a dump reads a hash:
/// the page's script (a small hash), windows under `WATCH` (a big one),
/// and the server's snapshot; each loads back with the same fields and the
/// same expiry on each. Needs a newer server than Debian's (see
/// `support::NEWER_REDIS`).
#[test]
fn every_dump_keeps_the_expiry_of_each_hash_field() {
    let test = "every_dump_keeps_the_expiry_of_each_hash_field";
    let Some(source) = Redis::start_newer(test) else {
        return;
    };
    let mut input = String::from("HSET small a 1 b 2 c 3\n");
    input.push_str("HPEXPIREAT small 4102444800000 FIELDS 2 a c\n");
    input.push_str("HSET big");
    for i in 0..2500 {
        input.push_str(&format!(" f{i} v{i}"));
    }
    input.push_str("\nHPEXPIREAT big 4102444800123 FIELDS 3 f1 f1500 f2499\n");
    input.push_str("HPEXPIREAT big 4102444900000 FIELDS 1 f7\n");
    let run = rload_pipe(&source, &[], input);
    assert_eq!(run.code, 0, "{run:?}");
    let expiries = |r: &Redis| {
        let mut all = Vec::new();
        for (key, fields) in [
            ("small", &["a", "b", "c"][..]),
            ("big", &["f1", "f7", "f8", "f1500", "f2499"]),
        ] {
            let mut args = vec!["HPEXPIRETIME", key, "FIELDS"];
            let n = fields.len().to_string();
            args.push(&n);
            args.extend(fields);
            all.push(r.cli(&args));
            all.push(r.cli(&["HLEN", key]));
        }
        all
    };
    let want = expiries(&source);
    assert!(want[0].contains("4102444800000"), "{want:?}");
    for flags in [
        &["--scan"][..],
        &[],
        &["--format", "jsonl"],
        &["--scan", "--format", "jsonl"],
    ] {
        let dumped = dump(&source, flags);
        let target = Redis::start_newer(test).expect("started once");
        let json: &[&str] = if flags.contains(&"jsonl") {
            &["--format", "jsonl"]
        } else {
            &[]
        };
        let run = rload_pipe(&target, json, dumped);
        assert_eq!(run.code, 0, "{flags:?}: {run:?}");
        assert_eq!(expiries(&target), want, "{flags:?}");
        assert_eq!(target.digest(), source.digest(), "{flags:?}");
    }
}
