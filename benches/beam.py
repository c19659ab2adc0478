#!/usr/bin/env python3
"""End-to-end comparison for the Python package, in one run (not a test):

1. Beam's DirectRunner, ``ReadFromText -> Map -> sink`` over 200,000
   lines, with three sinks run in turn, several times: discarding the
   elements, ``rload.beam.WriteToRedis``, and the hand-written redis-py
   DoFn that pipelines 1,000 commands per ``execute()``.
2. ``rload.load()`` of 1M ``SET`` from a Python generator, against the
   binary (``rload --pipe``) loading the same commands as text.

It prints each median and the ratios. Goals: WriteToRedis <= 1.15x
discard; load() <= 1.3x the binary. Build both in release first:

    cargo build --release
    (cd python && maturin develop --release)     # in a virtualenv with apache-beam, redis
    python benches/beam.py [--runs 3] [--lines 200000] [--commands 1000000]

It starts its own redis-server on a free port (never 6379).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import apache_beam as beam
import redis
from apache_beam.io import ReadFromText

import rload
from rload.beam import WriteToRedis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp: str):
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", tmp, "--logfile", os.path.join(tmp, "redis.log")],
        stdout=subprocess.DEVNULL,
    )
    r = redis.Redis(port=port)
    for _ in range(200):
        try:
            r.ping()
            return proc, port
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


class Discard(beam.DoFn):
    def process(self, element):
        return ()


class RedisPyPipelined(beam.DoFn):
    """The common hand-written sink: redis-py, 1,000 commands per execute()."""

    def __init__(self, port: int, batch: int = 1000):
        self.port, self.batch = port, batch

    def setup(self):
        self.client = redis.Redis(port=self.port)

    def start_bundle(self):
        self.pipe = self.client.pipeline(transaction=False)
        self.n = 0

    def process(self, element):
        key, value = element
        self.pipe.set(key, value)
        self.n += 1
        if self.n >= self.batch:
            self.pipe.execute()
            self.n = 0

    def finish_bundle(self):
        if self.n:
            self.pipe.execute()

    def teardown(self):
        self.client.close()


def to_kv(line: str):
    return ("line:" + line[:12], line)


def run_pipeline(path: str, sink) -> float:
    started = time.perf_counter()
    with beam.Pipeline() as p:
        p | ReadFromText(path) | beam.Map(to_kv) | sink
    return time.perf_counter() - started


def beam_part(args, tmp: str, port: int):
    path = os.path.join(tmp, "lines.txt")
    with open(path, "w") as f:
        for i in range(args.lines):
            f.write(f"{i:012d} the quick brown fox jumps over the lazy dog\n")
    url = f"redis://127.0.0.1:{port}"
    r = redis.Redis(port=port)
    sinks = {
        "discard": lambda: beam.ParDo(Discard()),
        "WriteToRedis": lambda: WriteToRedis(url, method="SET"),
        # The same, each element emitted on (as the seed's pipeline wants).
        "... emit=True": lambda: WriteToRedis(url, method="SET", emit=True),
        "redis-py DoFn": lambda: beam.ParDo(RedisPyPipelined(port)),
    }
    times = {name: [] for name in sinks}
    for run in range(args.runs):
        for name, sink in sinks.items():
            r.flushall()
            times[name].append(run_pipeline(path, sink()))
            if name != "discard":
                assert r.dbsize() == args.lines, (name, r.dbsize())
        print(f"  run {run + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    med = {n: statistics.median(t) for n, t in times.items()}
    print(f"Beam DirectRunner, ReadFromText -> Map -> sink, {args.lines:,} lines, median of {args.runs}:")
    for name, t in med.items():
        print(f"  {name:14s} {t:6.2f} s   {t / med['discard']:.2f}x discard")
    return med


def load_part(args, tmp: str, port: int):
    binary = os.path.join(ROOT, "target", "release", "rload")
    if not os.path.exists(binary):
        sys.exit(f"{binary} is missing: cargo build --release")
    path = os.path.join(tmp, "sets.txt")
    with open(path, "w") as f:
        for i in range(args.commands):
            f.write(f"SET key:{i} value:{i}\n")
    r = redis.Redis(port=port)
    py_times, bin_times = [], []
    for run in range(args.runs):
        r.flushall()
        started = time.perf_counter()
        summary = rload.load((("SET", f"key:{i}", f"value:{i}") for i in range(args.commands)),
                             url=f"redis://127.0.0.1:{port}")
        py_times.append(time.perf_counter() - started)
        assert summary.ok and summary.acknowledged == args.commands, summary
        r.flushall()
        started = time.perf_counter()
        subprocess.run([binary, "-p", str(port), "--pipe", path], check=True, stdout=subprocess.DEVNULL)
        bin_times.append(time.perf_counter() - started)
        assert r.dbsize() == args.commands
        print(f"  run {run + 1}: load() {py_times[-1]:.2f} s, binary {bin_times[-1]:.2f} s", flush=True)
    py, bi = statistics.median(py_times), statistics.median(bin_times)
    print(f"{args.commands:,} SET, median of {args.runs}:")
    print(f"  rload.load() from a generator {py:6.2f} s")
    print(f"  rload --pipe (binary, text)   {bi:6.2f} s")
    print(f"  ratio load()/binary           {py / bi:6.2f}x")
    return py, bi


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--skip-beam", action="store_true")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not on PATH")
    tmp = tempfile.mkdtemp(prefix="rload-bench-")
    proc, port = start_server(tmp)
    try:
        if not args.skip_beam:
            beam_part(args, tmp, port)
        if not args.skip_load:
            load_part(args, tmp, port)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
