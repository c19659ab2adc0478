"""rload: bulk loading into Redis, with rload's Rust engine.

- :func:`load` loads an iterable of commands and gives a :class:`Summary`;
- :func:`load_records` loads dicts rendered by templates (``HSET user:{id} {*}``);
- :class:`Writer` sends commands one by one, with :meth:`Writer.flush`;
- :func:`dump` iterates over a server's keys as Python values;
- :mod:`rload.beam` has Apache Beam's ``WriteToRedis`` and ``ReadFromRedis``.

The connection options are the binary's flags: ``url`` (``redis://`` or
``rediss://``), ``host``, ``port``, ``unix_socket``, ``user``,
``password`` (else ``REDISCLI_AUTH``), ``db``, ``resp3``, ``tls``,
``tls_ca_cert``, ``tls_ca_cert_dir``, ``tls_cert``, ``tls_key``,
``tls_sni``, ``tls_verify`` (``"full"``, ``"ca"``, ``"none"``),
``cluster``, ``connect_timeout``, ``pipe_timeout``, ``wait``,
``reconnect``, ``max_errors``, ``skip_invalid``, ``coalesce``, ``rate``,
``resume_from``. See docs/python.md.
"""

from __future__ import annotations

from rload._rload import (
    CommandError,
    ConfigError,
    ConnectError,
    DumpError,
    Error,
    InputError,
    KeyIterator,
    LoadError,
    Summary,
    Writer,
    __version__,
    dump,
    load,
    load_records,
)
from rload._keys import key_commands

__all__ = [
    "CommandError",
    "ConfigError",
    "ConnectError",
    "DumpError",
    "Error",
    "InputError",
    "KeyIterator",
    "LoadError",
    "Summary",
    "Writer",
    "__version__",
    "dump",
    "key_commands",
    "load",
    "load_records",
]
