"""SQL over traces: load a trace into SQLite (stdlib `sqlite3`), as Perfetto's trace
processor does for its formats.

    microsim trace sql run.jsonl "SELECT name, count(*) FROM syscalls GROUP BY name"
    microsim trace sqlite run.jsonl -o run.db      # any SQLite tool opens it

The schema (`SCHEMA`, documented in docs/trace-format.md): times are virtual
nanoseconds; JSON columns hold the record's structured values (query them with
`json_extract`).

- `processes(pid, name, parent, created_ts, exit_ts, exit_code, exit_reason)`
- `threads(tid, pid, name, start_ts, exit_ts, exit_detail)`
- `syscalls(sc, ts, dur, pid, tid, name, status, status_name, returned, handle, koid, args, result)`:
  `status` is NULL and `returned` 0 for a call that never returned; `koid` is the object
  the `handle` argument named
- `objects(koid, type, obj_type, name, owner, related_koid, created_ts, created_sc, destroyed_ts)`
- `handles(pid, handle, koid, rights, created_ts, created_sc, created_reason, closed_ts,
  closed_sc, closed_reason)`: one row per handle value in a process table
- `signals(ts, sc, pid, tid, koid, old, new, raised, cleared, strobe)`
- `thread_states(ts, sc, tid, state, detail)`: the scheduler's events
- `thread_slices(tid, pid, ts, dur, state)`: running / blocked: ... / ready intervals
- `deadlocks(ts, tid, pid, wait)`: one row per thread blocked in a deadlock
- `events(ts, sc, pid, tid, kind, fields)`: every other record (mappings, faults, plugin events)
"""

from __future__ import annotations

import collections
import functools
import itertools
import operator
import os
import re
import sqlite3
from collections.abc import Callable
from typing import IO, Any

import orjson

from microsim.trace.analysis import (
    Names,
    NotFast,
    TraceInfo,
    fast_chunks,
    no_gc,
    reset,
    scan,
    status_str,
)
from microsim.trace.export import ThreadStates

SCHEMA = """
CREATE TABLE processes (pid INTEGER PRIMARY KEY, name TEXT, parent INTEGER, created_ts INTEGER,
    exit_ts INTEGER, exit_code INTEGER, exit_reason TEXT);
CREATE TABLE threads (tid INTEGER PRIMARY KEY, pid INTEGER, name TEXT, start_ts INTEGER,
    exit_ts INTEGER, exit_detail TEXT);
CREATE TABLE syscalls (sc INTEGER PRIMARY KEY, ts INTEGER, dur INTEGER, pid INTEGER, tid INTEGER,
    name TEXT, status INTEGER, status_name TEXT, returned INTEGER, handle INTEGER, koid INTEGER,
    args TEXT, result TEXT);
CREATE TABLE objects (koid INTEGER PRIMARY KEY, type TEXT, obj_type INTEGER, name TEXT, owner INTEGER,
    related_koid INTEGER, created_ts INTEGER, created_sc INTEGER, destroyed_ts INTEGER);
CREATE TABLE handles (pid INTEGER, handle INTEGER, koid INTEGER, rights INTEGER, created_ts INTEGER,
    created_sc INTEGER, created_reason TEXT, closed_ts INTEGER, closed_sc INTEGER, closed_reason TEXT);
CREATE TABLE signals (ts INTEGER, sc INTEGER, pid INTEGER, tid INTEGER, koid INTEGER, old INTEGER,
    new INTEGER, raised INTEGER, cleared INTEGER, strobe INTEGER);
CREATE TABLE thread_states (ts INTEGER, sc INTEGER, tid INTEGER, state TEXT, detail TEXT);
CREATE TABLE thread_slices (tid INTEGER, pid INTEGER, ts INTEGER, dur INTEGER, state TEXT);
CREATE TABLE deadlocks (ts INTEGER, tid INTEGER, pid INTEGER, wait TEXT);
CREATE TABLE events (ts INTEGER, sc INTEGER, pid INTEGER, tid INTEGER, kind TEXT, fields TEXT);
"""

INDEXES = """
CREATE INDEX syscalls_name ON syscalls(name);
CREATE INDEX syscalls_tid ON syscalls(tid, ts);
CREATE INDEX handles_koid ON handles(koid);
CREATE INDEX handles_value ON handles(pid, handle);
CREATE INDEX signals_koid ON signals(koid, ts);
CREATE INDEX thread_slices_tid ON thread_slices(tid, ts);
"""

_BATCH = 50_000
_STATUS_NAMES: dict[int | None, str] = {}


def _status_name(status: int | None) -> str:
    name = _STATUS_NAMES.get(status)
    if name is None:
        name = _STATUS_NAMES[status] = status_str(status)
    return name


class _Tasks:
    """The rows of `objects`, `processes` and `threads`, filled from the records that make,
    end and start them (the same for the careful and the fast load)."""

    def __init__(self) -> None:
        self.objects: dict[int, list[Any]] = {}
        self.processes: dict[int, list[Any]] = {}
        self.threads: dict[int, list[Any]] = {}

    def created(self, rec: dict[str, Any]) -> None:
        """An `object_created` record."""
        koid = rec["koid"]
        self.objects[koid] = [koid, rec["type"], rec.get("obj_type"), None, rec.get("owner"),
                              rec.get("related_koid"), rec["t"], rec["sc"], None]
        if rec["type"] == "process":
            self.processes[koid] = [koid, None, rec.get("owner"), rec["t"], None, None, None]
        elif rec["type"] == "thread":
            self.threads[koid] = [koid, rec.get("owner") or rec.get("related_koid"), None, None, None, None]

    def destroyed(self, rec: dict[str, Any]) -> None:
        """An `object_destroyed` record."""
        o = self.objects.get(rec["koid"])
        if o is not None:
            o[8] = rec["t"]

    def exited(self, rec: dict[str, Any]) -> None:
        """A `process_exit` record."""
        p = self.processes.setdefault(rec["process"], [rec["process"], None, None, None, None, None, None])
        p[4:7] = rec["t"], rec["code"], rec.get("reason", "exit")

    def thread_state(self, thread: Any, state: Any, t: Any, detail: Any) -> None:
        """A `thread_state` record: only a start and an exit change `threads`."""
        th = self.threads.get(thread)
        if th is not None:
            if state == "start":
                th[3] = t
            elif state == "exit":
                th[4], th[5] = t, detail or None


def load(path: str | IO[bytes], db: sqlite3.Connection, info: TraceInfo | None = None) -> dict[str, int]:
    """Load trace `path` into the (empty) database `db`; returns row counts per table."""
    info = info or TraceInfo()
    if isinstance(path, str):
        db.executescript(SCHEMA)
        try:
            with no_gc():
                return _load_fast(path, db, info)
        except NotFast:
            reset(info)
            for table in _TABLES:
                db.execute(f"DROP TABLE IF EXISTS {table}")
    db.executescript(SCHEMA)
    dumps = orjson.dumps
    names = Names()
    states = ThreadStates()
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in (
        "syscalls", "handles", "signals", "thread_states", "events", "deadlocks")}
    inserts = {
        "syscalls": "INSERT INTO syscalls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        "handles": "INSERT INTO handles VALUES (?,?,?,?,?,?,?,?,?,?)",
        "signals": "INSERT INTO signals VALUES (?,?,?,?,?,?,?,?,?,?)",
        "thread_states": "INSERT INTO thread_states VALUES (?,?,?,?,?)",
        "events": "INSERT INTO events VALUES (?,?,?,?,?,?)",
        "deadlocks": "INSERT INTO deadlocks VALUES (?,?,?,?)",
    }
    counts = dict.fromkeys(rows, 0)
    open_handles: dict[tuple[int, int], list[Any]] = {}
    handle_koid: dict[tuple[int, int], int] = {}
    tasks = _Tasks()
    sys_rows = rows["syscalls"]
    h_rows = rows["handles"]
    sig_rows = rows["signals"]
    n = 0
    for n, rec in scan(path, info):
        kind = rec["kind"]
        if kind == "syscall":
            status = rec["status"]
            args = rec["args"]
            h = args.get("handle") if type(args) is dict else None
            koid = handle_koid.get((rec["pid"], h)) if type(h) is int else None
            res = rec["result"]
            sys_rows.append((rec["sc"], rec["t"], rec["dur"], rec["pid"], rec["tid"], rec["name"], status,
                             _status_name(status), status is not None, h if type(h) is int else None, koid,
                             dumps(args).decode(), None if res is None else dumps(res).decode()))
            if rec["tid"]:
                states.syscall(rec)
        elif kind == "handle_created":
            key = (rec["pid"], rec["handle"])
            row = [rec["pid"], rec["handle"], rec["koid"], rec["rights"], rec["t"], rec["sc"], rec["reason"],
                   None, None, None]
            open_handles[key] = row
            handle_koid[key] = rec["koid"]
        elif kind == "handle_closed":
            hkey = (rec["pid"], rec["handle"])
            if hkey in open_handles:
                row = open_handles.pop(hkey)
                row[7:10] = rec["t"], rec["sc"], rec["reason"]
                h_rows.append(tuple(row))
        elif kind == "signal":
            old, new = rec["old"], rec["new"]
            sig_rows.append((rec["t"], rec["sc"], rec["pid"], rec["tid"], rec["koid"], old, new,
                             new & ~old, old & ~new, 0))
        elif kind == "signal_strobe":
            sig_rows.append((rec["t"], rec["sc"], rec["pid"], rec["tid"], rec["koid"], None, None,
                             rec["signals"], 0, 1))
        elif kind == "object_created":
            names.see(rec)
            tasks.created(rec)
        elif kind == "object_destroyed":
            tasks.destroyed(rec)
        elif kind == "name":
            names.see(rec)
        elif kind == "thread_state":
            states.thread_state(rec)
            rows["thread_states"].append((rec["t"], rec["sc"], rec["thread"], rec["state"], rec.get("detail")))
            tasks.thread_state(rec["thread"], rec["state"], rec["t"], rec.get("detail"))
        elif kind == "process_exit":
            tasks.exited(rec)
        elif kind == "deadlock":
            for b in rec["blocked"]:
                if isinstance(b, dict):
                    rows["deadlocks"].append((rec["t"], b.get("tid"), b.get("pid"), b.get("wait")))
        elif kind == "trace_start":
            states.cost = rec.get("syscall_ns") or states.cost
        else:
            fields = {k: v for k, v in rec.items() if k not in ("kind", "t", "sc", "pid", "tid")}
            rows["events"].append((rec["t"], rec["sc"], rec["pid"], rec["tid"], kind, dumps(fields).decode()))
        if not n % _BATCH:
            for table, batch in rows.items():
                if batch:
                    db.executemany(inserts[table], batch)
                    counts[table] += len(batch)
                    batch.clear()
    h_rows.extend(tuple(r) for r in open_handles.values())
    for table, batch in rows.items():
        if batch:
            db.executemany(inserts[table], batch)
            counts[table] += len(batch)
    return _finish(db, names, tasks, states, info, counts)


_TABLES = ("processes", "threads", "syscalls", "objects", "handles", "signals", "thread_states",
           "thread_slices", "deadlocks", "events")
_INSERTS = {
    "syscalls": "INSERT INTO syscalls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "handles": "INSERT INTO handles VALUES (?,?,?,?,?,?,?,?,?,?)",
    "signals": "INSERT INTO signals VALUES (?,?,?,?,?,?,?,?,?,?)",
    "events": "INSERT INTO events VALUES (?,?,?,?,?,?)",
}


_ROWS_PER_INSERT = 256  # rows per INSERT statement of the fast path
# What the fast path binds for None where binding None would cost a trip through the
# sqlite3 module's adapters (most of the cost of a row): a value the column never holds,
# turned back into NULL by the statement.
_NULL_INT = 0.5  # integer columns (no integer equals it)
_NULL_JSON = "null"  # JSON columns: what orjson writes for None, and for nothing else
# The statements of the fast path: one SQL expression per column over the bound values
# (?N: the Nth value of the row).
_FAST_COLUMNS = {
    "syscalls": ("?1", "?2", "?3", "?4", "?5", "?6", "?7", "?8", "?7 IS NOT NULL", f"NULLIF(?9, {_NULL_INT})",
                 f"NULLIF(?10, {_NULL_INT})", "?11", f"NULLIF(?12, '{_NULL_JSON}')"),
    "signals": ("?1", "?2", "?3", "?4", "?5", "?6", "?7", "?7 & ~?6", "?6 & ~?7", "0"),
    "thread_states": ("?1", "?2", "?3", "?4", "?5"),
    "thread_slices": ("?1", f"NULLIF(?2, {_NULL_INT})", "?3", "?4", "?5"),
}

_PARAM = re.compile(r"\?(\d+)")


class _Inserter:
    """Rows for one table of the fast path, inserted `_ROWS_PER_INSERT` per statement as
    they come (what is left over waits for the next rows, or for `flush`)."""

    def __init__(self, db: sqlite3.Connection, table: str) -> None:
        self.db = db
        exprs = _FAST_COLUMNS[table]
        self.width = width = max(int(n) for e in exprs for n in _PARAM.findall(e))
        self.one = f"INSERT INTO {table} VALUES ({','.join(exprs)})"
        rows = []
        for r in range(_ROWS_PER_INSERT):
            def renumber(m: re.Match[str], r: int = r) -> str:
                return f"?{r * width + int(m.group(1))}"
            rows.append("(" + ",".join(_PARAM.sub(renumber, e) for e in exprs) + ")")
        self.many = f"INSERT INTO {table} VALUES " + ",".join(rows)
        self.pending: list[Any] = []
        self.count = 0

    def add(self, cols: list[Any]) -> None:
        """Insert the rows whose columns are `cols` (as `_FAST_COLUMNS` reads them)."""
        n = len(cols[0])
        self.count += n
        width = self.width
        # The rows' values one after the other, placed a column at a time.
        flat = self.pending
        base = len(flat)
        flat += itertools.repeat(None, n * width)
        for i, col in enumerate(cols):
            flat[base + i::width] = col
        step = _ROWS_PER_INSERT * width
        full = len(flat) - len(flat) % step
        execute, many = self.db.execute, self.many
        for start in range(0, full, step):
            execute(many, flat[start:start + step])
        del flat[:full]

    def flush(self) -> None:
        """Insert the rows left over."""
        flat, width = self.pending, self.width
        if flat:
            self.db.executemany(self.one, [flat[i:i + width] for i in range(0, len(flat), width)])
        flat.clear()


class _Args:
    """The `args` JSON of syscalls, named as the careful reader names them, a column at a
    time: a format string per syscall whose arguments are all integers, `orjson` for the
    rest."""

    def __init__(self) -> None:
        self.params: dict[str, tuple[str, ...]] = {}
        self.formats: dict[Any, Callable[[tuple[Any, ...]], str]] = {}
        self.handles: dict[Any, Callable[[Any], Any]] = {}

    def learn(self, params: dict[str, tuple[str, ...]]) -> None:
        """The argument names of every syscall declared so far."""
        if len(params) == len(self.params):
            return
        self.params = dict(params)
        self.formats = {}
        self.handles = {}
        for name, p in params.items():
            if len(set(p)) == len(p):
                inner = ",".join(orjson.dumps(a).decode().replace("%", "%%") + ":%d" for a in p)
                self.formats[name] = ("{" + inner + "}").__mod__
            self.handles[name] = operator.itemgetter(p.index("handle")) if "handle" in p else _no_handle

    def named(self, name: Any, args: Any) -> Any:
        """The args of one call as the careful reader gives them."""
        if type(args) is list:
            p = self.params.get(name, ())
            named = dict(zip(p, args))
            if len(args) > len(p):
                named["*extra"] = args[len(p):]
            return named
        return args

    def one(self, name: Any, args: Any) -> tuple[str, Any]:
        """(args JSON, handle argument or None) of one call, the careful way."""
        a = self.named(name, args)
        h = a.get("handle") if type(a) is dict else None
        return orjson.dumps(a).decode(), h if type(h) is int else None

    def columns(self, names: tuple[Any, ...], args: tuple[Any, ...]) -> tuple[list[str], list[Any]]:
        """(args JSON, handle argument or None) of every call."""
        n = len(args)
        if operator.countOf(map(type, args), list) == n and not {float, bool} & set(
                map(type, itertools.chain.from_iterable(args))):
            try:
                # A format raises for arguments of another type than int, or another count
                # than declared (the chunk then goes the careful way below); a syscall seen
                # with such arguments is formatted the careful way from then on.
                formats = self.formats
                if not formats.keys() >= set(names):
                    for name in set(names) - formats.keys():
                        formats[name] = functools.partial(self._careful, name)
                text = list(map(operator.call, map(formats.__getitem__, names), map(tuple, args)))
                handles = list(map(operator.call, map(self.handles.__getitem__, names), args))
                if operator.countOf(map(type, handles), int) + handles.count(None) == n:
                    return text, handles
            except (KeyError, TypeError, IndexError):
                self.unformatted(names, args)
        out = list(map(self.one, names, args))
        return [o[0] for o in out], [o[1] for o in out]

    def _careful(self, name: Any, args: tuple[Any, ...]) -> str:
        return self.one(name, list(args))[0]

    def unformatted(self, names: tuple[Any, ...], args: tuple[Any, ...]) -> None:
        """Format the syscalls of a chunk that failed the careful way from now on."""
        for name, a in zip(names, args):
            self.handles.setdefault(name, _no_handle)
            if type(a) is not list or operator.countOf(map(type, a), int) != len(a) \
                    or len(a) != len(self.params.get(name, ())):
                self.formats[name] = functools.partial(self._careful, name)


def _no_handle(args: Any) -> None:
    return None


_ORDERED = frozenset({"handle_created", "handle_closed", "thread_state", "object_created", "object_destroyed",
                      "process_exit"})
_SYSCALL_OR_STATE = frozenset({"syscall", "thread_state"})
_OBJECT_KINDS = frozenset({"object_created", "object_destroyed", "process_exit"})
_START_OR_EXIT = frozenset({"start", "exit"})


def _positions(kinds: list[Any], kind: str) -> list[int]:
    """The positions in the chunk of the rows of one kind."""
    return list(itertools.compress(itertools.count(), map(kind.__eq__, kinds)))


def _koids(kinds: list[Any], groups: dict[str, Any], names: dict[str, tuple[str, ...]],
           handle_koid: dict[tuple[int, int], int], handles: list[Any]) -> list[Any]:
    """The object each syscall's `handle` argument named when the call returned (the
    careful load looks it up record by record); `handle_koid` learns the chunk's handles."""
    pids = groups["syscall"][1][3]
    keys = list(zip(pids, handles))
    if "handle_created" not in groups:
        return list(map(handle_koid.get, keys))
    c = groups["handle_created"][1]
    f = names["handle_created"]
    created = list(zip(zip(c[3], c[f.index("handle")]), c[f.index("koid")]))
    last = dict(zip((k for k, _ in created), _positions(kinds, "handle_created")))
    named = list(map(last.__contains__, keys))
    if any(named):
        # A call naming a handle created in this chunk must come after that handle's (last)
        # creation to see what the chunk's end sees; otherwise follow the records in order.
        at = itertools.compress(_positions(kinds, "syscall"), named)
        if any(map(operator.lt, at, map(last.__getitem__, itertools.compress(keys, named)))):
            out: list[Any] = []
            get = handle_koid.get
            hc = iter(created)
            for kind in itertools.compress(kinds, map(_HANDLE_OR_CALL.__contains__, kinds)):
                if kind == "syscall":
                    out.append(get(keys[len(out)]))
                else:
                    key, koid = next(hc)
                    handle_koid[key] = koid
            return out
    handle_koid.update(created)
    return list(map(handle_koid.get, keys))


_HANDLE_OR_CALL = frozenset({"syscall", "handle_created"})


def _thread_spans(states: ThreadStates, kinds: list[Any], groups: dict[str, Any],
                  names: dict[str, tuple[str, ...]]) -> None:
    """Feed `states` the chunk's syscalls of simulated threads and thread_state records, as
    the careful load does record by record: only a call that ends a blocked wait needs the
    order of the records; every other call is a "running" span, added a column at a time."""
    blocked_at = states.blocked_at
    spans = states.states
    sc_cols = groups["syscall"][1] if "syscall" in groups else None
    special: list[tuple[int, tuple[int, str, int, int | None]]] = []
    if "thread_state" in groups or blocked_at:
        tid_col, sc_col = (sc_cols[4], sc_cols[2]) if sc_cols else ((), ())
        f = names["thread_state"]
        tcols = groups["thread_state"][1] if "thread_state" in groups else [()] * len(f)
        ts_t, ts_sc = tcols[1], tcols[2]
        threads_col, states_col, details = (tcols[f.index(x)] for x in ("thread", "state", "detail"))
        si = ti = 0
        for kind in itertools.compress(kinds, map(_SYSCALL_OR_STATE.__contains__, kinds)):
            if kind == "syscall":
                tid = tid_col[si]
                if tid and tid in blocked_at:
                    b = blocked_at.pop(tid)
                    if b[2] == sc_col[si]:
                        special.append((si, b))
                si += 1
            else:
                # ThreadStates.thread_state, on the columns.
                th, state = threads_col[ti], states_col[ti]
                if state == "blocked":
                    blocked_at[th] = (ts_t[ti], details[ti], ts_sc[ti], None)
                elif state == "woken":
                    if th in blocked_at:
                        b = blocked_at[th]
                        blocked_at[th] = (b[0], b[1], b[2], ts_t[ti])
                elif state == "start":
                    states.life[th] = [ts_t[ti], -1]
                elif state == "exit":
                    t = ts_t[ti]
                    states.life.setdefault(th, [t, t])[1] = t
                    if th in blocked_at:
                        b = blocked_at.pop(th)
                        spans[th].append((b[0], t, f"blocked: {b[1]}"))
                ti += 1
    if not sc_cols:
        return
    at = names["syscall"].index
    t_col, dur_col, tid_col, status_col = sc_cols[1], sc_cols[at("dur")], sc_cols[4], sc_cols[at("status")]
    plain = list(map(bool, tid_col))
    for si, b in special:
        plain[si] = False
        stop = t_col[si] + dur_col[si]
        woken = b[3]
        st = spans[tid_col[si]]
        if woken is None or status_col[si] is None:
            st.append((b[0], stop, f"blocked: {b[1]}"))
        else:
            # Blocked until woken, ready until it ran again, then ran `cost`.
            st.append((b[0], woken, f"blocked: {b[1]}"))
            st.append((max(woken, stop - states.cost), stop, "running"))
    compress = itertools.compress
    t = list(compress(t_col, plain))
    running = zip(t, map(operator.add, t, compress(dur_col, plain)), itertools.repeat("running"))
    collections.deque(map(list.append, map(spans.__getitem__, compress(tid_col, plain)), running), 0)



def _load_fast(path: str, db: sqlite3.Connection, info: TraceInfo) -> dict[str, int]:
    """`load` from `fast_chunks`, a column at a time (NotFast: the trace needs `scan`; the
    caller drops the tables)."""
    dumps = orjson.dumps
    names = Names()
    states = ThreadStates()
    states.cost = info.header.get("syscall_ns") or states.cost
    counts = dict.fromkeys(("syscalls", "handles", "signals", "thread_states", "events", "deadlocks"), 0)
    open_handles: dict[tuple[int, int], list[Any]] = {}
    handle_koid: dict[tuple[int, int], int] = {}
    tasks = _Tasks()
    status_names = _STATUS_NAMES
    named_args = _Args()
    none_to = {None: _NULL_INT}.get
    blocked_at = states.blocked_at
    states.states = collections.defaultdict(list)
    inserts = {table: _Inserter(db, table) for table in ("syscalls", "signals", "thread_states")}
    for chunk in fast_chunks(path, info):
        groups = chunk.groups
        kind_names = chunk.names
        named_args.learn(chunk.params)
        h_rows: list[tuple[Any, ...]] = []
        ev_rows: list[tuple[Any, ...]] = []
        if "syscall" in groups:
            at = kind_names["syscall"].index
            sys_cols = groups["syscall"][1]
            status = sys_cols[at("status")]
            for st in set(status) - status_names.keys():
                _status_name(st)
        kinds = chunk.kinds
        if "syscall" in groups:
            names_col, args_col = sys_cols[at("name")], sys_cols[at("args")]
            dur_col, status_col = sys_cols[at("dur")], sys_cols[at("status")]
            args_text, handles = named_args.columns(names_col, args_col)
            koids = _koids(kinds, groups, kind_names, handle_koid, handles)
            if "thread_state" in groups or blocked_at or any(sys_cols[4]):
                _thread_spans(states, kinds, groups, kind_names)
        elif "handle_created" in groups:
            c = groups["handle_created"][1]
            f = kind_names["handle_created"]
            handle_koid.update(zip(zip(c[3], c[f.index("handle")]), c[f.index("koid")]))
        if "thread_state" in groups and "syscall" not in groups:
            _thread_spans(states, kinds, groups, kind_names)
        # Kinds whose order among each other matters, in order (few records but handles).
        cols = {k: groups[k] for k in _ORDERED & groups.keys()}
        if "thread_state" in cols and not _OBJECT_KINDS & cols.keys():
            # Only a thread's start and exit matter to `threads`, in their own order.
            sel, c = cols.pop("thread_state")
            f = kind_names["thread_state"]
            ts_thread, ts_state, ts_detail = f.index("thread"), f.index("state"), f.index("detail")
            ends = map(_START_OR_EXIT.__contains__, c[ts_state])
            for row in itertools.compress(sel, ends):
                tasks.thread_state(row[ts_thread], row[ts_state], row[1], row[ts_detail])
        idx = dict.fromkeys(cols, 0)
        if "handle_created" in cols:
            hc = cols["handle_created"][1]
            f = kind_names["handle_created"]
            hc_h, hc_k, hc_r, hc_why = (hc[f.index(x)] for x in ("handle", "koid", "rights", "reason"))
        if "handle_closed" in cols:
            hx = cols["handle_closed"][1]
            f = kind_names["handle_closed"]
            hx_h, hx_why = hx[f.index("handle")], hx[f.index("reason")]
        if "thread_state" in cols:
            f = kind_names["thread_state"]
            ts_thread, ts_state, ts_detail = f.index("thread"), f.index("state"), f.index("detail")
        for kind in itertools.compress(kinds, map(cols.__contains__, kinds)):
            i = idx[kind]
            idx[kind] = i + 1
            if kind == "handle_created":
                pid, h = hc[3][i], hc_h[i]
                open_handles[pid, h] = [pid, h, hc_k[i], hc_r[i], hc[1][i], hc[2][i], hc_why[i], None, None, None]
            elif kind == "handle_closed":
                hkey = (hx[3][i], hx_h[i])
                if hkey in open_handles:
                    hrow = open_handles.pop(hkey)
                    hrow[7:10] = hx[1][i], hx[2][i], hx_why[i]
                    h_rows.append(tuple(hrow))
            elif kind == "thread_state":
                row = cols[kind][0][i]
                tasks.thread_state(row[ts_thread], row[ts_state], row[1], row[ts_detail])
            else:
                rec = dict(zip(kind_names[kind], cols[kind][0][i]))
                if kind == "object_created":
                    names.see(rec)
                    tasks.created(rec)
                elif kind == "object_destroyed":
                    tasks.destroyed(rec)
                elif kind == "process_exit":
                    tasks.exited(rec)
        if "syscall" in groups:
            c = sys_cols
            inserts["syscalls"].add([
                c[2], c[1], dur_col, c[3], c[4], names_col, status_col, list(map(status_names.__getitem__, status_col)),
                list(map(none_to, handles, handles)), list(map(none_to, koids, koids)), args_text,
                list(map(bytes.decode, map(dumps, c[at("result")])))])
        if "signal" in groups:
            c = groups["signal"][1]
            f = kind_names["signal"]
            inserts["signals"].add([c[1], c[2], c[3], c[4], c[f.index("koid")], c[f.index("old")], c[f.index("new")]])
        if "thread_state" in groups:
            c = groups["thread_state"][1]
            f = kind_names["thread_state"]
            inserts["thread_states"].add([
                c[1], c[2], c[f.index("thread")], c[f.index("state")], c[f.index("detail")]])
        if h_rows:
            db.executemany(_INSERTS["handles"], h_rows)
            counts["handles"] += len(h_rows)
        for kind, (sel, c) in groups.items():
            if kind in _ORDERED or kind in ("signal", "syscall"):
                continue
            if kind == "name":
                f = kind_names["name"]
                names.name.update(zip(c[f.index("koid")], c[f.index("name")]))
                continue
            if kind == "signal_strobe":
                f = kind_names[kind]
                db.executemany(_INSERTS["signals"], [(t, sc, pid, tid, koid, None, None, sig, 0, 1) for t, sc, pid, tid, koid, sig in zip(
                    c[1], c[2], c[3], c[4], c[f.index("koid")], c[f.index("signals")])])
                counts["signals"] += len(sel)
                continue
            for row in sel:
                rec = row if type(row) is dict else dict(zip(kind_names[kind], row))
                if kind == "deadlock":
                    dl = [(rec["t"], b.get("tid"), b.get("pid"), b.get("wait")) for b in rec["blocked"]
                          if isinstance(b, dict)]
                    db.executemany("INSERT INTO deadlocks VALUES (?,?,?,?)", dl)
                    counts["deadlocks"] += len(dl)
                else:
                    fields = {k: v for k, v in rec.items() if k not in ("kind", "t", "sc", "pid", "tid")}
                    ev_rows.append((rec["t"], rec["sc"], rec["pid"], rec["tid"], kind, dumps(fields).decode()))
        if ev_rows:
            db.executemany(_INSERTS["events"], ev_rows)
            counts["events"] += len(ev_rows)
    h_rows = [tuple(r) for r in open_handles.values()]
    if h_rows:
        db.executemany(_INSERTS["handles"], h_rows)
    counts["handles"] += len(h_rows)
    for table, inserter in inserts.items():
        inserter.flush()
        counts[table] += inserter.count
    return _finish(db, names, tasks, states, info, counts)


def _finish(db: sqlite3.Connection, names: Any, tasks: _Tasks, states: Any,
            info: TraceInfo, counts: dict[str, int]) -> dict[str, int]:
    """The end of both loads: name the objects, processes and threads, insert them and the
    thread-state slices, build the indexes and commit; returns the row counts."""
    objects, processes, threads = tasks.objects, tasks.processes, tasks.threads
    for koid, o in objects.items():
        o[3] = names.name.get(koid)
    for pid, proc in processes.items():
        proc[1] = names.name.get(pid)
    for tid, th in threads.items():
        th[2] = names.name.get(tid)
    db.executemany("INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?)", objects.values())
    db.executemany("INSERT INTO processes VALUES (?,?,?,?,?,?,?)", processes.values())
    db.executemany("INSERT INTO threads VALUES (?,?,?,?,?,?)", threads.values())
    tids, starts, durs, labels = states.columns(info.last_t)
    pids = list(map(names.process_of.get, tids, itertools.repeat(_NULL_INT)))
    inserter = _Inserter(db, "thread_slices")
    if tids:
        inserter.add([tids, pids, starts, durs, labels])
    inserter.flush()
    slices = inserter.count
    counts.update(objects=len(objects), processes=len(processes), threads=len(threads), thread_slices=slices)
    db.executescript(INDEXES)
    db.commit()
    return dict(sorted(counts.items()))


def _connect(target: str) -> sqlite3.Connection:
    """A connection set up for one bulk load: no journal, no syncs (a load cut short leaves
    the `.partial` file, which is removed), large pages and cache, the file held."""
    db = sqlite3.connect(target)
    for pragma in ("page_size = 65536", "journal_mode = OFF", "synchronous = OFF", "locking_mode = EXCLUSIVE",
                   "cache_size = -262144", "temp_store = MEMORY", "threads = 2"):
        db.execute(f"PRAGMA {pragma}")
    return db


def load_sqlite(path: str | IO[bytes], out: str, info: TraceInfo | None = None) -> dict[str, int]:
    """Load the trace into a new SQLite database file `out` (replaced if it exists)."""
    tmp = out + ".partial"
    if os.path.exists(tmp):
        os.remove(tmp)
    db = _connect(tmp)
    try:
        counts = load(path, db, info)
    except BaseException:
        db.close()
        os.remove(tmp)
        raise
    db.close()
    os.replace(tmp, out)
    return counts


def query(path: str | IO[bytes], sql: str, info: TraceInfo | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one SQL statement over the trace (loaded into an in-memory database)."""
    db = _connect(":memory:")
    try:
        load(path, db, info)
        try:
            cur = db.execute(sql)
        except sqlite3.Error as exc:
            raise SqlError(f"SQL error: {exc}") from None
        cols = [d[0] for d in cur.description or ()]
        return cols, cur.fetchall()
    finally:
        db.close()


class SqlError(ValueError):
    """A query the database refused."""


__all__ = ["SCHEMA", "SqlError", "load", "load_sqlite", "query"]
