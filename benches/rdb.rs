//! The RDB reader alone, on one core, over an RDB of issue 25's mixed
//! dataset: 700k strings, 100k 10-field hashes, 100k 10-element lists, 50k
//! 10-member sets, 50k 10-member sorted sets and one 200k-element list.
//! The file is made at setup by a real `redis-server` (the one on PATH, on
//! a free port in a temporary directory) and read into memory; throughput
//! is the file's bytes. Every event is consumed, and the key count is
//! checked once before timing.

use std::hint::black_box;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rload::rdb::{Event, Piece, RdbReader};

/// Builds the dataset server-side, in batches so no script runs long.
const POPULATE: &str = "
local from, to = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = from, to do
    redis.call('SET', 'string:' .. i, 'value-' .. i .. '-' .. string.rep('x', i % 24))
    if i <= 100000 then
        redis.call('HSET', 'hash:' .. i, 'f1', i, 'f2', 'v2', 'f3', 'v3-' .. i, 'f4', 'v4', 'f5', i * 3,
            'f6', 'v6', 'f7', 'v7', 'f8', 'v8-' .. i, 'f9', 'v9', 'f10', 'v10')
        redis.call('RPUSH', 'list:' .. i, 'a', 'b', i, 'd', 'e', 'f', 'g-' .. i, 'h', 'i', 'j')
    end
    if i <= 50000 then
        redis.call('SADD', 'set:' .. i, 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm' .. i)
        redis.call('ZADD', 'zset:' .. i, 1, 'a', 2.5, 'b', 3, 'c', 4, 'd', 5, 'e', 6, 'f', 7, 'g', 8, 'h', 9, 'i', i, 'z')
    end
end
return 1";

/// A server in a temporary directory, stopped on drop.
struct Server {
    port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn start_server() -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cli(port, &["PING"]) != "PONG" {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { port, child, dir }
}

/// The mixed dataset's RDB, as the server saves it.
fn mixed_rdb() -> Vec<u8> {
    let server = start_server();
    for from in (1..=700_000).step_by(50_000) {
        let to = (from + 49_999).to_string();
        cli(
            server.port,
            &["EVAL", POPULATE, "0", &from.to_string(), &to],
        );
    }
    cli(
        server.port,
        &[
            "EVAL",
            "for i = 1, 200000 do redis.call('RPUSH', 'biglist', 'item-' .. i) end",
            "0",
        ],
    );
    assert_eq!(cli(server.port, &["DBSIZE"]), "1000001");
    assert_eq!(cli(server.port, &["SAVE"]), "OK");
    std::fs::read(server.dir.path().join("dump.rdb")).unwrap()
}

/// Reads every event; returns keys and elements.
fn read_all(rdb: &[u8], raw_limit: usize) -> (u64, u64) {
    let mut reader = RdbReader::new(rdb).unwrap().with_raw_limit(raw_limit);
    let (mut keys, mut elements) = (0, 0);
    while let Some(event) = reader.next().unwrap() {
        match event {
            Event::KeyEnd(end) => {
                keys += 1;
                elements += end.elements;
                black_box(end.raw);
            }
            Event::Piece(Piece::Bytes(b)) => {
                black_box(b);
            }
            Event::Piece(Piece::Items(e) | Piece::Pairs(e)) => {
                for x in e.iter() {
                    black_box(x);
                }
            }
            _ => {}
        }
    }
    (keys, elements)
}

fn bench(c: &mut Criterion) {
    let rdb = mixed_rdb();
    let (keys, _) = read_all(&rdb, rload::rdb::DEFAULT_RAW_LIMIT);
    assert_eq!(keys, 1_000_001, "every key read");
    eprintln!("mixed dataset RDB: {} bytes", rdb.len());
    let mut g = c.benchmark_group("rdb");
    g.throughput(Throughput::Bytes(rdb.len() as u64));
    g.sample_size(20);
    g.bench_function("read_mixed_dataset", |b| {
        b.iter(|| read_all(black_box(&rdb), rload::rdb::DEFAULT_RAW_LIMIT))
    });
    g.bench_function("read_mixed_dataset_without_raw_values", |b| {
        b.iter(|| read_all(black_box(&rdb), 0))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
