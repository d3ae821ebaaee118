"""Reading and analysing microsim traces (JSON lines; see docs/trace-format.md).

    from microsim import trace
    for ev in trace.load("run.jsonl", syscall="zx_iob_*", status="error"):
        print(ev.sc, ev.name, ev.status)

`load` and `records` stream: they read one line at a time, so a trace larger than memory
works. Both give every record with named fields, whatever the format version on disk
(version 2 writes positional arrays named by the header; version 1 wrote objects).
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from microsim import zx
from microsim.core.eventlog import TRACE_FORMAT_VERSION, Schema, render_rows
from microsim.errors import MicrosimError

FORMAT_VERSION = TRACE_FORMAT_VERSION
SUPPORTED_VERSIONS = (1, 2)


class TraceError(MicrosimError):
    """The file is not a readable microsim trace."""


@dataclass(slots=True)
class Event:
    """One trace record: the common fields as attributes, the rest in `fields`."""

    kind: str
    t: int
    sc: int
    pid: int
    tid: int
    fields: dict[str, Any] = field(default_factory=dict)
    line: int = 0

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        """A kind-specific field, or `default`."""
        return self.fields.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        """The record as it is in the file."""
        return {"kind": self.kind, "t": self.t, "sc": self.sc, "pid": self.pid, "tid": self.tid, **self.fields}


_COMMON = ("kind", "t", "sc", "pid", "tid")


def _open(path: str | IO[bytes]) -> IO[bytes]:
    if isinstance(path, str):
        try:
            return open(path, "rb")
        except OSError as exc:
            raise TraceError(f"cannot open trace {path!r}: {exc.strerror or exc}") from None
    return path


def _read(path: str | IO[bytes], schema: Schema) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every record of the trace, named with `schema` (which learns the header)."""
    f = _open(path)
    loads = orjson.loads
    decode = schema.decode
    names_get = schema.names.get
    syscalls_get = schema.syscalls.get
    version: Any = None
    try:
        for n, line in enumerate(f, 1):
            try:
                row = loads(line)
            except orjson.JSONDecodeError as exc:
                if not line.strip():
                    continue
                if not line.endswith(b"\n"):
                    return  # the last line of a trace cut short (a crash): stop before it
                raise TraceError(f"line {n}: not JSON ({exc})") from None
            if type(row) is list and version == 2:
                # The common case, kept short: a positional row of a declared kind.
                try:
                    names = names_get(row[0])
                except (IndexError, TypeError):
                    raise TraceError(f"line {n}: not a trace record") from None
                if names is not None and len(row) == len(names):
                    rec = dict(zip(names, row))
                    if row[0] == "syscall":
                        args = rec["args"]
                        if type(args) is list:
                            params = syscalls_get(rec["name"], ())
                            named = dict(zip(params, args))
                            if len(args) > len(params):
                                named["*extra"] = args[len(params):]
                            rec["args"] = named
                    yield n, rec
                    continue
                if type(row[0]) is not str:
                    raise TraceError(f"line {n}: not a trace record")
                try:
                    yield n, decode(row)
                except (TypeError, ValueError, KeyError):
                    raise TraceError(f"line {n}: not a trace record") from None
                continue
            if version is None:
                version = _first_version(n, row)
            if type(row) is dict and "kind" in row:
                yield n, decode(row)
            else:
                raise TraceError(f"line {n}: not a trace record")
    finally:
        if isinstance(path, str):
            f.close()


def _first_version(n: int, row: Any) -> int:
    """The format version named by the first record (TraceError if unknown)."""
    if type(row) is dict and row.get("kind") == "trace_start":
        version = row.get("version")
        if version not in SUPPORTED_VERSIONS:
            raise TraceError(
                f"unsupported trace format version {version!r} (this microsim reads versions "
                f"{', '.join(map(str, SUPPORTED_VERSIONS))}): re-record the trace with this "
                "microsim, or read it with the one that wrote it"
            )
        return int(version)
    if type(row) is dict and "kind" in row:
        return 1  # a version-1 trace cut before its header
    raise TraceError(f"line {n}: not a trace record (no trace_start header)")


def records(path: str | IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record dict with named fields) for every line.

    TraceError on a malformed line or an unsupported format version (the message names
    the version)."""
    return _read(path, Schema())


def project(
    path: str | IO[bytes], wanted: dict[str, tuple[str, ...] | None]
) -> Iterator[tuple[str, int, Any]]:
    """Stream `(kind, t, values)` for every record, reading only the fields asked for:
    the fast path for tools that read a few fields of many records (`trace summary`).

    For a kind in `wanted`: `values` is the tuple of the named fields (None where a record
    lacks one), or the whole record dict if `wanted[kind]` is None. For other kinds, None.
    """
    schema = Schema()
    getters: dict[str, Any] = {}
    names_get = schema.names.get
    loads = orjson.loads
    version: Any = None
    f = _open(path)
    try:
        for n, line in enumerate(f, 1):
            try:
                row = loads(line)
            except orjson.JSONDecodeError as exc:
                if not line.strip():
                    continue
                if not line.endswith(b"\n"):
                    return  # the last line of a trace cut short (a crash): stop before it
                raise TraceError(f"line {n}: not JSON ({exc})") from None
            if type(row) is list and version == 2:
                try:
                    get = getters[row[0]]
                except KeyError:
                    kind = row[0]
                    if type(kind) is not str or names_get(kind) is None:
                        raise TraceError(f"line {n}: not a trace record") from None
                    get = getters[kind] = _getter(names_get(kind), wanted, kind)
                except (IndexError, TypeError):
                    raise TraceError(f"line {n}: not a trace record") from None
                if get is None:
                    yield row[0], row[1], None
                    continue
                if get is not _WHOLE:
                    try:
                        yield row[0], row[1], get(row)
                        continue
                    except IndexError:
                        pass
                rec = schema.decode(row)
            else:
                if version is None:
                    version = _first_version(n, row)
                if type(row) is not dict or "kind" not in row:
                    raise TraceError(f"line {n}: not a trace record")
                rec = schema.decode(row)
                if rec["kind"] == "trace_kinds":
                    getters.clear()
            kind = rec["kind"]
            fields = wanted.get(kind, ()) if kind in wanted else ()
            yield kind, rec.get("t", 0), (
                None if kind not in wanted else rec if fields is None else tuple(rec.get(x) for x in fields)
            )
    finally:
        if isinstance(path, str):
            f.close()


_UNSEEN: Any = object()
_WHOLE: Any = object()


def _getter(names: tuple[str, ...] | None, wanted: dict[str, tuple[str, ...] | None], kind: str) -> Any:
    if kind not in wanted:
        return None
    fields = wanted[kind]
    if fields is None or names is None or not set(fields) <= set(names) or (kind == "syscall" and "args" in fields):
        return _WHOLE
    idx = [names.index(f) for f in fields]
    if len(idx) == 1:
        one = operator.itemgetter(idx[0])
        return lambda row: (one(row),)
    return operator.itemgetter(*idx)


def header(path: str | IO[bytes]) -> dict[str, Any]:
    """The trace's `trace_start` record: version, seed, plugins, and the `kinds` map
    `{kind: {"fields": [...], "objects": [...]}}` (`objects`: fields holding koids)."""
    for _, rec in records(path):
        if rec.get("kind") == "trace_start":
            if "kinds" not in rec:  # version 1 had no kinds map
                rec = dict(rec, kinds={}, syscalls={})
            return rec
        break
    raise TraceError("the trace has no trace_start record")


def cat(path: str | IO[bytes], out: IO[bytes]) -> int:
    """Write every record of the trace as a JSON object with named fields, one per line
    (`microsim trace cat`). Returns the number of records."""
    batch: list[dict[str, Any]] = []
    count = 0
    for _, rec in records(path):
        batch.append(rec)
        if len(batch) >= 4096:
            out.write(render_rows(batch))
            count += len(batch)
            batch = []
    out.write(render_rows(batch))
    return count + len(batch)


@dataclass
class Filter:
    """Which events to keep. Every criterion given must match.

    `pid`/`tid`: koids; `syscall`: a glob on syscall names ("zx_vmo_*", "vmo_*");
    `status`: a status code, its name, or "error" / "ok"; `type`: object type name;
    `koid`: any field naming that koid; `kind`: a glob on event kinds; `since`/`until`:
    virtual time range in ns.
    """

    pid: int | None = None
    tid: int | None = None
    syscall: str | None = None
    status: int | str | None = None
    type: str | None = None
    koid: int | None = None
    kind: str | None = None
    since: int | None = None
    until: int | None = None

    def matches(self, rec: dict[str, Any], objects: tuple[str, ...] = ()) -> bool:
        """Whether a record dict passes the filter (`objects`: the fields of the record's
        kind that hold koids, from the trace header)."""
        if self.kind is not None and not fnmatch.fnmatchcase(rec["kind"], self.kind):
            return False
        if self.pid is not None and rec.get("pid") != self.pid:
            return False
        if self.tid is not None and rec.get("tid") != self.tid:
            return False
        if self.since is not None and rec.get("t", 0) < self.since:
            return False
        if self.until is not None and rec.get("t", 0) > self.until:
            return False
        if self.syscall is not None:
            name = rec.get("name") if rec["kind"] == "syscall" else None
            if name is None:
                return False
            pat = self.syscall if self.syscall.startswith("zx_") or self.syscall[:1] == "*" else "zx_" + self.syscall
            if not fnmatch.fnmatchcase(name, pat):
                return False
        if self.status is not None:
            if rec["kind"] != "syscall":
                return False
            st = rec.get("status", 0)
            want = self.status
            if want == "error":
                if st == 0:
                    return False
            elif want == "ok":
                if st != 0:
                    return False
            elif isinstance(want, str):
                if zx.zx_status_get_string(st) != want:
                    return False
            elif st != want:
                return False
        if self.type is not None and rec.get("type") != self.type:
            return False
        if self.koid is not None:
            k = self.koid
            if not (rec.get("koid") == k or rec.get("related_koid") == k or rec.get("iob") == k
                    or rec.get("child") == k or rec.get("region_koid") == k or rec.get("process") == k
                    or rec.get("thread") == k or rec.get("vmar") == k
                    or any(rec.get(f) == k for f in objects)):
                return False
        return True


def load(path: str | IO[bytes], **criteria: Any) -> Iterator[Event]:
    """Stream the trace's events, keeping those matching `Filter(**criteria)`."""
    flt = Filter(**criteria)
    schema = Schema()
    objects = schema.objects
    for n, rec in _read(path, schema):
        if criteria and not flt.matches(rec, objects.get(rec["kind"], ())):
            continue
        extra = {k: v for k, v in rec.items() if k not in _COMMON}
        yield Event(rec["kind"], rec.get("t", 0), rec.get("sc", 0), rec.get("pid", 0), rec.get("tid", 0), extra, n)


__all__ = ["FORMAT_VERSION", "Event", "Filter", "TraceError", "cat", "header", "load", "project", "records"]
