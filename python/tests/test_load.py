"""rload.load, load_records, Writer and dump against real servers."""

from __future__ import annotations

import traceback

import pytest

import rload
from conftest import Server


def every_type(r_prefix: bytes = b""):
    """Commands that make a key of every type, an expiry, a big list and
    binary keys and values."""
    p = r_prefix
    return [
        ("SET", p + b"s", "text"),
        ("SET", p + b"bin\x00\xff", b"\x00\x01\xfe\xff value"),
        ("SET", p + b"exp", "v", "PX", 600000),
        ("RPUSH", p + b"l", "a", "b", b"\xff"),
        ("RPUSH", p + b"big", *range(2500)),
        ("SADD", p + b"set", "x", "y", 3),
        ("ZADD", p + b"z", 1.5, "m1", "-inf", "m2", 10, b"m\x003"),
        ("HSET", p + b"h", "f1", "v1", b"f\xff", b"v\x00"),
        ("XADD", p + b"x", "1-1", "a", "1"),
        ("XADD", p + b"x", "2-0", "b", b"\xff"),
        ("XGROUP", "CREATE", p + b"x", "g", "1-1"),
        ("PFADD", p + b"hll", "a", "b", "c"),
    ]


def test_load_counts_and_ties_errors_to_command_indexes(server):
    cmds = [("SET", "a", 1), ("LPUSH", "a", "x"), ("GET", "a"), ("NOSUCH",)]
    s = rload.load(cmds, url=server.url)
    assert s.sent == 4 and s.replies == 4 and s.acknowledged == 4
    assert s.error_count == 2 and not s.ok and s.stop is None
    assert [(e.index, e.reply.split()[0]) for e in s.errors] == [(1, "WRONGTYPE"), (3, "ERR")]
    with pytest.raises(rload.LoadError) as e:
        s.check()
    assert e.value.summary.error_count == 2
    assert "command 1" in str(e.value)


def test_load_streams_a_generator_of_every_argument_type(server):
    def gen():
        for i in range(20000):
            yield ("SET", f"k{i}", i)
        yield ["HSET", b"h", "f", 1.25]
        yield iter(["SET", "big", 10**30])

    s = rload.load(gen(), url=server.url)
    assert s.ok and s.acknowledged == 20002
    r = server.client()
    assert r.get("k19999") == b"19999"
    assert r.hget("h", "f") == b"1.25"
    assert r.get("big") == b"1" + b"0" * 30


def test_round_trip_of_every_type_through_dump_and_load(server, server2):
    assert rload.load(every_type(), url=server.url).ok
    keys = list(rload.dump(url=server.url))
    assert {k["type"] for k in keys} == {"string", "list", "set", "zset", "hash", "stream"}
    by_key = {k["key"]: k for k in keys}
    assert by_key[b"bin\x00\xff"]["value"] == b"\x00\x01\xfe\xff value"
    assert len(by_key[b"big"]["value"]) == 2500
    assert by_key[b"exp"]["expire_at_ms"] is not None
    assert by_key[b"x"]["value"]["groups"] == [{"name": b"g", "last_delivered_id": b"1-1"}]
    assert (b"m2", float("-inf")) in by_key[b"z"]["value"]
    commands = [c for k in keys for c in rload.key_commands(k)]
    s = rload.load(commands, url=server2.url)
    assert s.ok, s.errors
    assert server.digest() == server2.digest()


def test_dump_filters_and_decodes(server):
    rload.load(every_type(), url=server.url).check()
    hashes = list(rload.dump(url=server.url, types=["hash"], decode=True))
    assert [k["key"] for k in hashes] == ["h"]
    assert ("f1", "v1") in hashes[0]["value"] and (b"f\xff", "v\x00") in hashes[0]["value"]
    assert [k["key"] for k in rload.dump(url=server.url, match="bi*", scan=True)] != []
    parts = [sorted(k["key"] for k in rload.dump(url=server.url, split=(i, 3), scan=True)) for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(k["key"] for k in rload.dump(url=server.url))


def test_a_dump_refused_mid_way_raises_dump_error_with_the_reply_and_where_to_go_on(server):
    r = server.client()
    rload.load((("SET", f"open:{i}", i) for i in range(3000)), url=server.url).check()
    r.set("secret", "x")
    # A user who may SCAN every name but read only open:* keys.
    r.acl_setuser("reader", enabled=True, passwords=["+pw"], keys=["open:*"], commands=["+@all"])
    try:
        read = []
        with pytest.raises(rload.DumpError) as e:
            for key in rload.dump(url=f"redis://reader:pw@127.0.0.1:{server.port}", scan=True):
                read.append(key["key"])
    finally:
        r.acl_deluser("reader")
    message = str(e.value)
    assert message.startswith(f"the dump stopped after {len(read)} keys: "), message
    assert "NOPERM" in message and f"127.0.0.1:{server.port}" in message, message
    cursor = message.rsplit("cursor=", 1)[1].strip("\"'")
    # Where it says to go on from, the rest of the keys.
    rest = [k["key"] for k in rload.dump(url=server.url, scan=True, cursor=cursor)]
    assert set(read) | set(rest) == {f"open:{i}".encode() for i in range(3000)} | {b"secret"}


def test_writer_flush_is_a_barrier(server):
    r = server.client()
    with rload.Writer(url=server.url) as w:
        for i in range(3000):
            w.send("RPUSH", "l", i)
        s = w.flush()
        assert s.acknowledged == 3000 and r.llen("l") == 3000
        w.send("INCR", "l")
        w.send_many([("SET", "x", 1), ("GET", "x")])
        s = w.flush()
        assert [e.index for e in s.errors] == [3000]
        assert r.get("x") == b"1"
    assert w.summary.sent == 3003 and w.summary.error_count == 1
    with pytest.raises(rload.Error):
        w.send("SET", "a", "b")


def test_writer_flush_with_coalesce_and_records(server):
    r = server.client()
    w = rload.Writer(url=server.url, coalesce=True)
    for i in range(2000):
        w.send("SADD", "s", i)
    assert w.flush().ok and r.scard("s") == 2000
    w.close()
    w = rload.Writer(url=server.url, templates=["HSET user:{id} {*}"])
    w.send({"id": 1, "name": "a"})
    assert w.flush().ok and r.hget("user:1", "name") == b"a"
    w.send({"id": 2, "name": "b"})
    s = w.close()
    assert s.ok and r.hget("user:2", "name") == b"b"


def test_load_records_renders_templates(server):
    records = [{"id": 1, "tags": ["a", "b"], "who": {"name": "x"}}, {"id": 2, "tags": []}]
    s = rload.load_records(records, templates=["SADD tags:{id} {tags[]}", "SET name:{id} {who.name?}"], url=server.url)
    r = server.client()
    assert r.smembers("tags:1") == {b"a", b"b"}
    assert r.get("name:1") == b"x"
    assert s.empty_spreads == 1


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(bogus=1), "unknown option"),
        (dict(url="http://h"), "invalid URI"),
        (dict(tls_cert="/x"), "TLS options need tls=True"),
        (dict(tls=True, tls_verify="maybe"), "tls_verify"),
        (dict(pipe_timeout=-1), "pipe_timeout"),
        (dict(port="x"), "port: expected"),
        (dict(rate=0), "rate=0"),
        (dict(unix_socket="/tmp/s", tls=True), "TLS needs a TCP connection"),
    ],
)
def test_bad_options_raise_config_errors(options, message):
    with pytest.raises(rload.ConfigError, match=message):
        rload.load([("PING",)], **options)


def test_failures_before_sending_raise(server):
    with pytest.raises(rload.ConnectError, match="could not connect"):
        rload.load([("PING",)], port=1, connect_timeout=2)
    with pytest.raises(TypeError, match="command 1 is a str"):
        rload.load([("PING",), "SET a b"], url=server.url)
    with pytest.raises(TypeError, match="argument 2 is a bool"):
        rload.load([("SET", "a", True)], url=server.url)
    with pytest.raises(rload.ConfigError, match="types"):
        rload.dump(url=server.url, types=["tree"])


def test_passwords_never_show(monkeypatch, _servers):
    secret = "hunter2-secret"
    s = Server("--requirepass", secret)
    _servers.append(s)
    for options in (dict(url=f"redis://:wrong-{secret}@127.0.0.1:{s.port}"), dict(port=s.port, password="wrong-" + secret)):
        with pytest.raises(rload.ConnectError) as e:
            rload.load([("PING",)], **options)
        text = "".join(traceback.format_exception(e.type, e.value, e.tb))
        assert secret not in text and "AUTH" in str(e.value) or "WRONGPASS" in str(e.value)
    with pytest.raises(rload.ConfigError) as e:
        rload.load([], url=f"redis://u:{secret}@h:port")
    assert secret not in str(e.value)
    w = rload.Writer(url=f"redis://:{secret}@127.0.0.1:{s.port}")
    assert secret not in repr(w)
    assert w.close().ok
    monkeypatch.setenv("REDISCLI_AUTH", secret)
    assert rload.load([("SET", "a", "1")], port=s.port).ok


def test_cluster_load_dump_and_flush(cluster):
    s = rload.load(((f"SET", f"k{i}", i) for i in range(5000)), url=cluster.url, cluster=True)
    assert s.ok and s.acknowledged == 5000 and len(s.nodes) == 3
    assert cluster.dbsize() == 5000
    keys = list(rload.dump(url=cluster.url, cluster=True, scan=True))
    assert len(keys) == 5000
    w = rload.Writer(url=cluster.url, cluster=True)
    for i in range(1000):
        w.send("RPUSH", f"l{i % 7}", i)
    w.send("MSET", "a", 1, "b", 2)
    s = w.flush()
    assert s.acknowledged == 1001 and [e.index for e in s.errors] == [1000]
    assert "CROSSSLOT" in s.errors[0].reply
    w.close()


def test_load_options_of_the_binary(server):
    # Enough commands after the errors that their replies come back long
    # before the input is all sent (5,000 were sent whole first at times).
    n = 300_000
    commands = [("SET", "a", 1), ("INCR", "a", "x"), ("INCR", "a", "y")]
    s = rload.load(commands + [("SET", f"k{i}", i) for i in range(n)], url=server.url, max_errors=1)
    assert s.stop == "max_errors" and "max-errors" in s.stop_message and not s.all_sent
    assert s.resume_from < n + 3
    s = rload.load([("SET", f"r{i}", i) for i in range(100)], url=server.url, resp3=True, rate=1000,
                   reconnect=2, pipe_timeout=10, connect_timeout=5, db=3)
    assert s.ok and s.elapsed >= 0.05
    import redis

    assert redis.Redis(port=server.port, db=3).dbsize() == 100
    assert rload.load([("DBSIZE",)], url=server.url + "/3").ok
    assert [k["db"] for k in rload.dump(url=server.url, match="r1")] == [3]
    assert len(list(rload.dump(url=server.url, db=3, match="r*"))) == 100


def test_tls(tmp_path, _servers):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    from conftest import free_port

    tls_port = free_port()
    s = Server("--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
               "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no")
    _servers.append(s)
    url = f"rediss://127.0.0.1:{tls_port}"
    assert rload.load([("SET", "secure", 1)], url=url, tls_ca_cert=str(cert)).ok
    assert rload.load([("SET", "sni", 1)], url=url, tls_ca_cert=str(cert), tls_sni="localhost").ok
    with pytest.raises(rload.ConnectError):
        rload.load([("PING",)], url=url, connect_timeout=5)  # the system's CAs do not know it
    assert rload.load([("PING",)], url=url, tls_verify="none").ok
    assert [k["key"] for k in rload.dump(url=url, tls_ca_cert=str(cert), match="secure")] == [b"secure"]
