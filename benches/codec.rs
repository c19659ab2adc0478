//! Micro-benchmarks of the hot paths: framing and encoding the input, and
//! scanning replies. Inputs are built outside the timed closures, and each
//! round trip is checked once before timing.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rload::input::{Input, InputReader};
use rload::resp::{ReplyScanner, encode_command};

const LINES: u64 = 200_000;

fn input(data: &[u8]) -> Input {
    Input::Bytes {
        name: "bench".into(),
        data: bytes::Bytes::copy_from_slice(data),
    }
}

/// Frames every command of `data` and appends its RESP to `out`, as the
/// producer does: inline commands are encoded, RESP frames copied through.
fn frame_and_encode(data: &Input, out: &mut Vec<u8>) -> u64 {
    let mut reader = InputReader::open(std::slice::from_ref(data)).expect("bytes open");
    let mut n = 0;
    while let Some(cmd) = reader.next_command().expect("valid input") {
        match cmd.resp {
            Some(frame) => out.extend_from_slice(frame),
            None => encode_command(out, &cmd.args),
        }
        n += 1;
    }
    n
}

fn resp_of(lines: u64, line: impl Fn(u64) -> Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..lines {
        let args = line(i);
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        encode_command(&mut out, &refs[..]);
    }
    out
}

fn bench_input(c: &mut Criterion) {
    let set = |i: u64| {
        vec![
            b"SET".to_vec(),
            format!("Key{i}").into_bytes(),
            format!("Value{i}").into_bytes(),
        ]
    };
    let cases: [(&str, Vec<u8>, Vec<u8>); 3] = [
        (
            "inline SET KeyN ValueN",
            (0..LINES)
                .flat_map(|i| format!("SET Key{i} Value{i}\n").into_bytes())
                .collect(),
            resp_of(LINES, set),
        ),
        (
            "inline quoted and escaped",
            (0..LINES)
                .flat_map(|i| {
                    format!("HSET \"user:{i}\" name 'Ada \\'L\\'' note \"a\\tb\\x41\"\n")
                        .into_bytes()
                })
                .collect(),
            resp_of(LINES, |i| {
                [
                    &b"HSET"[..],
                    format!("user:{i}").as_bytes(),
                    b"name",
                    b"Ada 'L'",
                    b"note",
                    b"a\tbA",
                ]
                .map(<[u8]>::to_vec)
                .to_vec()
            }),
        ),
        (
            "RESP passthrough (validated)",
            resp_of(LINES, set),
            resp_of(LINES, set),
        ),
    ];
    let mut group = c.benchmark_group("input");
    for (name, text, want) in cases {
        let data = input(&text);
        let mut out = Vec::with_capacity(want.len());
        assert_eq!(frame_and_encode(&data, &mut out), LINES);
        assert_eq!(
            out, want,
            "{name}: the round trip must give the expected RESP"
        );
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(frame_and_encode(&data, &mut out))
            })
        });
    }
    group.finish();
}

/// Scans `stream` in batches the size of a chunk's worth of commands.
fn scan_all(stream: &[u8]) -> u64 {
    let mut scanner = ReplyScanner::new();
    let mut pos = 0;
    let mut replies = 0;
    while pos < stream.len() {
        let batch = scanner.scan(&stream[pos..], 8192);
        assert!(batch.error.is_none(), "valid replies");
        pos += batch.consumed;
        replies += batch.replies;
    }
    replies
}

fn bench_replies(c: &mut Criterion) {
    const REPLIES: u64 = 1_000_000;
    let ok = b"+OK\r\n".repeat(REPLIES as usize);
    let mixed_unit: &[u8] = b"+OK\r\n:12345\r\n$5\r\nhello\r\n-ERR no such key\r\n*2\r\n$1\r\na\r\n:1\r\n_\r\n%1\r\n+k\r\n,3.5\r\n$-1\r\n:0\r\n";
    let mixed = mixed_unit.repeat((REPLIES / 9) as usize);
    let mixed_count = REPLIES / 9 * 9;
    let mut group = c.benchmark_group("replies");
    for (name, stream, count) in [
        ("+OK", ok, REPLIES),
        ("mixed RESP2/RESP3", mixed, mixed_count),
    ] {
        assert_eq!(scan_all(&stream), count, "{name}: every reply counted");
        group.throughput(Throughput::Elements(count));
        group.bench_function(name, |b| b.iter(|| black_box(scan_all(&stream))));
    }
    group.finish();
}

criterion_group!(benches, bench_input, bench_replies);
criterion_main!(benches);
