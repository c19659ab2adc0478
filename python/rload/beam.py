"""Apache Beam transforms on rload's engine: :class:`WriteToRedis` and
:class:`ReadFromRedis`.

``WriteToRedis`` is a sink modelled on Beam's own ``mongodbio``: a
connection per worker (opened in ``setup``), commands streamed to the
server as elements arrive, and ``finish_bundle`` returning only once the
server has acknowledged every command of the bundle, so that a bundle
commits only after Redis has it. Like Beam's own sinks it emits nothing,
unless ``emit=True`` (each element goes on downstream, in the bundle, so
a pipeline can go on after the write, as the seed's does); error replies
either fail the bundle (Beam retries it) or, with ``dead_letter=True``,
go to the ``failed`` output as ``(element, reply)`` while the elements
Redis took are emitted on the main output once acknowledged.

``ReadFromRedis`` reads every type, as the dicts :func:`rload.dump`
gives, in ``splits`` parts read in parallel (``rload --dump --scan
--split I/N``): on one server, part ``I`` of ``N`` is a stretch of the
server's hash table, which it alone scans; in a cluster, the keys whose
hash slot is ``I`` modulo ``N``, on every master at once.

See docs/python.md for the semantics of retried bundles.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

import rload

__all__ = ["WriteToRedis", "ReadFromRedis", "METHODS", "FAILED"]

#: The tag of the dead-letter output.
FAILED = "failed"

#: Java RedisIO's write methods, plus XADD (its ``writeStreams``).
METHODS = ("SET", "APPEND", "LPUSH", "RPUSH", "SADD", "PFADD", "INCRBY", "DECRBY", "XADD")

#: Commands between barriers inside a bundle: errors are matched to their
#: elements, and elements emitted, this often, so memory stays flat in a
#: big bundle, and a barrier costs one round trip per this many commands.
FLUSH_EVERY = 50_000

#: Elements gathered in Python before they are handed to the engine in
#: one call (the GIL released once per batch).
BATCH = 2048


def _converter(method: Optional[str], expire_ms: Optional[int], max_len: Optional[int], approximate: bool):
    """How a batch of elements becomes its commands, and how many each
    element makes (the same number for every element, so a command's index
    names its element). Whole batches, in comprehensions: a call per
    element costs a pipeline more than the write itself."""
    if method is None:
        return None, 1
    if method == "XADD":
        trim: Tuple[Any, ...] = ()
        if max_len is not None:
            trim = ("MAXLEN", "~", max_len) if approximate else ("MAXLEN", max_len)

        def xadd(batch):
            return [
                ("XADD", key, *trim, "*",
                 *[x for pair in (fields.items() if isinstance(fields, dict) else fields) for x in pair])
                for key, fields in batch
            ]

        return xadd, 1
    if method == "SET" and expire_ms is not None:
        # As Java's RedisIO: PSETEX for SET with an expiry.
        def psetex(batch):
            return [("PSETEX", key, expire_ms, value) for key, value in batch]

        return psetex, 1

    def plain(batch):
        return [
            (method, key, *value) if isinstance(value, (list, tuple)) else (method, key, value)
            for key, value in batch
        ]

    if expire_ms is None:
        return plain, 1

    def expiring(batch):
        out = []
        for command in plain(batch):
            out.append(command)
            out.append(("PEXPIRE", command[1], expire_ms))
        return out

    return expiring, 2


class _WriteFn(beam.DoFn):
    """The sink: elements handed to the engine as they arrive, barriers
    every ``flush_every`` commands and at the end of the bundle."""

    def __init__(
        self, options: Dict[str, Any], method, templates, expire_ms, max_len, approximate, flush_every, emit=False
    ):
        self._options = options
        # Emitting costs a pipeline more than the write itself (Beam's
        # per-element output): only when asked.
        self._emit = emit
        self._templates = templates
        self._spec = (method, expire_ms, max_len, approximate)
        self._flush_every = flush_every
        self._writer: Optional[rload.Writer] = None
        self._commands = Metrics.counter("rload", "commands")
        self._replies = Metrics.counter("rload", "replies")
        self._errors = Metrics.counter("rload", "errors")

    # The engine's connection lives as long as the DoFn instance.
    def setup(self):
        self._convert, self._per_element = _converter(*self._spec)
        self._open()

    def _open(self):
        if self._writer is None:
            self._writer = rload.Writer(templates=self._templates, **self._options)
            self._answered = 0

    def start_bundle(self):
        self._open()
        # Elements since the last barrier (to name the one an error reply
        # answers), and commands gathered, not yet handed over.
        self._pending: List[Any] = []
        self._batch: List[Any] = []
        self._sent = self._writer.sent
        self._window_start = self._sent

    def process(self, element):
        batch = self._batch
        batch.append(element)
        if len(batch) >= BATCH and self._send():
            self._barrier()
        return (element,) if self._emit else ()

    def _held(self, batch: List[Any]) -> List[Any]:
        """What is kept of `batch`'s elements to name them in an error."""
        return batch

    def _send(self) -> bool:
        """Hands the batch over; whether a barrier is due."""
        batch = self._batch
        if not batch:
            return False
        self._batch = []
        self._pending.extend(self._held(batch))
        commands = batch if self._convert is None else self._convert(batch)
        try:
            self._writer.send_many(commands)
        except rload.Error:
            summary = self._writer.close()
            self._writer = None
            raise rload.LoadError(
                f"the write to Redis stopped: {summary.stop_message or 'closed'} "
                f"(acknowledged {summary.acknowledged} of {summary.sent}); Beam retries the bundle"
            )
        self._sent += len(commands)
        return self._sent - self._window_start >= self._flush_every

    def _barrier(self) -> Dict[int, str]:
        """Waits for every reply so far; gives the error replies by the
        position of their element among those pending."""
        self._send()
        summary = self._writer.flush()
        if summary.stop is not None:
            self._writer = None
            raise rload.LoadError(
                f"the write to Redis stopped: {summary.stop_message} "
                f"(acknowledged {summary.acknowledged} of {summary.sent}); Beam retries the bundle"
            )
        self._commands.inc(self._sent - self._window_start)
        self._replies.inc(summary.replies - self._answered)
        self._answered = summary.replies
        failed: Dict[int, str] = {}
        for e in summary.errors:
            if e.index >= self._window_start:
                failed.setdefault((e.index - self._window_start) // self._per_element, e.reply)
        if failed:
            self._errors.inc(len(failed))
        self._on_errors(failed)
        self._pending = []
        self._window_start = self._sent
        return failed

    def _on_errors(self, failed: Dict[int, str]):
        if failed:
            position, reply = min(failed.items())
            raise rload.LoadError(f"Redis refused element {self._pending[position]!r}: {reply}")

    def finish_bundle(self):
        self._barrier()

    def teardown(self):
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None


class _DeadLetterFn(_WriteFn):
    """The sink with a dead-letter output: each element is emitted once its
    commands are answered, on the main output or, refused, on ``failed``
    with the reply; so elements are held (as windowed values) until the
    next barrier."""

    def start_bundle(self):
        super().start_bundle()
        self._out: List[Any] = []
        # The windowed values of the batch's elements, to emit them.
        self._wvs: List[Any] = []

    def process(self, element, wv=beam.DoFn.WindowedValueParam):
        self._batch.append(element)
        self._wvs.append(wv)
        # Outputs are emitted from process only for an element in one
        # window (Beam repeats them per window otherwise); else they wait
        # for finish_bundle.
        if len(self._batch) >= BATCH and self._send() and len(wv.windows) == 1:
            self._barrier()
            out, self._out = self._out, []
            return out
        return ()

    def _held(self, batch: List[Any]) -> List[Any]:
        wvs, self._wvs = self._wvs, []
        return wvs

    def _on_errors(self, failed: Dict[int, str]):
        for position, wv in enumerate(self._pending):
            reply = failed.get(position)
            if reply is None:
                self._out.append(wv)
            else:
                self._out.append(TaggedOutput(FAILED, wv.with_value((wv.value, reply))))

    def finish_bundle(self):
        self._barrier()
        out, self._out = self._out, []
        return out


class WriteToRedis(beam.PTransform):
    """Writes each element to Redis, and emits it in the same bundle.

    Elements are commands (tuples such as ``("HSET", key, field, value)``),
    records (dicts, with ``templates=["HSET user:{id} {*}"]``), or, with
    ``method=``, ``(key, value)`` pairs written as Java's RedisIO writes
    them (``SET``, ``APPEND``, ``LPUSH``, ``RPUSH``, ``SADD``, ``PFADD``,
    ``INCRBY``, ``DECRBY``; ``expire_ms`` adds ``PSETEX``/``PEXPIRE``), or
    ``(key, {field: value})`` with ``method="XADD"`` (``max_len`` trims,
    approximately unless ``approximate_trim=False``).

    ``url`` and ``**options`` are :func:`rload.load`'s connection and load
    options (``cluster=True``, TLS, ``coalesce``, ``rate``...).

    With ``dead_letter=True`` the result is a tuple-like with outputs
    ``written`` (the main one) and ``failed`` (``(element, reply)``);
    otherwise an error reply fails the bundle, and the result is empty
    unless ``emit=True`` makes it the elements written.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        method: Optional[str] = None,
        templates: Optional[Sequence[str]] = None,
        expire_ms: Optional[int] = None,
        max_len: Optional[int] = None,
        approximate_trim: bool = True,
        dead_letter: bool = False,
        emit: bool = False,
        flush_every: int = FLUSH_EVERY,
        **options: Any,
    ):
        super().__init__()
        if method is not None:
            method = method.upper()
            if method not in METHODS:
                raise rload.ConfigError(f"method={method!r}: give one of {', '.join(METHODS)}")
            if templates is not None:
                raise rload.ConfigError("method= and templates= do not go together")
        if expire_ms is not None and (method is None or method == "XADD"):
            raise rload.ConfigError("expire_ms= goes with method= SET, APPEND, LPUSH, RPUSH, SADD, PFADD, INCRBY or DECRBY")
        if max_len is not None and method != "XADD":
            raise rload.ConfigError('max_len= goes with method="XADD"')
        if templates is not None:
            templates = list(templates)
        if url is not None:
            options["url"] = url
        # Fail at pipeline construction on a bad option, not on a worker.
        rload._rload._check_options(**options)
        fn = _DeadLetterFn if dead_letter else _WriteFn
        self._fn = fn(options, method, templates, expire_ms, max_len, approximate_trim, flush_every, emit)
        self._dead_letter = dead_letter

    def expand(self, pcoll):
        if self._dead_letter:
            return pcoll | beam.ParDo(self._fn).with_outputs(FAILED, main="written")
        return pcoll | beam.ParDo(self._fn)


def _read_part(part: Tuple[int, int], options: Dict[str, Any], match, types, decode) -> Iterable[dict]:
    index, count = part
    keys = rload.dump(match=match, types=types, split=(index, count), scan=True, decode=decode, **options)
    with keys:
        yield from keys


class ReadFromRedis(beam.PTransform):
    """Reads every key (of ``types``, matching ``match``) as a dict:
    ``{"key", "type", "value", "expire_at_ms"}`` (and ``"db"`` when
    several databases are read), the shape of ``rload --dump --format
    jsonl``, values as ``bytes`` (``decode=True``: ``str`` where valid
    UTF-8).

    The keyspace is read in ``splits`` parts, in parallel, each key by
    exactly one. On one server, part I is a stretch of the server's hash
    table (in ``SCAN``'s cursor order, which visits the buckets in the order
    of their reversed bits), and each part scans its own stretch only, so
    each reads about 1/``splits`` of the keys; a database too small to
    split that way (fewer than 8 keys per run of its table: 128 for 16
    parts, 32 for 4) is
    scanned whole by each part, which keeps the keys whose hash slot is I
    modulo ``splits``. In a cluster, part I is the slots I modulo
    ``splits``, on every master. The parts are spread over the workers by
    a ``Reshuffle``.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        *,
        match: str = "*",
        types: Optional[Sequence[str]] = None,
        splits: int = 16,
        decode: bool = False,
        **options: Any,
    ):
        super().__init__()
        if not 1 <= splits <= 16384:
            raise rload.ConfigError(f"splits={splits}: give 1 to 16384 parts")
        if url is not None:
            options["url"] = url
        rload._rload._check_options(**options)
        self._options = options
        self._match = match
        self._types = list(types) if types else None
        self._splits = splits
        self._decode = decode

    def expand(self, pbegin):
        options, match, types, decode = self._options, self._match, self._types, self._decode
        return (
            pbegin
            | "Parts" >> beam.Create([(i, self._splits) for i in range(self._splits)])
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(_read_part, options, match, types, decode)
        )
