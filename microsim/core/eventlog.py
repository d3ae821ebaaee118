"""The event log: every syscall and every kernel state change as a structured record.

Hot path: an event is a tuple appended to a list (`EventLog.buffer`). Nothing is rendered
there. Off the hot path, in batches (every `batch` events, at syscall boundaries, and at
`close()`), tuples become dicts named by the event kind's schema, pass through a structlog
processor chain, and go to the sinks: a JSON-lines file and/or an in-memory list.

Every record starts with the same five fields, in this order:

    kind  the event kind ("syscall", "object_created", "iob.region_mapped", ...)
    t     virtual time in nanoseconds
    sc    sequence number of the syscall during which it happened (0: none)
    pid   koid of the process in whose context it happened (0: kernel)
    tid   koid of the thread (0: none, e.g. a call made directly from Python)

followed by the kind's own fields (`CORE_EVENT_KINDS`; plugins add theirs through the
`register_event_kinds` hook). docs/trace-format.md documents every kind.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import io
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

import orjson
import structlog

TRACE_FORMAT_VERSION = 1

COMMON_FIELDS: tuple[str, ...] = ("kind", "t", "sc", "pid", "tid")

# kind -> names of the fields that follow the common ones.
CORE_EVENT_KINDS: dict[str, tuple[str, ...]] = {
    # First record of every trace.
    "trace_start": ("version", "seed", "plugins", "syscall_ns"),
    # One per syscall, written when it returns; `t` is its start, `dur` its length.
    "syscall": ("name", "args", "status", "result", "dur"),
    "object_created": ("koid", "type", "obj_type", "related_koid", "owner"),
    "object_destroyed": ("koid", "type"),
    # reason: create | duplicate | replace | transfer | startup
    "handle_created": ("handle", "koid", "rights", "reason"),
    # reason: close | replace | transfer | process_exit
    "handle_closed": ("handle", "koid", "reason"),
    "signal": ("koid", "old", "new"),
    "signal_strobe": ("koid", "signals"),
    "mapping_created": ("vmar", "addr", "len", "koid", "offset", "perms"),
    "mapping_destroyed": ("vmar", "addr", "len", "koid"),
    "thread_state": ("thread", "state", "detail"),
    # reason: exit | kill | exception | deadlock | shutdown
    "process_exit": ("process", "code", "reason"),
    # Every thread is blocked with no deadline: `blocked` lists each thread and its wait
    # ({"tid", "pid", "process", "thread", "wait"}).
    "deadlock": ("blocked",),
    # An object's name (ZX_PROP_NAME): at creation if it has one, and when it is set.
    "name": ("koid", "name"),
    # Pages of simulated memory committed kernel-wide, after each change.
    "pages": ("committed",),
    "fault": ("addr", "access", "status"),
    "trace_end": ("syscalls", "events"),
}

Event = tuple[Any, ...]
_KIND = operator.itemgetter(0)


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": len(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return repr(value)


def dumps(record: dict[str, Any]) -> bytes:
    """Serialise one record as a JSON line (keys in schema order, deterministic)."""
    return orjson.dumps(record, default=_json_default, option=orjson.OPT_APPEND_NEWLINE)


class EventLog:
    """Collects events cheaply and renders them in batches.

    `path`: a JSON-lines file to write (or an open binary stream); `capture`: keep the
    rendered dicts in `self.records` for tests; `processors`: structlog processors run on
    each record dict before the sinks (a processor may raise `structlog.DropEvent`).
    """

    def __init__(
        self,
        path: str | IO[bytes] | None = None,
        *,
        capture: bool = False,
        processors: Sequence[Callable[..., Any]] = (),
        batch: int = 4096,
    ) -> None:
        self.schemas: dict[str, tuple[str, ...]] = {
            k: COMMON_FIELDS + v for k, v in CORE_EVENT_KINDS.items()
        }
        self.buffer: list[Event] = []
        self.batch = batch
        self.records: list[dict[str, Any]] | None = [] if capture else None
        self.path = path if isinstance(path, str) else None
        self._own_file = isinstance(path, str)
        self._file: IO[bytes] | None
        if isinstance(path, str):
            self._file = open(path, "wb", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        else:
            self._file = path
        self.count = 0
        self.closed = False
        # structlog's processor chain. The file sink ends it with structlog's own
        # JSONRenderer (orjson as serializer); the capture sink takes the dict before it.
        self._processors = list(processors)
        self._renderer = structlog.processors.JSONRenderer(
            serializer=orjson.dumps, default=_json_default, option=orjson.OPT_APPEND_NEWLINE
        )
        self._logger = structlog.get_logger("microsim.trace")

    def add_kind(self, kind: str, fields: Iterable[str]) -> None:
        """Declare an event kind (plugins: "plugin.what") and its own fields."""
        self.schemas[kind] = COMMON_FIELDS + tuple(fields)

    def flush(self) -> None:
        """Render the buffered events through the processor chain to the sinks."""
        buf = self.buffer
        if not buf:
            return
        self.buffer = []
        # The records are short-lived and acyclic: the cyclic GC has nothing to find
        # among them, so it is paused while a batch renders.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._render(buf)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _render(self, buf: list[Event]) -> None:
        self.count += len(buf)
        schemas = self.schemas
        processors = self._processors
        records = self.records
        out = self._file
        render = self._renderer
        logger = self._logger
        dicts = map(dict, map(zip, map(schemas.__getitem__, map(_KIND, buf)), buf))
        if not processors and records is None and out is not None:
            # The common case, a file and structlog's JSONRenderer alone: the loop runs
            # in C (map/writelines); the only Python frame per record is the renderer's.
            out.writelines(map(functools.partial(render, logger, "info"), dicts))  # type: ignore[arg-type]
            return
        write = out.write if out is not None else None
        for record in dicts:
            if processors:
                try:
                    for proc in processors:
                        record = proc(logger, "info", record)
                except structlog.DropEvent:
                    continue
            if records is not None:
                records.append(record)
            if write is not None:
                write(render(logger, "info", record))  # type: ignore[arg-type]

    def close(self) -> None:
        """Flush and close the file sink (idempotent)."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        if self._file is not None:
            self._file.flush()
            if self._own_file:
                self._file.close()


def render_lines(records: Iterable[dict[str, Any]]) -> bytes:
    """Render record dicts as JSON lines (used by tools that rewrite traces)."""
    buf = io.BytesIO()
    for record in records:
        buf.write(dumps(record))
    return buf.getvalue()
