//! Records that cannot be loaded, against real servers: each is named at
//! its `file:line` as invalid (stopping the load, or counted and passed
//! over with `--skip-invalid`), and every other record loads. Truncated
//! JSON, elements that are not objects, quoting that breaks RFC 4180, TSV
//! quotes taken literally, names given twice, huge fields, and compressed
//! input with garbage after it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{Background, Redis, Run, resume_line, run_with};

/// Runs rload with `args`, ended after a minute if it does not end itself
/// (a parser that loops forever must fail the test, not hang it).
fn rload_bounded(args: &[&str]) -> Run {
    let run = run_with(
        Command::new("timeout")
            .arg("60")
            .arg(env!("CARGO_BIN_EXE_rload"))
            .args(args),
        Vec::new(),
    );
    assert_ne!(run.code, 124, "rload did not end: {run:?}");
    run
}

/// `rload --pipe -p PORT` with `args`, then `file`.
fn load(redis: &Redis, args: &[&str], file: &Path) -> Run {
    let port = redis.port.to_string();
    let name = file.display().to_string();
    let mut all = vec!["--pipe", "-p", &port];
    all.extend_from_slice(args);
    all.push(&name);
    rload_bounded(&all)
}

/// The lines of stderr that report a skipped invalid record.
fn skipped(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.contains("invalid input, skipped"))
        .collect()
}

#[test]
fn a_truncated_json_array_ends_with_one_error_after_loading_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    for (text, why, loaded) in [
        (
            r#"[{"a":"1"},{"a":"2"}"#,
            "the input ends inside the JSON array (no ']')",
            2,
        ),
        (r#"[{"a":"1"},]"#, "a ',' before the array's ']'", 1),
        (
            "[{\"a\":\"1\"},\n{\"a\":",
            "the input ends inside a JSON value",
            1,
        ),
    ] {
        let file = dir.path().join("cut.json");
        std::fs::write(&file, text).unwrap();
        let redis = Redis::start();
        let run = load(
            &redis,
            &["--skip-invalid", "--template", "SET k{a} v"],
            &file,
        );
        assert_eq!(run.code, 1, "{text}: {run:?}");
        assert_eq!(run.counts(), (1, loaded), "{text}: {run:?}");
        let skipped = skipped(&run);
        assert_eq!(skipped.len(), 1, "one error for {text}: {run:?}");
        assert!(skipped[0].contains(why), "{text}: {run:?}");
        assert_eq!(redis.dbsize(), loaded);

        let redis = Redis::start();
        let run = load(&redis, &["--template", "SET k{a} v"], &file);
        assert_eq!(run.code, 3, "{text}: {run:?}");
        assert!(run.stderr.contains(why), "{text}: {run:?}");
        assert_eq!(redis.dbsize(), loaded, "what came before the cut loads");
        let resume = resume_line(&run).or_else(|| {
            run.stderr
                .lines()
                .find_map(|l| l.strip_prefix("rload: fix the input, then resume with: "))
                .map(str::to_string)
        });
        assert!(
            resume.is_some_and(|r| r.ends_with(&format!("--resume-from {loaded}"))),
            "{run:?}"
        );
    }
}

/// A string among 1,000 objects is one invalid record at its line; the
/// objects after it load, and the account says all was sent.
#[test]
fn each_json_element_is_judged_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.json");
    let elements: Vec<String> = (0..1_000)
        .map(|i| match i {
            500 => r#""a string, not an object""#.to_string(),
            _ => format!(r#"{{"id": {i}, "name": "n{i}"}}"#),
        })
        .collect();
    // One element a line, after the `[` on line 1: element i is on line i + 2.
    std::fs::write(&file, format!("[\n{}\n]\n", elements.join(",\n"))).unwrap();
    let name = file.display().to_string();
    let template = ["--template", "SET u:{id} {name}"];

    let redis = Redis::start();
    let mut args = vec!["--skip-invalid", "--json"];
    args.extend_from_slice(&template);
    let run = load(&redis, &args, &file);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(redis.dbsize(), 999);
    assert_eq!(redis.cli(&["GET", "u:999"]), "n999");
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(json["all_sent"], true, "{json}");
    assert_eq!(
        (json["errors"].as_u64(), json["invalid"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(json["replies"].as_u64(), Some(999), "{json}");
    assert!(
        run.stderr.contains(&format!(
            "{name}:502: invalid input, skipped: invalid record: a record must be a JSON object, {{...}}, not a string"
        )),
        "{run:?}"
    );

    let redis = Redis::start();
    let run = load(&redis, &template, &file);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{name}:502: invalid record: a record must be a JSON object, {{...}}, not a string"
        )),
        "{run:?}"
    );
    assert_eq!(redis.dbsize(), 500);
    // Fixed, the input resumes from the line the account gave.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file).unwrap().replace(
            r#""a string, not an object""#,
            r#"{"id": 500, "name": "n500"}"#,
        ),
    )
    .unwrap();
    let resume = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("rload: fix the input, then resume with: "))
        .expect("a resume line");
    assert!(resume.ends_with("--resume-from 500"), "{resume}");
    let again = run_with(Command::new("sh").args(["-c", resume]), Vec::new());
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.counts(), (0, 500));
    assert_eq!(redis.dbsize(), 1_000);
}

/// A number ends at the byte after it; when a read ends right after it,
/// the splitter waits for that byte, and the object after it still loads.
#[test]
fn a_scalar_cut_by_a_read_boundary_does_not_swallow_the_next_element() {
    let redis = Redis::start();
    let port = redis.port.to_string();
    let args = [
        "--pipe",
        "-p",
        &port,
        "--format",
        "json",
        "--skip-invalid",
        "--template",
        "SET k{a} v",
    ];
    let load = Background::start_streaming(&args, |pipe| {
        for piece in ["[1", ",2", ",{\"a\":3}]"] {
            let _ = pipe.write_all(piece.as_bytes());
            let _ = pipe.flush();
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let run = load.wait();
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (2, 1), "{run:?}");
    assert_eq!(skipped(&run).len(), 2, "{run:?}");
    assert!(
        skipped(&run)
            .iter()
            .all(|l| l.contains("a record must be a JSON object, {...}, not a number")),
        "{run:?}"
    );
    assert_eq!(redis.cli(&["GET", "k3"]), "v");
}

/// An unclosed quote, or text after a closing quote, makes its record
/// invalid at the line it starts on; reading goes on at the next line, so
/// nothing after it is swallowed unnamed.
#[test]
fn a_quoting_error_is_an_invalid_record_at_its_line_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.csv");
    std::fs::write(
        &file,
        "id,v\n1,a\n2,\"b\n3,c\n4,\"d\"e\n5,f\n6,\"g, still open\n7,h\n",
    )
    .unwrap();
    let name = file.display().to_string();
    let template = ["--template", "SET k{id} {v}"];

    let redis = Redis::start();
    let mut args = vec!["--skip-invalid"];
    args.extend_from_slice(&template);
    let run = load(&redis, &args, &file);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.counts(), (3, 4), "{run:?}");
    for (line, why) in [
        (3, "text after the closing quote of field 2"),
        (5, "text after the closing quote of field 2"),
        (
            7,
            "the quoted field 2 is never closed: the input ends inside it",
        ),
    ] {
        assert!(
            run.stderr.contains(&format!(
                "{name}:{line}: invalid input, skipped: invalid record: {why}"
            )),
            "line {line}: {run:?}"
        );
    }
    let mut keys = redis.keys();
    keys.sort();
    assert_eq!(keys, ["k1", "k3", "k5", "k7"]);
    assert_eq!(redis.cli(&["GET", "k7"]), "h");

    // A truncated download: without --skip-invalid it stops there.
    let cut = dir.path().join("cut.csv");
    std::fs::write(&cut, "id,v\n1,a\n2,\"b, and the file ends").unwrap();
    let redis = Redis::start();
    let run = load(&redis, &template, &cut);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{}:3: invalid record: the quoted field 2 is never closed",
            cut.display()
        )),
        "{run:?}"
    );
    assert_eq!(redis.keys(), ["k1"]);
}

/// In TSV a quote is a character, as the format's definition and
/// PostgreSQL's COPY have it; `--tsv-quotes` reads CSV's quoting instead.
#[test]
fn tsv_takes_quotes_literally_unless_tsv_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("films.tsv");
    std::fs::write(
        &file,
        "title\tsize\n\"Jaws\" (1975)\t12\"\n2001\t3\n\"Alien\tfull\n",
    )
    .unwrap();
    let redis = Redis::start();
    let run = load(&redis, &["--template", "HSET films {title} {size}"], &file);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 3));
    assert_eq!(redis.cli(&["HGET", "films", "\"Jaws\" (1975)"]), "12\"");
    assert_eq!(redis.cli(&["HGET", "films", "2001"]), "3");
    assert_eq!(redis.cli(&["HGET", "films", "\"Alien"]), "full");

    let quoted = dir.path().join("quoted.tsv");
    std::fs::write(&quoted, "title\tsize\n\"a\tb\"\t\"1\"\"\"\n").unwrap();
    let redis = Redis::start();
    let args = ["--tsv-quotes", "--template", "HSET films {title} {size}"];
    let run = load(&redis, &args, &quoted);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["HGET", "films", "a\tb"]), "1\"");
    // The first file, read with quotes: its first record is refused.
    let redis = Redis::start();
    let run = load(&redis, &args, &file);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains(":2: invalid record: text after the closing quote of field 1"),
        "{run:?}"
    );

    let help = rload_bounded(&["--help"]);
    assert!(help.stdout.contains("--tsv-quotes"), "{help:?}");
    let csv = rload_bounded(&[
        "--pipe",
        "--format",
        "csv",
        "--tsv-quotes",
        "--template",
        "SET a b",
    ]);
    assert_eq!(csv.code, 2, "{csv:?}");
    assert!(csv.stderr.contains("--tsv-quotes is for TSV"), "{csv:?}");
}

/// A name given twice, as a JSON key or a CSV column: `{name}` and `{*}`
/// agree, as `JSON.parse` reads it: the last value, at the first place.
#[test]
fn a_name_given_twice_is_read_once_with_its_last_value() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("d.json");
    std::fs::write(&json, r#"[{"id": 1, "a": "x", "b": "y", "a": "z"}]"#).unwrap();
    let csv = dir.path().join("d.csv");
    std::fs::write(&csv, "id,a,b,a\n1,x,y,z\n").unwrap();
    for file in [&json, &csv] {
        let redis = Redis::start();
        let args = [
            "--template",
            "SET a{id} {a}",
            "--template",
            "RPUSH l{id} {*}",
        ];
        let run = load(&redis, &args, file);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(redis.cli(&["GET", "a1"]), "z", "{}", file.display());
        assert_eq!(
            redis.cli(&["LRANGE", "l1", "0", "-1"]),
            "id\n1\na\nz\nb\ny",
            "{}",
            file.display()
        );
    }
}

/// Smaller things: the count of fields in words that fit it, and gzip
/// input with garbage after it says so.
#[test]
fn a_wrong_width_counts_in_words_and_gzip_garbage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.csv");
    std::fs::write(&file, "id,v\n1\n").unwrap();
    let redis = Redis::start();
    let run = load(&redis, &["--template", "SET k{id} {v}"], &file);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains(":2: invalid record: the record has 1 field, but the header has 2"),
        "{run:?}"
    );

    let plain = dir.path().join("data.txt");
    std::fs::write(&plain, "SET a 1\nSET b 2\n").unwrap();
    let gz = dir.path().join("data.txt.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -c {} > {} && printf 'garbage after the stream' >> {}",
            plain.display(),
            gz.display(),
            gz.display()
        ))
        .status()
        .unwrap();
    assert!(status.success(), "gzip is needed for this test");
    let redis = Redis::start();
    let run = load(&redis, &[], &gz);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "cannot read {}: the gzip data is followed by bytes that are not gzip (trailing garbage)",
            gz.display()
        )),
        "{run:?}"
    );
    assert_eq!(redis.dbsize(), 2, "what came before the garbage loads");
}
