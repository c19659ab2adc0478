//! The RDB reader against the truth: every fixture read whole and compared
//! key by key with what a real server loads from it (or, for files the
//! installed server is too old to load, with the golden lines the newer
//! server that wrote it gave); a server's own SAVE of a large mixed
//! dataset; truncated and corrupted files; serialized values restored;
//! flat memory on huge keys; and a replica's full sync.

mod truth;
mod truth_stream;

use std::path::{Path, PathBuf};

use rload::rdb::{Event, RdbError, RdbReader};

use crate::support::Redis;
use truth::{Client, read_file, server_view, write_lines};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rdb")
}

/// Every committed RDB fixture but the deliberately corrupt one.
fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .filter(|p| !p.to_string_lossy().contains("corrupt_ziplist"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the fixtures are there: {files:?}");
    files
}

fn version(path: &Path) -> u32 {
    let head = std::fs::read(path).unwrap();
    let digits = if head.starts_with(b"REDIS") {
        &head[5..9]
    } else {
        &head[6..9]
    };
    std::str::from_utf8(digits).unwrap().parse().unwrap()
}

fn golden(path: &Path) -> Option<PathBuf> {
    Some(path.with_extension("jsonl")).filter(|g| g.exists())
}

/// Starts the installed redis-server on a copy of `path`.
fn server_on(path: &Path) -> Redis {
    let dir = tempfile::Builder::new()
        .prefix("rload-rdb-")
        .tempdir()
        .unwrap();
    std::fs::copy(path, dir.path().join("fixture.rdb")).unwrap();
    Redis::start_in(dir, &["--dbfilename", "fixture.rdb"])
}

#[test]
fn every_fixture_reads_whole_with_its_checksum_checked() {
    for path in fixture_files() {
        let view = read_file(&path);
        if version(&path) >= 5 {
            assert!(
                view.checksum.is_some(),
                "{} has a checksum, checked",
                path.display()
            );
        }
        assert!(
            view.max_piece_elements <= rload::rdb::MAX_PIECE_ELEMENTS,
            "{}",
            path.display()
        );
    }
}

#[test]
fn fixtures_the_installed_server_loads_read_back_as_it_holds_them() {
    let mut compared = 0;
    for path in fixture_files() {
        if golden(&path).is_some() || version(&path) > 10 {
            continue;
        }
        let redis = server_on(&path);
        let view = read_file(&path);
        let (lines, functions) = server_view(redis.port);
        assert_eq!(view.lines, lines, "{} against the server", path.display());
        assert_eq!(view.functions, functions, "{}", path.display());
        compared += 1;
    }
    assert!(compared >= 8, "{compared} fixtures compared");
}

#[test]
fn fixtures_of_newer_servers_read_back_as_their_golden_lines() {
    let mut compared = 0;
    for path in fixture_files() {
        let Some(golden) = golden(&path) else {
            continue;
        };
        let want: Vec<String> = std::fs::read_to_string(&golden)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let view = read_file(&path);
        let mut got = view.lines.clone();
        got.extend(
            view.functions
                .iter()
                .map(|f| serde_json::json!({"function": f}).to_string()),
        );
        assert_eq!(got, want, "{} against {}", path.display(), golden.display());
        compared += 1;
    }
    assert!(compared >= 2, "{compared} golden files compared");
}

/// Not a test: `tests/fixtures/rdb/make.sh` runs it against the server
/// that just wrote a fixture, to record what that server holds.
#[test]
#[ignore = "run by tests/fixtures/rdb/make.sh"]
fn writes_the_golden_file_of_a_running_server() {
    let port: u16 = std::env::var("RLOAD_RDB_GOLDEN_PORT")
        .unwrap()
        .parse()
        .unwrap();
    let out = PathBuf::from(std::env::var("RLOAD_RDB_GOLDEN_OUT").unwrap());
    let (mut lines, functions) = server_view(port);
    lines.extend(
        functions
            .iter()
            .map(|f| serde_json::json!({"function": f}).to_string()),
    );
    write_lines(&out, &lines);
}

/// The events of a whole file, or the error that stopped it, with the
/// number of `KeyEnd`s before.
fn read_until_error(bytes: &[u8]) -> (u64, Result<(), RdbError>) {
    let mut ends = 0;
    let mut reader = match RdbReader::new(bytes) {
        Ok(r) => r,
        Err(e) => return (0, Err(e)),
    };
    loop {
        match reader.next() {
            Ok(Some(Event::KeyEnd(_))) => ends += 1,
            Ok(Some(Event::End { .. })) | Ok(None) => return (ends, Ok(())),
            Ok(Some(_)) => {}
            Err(e) => return (ends, Err(e)),
        }
    }
}

#[test]
fn a_truncated_file_names_where_it_ends_and_the_keys_read_whole() {
    let bytes = std::fs::read(fixtures().join("redis-7.0.rdb")).unwrap();
    for cut in [
        9,
        100,
        bytes.len() / 3,
        bytes.len() / 2,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        let (ends, result) = read_until_error(&bytes[..cut]);
        match result {
            Err(RdbError::Truncated { at, expected }) => {
                assert_eq!(at.offset, cut as u64, "cut at {cut}: {expected}");
                assert_eq!(at.keys, ends, "cut at {cut}");
            }
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn a_flipped_byte_is_an_error_naming_its_offset_never_a_panic() {
    let bytes = std::fs::read(fixtures().join("redis-7.0.rdb")).unwrap();
    for at in (9..bytes.len()).step_by(7) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        let (ends, result) = read_until_error(&bad);
        let e = result.expect_err("a flipped byte is caught, at worst by the checksum");
        let found = e.at().expect("an offset");
        assert_eq!(found.keys, ends, "{e}");
        assert!(found.offset <= bytes.len() as u64, "flipped {at}: {e}");
        assert!(
            e.to_string().contains(&format!("at byte {}", found.offset)),
            "{e}"
        );
    }
}

#[test]
fn redis_corrupt_ziplist_fixture_is_a_corrupt_error_at_its_blob() {
    let bytes = std::fs::read(fixtures().join("redis-corrupt_ziplist.rdb")).unwrap();
    let (ends, result) = read_until_error(&bytes);
    let e = result.unwrap_err();
    assert!(matches!(e, RdbError::Corrupt { .. }), "{e}");
    assert_eq!(e.keys_done(), ends);
}

#[test]
fn raw_values_restore_to_the_same_keys_on_a_server() {
    let path = fixtures().join("redis-7.0.rdb");
    let redis = Redis::start();
    let mut c = Client::new(redis.port);
    let file = std::fs::File::open(&path).unwrap();
    let mut reader = RdbReader::new(std::io::BufReader::new(file)).unwrap();
    let version = reader.version() as u16;
    let (mut db, mut key, mut expire, mut restored) = (0, Vec::new(), None, 0);
    while let Some(event) = reader.next().unwrap() {
        match event {
            Event::KeyStart(k) => (db, key, expire) = (k.db, k.key.to_vec(), k.expire_at_ms),
            Event::KeyEnd(end) => {
                let payload = rload::rdb::restore_payload(
                    end.raw.expect("small keys keep their bytes"),
                    version,
                );
                c.cmd(&[b"SELECT", db.to_string().as_bytes()]);
                let ttl = expire.unwrap_or(0).to_string();
                let reply = c.cmd(&[b"RESTORE", &key, ttl.as_bytes(), &payload, b"ABSTTL"]);
                assert_eq!(
                    reply,
                    rload::resp::Value::Status("OK".into()),
                    "{}",
                    String::from_utf8_lossy(&key)
                );
                restored += 1;
            }
            _ => {}
        }
    }
    assert!(restored > 20);
    assert_eq!(server_view(redis.port).0, read_file(&path).lines);
}
