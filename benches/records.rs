//! Micro-benchmarks of structured input: CSV and JSON lines read, rendered
//! by templates and encoded as RESP, as the producer does, on one core.
//! Throughput is the input's bytes. Inputs are built outside the timed
//! closures, and each rendering is checked once before timing.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rload::input::{CommandSource, Input, Next};
use rload::records::{Format, RecordOptions, RecordSource};
use rload::resp::encode_command;

const ROWS: usize = 50_000;

fn input(data: &[u8]) -> Input {
    Input::Bytes {
        name: "bench".into(),
        data: bytes::Bytes::copy_from_slice(data),
    }
}

/// Reads every record of `data`, rendering and encoding its commands into
/// `out`; returns the number of commands.
fn render_all(data: &Input, options: &RecordOptions, out: &mut Vec<u8>) -> u64 {
    let mut source = RecordSource::open(std::slice::from_ref(data), options).expect("opens");
    let mut n = 0;
    loop {
        match source.next_buffered().expect("valid records") {
            Next::Command(cmd) => {
                encode_command(out, &cmd.args);
                n += 1;
            }
            Next::NeedInput => source.read_more().expect("reads"),
            Next::End => return n,
        }
    }
}

/// A 20-column CSV of `ROWS` people, as benches/compare.sh makes it.
fn people_csv() -> Vec<u8> {
    let mut out = b"id,name,email,age,city,score,joined,active,tags,note".to_vec();
    for c in 10..20 {
        out.extend_from_slice(format!(",c{c}").as_bytes());
    }
    out.push(b'\n');
    for i in 0..ROWS {
        out.extend_from_slice(
            format!(
                "{i},Person {i},p{i}@example.com,{},London,{}.{:02},2026-01-{:02},true,t{};t{},\"note, {i}\"",
                18 + i % 60,
                i % 1000,
                i % 100,
                1 + i % 28,
                i % 5,
                i % 7
            )
            .as_bytes(),
        );
        for c in 10..20 {
            out.extend_from_slice(format!(",v{c}-{}", i * c % 997).as_bytes());
        }
        out.push(b'\n');
    }
    out
}

/// The same people as JSON lines, with a nested object and an array.
fn people_jsonl() -> Vec<u8> {
    (0..ROWS)
        .flat_map(|i| {
            format!(
                r#"{{"id": {i}, "name": "Person {i}", "email": "p{i}@example.com", "age": {}, "score": 1.50, "tags": ["t{}", "t{}"], "addr": {{"city": "London", "zip": "N{}"}}}}"#,
                18 + i % 60,
                i % 5,
                i % 7,
                i % 100
            )
            .into_bytes()
            .into_iter()
            .chain(std::iter::once(b'\n'))
        })
        .collect()
}

fn bench_records(c: &mut Criterion) {
    let templates = |ts: &[&str]| ts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    let cases = [
        (
            "csv, HSET {*} and ZADD",
            people_csv(),
            RecordOptions {
                format: Format::Csv,
                templates: templates(&["HSET user:{id} {*}", "ZADD by_age {age} {id}"]),
                header: true,
                delimiter: None,
                tsv_quotes: false,
            },
        ),
        (
            "jsonl, HSET fields and SADD tags[]",
            people_jsonl(),
            RecordOptions {
                format: Format::Jsonl,
                templates: templates(&[
                    "HSET user:{id} name {name} email {email} age {age} city {addr.city} score {score}",
                    "SADD tags:{id} {tags[]}",
                ]),
                header: true,
                delimiter: None,
                tsv_quotes: false,
            },
        ),
    ];
    let mut group = c.benchmark_group("render records");
    for (name, data, options) in cases {
        let input = input(&data);
        let mut out = Vec::with_capacity(data.len() * 2);
        assert_eq!(
            render_all(&input, &options, &mut out),
            2 * ROWS as u64,
            "{name}"
        );
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(render_all(&input, &options, &mut out))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_records);
criterion_main!(benches);
