//! `--dump` tried adversarially on real servers: each case ends either in
//! a dump that (with its continuation, if it stopped) loads into an empty
//! server to the source's `DEBUG DIGEST`, or in a non-zero status that
//! says why. Busy scripts, a replica cut from its master, ACLs, memory
//! full, several databases, a live reshard, keys changing while read in
//! windows, signals, and the JSON-lines round trip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::support::{
    Background, Cluster, Redis, Run, go_on, redis_cli, rload, rload_pipe, set_lines,
    stopped_once_written, wait_until,
};

/// `rload --dump -p PORT` plus `flags`; the dump, and the account's JSON.
fn dump_json(port: u16, flags: &[&str]) -> (Run, Value) {
    let port = port.to_string();
    // These cases are about reading with SCAN: a snapshot has none of them.
    let mut args = vec!["--dump", "--scan", "-p", &port, "--json"];
    args.extend_from_slice(flags);
    let run = rload(&args, "");
    let j = json_line(&run);
    (run, j)
}

/// The JSON account on the last line of standard error.
fn json_line(run: &Run) -> Value {
    let line = run.stderr.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {run:?}"))
}

/// A fresh server loaded with `data` (a dump, in any command format).
fn loaded(data: impl Into<Vec<u8>>) -> Redis {
    let target = Redis::start();
    let run = rload_pipe(&target, &[], data);
    assert_eq!(run.code, 0, "{run:?}");
    target
}

/// A client that keeps sending commands (from `command(i)`, i = 0, 1, ...)
/// until dropped, its replies read and thrown away.
struct Churner {
    stop: Arc<AtomicBool>,
    writer: Option<thread::JoinHandle<u64>>,
}

impl Churner {
    fn start(port: u16, command: impl Fn(u64) -> Vec<u8> + Send + 'static) -> Churner {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut reader = stream.try_clone().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        });
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let writer = thread::spawn(move || {
            let mut stream = stream;
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                let mut batch = Vec::new();
                for _ in 0..50 {
                    batch.extend(command(i));
                    i += 1;
                }
                if stream.write_all(&batch).is_err() {
                    break;
                }
                thread::sleep(Duration::from_micros(200));
            }
            let _ = stream.shutdown(std::net::Shutdown::Both);
            i
        });
        Churner {
            stop,
            writer: Some(writer),
        }
    }

    /// Stops it; how many commands it sent.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.writer.take().unwrap().join().unwrap()
    }
}

impl Drop for Churner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn resp(args: &[&[u8]]) -> Vec<u8> {
    crate::support::resp(args)
}

/// `lists` lists of `len` elements each: read in windows when over 1,000.
fn lists(lists: usize, len: usize) -> String {
    let mut input = String::new();
    for l in 0..lists {
        input.push_str(&format!("RPUSH list:{l}"));
        for e in 0..len {
            input.push_str(&format!(" e{e}"));
        }
        input.push('\n');
    }
    input
}

#[test]
fn busy_scripts_on_the_source_are_waited_out_and_no_list_comes_out_short() {
    let source = Redis::start_with(&["--lua-time-limit", "20"]);
    assert_eq!(rload_pipe(&source, &[], lists(120, 1500)).code, 0);
    // Scripts that each hold the server for 150 ms, with 50 ms between
    // them: the dump gets BUSY over and over.
    let busy: &[u8] = b"local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - s > 150000 return 1";
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let mut conn = TcpStream::connect(("127.0.0.1", source.port)).unwrap();
    let scripts = thread::spawn(move || {
        let mut n = 0;
        while !flag.load(Ordering::Relaxed) {
            conn.write_all(&resp(&[b"EVAL", busy, b"0"])).unwrap();
            let mut reply = [0u8; 4];
            conn.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b":1\r\n");
            n += 1;
            thread::sleep(Duration::from_millis(50));
        }
        n
    });
    thread::sleep(Duration::from_millis(60));
    let (run, j) = dump_json(source.port, &[]);
    stop.store(true, Ordering::Relaxed);
    assert!(scripts.join().unwrap() > 1);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(j["retries"].as_u64().unwrap() > 0, "{j}");
    assert!(
        j["last_retry_error"].as_str().unwrap().starts_with("BUSY"),
        "{j}"
    );
    let target = loaded(run.stdout);
    assert_eq!(target.digest(), source.digest());
    assert_eq!(j["keys"], 120);
}

#[test]
fn a_replica_cut_from_its_master_is_waited_for_or_the_dump_stops_saying_why() {
    let master = Redis::start();
    assert_eq!(
        rload_pipe(&master, &[], lists(20, 1500) + &set_lines(0..5000)).code,
        0
    );
    let replica = Redis::start_with(&["--replica-serve-stale-data", "no"]);
    replica.cli(&["REPLICAOF", "127.0.0.1", &master.port.to_string()]);
    assert!(wait_until(20, || replica
        .cli(&["INFO", "replication"])
        .contains("master_link_status:up")
        && replica.dbsize() == master.dbsize()));
    // Cut it off: it answers MASTERDOWN to reads.
    replica.cli(&["REPLICAOF", "127.0.0.1", "1"]);
    assert!(wait_until(10, || replica
        .cli(&["GET", "Key1"])
        .starts_with("MASTERDOWN")));

    // A short bound: the dump stops, non-zero, naming MASTERDOWN.
    let (stopped, j) = dump_json(replica.port, &["--pipe-timeout", "1"]);
    assert_eq!(stopped.code, 1, "{stopped:?}");
    assert_eq!(j["stop"]["kind"], "error_reply", "{j}");
    assert!(
        j["stop"]["reply"]
            .as_str()
            .unwrap()
            .starts_with("MASTERDOWN"),
        "{j}"
    );
    assert_eq!(j["ok"], false);

    // The default bound: the link comes back while it waits, and the
    // dump is whole.
    let port = replica.port.to_string();
    let dumping = Background::start(&["--dump", "--scan", "-p", &port, "--json"], Vec::new());
    thread::sleep(Duration::from_millis(1500));
    replica.cli(&["REPLICAOF", "NO", "ONE"]);
    let run = dumping.wait();
    assert_eq!(run.code, 0, "{run:?}");
    let j = json_line(&run);
    assert!(j["retries"].as_u64().unwrap() > 0, "{j}");
    let target = loaded(run.stdout);
    assert_eq!(target.digest(), master.digest());
}

#[test]
fn an_acl_that_forbids_a_read_stops_the_dump_with_its_error_never_a_short_key() {
    let source = Redis::start();
    assert_eq!(rload_pipe(&source, &[], lists(5, 2500)).code, 0);
    source.cli(&[
        "ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@all", "-lrange",
    ]);
    let port = source.port.to_string();
    let run = rload(
        &[
            "--dump",
            "--scan",
            "-p",
            &port,
            "--user",
            "reader",
            "-a",
            "pw",
            "--no-auth-warning",
            "--json",
        ],
        "",
    );
    assert_eq!(run.code, 1, "{run:?}");
    let j = json_line(&run);
    assert_eq!(j["stop"]["kind"], "error_reply", "{j}");
    assert!(
        j["stop"]["reply"].as_str().unwrap().starts_with("NOPERM"),
        "{j}"
    );
    assert_eq!(j["keys"], 0, "no key counted as dumped: {j}");
    assert!(j["cursor"].is_string(), "{j}");
    // What was written of a key is undone: nothing half-made loads.
    let target = loaded(run.stdout);
    assert_eq!(target.dbsize(), 0);
}

#[test]
fn a_user_without_scripting_dumps_every_key_and_json_lines_hold_big_strings() {
    let source = Redis::start();
    let big = "x".repeat(2 << 20);
    let input = format!(
        "SET big {big}\nSET short s\nPEXPIRE short 100000000\n{}HSET h a 1 b 2\nZADD z 1 a 2 b\nSADD s a b\nXADD x 1-1 f v\n",
        lists(3, 1500)
    );
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    source.cli(&[
        "ACL",
        "SETUSER",
        "noscript",
        "on",
        ">pw",
        "~*",
        "+@all",
        "-@scripting",
    ]);
    let port = source.port.to_string();
    for format in ["jsonl", "resp", "inline"] {
        let run = rload(
            &[
                "--dump",
                "--scan",
                "-p",
                &port,
                "--user",
                "noscript",
                "-a",
                "pw",
                "--no-auth-warning",
                "--format",
                format,
            ],
            "",
        );
        assert_eq!(run.code, 0, "{format}: {}", run.stderr);
        assert!(
            run.stderr.contains("read script was refused"),
            "{}",
            run.stderr
        );
        assert!(!run.stdout.contains("\"vanished\""), "{format}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("dump.{format}"));
        std::fs::write(&file, &run.stdout).unwrap();
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
        assert_eq!(back.code, 0, "{format}: {back:?}");
        assert_eq!(target.digest(), source.digest(), "{format}");
        assert_eq!(
            target.cli(&["PEXPIRETIME", "short"]),
            source.cli(&["PEXPIRETIME", "short"])
        );
    }
}

#[test]
fn a_server_out_of_memory_is_still_dumped() {
    let source = Redis::start();
    assert_eq!(
        rload_pipe(&source, &[], lists(10, 1500) + &set_lines(0..3000)).code,
        0
    );
    // Every write is refused now; reads are not, and the read script says
    // it writes nothing.
    source.cli(&["CONFIG", "SET", "maxmemory", "1"]);
    assert!(source.cli(&["SET", "a", "b"]).starts_with("OOM"));
    let (run, j) = dump_json(source.port, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(j["keys"], 3010);
    assert!(!run.stderr.contains("refused"), "{}", run.stderr);
    source.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(loaded(run.stdout).digest(), source.digest());
}

#[test]
fn every_database_with_keys_is_dumped_and_counted_unless_n_picks_one() {
    let source = Redis::start();
    let input = format!(
        "{}SELECT 2\nSET two 2\nRPUSH l2 a b\nSELECT 9\n{}",
        set_lines(0..100),
        lists(2, 1200)
    );
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    let (run, j) = dump_json(source.port, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(j["databases"]["0"], 100, "{j}");
    assert_eq!(j["databases"]["2"], 2, "{j}");
    assert_eq!(j["databases"]["9"], 2, "{j}");
    assert_eq!(j["keys"], 104);
    assert_eq!(loaded(run.stdout).digest(), source.digest());
    let text = rload(&["--dump", "-p", &source.port.to_string()], "");
    assert!(
        text.stderr.contains("(db0: 100, db2: 2, db9: 2)"),
        "{}",
        text.stderr
    );

    // JSON lines name the database, and load back to the same dataset.
    let (jsonl, _) = dump_json(source.port, &["--format", "jsonl"]);
    assert!(
        jsonl.stdout.lines().any(|l| l.starts_with("{\"db\":9,")),
        "{}",
        jsonl.stdout
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.jsonl");
    std::fs::write(&file, &jsonl.stdout).unwrap();
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
    assert_eq!(target.digest(), source.digest());

    // -n picks one: no SELECT, so it loads into whichever database.
    let (one, j) = dump_json(source.port, &["-n", "2"]);
    assert_eq!(j["keys"], 2, "{j}");
    assert!(!one.stdout.contains("SELECT"), "{}", one.stdout);
    let target = Redis::start();
    assert_eq!(rload_pipe(&target, &["-n", "4"], one.stdout).code, 0);
    assert_eq!(target.cli(&["-n", "4", "GET", "two"]), "2");
    assert_eq!(target.dbsize(), 0);
}

#[test]
fn a_cluster_dump_during_a_live_reshard_misses_no_key() {
    live_reshard(&["--scan"]);
}

#[test]
fn a_cluster_dump_from_snapshots_during_a_live_reshard_misses_no_key() {
    live_reshard(&[]);
}

/// A cluster dump (`flags` say how) while slots move from master to
/// master the whole time: every key comes out.
fn live_reshard(flags: &[&str]) {
    let cluster = Cluster::start(3);
    let input = set_lines(0..150_000);
    let port = cluster.port();
    assert_eq!(rload(&["--pipe", "-c", "-p", &port], input.clone()).code, 0);
    let clean = loaded(input);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let ids: Vec<String> = (0..3).map(|i| cluster.id(i)).collect();
    let seed = format!("127.0.0.1:{}", cluster.nodes[0].port);
    let mover = thread::spawn(move || {
        let mut moves = 0;
        while !flag.load(Ordering::Relaxed) {
            let (from, to) = (&ids[moves % 3], &ids[(moves + 1) % 3]);
            let out = Command::new("redis-cli")
                .args(["--cluster", "reshard", &seed, "--cluster-from", from])
                .args([
                    "--cluster-to",
                    to,
                    "--cluster-slots",
                    "400",
                    "--cluster-yes",
                ])
                .args(["--cluster-pipeline", "50"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
            moves += 1;
        }
        moves
    });
    thread::sleep(Duration::from_millis(300));
    let mut args = vec!["--dump", "-c", "-p", &port, "--rate", "30000", "--json"];
    args.extend_from_slice(flags);
    let run = rload(&args, "");
    stop.store(true, Ordering::Relaxed);
    let moves = mover.join().unwrap();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(moves >= 1, "slots moved {moves} times during the dump");
    let j = json_line(&run);
    eprintln!(
        "{flags:?}: moves: {moves}, reread slots: {}, retries: {}",
        j["reread_slots"], j["retries"]
    );
    let target = loaded(run.stdout);
    assert_eq!(target.dbsize(), 150_000, "{j}");
    assert_eq!(target.digest(), clean.digest());
}

/// A list used as a queue: each state holds a run of consecutive numbers.
fn consecutive(items: &[String]) -> bool {
    let n: Vec<u64> = items.iter().map(|s| s.parse().unwrap()).collect();
    n.windows(2).all(|w| w[1] == w[0] + 1)
}

#[test]
fn big_keys_changing_while_read_come_out_in_a_state_they_had() {
    let source = Redis::start();
    let mut input = String::from("RPUSH queue");
    for i in 0..5000 {
        input.push_str(&format!(" {i}"));
    }
    input.push('\n');
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    // A string of 3 MiB whose first and last bytes always match.
    let blob = vec![b'0'; 3 << 20];
    let mut s = TcpStream::connect(("127.0.0.1", source.port)).unwrap();
    s.write_all(&resp(&[b"SET", b"blob", &blob])).unwrap();
    let mut ok = [0u8; 5];
    s.read_exact(&mut ok).unwrap();
    let last = ((3 << 20) - 1).to_string();
    let at_end = last.clone();
    let churn = Churner::start(source.port, move |i| {
        let g = (i % 10).to_string();
        let mut c = resp(&[b"RPUSH", b"queue", (5000 + i).to_string().as_bytes()]);
        c.extend(resp(&[b"LPOP", b"queue"]));
        c.extend(resp(&[b"MULTI"]));
        c.extend(resp(&[b"SETRANGE", b"blob", b"0", g.as_bytes()]));
        c.extend(resp(&[
            b"SETRANGE",
            b"blob",
            at_end.as_bytes(),
            g.as_bytes(),
        ]));
        c.extend(resp(&[b"EXEC"]));
        c
    });
    let mut changed = 0;
    for _ in 0..5 {
        let (run, j) = dump_json(source.port, &[]);
        assert_eq!(run.code, 0, "{run:?}");
        changed += j["changed"].as_u64().unwrap();
        let target = loaded(run.stdout);
        let queue: Vec<String> = target
            .cli(&["LRANGE", "queue", "0", "-1"])
            .lines()
            .map(str::to_string)
            .collect();
        assert!(
            (5000..=5001).contains(&queue.len()) && consecutive(&queue),
            "the queue came out in a state it never had"
        );
        let first = target.cli(&["GETRANGE", "blob", "0", "0"]);
        let end = target.cli(&["GETRANGE", "blob", &last, &last]);
        assert_eq!(first, end, "the string came out in a state it never had");
        assert_eq!(target.cli(&["STRLEN", "blob"]), (3u64 << 20).to_string());
    }
    assert!(churn.stop() > 1000, "the keys kept changing");
    assert!(changed > 0, "a change was noticed and the key read again");
}

#[test]
fn signals_interrupt_a_dump_which_goes_on_from_where_it_stopped() {
    let source = Redis::start();
    assert_eq!(
        rload_pipe(&source, &[], set_lines(0..60_000) + &lists(3, 1500)).code,
        0
    );
    for (signal, status) in [
        (libc::SIGINT, 130),
        (libc::SIGTERM, 143),
        (libc::SIGHUP, 129),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.resp");
        let args = format!("--dump --scan -p {} --rate 20000 --json", source.port);
        let run = stopped_once_written(&args, &file, 50_000, signal);
        assert_eq!(run.code, status, "{run:?}");
        let j = json_line(&run);
        assert_eq!(j["stop"]["kind"], "interrupted", "{j}");
        let resume = j["resume_command"].as_str().expect("a continue command");
        assert!(resume.contains("--cursor"), "{resume}");
        let again = go_on(resume, &file);
        assert_eq!(again.code, 0, "{again:?}");
        let j2 = json_line(&again);
        // Each key counted once over the two runs: the page in progress
        // is counted by the continuation only.
        assert_eq!(
            j["keys"].as_u64().unwrap() + j2["keys"].as_u64().unwrap(),
            60_003,
            "{j}\n{j2}"
        );
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
        assert_eq!(target.digest(), source.digest());
    }
}

#[test]
fn reconnect_lets_a_dump_go_on_by_itself_after_a_lost_connection() {
    let source = Redis::start();
    assert_eq!(rload_pipe(&source, &[], set_lines(0..100_000)).code, 0);
    let port = source.port.to_string();
    let dumping = Background::start(
        &[
            "--dump",
            "--scan",
            "-p",
            &port,
            "--reconnect",
            "3",
            "--rate",
            "50000",
        ],
        Vec::new(),
    );
    thread::sleep(Duration::from_millis(500));
    source.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
    let run = dumping.wait();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("reconnecting"), "{}", run.stderr);
    assert!(run.stderr.contains("dumped 100000 keys"), "{}", run.stderr);
    assert_eq!(loaded(run.stdout).digest(), source.digest());
}

#[test]
fn flags_that_mean_nothing_in_a_mode_are_refused() {
    for args in [
        &["--dump", "--resume-from", "5"][..],
        &["--dump", "--skip-invalid"],
        &["--dump", "--max-errors", "3"],
        &["--dump", "--delimiter", ";"],
        &["--dump", "-3"],
        &["--pipe", "--cursor", "5"],
        &["--pipe", "--match", "a*"],
        &["--emit", "--type", "hash"],
    ] {
        let run = rload(&[args, &["-p", "1"]].concat(), "");
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        let flag = args[1];
        assert!(run.stderr.contains(flag), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_slow_rate_writes_its_first_key_at_once() {
    let source = Redis::start();
    assert_eq!(rload_pipe(&source, &[], set_lines(0..5)).code, 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump");
    let command = format!(
        "exec {} --dump --scan -p {} --rate 1 > {}",
        env!("CARGO_BIN_EXE_rload"),
        source.port,
        file.display()
    );
    let mut sh = Background::start_shell(&command);
    assert!(
        wait_until(4, || std::fs::metadata(&file).map_or(0, |m| m.len()) > 0),
        "nothing written yet"
    );
    sh.signal(libc::SIGTERM);
    assert!(!sh.running() || sh.wait().code == 143);
}

#[test]
fn inline_dumps_load_with_redis_cli_whatever_the_sizes() {
    let source = Redis::start();
    let mut input = format!("SET bigstr {}\n", "s".repeat(200_000));
    input.push_str("HSET wide");
    for i in 0..100 {
        input.push_str(&format!(" f{i} {}", "v".repeat(2000)));
    }
    input.push('\n');
    input.push_str(&lists(2, 1500));
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    let run = rload(
        &[
            "--dump",
            "-p",
            &source.port.to_string(),
            "--format",
            "inline",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.lines().all(|l| l.len() < 64 * 1024));
    let target = Redis::start();
    let cli = redis_cli(&["-p", &target.port.to_string(), "--pipe"], run.stdout);
    assert_eq!(cli.counts().0, 0, "{cli:?}");
    assert_eq!(target.digest(), source.digest());

    // One element too big for any line: said, and rload still loads it.
    source.cli(&["RPUSH", "huge", &"h".repeat(70_000)]);
    let run = rload(
        &[
            "--dump",
            "-p",
            &source.port.to_string(),
            "--format",
            "inline",
        ],
        "",
    );
    assert!(
        run.stderr.contains("redis-cli --pipe does not"),
        "{}",
        run.stderr
    );
    assert_eq!(loaded(run.stdout).digest(), source.digest());
}

#[test]
fn a_stopped_cluster_dump_names_only_the_masters_it_read() {
    let cluster = Cluster::start(3);
    let input = set_lines(0..30_000);
    let port = cluster.port();
    assert_eq!(rload(&["--pipe", "-c", "-p", &port], input.clone()).code, 0);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.resp");
    let args = format!("--dump --scan -c -p {port} --rate 5000 --json");
    let run = stopped_once_written(&args, &file, 10_000, libc::SIGTERM);
    assert_eq!(run.code, 143, "{run:?}");
    let j = json_line(&run);
    assert_eq!(j["nodes"].as_array().unwrap().len(), 1, "{j}");
    let resume = j["resume_command"].as_str().unwrap();
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
    assert_eq!(target.digest(), loaded(input).digest());
}

#[test]
fn split_dumps_read_each_key_once_between_them() {
    let source = Redis::start();
    let input = format!("{}SELECT 3\n{}", set_lines(0..20_000), lists(5, 1200));
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    let cluster = Cluster::start(3);
    let port = cluster.port();
    assert_eq!(
        rload(&["--pipe", "-c", "-p", &port], set_lines(0..20_000)).code,
        0
    );
    for (what, base) in [
        ("a server", format!("--dump -p {}", source.port)),
        ("a cluster", format!("--dump -c -p {port}")),
    ] {
        let target = Redis::start();
        let mut total = 0;
        for i in 0..4 {
            let split = format!("{i}/4");
            let args: Vec<&str> = base
                .split(' ')
                .chain(["--split", &split, "--json"])
                .collect();
            let run = rload(&args, "");
            assert_eq!(run.code, 0, "{what} {split}: {run:?}");
            total += json_line(&run)["keys"].as_u64().unwrap();
            assert_eq!(rload_pipe(&target, &[], run.stdout).code, 0);
        }
        if what == "a server" {
            assert_eq!(total, 20_005, "each key once");
            assert_eq!(target.digest(), source.digest());
        } else {
            assert_eq!(total, 20_000, "each key once");
            assert_eq!(target.digest(), loaded(set_lines(0..20_000)).digest());
        }
    }
    let bad = rload(&["--dump", "-p", "1", "--split", "4/4"], "");
    assert_eq!(bad.code, 2, "{bad:?}");
}
