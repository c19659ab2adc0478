#!/usr/bin/env python3
"""End-to-end comparison of rload and redis-cli --pipe, in the same run.

Starts a fresh redis-server (no persistence) on a free port, generates each
workload both as text lines and as RESP, then alternates, round by round:

    rload --pipe < text      rload --pipe < resp      redis-cli --pipe < resp

with FLUSHALL between runs. For each it records wall time, client CPU
(user+sys, from wait4), peak RSS, and the server's CPU for the run (the
INFO cpu delta), and prints medians and the ratios rload / redis-cli.
Every run must report `errors: 0` and every reply, or the script stops.

With --cluster M it instead compares rload -c on an M-master cluster
(built on this machine) with rload on one node, same data, same run, and
prints the throughput ratio.

Usage: benches/compare.sh [N] [--rounds R] [--workloads set,1k,100k,hset,rpush,rpushrr,hsetf,csv]
                          [--ports PORT|FIRST-LAST] [--progress] [--coalesce]
       benches/compare.sh [N] --cluster 2
       benches/compare.sh [N] --dump [--dump-workload set|mixed]
       benches/compare.sh [N] --rdb
       benches/compare.sh [N] --compare [--compare-workloads set,mixed]

--coalesce adds rload --coalesce on the text (workloads rpush, rpushrr and
hsetf are made for it: 1M RPUSH onto four lists in runs of 1,000, or in
turn one element at a time, and 1M one-field HSETs, ten per user).

--progress adds a fourth contender: rload on the text with its progress
display drawn on a pseudo-terminal (stderr), to show what it costs.

--compare compares two servers holding the same N keys (the N small
strings; the mixed dataset of --rdb, with its big list) with rload --compare,
against one rload --dump of the source, both from the source's snapshot and
both with --scan, round by round.

--ports limits the servers it starts to one port or a range (a cluster of
M masters needs 2M + 1: each node's bus port comes from the range too).
"""

import argparse
import os
import platform
import pty
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# RLOAD_BIN: another build to measure (a before/after comparison).
RLOAD = os.environ.get("RLOAD_BIN") or os.path.join(ROOT, "target", "release", "rload")
TIME = "/usr/bin/time"


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def workloads(n):
    """name -> (commands, generator of argument lists)."""
    v1k = b"v" * 1024
    v100k = b"x" * (100 * 1024)
    fields = [b"f%d" % j for j in range(10)]
    return {
        "set": (n, lambda i: [b"SET", b"Key%d" % i, b"Value%d" % i]),
        "1k": (max(n // 4, 1), lambda i: [b"SET", b"key:%d" % i, v1k]),
        "100k": (max(n // 500, 1), lambda i: [b"SET", b"big:%d" % i, v100k]),
        "hset": (max(n // 4, 1), lambda i: [b"HSET", b"user:%d" % i]
                 + [x for j, f in enumerate(fields) for x in (f, b"%d-%d" % (i, j))]),
        # Four lists, fed in runs of 1,000 elements each, in turn.
        "rpush": (n, lambda i: [b"RPUSH", b"list:%d" % (i // 1000 % 4), b"element-%d" % i]),
        # The same four lists, fed in turn one element at a time.
        "rpushrr": (n, lambda i: [b"RPUSH", b"list:%d" % (i % 4), b"element-%d" % i]),
        # One HSET per field: ten fields per user, one after another.
        "hsetf": (n, lambda i: [b"HSET", b"user:%d" % (i // 10), b"f%d" % (i % 10), b"%d-%d" % (i // 10, i % 10)]),
        # A key per command, of every common type: 70% strings, 10% hashes
        # of 10 fields, 10% lists of 10 elements, 5% sets and 5% sorted
        # sets of 10 members.
        "mixed": (n, lambda i: mixed(i, n)),
    }


def mixed(i, n):
    ten = range(10)
    if i < n * 7 // 10:
        return [b"SET", b"s:%d" % i, b"value-%d" % i]
    if i < n * 8 // 10:
        return [b"HSET", b"h:%d" % i] + [x for j in ten for x in (b"f%d" % j, b"v%d-%d" % (i, j))]
    if i < n * 9 // 10:
        return [b"RPUSH", b"l:%d" % i] + [b"e%d-%d" % (i, j) for j in ten]
    if i < n * 95 // 100:
        return [b"SADD", b"t:%d" % i] + [b"m%d-%d" % (i, j) for j in ten]
    return [b"ZADD", b"z:%d" % i] + [x for j in ten for x in (b"%d.5" % j, b"m%d-%d" % (i, j))]


def keys_of(name, n):
    """Keys a workload leaves, where that is not one per command."""
    return {"rpush": min(n, 4), "rpushrr": min(n, 4), "hsetf": (n + 9) // 10}.get(name)


# The structured-input workload: a CSV of people, 20 columns, each row
# loaded with two templates. rload reads the CSV; redis-cli gets the same
# commands pre-rendered as RESP.
CSV_TEMPLATES = ["HSET user:{id} {*}", "ZADD by_age {age} {id}"]
CSV_COLUMNS = [b"id", b"name", b"email", b"age", b"city", b"score", b"joined", b"active",
               b"tags", b"note"] + [b"c%d" % c for c in range(10, 20)]


def csv_row(i):
    return [b"%d" % i, b"Person %d" % i, b"p%d@example.com" % i, b"%d" % (18 + i % 60),
            [b"London", b"Paris", b"Zurich", b"Lisbon"][i % 4], b"%d.%02d" % (i % 1000, i % 100),
            b"2026-%02d-%02d" % (1 + i % 12, 1 + i % 28), b"true" if i % 3 == 0 else b"false",
            b"t%d;t%d" % (i % 5, i % 7), b"note %d" % i] + [b"v%d-%d" % (c, i * c % 997) for c in range(10, 20)]


def write_csv(dir, rows):
    """The CSV and its commands as RESP; returns (csv, resp, commands, keys)."""
    csv_path, resp_path = os.path.join(dir, "csv.csv"), os.path.join(dir, "csv.resp")
    with open(csv_path, "wb") as text, open(resp_path, "wb") as raw:
        text.write(b",".join(CSV_COLUMNS) + b"\n")
        buf_t, buf_r = [], []
        for i in range(rows):
            row = csv_row(i)
            buf_t.append(b",".join(row) + b"\n")
            buf_r.append(resp([b"HSET", b"user:%d" % i] + [x for pair in zip(CSV_COLUMNS, row) for x in pair]))
            buf_r.append(resp([b"ZADD", b"by_age", row[3], row[0]]))
            if len(buf_t) >= 10000:
                text.write(b"".join(buf_t))
                raw.write(b"".join(buf_r))
                buf_t, buf_r = [], []
        text.write(b"".join(buf_t))
        raw.write(b"".join(buf_r))
    return csv_path, resp_path, 2 * rows, rows + 1


def write_inputs(dir, name, count, gen):
    text_path = os.path.join(dir, name + ".txt")
    resp_path = os.path.join(dir, name + ".resp")
    with open(text_path, "wb") as text, open(resp_path, "wb") as raw:
        buf_t, buf_r = [], []
        for i in range(count):
            args = gen(i)
            buf_t.append(b" ".join(args) + b"\n")
            buf_r.append(resp(args))
            if len(buf_t) >= 10000:
                text.write(b"".join(buf_t))
                raw.write(b"".join(buf_r))
                buf_t, buf_r = [], []
        text.write(b"".join(buf_t))
        raw.write(b"".join(buf_r))
    return text_path, resp_path


# Ports the script may use: any free one, unless --ports names a port or a
# range (for machines where only some ports may be opened).
PORTS = None


def parse_ports(spec):
    """'7000' or '7000-7100' -> a list of ports."""
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", spec)
    if not m:
        raise SystemExit("--ports: give a port or a range such as 7000-7100, not %r" % spec)
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 0 < lo <= hi < 65536:
        raise SystemExit("--ports: %r is not a range of ports" % spec)
    return list(range(lo, hi + 1))


def port_is_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    """A free port: from --ports if given (each used once), else any."""
    if PORTS is not None:
        while PORTS:
            port = PORTS.pop(0)
            if port != 6379 and port_is_free(port):
                return port
        raise SystemExit("--ports: no free port left in the range (a cluster of M masters needs 2M + 1)")
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port < 55000:
            return port


class Server:
    def __init__(self, dir, extra=()):
        self.port = free_port()
        os.makedirs(dir, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", dir,
             "--logfile", os.path.join(dir, "redis.log"), *extra],
            stdout=subprocess.DEVNULL)
        for _ in range(500):
            try:
                if self.cmd("PING") == "PONG":
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.02)
        raise SystemExit("redis-server did not start")

    def cmd(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    def cpu(self):
        info = self.cmd("INFO", "cpu")
        vals = dict(l.split(":", 1) for l in info.splitlines() if ":" in l)
        return float(vals["used_cpu_sys"]) + float(vals["used_cpu_user"])

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Terminal:
    """A pseudo-terminal for a run's stderr, drained as it is drawn on, so a
    progress display costs what it costs at a real terminal."""

    def __enter__(self):
        self.master, self.slave = pty.openpty()
        self.drawn = bytearray()
        self.thread = threading.Thread(target=self.drain, daemon=True)
        self.thread.start()
        return self

    def drain(self):
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.drawn += chunk

    def __exit__(self, *exc):
        os.close(self.slave)
        self.thread.join(timeout=5)
        os.close(self.master)


def run_once(server, argv, stdin_path, expect, keys=None, tty=False):
    server.cmd("FLUSHALL")
    cpu0 = server.cpu()
    # GNU time reports the run's own CPU and peak RSS. (A child forked from
    # this Python process would count Python's own pages in its peak RSS.)
    with open(stdin_path, "rb") as stdin, tempfile.NamedTemporaryFile() as usage_file:
        t0 = time.perf_counter()
        if tty:
            with Terminal() as term:
                proc = subprocess.run([TIME, "-f", "%U %S %M", "-o", usage_file.name, *argv],
                                      stdin=stdin, stdout=subprocess.PIPE, stderr=term.slave)
            if b" commands \xc2\xb7 " not in term.drawn:
                raise SystemExit("no progress was drawn: %s" % argv)
        else:
            proc = subprocess.run([TIME, "-f", "%U %S %M", "-o", usage_file.name, *argv],
                                  stdin=stdin, capture_output=True)
        wall = time.perf_counter() - t0
        user, sys_, rss_kb = usage_file.read().split()[-3:]
        stdout, stderr = proc.stdout, proc.stderr or b""
    server_cpu = server.cpu() - cpu0
    m = re.search(rb"errors: (\d+), replies: (\d+)", stdout)
    if proc.returncode != 0 or not m or int(m.group(1)) != 0 or int(m.group(2)) != expect:
        raise SystemExit("run failed: %s\nstdout: %s\nstderr: %s" % (argv, stdout[-500:], stderr[-500:]))
    if server.cmd("DBSIZE") != str(expect if keys is None else keys):
        raise SystemExit("run loaded the wrong number of keys: %s" % argv)
    return {"wall": wall, "cpu": float(user) + float(sys_), "rss": int(rss_kb) / 1024.0, "server": server_cpu}


def start_cluster(dir, masters, nodes):
    """A cluster of `masters` nodes, the slots split evenly, built with
    CLUSTER ADDSLOTSRANGE and CLUSTER MEET (redis-cli --cluster create
    insists on at least three masters)."""
    # Each node's cluster bus port is chosen too (cluster-port), so that a
    # --ports range is all the script uses.
    bus = [free_port() for _ in range(masters)]
    for i in range(masters):
        nodes.append(Server(os.path.join(dir, "node%d" % i),
                            ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                             "--cluster-port", str(bus[i])]))
    per = 16384 // masters
    for i, node in enumerate(nodes):
        last = 16383 if i == masters - 1 else (i + 1) * per - 1
        node.cmd("CLUSTER", "ADDSLOTSRANGE", str(i * per), str(last))
    for node, bus_port in zip(nodes[1:], bus[1:]):
        nodes[0].cmd("CLUSTER", "MEET", "127.0.0.1", str(node.port), str(bus_port))
    for _ in range(500):
        if all("cluster_state:ok" in n.cmd("CLUSTER", "INFO") for n in nodes):
            return
        time.sleep(0.05)
    raise SystemExit("the cluster never became ready")


def run_dump(server, expect):
    """One `rload --dump` of the server to /dev/null; wall, CPU, RSS, server CPU."""
    cpu0 = server.cpu()
    with tempfile.NamedTemporaryFile() as usage_file, open(os.devnull, "wb") as sink:
        t0 = time.perf_counter()
        proc = subprocess.run([TIME, "-f", "%U %S %M", "-o", usage_file.name, RLOAD, "--dump",
                               "-p", str(server.port)], stdout=sink, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        user, sys_, rss_kb = usage_file.read().split()[-3:]
    m = re.search(rb"dumped (\d+) keys", proc.stderr)
    if proc.returncode != 0 or not m or int(m.group(1)) != expect:
        raise SystemExit("dump failed: %s" % proc.stderr[-500:])
    return {"wall": wall, "cpu": float(user) + float(sys_), "rss": int(rss_kb) / 1024.0,
            "server": server.cpu() - cpu0}


def compare_dump(opts, dir):
    """Loading N keys (small strings, or the mixed dataset) with rload
    against dumping them, same run."""
    server = Server(os.path.join(dir, "dump"))
    name = opts.dump_workload
    try:
        subprocess.run([sys.executable, __file__, "--generate", name, str(opts.n), dir], check=True)
        text = os.path.join(dir, name + ".txt")
        runs = {"load": [], "dump": []}
        for _ in range(opts.rounds):
            runs["load"].append(run_once(server, [RLOAD, "--pipe", "-p", str(server.port)], text, opts.n))
            runs["dump"].append(run_dump(server, opts.n))
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
        what = "SET KeyN ValueN" if name == "set" else name + " keys"
        print("%d x %s: loaded with rload --pipe, dumped with rload --dump (%d rounds, medians)" % (
            opts.n, what, opts.rounds))
        print("  %-6s %9s %9s %9s %11s %16s" % ("", "wall s", "cpu s", "rss MiB", "server cpu s", "server us/key"))
        for label, m in med.items():
            print("  %-6s %9.3f %9.3f %9.1f %11.3f %16.2f" % (
                label, m["wall"], m["cpu"], m["rss"], m["server"], m["server"] / opts.n * 1e6))
        print("  dump / load: wall %.2f  server cpu %.2f" % (
            med["dump"]["wall"] / med["load"]["wall"], med["dump"]["server"] / med["load"]["server"]))
    finally:
        server.stop()


def timed(argv, stdout=subprocess.DEVNULL):
    """Runs argv; wall time, client CPU and peak RSS; fails on a non-zero
    status."""
    with tempfile.NamedTemporaryFile() as usage_file:
        t0 = time.perf_counter()
        proc = subprocess.run([TIME, "-f", "%U %S %M", "-o", usage_file.name, *argv],
                              stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        user, sys_, rss_kb = usage_file.read().split()[-3:]
    if proc.returncode != 0:
        raise SystemExit("run failed: %s\n%s" % (argv, proc.stderr[-800:]))
    return {"wall": wall, "cpu": float(user) + float(sys_), "rss": int(rss_kb) / 1024.0}


def startup_load(dir, rdb):
    """The seconds a redis-server takes to load `rdb` at startup, from its
    own log line ("DB loaded from disk: 1.234 seconds")."""
    os.makedirs(dir, exist_ok=True)
    shutil.copy(rdb, os.path.join(dir, "start.rdb"))
    server = Server(dir, ["--dbfilename", "start.rdb"])
    try:
        for _ in range(3000):
            log = open(os.path.join(dir, "redis.log")).read()
            m = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", log)
            if m:
                return float(m[-1])
            time.sleep(0.01)
        raise SystemExit("the server did not load the RDB")
    finally:
        server.stop()
        shutil.rmtree(dir, ignore_errors=True)


def compare_rdb(opts, dir):
    """The RDB workload: the mixed dataset plus one list of a fifth of N
    elements, SAVEd by a server. Loading the file with rload against the
    server's own startup load of it; dumping the live dataset (from its
    snapshot) against loading it with rload; converting the file to RESP."""
    name = "mixed"
    subprocess.run([sys.executable, __file__, "--generate", name, str(opts.n), dir], check=True)
    text = os.path.join(dir, name + ".txt")
    with open(text, "ab") as f:
        big = opts.n // 5
        for start in range(0, big, 1000):
            f.write(b"RPUSH big:list " + b" ".join(b"e%d" % i for i in range(start, min(start + 1000, big))) + b"\n")
    keys = opts.n + 1
    server = Server(os.path.join(dir, "rdb"), ["--repl-diskless-sync-delay", "0"])
    try:
        run_once(server, [RLOAD, "--pipe", "-p", str(server.port)], text, opts.n + (opts.n // 5 + 999) // 1000, keys)
        server.cmd("SAVE")
        rdb = os.path.join(dir, "mixed.rdb")
        shutil.copy(os.path.join(dir, "rdb", "dump.rdb"), rdb)
        size = os.path.getsize(rdb)
        runs = {"startup": [], "load rdb": [], "load text": [], "dump": [], "convert": []}
        for r in range(opts.rounds):
            runs["startup"].append({"wall": startup_load(os.path.join(dir, "startup%d" % r), rdb),
                                    "cpu": 0.0, "rss": 0.0})
            server.cmd("FLUSHALL")
            runs["load rdb"].append(timed([RLOAD, "--pipe", "-p", str(server.port), rdb]))
            if server.cmd("DBSIZE") != str(keys):
                raise SystemExit("the RDB did not load whole")
            dumped = timed([RLOAD, "--dump", "-p", str(server.port)])
            runs["dump"].append(dumped)
            runs["load text"].append(run_once(server, [RLOAD, "--pipe", "-p", str(server.port)], text,
                                              opts.n + (opts.n // 5 + 999) // 1000, keys))
            runs["convert"].append(timed([RLOAD, "--dump", rdb]))
        med = {k: {m: statistics.median(x[m] for x in v) for m in ("wall", "cpu", "rss")} for k, v in runs.items()}
        print("rdb: %d keys (the mixed dataset and a %d-element list), an RDB of %.1f MB (%d rounds, medians)" % (
            keys, opts.n // 5, size / 1e6, opts.rounds))
        print("  %-34s %9s %9s %9s" % ("", "wall s", "cpu s", "rss MiB"))
        for label, what in (("startup", "server's own startup load"), ("load rdb", "rload --pipe mixed.rdb"),
                            ("load text", "rload --pipe (the same as commands)"), ("dump", "rload --dump (live, snapshot)"),
                            ("convert", "rload --dump mixed.rdb > /dev/null")):
            m = med[label]
            print("  %-34s %9.3f %9.3f %9.1f" % (what, m["wall"], m["cpu"], m["rss"]))
        print("  load rdb / startup load: %.2f   dump / load text: %.2f   convert: %.0f MB/s of RDB" % (
            med["load rdb"]["wall"] / med["startup"]["wall"], med["dump"]["wall"] / med["load text"]["wall"],
            size / 1e6 / med["convert"]["wall"]))
    finally:
        server.stop()


def mixed_text(opts, dir):
    """The --rdb dataset as text: the mixed keys and a list of N/5
    elements; its path, commands and keys."""
    subprocess.run([sys.executable, __file__, "--generate", "mixed", str(opts.n), dir], check=True)
    text = os.path.join(dir, "mixed.txt")
    big = opts.n // 5
    with open(text, "ab") as f:
        for start in range(0, big, 1000):
            f.write(b"RPUSH big:list " + b" ".join(b"e%d" % i for i in range(start, min(start + 1000, big))) + b"\n")
    return text, opts.n + (big + 999) // 1000, opts.n + 1


def compare_compare(opts, dir):
    """rload --compare of two servers holding the same keys, against one
    rload --dump of the source, same run: from the source's snapshot, and
    with --scan."""
    for name in opts.compare_workloads.split(","):
        if name == "mixed":
            text, count, keys = mixed_text(opts, dir)
        else:
            subprocess.run([sys.executable, __file__, "--generate", name, str(opts.n), dir], check=True)
            text, count, keys = os.path.join(dir, name + ".txt"), opts.n, opts.n
        fast = ["--repl-diskless-sync-delay", "0"]
        source = Server(os.path.join(dir, "source"), fast)
        target = Server(os.path.join(dir, "target"), fast)
        try:
            for server in (source, target):
                run_once(server, [RLOAD, "--pipe", "-p", str(server.port)], text, count, keys)
            src, uri = str(source.port), "redis://127.0.0.1:%d" % target.port
            contenders = [
                ("dump", [RLOAD, "--dump", "-p", src]),
                ("compare", [RLOAD, "--compare", "-p", src, "--target", uri]),
                ("dump --scan", [RLOAD, "--dump", "--scan", "-p", src]),
                ("compare --scan", [RLOAD, "--compare", "--scan", "-p", src, "--target", uri]),
            ]
            runs = {label: [] for label, _ in contenders}
            for r in range(opts.rounds):
                k = len(contenders)
                for label, argv in contenders[r % k:] + contenders[:r % k]:
                    runs[label].append(timed(argv))
            med = {k: {m: statistics.median(x[m] for x in v) for m in ("wall", "cpu", "rss")} for k, v in runs.items()}
            print("compare %s: two servers of %d keys each, equal (%d rounds, medians)" % (name, keys, opts.rounds))
            print("  %-16s %9s %9s %9s" % ("", "wall s", "cpu s", "rss MiB"))
            for label, m in med.items():
                print("  %-16s %9.3f %9.3f %9.1f" % (label, m["wall"], m["cpu"], m["rss"]))
            print("  compare / dump: wall %.2f (snapshot)  %.2f (--scan)" % (
                med["compare"]["wall"] / med["dump"]["wall"],
                med["compare --scan"]["wall"] / med["dump --scan"]["wall"]))
            print()
            sys.stdout.flush()
        finally:
            source.stop()
            target.stop()
            os.remove(text)


def compare_cluster(opts, dir):
    masters = opts.cluster
    single, nodes = None, []
    try:
        single = Server(os.path.join(dir, "single"))
        start_cluster(dir, masters, nodes)
        subprocess.run([sys.executable, __file__, "--generate", "set", str(opts.n), dir], check=True)
        text = os.path.join(dir, "set.txt")
        runs = {"one node": [], "%d-master cluster" % masters: []}
        for r in range(opts.rounds):
            order = list(runs)[r % 2:] + list(runs)[:r % 2]
            for label in order:
                if label == "one node":
                    runs[label].append(run_once(single, [RLOAD, "--pipe", "-p", str(single.port)], text, opts.n))
                else:
                    runs[label].append(run_cluster(nodes, text, opts.n))
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
        one, many = med["one node"], med["%d-master cluster" % masters]
        print("%d x SET KeyN ValueN, text input, %d rounds (medians)" % (opts.n, opts.rounds))
        print("  %-20s %9s %9s %11s" % ("", "wall s", "cpu s", "server cpu s"))
        for label, m in med.items():
            print("  %-20s %9.3f %9.3f %11.3f" % (label, m["wall"], m["cpu"], m["server"]))
        print("  throughput ratio, cluster / one node: %.2f  (%.2f per master)" % (
            one["wall"] / many["wall"], one["wall"] / many["wall"] / masters))
    finally:
        for n in ([single] if single else []) + nodes:
            n.stop()


def run_cluster(nodes, path, expect):
    """One rload -c run against the cluster; server CPU summed over nodes."""
    for n in nodes:
        n.cmd("FLUSHALL")
    cpu0 = sum(n.cpu() for n in nodes)
    with open(path, "rb") as stdin, tempfile.NamedTemporaryFile() as usage_file:
        t0 = time.perf_counter()
        proc = subprocess.run([TIME, "-f", "%U %S %M", "-o", usage_file.name, RLOAD, "--pipe", "-c",
                               "-p", str(nodes[0].port)], stdin=stdin, capture_output=True)
        wall = time.perf_counter() - t0
        user, sys_, rss_kb = usage_file.read().split()[-3:]
    m = re.search(rb"errors: (\d+), replies: (\d+)", proc.stdout)
    keys = sum(int(n.cmd("DBSIZE")) for n in nodes)
    if proc.returncode != 0 or not m or int(m.group(1)) != 0 or int(m.group(2)) != expect or keys != expect:
        raise SystemExit("cluster run failed:\n%s\n%s" % (proc.stdout[-500:], proc.stderr[-500:]))
    return {"wall": wall, "cpu": float(user) + float(sys_), "rss": int(rss_kb) / 1024.0,
            "server": sum(n.cpu() for n in nodes) - cpu0}


def machine():
    cpu = "unknown cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return "%s, %d cores, %s; %s %s; rload %s" % (
        cpu, os.cpu_count(), platform.platform(), redis[0], redis[2], rev)


def main():
    if sys.argv[1:2] == ["--generate"]:
        name, n, dir = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        count, gen = workloads(n)[name]
        write_inputs(dir, name, count, gen)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workloads", default="set,1k,100k,hset,csv",
                    help="set, 1k, 100k, hset, rpush, rpushrr, hsetf (commands as text), csv (a CSV, two templates)")
    ap.add_argument("--cluster", type=int, default=0, metavar="MASTERS")
    ap.add_argument("--dump", action="store_true",
                    help="compare dumping N keys with loading them")
    ap.add_argument("--rdb", action="store_true",
                    help="the RDB workload: load an RDB, dump from a snapshot, convert a file")
    ap.add_argument("--compare", action="store_true",
                    help="compare rload --compare of two equal servers with one rload --dump")
    ap.add_argument("--compare-workloads", default="set,mixed",
                    help="--compare: set (N small strings), mixed (the --rdb dataset)")
    ap.add_argument("--dump-workload", default="set",
                    help="--dump: set (N small strings) or mixed (every common type)")
    ap.add_argument("--ports", metavar="PORT|FIRST-LAST",
                    help="use only these ports for the servers it starts")
    ap.add_argument("--coalesce", action="store_true",
                    help="also run rload --coalesce on text")
    ap.add_argument("--progress", action="store_true",
                    help="also run rload on text with its progress display drawn on a pseudo-terminal")
    opts = ap.parse_args()
    if opts.ports:
        global PORTS
        PORTS = parse_ports(opts.ports)
    for tool, package in (("redis-server", "redis-server"), ("redis-cli", "redis-tools"), (TIME, "time")):
        if not shutil.which(tool):
            raise SystemExit("%s is required (apt-get install %s)" % (tool, package))
    if not os.path.exists(RLOAD):
        raise SystemExit("build first: cargo build --release")
    print("machine: %s" % machine())
    print("N = %d, %d rounds, medians; ratios are rload / redis-cli (RESP input)\n" % (opts.n, opts.rounds))
    with tempfile.TemporaryDirectory(prefix="rload-bench-") as dir:
        if opts.cluster:
            return compare_cluster(opts, dir)
        if opts.dump:
            return compare_dump(opts, dir)
        if opts.rdb:
            return compare_rdb(opts, dir)
        if opts.compare:
            return compare_compare(opts, dir)
        server = Server(dir)
        try:
            for name in opts.workloads.split(","):
                rload_args, keys = [], None
                if name == "csv":
                    text, raw, count, keys = write_csv(dir, max(opts.n // 4, 1))
                    rload_args = [a for t in CSV_TEMPLATES for a in ("--template", t)] + ["--format", "csv"]
                else:
                    count, keys = workloads(opts.n)[name][0], keys_of(name, opts.n)
                    subprocess.run([sys.executable, __file__, "--generate", name, str(opts.n), dir], check=True)
                    text, raw = (os.path.join(dir, name + ext) for ext in (".txt", ".resp"))
                contenders = [
                    ("rload text", [RLOAD, "--pipe", "-p", str(server.port), *rload_args], text),
                    ("rload resp", [RLOAD, "--pipe", "-p", str(server.port)], raw),
                    ("redis-cli resp", ["redis-cli", "-p", str(server.port), "--pipe"], raw),
                ]
                if opts.progress:
                    contenders.append(("rload progress", contenders[0][1], text))
                if opts.coalesce:
                    contenders.append(("rload coalesce", contenders[0][1] + ["--coalesce"], text))
                results = {c[0]: [] for c in contenders}
                k = len(contenders)
                for r in range(opts.rounds):
                    # Rotate the order each round, so no contender always
                    # runs right after the same one.
                    for label, argv, path in contenders[r % k:] + contenders[:r % k]:
                        tty = label == "rload progress"
                        results[label].append(run_once(server, argv, path, count, keys, tty))
                report(name, count, os.path.getsize(text), results)
                os.remove(text)
                os.remove(raw)
        finally:
            server.stop()


def report(name, count, text_bytes, results):
    med = {label: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for label, runs in results.items()}
    cli = med["redis-cli resp"]
    what = "CSV, rendered by two templates" if name == "csv" else "text"
    print("workload %s: %d commands (%.0f MB of %s)" % (name, count, text_bytes / 1e6, what))
    print("  %-15s %9s %9s %9s %11s %11s" % ("", "wall s", "cpu s", "rss MiB", "server cpu s", "us/command"))
    for label, m in med.items():
        print("  %-15s %9.3f %9.3f %9.1f %11.3f %11.3f" % (
            label, m["wall"], m["cpu"], m["rss"], m["server"], m["server"] * 1e6 / count))
    for label in [l for l in ("rload text", "rload resp", "rload progress", "rload coalesce") if l in med]:
        m = med[label]
        print("  %-15s wall %.2f  cpu %.2f  rss %.2f  server %.2f   (ratio to redis-cli; %.2fx as fast)" % (
            label, m["wall"] / cli["wall"], m["cpu"] / cli["cpu"], m["rss"] / cli["rss"], m["server"] / cli["server"],
            cli["wall"] / m["wall"]))
    print()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
