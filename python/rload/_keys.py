"""A dumped key (the shape :func:`rload.dump` gives) as the commands that
rebuild it, as ``rload --dump`` writes them: ``DEL`` first (a string's
``SET`` replaces any type), the value in commands of at most 1,000
elements, then the expiry as an absolute time."""

from __future__ import annotations

from typing import Any, Iterator, List, Sequence

#: Elements per command: a big key rebuilt in commands of this many.
CHUNK = 1000

Command = Sequence[Any]


def _chunks(items: List[Any], n: int = CHUNK) -> Iterator[List[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def key_commands(key: dict) -> List[Command]:
    """The commands that rebuild ``key`` (a dict from :func:`rload.dump`)."""
    name, kind, value = key["key"], key["type"], key["value"]
    out: List[Command] = []
    expire = key.get("expire_at_ms")
    if kind == "string":
        if expire is not None:
            return [("SET", name, value, "PXAT", expire)]
        return [("SET", name, value)]
    out.append(("DEL", name))
    if kind == "list":
        for part in _chunks(value):
            out.append(("RPUSH", name, *part))
    elif kind == "set":
        for part in _chunks(value):
            out.append(("SADD", name, *part))
    elif kind == "hash":
        for part in _chunks(value):
            out.append(("HSET", name, *[x for pair in part for x in pair]))
    elif kind == "zset":
        for part in _chunks(value):
            args: List[Any] = []
            for member, score in part:
                args += [score, member]
            out.append(("ZADD", name, *args))
    elif kind == "stream":
        for entry_id, fields in value["entries"]:
            flat = [x for pair in fields for x in pair]
            out.append(("XADD", name, entry_id, *flat))
        if not value["entries"]:
            # An empty stream exists only once XADD made it.
            out.append(("XADD", name, "MAXLEN", "0", "0-1", "x", "y"))
        out.append(("XSETID", name, value["last_id"]))
        for group in value.get("groups", []):
            out.append(("XGROUP", "CREATE", name, group["name"], group["last_delivered_id"]))
    else:
        raise ValueError(f"key {name!r}: unknown type {kind!r}")
    # A hash's fields that expire (Redis 7.4), those of one time together.
    by_time: dict = {}
    for field, at in key.get("field_expire_at_ms", ()):
        by_time.setdefault(at, []).append(field)
    for at, fields in sorted(by_time.items()):
        out.append(("HPEXPIREAT", name, at, "FIELDS", len(fields), *fields))
    if expire is not None:
        out.append(("PEXPIREAT", name, expire))
    return out
