//! RDB files used three ways, against real servers: loaded (`rload --pipe
//! dump.rdb`, by `RESTORE` where the target reads the file's version and
//! by commands where it does not), converted without a server (`rload
//! --dump dump.rdb` in every format), and taken live from a server as its
//! snapshot (the default of `--dump`). Each ends at the same `DEBUG DIGEST`
//! as a server that loaded the file itself.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::rdb::{fixture_files, server_on, version};
use crate::support::{Cluster, Redis, rload, rload_pipe, value_digests};

fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `rload` with `args`: its exit status, standard output as bytes (a dump
/// holds binary data), and standard error.
fn rload_bytes(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rload"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), out.stdout, err)
}

/// A server's own SAVE of a dataset of every type: TTLs, a stream with a
/// group and a pending entry, big keys, three databases.
fn saved_dataset() -> (Redis, PathBuf) {
    let redis = Redis::start();
    let mut input = String::from(
        "SET s v\nSET n 12345\nSET bin \"\\x00\\xff\"\nSET ttl t\nPEXPIRE ttl 90000000\n\
         RPUSH l a b c\nSADD si 1 2 3\nSADD ss a b\nZADD z 1.5 a inf b -2 c\n\
         HSET h f v g w\nPEXPIRE h 80000000\nXADD x 1-1 f v\nXADD x 2-1 g w\n\
         XGROUP CREATE x grp 0\nXREADGROUP GROUP grp c1 COUNT 1 STREAMS x >\n\
         PFADD hll a b c\nSELECT 3\nSET three 3\nRPUSH l3 x\nSELECT 9\nHSET h9 a b\nSELECT 0\n",
    );
    input.push_str("RPUSH big:list");
    for i in 0..30_000 {
        input.push_str(&format!(" item-{i}"));
    }
    input.push_str("\nHSET big:hash");
    for i in 0..20_000 {
        input.push_str(&format!(" f{i} v{i}"));
    }
    input.push_str(&format!("\nSET big:string {}\n", "x".repeat(3 << 20)));
    assert_eq!(rload_pipe(&redis, &[], input).code, 0);
    assert_eq!(redis.cli(&["SAVE"]), "OK");
    let dir = redis.cli(&["CONFIG", "GET", "dir"]);
    let path = PathBuf::from(dir.lines().nth(1).unwrap()).join("dump.rdb");
    (redis, path)
}

/// What `DEBUG DIGEST` does not cover: expiries and a stream's groups.
fn extras(redis: &Redis) -> Vec<String> {
    vec![
        redis.cli(&["PEXPIRETIME", "ttl"]),
        redis.cli(&["PEXPIRETIME", "h"]),
        redis.cli(&["XINFO", "GROUPS", "x"]),
        redis.cli(&["XINFO", "STREAM", "x"]),
    ]
}

#[test]
fn every_fixture_the_server_reads_loads_to_the_same_digest() {
    let mut loaded = 0;
    for path in fixture_files() {
        if version(&path) > 10 {
            continue;
        }
        let truth = server_on(&path);
        let target = Redis::start();
        let run = rload(
            &["--pipe", "-p", &target.port.to_string(), path_arg(&path)],
            "",
        );
        assert_eq!(run.code, 0, "{}: {run:?}", path.display());
        assert_eq!(target.digest(), truth.digest(), "{}", path.display());
        loaded += 1;
    }
    assert!(loaded >= 8, "{loaded} fixtures loaded");
}

#[test]
fn a_servers_save_loads_by_restore_and_by_commands_to_the_same_dataset() {
    let (source, path) = saved_dataset();
    // RESTORE: the target reads the file's version.
    let target = Redis::start();
    let run = rload(
        &["--pipe", "-p", &target.port.to_string(), path_arg(&path)],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(target.digest(), source.digest());
    assert_eq!(extras(&target), extras(&source));
    let restores = target.cli(&["INFO", "commandstats"]);
    assert!(restores.contains("cmdstat_restore:"), "{restores}");
    // Commands: the file converted to RESP, then loaded.
    let (code, resp, err) = rload_bytes(&["--dump", path_arg(&path)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("dumped 17 keys (db0: 14, db3: 2, db9: 1)"),
        "{err}"
    );
    let target = Redis::start();
    assert_eq!(rload_pipe(&target, &[], resp).code, 0);
    assert_eq!(target.digest(), source.digest());
    // Commands keep expiries and a stream's last ID and groups, not its
    // consumers and pending entries (RESTORE keeps those).
    assert_eq!(extras(&target)[..2], extras(&source)[..2]);
    assert_eq!(extras(&target)[3], extras(&source)[3]);
}

#[test]
fn a_file_converts_to_every_format_with_filters() {
    let (source, path) = saved_dataset();
    for format in ["resp", "inline", "jsonl", "restore"] {
        let (code, out, err) = rload_bytes(&["--dump", path_arg(&path), "--format", format]);
        assert_eq!(code, 0, "{format}: {err}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("out.{format}"));
        std::fs::write(&file, &out).unwrap();
        let target = Redis::start();
        let back = rload(
            &["--pipe", "-p", &target.port.to_string(), path_arg(&file)],
            "",
        );
        assert_eq!(back.code, 0, "{format}: {back:?}");
        assert_eq!(target.digest(), source.digest(), "{format}");
    }
    let some = rload(
        &[
            "--dump",
            path_arg(&path),
            "--match",
            "big:*",
            "--type",
            "list",
            "--format",
            "jsonl",
        ],
        "",
    );
    assert_eq!(some.code, 0, "{}", some.stderr);
    let keys: Vec<&str> = some.stdout.lines().collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains("\"key\":\"big:list\""));
    let db3 = rload(
        &["--dump", path_arg(&path), "-n", "3", "--format", "inline"],
        "",
    );
    assert!(!db3.stdout.contains("SELECT"), "{}", db3.stdout);
    assert!(db3.stderr.contains("dumped 2 keys"), "{}", db3.stderr);
}

#[test]
fn an_rdb_loads_into_a_cluster_by_slot() {
    let (source, path) = saved_dataset();
    let cluster = Cluster::start(3);
    let run = rload(
        &["--pipe", "-c", "-p", &cluster.port(), path_arg(&path)],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    // A cluster has one database: every key goes into it.
    assert_eq!(cluster.dbsize(), 17);
    let nodes: Vec<&Redis> = cluster.nodes.iter().collect();
    let loaded = value_digests(&nodes);
    // The source's keys of every database, as one.
    let mut expected = value_digests(&[&source]);
    for (db, key) in [("3", "three"), ("3", "l3"), ("9", "h9")] {
        let digest = source.cli(&["-n", db, "DEBUG", "DIGEST-VALUE", key]);
        expected.insert(key.to_string(), digest);
    }
    assert_eq!(loaded, expected);
}

#[test]
fn a_truncated_or_corrupt_file_stops_naming_where_and_leaves_no_key_half_made() {
    let (source, path) = saved_dataset();
    let bytes = std::fs::read(&path).unwrap();
    // Cut in the middle of the big list's values.
    let at = bytes
        .windows(12)
        .position(|w| w == b"item-15000it")
        .unwrap_or(bytes.len() / 3);
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.rdb");
    std::fs::write(&cut, &bytes[..at]).unwrap();
    let target = Redis::start();
    let run = rload(
        &[
            "--pipe",
            "-p",
            &target.port.to_string(),
            path_arg(&cut),
            "--json",
        ],
        "",
    );
    assert_eq!(run.code, 3, "{run:?}");
    let j: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(j["stop"]["kind"], "input", "{j}");
    assert!(j["stop"]["at"]["offset"].as_u64().unwrap() > 0, "{j}");
    // Every key there is whole: as the source holds it.
    for key in target.keys() {
        let digest = |r: &Redis| r.cli(&["DEBUG", "DIGEST-VALUE", &key]);
        assert_eq!(digest(&target), digest(&source), "{key} is half made");
    }
    // A flipped byte near the end: the checksum, or a corrupt value.
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 20] ^= 0x55;
    let bad = dir.path().join("flipped.rdb");
    std::fs::write(&bad, &flipped).unwrap();
    let target = Redis::start();
    let run = rload(
        &["--pipe", "-p", &target.port.to_string(), path_arg(&bad)],
        "",
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("flipped.rdb:"), "{}", run.stderr);
}

#[test]
fn a_live_dump_from_the_servers_snapshot_is_one_instant() {
    let source = Redis::start();
    let mut init = String::new();
    for i in 0..200 {
        init.push_str(&format!("SET k{i} 0\n"));
    }
    assert_eq!(rload_pipe(&source, &[], init).code, 0);
    // Every transaction moves all 200 keys to the next generation.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let port = source.port;
    let writer = thread::spawn(move || {
        let mut generation = 0u64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            generation += 1;
            let mut tx = String::from("MULTI\n");
            for i in 0..200 {
                tx.push_str(&format!("SET k{i} {generation}\n"));
            }
            tx.push_str("EXEC\n");
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &port.to_string()])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(tx.as_bytes())?;
                    c.wait()
                });
            assert!(out.is_ok());
        }
        generation
    });
    thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        let run = rload(
            &[
                "--dump",
                "-p",
                &source.port.to_string(),
                "--format",
                "jsonl",
            ],
            "",
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stderr.contains("SCAN instead"), "{}", run.stderr);
        let values: std::collections::HashSet<String> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["value"].to_string())
            .collect();
        assert_eq!(values.len(), 1, "one generation in a snapshot: {values:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 3, "the keys kept changing");
}

#[test]
fn a_server_that_refuses_its_snapshot_is_read_with_scan() {
    let source = Redis::start();
    assert_eq!(
        rload_pipe(&source, &[], crate::support::set_lines(0..1000)).code,
        0
    );
    source.cli(&[
        "ACL", "SETUSER", "nosync", "on", ">pw", "~*", "+@all", "-sync", "-psync",
    ]);
    let run = rload(
        &[
            "--dump",
            "-p",
            &source.port.to_string(),
            "--user",
            "nosync",
            "-a",
            "pw",
            "--no-auth-warning",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("reading keys with SCAN instead"),
        "{}",
        run.stderr
    );
    let target = Redis::start();
    assert_eq!(rload_pipe(&target, &[], run.stdout).code, 0);
    assert_eq!(target.digest(), source.digest());
}

#[test]
fn a_file_dump_cut_short_goes_on_from_the_keys_it_read() {
    let (source, path) = saved_dataset();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.resp");
    let command = format!(
        "exec {} --dump {} --rate 5 --json > {}",
        env!("CARGO_BIN_EXE_rload"),
        path.display(),
        out.display()
    );
    let sh = crate::support::Background::start_shell(&command);
    thread::sleep(Duration::from_millis(1500));
    sh.signal(libc::SIGTERM);
    let run = sh.wait();
    assert_eq!(run.code, 143, "{run:?}");
    let j: serde_json::Value = serde_json::from_str(run.stderr.lines().last().unwrap()).unwrap();
    let cursor = j["cursor"].as_str().unwrap();
    assert!(cursor.starts_with("keys:"), "{j}");
    let again = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} >> {}",
            j["resume_command"].as_str().unwrap(),
            out.display()
        ))
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let target = Redis::start();
    let back = rload(
        &["--pipe", "-p", &target.port.to_string(), path_arg(&out)],
        "",
    );
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(target.digest(), source.digest());
}

/// Runs `rload` with `args` and gives its exit status and peak resident
/// memory, in KiB, read from /proc while it runs.
fn peak_rss(args: &[&str]) -> (i32, u64) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rload"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return (exit.code().unwrap_or(-1), peak);
        }
        let hwm = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        });
        peak = peak.max(hwm.unwrap_or(0));
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_huge_list_and_a_100_mb_string_load_from_an_rdb_in_flat_memory() {
    let source = Redis::start();
    let lua = "for i = 1, 2000000, 1000 do \
               local t = {} for j = i, i + 999 do t[#t + 1] = 'e' .. j end \
               redis.call('RPUSH', 'huge', unpack(t)) end \
               redis.call('SETRANGE', 'blob', 104857599, 'x') \
               redis.call('SETRANGE', 'rand', 1000, 'y') return 1";
    assert_eq!(source.cli(&["EVAL", lua, "0"]), "1");
    assert_eq!(source.cli(&["SAVE"]), "OK");
    let dir = source.cli(&["CONFIG", "GET", "dir"]);
    let path = PathBuf::from(dir.lines().nth(1).unwrap()).join("dump.rdb");
    let target = Redis::start();
    let port = target.port.to_string();
    let (code, peak) = peak_rss(&["--pipe", "-p", &port, path_arg(&path)]);
    assert_eq!(code, 0);
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    assert!(peak > 0, "the load's memory was read");
    assert_eq!(target.cli(&["LLEN", "huge"]), "2000000");
    assert_eq!(target.digest(), source.digest());
    let (code, peak) = peak_rss(&["--dump", path_arg(&path)]);
    assert_eq!(code, 0);
    assert!(peak < 64 * 1024, "converting: peak RSS {peak} KiB");
}
