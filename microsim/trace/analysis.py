"""Reading a trace the way every tool must, and what the tools compute from it.

- `scan(path)`: the records of a trace, checked (first record `trace_start` of a known
  version, every field its kind declares present, a `trace_end` at the end) and with
  syscalls that never returned marked as such (`status` None, `result.unwound`).
  Problems raise `TraceError` with the line number; a missing `trace_end` is a warning.
- `Names`: koid -> name / type / owning process, from `object_created` and `name` events,
  and the labels every tool prints ("race [1024]", "race/bump0 [1029]").
- Decoders for people: status, signal and rights names, deadlines, sizes, handles.
- `leaks`, `object_life`, `diff`: the analyses behind `microsim trace leaks|object|diff`.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from microsim import zx
from microsim.core.eventlog import (
    COMMON_FIELDS,
    CORE_EVENT_KINDS,
    CORE_EVENT_OBJECTS,
    DID_NOT_RETURN,
    Schema,
)
from microsim.trace import SUPPORTED_VERSIONS, TraceError, records

# --------------------------------------------------------------------------- reading


class RecordError(TraceError):
    """A record that parses but breaks the format (a missing field, a bad header)."""


def _last_line_cut(path: str | IO[bytes], exc: TraceError) -> bool:
    """Whether the reader's error is about the file's last line, cut short (no newline)."""
    m = re.match(r"line (\d+):", str(exc))
    if m is None or not isinstance(path, str):
        return False
    try:
        with open(path, "rb") as f:
            lines = 0
            tail = b""
            while chunk := f.read(1 << 20):
                lines += chunk.count(b"\n")
                tail = chunk
    except OSError:
        return False
    return bool(tail) and not tail.endswith(b"\n") and int(m.group(1)) == lines + 1


@dataclass
class TraceInfo:
    """What a scan learnt about the file besides its records."""

    path: str = ""
    header: dict[str, Any] = field(default_factory=dict)
    complete: bool = False
    records: int = 0
    last_t: int = 0
    unreturned: int = 0
    cut_line: int = 0  # the last line, cut short mid-record (dropped)
    line: int = 0  # the line of the record being processed
    also: list[TraceInfo] = field(default_factory=list)  # other traces read (diff's B)

    @property
    def warnings(self) -> list[str]:
        """Warnings to print (the trace was cut short...)."""
        out = []
        if self.records and not self.complete:
            cut = f" (line {self.cut_line} is cut short)" if self.cut_line else ""
            out.append(f"{self.path}: no trace_end record: the trace is truncated{cut}, results are partial")
        for other in self.also:
            out += other.warnings
        return out

    def kinds(self) -> dict[str, dict[str, list[str]]]:
        """{kind: {"fields": [...], "objects": [...]}} from the header, else the core schema."""
        declared = self.header.get("kinds")
        if isinstance(declared, dict):
            return declared
        return {k: {"fields": [f for f in v if f not in _LATE_FIELDS.get(k, ())],
                    "objects": list(_CORE_OBJECTS.get(k, ()))}
                for k, v in CORE_EVENT_KINDS.items()}


# Which fields of the core kinds name koids (a v1 trace's header does not say).
_CORE_OBJECTS: dict[str, tuple[str, ...]] = {
    **CORE_EVENT_OBJECTS,
    # The built-in plugins' kinds, as version 1 wrote them.
    "vmo.child_created": ("koid", "child"),
    "vmo.zero_children": ("koid",),
    "iob.region_created": ("iob", "region_koid"),
    "iob.region_mapped": ("iob", "child"),
    "iob.region_unmapped": ("iob",),
    "iob.peer_closed": ("iob",),
    "iob.endpoint_destroyed": ("iob",),
    "iob.id_allocated": ("iob",),
    "iob.ring_write": ("iob",),
}


_I, _S = int, str
# The types of the fields of the core kinds (common fields: ints). A syscall's `args`,
# `status` (int or null) and `result` are checked apart; fields of plugin kinds are
# checked for presence, and for being ints where the kind declares them as koids.
_FIELD_TYPES: dict[str, dict[str, type]] = {
    "trace_start": {"version": _I, "seed": _I, "plugins": list, "syscall_ns": _I},
    "syscall": {"name": _S, "dur": _I},
    "object_created": {"koid": _I, "type": _S, "obj_type": _I, "related_koid": _I, "owner": _I},
    "object_destroyed": {"koid": _I, "type": _S},
    "handle_created": {"handle": _I, "koid": _I, "rights": _I, "reason": _S},
    "handle_closed": {"handle": _I, "koid": _I, "reason": _S},
    "signal": {"koid": _I, "old": _I, "new": _I},
    "signal_strobe": {"koid": _I, "signals": _I},
    "mapping_created": {"vmar": _I, "addr": _I, "len": _I, "koid": _I, "offset": _I, "perms": _I},
    "mapping_destroyed": {"vmar": _I, "addr": _I, "len": _I, "koid": _I},
    "thread_state": {"thread": _I, "state": _S, "detail": _S},
    "process_exit": {"process": _I, "code": _I, "reason": _S},
    "deadlock": {"blocked": list},
    "name": {"koid": _I, "name": _S},
    "pages": {"committed": _I},
    "fault": {"addr": _I, "access": _S, "status": _I},
    "trace_end": {"syscalls": _I, "events": _I},
}
_CHECKED_APART = {"syscall": frozenset({"args", "status", "result"})}
_COMMON_FIELD_NAMES = ("t", "sc", "pid", "tid")
_ABSENT = object()
_ARGS_TYPES = (dict, list, type(None))
# Fields added to a core kind after version 1 first shipped (optional in a v1 trace
# whose header does not list its kinds).
_LATE_FIELDS = {"process_exit": ("reason",), "trace_start": ("kinds", "syscalls")}

Check = tuple[Callable[[dict[str, Any]], Any], tuple[type, ...], tuple[str, ...], "frozenset[str] | None"]


def _checks(info: TraceInfo) -> dict[str, Check]:
    """kind -> (getter of its typed fields, their types, their names, the other fields it
    must have or None)."""
    objs = object_fields(info)
    out: dict[str, Check] = {}
    for kind, decl in info.kinds().items():
        fields = [f for f in decl.get("fields", ()) if isinstance(f, str)]
        types = _FIELD_TYPES.get(kind) or dict.fromkeys(objs.get(kind, ()), int)
        typed = list(_COMMON_FIELD_NAMES) + [f for f in fields if f in types]
        loose = frozenset(fields) - set(typed) - _CHECKED_APART.get(kind, frozenset())
        expected = tuple(int if f in _COMMON_FIELD_NAMES else types[f] for f in typed)
        out[kind] = (operator.itemgetter(*typed), expected, tuple(typed), loose or None)
    return out


def _syscall_error(n: int, rec: dict[str, Any]) -> RecordError:
    for f in ("args", "status", "result"):
        if f not in rec:
            return RecordError(f"line {n}: malformed syscall record: no {f!r} field")
    if type(rec["args"]) not in _ARGS_TYPES:
        return RecordError(f"line {n}: malformed syscall record: args is {type(rec['args']).__name__}")
    return RecordError(f"line {n}: malformed syscall record: status is {type(rec['status']).__name__}, "
                       f"not int or null")


def _check_error(n: int, kind: Any, rec: dict[str, Any], expected: tuple[type, ...],
                 names: tuple[str, ...]) -> RecordError:
    for name, want in zip(names, expected):
        if name not in rec:
            return RecordError(f"line {n}: malformed {kind} record: no {name!r} field")
        if type(rec[name]) is not want:
            return RecordError(f"line {n}: malformed {kind} record: {name} is {type(rec[name]).__name__}, "
                               f"not {want.__name__}")
    return RecordError(f"line {n}: malformed {kind} record")


def object_fields(info: TraceInfo) -> dict[str, tuple[str, ...]]:
    """kind -> the fields whose values are koids (header `objects`, else known kinds)."""
    out = dict(_CORE_OBJECTS)
    for kind, decl in info.kinds().items():
        objs = decl.get("objects") if isinstance(decl, dict) else None
        if objs:
            out[kind] = tuple(objs)
    return out


def scan(path: str | IO[bytes], info: TraceInfo | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, record) for every record, checked; fills `info` as it goes.

    Raises TraceError for an empty file, a first record that is not `trace_start`, an
    unknown version, a line that is not a record, or a record missing a field its kind
    declares. A syscall that never returned (status null, or, in a trace written before
    the format said so, a thread that blocked in it and was never woken) comes out with
    `status` None and `result` {"unwound": why}.
    """
    if info is None:
        info = TraceInfo()
    info.path = path if isinstance(path, str) else getattr(path, "name", "<trace>")
    default_check: Check = (operator.itemgetter(*_COMMON_FIELD_NAMES), (int,) * len(_COMMON_FIELD_NAMES),
                            _COMMON_FIELD_NAMES, None)
    checks: dict[str, Check] = {}
    blocked: dict[int, tuple[int, str]] = {}  # tid -> (sc of the syscall it blocked in, on what)
    ends = _ProcessEnds()
    count = 0
    last_t = 0
    it = records(path)
    try:
        for n, rec in it:
            if rec.get("kind") != "trace_start":
                raise RecordError(f"line {n}: not a microsim trace (first record is {rec.get('kind')!r}, "
                                  f"not trace_start)")
            if rec.get("version") not in SUPPORTED_VERSIONS:
                raise RecordError(f"line {n}: unsupported trace version {rec.get('version')!r} "
                                  f"(this reader knows {', '.join(map(str, SUPPORTED_VERSIONS))})")
            info.header = rec
            checks = _checks(info)
            it = itertools.chain([(n, rec)], it)
            break
        # A writer that records calls that never returned with status null (the header
        # says so): a status it wrote is the call's.
        statuses_as_written = info.header.get("did_not_return") == DID_NOT_RETURN
        for n, rec in it:
            count += 1
            kind = rec["kind"]
            try:
                getter, expected, fnames, loose = checks[kind]
            except (KeyError, TypeError):
                if type(kind) is not str:
                    raise RecordError(f"line {n}: the record's kind is not a string") from None
                getter, expected, fnames, loose = default_check
            try:
                values = getter(rec)
            except KeyError:
                raise _check_error(n, kind, rec, expected, fnames) from None
            if tuple(map(type, values)) != expected:
                raise _check_error(n, kind, rec, expected, fnames)
            if loose is not None and not rec.keys() >= loose:
                raise RecordError(f"line {n}: malformed {kind} record: no {sorted(loose - rec.keys())[0]!r} field")
            last_t = values[0]
            info.line = n
            if kind in _SPECIAL_KINDS:
                if kind == "syscall":
                    st = rec.get("status", _ABSENT)
                    if (st is not None and type(st) is not int) or type(rec.get("args", _ABSENT)) not in _ARGS_TYPES \
                            or "result" not in rec:
                        raise _syscall_error(n, rec)
                    if blocked:
                        b = blocked.pop(rec["tid"], None)
                        if b is not None and b[0] == rec["sc"]:
                            if st is not None and not statuses_as_written:  # written before
                                # the format said so (a header without `did_not_return`)
                                rec["status"] = st = None
                                rec["result"] = {"unwound": "blocked, never woken"}
                            if type(rec["result"]) is dict:
                                rec["result"]["waiting_on"] = b[1]
                    if st is None:
                        info.unreturned += 1
                elif kind == "thread_state":
                    state = rec["state"]
                    if state == "blocked":
                        blocked[rec["thread"]] = (rec["sc"], rec.get("detail", ""))
                    elif state == "woken":
                        blocked.pop(rec["thread"], None)
                    elif state == "exit" and rec.get("detail"):
                        ends.excepted.add(rec["pid"])
                elif kind == "trace_end":
                    info.complete = True
                elif kind == "trace_kinds":
                    # Kinds declared after the header: check them from here on.
                    late = rec.get("kinds")
                    if isinstance(late, dict):
                        info.header = {**info.header, "kinds": {**info.kinds(), **late}}
                        checks = _checks(info)
                else:
                    ends.see(rec)
            yield n, rec
    except RecordError:
        raise
    except TraceError as exc:
        if not _last_line_cut(path, exc):
            raise
        info.cut_line = count + 1
    finally:
        info.records = count
        info.last_t = last_t
    if not count:
        raise TraceError(f"{info.path}: empty trace (no records)")


class NotFast(Exception):
    """The fast reader met something it leaves to `scan` (which gives the exact result or
    error): raised before the caller has seen any part of the offending chunk."""


_NONE = type(None)
_STATUS_TYPES = frozenset({int, _NONE})
_ARGS_TYPE_SET = frozenset(_ARGS_TYPES)
_CHUNK_BYTES = 1 << 16
_FIRST = operator.itemgetter(0)
_SCAN_STATE = frozenset({"syscall", "thread_state"})


@dataclass(slots=True)
class FastChunk:
    """A chunk of records from `fast_chunks`, checked as `scan` checks them.

    `rows` are the file's positional arrays in order (syscalls already rewritten as `scan`
    rewrites them), `kinds` the kind of each, `groups` kind -> (its rows, its columns:
    column i holds field `names[kind][i]` of every row of the kind). A `trace_kinds`
    record (an object, not an array) comes alone in its chunk, its group's columns empty.
    `names` and `params` are the fields of every kind and the arguments of every syscall
    declared so far."""

    kinds: list[Any]
    rows: list[Any]
    groups: dict[str, tuple[list[Any], list[tuple[Any, ...]]]]
    names: dict[str, tuple[str, ...]]
    params: dict[str, tuple[str, ...]]
    handle_kinds: list[Any] = field(default_factory=list)  # of the handle events, in order


@dataclass(slots=True)
class _Spec:
    """How to check the rows of one kind: their width and the type of each typed field."""

    width: int
    ints: tuple[int, ...]
    others: tuple[tuple[int, type], ...]
    status: int = -1
    args: int = -1
    result: int = -1


def reset(info: TraceInfo) -> None:
    """Forget what a (given up) scan learnt, keeping `info.also`."""
    info.header = {}
    info.complete = False
    info.records = info.last_t = info.unreturned = info.cut_line = info.line = 0


def fast_chunks(path: str, info: TraceInfo, *, waits: bool = True) -> Iterator[FastChunk]:
    """The records of a version-2 trace, a chunk of lines at a time, checked exactly as
    `scan` checks them but column by column, and with the syscalls of threads that blocked
    and were never woken rewritten as `scan` rewrites them (the state that crosses records:
    which thread is blocked in which syscall, carried from chunk to chunk). The header
    (line 1) is in `info.header`, not in a chunk. Run it inside `no_gc()`.

    `waits=False` is for readers that need no more than each call's status: a trace whose
    header says its writer records a call that never returned with status null
    (`"did_not_return": "status null"`) then has nothing to rewrite that they read, and the
    blocked threads are not followed (the `waiting_on` of such calls is left out).

    Raises NotFast, before yielding the chunk concerned, on anything else (a blank or
    malformed line, a kind the header does not declare, a bad field, extra fields from a
    processor, a version-1 trace): the caller then starts again with `scan`, which gives
    the same results or the exact error."""
    info.path = path
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed by the `with` below)
    except OSError:
        raise NotFast from None
    with f:
        try:
            head = orjson.loads(f.readline())
        except orjson.JSONDecodeError:
            raise NotFast from None
        if type(head) is not dict or head.get("kind") != "trace_start" or head.get("version") != 2:
            raise NotFast
        info.header = head
        if not _dict_ok(head, _checks(info).get("trace_start")):
            raise NotFast
        info.records = 1
        info.last_t = head["t"]
        info.line = 1
        reader = _FastReader(info, follow=waits or head.get("did_not_return") != DID_NOT_RETURN)
        loads = orjson.loads
        while data := f.read(_CHUNK_BYTES):
            if not data.endswith(b"\n"):
                data += f.readline()
                if not data.endswith(b"\n"):
                    # The last line of the file, without its newline: `scan` drops it (and
                    # stops) if it is cut mid-record, and reads it if it is whole.
                    cut = data.rfind(b"\n") + 1
                    try:
                        loads(data[cut:])
                    except orjson.JSONDecodeError:
                        if data[cut:].strip():
                            data = data[:cut]
                    else:
                        data += b"\n"
                    if not data:
                        break
            # One parse for the whole chunk: its lines as the items of one JSON array.
            body = data.replace(b"\n", b",")
            try:
                rows = loads(b"".join((b"[", memoryview(body)[:-1], b"]")))
            except orjson.JSONDecodeError:
                raise NotFast from None  # `scan` names the line (or skips a blank one)
            if len(rows) != data.count(b"\n"):
                raise NotFast  # a line holding more than one value, which `scan` refuses
            yield from reader.chunk(rows)


class _FastReader:
    """The state of one `fast_chunks` pass."""

    def __init__(self, info: TraceInfo, follow: bool = True) -> None:
        self.info = info
        self.follow_waits = follow
        self.statuses_as_written = info.header.get("did_not_return") == DID_NOT_RETURN
        self.schema = Schema()
        self.schema.update(info.header)
        self.specs = self._specs()
        self.blocked: dict[int, tuple[int, Any]] = {}  # as in `scan`: tid -> (sc, on what)

    def _specs(self) -> dict[str, _Spec]:
        names = self.schema.names
        out: dict[str, _Spec] = {}
        for kind, (_, expected, typed, loose) in _checks(self.info).items():
            row = names.get(kind)
            if row is None or len(set(row)) != len(row) or kind in ("trace_start", "trace_kinds"):
                continue
            if not set(typed) <= set(row) or not (loose or frozenset()) <= set(row):
                continue
            if kind == "process_exit" and "reason" not in row:
                continue  # `scan` infers the reason
            ints = tuple(row.index(name) for name, want in zip(typed, expected) if want is int)
            others = tuple((row.index(name), want) for name, want in zip(typed, expected) if want is not int)
            spec = _Spec(len(row), ints, others)
            if kind == "syscall":
                if not {"args", "status", "result"} <= set(row):
                    continue
                spec.status, spec.args, spec.result = row.index("status"), row.index("args"), row.index("result")
            elif kind == "thread_state" and not {"thread", "state", "detail"} <= set(row):
                continue
            out[kind] = spec
        return out

    def chunk(self, rows: list[Any]) -> Iterator[FastChunk]:
        """The checked chunks of these parsed lines (split around `trace_kinds` records)."""
        by_kind: collections.defaultdict[Any, list[Any]] = collections.defaultdict(list)
        # Handle events go to one list, in order (the order of the two kinds among each
        # other is what live handle counts need), split by kind below.
        handles: list[Any] = []
        by_kind["handle_created"] = by_kind["handle_closed"] = handles
        try:
            kinds = list(map(_FIRST, rows))
            # Rows into a list per kind, without a Python-level loop.
            collections.deque(map(list.append, map(by_kind.__getitem__, kinds), rows), 0)
        except (KeyError, IndexError, TypeError):
            # Not all arrays: the objects must be `trace_kinds` records.
            i = next((i for i, row in enumerate(rows) if type(row) is not list), -1)
            row = rows[i]
            if i < 0 or type(row) is not dict or row.get("kind") != "trace_kinds" or type(row.get("kinds")) is not dict \
                    or type(row.get("syscalls")) is not dict or not _dict_ok(row, _checks(self.info).get("trace_kinds")):
                raise NotFast from None
            if i:
                yield from self.chunk(rows[:i])
            self.late(row)
            yield self.done([row["kind"]], [row], {row["kind"]: ([row], [])})
            if i + 1 < len(rows):
                yield from self.chunk(rows[i + 1:])
            return
        handle_kinds = list(map(_FIRST, handles))
        del by_kind["handle_created"], by_kind["handle_closed"]
        if handles:
            created = list(map("handle_created".__eq__, handle_kinds))
            if any(created):
                by_kind["handle_created"] = list(itertools.compress(handles, created))
            if not all(created):
                by_kind["handle_closed"] = list(itertools.compress(handles, map(operator.not_, created)))
        groups: dict[str, tuple[list[Any], list[tuple[Any, ...]]]] = {}
        for kind, sel in by_kind.items():
            spec = self.specs.get(kind) if type(kind) is str else None
            if spec is None:
                raise NotFast
            groups[kind] = (sel, self.columns(sel, spec))
        if self.follow_waits and ("thread_state" in groups or self.blocked):
            self.follow(kinds, groups)
        chunk = self.done(kinds, rows, groups)
        chunk.handle_kinds = handle_kinds
        yield chunk

    def columns(self, sel: list[Any], spec: _Spec) -> list[tuple[Any, ...]]:
        """The columns of one kind's rows, checked (NotFast if any row fails)."""
        n = len(sel)
        try:
            cols = list(zip(*sel, strict=True))
        except ValueError:
            raise NotFast from None
        if len(cols) != spec.width:
            raise NotFast
        count = operator.countOf
        for i in spec.ints:
            if count(map(type, cols[i]), int) != n:
                raise NotFast
        for i, want in spec.others:
            if count(map(type, cols[i]), want) != n:
                raise NotFast
        if spec.status >= 0:
            status, args = cols[spec.status], cols[spec.args]
            if count(map(type, status), int) + status.count(None) != n \
                    or (count(map(type, args), list) != n and not set(map(type, args)) <= _ARGS_TYPE_SET):
                raise NotFast
        return cols

    def follow(self, kinds: list[Any], groups: dict[str, Any]) -> None:
        """Follow blocked threads through the chunk as `scan` does, rewriting the syscall a
        thread blocked in and was never woken from (the columns, not the rows, are read:
        they lie together in memory)."""
        names = self.schema.names
        blocked = self.blocked
        sys_rows, sys_cols = groups.get("syscall") or ([], [(), (), (), (), ()])
        sys_sc, sys_tid = sys_cols[2], sys_cols[4]
        ts = names["thread_state"]
        ts_cols = groups["thread_state"][1] if "thread_state" in groups else [()] * len(ts)
        ts_sc, threads = ts_cols[2], ts_cols[ts.index("thread")]
        states, details = ts_cols[ts.index("state")], ts_cols[ts.index("detail")]
        rewritten = False
        si = ti = 0
        for kind in itertools.compress(kinds, map(_SCAN_STATE.__contains__, kinds)):
            if kind == "syscall":
                if sys_tid[si] in blocked:
                    b = blocked.pop(sys_tid[si])
                    if b[0] == sys_sc[si]:
                        spec = self.specs["syscall"]
                        row = sys_rows[si]
                        if row[spec.status] is not None and not self.statuses_as_written:
                            # written before the format said so (no `did_not_return`)
                            row[spec.status] = None
                            row[spec.result] = {"unwound": "blocked, never woken"}
                        if type(row[spec.result]) is dict:
                            row[spec.result]["waiting_on"] = b[1]
                        rewritten = True
                si += 1
            else:
                state = states[ti]
                if state == "blocked":
                    blocked[threads[ti]] = (ts_sc[ti], details[ti])
                elif state == "woken":
                    blocked.pop(threads[ti], None)
                ti += 1
        if rewritten:
            groups["syscall"] = (sys_rows, list(zip(*sys_rows)))

    def late(self, rec: dict[str, Any]) -> None:
        """A `trace_kinds` record: check the kinds it declares from here on, as `scan` does."""
        info = self.info
        late = rec.get("kinds")
        if isinstance(late, dict):
            info.header = {**info.header, "kinds": {**info.kinds(), **late}}
        self.schema.update(rec)
        self.specs = self._specs()

    def done(self, kinds: list[Any], rows: list[Any], groups: dict[str, Any]) -> FastChunk:
        """Account for a checked chunk in `info`."""
        info = self.info
        if "syscall" in groups:
            spec = self.specs["syscall"]
            info.unreturned += groups["syscall"][1][spec.status].count(None)
        if "trace_end" in groups:
            info.complete = True
        info.records += len(rows)
        last = rows[-1]
        info.last_t = last["t"] if type(last) is dict else last[1]
        info.line += len(rows)
        return FastChunk(kinds, rows, groups, self.schema.names, self.schema.syscalls)


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The cycle collector paused: the rows of a trace hold no cycles, and collecting while
    a chunk of them is alive only re-walks them (it doubles the time of a fast read)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _dict_ok(rec: dict[str, Any], check: Check | None) -> bool:
    """Whether a record dict (the header) passes its kind's checks, as `scan` does them."""
    if check is None:
        return False
    getter, expected, _, loose = check
    try:
        values = getter(rec)
    except KeyError:
        return False
    return tuple(map(type, values)) == expected and (loose is None or rec.keys() >= loose)


_END_KINDS = frozenset({"process_exit", "deadlock", "task_kill", "exception"})
# Kinds the scan itself looks into.
_SPECIAL_KINDS = _END_KINDS | {"syscall", "thread_state", "trace_end", "trace_kinds"}


class _ProcessEnds:
    """Why each process ended, for traces whose `process_exit` records do not say: after a
    deadlock that blocked its threads, `deadlock`; killed by an exception (a thread's
    uncaught exception, or return code -1028), `exception`; by zx_task_kill, `kill`."""

    def __init__(self) -> None:
        self.deadlocked: set[Any] = set()
        self.killed: dict[Any, Any] = {}
        self.excepted: set[Any] = set()

    def see(self, rec: dict[str, Any]) -> None:
        """Learn from a process_exit, deadlock, task_kill or exception record; give a
        process_exit without a reason its inferred one."""
        kind = rec["kind"]
        if kind == "process_exit":
            if "reason" not in rec:
                p = rec["process"]
                code = self.killed.get(p)
                rec["reason"] = ("deadlock" if p in self.deadlocked else
                                 "exception" if p in self.excepted or code == -1028 else
                                 "kill" if p in self.killed else "exit")
        elif kind == "deadlock":
            blocked = rec["blocked"]
            self.deadlocked.update(b.get("pid") for b in blocked if isinstance(b, dict))
        elif kind == "task_kill":
            self.killed[rec.get("koid")] = rec.get("code")
        elif kind == "exception":
            self.excepted.add(rec["pid"])


def read_all(path: str | IO[bytes]) -> tuple[TraceInfo, list[dict[str, Any]]]:
    """Every checked record in memory, with the scan's info."""
    info = TraceInfo()
    return info, [rec for _, rec in scan(path, info)]


# --------------------------------------------------------------------------- names


class Names:
    """Names, types and owners of koids, learnt from the records fed to `see`."""

    def __init__(self) -> None:
        self.name: dict[int, str] = {}
        self.type: dict[int, str] = {}
        self.process_of: dict[int, int] = {}  # thread koid -> process koid

    def see(self, rec: dict[str, Any]) -> None:
        """Learn from one record (call for every record, in order)."""
        kind = rec["kind"]
        if kind == "object_created":
            koid = rec["koid"]
            self.type[koid] = rec["type"]
            if rec["type"] == "thread":
                self.process_of[koid] = rec.get("owner") or rec.get("related_koid", 0)
        elif kind == "name":
            self.name[rec["koid"]] = rec["name"]

    def process(self, pid: int) -> str:
        """"name [koid]" of a process (pid 0: the kernel)."""
        if not pid:
            return "kernel"
        name = self.name.get(pid)
        return f"{name} [{pid}]" if name else f"process [{pid}]"

    def thread(self, tid: int) -> str:
        """"process/thread [koid]" of a thread (0: a direct call from Python)."""
        if not tid:
            return "(direct call)"
        name = self.name.get(tid) or "thread"
        pname = self.name.get(self.process_of.get(tid, 0))
        return f"{pname}/{name} [{tid}]" if pname else f"{name} [{tid}]"

    def object(self, koid: int) -> str:
        """"type name [koid]" of any object."""
        if not koid:
            return "-"
        typ = self.type.get(koid, "object")
        if typ == "thread":
            return self.thread(koid)
        if typ == "process":
            return self.process(koid)
        name = self.name.get(koid)
        return f"{typ} {name} [{koid}]" if name else f"{typ} [{koid}]"


# --------------------------------------------------------------------------- decoders


def _signal_names() -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    inside = False
    for name, value in vars(zx).items():
        if name == "ZX_SIGNAL_NONE":
            inside = True
            continue
        if name == "ZX_WAIT_ASYNC_ONCE":
            break
        if inside and isinstance(value, int) and value and not value & (value - 1):
            out.append((name, value))
    return out


_SIGNALS = _signal_names()
_RIGHTS = [(n[len("ZX_RIGHT_"):], v) for n, v in vars(zx).items()
           if n.startswith("ZX_RIGHT_") and isinstance(v, int) and v and not v & (v - 1)]
_TYPE_PREFIX = {"process": ("ZX_PROCESS_", "ZX_TASK_"), "thread": ("ZX_THREAD_", "ZX_TASK_"),
                "job": ("ZX_JOB_", "ZX_TASK_")}


_WAIT_KOID = re.compile(r"koid (\d+)(?:, (0x[0-9a-fA-F]+))?")


def wait_str(detail: Any, names: Names | None) -> str:
    """A wait's description with its koids named ("wait_one(koid 1032, 0x1)" ->
    "wait_one(channel [1032] for ZX_CHANNEL_READABLE)")."""
    if names is None or not isinstance(detail, str):
        return str(detail)

    def label(m: re.Match[str]) -> str:
        koid = int(m.group(1))
        out = names.object(koid)
        if m.group(2):
            out += " for " + signals_str(int(m.group(2), 16), names.type.get(koid))
        return out

    return _WAIT_KOID.sub(label, detail)


def handle_str(value: int | None) -> str:
    """The one handle format of every tool: 0x followed by 8 hex digits."""
    return "-" if value is None else f"{value:#010x}"


def status_str(status: int | None) -> str:
    """ZX_OK, ZX_ERR_..., or "did not return" for a syscall that never returned."""
    if status is None:
        return "did not return"
    return zx.zx_status_get_string(status)


def signals_str(mask: int, type_name: str | None = None) -> str:
    """Signal names for a mask ("ZX_CHANNEL_READABLE|ZX_CHANNEL_PEER_CLOSED"), by object type."""
    if not isinstance(mask, int):
        return str(mask)
    if not mask:
        return "0"
    prefixes = _TYPE_PREFIX.get(type_name or "", (f"ZX_{(type_name or 'OBJECT').upper()}_",))
    names: list[str] = []
    left = mask
    for bit in range(32):
        value = 1 << bit
        if not mask & value:
            continue
        candidates = [n for n, v in _SIGNALS if v == value]
        pick = next((n for p in prefixes for n in candidates if n.startswith(p)), None)
        if pick is None:
            pick = next((n for n in candidates if n.startswith(("ZX_OBJECT_", "ZX_USER_", "ZX_SIGNAL_"))), None)
        if pick is not None:
            names.append(pick)
            left &= ~value
    if left:
        names.append(f"{left:#x}")
    return "|".join(names)


def rights_str(rights: int, type_name: str | None = None) -> str:
    """Right names for a rights mask ("READ|WRITE|MAP"); an object type's default rights
    by their name ("ZX_DEFAULT_VMO_RIGHTS")."""
    if not isinstance(rights, int):
        return str(rights)
    if not rights:
        return "NONE"
    if type_name:
        default = f"ZX_DEFAULT_{type_name.upper()}_RIGHTS"
        if getattr(zx, default, None) == rights:
            return default
    names = [n for n, v in _RIGHTS if rights & v]
    left = rights & ~sum(v for _, v in _RIGHTS)
    if left:
        names.append(f"{left:#x}")
    return "|".join(names)


def deadline_str(ns: int) -> str:
    """A deadline: "infinite", "infinite past", or virtual nanoseconds."""
    if ns == zx.ZX_TIME_INFINITE:
        return "infinite"
    if ns == zx.ZX_TIME_INFINITE_PAST:
        return "infinite past"
    return time_str(ns)


def time_str(ns: int) -> str:
    """Virtual time for people: 1.5 ms, 12 us, 300 ns."""
    if not isinstance(ns, int):
        return str(ns)
    for unit, scale in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if abs(ns) >= scale:
            return f"{ns / scale:g} {unit}"
    return f"{ns} ns"


def size_str(n: int) -> str:
    """A byte count for people: 4096 -> "4 KiB", 100 -> "100 B"."""
    if not isinstance(n, int):
        return str(n)
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % (scale // 16 or 1) == 0:
            return f"{n / scale:g} {unit}"
    return f"{n} B"


_ARG_KINDS = {
    "handle": "handle", "out": "handle", "handles": "handles", "vmar": "handle", "iob": "handle",
    "port": "handle", "vmo": "handle", "source": "handle", "parent_vmar": "handle", "signals": "signals",
    "trigger": "signals", "set_mask": "signals", "clear_mask": "signals", "rights": "rights",
    "deadline": "deadline", "size": "size", "len": "size", "vmo_size": "size",
}


def value_str(key: str, value: Any) -> str:
    """One argument or result field, decoded by its name."""
    how = _ARG_KINDS.get(key)
    if how is None and key.startswith("handle"):
        how = "handle"
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if how == "handle" and isinstance(value, int):
        return handle_str(value)
    if how == "handles" and isinstance(value, list):
        return "[" + ", ".join(handle_str(v) if isinstance(v, int) else str(v) for v in value) + "]"
    if how == "signals" and isinstance(value, int):
        return signals_str(value)
    if how == "rights" and isinstance(value, int):
        return rights_str(value)
    if how == "deadline" and isinstance(value, int):
        return deadline_str(value)
    if how == "size" and isinstance(value, int):
        return size_str(value)
    if isinstance(value, dict) and set(value) == {"bytes"}:
        return f"<{size_str(value['bytes'])}>"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={value_str(k, v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(value_str(key, v) for v in value) + "]"
    return str(value)


def syscall_str(rec: dict[str, Any], names: Names | None = None) -> str:
    """zx_name(arg=..., ...) -> STATUS result, decoded for people."""
    args = rec.get("args") or {}
    a = ", ".join(f"{k}={value_str(k, v)}" for k, v in args.items()) if isinstance(args, dict) else str(args)
    res = rec.get("result")
    out = f"{rec['name']}({a}) -> {status_str(rec['status'])}"
    if isinstance(res, dict) and "unwound" in res and rec["status"] is None:
        out += f" ({res['unwound']}" + (f"; waiting on {wait_str(res['waiting_on'], names)})"
                                         if res.get("waiting_on") else ")")
    elif isinstance(res, int) and not isinstance(res, bool) and "map" in rec["name"]:
        out += f" {res:#x}"
    elif isinstance(res, int) and rec["name"] == "zx_object_wait_one":
        out += f" observed={signals_str(res)}"
    elif res is not None:
        out += " " + (value_str("handle", res) if isinstance(res, int) and "create" in rec["name"]
                      else value_str("result", res))
    return out


_DECODED_FIELDS: dict[str, Callable[[int], str]] = {"handle": handle_str, "rights": rights_str}


def event_str(rec: dict[str, Any], names: Names) -> str:
    """The fields of a non-syscall record, decoded for people."""
    kind = rec["kind"]
    if kind == "syscall":
        return syscall_str(rec, names)
    typ = names.type.get(rec.get("koid", 0))
    parts = []
    for k, v in rec.items():
        if k in COMMON_FIELDS or k in ("syscall", "obj_type") or (k in ("related_koid", "owner") and not v):
            continue
        if k == "rights" and isinstance(v, int):
            parts.append(f"rights={rights_str(v, typ)}")
        elif k in ("old", "new", "signals") and isinstance(v, int):
            parts.append(f"{k}={signals_str(v, typ)}")
        elif k in _DECODED_FIELDS and isinstance(v, int):
            parts.append(f"{k}={_DECODED_FIELDS[k](v)}")
        elif k in ("koid", "thread", "process", "related_koid", "child", "iob", "owner") and isinstance(v, int) and v:
            parts.append(f"{k}={names.object(v)}")
        elif k in ("len", "size") and isinstance(v, int):
            parts.append(f"{k}={size_str(v)}")
        elif k == "addr" and isinstance(v, int):
            parts.append(f"{k}={v:#x}")
        elif k == "blocked" and isinstance(v, list):
            parts.append("; ".join(f"{names.thread(b.get('tid', 0))} waits {wait_str(b.get('wait'), names)}" for b in v
                                   if isinstance(b, dict)))
        else:
            parts.append(f"{k}={v}")
    return " ".join(parts)


# --------------------------------------------------------------------------- leaks


def leaks(path: str | IO[bytes], info: TraceInfo | None = None) -> dict[str, Any]:
    """What a run left behind.

    `handles`: handles a process still held when it ended (closed by its exit, not by the
    program) or still held at the end of the trace, with the syscall that created each;
    startup handles (the process's own handle, its root VMAR and its job, given at creation
    or adopted by its runtime: `startup_handles`) are not leaks.
    `objects`: objects still alive at the end of the trace. `closed_by_program` and
    `closed_by_exit` count handles closed each way; `processes` says how each one ended.
    """
    info = info or TraceInfo()
    names = Names()
    open_h: dict[tuple[int, int], dict[str, Any]] = {}
    objects: dict[int, dict[str, Any]] = {}
    sc_name: dict[int, str] = {}
    leaked: list[dict[str, Any]] = []
    closed_program = closed_exit = 0
    processes: dict[int, dict[str, Any]] = {}
    deadlocks: list[dict[str, Any]] = []
    for _, rec in scan(path, info):
        names.see(rec)
        kind = rec["kind"]
        if kind == "syscall":
            sc_name[rec["sc"]] = rec["name"]
        elif kind == "handle_created":
            open_h[rec["pid"], rec["handle"]] = {
                "pid": rec["pid"], "handle": rec["handle"], "koid": rec["koid"], "rights": rec["rights"],
                "reason": rec["reason"], "sc": rec["sc"], "t": rec["t"],
            }
        elif kind == "handle_closed":
            h = open_h.pop((rec["pid"], rec["handle"]), None)
            if rec["reason"] == "process_exit":
                if h is not None and h["reason"] != "startup":
                    closed_exit += 1
                    h["closed"] = "process exit"
                    h["closed_t"] = rec["t"]
                    leaked.append(h)
            elif rec["reason"] in ("close", "replace"):
                closed_program += 1
        elif kind == "startup_handles":
            for value in rec["handles"]:
                h = open_h.get((rec["process"], value))
                if h is not None:
                    h["reason"] = "startup"
        elif kind == "object_created":
            objects[rec["koid"]] = {"koid": rec["koid"], "type": rec["type"], "sc": rec["sc"],
                                    "owner": rec.get("owner", 0), "t": rec["t"]}
            if rec["type"] == "process":
                processes[rec["koid"]] = {"pid": rec["koid"], "code": None, "reason": None}
        elif kind == "object_destroyed":
            objects.pop(rec["koid"], None)
        elif kind == "process_exit":
            processes.setdefault(rec["process"], {"pid": rec["process"]}).update(
                code=rec["code"], reason=rec.get("reason", "exit"), t=rec["t"])
        elif kind == "deadlock":
            deadlocks.append(rec)
    for h in open_h.values():
        if h["reason"] != "startup":
            h["closed"] = "still open"
            leaked.append(h)
    for h in leaked:
        h["type"] = names.type.get(h["koid"], "?")
        h["created_by"] = sc_name.get(h["sc"]) if h["sc"] else None
        h["process"] = names.process(h["pid"])
        h["object"] = names.object(h["koid"])
    # The root job is the kernel's own, alive for the kernel's life: never a leak.
    for koid, o in list(objects.items()):
        if o["type"] == "job" and not o["owner"] and not o["sc"]:
            del objects[koid]
    for o in objects.values():
        o["created_by"] = sc_name.get(o["sc"]) if o["sc"] else None
        o["object"] = names.object(o["koid"])
    for p in processes.values():
        p["name"] = names.name.get(p["pid"])
    return {
        "complete": info.complete,
        "handles": sorted(leaked, key=lambda h: (h["pid"], h["sc"], h["handle"])),
        "objects": sorted(objects.values(), key=lambda o: o["koid"]),
        "closed_by_program": closed_program,
        "closed_by_exit": closed_exit,
        "processes": sorted(processes.values(), key=lambda p: p["pid"]),
        "deadlocks": [{"t": d["t"], "blocked": d["blocked"]} for d in deadlocks],
    }


# --------------------------------------------------------------------------- one object


def object_life(path: str | IO[bytes], koid: int, info: TraceInfo | None = None) -> list[dict[str, Any]]:
    """Every event about one object (any field the kind declares as a koid names it), with
    the syscall each happened in."""
    info = info or TraceInfo()
    out: list[dict[str, Any]] = []
    pending: dict[int, list[dict[str, Any]]] = {}
    objs: dict[str, tuple[str, ...]] | None = None
    for _, rec in scan(path, info):
        kind = rec["kind"]
        if objs is None or kind == "trace_kinds":
            objs = object_fields(info)
        if kind == "syscall":
            for p in pending.pop(rec["sc"], ()):
                p["syscall"] = rec["name"]
            continue
        if any(rec.get(f) == koid for f in objs.get(kind, ("koid",))):
            entry = dict(rec)
            if rec["sc"]:
                pending.setdefault(rec["sc"], []).append(entry)
            out.append(entry)
    return out


# --------------------------------------------------------------------------- diff

# Fields that hold values drawn from the seed: compared by identity, not value.
_IDENTITY_FIELDS = frozenset({
    "handle", "koid", "related_koid", "owner", "process", "thread", "vmar", "addr", "child",
    "iob", "region_koid", "pid", "tid", "handles", "out", "base", "mapped_addr",
})
_IGNORED_BY_DEFAULT = frozenset({"seed"})
_KOID_KEYS = frozenset({"pid", "tid", "koid", "related_koid", "owner", "process", "thread", "vmar",
                        "child", "iob", "region_koid", "parent_koid"})
# Syscalls whose result is a reading of the virtual clock (moves with the schedule).
_TIME_CALLS = ("zx_clock_get", "zx_clock_read", "zx_ticks_get", "zx_deadline_after")


class _Canon:
    """Renames seed-drawn values to their order of first appearance: handle values (any
    int the trace shows as a handle), koids (by field name), addresses (any int the trace
    shows as a mapping address, and large ints out of VMAR calls)."""

    def __init__(self, handles: frozenset[int] = frozenset(), addrs: frozenset[int] = frozenset()) -> None:
        self.maps: dict[str, dict[int, str]] = {"h": {}, "k": {}, "a": {}}
        self.handles = handles
        self.addrs = addrs

    def _name(self, space: str, value: int) -> str:
        m = self.maps[space]
        got = m.get(value)
        if got is None:
            got = m[value] = f"{space}{len(m) + 1}"
        return got

    def value(self, key: str, value: Any, in_args: bool = False) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            if not value:
                return 0
            if value in self.handles:
                return self._name("h", value)
            if not in_args and key in _KOID_KEYS:
                return self._name("k", value)
            if value in self.addrs or key in ("addr", "base", "mapped_addr", "vmar_addr"):
                return self._name("a", value)
            return value
        if isinstance(value, list):
            return [self.value(key, v, in_args) for v in value]
        if isinstance(value, dict):
            return {k: self.value(k, v, in_args) for k, v in value.items()}
        return value

    def result(self, name: str, value: Any) -> Any:
        """A syscall's result: handles and addresses by identity, koids in structs by name."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value in self.handles:
                return self._name("h", value)
            if value in self.addrs or ("vmar" in name and value >= 1 << 32):
                return self._name("a", value)
            return value
        if isinstance(value, list):
            return [self.result(name, v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(k, v) for k, v in value.items()}
        return value

    def record(self, rec: dict[str, Any], ignore: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in rec.items():
            if k in ignore:
                continue
            if k == "args" and isinstance(v, dict):
                out[k] = {a: self.value(a, x, True) for a, x in v.items() if a not in ignore}
            elif k == "result" and "name" in rec:
                out[k] = self.result(rec.get("name", ""), v)
            else:
                out[k] = self.value(k, v)
        return out


def _schedule(recs: Iterable[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(index, syscall record) in the order the syscalls started."""
    calls = [(i, r) for i, r in enumerate(recs) if r["kind"] == "syscall"]
    calls.sort(key=lambda x: x[1]["sc"])
    return calls


def diff(path_a: str, path_b: str, ignore: Iterable[str] = (), context: int = 3,
         info: TraceInfo | None = None, compare_time: bool = False) -> dict[str, Any] | None:
    """How two runs differ, modulo values drawn from the seed.

    Handle values, koids and addresses are renamed by order of first appearance in each
    trace, so two runs that do the same things compare equal. Returns None if the runs
    match; otherwise `schedule`: the first syscall (in start order) made by a different
    thread, `behaviour`: the first syscall whose name, arguments, status or result differ
    (in each thread's own order, so a mere reordering is not a change of behaviour; a
    thread's exit and its process's exit code count as behaviour; the readings of the
    virtual clock, which move with the schedule, do not unless `compare_time`), and
    `record`: the first record that differs, each with context.
    """
    ign = frozenset(ignore) | _IGNORED_BY_DEFAULT
    info_a, info_b = info or TraceInfo(), TraceInfo()
    info_a.also.append(info_b)
    recs_a = [rec for _, rec in scan(path_a, info_a)]
    recs_b = [rec for _, rec in scan(path_b, info_b)]
    def drawn(recs: list[dict[str, Any]]) -> tuple[frozenset[int], frozenset[int]]:
        handles = frozenset(r["handle"] for r in recs if r["kind"] == "handle_created")
        addrs = frozenset(r["addr"] for r in recs if r["kind"] in ("mapping_created", "iob.region_mapped")
                          and isinstance(r.get("addr"), int))
        return handles, addrs

    drawn_a, drawn_b = drawn(recs_a), drawn(recs_b)
    ca, cb = _Canon(*drawn_a), _Canon(*drawn_b)
    canon_a = [ca.record(r, ign) for r in recs_a]
    canon_b = [cb.record(r, ign) for r in recs_b]
    if canon_a == canon_b:
        return None
    names_a, names_b = Names(), Names()
    for r in recs_a:
        names_a.see(r)
    for r in recs_b:
        names_b.see(r)

    def thread_key(names: Names, tid: int) -> str:
        """A thread by name within its process (stable across seeds)."""
        if not tid:
            return "(direct call)"
        pname = names.name.get(names.process_of.get(tid, 0), "?")
        return f"{pname}/{names.name.get(tid, '?')}"

    out: dict[str, Any] = {"a": path_a, "b": path_b, "complete": info_a.complete and info_b.complete}
    # 1. schedule: which thread made the n-th syscall.
    sa, sb = _schedule(recs_a), _schedule(recs_b)
    sched_div = None
    for n in range(max(len(sa), len(sb))):
        ta = thread_key(names_a, sa[n][1]["tid"]) if n < len(sa) else None
        tb = thread_key(names_b, sb[n][1]["tid"]) if n < len(sb) else None
        if ta != tb:
            lo = max(0, n - context)
            sched_div = {
                "syscall_index": n + 1,
                "a": {"thread": ta, "call": sa[n][1] if n < len(sa) else None},
                "b": {"thread": tb, "call": sb[n][1] if n < len(sb) else None},
                "before": [{"thread": thread_key(names_a, r["tid"]), "name": r["name"], "t": r["t"]}
                           for _, r in sa[lo:n]],
            }
            break
    out["schedule"] = sched_div
    # 2. behaviour: per thread (by name), the k-th syscall's canonical form. Canonical
    # names are per thread here too, so a different interleaving does not rename handles.
    def per_thread(recs: list[dict[str, Any]], names: Names,
                   drawn: tuple[frozenset[int], frozenset[int]]) -> dict[str, list[dict[str, Any]]]:
        """Each thread's own history: its syscalls, its exit, its process's exit."""
        by: dict[str, list[dict[str, Any]]] = {}
        canon: dict[str, _Canon] = {}
        for r in recs:
            kind = r["kind"]
            if kind == "syscall":
                key = thread_key(names, r["tid"])
                item: dict[str, Any] = {k: r[k] for k in ("name", "args", "status", "result") if k in r}
                if not compare_time and r["name"].startswith(_TIME_CALLS):
                    item.pop("result", None)
            elif kind == "thread_state" and r.get("state") == "exit":
                key = thread_key(names, r["thread"])
                item = {"name": "(thread exit)", "result": r.get("detail", "")}
            elif kind == "process_exit":
                key = thread_key(names, r["tid"])
                item = {"name": "(process exit)", "result": {"code": r["code"], "reason": r.get("reason")}}
            else:
                continue
            c = canon.get(key)
            if c is None:
                c = canon[key] = _Canon(*drawn)
            by.setdefault(key, []).append({"rec": r, "canon": c.record(item, ign)})
        return by

    pa, pb = per_thread(recs_a, names_a, drawn_a), per_thread(recs_b, names_b, drawn_b)
    first: dict[str, Any] | None = None
    for key in sorted(set(pa) | set(pb)):
        la, lb = pa.get(key, []), pb.get(key, [])
        for k in range(max(len(la), len(lb))):
            xa = la[k] if k < len(la) else None
            xb = lb[k] if k < len(lb) else None
            if xa is not None and xb is not None and xa["canon"] == xb["canon"]:
                continue
            fields = []
            if xa is None or xb is None:
                fields = ["(missing)"]
            else:
                fields = [f for f in ("name", "args", "status", "result")
                          if xa["canon"].get(f) != xb["canon"].get(f)]
            t_first = min(x["rec"]["t"] for x in (xa, xb) if x is not None)
            cand = {
                "thread": key, "call_index": k + 1, "fields": fields,
                "a": xa["rec"] if xa else None, "b": xb["rec"] if xb else None,
                "before": [x["rec"] for x in la[max(0, k - context):k]],
                "_t": t_first,
            }
            if first is None or t_first < first["_t"]:
                first = cand
            break
    if first is not None:
        first.pop("_t")
    out["behaviour"] = first
    # 3. the first differing record, canonically.
    for i in range(max(len(canon_a), len(canon_b))):
        xa = canon_a[i] if i < len(canon_a) else None
        xb = canon_b[i] if i < len(canon_b) else None
        if xa != xb:
            out["record"] = {"index": i + 1, "a": recs_a[i] if xa is not None else None,
                             "b": recs_b[i] if xb is not None else None}
            break
    return out
