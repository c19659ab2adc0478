"""What only a server newer than Debian's 7.0 has (hash field expiry is
Redis 7.4's): run when ``RLOAD_TEST_NEWER_REDIS`` names such a
``redis-server``, skipped otherwise."""

from __future__ import annotations

import os

import pytest

import rload
from conftest import Server

NEWER = os.environ.get("RLOAD_TEST_NEWER_REDIS")

pytestmark = pytest.mark.skipif(
    not NEWER, reason="RLOAD_TEST_NEWER_REDIS names no redis-server of 7.4 or later"
)

AT = 4102444800000


@pytest.mark.parametrize("scan", [False, True])
def test_a_hash_fields_expiry_goes_through_dump_and_key_commands(scan):
    source, target = Server(binary=NEWER), Server(binary=NEWER)
    try:
        c = source.client()
        c.hset("small", mapping={"a": "1", "b": "2", "c": "3"})
        c.execute_command("HPEXPIREAT", "small", AT, "FIELDS", 2, "a", "c")
        c.hset("big", mapping={f"f{i}": str(i) for i in range(2500)})
        c.execute_command("HPEXPIREAT", "big", AT + 1, "FIELDS", 2, "f0", "f2499")
        with rload.dump(url=source.url, scan=scan) as keys:
            got = {k["key"]: k for k in keys}
        assert sorted(got[b"small"]["field_expire_at_ms"]) == [(b"a", AT), (b"c", AT)]
        assert sorted(got[b"big"]["field_expire_at_ms"]) == [(b"f0", AT + 1), (b"f2499", AT + 1)]
        summary = rload.load((cmd for k in got.values() for cmd in rload.key_commands(k)), url=target.url)
        assert summary.ok and summary.error_count == 0
        t = target.client()
        assert t.execute_command("HPEXPIRETIME", "small", "FIELDS", 3, "a", "b", "c") == [AT, -1, AT]
        assert t.execute_command("HPEXPIRETIME", "big", "FIELDS", 3, "f0", "f1", "f2499") == [AT + 1, -1, AT + 1]
        assert t.hlen("big") == 2500
    finally:
        source.stop()
        target.stop()
