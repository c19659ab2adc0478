"""Real redis-servers for the tests: each started on a free port (never
6379) with no persistence and DEBUG allowed, waited for, and killed at
teardown; a 3-master cluster where cluster mode is tested."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        port = 20000 + port % 30000
        if port != 6379 and _bindable(port) and _bindable(port + 10000):
            return port


class Server:
    def __init__(self, *args: str, binary: str | None = None):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="rload-py-")
        self.log = os.path.join(self.dir, "log")
        cmd = [
            binary or REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
            "--dir", self.dir, "--logfile", self.log, *args,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}"
        self.password = None
        for arg_i, a in enumerate(args):
            if a == "--requirepass":
                self.password = args[arg_i + 1]
        deadline = time.time() + 10
        while True:
            try:
                if self.client().ping():
                    break
            except redis.exceptions.AuthenticationError:
                break
            except redis.exceptions.ConnectionError:
                if time.time() > deadline or self.proc.poll() is not None:
                    log = open(self.log).read()
                    self.stop()
                    raise RuntimeError(f"redis-server did not start: {log}")
                time.sleep(0.05)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password)

    def digest(self) -> bytes:
        return self.client().execute_command("DEBUG", "DIGEST")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def _servers():
    made = []
    yield made
    for s in made:
        s.stop()


_named = {}


def _named_server(name, servers):
    if name not in _named:
        _named[name] = Server()
        servers.append(_named[name])
    _named[name].client().flushall()
    return _named[name]


@pytest.fixture
def server(_servers):
    """A clean server (shared by the session, flushed for each test)."""
    return _named_server("one", _servers)


@pytest.fixture
def server2(_servers):
    """A second clean server."""
    return _named_server("two", _servers)


class Cluster:
    def __init__(self):
        self.nodes: list = []
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        for _ in range(3):
            self.nodes.append(Server("--cluster-enabled", "yes", "--cluster-node-timeout", "2000"))
        ranges = [(0, 5460), (5461, 10922), (10923, 16383)]
        for node, (a, b) in zip(self.nodes, ranges):
            node.client().execute_command("CLUSTER", "ADDSLOTSRANGE", a, b)
        for node in self.nodes[1:]:
            self.nodes[0].client().execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        deadline = time.time() + 20
        while not all(b"cluster_state:ok" in n.client().execute_command("CLUSTER", "INFO") for n in self.nodes):
            if time.time() > deadline:
                raise RuntimeError("the cluster did not become ready")
            time.sleep(0.1)
        self.url = self.nodes[0].url

    def flush(self):
        for n in self.nodes:
            n.client().flushall()

    def dbsize(self) -> int:
        return sum(n.client().dbsize() for n in self.nodes)

    def stop(self):
        for n in self.nodes:
            n.stop()


@pytest.fixture(scope="session")
def _cluster():
    c = Cluster()
    yield c
    c.stop()


@pytest.fixture
def cluster(_cluster):
    _cluster.flush()
    return _cluster
