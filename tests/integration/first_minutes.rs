//! The mistakes a new user makes in their first minutes, each made as a
//! user would make it: what they see (the message, the exit status, how
//! many lines), and what reached the server (`INFO commandstats`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::support::{
    Background, Certs, Cluster, Redis, free_port, rload, rload_pipe, set_lines, wait_until,
};

/// The commands a server ran, by `INFO commandstats`, leaving out those
/// the test's own tools send (PING, INFO, DEBUG, CONFIG, DBSIZE...).
fn commands_run(redis: &Redis) -> Vec<String> {
    const TOOLS: [&str; 9] = [
        "ping", "info", "debug", "config", "dbsize", "cluster", "command", "scan", "save",
    ];
    redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_")?.split(':').next())
        .filter(|c| {
            !TOOLS
                .iter()
                .any(|t| c == t || c.starts_with(&format!("{t}|")))
        })
        .map(str::to_string)
        .collect()
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// A file in a fresh directory, holding `bytes`.
fn file_of(name: &str, bytes: &[u8]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path.display().to_string())
}

// 1. A forgotten -c.

#[test]
fn a_load_without_c_on_a_cluster_node_names_the_mistake_and_sends_nothing() {
    let cluster = Cluster::start(3);
    let port = cluster.port();
    let run = rload(&["--pipe", "-p", &port], set_lines(0..100_000));
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "rload: 127.0.0.1:{port} is a Redis Cluster node: use -c (rload -c routes each key to its master)"
        )],
        "{run:?}"
    );
    assert_eq!(run.stdout, "");
    for node in &cluster.nodes {
        assert_eq!(commands_run(node), Vec::<String>::new(), "{}", node.port);
    }
    // With -c, the same load goes in whole.
    let run = rload(&["--pipe", "-c", "-p", &port], set_lines(0..100_000));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(cluster.dbsize(), 100_000);
}

#[test]
fn a_cluster_of_one_node_that_owns_every_slot_loads_without_c() {
    let cluster = Cluster::start_unjoined(1, 5000);
    let node = &cluster.nodes[0];
    node.cli(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    assert!(wait_until(10, || node
        .cli(&["CLUSTER", "INFO"])
        .contains("cluster_state:ok")));
    let run = rload_pipe(node, &[], set_lines(0..1000));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert_eq!(node.dbsize(), 1000);
}

#[test]
fn a_dump_without_c_of_a_cluster_node_says_it_dumps_that_node_only() {
    let cluster = Cluster::start(3);
    let port = cluster.port();
    let run = rload(&["--pipe", "-c", "-p", &port], set_lines(0..3000));
    assert_eq!(run.code, 0, "{run:?}");
    let dump = rload(&["--dump", "-p", &port, "--output-format", "inline"], "");
    assert_eq!(dump.code, 0, "{dump:?}");
    let notice = format!(
        "rload: 127.0.0.1:{port} is a Redis Cluster node: this dumps its own keys only; -c dumps the whole cluster"
    );
    assert_eq!(
        dump.stderr
            .lines()
            .filter(|l| l.contains("Cluster node"))
            .collect::<Vec<_>>(),
        [notice.as_str()],
        "{dump:?}"
    );
    assert_eq!(
        dump.stdout.lines().count() as u64,
        cluster.nodes[0].dbsize()
    );
}

#[test]
fn without_info_the_moved_errors_of_a_forgotten_c_are_bounded_by_max_errors() {
    // A user whose ACL refuses INFO: rload cannot tell a cluster node, and
    // the load meets MOVED errors; --max-errors bounds what is printed.
    let cluster = Cluster::start(3);
    for node in &cluster.nodes {
        node.cli(&[
            "ACL", "SETUSER", "loader", "on", ">pw", "~*", "+@all", "-info",
        ]);
    }
    let port = cluster.port();
    let run = rload(
        &[
            "--pipe",
            "-p",
            &port,
            "--user",
            "loader",
            "-a",
            "pw",
            "--no-auth-warning",
            "--max-errors",
            "3",
        ],
        set_lines(0..100_000),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let (errors, replies) = run.counts();
    assert!(errors > 3, "{run:?}");
    let error_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("<stdin>:"))
        .collect();
    assert_eq!(error_lines.len(), 3, "{run:?}");
    assert!(error_lines.iter().all(|l| l.contains("MOVED")), "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "rload: {} more error replies not shown\n",
            errors - 3
        )),
        "{run:?}"
    );
    assert!(run.stderr.lines().count() < 10, "{run:?}");
    assert!(replies >= errors);
}

#[test]
fn max_errors_prints_that_many_error_lines_and_counts_the_rest() {
    let redis = Redis::start();
    let input: String = (0..50_000).map(|i| format!("NOSUCHCMD {i}\n")).collect();
    let run = rload_pipe(&redis, &["--max-errors", "5"], input);
    assert_eq!(run.code, 1, "{run:?}");
    let (errors, _) = run.counts();
    let shown = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("<stdin>:"))
        .count();
    assert_eq!(shown, 5, "{run:?}");
    if errors > 5 {
        assert!(
            run.stderr.contains(&format!(
                "rload: {} more error replies not shown",
                errors - 5
            )),
            "{run:?}"
        );
    }
    assert!(run.stderr.contains("(--max-errors)"), "{run:?}");
}

// 2. A server that is not up yet.

#[test]
fn wait_connects_to_a_server_started_after_rload() {
    let port = free_port();
    let p = port.to_string();
    let load = Background::start(
        &["--pipe", "-p", &p, "--wait", "30"],
        set_lines(0..1000).into(),
    );
    thread::sleep(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start_on(dir, port, &[]);
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "rload: waiting up to 30 s for 127.0.0.1:{port} (connection refused)"
        )],
        "{run:?}"
    );
    assert_eq!(run.counts(), (0, 1000));
    assert_eq!(redis.dbsize(), 1000);
}

#[test]
fn a_dump_waits_too() {
    let port = free_port();
    let p = port.to_string();
    let dump = Background::start(&["--dump", "-p", &p, "--wait", "30"], Vec::new());
    thread::sleep(Duration::from_secs(1));
    let redis = Redis::start_on(tempfile::tempdir().unwrap(), port, &[]);
    redis.cli(&["SET", "k", "v"]);
    let run = dump.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "rload: waiting up to 30 s for 127.0.0.1:{port} (connection refused)\n"
        )),
        "{run:?}"
    );
}

#[test]
fn wait_gives_up_with_the_connect_error_once_its_time_is_over() {
    let port = free_port().to_string();
    let run = rload(&["--pipe", "-p", &port, "--wait", "0.5"], "SET k v\n");
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [
            format!("rload: waiting up to 0.5 s for 127.0.0.1:{port} (connection refused)"),
            format!(
                "rload: could not connect to Redis at 127.0.0.1:{port}: Connection refused (os error 111)"
            ),
        ],
        "{run:?}"
    );
}

#[test]
fn wait_waits_for_a_server_loading_its_dataset() {
    // Each key takes 100 µs to load: 30,000 keys are seconds of LOADING,
    // during which the server answers (-LOADING) every KiB it loads.
    let mut redis = Redis::start_with(&[
        "--key-load-delay",
        "100",
        "--loading-process-events-interval-bytes",
        "1024",
    ]);
    redis.cli(&["DEBUG", "POPULATE", "30000", "old"]);
    redis.cli(&["SAVE"]);
    redis.kill();
    redis.respawn();
    assert!(
        wait_until(10, || redis.cli(&["PING"]).starts_with("LOADING")),
        "the server never said LOADING"
    );
    let port = redis.port.to_string();
    let run = rload(&["--pipe", "-p", &port, "--wait", "60"], set_lines(0..100));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "rload: waiting up to 60 s for 127.0.0.1:{port} (loading its dataset)"
        )],
        "{run:?}"
    );
    assert_eq!(redis.dbsize(), 30_100);
}

#[test]
fn wait_waits_for_a_cluster_whose_nodes_have_not_met() {
    let cluster = Cluster::start_unjoined(3, 5000);
    let port = cluster.port();
    assert!(
        cluster.nodes[0]
            .cli(&["CLUSTER", "INFO"])
            .contains("cluster_state:fail")
    );
    let load = Background::start(
        &["--pipe", "-c", "-p", &port, "--wait", "60"],
        set_lines(0..10_000).into(),
    );
    thread::sleep(Duration::from_secs(1));
    cluster.join(0);
    let run = load.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "rload: waiting up to 60 s for 127.0.0.1:{port} (cluster_state:fail)"
        )],
        "{run:?}"
    );
    assert_eq!(cluster.dbsize(), 10_000);
}

// 3. Something that is not Redis on that port.

/// A peer on a free port that runs `serve` on its first connection.
fn peer(serve: impl FnOnce(TcpStream) + Send + 'static) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        serve(sock);
    });
    (port, handle)
}

#[test]
fn an_http_server_on_the_port_is_named_with_what_it_sent() {
    let (port, server) = peer(|mut sock| {
        // An HTTP server reads a request line, finds "*1" no method, and
        // answers 400.
        let mut buf = [0u8; 256];
        let _ = sock.read(&mut buf);
        let _ = sock.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n400 Bad Request",
        );
    });
    let run = rload(&["--pipe", "-p", &port.to_string()], "SET k v\n");
    server.join().unwrap();
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            r#"rload: 127.0.0.1:{port} does not speak Redis's protocol; it sent "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnecti...""#
        )],
        "{run:?}"
    );
}

#[test]
fn a_peer_that_speaks_first_is_named_with_what_it_sent() {
    let (port, server) = peer(|mut sock| {
        // As NATS greets every client.
        let _ = sock
            .write_all(b"INFO {\"server_id\":\"NATS1\",\"version\":\"2.10.0\",\"proto\":1}\r\n");
        let mut buf = [0u8; 256];
        let _ = sock.read(&mut buf);
    });
    let run = rload(&["--pipe", "-p", &port.to_string()], "SET k v\n");
    server.join().unwrap();
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            r#"rload: 127.0.0.1:{port} does not speak Redis's protocol; it sent "INFO {{\"server_id\":\"NATS1\",\"version\":\"2.10.0\",\"proto\":1}}\r\n""#
        )],
        "{run:?}"
    );
}

#[test]
fn a_tls_port_reached_without_tls_suggests_tls() {
    let certs = Certs::generate();
    let (redis, tls_port) = Redis::start_tls(&certs, false);
    let run = rload(&["--pipe", "-p", &tls_port.to_string()], "SET k v\n");
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "rload: could not connect to Redis at 127.0.0.1:{tls_port}: connection reset by peer before it answered (is this a TLS port? try --tls)"
        )],
        "{run:?}"
    );
    assert_eq!(commands_run(&redis), Vec::<String>::new());
}

/// Whether something listens on a local port (a service this machine may
/// run, which a test then uses).
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn nats_and_postgresql_if_they_run_here_are_not_taken_for_redis() {
    if listening(4222) {
        let run = rload(&["--pipe", "-p", "4222"], "SET k v\n");
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            run.stderr.starts_with(
                "rload: 127.0.0.1:4222 does not speak Redis's protocol; it sent \"INFO {"
            ),
            "{run:?}"
        );
    }
    if listening(5432) {
        // PostgreSQL reads rload's PING as a startup packet of absurd
        // length, and closes the connection without a word.
        let run = rload(&["--pipe", "-p", "5432"], "SET k v\n");
        assert_eq!(run.code, 4, "{run:?}");
        assert_eq!(lines(&run.stderr).len(), 1, "{run:?}");
        assert!(
            run.stderr.contains("127.0.0.1:5432")
                && (run
                    .stderr
                    .contains("closed the connection without answering")
                    || run.stderr.contains("does not speak Redis's protocol")),
            "{run:?}"
        );
    }
}

// 4. A binary file given as input.

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00";

#[test]
fn a_png_file_is_named_as_one_and_nothing_reaches_the_server() {
    let redis = Redis::start();
    let (_dir, path) = file_of("photo.png", PNG);
    let (_dir2, good) = file_of("good.txt", b"SET a 1\n");
    // Even after a good file: every file is looked at before connecting.
    let run = rload_pipe(&redis, &[&good, &path], "");
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "rload: {path} looks like a PNG image, not commands or records: nothing of it was sent"
        )],
        "{run:?}"
    );
    assert_eq!(run.stdout, "");
    assert_eq!(commands_run(&redis), Vec::<String>::new());
}

#[test]
fn a_png_on_standard_input_stops_before_any_of_it_is_sent() {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &[], PNG);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        ["rload: <stdin> looks like a PNG image, not commands or records: nothing of it was sent"],
        "{run:?}"
    );
    assert_eq!(run.stdout, "");
    assert_eq!(commands_run(&redis), Vec::<String>::new());
    // After a file of commands, standard input is looked at when it is
    // reached: what came before it is loaded, and accounted for.
    let (_dir, good) = file_of("good.txt", b"SET a 1\n");
    let run = rload_pipe(&redis, &[&good, "-"], PNG);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("rload: <stdin> looks like a PNG image"),
        "{run:?}"
    );
    assert!(run.stderr.contains("--resume-from 1"), "{run:?}");
    assert_eq!(redis.cli(&["GET", "a"]), "1");
}

#[test]
fn an_rdb_file_loads_and_read_as_records_is_named_as_a_snapshot() {
    let redis = Redis::start();
    redis.cli(&["SET", "k", "v"]);
    redis.cli(&["SAVE"]);
    let rdb = redis.socket().with_file_name("dump.rdb");
    let rdb = rdb.display().to_string();
    // As commands' input, it is loaded: it is what it looks like.
    let target = Redis::start();
    let run = rload_pipe(&target, &[&rdb], "");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(target.cli(&["GET", "k"]), "v");
    // Read as records, it is refused, named, with nothing sent.
    let target = Redis::start();
    let run = rload_pipe(
        &target,
        &[&rdb, "--format", "csv", "--template", "SET {a} {b}"],
        "",
    );
    assert_eq!(run.code, 3, "{run:?}");
    let version: String = std::fs::read(&rdb).unwrap()[5..9]
        .iter()
        .map(|&b| b as char)
        .collect();
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "rload: {rdb} looks like a Redis RDB snapshot (version {}), not records: nothing of it was sent; load it as it is, without --format (or with --format rdb)",
            version.parse::<u32>().unwrap()
        )],
        "{run:?}"
    );
    assert_eq!(commands_run(&target), Vec::<String>::new());
}

#[test]
fn archives_and_executables_are_named_through_compression() {
    let redis = Redis::start();
    // A tar archive, gzipped: named after what is inside the gzip.
    let mut tar = vec![0u8; 1024];
    tar[..8].copy_from_slice(b"data.txt");
    tar[257..263].copy_from_slice(b"ustar\x00");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let (_dir, path) = file_of("data.txt.gz", &gz.finish().unwrap());
    let run = rload_pipe(&redis, &[&path], "");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("looks like a tar archive, not commands or records"),
        "{run:?}"
    );
    let elf = std::fs::read("/bin/sh").unwrap();
    if elf.starts_with(b"\x7fELF") {
        let run = rload_pipe(&redis, &["/bin/sh"], "");
        assert_eq!(run.code, 3, "{run:?}");
        assert!(run.stderr.contains("an ELF executable"), "{run:?}");
    }
    assert_eq!(commands_run(&redis), Vec::<String>::new());
}

#[test]
fn a_nul_on_an_inline_line_is_binary_but_in_a_resp_bulk_it_is_data() {
    let redis = Redis::start();
    let (_dir, path) = file_of("mixed.txt", b"SET a 1\nSET b x\x00y\n");
    let run = rload_pipe(&redis, &[&path], "");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(
            "looks like binary data (a NUL byte on line 2, at byte offset 15), not commands or records: nothing of it was sent; a NUL byte goes in a RESP bulk string, or as \\x00 inside double quotes"
        ),
        "{run:?}"
    );
    assert_eq!(commands_run(&redis), Vec::<String>::new());
    let resp = crate::support::resp(&[b"SET", b"b", b"x\x00y"]);
    let run = rload_pipe(&redis, &[], resp);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["STRLEN", "b"]), "3");
}

// 6. One word, two meanings.

#[test]
fn emit_writes_readable_inline_lines_that_load_the_same() {
    let mut input = b"SET a 1\nHSET h f \"two words\"\n".to_vec();
    input.extend(crate::support::resp(&[b"SET", b"bin", b"\x00\xff\n"]));
    let run = rload(&["--emit", "--output-format", "inline"], input.clone());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "SET a 1\nHSET h f \"two words\"\nSET bin \"\\x00\\xff\\x0a\"\n"
    );
    let alias = rload(&["--emit", "--to", "inline"], input.clone());
    assert_eq!(alias.stdout, run.stdout);
    let (one, other) = (Redis::start(), Redis::start());
    assert_eq!(rload_pipe(&one, &[], input).code, 0);
    assert_eq!(rload_pipe(&other, &[], run.stdout).code, 0);
    assert_eq!(one.digest(), other.digest());
}

#[test]
fn format_is_the_input_and_output_format_the_output() {
    let run = rload(&["--emit", "--format", "inline"], "SET a 1\n");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains("--output-format inline says how --emit or --dump writes"),
        "{run:?}"
    );
    let run = rload(&["--pipe", "--output-format", "inline"], "SET a 1\n");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--emit --output-format inline"),
        "{run:?}"
    );
    let run = rload(&["--emit", "--output-format", "jsonl"], "SET a 1\n");
    assert_eq!(run.code, 2, "{run:?}");
    // --dump --format keeps working, and says the same as --output-format.
    let redis = Redis::start();
    redis.cli(&["SET", "k", "v w"]);
    let port = redis.port.to_string();
    let old = rload(&["--dump", "-p", &port, "--format", "inline"], "");
    let new = rload(&["--dump", "-p", &port, "--output-format", "inline"], "");
    assert_eq!((old.code, new.code), (0, 0), "{old:?}{new:?}");
    assert_eq!(old.stdout, "SET k \"v w\"\n");
    assert_eq!(new.stdout, old.stdout);
}

// 7. Messages that point the wrong way.

#[test]
fn an_unquoted_template_points_at_the_quoting() {
    let (_dir, csv) = file_of("users.csv", b"id,name\n1,ann\n");
    let run = rload(
        &[
            "--pipe",
            "-p",
            "1",
            "--template",
            "HSET",
            "user:{id}",
            "{*}",
            &csv,
        ],
        "",
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [
            "rload: --template 'HSET' is followed by user:{id} {*}, which are no files: the shell split the template at its spaces; quote it whole: --template 'HSET user:{id} {*}'"
        ],
        "{run:?}"
    );
}

#[test]
fn a_semicolon_csv_gets_the_delimiter_hint() {
    let redis = Redis::start();
    let (_dir, csv) = file_of("users.csv", b"id;name\n1;ann\n2;bob\n");
    let run = rload_pipe(&redis, &["--template", "HSET user:{id} {*}", &csv], "");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.ends_with(
            "which the header lacks (its columns: id;name); the header is one column holding ';': if ';' separates the fields, give --delimiter ';'\n"
        ),
        "{run:?}"
    );
    assert_eq!(commands_run(&redis), Vec::<String>::new());
    let run = rload_pipe(
        &redis,
        &["--template", "HSET user:{id} {*}", "--delimiter", ";", &csv],
        "",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(redis.cli(&["HGET", "user:2", "name"]), "bob");
}

#[test]
fn a_utf16_csv_names_its_encoding_and_how_to_convert_it() {
    let redis = Redis::start();
    let text: Vec<u8> = "\u{feff}id,name\n1,ann\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let (_dir, csv) = file_of("users.csv", &text);
    let run = rload_pipe(&redis, &["--template", "HSET user:{id} {*}", &csv], "");
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        lines(&run.stderr),
        [format!(
            "rload: {csv} looks like UTF-16 text (little-endian, with a byte order mark), not UTF-8: nothing of it was sent; convert it to UTF-8 first, as with: iconv -f UTF-16 -t UTF-8"
        )],
        "{run:?}"
    );
    assert_eq!(commands_run(&redis), Vec::<String>::new());
}

#[test]
fn an_empty_spread_sends_no_command_and_the_account_counts_it() {
    let redis = Redis::start();
    let input = "{\"id\":1,\"tags\":[\"a\",\"b\"]}\n{\"id\":2,\"tags\":[]}\n";
    let run = rload_pipe(
        &redis,
        &[
            "--format",
            "jsonl",
            "--template",
            "SADD tags:{id} {tags[]}",
            "--template",
            "SET seen:{id} 1",
        ],
        input,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.counts(), (0, 3));
    assert_eq!(
        lines(&run.stderr),
        ["rload: 1 command not sent: a spread ({name[]} or {*}) gave it nothing"],
        "{run:?}"
    );
    assert_eq!(redis.cli(&["SCARD", "tags:1"]), "2");
    assert_eq!(redis.cli(&["EXISTS", "tags:2", "seen:2"]), "1");
    let json = rload_pipe(
        &redis,
        &[
            "--format",
            "jsonl",
            "--template",
            "SADD tags:{id} {tags[]}",
            "--json",
        ],
        input,
    );
    let account: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(account["empty_spreads"], 1, "{json:?}");
}

#[test]
fn a_load_that_sent_nothing_prints_no_resume_line() {
    let redis = Redis::start();
    let run = rload_pipe(&redis, &[], "SET a \"unclosed\nSET b 2\n");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.ends_with("rload: nothing was sent\n"), "{run:?}");
    assert!(!run.stderr.contains("--resume-from"), "{run:?}");
    // Only rload's own closing ECHO reached the server.
    assert_eq!(commands_run(&redis), ["echo"]);
    // Once something was sent, the resume line is there.
    let run = rload_pipe(&redis, &[], "SET a 1\nSET b \"unclosed\n");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("--resume-from 1"), "{run:?}");
}

#[test]
fn a_terminal_on_standard_input_is_told_how_to_end_it() {
    let redis = Redis::start();
    let (mut master, slave) = open_pty();
    let child = Command::new(env!("CARGO_BIN_EXE_rload"))
        .args(["--pipe", "-p", &redis.port.to_string()])
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A line, then Ctrl-D at the start of the next: the end of input.
    master.write_all(b"SET typed yes\n\x04").unwrap();
    let echo = thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = master.read_to_end(&mut sink);
    });
    let out = child.wait_with_output().unwrap();
    drop(echo);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr,
        "rload: reading commands from the terminal until Ctrl-D (end of input)\n"
    );
    assert_eq!(redis.cli(&["GET", "typed"]), "yes");
}

/// A pseudo-terminal: its master side, and its slave side for a child's
/// standard input.
fn open_pty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: two valid out-pointers; no name, settings or size asked.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    // SAFETY: openpty returned two open descriptors, owned from here on.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}
