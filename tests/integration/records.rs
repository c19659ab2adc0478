//! Structured input against real servers: CSV, TSV, a JSON array and JSON
//! lines, rendered by templates, each compared with an independent
//! reference (`reference/render.py`, Python's own csv and json modules)
//! piped into `redis-cli --pipe`: the same dataset, the same counts.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Redis, Run, redis_cli, rload};

/// The reference renderer's path.
fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/reference/render.py")
}

/// Loads `file` with rload (`args` before it) into one server and with the
/// reference into another; both must end the same: the same summary and
/// the same digest. Returns rload's run.
fn same_as_reference(format: &str, file: &Path, flags: &[&str]) -> Run {
    let (ours, theirs) = (Redis::start(), Redis::start());
    let port = ours.port.to_string();
    let path = file.display().to_string();
    let mut args = vec!["--pipe", "-p", &port, "--format", format];
    args.extend_from_slice(flags);
    args.push(&path);
    let run = rload(&args, "");
    assert_eq!(run.code, 0, "{run:?}");
    let rendered = Command::new("python3")
        .arg(reference())
        .args([format, &path])
        .args(flags)
        .output()
        .expect("python3 runs the reference");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let cli = redis_cli(&["-p", &theirs.port.to_string(), "--pipe"], rendered.stdout);
    assert_eq!(cli.code, 0, "{cli:?}");
    assert_eq!(
        run.counts(),
        cli.counts(),
        "rload: {run:?}\nredis-cli: {cli:?}"
    );
    assert!(run.counts().1 > 0);
    assert_eq!(ours.digest(), theirs.digest(), "the datasets differ");
    run
}

/// A table of `rows` people, with 20 columns of every sort of value: a
/// generated data set, deterministic.
fn people(rows: usize) -> Vec<Vec<String>> {
    let cities = [
        "London, UK",
        "New\nYork",
        "Zürich",
        "São Paulo",
        "Tōkyō",
        "\"Q\" town",
        "",
    ];
    let mut table = vec![
        [
            "id", "name", "email", "age", "city", "score", "joined", "active", "tags", "note",
            "c10", "c11", "c12", "c13", "c14", "c15", "c16", "c17", "c18", "c19",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for i in 0..rows {
        let mut row = vec![
            i.to_string(),
            format!("Person {i}"),
            format!("p{i}@example.com"),
            (18 + i % 60).to_string(),
            cities[i % cities.len()].to_string(),
            format!("{}.{:02}", i % 1000, i % 100),
            format!("2026-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
            (i % 3 == 0).to_string(),
            format!("t{},t{}", i % 5, i % 7),
            if i % 11 == 0 {
                String::new()
            } else {
                format!("note, \"{i}\"")
            },
        ];
        row.extend((10..20).map(|c| format!("v{c}-{}", i * c % 997)));
        table.push(row);
    }
    table
}

fn csv_text(table: &[Vec<String>], delimiter: char) -> String {
    let mut out = String::new();
    for row in table {
        let fields: Vec<String> = row
            .iter()
            .map(|f| {
                if f.contains([delimiter, '"', '\n', '\r']) {
                    format!("\"{}\"", f.replace('"', "\"\""))
                } else {
                    f.clone()
                }
            })
            .collect();
        let _ = write!(out, "{}\r\n", fields.join(&delimiter.to_string()));
    }
    out
}

/// The people as JSON objects, with nested values and numbers written in
/// every way JSON allows.
fn people_json(rows: usize) -> Vec<String> {
    (0..rows)
        .map(|i| {
            format!(
                r#"{{"id": {i}, "name": "Person {i} \u00e9\"", "age": {}, "score": {}, "big": 1234567890123456789{}, "e": 1e{}, "active": {}, "tags": ["t{}", "t{}"], "addr": {{"city": "C{}", "geo": [1.50, -0.0]}}, "none": null}}"#,
                18 + i % 60,
                if i % 2 == 0 { "1.50".to_string() } else { format!("{i}.0") },
                i % 10,
                i % 5,
                i % 3 == 0,
                i % 5,
                i % 7,
                i % 13,
            )
        })
        .collect()
}

const CSV_TEMPLATES: [&str; 4] = [
    "--template",
    "HSET user:{id} {*}",
    "--template",
    "ZADD by_age {age} {id}",
];

#[test]
fn csv_loads_as_the_reference_renders_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(&file, csv_text(&people(20_000), ',')).unwrap();
    let run = same_as_reference("csv", &file, &CSV_TEMPLATES);
    assert_eq!(run.counts(), (0, 40_000));
}

/// Quoted TSV (`--tsv-quotes`) and another delimiter load as the
/// reference renders them.
#[test]
fn quoted_tsv_and_a_delimiter_load_as_the_reference_renders_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.tsv");
    std::fs::write(&file, csv_text(&people(3_000), '\t')).unwrap();
    let mut flags = vec!["--tsv-quotes"];
    flags.extend_from_slice(&CSV_TEMPLATES);
    same_as_reference("tsv", &file, &flags);
    // Plain TSV: no field holds a tab or a line end, and quotes are text.
    let plain: String = people(3_000)
        .iter()
        .map(|row| {
            let fields: Vec<String> = row.iter().map(|f| f.replace(['\n', '\r'], " ")).collect();
            format!("{}\n", fields.join("\t"))
        })
        .collect();
    assert!(plain.contains("\"Q\" town"));
    let file = dir.path().join("plain.tsv");
    std::fs::write(&file, plain).unwrap();
    same_as_reference("tsv", &file, &CSV_TEMPLATES);
    let file = dir.path().join("people.txt");
    std::fs::write(&file, csv_text(&people(3_000), ';')).unwrap();
    let mut flags = vec!["--delimiter", ";"];
    flags.extend_from_slice(&CSV_TEMPLATES);
    same_as_reference("csv", &file, &flags);
}

/// Every corner of RFC 4180: quoted fields, doubled quotes, embedded
/// commas and newlines, CRLF and LF mixed, a byte order mark, empty fields,
/// blank lines, no newline at the end; and `--no-header`.
#[test]
fn every_csv_corner_loads_as_the_reference_renders_it() {
    let dir = tempfile::tempdir().unwrap();
    let corners = "\u{feff}key,a,b\r\n\
        k1,plain,\"quoted\"\r\n\
        k2,\"with, comma\",\"with \"\"quotes\"\"\"\n\
        \n\
        k3,\"multi\r\nline\nfield\",\r\n\
        k4,,\"\"\n\
        k5,ünïcødé,\"tab\there\"\n\
        k6,last,no newline";
    let file = dir.path().join("corners.csv");
    std::fs::write(&file, corners).unwrap();
    let templates = [
        "--template",
        "HSET h:{key} a {a} b {b}",
        "--template",
        "RPUSH all {key}",
    ];
    let run = same_as_reference("csv", &file, &templates);
    assert_eq!(run.counts(), (0, 12));
    let headless = dir.path().join("headless.csv");
    std::fs::write(&headless, "x,1\ny,\"2,3\"\n").unwrap();
    same_as_reference(
        "csv",
        &headless,
        &[
            "--no-header",
            "--template",
            "SET {0} {1}",
            "--template",
            "HSET row:{0} {*}",
        ],
    );
}

#[test]
fn a_json_array_loads_as_the_reference_renders_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.json");
    std::fs::write(
        &file,
        format!("[\n{}\n]\n", people_json(10_000).join(",\n")),
    )
    .unwrap();
    let templates = [
        "--template",
        "HSET user:{id} name {name} score {score} big {big} e {e} city {addr.city} lat {addr.geo.0} addr {addr}",
        "--template",
        "SADD tags:{id} {tags[]}",
        "--template",
        "SET none:{id} x{none?}",
    ];
    let run = same_as_reference("json", &file, &templates);
    assert_eq!(run.counts(), (0, 30_000));
}

#[test]
fn json_lines_load_as_the_reference_renders_them_and_numbers_keep_their_text() {
    let redis_check = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.jsonl");
    std::fs::write(&file, people_json(5_000).join("\n\n") + "\n").unwrap();
    same_as_reference("jsonl", &file, &["--template", "HSET user:{id} {*}"]);
    let port = redis_check.port.to_string();
    let run = rload(
        &[
            "--pipe",
            "-p",
            &port,
            "--template",
            "SET n {score}:{big}:{e}",
            file.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        redis_check.cli(&["GET", "n"]),
        "4999.0:12345678901234567899:1e4"
    );
}

/// gzip and zstd are recognised by their first bytes, in files (whose
/// `.gz`/`.zst` suffix the format is read through) and on standard input.
#[test]
fn compressed_input_loads_the_same_from_files_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let text = csv_text(&people(2_000), ',');
    let plain = dir.path().join("p.csv");
    std::fs::write(&plain, &text).unwrap();
    let gz = dir.path().join("p.csv.gz");
    let zst = dir.path().join("p.csv.zst");
    for (tool, out) in [("gzip", &gz), ("zstd", &zst)] {
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{tool} -c -q {} > {}",
                plain.display(),
                out.display()
            ))
            .status()
            .unwrap();
        assert!(status.success(), "{tool} is needed for this test");
    }
    let clean = Redis::start();
    let port = clean.port.to_string();
    let run = rload(
        &[
            "--pipe",
            "-p",
            &port,
            plain.to_str().unwrap(),
            CSV_TEMPLATES[0],
            CSV_TEMPLATES[1],
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    for file in [&gz, &zst] {
        let redis = Redis::start();
        let port = redis.port.to_string();
        let run = rload(
            &[
                "--pipe",
                "-p",
                &port,
                file.to_str().unwrap(),
                CSV_TEMPLATES[0],
                CSV_TEMPLATES[1],
            ],
            "",
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(redis.digest(), clean.digest(), "{}", file.display());
        let redis = Redis::start();
        let port = redis.port.to_string();
        let bytes = std::fs::read(file).unwrap();
        let run = rload(
            &[
                "--pipe",
                "-p",
                &port,
                "--format",
                "csv",
                CSV_TEMPLATES[0],
                CSV_TEMPLATES[1],
            ],
            bytes,
        );
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            redis.digest(),
            clean.digest(),
            "{} on stdin",
            file.display()
        );
    }
}

/// An invalid record names the line where it starts, even when an earlier
/// record spans lines; with --skip-invalid the rest loads.
#[test]
fn an_invalid_record_names_its_line_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.csv");
    std::fs::write(&file, "id,v\n1,\"a\nb\"\n2,x,extra\n3,y\n").unwrap();
    let redis = Redis::start();
    let port = redis.port.to_string();
    let name = file.display().to_string();
    let run = rload(
        &["--pipe", "-p", &port, "--template", "SET k{id} {v}", &name],
        "",
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{name}:4: invalid record: the record has 3 fields, but the header has 2"
        )),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 1"), "{run:?}");
    assert_eq!(redis.dbsize(), 1);
    let run = rload(
        &[
            "--pipe",
            "-p",
            &port,
            "--skip-invalid",
            "--template",
            "SET k{id} {v}",
            &name,
        ],
        "",
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (1, 2), "{run:?}");
    assert_eq!(redis.cli(&["GET", "k3"]), "y");

    let json = dir.path().join("d.jsonl");
    std::fs::write(&json, "{\"id\":1}\n\n{\"id\":2,\"v\":\"w\"}\n{\"id\":3,\n").unwrap();
    let name = json.display().to_string();
    let run = rload(
        &[
            "--pipe",
            "-p",
            &port,
            "--skip-invalid",
            "--template",
            "SET j{id} {v}",
            &name,
        ],
        "",
    );
    assert!(
        run.stderr.contains(&format!(
            "{name}:1: invalid input, skipped: invalid record: the record has no v"
        )),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!(
            "{name}:4: invalid input, skipped: invalid record: invalid JSON"
        )),
        "{run:?}"
    );
    assert_eq!(redis.cli(&["GET", "j2"]), "w");
}

/// A template that cannot be parsed, or that names a column the header
/// lacks, stops everything before anything is sent, naming both.
#[test]
fn a_bad_template_or_a_missing_column_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.csv");
    std::fs::write(&file, "id,name\n1,a\n").unwrap();
    let name = file.display().to_string();
    let redis = Redis::start();
    let port = redis.port.to_string();
    let run = rload(&["--pipe", "-p", &port, "--template", "SET {id", &name], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("template 'SET {id': column 5: the '{' is never closed"),
        "{run:?}"
    );
    let run = rload(
        &[
            "--pipe",
            "-p",
            &port,
            "--template",
            "HSET u:{id} n {nmae}",
            &name,
        ],
        "",
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{name}:1: the template 'HSET u:{{id}} n {{nmae}}' names the column 'nmae', which the header lacks (its columns: id, name)"
        )),
        "{run:?}"
    );
    assert!(
        !run.stdout.contains("errors:"),
        "stopped before connecting: {run:?}"
    );
    assert_eq!(redis.dbsize(), 0);
}

/// `--emit` writes the commands as RESP instead of loading them: for
/// command lines it is the mass-insertion guide's generator, built in; for
/// records, a dry run. Either loads with `redis-cli --pipe` to the same
/// dataset as `rload --pipe`.
#[test]
fn emit_writes_resp_that_redis_cli_loads_to_the_same_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("cmds.txt");
    std::fs::write(
        &lines,
        "SET a \"x y\"\nRPUSH l 1 2 3\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n\x00\r\nHSET h f 'v w'\n",
    )
    .unwrap();
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, csv_text(&people(500), ',')).unwrap();
    for args in [
        vec![lines.to_str().unwrap()],
        vec![csv.to_str().unwrap(), CSV_TEMPLATES[0], CSV_TEMPLATES[1]],
    ] {
        let emitted = Command::new(env!("CARGO_BIN_EXE_rload"))
            .arg("--emit")
            .args(&args)
            .output()
            .unwrap();
        assert!(
            emitted.status.success(),
            "{}",
            String::from_utf8_lossy(&emitted.stderr)
        );
        assert!(
            emitted.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&emitted.stderr)
        );
        let (ours, theirs) = (Redis::start(), Redis::start());
        let port = ours.port.to_string();
        let mut load = vec!["--pipe", "-p", &port];
        load.extend_from_slice(&args);
        let run = rload(&load, "");
        assert_eq!(run.code, 0, "{run:?}");
        let cli = redis_cli(&["-p", &theirs.port.to_string(), "--pipe"], emitted.stdout);
        assert_eq!(cli.counts(), run.counts(), "{cli:?}");
        assert_eq!(ours.digest(), theirs.digest());
    }
}

/// A lost connection in the middle of a CSV load: the account and the
/// printed resume command (command numbers, two per record here) complete
/// the load to the dataset a clean load gives.
#[test]
fn a_csv_load_cut_short_resumes_to_the_clean_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(&file, csv_text(&people(150_000), ',')).unwrap();
    let name = file.display().to_string();
    let clean = Redis::start();
    let port = clean.port.to_string();
    let run = rload(
        &[
            "--pipe",
            "-p",
            &port,
            &name,
            CSV_TEMPLATES[0],
            CSV_TEMPLATES[1],
            CSV_TEMPLATES[2],
            CSV_TEMPLATES[3],
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");

    let redis = Redis::start();
    let port = redis.port.to_string();
    let args = [
        "--pipe",
        "-p",
        &port,
        &name,
        CSV_TEMPLATES[0],
        CSV_TEMPLATES[1],
        CSV_TEMPLATES[2],
        CSV_TEMPLATES[3],
    ];
    let load = crate::support::Background::start(&args, Vec::new())
        .underway(60, || redis.dbsize() > 10_000);
    redis.cli(&["CLIENT", "KILL", "TYPE", "normal"]);
    let run = load.wait();
    assert_eq!(run.code, 5, "{run:?}");
    let resume = crate::support::resume_line(&run).unwrap_or_else(|| panic!("{run:?}"));
    let again = crate::support::run_with(Command::new("sh").arg("-c").arg(&resume), Vec::new());
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(redis.digest(), clean.digest());
}

/// A JSON array is read element by element: one far larger than rload's
/// memory loads in a few MiB.
#[test]
fn a_large_json_array_is_streamed_in_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.json");
    let element = people_json(1).remove(0);
    let mut text = String::from("[");
    for i in 0..300_000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&element.replacen("\"id\": 0", &format!("\"id\": {i}"), 1));
    }
    text.push(']');
    std::fs::write(&file, &text).unwrap();
    assert!(text.len() > 50 << 20, "{} bytes", text.len());
    drop(text);
    let redis = Redis::start();
    let port = redis.port.to_string();
    let name = file.display().to_string();
    let load = crate::support::Background::start_streaming(
        &[
            "--pipe",
            "-p",
            &port,
            &name,
            "--template",
            "SET u:{id} {name}",
        ],
        |_| {},
    );
    let mut peak = 0;
    let mut load = load;
    while load.running() {
        peak = peak.max(load.peak_rss_kib().unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.dbsize(), 300_000);
    assert!(peak < 40 * 1024, "peak RSS {peak} KiB for a 50+ MB array");
}

/// A huge CSV field is held about twice (read once out of the input, and
/// once as the command sent), not four times over.
#[test]
fn a_huge_csv_field_loads_in_about_twice_its_size() {
    const FIELD: usize = 50 << 20;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    let mut text = String::with_capacity(FIELD + 64);
    text.push_str("k,v\nbig,\"");
    text.extend(std::iter::repeat_n('x', FIELD));
    text.push_str("\"\nsmall,y\n");
    std::fs::write(&file, &text).unwrap();
    drop(text);
    let redis = Redis::start_with(&["--proto-max-bulk-len", "1gb"]);
    let port = redis.port.to_string();
    let name = file.display().to_string();
    let mut load = crate::support::Background::start_streaming(
        &["--pipe", "-p", &port, &name, "--template", "SET {k} {v}"],
        |_| {},
    );
    let mut peak = 0;
    while load.running() {
        peak = peak.max(load.peak_rss_kib().unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["STRLEN", "big"]), FIELD.to_string());
    assert_eq!(redis.cli(&["GET", "small"]), "y");
    assert!(
        peak < (FIELD as u64 >> 10) * 5 / 2,
        "peak RSS {peak} KiB for a field of {} KiB",
        FIELD >> 10
    );
}

/// Cluster mode routes each record's commands like any others.
#[test]
fn records_load_into_a_cluster_as_into_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.jsonl");
    std::fs::write(&file, people_json(5_000).join("\n")).unwrap();
    let name = file.display().to_string();
    let cluster = crate::support::Cluster::start(3);
    let port = cluster.port();
    let run = rload(
        &[
            "--pipe",
            "-c",
            "-p",
            &port,
            &name,
            "--template",
            "HSET user:{id} {*}",
            "--template",
            "SADD tags:{id} {tags[]}",
        ],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 10_000));
    assert_eq!(cluster.dbsize(), 10_000);
}

/// Error replies to rendered commands name their record's line, and
/// --max-errors stops reading records as it stops reading commands.
#[test]
fn error_replies_name_the_records_line_and_max_errors_stops() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scores.csv");
    let mut text = String::from("id,score\n");
    for i in 0..100_000 {
        let score = if i % 1000 == 7 {
            "high".to_string()
        } else {
            i.to_string()
        };
        text.push_str(&format!("{i},{score}\n"));
    }
    std::fs::write(&file, text).unwrap();
    let name = file.display().to_string();
    let redis = Redis::start();
    let port = redis.port.to_string();
    let run = rload(
        &[
            "--pipe",
            "-p",
            &port,
            "--max-errors",
            "3",
            "--template",
            "ZADD board {score} {id}",
            &name,
        ],
        "",
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("{name}:9: ERR value is not a valid float")),
        "the record with id 7 is on line 9: {run:?}"
    );
    assert!(
        run.stderr
            .contains("stopped reading the input after 3 errors"),
        "{run:?}"
    );
    assert!(run.counts().0 >= 3, "{run:?}");
}
