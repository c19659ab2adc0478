//! Fixtures: a real `redis-server` on a free port in its own temporary
//! directory, killed and reaped on drop; and helpers that run the `rload`
//! binary and `redis-cli`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Server flags that keep every answered write: on disk before its reply.
pub const AOF_ALWAYS: [&str; 4] = ["--appendonly", "yes", "--appendfsync", "always"];

/// A redis-server started for one test.
pub struct Redis {
    pub port: u16,
    child: Child,
    dir: TempDir,
    extra: Vec<String>,
    /// The server's binary, when it is not the installed `redis-server`.
    binary: Option<String>,
}

/// The environment variable naming a `redis-server` of version 7.4 or
/// later, for the tests of what only such a server has (hash field
/// expiry); those tests say they are skipped without it.
pub const NEWER_REDIS: &str = "RLOAD_TEST_NEWER_REDIS";

impl Redis {
    /// A server of the binary `RLOAD_TEST_NEWER_REDIS` names; `None`
    /// (having said so) when it names none.
    pub fn start_newer(test: &str) -> Option<Redis> {
        let Ok(binary) = std::env::var(NEWER_REDIS) else {
            eprintln!("{test}: skipped, as {NEWER_REDIS} names no redis-server of 7.4 or later");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("rload-test-")
            .tempdir()
            .expect("temp dir");
        Some(Redis::spawn(dir, &[], Some(binary)))
    }

    /// A server with persistence off and DEBUG enabled.
    pub fn start() -> Redis {
        Redis::start_with(&[])
    }

    /// A server with extra `--name value` arguments.
    pub fn start_with(extra: &[&str]) -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("rload-test-")
            .tempdir()
            .expect("temp dir");
        Redis::start_in(dir, extra)
    }

    /// A server on a directory of its own (to restart on the same data).
    pub fn start_in(dir: TempDir, extra: &[&str]) -> Redis {
        Redis::spawn(dir, extra, None)
    }

    fn spawn(dir: TempDir, extra: &[&str], binary: Option<String>) -> Redis {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for _ in 0..5 {
            let port = free_port();
            let mut child = spawn_server(binary.as_deref(), port, dir.path(), &extra);
            if wait_for_pong(port, &mut child) {
                return Redis {
                    port,
                    child,
                    dir,
                    extra,
                    binary,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "redis-server did not start; log:\n{}",
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Runs one command with redis-cli and returns its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli must be installed (apt-get install redis-tools)");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn dbsize(&self) -> u64 {
        self.cli(&["DBSIZE"])
            .parse()
            .unwrap_or_else(|_| panic!("DBSIZE failed; log:\n{}", self.log()))
    }

    /// DEBUG DIGEST: one hash over the whole dataset.
    pub fn digest(&self) -> String {
        self.cli(&["DEBUG", "DIGEST"])
    }

    /// Pauses writes for a minute and waits for the replies to the writes
    /// already executed to go out; returns the number of keys then, which no
    /// longer changes until the pause ends.
    pub fn pause_writes_and_count(&self) -> u64 {
        self.cli(&["CLIENT", "PAUSE", "60000", "WRITE"]);
        thread::sleep(Duration::from_millis(500));
        self.dbsize()
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port, directory and settings
    /// (after `kill`), without waiting for it to be ready.
    pub fn respawn(&mut self) {
        self.child = spawn_server(
            self.binary.as_deref(),
            self.port,
            self.dir.path(),
            &self.extra,
        );
    }

    /// Starts the server again and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        self.respawn();
        assert!(
            wait_for_pong(self.port, &mut self.child),
            "restart failed; log:\n{}",
            self.log()
        );
        assert!(
            wait_until(30, || !self
                .cli(&["INFO", "persistence"])
                .contains("loading:1")),
            "the server never finished loading"
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!("--- redis-server log ---\n{}", self.log());
        }
    }
}

fn spawn_server(binary: Option<&str>, port: u16, dir: &std::path::Path, extra: &[String]) -> Child {
    Command::new(binary.unwrap_or("redis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "yes",
        ])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("log"))
        .args(["--unixsocket"])
        .arg(dir.join("redis.sock"))
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server)")
}

/// A port nothing listens on (until something does).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn wait_for_pong(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            // A server with a password answers -NOAUTH, which still means ready.
            let mut buf = [0u8; 7];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && (&buf == b"+PONG\r\n" || &buf == b"-NOAUTH" || &buf == b"-LOADIN")
            {
                return true;
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// What a run of a program printed, and how it exited.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// The numbers of redis-cli's closing line, `errors: N, replies: M`.
    pub fn counts(&self) -> (u64, u64) {
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("errors: "))
            .unwrap_or_else(|| {
                panic!(
                    "no summary line in:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            });
        let nums: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        (nums[0], nums[1])
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `rload` with `args`, feeding `stdin`.
pub fn rload(args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    run_with(
        Command::new(env!("CARGO_BIN_EXE_rload")).args(args),
        stdin.into(),
    )
}

/// Runs `rload --pipe -p PORT` plus `args` against `redis`.
pub fn rload_pipe(redis: &Redis, args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    let port = redis.port.to_string();
    let mut all = vec!["--pipe", "-p", &port];
    all.extend_from_slice(args);
    rload(&all, stdin)
}

/// Runs `redis-cli` with `args`, feeding `stdin`.
pub fn redis_cli(args: &[&str], stdin: impl Into<Vec<u8>>) -> Run {
    run_with(Command::new("redis-cli").args(args), stdin.into())
}

/// Spawns a command with piped stdio, writing stdin from another thread so a
/// large input cannot deadlock against the output.
pub fn run_with(cmd: &mut Command, stdin: Vec<u8>) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().expect("stdin");
    let feeder = thread::spawn(move || {
        let _ = pipe.write_all(&stdin);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = feeder.join();
    Run::from(out)
}

/// `SET KeyN ValueN` for N in `range`, one per line.
pub fn set_lines(range: std::ops::Range<u64>) -> String {
    range.map(|i| format!("SET Key{i} Value{i}\n")).collect()
}

/// One command as RESP.
pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// An `rload` running in the background on a stdin fed from a thread.
pub struct Background {
    child: Child,
    feeder: Option<thread::JoinHandle<()>>,
}

impl Background {
    /// Starts `rload` with `args`, streaming `stdin` into it.
    pub fn start(args: &[&str], stdin: Vec<u8>) -> Background {
        Background::start_streaming(args, move |pipe| {
            let _ = pipe.write_all(&stdin);
        })
    }

    /// Closes rload's standard output, as a reader that went away does.
    pub fn close_stdout(mut self) -> Background {
        drop(self.child.stdout.take());
        self
    }

    /// Waits up to `secs` seconds for `progress` to show the load is under
    /// way, so a fault injected next lands mid-load.
    pub fn underway(self, secs: u64, progress: impl FnMut() -> bool) -> Background {
        assert!(wait_until(secs, progress), "the load never started");
        self
    }

    pub fn wait(mut self) -> Run {
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().expect("true"))
            .wait_with_output()
            .expect("wait");
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
        Run::from(out)
    }
}

/// `rload` with `args` in the background, its standard output into
/// `file`, stopped by `signal` once `file` holds more than `bytes`: how it
/// ended.
pub fn stopped_once_written(args: &str, file: &std::path::Path, bytes: u64, signal: i32) -> Run {
    let command = format!(
        "exec {} {args} > {}",
        env!("CARGO_BIN_EXE_rload"),
        file.display()
    );
    let sh = Background::start_shell(&command);
    assert!(
        wait_until(20, || std::fs::metadata(file).map_or(0, |m| m.len())
            > bytes),
        "{args}: fewer than {bytes} bytes written"
    );
    sh.signal(signal);
    sh.wait()
}

/// Runs `resume`, the command a stopped dump printed to go on, appending
/// to `file`.
pub fn go_on(resume: &str, file: &std::path::Path) -> Run {
    run_with(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{resume} >> {}", file.display())),
        Vec::new(),
    )
}

/// Polls `f` every 10 ms until it holds, for at most `secs` seconds.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The number in `rload: the server acknowledged N commands`.
pub fn acknowledged(run: &Run) -> u64 {
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("the server acknowledged"))
        .unwrap_or_else(|| panic!("no account in {run:?}"));
    line.split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or(0)
}

impl Background {
    /// Starts `rload` with `args`, its stdin written by `feed` on another
    /// thread (for inputs too large to hold in memory).
    pub fn start_streaming(
        args: &[&str],
        feed: impl FnOnce(&mut dyn Write) + Send + 'static,
    ) -> Background {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rload"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rload");
        let mut pipe = child.stdin.take().expect("stdin");
        let feeder = thread::spawn(move || feed(&mut pipe));
        Background {
            child,
            feeder: Some(feeder),
        }
    }

    /// Starts `sh -c command` (which should `exec` rload, so that signals
    /// reach it), its standard error captured.
    pub fn start_shell(command: &str) -> Background {
        let child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        Background {
            child,
            feeder: None,
        }
    }

    /// The process's peak resident memory so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Sends the process `signal`.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on a child this fixture started and has not reaped.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Whether the process has exited (without reaping it).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The input lines (counted from 0) of the error replies a load on
/// standard input printed, sorted; every message must start with one of
/// `expected`, and stderr must hold nothing else.
pub fn error_lines(run: &Run, expected: &[&str]) -> Vec<u64> {
    let mut lines: Vec<u64> = run
        .stderr
        .lines()
        .map(|l| {
            let rest = l
                .strip_prefix("<stdin>:")
                .unwrap_or_else(|| panic!("unexpected line {l}"));
            let (line, msg) = rest.split_once(": ").unwrap();
            assert!(expected.iter().any(|e| msg.starts_with(e)), "{l}");
            line.parse::<u64>().unwrap() - 1
        })
        .collect();
    lines.sort_unstable();
    lines
}

/// The command line rload printed to resume, if any.
pub fn resume_line(run: &Run) -> Option<String> {
    run.stderr
        .lines()
        .find_map(|l| l.strip_prefix("rload: to resume: "))
        .map(str::to_string)
}

/// Certificates made at test time: a CA, a server certificate for
/// 127.0.0.1 and localhost, a client certificate, and an unrelated CA.
pub struct Certs {
    dir: TempDir,
}

impl Certs {
    pub fn generate() -> Certs {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        let dir = tempfile::Builder::new()
            .prefix("rload-certs-")
            .tempdir()
            .expect("temp dir");
        let write = |name: &str, pem: String| {
            std::fs::write(dir.path().join(name), pem).expect("write cert")
        };
        let ca = |cn: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.distinguished_name.push(DnType::CommonName, cn);
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
        };
        let leaf = |names: Vec<String>,
                    usage: ExtendedKeyUsagePurpose,
                    issuer: &CertifiedIssuer<'_, KeyPair>| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params.extended_key_usages = vec![usage];
            params
                .distinguished_name
                .push(DnType::CommonName, "rload test");
            let cert = params.signed_by(&key, issuer).expect("sign");
            (cert.pem(), key.serialize_pem())
        };
        let main = ca("rload test CA");
        write("ca.crt", main.pem());
        let (cert, key) = leaf(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            &main,
        );
        write("server.crt", cert);
        write("server.key", key);
        let (cert, key) = leaf(
            vec!["client".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
            &main,
        );
        write("client.crt", cert);
        write("client.key", key);
        write("other-ca.crt", ca("some other CA").pem());
        Certs { dir }
    }

    /// The path of one of the files: ca.crt, server.crt, server.key,
    /// client.crt, client.key, other-ca.crt.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

impl Redis {
    /// A server that also listens for TLS, on the returned port; with
    /// `require_client_cert`, clients must present a certificate.
    pub fn start_tls(certs: &Certs, require_client_cert: bool) -> (Redis, u16) {
        Redis::start_tls_files(
            &certs.path("server.crt"),
            &certs.path("server.key"),
            &certs.path("ca.crt"),
            require_client_cert,
        )
    }

    /// [`Redis::start_tls`] with the server's certificate, its key, and the
    /// CA that client certificates must be signed by, given as files.
    pub fn start_tls_files(
        cert: &str,
        key: &str,
        ca: &str,
        require_client_cert: bool,
    ) -> (Redis, u16) {
        let tls_port = free_port().to_string();
        let args = [
            "--tls-port",
            &tls_port,
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            ca,
            "--tls-auth-clients",
            if require_client_cert { "yes" } else { "no" },
        ];
        (Redis::start_with(&args), tls_port.parse().expect("port"))
    }
}

/// The redirects a cluster load followed, summed over its per-master
/// summary lines.
pub fn redirects(run: &Run) -> u64 {
    run.stdout
        .lines()
        .filter_map(|l| {
            l.rsplit_once("redirects: ")
                .and_then(|(_, n)| n.parse::<u64>().ok())
        })
        .sum()
}

/// Every key's value, by DEBUG DIGEST-VALUE, asked of the node holding it:
/// a cluster's dataset, comparable with one node's.
pub fn value_digests(nodes: &[&Redis]) -> std::collections::HashMap<String, String> {
    let mut all = std::collections::HashMap::new();
    for node in nodes {
        for batch in node.keys().chunks(200) {
            let mut args = vec!["DEBUG", "DIGEST-VALUE"];
            args.extend(batch.iter().map(String::as_str));
            let out = node.cli(&args);
            all.extend(batch.iter().cloned().zip(out.lines().map(str::to_string)));
        }
    }
    all
}

/// A Redis Cluster of `masters` nodes, each a [`Redis`] with cluster mode
/// on, joined by `redis-cli --cluster create`.
pub struct Cluster {
    pub nodes: Vec<Redis>,
}

impl Cluster {
    pub fn start(masters: usize) -> Cluster {
        Cluster::start_with(masters, 0, 5000)
    }

    /// A cluster of `masters` masters with `replicas` replicas each, whose
    /// nodes count a silent peer as failed after `node_timeout_ms`. Nodes
    /// 0..masters are the masters.
    pub fn start_with(masters: usize, replicas: usize, node_timeout_ms: u32) -> Cluster {
        let cluster = Cluster::start_unjoined(masters * (1 + replicas), node_timeout_ms);
        cluster.join(replicas);
        cluster
    }

    /// `nodes` nodes in cluster mode that have not met: each says
    /// `cluster_state:fail` until [`Cluster::join`].
    pub fn start_unjoined(count: usize, node_timeout_ms: u32) -> Cluster {
        let mut nodes = Vec::new();
        let timeout = node_timeout_ms.to_string();
        for _ in 0..count {
            let dir = tempfile::Builder::new()
                .prefix("rload-cluster-")
                .tempdir()
                .expect("temp dir");
            nodes.push(Redis::start_on(
                dir,
                free_cluster_port(),
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    &timeout,
                ],
            ));
        }
        Cluster { nodes }
    }

    /// Joins the nodes into a cluster with `replicas` replicas per master
    /// (`redis-cli --cluster create`), and waits until every node says it
    /// is ready.
    pub fn join(&self, replicas: usize) {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string()])
            .arg("--cluster-yes")
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            wait_until(30, || self
                .nodes
                .iter()
                .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))),
            "the cluster never became ready"
        );
    }

    pub fn port(&self) -> String {
        self.nodes[0].port.to_string()
    }

    /// Keys over all masters (with replicas: over the nodes that are
    /// masters now).
    pub fn dbsize(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|n| n.cli(&["ROLE"]).starts_with("master"))
            .map(Redis::dbsize)
            .sum()
    }

    /// The node-id of a node.
    pub fn id(&self, node: usize) -> String {
        self.nodes[node].cli(&["CLUSTER", "MYID"])
    }

    /// Moves `slots` slots from node `from` to node `to`, with redis-cli.
    pub fn reshard(&self, from: usize, to: usize, slots: u32) {
        let (from, to) = (self.id(from), self.id(to));
        let out = Command::new("redis-cli")
            .args([
                "--cluster",
                "reshard",
                &format!("127.0.0.1:{}", self.nodes[0].port),
            ])
            .args([
                "--cluster-from",
                &from,
                "--cluster-to",
                &to,
                "--cluster-slots",
                &slots.to_string(),
                "--cluster-yes",
            ])
            .output()
            .expect("redis-cli --cluster reshard");
        assert!(
            out.status.success(),
            "reshard failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// For each slot, the index of the node that owns it, from CLUSTER NODES.
    pub fn slot_owners(&self) -> Vec<usize> {
        let mut owners = vec![usize::MAX; 16384];
        for line in self.nodes[0].cli(&["CLUSTER", "NODES"]).lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let port: u16 = fields[1]
                .split(['@', ':'])
                .nth(1)
                .and_then(|p| p.parse().ok())
                .expect("port");
            let Some(node) = self.nodes.iter().position(|n| n.port == port) else {
                continue;
            };
            for range in &fields[8..] {
                if range.starts_with('[') {
                    continue; // a slot being migrated or imported
                }
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                owners[a..=b].fill(node);
            }
        }
        owners
    }
}

/// A port whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl Redis {
    /// A server on a given port and directory.
    pub fn start_on(dir: TempDir, port: u16, extra: &[&str]) -> Redis {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let mut child = spawn_server(None, port, dir.path(), &extra);
        assert!(
            wait_for_pong(port, &mut child),
            "redis-server did not start on {port}"
        );
        Redis {
            port,
            child,
            dir,
            extra,
            binary: None,
        }
    }

    /// Every key on this server.
    pub fn keys(&self) -> Vec<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--scan"])
            .output()
            .expect("redis-cli --scan");
        assert!(
            out.status.success(),
            "redis-cli --scan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}
