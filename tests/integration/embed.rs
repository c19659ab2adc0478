//! The embedding API (`rload::api`) against real servers: a load fed from
//! code gives the same data and account as the binary's; errors name the
//! command's index; records render as the binary renders them; a dump
//! iterated from code yields every key of every type.

use std::sync::{Arc, Mutex};

use rload::api::{KeyValue, Keys, Loader, RecordLoader};
use rload::dump::DumpOptions;
use rload::input::Location;
use rload::{Config, Events};

use crate::support::{Cluster, Redis, rload_pipe};

/// Error replies, as (line, text): line N is the N-th command or record.
#[derive(Default)]
struct Errors(Mutex<Vec<(u64, String)>>);

impl Events for Errors {
    fn error_reply(&self, at: &Location, text: &[u8]) {
        let text = String::from_utf8_lossy(text).into_owned();
        self.0.lock().unwrap().push((at.line, text));
    }
}

fn config(port: u16) -> Config {
    let mut config = Config::default();
    config
        .server
        .apply_uri(&format!("redis://127.0.0.1:{port}"))
        .unwrap();
    config
}

#[test]
fn commands_fed_from_code_load_as_the_binary_loads_them() {
    let fed = Redis::start();
    let errors = Arc::new(Errors::default());
    let mut load = Loader::start(&config(fed.port), errors.clone()).unwrap();
    let mut text = String::new();
    for i in 0..50_000u32 {
        let args = [
            b"RPUSH".to_vec(),
            format!("list:{}", i % 7).into_bytes(),
            vec![0, 255, b'\n', (i % 256) as u8],
        ];
        load.send(&args).unwrap();
        text.push_str(&format!(
            "RPUSH list:{} \"\\x00\\xff\\n\\x{:02x}\"\n",
            i % 7,
            i % 256
        ));
    }
    // The 50,001st: an error, named by its index.
    load.send(&["INCR", "list:0"]).unwrap();
    let summary = load.finish().unwrap();
    assert_eq!(summary.replies, 50_001);
    assert_eq!(summary.errors, 1);
    assert_eq!(summary.acknowledged, 50_001);
    let errors = errors.0.lock().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 50_001);
    assert!(errors[0].1.starts_with("WRONGTYPE"), "{errors:?}");
    let binary = Redis::start();
    assert_eq!(rload_pipe(&binary, &[], text).code, 0);
    assert_eq!(fed.digest(), binary.digest());
}

#[test]
fn a_server_that_is_not_there_fails_at_start() {
    let e = Loader::start(&config(1), Arc::new(Errors::default()))
        .err()
        .expect("no server on port 1");
    assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
    assert_eq!(e.exit_code(), 4);
}

#[test]
fn a_cluster_is_fed_through_its_router() {
    let cluster = Cluster::start(3);
    let mut config = config(cluster.nodes[0].port);
    config.cluster = true;
    let mut load = Loader::start(&config, Arc::new(Errors::default())).unwrap();
    for i in 0..10_000 {
        load.send(&["SET".to_string(), format!("k{i}"), i.to_string()])
            .unwrap();
    }
    let summary = load.finish().unwrap();
    assert_eq!((summary.errors, summary.replies), (0, 10_000));
    assert_eq!(cluster.dbsize(), 10_000);
}

#[test]
fn records_render_as_the_binary_renders_them() {
    let records: Vec<String> = (0..2000)
        .map(|i| {
            format!(
                r#"{{"id":{i},"name":"user {i}","tags":["a{}","b"],"address":{{"city":"c{}"}}}}"#,
                i % 5,
                i % 3
            )
        })
        .collect();
    let templates = vec![
        "HSET user:{id} name {name} city {address.city}".to_string(),
        "SADD tags:{id} {tags[]}".to_string(),
    ];
    let fed = Redis::start();
    let mut load =
        RecordLoader::start(&config(fed.port), &templates, Arc::new(Errors::default())).unwrap();
    for r in &records {
        load.send_json(r.as_bytes()).unwrap();
    }
    load.send_json(br#"{"name":"no id"}"#).unwrap();
    let summary = load.finish().unwrap();
    assert_eq!(summary.replies, 4000);
    assert!(summary.stop.is_some(), "the record without an id stops it");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.jsonl");
    std::fs::write(&file, records.join("\n")).unwrap();
    let binary = Redis::start();
    let mut args = vec![file.to_str().unwrap()];
    for t in &templates {
        args.extend(["--template", t]);
    }
    assert_eq!(rload_pipe(&binary, &args, "").code, 0);
    assert_eq!(fed.digest(), binary.digest());
}

#[test]
fn a_dump_iterated_from_code_yields_every_key_of_every_type() {
    let source = Redis::start();
    let input = "SET s v\nSET bin \"\\x00\\xff\"\nPEXPIRE bin 100000000\nRPUSH l a b c\n\
                 SADD st x y\nZADD z 1.5 a inf b\nHSET h f v\nXADD x 1-1 f v\n\
                 XGROUP CREATE x g 0\nSELECT 4\nSET four 4\n";
    assert_eq!(rload_pipe(&source, &[], input).code, 0);
    let mut big = String::from("RPUSH big");
    for i in 0..3000 {
        big.push_str(&format!(" e{i}"));
    }
    assert_eq!(rload_pipe(&source, &[], big + "\n").code, 0);
    let mut keys = Keys::start(
        &config(source.port),
        &DumpOptions::default(),
        Arc::new(Errors::default()),
    )
    .unwrap();
    let mut found: Vec<_> = keys.by_ref().collect();
    let summary = keys.finish().unwrap();
    assert!(summary.stop.is_none(), "{summary:?}");
    assert_eq!(summary.keys, 9);
    found.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    let names: Vec<String> = found
        .iter()
        .map(|k| format!("{}:{}", k.db.unwrap(), String::from_utf8_lossy(&k.key)))
        .collect();
    assert_eq!(
        names,
        [
            "0:big", "0:bin", "0:h", "0:l", "0:s", "0:st", "0:x", "0:z", "4:four"
        ]
    );
    let get = |name: &[u8]| found.iter().find(|k| k.key == name).unwrap();
    assert_eq!(get(b"bin").value, KeyValue::String(vec![0, 255]));
    assert!(get(b"bin").expire_at_ms.is_some());
    let KeyValue::List(big) = &get(b"big").value else {
        panic!("a list")
    };
    assert_eq!(big.len(), 3000);
    assert_eq!(big[2999], b"e2999");
    assert_eq!(
        get(b"z").value,
        KeyValue::Zset(vec![(b"a".to_vec(), 1.5), (b"b".to_vec(), f64::INFINITY)])
    );
    let KeyValue::Stream(x) = &get(b"x").value else {
        panic!("a stream")
    };
    assert_eq!(x.entries.len(), 1);
    assert_eq!(x.groups, [(b"g".to_vec(), b"0-0".to_vec())]);
}

#[test]
fn a_program_may_stop_iterating_early() {
    let source = Redis::start();
    assert_eq!(
        rload_pipe(&source, &[], crate::support::set_lines(0..5000)).code,
        0
    );
    let mut keys = Keys::start(
        &config(source.port),
        &DumpOptions::default(),
        Arc::new(Errors::default()),
    )
    .unwrap();
    assert_eq!(keys.by_ref().take(10).count(), 10);
    let summary = keys.finish().unwrap();
    assert!(summary.stop.is_some(), "it says it did not finish");
    assert!(summary.keys < 5000);
}

#[test]
fn flush_returns_once_every_command_sent_is_answered_and_the_load_goes_on() {
    let redis = Redis::start();
    let errors = Arc::new(Errors::default());
    let mut load = Loader::start(&config(redis.port), errors.clone()).unwrap();
    for i in 0..3000u32 {
        load.send(&["RPUSH", "l", &i.to_string()]).unwrap();
    }
    load.send(&["INCR", "l"]).unwrap();
    assert_eq!(load.flush().unwrap(), 3001);
    // Answered means applied: another connection sees it all now.
    assert_eq!(redis.cli(&["LLEN", "l"]).trim(), "3000");
    assert_eq!(errors.0.lock().unwrap().len(), 1);
    load.send(&["SET", "after", "1"]).unwrap();
    assert_eq!(load.flush().unwrap(), 3002);
    let summary = load.finish().unwrap();
    assert_eq!((summary.acknowledged, summary.errors), (3002, 1));
}

#[test]
fn a_connection_lost_while_the_program_is_idle_ends_the_load_and_its_flush() {
    let redis = Redis::start();
    let mut load = Loader::start(&config(redis.port), Arc::new(Errors::default())).unwrap();
    load.send(&["SET", "a", "1"]).unwrap();
    assert_eq!(load.flush().unwrap(), 1);
    redis.cli(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    load.send(&["SET", "b", "1"]).unwrap_or(());
    assert!(
        load.flush().is_err(),
        "a flush on a lost connection must not wait forever"
    );
    let summary = load.finish().unwrap();
    assert!(
        matches!(summary.stop, Some(rload::Stop::ConnectionLost { .. })),
        "{:?}",
        summary.stop
    );
    assert_eq!(summary.acknowledged, 1);
}

#[test]
fn after_a_flush_every_error_of_a_coalesced_batch_has_reached_the_events() {
    // Interleaved pushes to a list and to a string: --coalesce sends them
    // inside its own MULTI/EXEC, whose queued replies come before the EXEC
    // that settles them. A flush returns only after that EXEC, with every
    // error reported, however the replies are timed.
    let redis = Redis::start();
    redis.cli(&["SET", "taken", "a string"]);
    let mut config = config(redis.port);
    config.coalesce = true;
    for round in 0..200 {
        let errors = Arc::new(Errors::default());
        let mut load = Loader::start(&config, errors.clone()).unwrap();
        for i in 0..100u32 {
            load.send(&["RPUSH", "list", &i.to_string()]).unwrap();
            if i % 50 == 49 {
                load.send(&["RPUSH", "taken", &i.to_string()]).unwrap();
            }
        }
        assert_eq!(load.flush().unwrap(), 102);
        let seen = errors.0.lock().unwrap().len();
        assert_eq!(seen, 2, "round {round}: the events had {seen} of 2 errors");
        let summary = load.finish().unwrap();
        assert_eq!(summary.errors, 2);
    }
    assert_eq!(redis.cli(&["LLEN", "list"]).trim(), "20000");
}
