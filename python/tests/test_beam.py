"""rload.beam against real servers, on Beam's DirectRunner."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

beam = pytest.importorskip("apache_beam")

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions  # noqa: E402
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner  # noqa: E402
from apache_beam.testing.test_stream import TestStream as Stream  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

import rload  # noqa: E402
from rload.beam import ReadFromRedis, WriteToRedis  # noqa: E402

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
sys.path.insert(0, EXAMPLES)


def test_the_seed_example_reads_text_writes_redis_and_text(server, tmp_path):
    import beam_text_to_redis

    lines = [f"line number {i}" for i in range(500)]
    (tmp_path / "input.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    beam_text_to_redis.run(["--input", str(tmp_path / "input.txt"), "--output", str(out), "--redis-url", server.url])
    r = server.client()
    assert r.dbsize() == 500
    assert r.get("line number 7") == b"LINE NUMBER 7"
    written = sorted(
        line for f in tmp_path.iterdir() if f.name.startswith("out") for line in f.read_text().splitlines()
    )
    assert written == sorted(f"{line}\t{line.upper()}" for line in lines)


def test_methods_of_java_redisio_with_expiry_and_streams(server):
    r = server.client()
    r.set("n", 10)
    with beam.Pipeline() as p:
        kv = p | "kv" >> beam.Create([("a", "1"), ("b", "2")])
        kv | "set" >> WriteToRedis(server.url, method="SET", expire_ms=60000)
        (p | "lists" >> beam.Create([("l", "x"), ("l", ["y", "z"])])
           | "rpush" >> WriteToRedis(server.url, method="RPUSH", expire_ms=60000))
        p | "incr" >> beam.Create([("n", 5)]) | "incrby" >> WriteToRedis(server.url, method="INCRBY")
        (p | "events" >> beam.Create([("st", {"f": str(i)}) for i in range(50)])
           | "xadd" >> WriteToRedis(server.url, method="XADD", max_len=10, approximate_trim=False))
    assert r.get("a") == b"1" and 0 < r.pttl("a") <= 60000
    assert r.lrange("l", 0, -1) in ([b"x", b"y", b"z"], [b"y", b"z", b"x"]) and r.pttl("l") > 0
    assert r.get("n") == b"15"
    assert r.xlen("st") == 10


def test_records_with_templates_and_metrics(server):
    from apache_beam.metrics.metric import MetricsFilter

    server.client().set("user:7", "a string")
    p = beam.Pipeline()
    out = (p | beam.Create([{"id": i, "name": f"n{i}"} for i in range(100)])
             | WriteToRedis(server.url, templates=["HSET user:{id} {*}"], dead_letter=True))
    assert_that(out.failed | beam.MapTuple(lambda record, reply: record["id"]), equal_to([7]))
    result = p.run()
    result.wait_until_finish()
    assert server.client().hget("user:42", "name") == b"n42"
    counters = result.metrics().query(MetricsFilter().with_namespace("rload"))["counters"]
    totals: dict = {}
    for c in counters:
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + c.committed
    assert totals == {"commands": 100, "replies": 100, "errors": 1}, totals


def test_dead_letter_output_on_wrongtype(server):
    r = server.client()
    r.set("taken", "a string")
    elements = [("free", "x"), ("taken", "y"), ("other", "z")]
    with beam.Pipeline() as p:
        out = p | beam.Create(elements) | WriteToRedis(server.url, method="LPUSH", dead_letter=True)
        assert_that(out.written, equal_to([("free", "x"), ("other", "z")]), label="written")
        failed = out.failed | beam.MapTuple(lambda e, reply: (e, reply.split()[0]))
        assert_that(failed, equal_to([(("taken", "y"), "WRONGTYPE")]), label="failed")
    assert r.lrange("free", 0, -1) == [b"x"]


def test_an_error_reply_fails_the_pipeline_naming_element_and_reply(server):
    server.client().set("taken", "a string")
    with pytest.raises(Exception, match=r"Redis refused element \('taken', 'y'\): WRONGTYPE"):
        with beam.Pipeline() as p:
            p | beam.Create([("taken", "y")]) | WriteToRedis(server.url, method="SADD")


def test_bad_options_fail_when_the_pipeline_is_built():
    with pytest.raises(rload.ConfigError, match="method"):
        WriteToRedis("redis://h", method="HSET")
    with pytest.raises(rload.ConfigError, match="unknown option"):
        WriteToRedis("redis://h", nope=1)
    with pytest.raises(rload.ConfigError, match="expire_ms"):
        WriteToRedis("redis://h", expire_ms=5)


def _kill_clients_when(server, at_least: int, killed: list):
    r = server.client()
    deadline = time.time() + 60
    while time.time() < deadline:
        if r.dbsize() >= at_least:
            killed.append(r.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"))
            return
        time.sleep(0.002)


def test_a_bundle_whose_connection_is_killed_is_retried_to_the_same_dataset(server, server2):
    n = 60000
    commands = [("SET", f"k{i}", f"v{i}") for i in range(n)]
    assert rload.load(commands, url=server2.url).ok
    killed: list = []
    watcher = threading.Thread(target=_kill_clients_when, args=(server, n // 5, killed))
    watcher.start()
    # The bundle-based DirectRunner retries a failed bundle (up to 4 times).
    with beam.Pipeline(runner=BundleBasedDirectRunner()) as p:
        p | beam.Create(commands) | WriteToRedis(server.url)
    watcher.join()
    assert killed and killed[0] >= 1, "the connection was not killed mid-bundle"
    assert server.client().dbsize() == n
    assert server.digest() == server2.digest()


def test_multi_process_direct_runner_writes(server):
    options = PipelineOptions(direct_num_workers=2, direct_running_mode="multi_processing")
    with beam.Pipeline(options=options) as p:
        (p | beam.Create(list(range(20000)))
           | beam.Reshuffle()
           | beam.Map(lambda i: ("SET", f"mp:{i}", i))
           | WriteToRedis(server.url))
    assert server.client().dbsize() == 20000


def test_streaming_write(server):
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    stream = (Stream()
              .add_elements([("HSET", "h", f"f{i}", i) for i in range(100)])
              .advance_watermark_to(10)
              .add_elements([("HSET", "h", f"g{i}", i) for i in range(100)])
              .advance_watermark_to_infinity())
    with beam.Pipeline(options=options) as p:
        p | stream | WriteToRedis(server.url)
    assert server.client().hlen("h") == 200


def test_read_a_cluster_in_parallel_splits_and_write_another_server(cluster, server):
    from test_load import every_type

    for i, prefix in enumerate([b"", b"{a}", b"{b}"]):
        rload.load(every_type(prefix), url=cluster.url, cluster=True).check()
    rload.load((("SET", f"k{i}", i) for i in range(3000)), url=cluster.url, cluster=True).check()
    total = cluster.dbsize()
    with beam.Pipeline() as p:
        keys = p | ReadFromRedis(cluster.url, cluster=True, splits=8)
        assert_that(keys | beam.combiners.Count.Globally(), equal_to([total]))
        keys | beam.FlatMap(rload.key_commands) | WriteToRedis(server.url)
    assert server.client().dbsize() == total
    assert server.client().lrange(b"{a}big", 0, 2) == [b"0", b"1", b"2"]


def _scan_calls(server) -> int:
    return server.client().info("commandstats").get("cmdstat_scan", {}).get("calls", 0)


def test_read_one_server_in_parallel_splits_each_key_once_each_part_its_share(server):
    from test_load import every_type

    n = 40_000
    rload.load(every_type(), url=server.url).check()
    rload.load((("SET", f"k{i}", i) for i in range(n)), url=server.url).check()
    total = server.client().dbsize()
    r = server.client()
    r.config_resetstat()
    assert sum(1 for _ in rload.dump(url=server.url, scan=True)) == total
    whole = _scan_calls(server)
    r.config_resetstat()
    with beam.Pipeline() as p:
        keys = p | ReadFromRedis(server.url, splits=4) | beam.Map(lambda k: k["key"])
        assert_that(keys | beam.combiners.Count.Globally(), equal_to([total]), label="all")
        twice = keys | beam.combiners.Count.PerElement() | beam.Filter(lambda kn: kn[1] > 1)
        assert_that(twice, equal_to([]), label="once each")
    # Each part scanned its own stretch of the table: about a whole scan's
    # calls between them, and a few more at each part's end (every part
    # scanning the whole keyspace would make 4 times as many).
    assert _scan_calls(server) <= whole + 4 * 15, (_scan_calls(server), whole)


def test_the_redis_to_redis_example(server, server2):
    import beam_redis_to_redis
    from test_load import every_type

    rload.load(every_type(), url=server.url).check()
    beam_redis_to_redis.run(["--source", server.url, "--target", server2.url, "--splits", "4"])
    assert server.digest() == server2.digest()


def test_write_a_cluster(cluster):
    with beam.Pipeline() as p:
        (p | beam.Create([(f"user:{i}", str(i)) for i in range(5000)])
           | WriteToRedis(cluster.url, cluster=True, method="SET"))
    assert cluster.dbsize() == 5000


def test_coalesced_writes_name_every_element_a_merged_error_answers(server):
    server.client().set("taken", "a string")
    elements = [("list", str(i)) for i in range(100)] + [("taken", "a"), ("taken", "b")]
    with beam.Pipeline() as p:
        out = p | beam.Create(elements) | WriteToRedis(server.url, method="RPUSH", coalesce=True, dead_letter=True)
        failed = out.failed | beam.MapTuple(lambda e, reply: e)
        assert_that(failed, equal_to([("taken", "a"), ("taken", "b")]), label="failed")
        assert_that(out.written | beam.combiners.Count.Globally(), equal_to([100]), label="written")
    assert server.client().llen("list") == 100


def test_dead_letters_across_barriers_inside_a_bundle(server):
    server.client().set("taken", "a string")
    elements = [("taken" if i % 1000 == 999 else f"l{i % 10}", str(i)) for i in range(5000)]
    with beam.Pipeline() as p:
        out = p | beam.Create(elements) | WriteToRedis(server.url, method="RPUSH", dead_letter=True, flush_every=600)
        failed = out.failed | beam.MapTuple(lambda e, reply: e[1])
        assert_that(failed, equal_to([str(i) for i in range(999, 5000, 1000)]), label="failed")
        assert_that(out.written | beam.combiners.Count.Globally(), equal_to([4995]), label="written")
    assert sum(server.client().llen(f"l{i}") for i in range(10)) == 4995


class _InWindow(beam.DoFn):
    """An element and the start of its window."""

    def process(self, element, window=beam.DoFn.WindowParam):
        yield element, int(window.start)


def test_dead_letters_of_a_streaming_write_in_two_windows(server):
    from apache_beam.transforms.window import FixedWindows, TimestampedValue

    server.client().set("taken", "a string")
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    stream = (Stream()
              .add_elements([TimestampedValue(e, t) for e, t in
                             [(("l1", "a"), 1), (("taken", "x"), 2), (("l1", "b"), 3)]])
              .advance_watermark_to(10)
              .add_elements([TimestampedValue(e, t) for e, t in [(("l2", "c"), 11), (("taken", "y"), 12)]])
              .advance_watermark_to_infinity())
    with beam.Pipeline(options=options) as p:
        out = (p | stream
                 | beam.WindowInto(FixedWindows(10))
                 | WriteToRedis(server.url, method="RPUSH", dead_letter=True))
        failed = (out.failed
                  | "failed's windows" >> beam.ParDo(_InWindow())
                  | beam.MapTuple(lambda er, start: (tuple(er[0]), er[1].split()[0], start)))
        assert_that(failed, equal_to([(("taken", "x"), "WRONGTYPE", 0), (("taken", "y"), "WRONGTYPE", 10)]),
                    label="failed")
        written = (out.written
                   | "written's windows" >> beam.ParDo(_InWindow())
                   | beam.MapTuple(lambda e, start: (tuple(e), start)))
        assert_that(written, equal_to([(("l1", "a"), 0), (("l1", "b"), 0), (("l2", "c"), 10)]), label="written")
    r = server.client()
    assert r.lrange("l1", 0, -1) == [b"a", b"b"] and r.lrange("l2", 0, -1) == [b"c"]


def test_a_write_emits_its_elements_only_when_asked(server):
    elements = [("SET", f"e{i}", i) for i in range(50)]
    with beam.Pipeline() as p:
        silent = p | "silent" >> beam.Create(elements) | "w1" >> WriteToRedis(server.url)
        assert_that(silent, equal_to([]), label="nothing")
        loud = p | "loud" >> beam.Create(elements) | "w2" >> WriteToRedis(server.url, emit=True)
        assert_that(loud, equal_to(elements), label="each")
    assert server.client().dbsize() == 50
