"""Type stubs for rload's native module (the Rust engine's face)."""

from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

Arg = Union[str, bytes, bytearray, int, float]
Command = Sequence[Arg]

__version__: str

class Error(Exception):
    """Every failure rload raises."""

class ConfigError(Error):
    """An option is invalid (the binary's usage errors)."""

class ConnectError(Error):
    """The server could not be reached, logged in to, or selected."""

class InputError(Error):
    """A command or record is invalid."""

class LoadError(Error):
    """A load did not go through; ``summary`` has its account."""

    summary: "Summary"

class DumpError(Error):
    """A dump stopped before it read every key."""

class CommandError:
    """One command the server refused."""

    @property
    def index(self) -> int:
        """The command's (or record's) index among those sent, from 0."""
    @property
    def reply(self) -> str:
        """The error reply."""

class Summary:
    """What a load did: the binary's account."""

    @property
    def ok(self) -> bool:
        """No error reply, and the load was not stopped."""
    sent: int
    replies: int
    error_count: int
    errors: List[CommandError]
    errors_not_kept: int
    acknowledged: int
    resume_from: int
    all_sent: bool
    stop: Optional[str]
    stop_message: Optional[str]
    elapsed: float
    empty_spreads: int
    nodes: List[Tuple[str, int, int, int]]
    def check(self) -> None:
        """Raises :class:`LoadError` unless the load is ``ok``."""
    def to_dict(self) -> dict: ...

class Writer:
    """A load fed one command (or record) at a time."""

    def __init__(self, *, templates: Optional[Sequence[str]] = ..., **options: Any) -> None: ...
    def send(self, *args: Any) -> None:
        """Sends one command (``send("SET", "k", "v")``), or one record."""
    def send_many(self, items: Iterable[Any]) -> None:
        """Sends every command (or record) of ``items``."""
    @property
    def sent(self) -> int: ...
    def flush(self) -> Summary:
        """Returns once everything sent so far is answered, with the account so far."""
    def close(self) -> Summary:
        """Ends the load and gives the final account."""
    @property
    def summary(self) -> Optional[Summary]: ...
    def __enter__(self) -> "Writer": ...
    def __exit__(self, *exc: Any) -> bool: ...

class KeyIterator(Iterator[dict]):
    """The keys of a dump, as they are read."""

    keys_read: int
    nodes: List[str]
    def __iter__(self) -> "KeyIterator": ...
    def __next__(self) -> dict: ...
    def close(self) -> None: ...
    def __enter__(self) -> "KeyIterator": ...
    def __exit__(self, *exc: Any) -> bool: ...

def load(commands: Iterable[Command], /, **options: Any) -> Summary:
    """Loads ``commands`` and gives the account."""

def load_records(records: Iterable[Any], /, templates: Sequence[str], **options: Any) -> Summary:
    """Loads ``records`` (dicts), each rendered by ``templates``."""

def dump(
    *,
    match: Optional[str] = ...,
    types: Optional[Sequence[str]] = ...,
    split: Union[Tuple[int, int], str, None] = ...,
    cursor: Optional[str] = ...,
    scan: bool = ...,
    decode: bool = ...,
    **options: Any,
) -> KeyIterator:
    """The keys of a server or cluster, as dicts."""

def _check_options(**options: Any) -> None: ...
