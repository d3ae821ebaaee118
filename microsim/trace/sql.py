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

import itertools
import os
import sqlite3
from typing import IO, Any

import orjson

from microsim.trace.analysis import (
    Names,
    NotFast,
    TraceInfo,
    fast_chunks,
    fast_names,
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
    objects: dict[int, list[Any]] = {}
    processes: dict[int, list[Any]] = {}
    threads: dict[int, list[Any]] = {}
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
            koid = rec["koid"]
            objects[koid] = [koid, rec["type"], rec.get("obj_type"), None, rec.get("owner"),
                             rec.get("related_koid"), rec["t"], rec["sc"], None]
            if rec["type"] == "process":
                processes[koid] = [koid, None, rec.get("owner"), rec["t"], None, None, None]
            elif rec["type"] == "thread":
                threads[koid] = [koid, rec.get("owner") or rec.get("related_koid"), None, None, None, None]
        elif kind == "object_destroyed":
            o = objects.get(rec["koid"])
            if o is not None:
                o[8] = rec["t"]
        elif kind == "name":
            names.see(rec)
        elif kind == "thread_state":
            states.thread_state(rec)
            rows["thread_states"].append((rec["t"], rec["sc"], rec["thread"], rec["state"], rec.get("detail")))
            th = threads.get(rec["thread"])
            if th is not None:
                if rec["state"] == "start":
                    th[3] = rec["t"]
                elif rec["state"] == "exit":
                    th[4], th[5] = rec["t"], rec.get("detail") or None
        elif kind == "process_exit":
            p = processes.setdefault(rec["process"], [rec["process"], None, None, None, None, None, None])
            p[4:7] = rec["t"], rec["code"], rec.get("reason", "exit")
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
    return _finish(db, names, objects, processes, threads, states, info, counts)


_TABLES = ("processes", "threads", "syscalls", "objects", "handles", "signals", "thread_states",
           "thread_slices", "deadlocks", "events")
_INSERTS = {
    "syscalls": "INSERT INTO syscalls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "handles": "INSERT INTO handles VALUES (?,?,?,?,?,?,?,?,?,?)",
    "signals": "INSERT INTO signals VALUES (?,?,?,?,?,?,?,?,?,?)",
    "events": "INSERT INTO events VALUES (?,?,?,?,?,?)",
}


_MULTI = 100  # rows per INSERT statement of the fast path
_MULTI_INSERTS: dict[str, str] = {}


def _insert(db: sqlite3.Connection, table: str, batch: list[tuple[Any, ...]]) -> None:
    """Insert the rows, `_MULTI` per statement (about half the cost of one per row)."""
    width = len(batch[0])
    stmt = _MULTI_INSERTS.get(table)
    if stmt is None:
        one = "(" + ",".join("?" * width) + ")"
        stmt = _MULTI_INSERTS[table] = f"INSERT INTO {table} VALUES " + ",".join([one] * _MULTI)
    full = len(batch) - len(batch) % _MULTI
    flatten = itertools.chain.from_iterable
    for i in range(0, full, _MULTI):
        db.execute(stmt, list(flatten(batch[i:i + _MULTI])))
    if full < len(batch):
        db.executemany(_INSERTS[table], batch[full:])


def _load_fast(path: str, db: sqlite3.Connection, info: TraceInfo) -> dict[str, int]:
    """`load` from `fast_chunks` (NotFast: the trace needs `scan`; the caller drops the tables)."""
    dumps = orjson.dumps
    names = Names()
    states = ThreadStates()
    counts = dict.fromkeys(("syscalls", "handles", "signals", "thread_states", "events", "deadlocks"), 0)
    open_handles: dict[tuple[int, int], list[Any]] = {}
    handle_koid: dict[tuple[int, int], int] = {}
    objects: dict[int, list[Any]] = {}
    processes: dict[int, list[Any]] = {}
    threads: dict[int, list[Any]] = {}
    kind_names: dict[str, tuple[str, ...]] = {}
    status_names = _STATUS_NAMES
    params: dict[str, tuple[str, ...]] = {}
    at: dict[str, dict[str, int]] = {}
    for _kinds, rows, groups in fast_chunks(path, info):
        if not kind_names:
            kind_names = fast_names(info)
            params = {k: tuple(v) for k, v in (info.header.get("syscalls") or {}).items()}
            at = {k: {f: i for i, f in enumerate(v)} for k, v in kind_names.items()}
            states.cost = info.header.get("syscall_ns") or states.cost
        sys_rows: list[tuple[Any, ...]] = []
        h_rows: list[tuple[Any, ...]] = []
        sig_rows: list[tuple[Any, ...]] = []
        ev_rows: list[tuple[Any, ...]] = []
        if "syscall" in groups:
            s = at["syscall"]
            i_name, i_args, i_status, i_result, i_dur = s["name"], s["args"], s["status"], s["result"], s["dur"]
        if "handle_created" in groups:
            hc = at["handle_created"]
            hc_h, hc_k, hc_r, hc_why = hc["handle"], hc["koid"], hc["rights"], hc["reason"]
        if "handle_closed" in groups:
            hx = at["handle_closed"]
            hx_h, hx_why = hx["handle"], hx["reason"]
        if "signal" in groups:
            sg = at["signal"]
            sg_k, sg_o, sg_n = sg["koid"], sg["old"], sg["new"]
        for row in rows:
            kind = row[0]
            if kind == "syscall":
                args = row[i_args]
                name = row[i_name]
                if type(args) is list:
                    p = params.get(name, ())
                    named = dict(zip(p, args))
                    if len(args) > len(p):
                        named["*extra"] = args[len(p):]
                    args = named
                h = args.get("handle") if type(args) is dict else None
                if type(h) is not int:
                    h = None
                pid = row[3]
                status = row[i_status]
                res = row[i_result]
                sys_rows.append((row[2], row[1], row[i_dur], pid, row[4], name, status,
                                 status_names.get(status) or _status_name(status),
                                 status is not None, h, None if h is None else handle_koid.get((pid, h)),
                                 dumps(args).decode(), None if res is None else dumps(res).decode()))
                if row[4]:
                    rec = dict(zip(kind_names[kind], row))
                    rec["args"] = args
                    states.syscall(rec)
            elif kind == "signal":
                old, new = row[sg_o], row[sg_n]
                sig_rows.append((row[1], row[2], row[3], row[4], row[sg_k], old, new, new & ~old, old & ~new, 0))
            elif kind == "handle_created":
                key = (row[3], row[hc_h])
                open_handles[key] = [row[3], row[hc_h], row[hc_k], row[hc_r], row[1], row[2], row[hc_why],
                                     None, None, None]
                handle_koid[key] = row[hc_k]
            elif kind == "handle_closed":
                hkey = (row[3], row[hx_h])
                if hkey in open_handles:
                    hrow = open_handles.pop(hkey)
                    hrow[7:10] = row[1], row[2], row[hx_why]
                    h_rows.append(tuple(hrow))
            else:
                rec = dict(zip(kind_names[kind], row))
                if kind == "signal_strobe":
                    sig_rows.append((rec["t"], rec["sc"], rec["pid"], rec["tid"], rec["koid"], None, None,
                                     rec["signals"], 0, 1))
                elif kind == "object_created":
                    names.see(rec)
                    koid = rec["koid"]
                    objects[koid] = [koid, rec["type"], rec.get("obj_type"), None, rec.get("owner"),
                                     rec.get("related_koid"), rec["t"], rec["sc"], None]
                    if rec["type"] == "process":
                        processes[koid] = [koid, None, rec.get("owner"), rec["t"], None, None, None]
                    elif rec["type"] == "thread":
                        threads[koid] = [koid, rec.get("owner") or rec.get("related_koid"), None, None, None,
                                         None]
                elif kind == "object_destroyed":
                    o = objects.get(rec["koid"])
                    if o is not None:
                        o[8] = rec["t"]
                elif kind == "name":
                    names.see(rec)
                else:
                    fields = {k: v for k, v in rec.items() if k not in ("kind", "t", "sc", "pid", "tid")}
                    ev_rows.append((rec["t"], rec["sc"], rec["pid"], rec["tid"], kind, dumps(fields).decode()))
        for table, batch in (("syscalls", sys_rows), ("handles", h_rows), ("signals", sig_rows),
                             ("events", ev_rows)):
            if batch:
                _insert(db, table, batch)
                counts[table] += len(batch)
    h_rows = [tuple(r) for r in open_handles.values()]
    if h_rows:
        _insert(db, "handles", h_rows)
    counts["handles"] += len(h_rows)
    return _finish(db, names, objects, processes, threads, states, info, counts)


def _finish(db: sqlite3.Connection, names: Any, objects: dict[int, list[Any]],
            processes: dict[int, list[Any]], threads: dict[int, list[Any]], states: Any,
            info: TraceInfo, counts: dict[str, int]) -> dict[str, int]:
    """The end of both loads: name the objects, processes and threads, insert them and the
    thread-state slices, build the indexes and commit; returns the row counts."""
    for koid, o in objects.items():
        o[3] = names.name.get(koid)
    for pid, proc in processes.items():
        proc[1] = names.name.get(pid)
    for tid, th in threads.items():
        th[2] = names.name.get(tid)
    db.executemany("INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?)", objects.values())
    db.executemany("INSERT INTO processes VALUES (?,?,?,?,?,?,?)", processes.values())
    db.executemany("INSERT INTO threads VALUES (?,?,?,?,?,?)", threads.values())
    slices = [(th, names.process_of.get(th), ts, dur, label) for th, ts, dur, label in states.intervals(info.last_t)]
    db.executemany("INSERT INTO thread_slices VALUES (?,?,?,?,?)", slices)
    counts.update(objects=len(objects), processes=len(processes), threads=len(threads), thread_slices=len(slices))
    db.executescript(INDEXES)
    db.commit()
    return dict(sorted(counts.items()))


def _connect(target: str) -> sqlite3.Connection:
    db = sqlite3.connect(target)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
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
