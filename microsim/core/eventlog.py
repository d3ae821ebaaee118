"""The event log: every syscall and every kernel state change as a structured record.

Hot path: an event is a flat tuple appended to a list (`EventLog.buffer`): the kind, the
five common fields, then the kind's own fields in schema order. No dict, no name, nothing
rendered there. A syscall's arguments are its positional values as they were passed; their
names belong to the syscall's schema, written once in the trace header.

Off the hot path, in batches (every `batch` events, whoever added them, and at `close()`),
the whole batch is rendered by ONE `orjson.dumps` call into trace-format version 2: one JSON
array per line, `[kind, t, sc, pid, tid, field...]`. The first line (`trace_start`) is a JSON
object, the header: it names every kind's fields (`kinds`) and every syscall's arguments
(`syscalls`), so a reader turns any later line back into a record with named fields
(`microsim.trace.records`, `microsim trace cat`). docs/trace-format.md documents it.

Rendering is total: a value orjson refuses (an integer beyond 64 bits, a lone surrogate,
nesting too deep, an odd object) is rendered as a string or a description instead of
breaking the batch.

Every record starts with the same five fields, in this order:

    kind  the event kind ("syscall", "object_created", "iob.region_mapped", ...)
    t     virtual time in nanoseconds
    sc    sequence number of the syscall during which it happened (0: none)
    pid   koid of the process in whose context it happened (0: kernel)
    tid   koid of the thread (0: none, e.g. a call made directly from Python)

followed by the kind's own fields (`CORE_EVENT_KINDS`; plugins add theirs through the
`register_event_kinds` hook).
"""

from __future__ import annotations

import bisect
import dataclasses
import gc
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, overload

import orjson
import structlog

TRACE_FORMAT_VERSION = 2
# The header's `did_not_return`: how this writer records a syscall that never returned (its
# thread was killed, deadlocked, or the kernel closed while it waited): status null and
# result {"unwound": why}. Earlier version-2 writers said nothing and wrote status 0; readers
# then find such calls from the thread_state records.
DID_NOT_RETURN = "status null"

COMMON_FIELDS: tuple[str, ...] = ("kind", "t", "sc", "pid", "tid")

# kind -> names of the fields that follow the common ones.
CORE_EVENT_KINDS: dict[str, tuple[str, ...]] = {
    # First record of every trace (the header; see `EventLog.header`).
    "trace_start": ("version", "seed", "plugins", "syscall_ns", "kinds", "syscalls"),
    # Kinds or syscalls declared after the header was written.
    "trace_kinds": ("kinds", "syscalls"),
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
    # The process's runtime took `handles` as its startup handles (itself, its root VMAR,
    # its job: what it keeps for its whole life, so its exit closing them is no leak).
    "startup_handles": ("process", "handles"),
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

# kind -> the fields whose values are koids (for `trace object KOID`, grep --koid, ...).
CORE_EVENT_OBJECTS: dict[str, tuple[str, ...]] = {
    "object_created": ("koid", "related_koid", "owner"),
    "object_destroyed": ("koid",),
    "handle_created": ("koid",),
    "handle_closed": ("koid",),
    "signal": ("koid",),
    "signal_strobe": ("koid",),
    "mapping_created": ("vmar", "koid"),
    "mapping_destroyed": ("vmar", "koid"),
    "thread_state": ("thread",),
    "process_exit": ("process",),
    "startup_handles": ("process",),
    "name": ("koid",),
}

Event = tuple[Any, ...]

# Beyond these, a captured list argument is summarised (see `freeze`).
LIST_LIMIT = 1024
DEPTH_LIMIT = 32
_I64_MIN = -(1 << 63)
_U64_MAX = (1 << 64) - 1
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_NL = orjson.Fragment(b"\n")
_SCALARS = frozenset({int, bool, str, float, type(None)})


# --------------------------------------------------------------------------- values
def describe(value: Any) -> str:
    """A deterministic short text for an object JSON cannot hold (no memory addresses)."""
    cls = type(value)
    if cls.__repr__ is object.__repr__:
        return f"<{cls.__name__}>"
    try:
        text = repr(value)
    except Exception:
        return f"<{cls.__name__}>"
    return _ADDRESS.sub("", text)[:200]


def freeze(value: Any, depth: int = 0) -> Any:
    """A trace-safe snapshot of an argument or result: JSON-ready, detached from the
    caller's mutable objects, bounded in size and depth, never raising.

    Buffers become `{"bytes": N}`; lists longer than `LIST_LIMIT` become
    `{"list": N, "head": [first 16]}`; integers beyond 64 bits become decimal strings;
    dataclasses become objects; anything else a short description.
    """
    t = type(value)
    if t is int:
        return value if _I64_MIN <= value <= _U64_MAX else str(value)
    if t is str or t is bool or t is float or value is None:
        return value
    if t is bytes or t is bytearray or t is memoryview:
        return {"bytes": len(value)}
    if depth >= DEPTH_LIMIT:
        return describe(value)
    if t is tuple or t is list:
        if len(value) > LIST_LIMIT:
            return {"list": len(value), "head": [freeze(v, depth + 1) for v in value[:16]]}
        return [freeze(v, depth + 1) for v in value]
    if t is dict:
        if len(value) > LIST_LIMIT:
            return {"dict": len(value)}
        return {_key(k): freeze(v, depth + 1) for k, v in value.items()}
    if isinstance(value, int):  # IntEnum, IntFlag ...
        return freeze(int(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": len(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        try:
            return {f.name: freeze(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
        except Exception:
            return describe(value)
    if isinstance(value, (set, frozenset)):
        items = [freeze(v, depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, str):
        return str(value)
    return describe(value)


def _key(k: Any) -> str:
    if type(k) is str:
        return _clean_str(k)
    return describe(k) if not isinstance(k, (int, float, bool)) and k is not None else str(k)


def _clean_str(s: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s


def sanitize(value: Any, depth: int = 0) -> Any:
    """Like `freeze`, and also fixes what orjson refuses inside strings (lone surrogates).
    Used when a batch fails to render, so any value still gets a line."""
    t = type(value)
    if t is str:
        return _clean_str(value)
    if t is int:
        return value if _I64_MIN <= value <= _U64_MAX else str(value)
    if t is float or t is bool or value is None:
        return value
    if depth >= DEPTH_LIMIT:
        return describe(value)
    if t is tuple or t is list:
        return [sanitize(v, depth + 1) for v in value]
    if t is dict:
        return {_key(k): sanitize(v, depth + 1) for k, v in value.items()}
    frozen = freeze(value, depth)
    if type(frozen) is str:
        return _clean_str(frozen)
    if type(frozen) is list or type(frozen) is dict:
        return sanitize(frozen, depth + 1)
    return frozen


def _json_default(value: Any) -> Any:
    """orjson's fallback for a type it does not know (called only for such values)."""
    return freeze(value)


def render_rows(rows: Sequence[Any]) -> bytes:
    """Render events (tuples, or dicts for self-describing records) as JSON lines.

    One `orjson.dumps` call for the whole batch: the rows are interleaved with a raw
    newline fragment, which JSON text can contain nowhere else, so the output splits
    into lines at those fragments. If the batch holds a value orjson refuses, each row is
    rendered alone and a failing row is sanitised: rendering never raises.
    """
    if not rows:
        return b""
    inter: list[Any] = [_NL] * (2 * len(rows))
    inter[::2] = rows
    try:
        data = orjson.dumps(inter, default=_json_default)
    except (TypeError, ValueError, RecursionError):
        return b"".join(_render_one(row) for row in rows)
    # split + join is several times faster than replace() here: the pattern ends in a
    # comma, the commonest byte of the text.
    lines = data[1:-3].split(b",\n,")
    lines.append(b"")
    return b"\n".join(lines)


def _render_one(row: Any) -> bytes:
    opt = orjson.OPT_APPEND_NEWLINE
    try:
        return orjson.dumps(row, default=_json_default, option=opt)
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        return orjson.dumps(sanitize(row), default=describe, option=opt)
    except (TypeError, ValueError, RecursionError):
        return orjson.dumps([describe(v) for v in row], option=opt)


# --------------------------------------------------------------------------- schema
class Schema:
    """Field names of every kind and argument names of every syscall: what turns a
    version-2 line back into a record with named fields."""

    def __init__(self) -> None:
        self.names: dict[str, tuple[str, ...]] = {}
        self.objects: dict[str, tuple[str, ...]] = {}
        self.syscalls: dict[str, tuple[str, ...]] = {}

    def add_kind(self, kind: str, fields: Iterable[str], objects: Iterable[str] = ()) -> None:
        """Declare `kind` with its own fields (after the common five)."""
        self.names[kind] = COMMON_FIELDS + tuple(fields)
        self.objects[kind] = tuple(objects)

    def update(self, header: dict[str, Any]) -> None:
        """Learn the kinds and syscalls of a `trace_start` or `trace_kinds` record."""
        for kind, spec in (header.get("kinds") or {}).items():
            if isinstance(spec, dict):
                self.add_kind(kind, spec.get("fields", ()), spec.get("objects", ()))
        for name, params in (header.get("syscalls") or {}).items():
            self.syscalls[name] = tuple(params)

    def kinds_map(self, kinds: Iterable[str] | None = None) -> dict[str, dict[str, list[str]]]:
        """`{kind: {"fields": [...], "objects": [...]}}` (fields after the common ones)."""
        return {
            k: {"fields": list(self.names[k][len(COMMON_FIELDS):]), "objects": list(self.objects.get(k, ()))}
            for k in (self.names if kinds is None else kinds)
        }

    def decode(self, row: Any) -> dict[str, Any]:
        """The record (a dict with named fields) of one parsed line."""
        if type(row) is dict:
            if row.get("kind") in ("trace_start", "trace_kinds"):
                self.update(row)
            return row
        kind = row[0]
        names = self.names.get(kind)
        if names is None:
            names = COMMON_FIELDS + tuple(f"field{i}" for i in range(len(row) - len(COMMON_FIELDS)))
        rec = dict(zip(names, row))
        n = len(names)
        if len(row) > n:
            extra = row[n]
            if type(extra) is dict:
                rec.update(extra)
        elif len(row) < n:
            for name in names[len(row):]:
                rec[name] = None
        if kind == "syscall":
            args = rec.get("args")
            if type(args) is list:
                params = self.syscalls.get(rec.get("name"), ())  # type: ignore[arg-type]
                named = dict(zip(params, args))
                if len(args) > len(params):
                    named["*extra"] = args[len(params):]
                rec["args"] = named
        return rec


# --------------------------------------------------------------------------- capture
class CapturedRecords(Sequence[dict[str, Any]]):
    """The records of a `capture=True` log, kept compactly as their rendered batches
    (about as many bytes per event as the file); indexing and iterating decode them
    into record dicts, the same as reading the file back."""

    def __init__(self, schema: Schema) -> None:
        self._schema = schema
        self._blobs: list[bytes] = []
        self._ends: list[int] = []
        self._cache: tuple[int, list[bytes]] | None = None

    def _add(self, blob: bytes, count: int) -> None:
        if count:
            self._blobs.append(blob)
            self._ends.append((self._ends[-1] if self._ends else 0) + count)

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def _lines(self, i: int) -> list[bytes]:
        if self._cache is None or self._cache[0] != i:
            self._cache = (i, self._blobs[i].splitlines())
        return self._cache[1]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        decode = self._schema.decode
        loads = orjson.loads
        for blob in self._blobs:
            for line in blob.splitlines():
                yield decode(loads(line))

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                out: list[dict[str, Any]] = []
                pos = start
                while pos < stop:
                    b = bisect.bisect_right(self._ends, pos)
                    first = self._ends[b - 1] if b else 0
                    lines = self._lines(b)[pos - first: stop - first]
                    out.extend(self._schema.decode(orjson.loads(line)) for line in lines)
                    pos += len(lines)
                return out
            return [self[i] for i in range(start, stop, step)]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("record index out of range")
        b = bisect.bisect_right(self._ends, index)
        first = self._ends[b - 1] if b else 0
        return self._schema.decode(orjson.loads(self._lines(b)[index - first]))

    def nbytes(self) -> int:
        """Bytes held by the captured batches."""
        return sum(len(b) for b in self._blobs)


# --------------------------------------------------------------------------- the log
class EventLog:
    """Collects events cheaply and renders them in batches.

    `path`: a trace file to write (or an open binary stream); `capture`: keep the records
    in `self.records` (compact; decoded on access) for tests; `processors`: structlog
    processors run on each record dict before the sinks (a processor may raise
    `structlog.DropEvent`, change fields or add some).
    """

    def __init__(
        self,
        path: str | IO[bytes] | None = None,
        *,
        capture: bool = False,
        processors: Sequence[Callable[..., Any]] = (),
        batch: int = 4096,
    ) -> None:
        self.schema = Schema()
        for kind, fields in CORE_EVENT_KINDS.items():
            self.schema.add_kind(kind, fields, CORE_EVENT_OBJECTS.get(kind, ()))
        # Kept for callers that read the schemas (kind -> all field names).
        self.schemas = self.schema.names
        # The buffer is one list for the log's life: hot paths may bind its `append`.
        self.buffer: list[Any] = []
        self.batch = batch
        self.records: CapturedRecords | None = CapturedRecords(self.schema) if capture else None
        self.path = path if isinstance(path, str) else None
        self._own_file = isinstance(path, str)
        self._file: IO[bytes] | None
        if isinstance(path, str):
            self._file = open(path, "wb", buffering=1 << 20)  # noqa: SIM115 - closed in close()
        else:
            self._file = path
        self.count = 0
        self.closed = False
        self.header_done = False
        self._late_kinds: list[str] = []
        self._late_syscalls: dict[str, tuple[str, ...]] = {}
        self._processors = list(processors)
        self._logger = structlog.get_logger("microsim.trace")

    # ------------------------------------------------------------------ schema
    def add_kind(self, kind: str, fields: Iterable[str], objects: Iterable[str] = ()) -> None:
        """Declare an event kind (plugins: "plugin.what"), its own fields, and which of
        them hold koids (`objects`)."""
        self.schema.add_kind(kind, fields, objects)
        if self.header_done:
            self._late_kinds.append(kind)
            self._announce()

    def declare_syscall(self, name: str, params: Sequence[str]) -> None:
        """Name a syscall's arguments (the trace records them by position)."""
        params = tuple(params)
        if self.schema.syscalls.get(name) == params:
            return
        self.schema.syscalls[name] = params
        if self.header_done:
            self._late_syscalls[name] = params
            self._announce()

    def _announce(self) -> None:
        rec = {"kind": "trace_kinds", "t": 0, "sc": 0, "pid": 0, "tid": 0,
               "kinds": self.schema.kinds_map(self._late_kinds),
               "syscalls": {k: list(v) for k, v in self._late_syscalls.items()}}
        self._late_kinds = []
        self._late_syscalls = {}
        self.buffer.append(rec)

    def header(self, row: Event) -> dict[str, Any]:
        """The `trace_start` record: the row's fields plus every kind and syscall known."""
        rec = dict(zip(self.schema.names["trace_start"], row))
        rec["did_not_return"] = DID_NOT_RETURN
        rec["kinds"] = self.schema.kinds_map()
        rec["syscalls"] = {k: list(v) for k, v in self.schema.syscalls.items()}
        return rec

    # ------------------------------------------------------------------ adding
    def add(self, row: Event) -> None:
        """Append one event row; flush when the batch is full."""
        buf = self.buffer
        buf.append(row)
        if len(buf) >= self.batch:
            self.flush()

    # ------------------------------------------------------------------ rendering
    def flush(self) -> None:
        """Render the buffered events through the processor chain to the sinks."""
        buf = self.buffer
        if not buf:
            return
        rows = buf[:]
        buf.clear()
        # The rows are short-lived and acyclic: the cyclic GC has nothing to find among
        # them, so it is paused while a batch renders.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._render(rows)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _render(self, rows: list[Any]) -> None:
        self.count += len(rows)
        if not self.header_done:
            # The header is the first line, even if events were made before the kernel
            # emitted its trace_start row (or if it never does).
            self.header_done = True
            start = next((i for i, r in enumerate(rows) if type(r) is tuple and r[0] == "trace_start"), None)
            if start is None:
                head = self.header(("trace_start", 0, 0, 0, 0, TRACE_FORMAT_VERSION))
            else:
                head = self.header(rows.pop(start))
            rows.insert(0, head)
            self.count += 1 if start is None else 0
        if self._processors:
            rows = self._process(rows)
        if self._file is None and self.records is None:
            return
        data = render_rows(rows)
        if self._file is not None:
            self._file.write(data)
        if self.records is not None:
            self.records._add(data, len(rows))

    def _process(self, rows: list[Any]) -> list[Any]:
        """Run the structlog processors on each record dict; back to rows after."""
        schema = self.schema
        logger = self._logger
        processors = self._processors
        out: list[Any] = []
        for row in rows:
            record = row if type(row) is dict else self.named(row)
            try:
                for proc in processors:
                    result = proc(logger, "info", record)
                    if isinstance(result, dict):  # a renderer's text is not a record: ignored
                        record = result
            except structlog.DropEvent:
                if type(row) is not dict:
                    continue  # the header and kind declarations cannot be dropped
            if type(row) is dict:
                out.append(record)
                continue
            names = schema.names.get(record.get("kind", row[0]), COMMON_FIELDS)
            new = [record.get(n) for n in names]
            extra = {k: v for k, v in record.items() if k not in names}
            if extra:
                new.append(extra)
            out.append(new)
        return out

    def named(self, row: Event) -> dict[str, Any]:
        """One buffered row as the documented record (named fields, named arguments)."""
        schema = self.schema
        names = schema.names.get(row[0], COMMON_FIELDS)
        rec = dict(zip(names, row))
        if row[0] == "syscall":
            args = rec.get("args")
            if type(args) is tuple:
                params = schema.syscalls.get(rec["name"], ())
                named = dict(zip(params, args))
                if len(args) > len(params):
                    named["*extra"] = list(args[len(params):])
                rec["args"] = named
        return rec

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
    """Render record dicts as JSON objects, one per line (`microsim trace cat`)."""
    return render_rows(list(records))
