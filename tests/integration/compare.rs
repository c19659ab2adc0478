//! `--compare` on real servers: equal databases of every type are equal;
//! planted differences of each kind are found exactly, and no others; a
//! cluster against one server; expiries inside and outside the tolerance;
//! a big hash with one field changed; binary keys; a live source with
//! `--recheck`; the repair loop; an RDB file as the source; an error reply,
//! a signal and passwords.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Background, Certs, Cluster, Redis, Run, resp, rload, rload_pipe};

/// Loads `commands` into `redis`.
fn load(redis: &Redis, commands: &[Vec<&[u8]>]) {
    let input: Vec<u8> = commands.iter().flat_map(|c| resp(c)).collect();
    let run = rload_pipe(redis, &[], input);
    assert_eq!(run.code, 0, "{run:?}");
}

/// One key of every type, a stream with a consumer group, an expiry, and
/// binary names and values.
fn every_type() -> Vec<Vec<&'static [u8]>> {
    vec![
        vec![b"SET", b"str", b"hello"],
        vec![b"SET", b"bin\x00\xff", b"\x00\x01\xfe\xff"],
        vec![b"SET", b"ttl", b"v", b"PXAT", b"4102444800000"],
        vec![b"RPUSH", b"list", b"a", b"b", b"c", b"a"],
        vec![b"SADD", b"set", b"x", b"y", b"\xff"],
        vec![b"HSET", b"hash", b"f1", b"v1", b"f2", b"\x00"],
        vec![b"ZADD", b"zset", b"1", b"a", b"2.5", b"b", b"-inf", b"c"],
        vec![b"XADD", b"stream", b"1-1", b"f", b"v"],
        vec![b"XADD", b"stream", b"2-1", b"g", b"w"],
        vec![b"XGROUP", b"CREATE", b"stream", b"grp", b"1-1"],
    ]
}

/// Two servers holding the same keys.
fn equal_pair() -> (Redis, Redis) {
    let (source, target) = (Redis::start(), Redis::start());
    load(&source, &every_type());
    load(&target, &every_type());
    (source, target)
}

/// `rload --compare --scan -p SOURCE --target redis://127.0.0.1:TARGET`
/// plus `flags`. (Reading the source with `SCAN`: a test server delays a
/// replica's snapshot by 5 s.)
fn compare(source: u16, target: u16, flags: &[&str]) -> Run {
    let (port, uri) = (source.to_string(), format!("redis://127.0.0.1:{target}"));
    let mut args = vec!["--compare", "--scan", "-p", &port, "--target", &uri];
    args.extend_from_slice(flags);
    rload(&args, "")
}

/// The differences a `--json` compare printed, by key: its kind.
fn diffs(run: &Run) -> BTreeMap<String, String> {
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {run:?}")))
        .collect();
    let (last, each) = lines.split_last().unwrap_or_else(|| panic!("{run:?}"));
    assert_eq!(last["mode"], "compare", "{run:?}");
    assert_eq!(last["different"], each.len(), "{run:?}");
    each.iter()
        .map(|d| {
            let key = match &d["key"] {
                Value::String(s) => s.clone(),
                other => format!("base64:{}", other["base64"].as_str().unwrap()),
            };
            (key, d["diff"].as_str().unwrap().to_string())
        })
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn equal_databases_of_every_type_compare_equal() {
    let (source, target) = equal_pair();
    let run = compare(source.port, target.port, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("compared 8 keys"), "{run:?}");
    assert!(run.stderr.contains(": equal"), "{run:?}");
    // The same from the source's snapshot, and as JSON.
    let (port, uri) = (
        source.port.to_string(),
        format!("redis://127.0.0.1:{}", target.port),
    );
    let run = rload(&["--compare", "-p", &port, "--target", &uri, "--json"], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(diffs(&run).is_empty());
    // Under --rate, key by key, without the whole-database digests first.
    let run = compare(source.port, target.port, &["--rate", "100000"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("compared 8 keys"), "{run:?}");
}

#[test]
fn planted_differences_of_each_kind_are_found_exactly() {
    let (source, target) = equal_pair();
    let more: Vec<Vec<&[u8]>> = vec![
        vec![b"SET", b"same", b"1"],
        vec![b"SET", b"gone", b"1"],
        vec![b"RPUSH", b"order", b"1", b"2"],
        vec![b"ZADD", b"score", b"1", b"m"],
        vec![b"SET", b"expiring", b"v", b"PXAT", b"4102444800000"],
    ];
    load(&source, &more);
    load(&target, &more);
    for c in [
        vec!["DEL", "gone"],
        vec!["SET", "extra", "1"],
        vec!["DEL", "str"],
        vec!["RPUSH", "str", "hello"],
        vec!["DEL", "order"],
        vec!["RPUSH", "order", "2", "1"],
        vec!["SADD", "set", "w"],
        vec!["HSET", "hash", "f1", "v2"],
        vec!["ZADD", "score", "1.5", "m"],
        vec!["XADD", "stream", "3-1", "h", "x"],
        vec!["PERSIST", "expiring"],
        vec!["EXPIRE", "same", "1000"],
    ] {
        target.cli(&c);
    }
    // A stream whose groups alone differ.
    load(&source, &[vec![b"XADD", b"s2", b"1-1", b"f", b"v"]]);
    load(&target, &[vec![b"XADD", b"s2", b"1-1", b"f", b"v"]]);
    source.cli(&["XGROUP", "CREATE", "s2", "g", "0"]);
    let run = compare(source.port, target.port, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        diffs(&run),
        expect(&[
            ("gone", "missing"),
            ("extra", "extra"),
            ("str", "type"),
            ("order", "value"),
            ("set", "value"),
            ("hash", "value"),
            ("score", "value"),
            ("stream", "value"),
            ("s2", "value"),
            ("expiring", "ttl"),
            ("same", "ttl"),
        ])
    );
    // The same key by key from the start (--rate skips the first pass).
    let by_key = compare(source.port, target.port, &["--json", "--rate", "100000"]);
    assert_eq!(diffs(&by_key), diffs(&run), "{by_key:?}");
    // The text account counts them by kind and names the first.
    let run = compare(source.port, target.port, &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("11 keys differ (1 missing in the target, 1 extra in the target, 1 of another type, 6 value differs, 2 TTL differs)"),
        "{run:?}"
    );
    assert!(run.stderr.contains("... and 1 more"), "{run:?}");
    for named in [
        "db0 set: value differs (source: set of 3 elements, no expiry; target: set of 4 elements, no expiry): 1 member differs: w (only in the target)",
        "db0 order: value differs (source: list of 2 elements, no expiry; target: list of 2 elements, no expiry): first difference at element 0",
    ] {
        assert!(run.stderr.contains(named), "{named}: {run:?}");
    }
}

#[test]
fn a_cluster_and_one_server_holding_the_same_keys_are_equal() {
    let cluster = Cluster::start(3);
    let single = Redis::start();
    let keys: String = (0..2000)
        .map(|i| format!("SET k{i} v{i}\nRPUSH l{i} a b\n"))
        .collect();
    let port = cluster.port();
    let run = rload(&["--pipe", "-c", "-p", &port], keys.clone());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(rload_pipe(&single, &[], keys).code, 0);
    let run = compare(cluster.nodes[0].port, single.port, &["-c"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("compared 4000 keys"), "{run:?}");
    // The other way round: a cluster as the target.
    let run = compare(single.port, cluster.nodes[0].port, &["--target-cluster"]);
    assert_eq!(run.code, 0, "{run:?}");
    // One key changed on whichever master holds it.
    let run = rload(
        &["--pipe", "-c", "-p", &port],
        "SET k77 changed\nSET new 1\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let run = compare(
        single.port,
        cluster.nodes[0].port,
        &["--target-cluster", "--json"],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(diffs(&run), expect(&[("k77", "value"), ("new", "extra")]));
    // The cluster as the source: rechecked and repaired from its masters.
    let dir = tempfile::tempdir().unwrap();
    let repair = dir.path().join("repair.resp");
    let repair = repair.to_str().unwrap();
    let flags = ["-c", "--json", "--recheck", "1", "--repair-output", repair];
    let run = compare(cluster.nodes[0].port, single.port, &flags);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(diffs(&run), expect(&[("k77", "value"), ("new", "missing")]));
    assert_eq!(rload_pipe(&single, &[repair], "").code, 0);
    let run = compare(cluster.nodes[0].port, single.port, &["-c"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn expiries_differ_only_beyond_the_tolerance_or_on_one_side() {
    let (source, target) = (Redis::start(), Redis::start());
    load(
        &source,
        &[
            vec![b"SET", b"near", b"v", b"PXAT", b"4102444800000"],
            vec![b"SET", b"far", b"v", b"PXAT", b"4102444800000"],
            vec![b"SET", b"one_side", b"v", b"PXAT", b"4102444800000"],
        ],
    );
    load(
        &target,
        &[
            vec![b"SET", b"near", b"v", b"PXAT", b"4102444800500"],
            vec![b"SET", b"far", b"v", b"PXAT", b"4102444805000"],
            vec![b"SET", b"one_side", b"v"],
        ],
    );
    let run = compare(source.port, target.port, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(diffs(&run), expect(&[("far", "ttl"), ("one_side", "ttl")]));
    let run = compare(
        source.port,
        target.port,
        &["--json", "--ttl-tolerance", "10000"],
    );
    assert_eq!(diffs(&run), expect(&[("one_side", "ttl")]));
    let run = compare(
        source.port,
        target.port,
        &["--json", "--ttl-tolerance", "100"],
    );
    assert_eq!(
        diffs(&run),
        expect(&[("near", "ttl"), ("far", "ttl"), ("one_side", "ttl")])
    );
}

/// `HSET big f0 v0 ... ` for `n` fields, in commands of 1,000.
fn big_hash(n: usize) -> String {
    (0..n / 1000)
        .map(|c| {
            let fields: String = (c * 1000..(c + 1) * 1000)
                .map(|i| format!(" f{i} v{i}"))
                .collect();
            format!("HSET big{fields}\n")
        })
        .collect()
}

#[test]
fn a_big_hash_with_one_field_changed_differs_and_big_sets_in_any_order_do_not() {
    let (source, target) = (Redis::start(), Redis::start());
    let members: Vec<String> = (0..20_000).map(|i| format!("m{i}")).collect();
    let forward = format!("SADD bigset {}\n", members.join(" "));
    let backward = format!(
        "SADD bigset {}\n",
        members.iter().rev().cloned().collect::<Vec<_>>().join(" ")
    );
    assert_eq!(
        rload_pipe(&source, &[], big_hash(50_000) + &forward).code,
        0
    );
    assert_eq!(
        rload_pipe(&target, &[], big_hash(50_000) + &backward).code,
        0
    );
    let run = compare(source.port, target.port, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    target.cli(&["HSET", "big", "f31337", "changed"]);
    let run = compare(source.port, target.port, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(diffs(&run), expect(&[("big", "value")]));
    // Only that key's elements are read, to name what differs.
    assert!(
        run.stdout
            .contains(r#""detail":"1 field differs: f31337 (value)""#),
        "{run:?}"
    );
}

#[test]
fn binary_keys_and_values_are_compared_byte_for_byte() {
    let (source, target) = equal_pair();
    load(&source, &[vec![b"SET", b"k\xff\x00", b"\x00\x01"]]);
    load(&target, &[vec![b"SET", b"k\xff\x00", b"\x00\x02"]]);
    load(&target, &[vec![b"SADD", b"\xfe", b"\x00"]]);
    let run = compare(source.port, target.port, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        diffs(&run),
        expect(&[("base64:a/8A", "value"), ("base64:/g==", "extra")])
    );
    assert!(run.stdout.contains(r#""key":{"base64":"a/8A"}"#), "{run:?}");
}

#[test]
fn recheck_reports_only_the_keys_still_different_once_a_writer_is_done() {
    let (source, target) = (Redis::start(), Redis::start());
    let keys: String = (0..6000).map(|i| format!("SET k{i} v\n")).collect();
    assert_eq!(rload_pipe(&source, &[], keys.clone()).code, 0);
    assert_eq!(rload_pipe(&target, &[], keys).code, 0);
    target.cli(&["SET", "k5999", "really different"]);
    // A writer changes a few keys while the compare runs, the source
    // first and the target 150 ms later (as a replica lags): they differ
    // most of the time, until the writer is done.
    let (src, dst) = (source.port, target.port);
    let writer = thread::spawn(move || {
        let until = Instant::now() + Duration::from_millis(2500);
        let mut i = 0u64;
        while Instant::now() < until {
            let mut mset = vec!["MSET".to_string()];
            for k in 0..5 {
                mset.extend([format!("k{k}"), format!("w{i}")]);
            }
            for port in [src, dst] {
                std::process::Command::new("redis-cli")
                    .args(["-p", &port.to_string()])
                    .args(&mset)
                    .output()
                    .unwrap();
                thread::sleep(Duration::from_millis(150));
            }
            i += 1;
        }
    });
    thread::sleep(Duration::from_millis(300));
    let run = compare(src, dst, &["--json", "--rate", "2000", "--recheck", "2"]);
    writer.join().unwrap();
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(diffs(&run), expect(&[("k5999", "value")]));
    let account: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(account["rechecks"], 2, "{run:?}");
    eprintln!(
        "keys found equal by the rechecks: {}",
        account["settled_by_recheck"]
    );
}

#[test]
fn the_repair_output_makes_the_target_equal() {
    let (source, target) = equal_pair();
    assert_eq!(rload_pipe(&source, &[], big_hash(5000)).code, 0);
    assert_eq!(rload_pipe(&target, &[], big_hash(5000)).code, 0);
    load(
        &source,
        &[vec![b"SELECT", b"2"], vec![b"SET", b"db2key", b"x"]],
    );
    for c in [
        vec!["DEL", "list"],
        vec!["SET", "extra", "1"],
        vec!["SET", "set", "now a string"],
        vec!["HSET", "big", "f4000", "changed"],
        vec!["XGROUP", "SETID", "stream", "grp", "2-1"],
        vec!["PERSIST", "ttl"],
        vec!["EXPIRE", "str", "100"],
    ] {
        target.cli(&c);
    }
    let dir = tempfile::tempdir().unwrap();
    let repair = dir.path().join("repair.resp");
    let repair = repair.to_str().unwrap();
    let run = compare(
        source.port,
        target.port,
        &["--json", "--repair-output", repair],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        diffs(&run),
        expect(&[
            ("list", "missing"),
            ("extra", "extra"),
            ("set", "type"),
            ("big", "value"),
            ("stream", "value"),
            ("ttl", "ttl"),
            ("str", "ttl"),
            ("db2key", "missing"),
        ])
    );
    let run = rload_pipe(&target, &[repair], "");
    assert_eq!(run.code, 0, "{run:?}");
    let run = compare(source.port, target.port, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(source.digest(), target.digest());
}

#[test]
fn an_rdb_file_is_a_source_and_its_repair_is_read_from_it() {
    let (source, target) = equal_pair();
    let dir = tempfile::tempdir().unwrap();
    let rdb = dir.path().join("dump.rdb");
    let rdb = rdb.to_str().unwrap();
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &source.port.to_string(), "--rdb", rdb])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let uri = format!("redis://127.0.0.1:{}", target.port);
    let run = rload(&["--compare", rdb, "--target", &uri], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("compared 8 keys of"), "{run:?}");
    target.cli(&["HSET", "hash", "f1", "changed"]);
    target.cli(&["SET", "extra", "1"]);
    let repair = dir.path().join("repair.resp");
    let repair = repair.to_str().unwrap();
    let run = rload(
        &[
            "--compare",
            rdb,
            "--target",
            &uri,
            "--json",
            "--repair-output",
            repair,
        ],
        "",
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        diffs(&run),
        expect(&[("hash", "value"), ("extra", "extra")])
    );
    assert_eq!(rload_pipe(&target, &[repair], "").code, 0);
    let run = rload(&["--compare", rdb, "--target", &uri], "");
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn an_error_reply_is_a_failure_never_equal_or_missing() {
    let (source, target) = equal_pair();
    target.cli(&[
        "ACL", "SETUSER", "blind", "on", ">pw", "~*", "+@all", "-type", "-lrange", "-sync",
        "-psync",
    ]);
    let uri = format!("redis://blind:pw@127.0.0.1:{}", target.port);
    let port = source.port.to_string();
    let run = rload(&["--compare", "-p", &port, "--target", &uri], "");
    assert_eq!(run.code, rload::compare::FAILED, "{run:?}");
    assert!(run.stderr.contains("NOPERM"), "{run:?}");
    assert!(!run.stderr.contains("equal"), "{run:?}");
    assert!(!run.stderr.contains("missing"), "{run:?}");
    assert!(!run.stderr.contains(":pw@"), "{run:?}");
}

#[test]
fn a_signal_stops_a_compare_with_its_status_and_what_was_compared() {
    let (source, target) = (Redis::start(), Redis::start());
    let keys: String = (0..20_000).map(|i| format!("SET k{i} v\n")).collect();
    assert_eq!(rload_pipe(&source, &[], keys.clone()).code, 0);
    assert_eq!(rload_pipe(&target, &[], keys).code, 0);
    let command = format!(
        "exec {} --compare --scan -p {} --target redis://127.0.0.1:{} --rate 5000",
        env!("CARGO_BIN_EXE_rload"),
        source.port,
        target.port
    );
    let sh = Background::start_shell(&command);
    thread::sleep(Duration::from_millis(1500));
    sh.signal(libc::SIGTERM);
    let run = sh.wait();
    assert_eq!(run.code, 128 + libc::SIGTERM, "{run:?}");
    assert!(run.stderr.contains("so far"), "{run:?}");
    assert!(run.stderr.contains("SIGTERM"), "{run:?}");
    let compared: u64 = run
        .stderr
        .split("compared ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{run:?}"));
    assert!(compared > 0 && compared < 20_000, "{run:?}");
}

#[test]
fn passwords_of_either_side_are_never_printed() {
    let source = Redis::start_with(&["--requirepass", "srcSecret1"]);
    let target = Redis::start_with(&["--requirepass", "dstSecret2"]);
    load_with_password(&source, "srcSecret1", "SET a 1\n");
    load_with_password(&target, "dstSecret2", "SET a 2\n");
    let port = source.port.to_string();
    for (uri, code) in [
        (format!("redis://:dstSecret2@127.0.0.1:{}", target.port), 1),
        (
            format!("redis://:wrongSecret3@127.0.0.1:{}", target.port),
            4,
        ),
    ] {
        for json in [false, true] {
            let mut args = vec![
                "--compare",
                "-p",
                &port,
                "-a",
                "srcSecret1",
                "--target",
                &uri,
            ];
            if json {
                args.push("--json");
            }
            let run = rload(&args, "");
            assert_eq!(run.code, code, "{run:?}");
            for secret in ["srcSecret1", "dstSecret2", "wrongSecret3"] {
                assert!(!run.stdout.contains(secret), "{run:?}");
                assert!(!run.stderr.contains(secret), "{run:?}");
            }
        }
    }
}

fn load_with_password(redis: &Redis, password: &str, input: &str) {
    let run = rload_pipe(redis, &["-a", password, "--no-auth-warning"], input);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn compare_flags_are_refused_without_compare_and_a_target_is_needed() {
    let run = rload(&["--pipe", "--target", "redis://h"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--target is for --compare"), "{run:?}");
    let run = rload(&["--compare", "-p", "1"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--compare needs --target"), "{run:?}");
    let run = rload(&["--compare", "--target", "redis://h/3"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("-n"), "{run:?}");
}

#[test]
fn a_rediss_target_takes_the_tls_flags_and_the_source_stays_plain() {
    let certs = Certs::generate();
    let source = Redis::start();
    let (target, tls_port) = Redis::start_tls(&certs, true);
    load(&source, &every_type());
    load(&target, &every_type());
    let port = source.port.to_string();
    let uri = format!("rediss://127.0.0.1:{tls_port}");
    let (ca, cert, key) = (
        certs.path("ca.crt"),
        certs.path("client.crt"),
        certs.path("client.key"),
    );
    let tls = ["--cacert", &ca, "--cert", &cert, "--key", &key];
    let mut args = vec!["--compare", "--scan", "-p", &port, "--target", &uri];
    args.extend_from_slice(&tls);
    let run = rload(&args, "");
    assert_eq!(run.code, 0, "{run:?}");
    target.cli(&["SET", "str", "changed"]);
    args.push("--json");
    let run = rload(&args, "");
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(diffs(&run), expect(&[("str", "value")]));
    // Without the CA, the target's certificate is not trusted.
    let run = rload(&["--compare", "-p", &port, "--target", &uri], "");
    assert_eq!(run.code, 4, "{run:?}");
}

#[test]
fn a_signal_during_the_first_pass_stops_it_with_its_status_and_account() {
    // A source that takes 0.3 s per key to write its snapshot: the first
    // pass is under way, waiting for it, when the signal comes.
    let source = Redis::start_with(&["--rdb-key-save-delay", "300000"]);
    let target = Redis::start();
    load(&source, &every_type());
    load(&target, &every_type());
    let command = format!(
        "exec {} --compare -p {} --target redis://127.0.0.1:{} --json",
        env!("CARGO_BIN_EXE_rload"),
        source.port,
        target.port
    );
    let sh = Background::start_shell(&command);
    thread::sleep(Duration::from_millis(1000));
    sh.signal(libc::SIGINT);
    let run = sh.wait();
    assert_eq!(run.code, 128 + libc::SIGINT, "{run:?}");
    let account: Value = serde_json::from_str(run.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(account["stop"]["signal"], "SIGINT", "{run:?}");
    assert_eq!(account["equal"], false, "{run:?}");
    assert!(account["digested"]["source"].is_u64(), "{run:?}");
}

#[test]
fn match_type_and_n_narrow_the_compare_on_both_sides() {
    let (source, target) = (Redis::start(), Redis::start());
    let both = "SET a:1 x\nSET b:1 x\nHSET a:h f v\nSELECT 3\nSET a:1 x\n";
    assert_eq!(rload_pipe(&source, &[], both).code, 0);
    assert_eq!(rload_pipe(&target, &[], both).code, 0);
    let plant =
        "SET a:1 y\nSET b:1 y\nHSET a:h f w\nSET a:extra 1\nSADD a:set m\nSELECT 3\nSET a:1 z\n";
    assert_eq!(rload_pipe(&target, &[], plant).code, 0);
    let run = compare(
        source.port,
        target.port,
        &["--json", "--match", "a:*", "-n", "0"],
    );
    assert_eq!(
        diffs(&run),
        expect(&[
            ("a:1", "value"),
            ("a:h", "value"),
            ("a:extra", "extra"),
            ("a:set", "extra"),
        ])
    );
    let run = compare(source.port, target.port, &["--json", "--type", "hash"]);
    assert_eq!(diffs(&run), expect(&[("a:h", "value")]));
    let run = compare(source.port, target.port, &["--json", "-n", "3"]);
    assert_eq!(diffs(&run), expect(&[("a:1", "value")]));
    // Every database: db3's a:1 counts too.
    let run = compare(source.port, target.port, &["--json", "--type", "string"]);
    assert_eq!(run.code, 1, "{run:?}");
    let lines = run.stdout.lines().count();
    assert_eq!(
        lines, 5,
        "a:1 twice, b:1, a:extra, then the account: {run:?}"
    );
}

/// Keeps `port`'s server busy with a script for about `secs` seconds.
fn busy_script(port: u16, secs: u32) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let script = format!(
            "local t = tonumber(redis.call('TIME')[1]) while tonumber(redis.call('TIME')[1]) < t + {secs} do end"
        );
        std::process::Command::new("redis-cli")
            .args(["-p", &port.to_string(), "EVAL", &script, "0"])
            .output()
            .unwrap();
    })
}

#[test]
fn a_target_busy_for_longer_than_the_pipe_timeout_is_a_failure_not_equal() {
    let source = Redis::start();
    let target = Redis::start_with(&["--busy-reply-threshold", "100"]);
    let keys: String = (0..3000).map(|i| format!("SET k{i} v\n")).collect();
    assert_eq!(rload_pipe(&source, &[], keys.clone()).code, 0);
    assert_eq!(rload_pipe(&target, &[], keys).code, 0);
    // Busy from the start: the target cannot even be readied.
    let busy = busy_script(target.port, 3);
    thread::sleep(Duration::from_millis(500));
    let run = compare(source.port, target.port, &["--pipe-timeout", "1"]);
    busy.join().unwrap();
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("BUSY"), "{run:?}");
    // Busy in the middle of a compare (key by key, under --rate): the
    // reads answered BUSY are retried for --pipe-timeout, then it stops.
    let command = format!(
        "exec {} --compare --scan -p {} --target redis://127.0.0.1:{} --rate 1000 --pipe-timeout 1",
        env!("CARGO_BIN_EXE_rload"),
        source.port,
        target.port
    );
    let sh = Background::start_shell(&command);
    thread::sleep(Duration::from_millis(700));
    let busy = busy_script(target.port, 3);
    let run = sh.wait();
    busy.join().unwrap();
    assert_eq!(run.code, rload::compare::FAILED, "{run:?}");
    assert!(run.stderr.contains("BUSY"), "{run:?}");
    assert!(run.stderr.contains("so far"), "{run:?}");
    assert!(!run.stderr.contains("equal"), "{run:?}");
}

#[test]
fn many_differing_keys_in_many_buckets_are_all_found() {
    let (source, target) = (Redis::start(), Redis::start());
    let common: String = (0..3000).map(|i| format!("SET k{i} v\n")).collect();
    let only_source: String = (0..300).map(|i| format!("SET s{i} v\n")).collect();
    let only_target: String = (0..300).map(|i| format!("SET t{i} v\n")).collect();
    assert_eq!(
        rload_pipe(&source, &[], common.clone() + &only_source).code,
        0
    );
    assert_eq!(rload_pipe(&target, &[], common + &only_target).code, 0);
    target.cli(&["SET", "k7", "changed"]);
    for flags in [&["--json"][..], &["--json", "--rate", "100000"][..]] {
        let run = compare(source.port, target.port, flags);
        assert_eq!(run.code, 1, "{run:?}");
        let found = diffs(&run);
        assert_eq!(found.len(), 601, "{flags:?}");
        assert_eq!(found.values().filter(|k| *k == "missing").count(), 300);
        assert_eq!(found.values().filter(|k| *k == "extra").count(), 300);
        assert_eq!(found["k7"], "value");
    }
}

/// Redis 7.4's hash field expiry: a field expiring at another time on
/// one side is a difference of its own, found from SCAN and from the
/// servers' snapshots, and repaired. Needs a newer server than Debian's
/// (`support::NEWER_REDIS`).
#[test]
fn a_hash_field_expiring_at_another_time_differs_and_is_repaired() {
    let test = "a_hash_field_expiring_at_another_time_differs_and_is_repaired";
    let (Some(source), Some(target)) = (Redis::start_newer(test), Redis::start_newer(test)) else {
        return;
    };
    for side in [&source, &target] {
        side.cli(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        side.cli(&["HPEXPIREAT", "h", "4102444800000", "FIELDS", "2", "a", "c"]);
        side.cli(&["SET", "s", "v"]);
    }
    let run = compare(source.port, target.port, &["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    // One field expires later on the target.
    target.cli(&["HPEXPIREAT", "h", "4102444800999", "FIELDS", "1", "a"]);
    let run = compare(source.port, target.port, &["--json"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(diffs(&run), expect(&[("h", "field_ttl")]));
    let snapshot = rload(
        &[
            "--compare",
            "-p",
            &source.port.to_string(),
            "--target",
            &format!("redis://127.0.0.1:{}", target.port),
            "--json",
        ],
        "",
    );
    assert_eq!(diffs(&snapshot), expect(&[("h", "field_ttl")]));
    let dir = tempfile::tempdir().unwrap();
    let repair = dir.path().join("repair.resp");
    let repair = repair.to_str().unwrap();
    let run = compare(source.port, target.port, &["--repair-output", repair]);
    assert_eq!(run.code, 1, "{run:?}");
    let fix = rload(&["--pipe", "-p", &target.port.to_string(), repair], "");
    assert_eq!(fix.code, 0, "{fix:?}");
    let run = compare(source.port, target.port, &["--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        target.cli(&["HPEXPIRETIME", "h", "FIELDS", "3", "a", "b", "c"]),
        "4102444800000\n-1\n4102444800000"
    );
}
