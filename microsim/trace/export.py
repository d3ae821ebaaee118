"""Export a trace to Perfetto: the trace-event JSON format (this module) or FXT (fxt.py).

Both exports are built from one `Timeline`, derived from the trace:

- one process track per simulated process (pid = process koid, named), one thread track
  per simulated thread (tid = thread koid, named "thread-name"), plus the kernel (pid 0);
  calls made directly from Python appear on a "(direct calls)" thread of their process;
- each syscall a complete slice on its thread (arguments and results decoded, the status
  by name; one that never returned says "did not return");
- per-thread state slices on a track beside the thread ("<name> state"): `running`
  (executing a syscall), `blocked: <what it waits on>`, `ready` (runnable, not running);
- flows: a channel write to the read that takes the message; a handle sent in a channel
  message to the call that receives it; a port packet from `zx_port_queue` (or from the
  `zx_object_wait_async` that armed it) to the `zx_port_wait` that takes it;
- counters: live handles per process, mapped bytes per process, live objects and
  committed pages (kernel);
- instants: signal changes (named by object type), deadlocks, process exits, and every
  plugin event (its koid fields labelled with the objects' names);
- object lifetimes as async spans (id = koid, category = object type).

Timestamps are virtual nanoseconds (JSON: microseconds, as the format requires).
"""

from __future__ import annotations

import itertools
import operator
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from microsim.trace.analysis import (
    Names,
    TraceInfo,
    object_fields,
    scan,
    signals_str,
    size_str,
    status_str,
    value_str,
    wait_str,
)

KERNEL_PID = 0
# A thread's state track has tid = thread koid + STATE_TID (koids stay far below it).
STATE_TID = 1 << 30


@dataclass
class Slice:
    """A complete slice on a thread track."""

    pid: int
    tid: int
    ts: int
    dur: int
    cat: str
    name: str
    args: dict[str, Any]


@dataclass
class Instant:
    """An instant event; scope "t" (thread), "p" (process) or "g" (global)."""

    pid: int
    tid: int
    ts: int
    cat: str
    name: str
    args: dict[str, Any]
    scope: str = "t"


@dataclass
class Counter:
    """One sample of a counter track of process `pid`."""

    pid: int
    ts: int
    name: str
    value: int


@dataclass
class Flow:
    """An arrow from one slice to another (each given by a point inside it)."""

    id: int
    cat: str
    name: str
    src: tuple[int, int, int]  # pid, tid, ts
    dst: tuple[int, int, int]


@dataclass
class Span:
    """An object's lifetime (async span)."""

    pid: int
    koid: int
    cat: str
    name: str
    begin: int
    end: int


@dataclass
class Timeline:
    """What both exports draw."""

    processes: dict[int, str] = field(default_factory=dict)
    threads: dict[tuple[int, int], str] = field(default_factory=dict)
    slices: list[Slice] = field(default_factory=list)
    instants: list[Instant] = field(default_factory=list)
    counters: list[Counter] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    objects: dict[int, tuple[str, str, int]] = field(default_factory=dict)  # koid -> type, name, owner pid
    end: int = 0


def _sc_point(sl: Slice) -> tuple[int, int, int]:
    return sl.pid, sl.tid, sl.ts + sl.dur // 2


class ThreadStates:
    """Per-thread state intervals: `running` (executing a syscall), `blocked: <wait>`
    (from `thread_state blocked` to `woken`, or to the end of a call that never returned),
    and `ready` (the gaps: runnable, not running). Feed it records in order."""

    def __init__(self, cost: int = 1000) -> None:
        self.cost = cost
        self.blocked_at: dict[int, tuple[int, str, int, int | None]] = {}  # tid -> (t, detail, sc, woken)
        self.states: dict[int, list[tuple[int, int, str]]] = {}
        self.life: dict[int, list[int]] = {}  # tid -> [start, exit or -1]

    def syscall(self, rec: dict[str, Any]) -> None:
        """A syscall record of a simulated thread."""
        tid = rec["tid"]
        t = rec["t"]
        st = self.states.setdefault(tid, [])
        b = self.blocked_at.pop(tid) if tid in self.blocked_at else None
        stop = t + rec["dur"]
        if b is not None and b[2] == rec["sc"]:
            woken = b[3]
            if woken is None or rec["status"] is None:
                st.append((b[0], stop, f"blocked: {b[1]}"))
            else:
                # Blocked until woken, ready until it ran again, then ran `cost`.
                st.append((b[0], woken, f"blocked: {b[1]}"))
                st.append((max(woken, stop - self.cost), stop, "running"))
        else:
            st.append((t, stop, "running"))

    def thread_state(self, rec: dict[str, Any]) -> None:
        """A thread_state record."""
        th = rec["thread"]
        state = rec["state"]
        t = rec["t"]
        if state == "start":
            self.life[th] = [t, -1]
        elif state == "blocked":
            self.blocked_at[th] = (t, rec.get("detail", ""), rec["sc"], None)
        elif state == "woken" and th in self.blocked_at:
            b = self.blocked_at[th]
            self.blocked_at[th] = (b[0], b[1], b[2], t)
        elif state == "exit":
            self.life.setdefault(th, [t, t])[1] = t
            if th in self.blocked_at:
                b = self.blocked_at.pop(th)
                self.states.setdefault(th, []).append((b[0], t, f"blocked: {b[1]}"))

    def columns(self, end: int) -> tuple[list[int], list[int], list[int], list[str]]:
        """`intervals(end)` as four columns (tid, start, duration, state), computed a
        thread at a time without a Python-level loop per interval (the SQLite load)."""
        tids: list[int] = []
        starts: list[int] = []
        durs: list[int] = []
        labels: list[str] = []
        sub, gt, repeat, chain = operator.sub, operator.gt, itertools.repeat, itertools.chain.from_iterable
        le, ge = operator.le, operator.ge
        for th, life in self.life.items():
            start, stop = life[0], life[1] if life[1] >= 0 else end
            # One pass over the sorted spans (they lie all over memory), then slices.
            flat: list[Any] = list(chain(sorted(self.states.get(th, []))))
            s0s: list[int] = flat[0::3]
            s1s: list[int] = flat[1::3]
            names: list[str] = flat[2::3]
            n = len(s0s)
            # The cursor before each span (and after the last): the furthest end so far;
            # each span clipped to it. Spans that do not overlap (the common case) need no
            # max() per span.
            if s1s and s1s[0] >= start and all(map(le, s1s, itertools.islice(s1s, 1, None))):
                cursor = [start, *s1s]
            else:
                cursor = list(itertools.accumulate(s1s, max, initial=start))
            begin = s0s if all(map(ge, s0s, cursor)) else list(map(max, s0s, cursor))
            # In order: the gap before each span ("ready"), the span, and the final gap.
            at = [0] * (2 * n + 1)
            at[0:2 * n:2] = cursor[:n]
            at[1:2 * n:2] = begin
            at[2 * n] = cursor[n]
            length = at[:]
            length[0:2 * n:2] = list(map(sub, begin, cursor))
            length[1:2 * n:2] = list(map(sub, s1s, begin))
            length[2 * n] = stop - cursor[n]
            label = ["ready"] * (2 * n + 1)
            label[1:2 * n:2] = names
            keep = list(map(gt, length, repeat(0)))
            kept = list(itertools.compress(at, keep))
            starts += kept
            durs += itertools.compress(length, keep)
            labels += itertools.compress(label, keep)
            tids += repeat(th, len(kept))
        return tids, starts, durs, labels

    def intervals(self, end: int) -> Iterator[tuple[int, int, int, str]]:
        """(tid, start, duration, state) for every thread, gaps filled with "ready"."""
        for th, life in self.life.items():
            start, stop = life[0], life[1] if life[1] >= 0 else end
            cursor = start
            for s0, s1, label in sorted(self.states.get(th, [])):
                s0 = max(s0, cursor)
                if s0 > cursor:
                    yield th, cursor, s0 - cursor, "ready"
                if s1 > s0:
                    yield th, s0, s1 - s0, label
                cursor = max(cursor, s1)
            if stop > cursor:
                yield th, cursor, stop - cursor, "ready"


def build_timeline(path: str | IO[bytes], info: TraceInfo | None = None) -> Timeline:
    """Read a trace into a `Timeline`."""
    info = info or TraceInfo()
    tl = Timeline()
    names = Names()
    objs: dict[str, tuple[str, ...]] = {}
    handle_koid: dict[tuple[int, int], int] = {}
    peer: dict[int, int] = {}
    owner: dict[int, int] = {}
    open_spans: dict[int, tuple[int, str, str, int]] = {}
    live_objects = 0
    live_handles: dict[int, int] = {}
    mapped: dict[int, int] = {}
    syscalls: dict[int, Slice] = {}
    # Flow sources waiting for their destination.
    channel_q: dict[int, deque[tuple[int, int]]] = {}  # endpoint koid -> (flow id, sc)
    port_q: dict[int, deque[tuple[int, int]]] = {}
    async_q: dict[tuple[int, int], deque[tuple[int, int]]] = {}  # (port koid, key)
    moved: dict[int, deque[tuple[int, int]]] = {}  # koid -> (flow id, sc of the sender)
    pending_flows: list[tuple[int, str, str, int, int]] = []  # id, cat, name, src sc, dst sc
    next_flow = 1
    ts_ = ThreadStates()
    for _, rec in scan(path, info):
        kind = rec["kind"]
        t = rec["t"]
        pid = rec["pid"]
        tid = rec["tid"]
        if kind in ("trace_start", "trace_kinds"):
            objs = object_fields(info)
            ts_.cost = rec.get("syscall_ns") or ts_.cost
            continue
        names.see(rec)
        if kind == "syscall":
            track = tid or pid
            if not tid:
                tl.threads.setdefault((pid, pid), "(direct calls)")
            args = rec.get("args") or {}
            decoded = {k: value_str(k, v) for k, v in args.items()} if isinstance(args, dict) else {"args": str(args)}
            res = rec.get("result")
            sl = Slice(pid, track, t, rec["dur"], "syscall", rec["name"],
                       {**decoded, "status": status_str(rec["status"]),
                        "result": value_str("result", res) if res is not None else None, "sc": rec["sc"]})
            tl.slices.append(sl)
            syscalls[rec["sc"]] = sl
            if tid:
                ts_.syscall(rec)
            if rec["status"] == 0:
                name = rec["name"]
                h = args.get("handle") if isinstance(args, dict) else None
                koid = handle_koid.get((pid, h)) if isinstance(h, int) else None
                if name.startswith("zx_channel_write") and koid is not None:
                    channel_q.setdefault(peer.get(koid, 0), deque()).append((next_flow, rec["sc"]))
                    next_flow += 1
                elif name.startswith("zx_channel_read") and koid is not None:
                    q = channel_q.get(koid)
                    if q:
                        fid, src = q.popleft()
                        pending_flows.append((fid, "channel", "message", src, rec["sc"]))
                elif name == "zx_port_queue" and koid is not None:
                    port_q.setdefault(koid, deque()).append((next_flow, rec["sc"]))
                    next_flow += 1
                elif name == "zx_object_wait_async" and isinstance(args, dict):
                    port_h = args.get("port")
                    pk = handle_koid.get((pid, port_h)) if isinstance(port_h, int) else None
                    if pk is not None:
                        async_q.setdefault((pk, args.get("key", 0)), deque()).append((next_flow, rec["sc"]))
                        next_flow += 1
                elif name == "zx_port_wait" and koid is not None and isinstance(res, dict):
                    q = port_q.get(koid) if res.get("type") == 0 else async_q.get((koid, res.get("key", 0)))
                    if q:
                        fid, src = q.popleft()
                        pending_flows.append((fid, "port", "packet", src, rec["sc"]))
            continue
        if kind == "handle_created":
            handle_koid[pid, rec["handle"]] = rec["koid"]
            live_handles[pid] = live_handles.get(pid, 0) + 1
            tl.counters.append(Counter(pid, t, "live handles", live_handles[pid]))
            if rec["reason"] == "transfer" and rec["sc"]:
                q = moved.get(rec["koid"])
                if q:
                    fid, src = q.popleft()
                    pending_flows.append((fid, "handle", "handle moved", src, rec["sc"]))
        elif kind == "handle_closed":
            live_handles[pid] = live_handles.get(pid, 0) - 1
            tl.counters.append(Counter(pid, t, "live handles", live_handles[pid]))
            if rec["reason"] == "transfer" and rec["sc"]:
                moved.setdefault(rec["koid"], deque()).append((next_flow, rec["sc"]))
                next_flow += 1
        elif kind == "object_created":
            koid = rec["koid"]
            typ = rec["type"]
            if rec.get("related_koid"):
                peer[koid] = rec["related_koid"]
            o = rec.get("owner") or pid
            if typ == "process":
                tl.processes[koid] = ""
                o = koid
            elif typ == "thread":
                o = rec.get("owner") or rec.get("related_koid") or pid
                tl.threads[o, koid] = ""
            owner[koid] = o
            open_spans[koid] = (o, typ, "", t)
            live_objects += 1
            tl.counters.append(Counter(KERNEL_PID, t, "live objects", live_objects))
        elif kind == "object_destroyed":
            koid = rec["koid"]
            span = open_spans.pop(koid, None)
            if span is not None:
                tl.spans.append(Span(span[0], koid, span[1], names.object(koid), span[3], t))
            live_objects -= 1
            tl.counters.append(Counter(KERNEL_PID, t, "live objects", live_objects))
        elif kind in ("mapping_created", "mapping_destroyed"):
            d = rec["len"] if kind == "mapping_created" else -rec["len"]
            mapped[pid] = mapped.get(pid, 0) + d
            tl.counters.append(Counter(pid, t, "mapped bytes", mapped[pid]))
        elif kind == "pages":
            tl.counters.append(Counter(KERNEL_PID, t, "committed pages", rec["committed"]))
        elif kind in ("signal", "signal_strobe"):
            koid = rec["koid"]
            typ = names.type.get(koid)
            if kind == "signal":
                raised, cleared = rec["new"] & ~rec["old"], rec["old"] & ~rec["new"]
                label = " ".join(x for x in (f"+{signals_str(raised, typ)}" if raised else "",
                                             f"-{signals_str(cleared, typ)}" if cleared else "") if x)
                args = {"object": names.object(koid), "old": signals_str(rec["old"], typ),
                        "new": signals_str(rec["new"], typ)}
            else:
                label = f"strobe {signals_str(rec['signals'], typ)}"
                args = {"object": names.object(koid), "signals": signals_str(rec["signals"], typ)}
            tl.instants.append(_instant(pid, tid, t, "signal", f"{names.object(koid)} {label}", args, tl))
        elif kind == "thread_state":
            ts_.thread_state(rec)
        elif kind == "deadlock":
            blocked = rec["blocked"]
            tl.instants.append(Instant(KERNEL_PID, KERNEL_PID, t, "deadlock", "DEADLOCK",
                                       {"blocked": "; ".join(f"{names.thread(b.get('tid', 0))}: {wait_str(b.get('wait'), names)}"
                                                             for b in blocked if isinstance(b, dict))}, "g"))
        elif kind == "process_exit":
            p = rec["process"]
            tl.instants.append(Instant(p, p, t, "process", f"exit {rec['code']} ({rec.get('reason', 'exit')})",
                                       {"code": rec["code"], "reason": rec.get("reason", "exit")}, "p"))
        elif "." in kind:
            args = {}
            for k, v in rec.items():
                if k in ("kind", "t", "sc", "pid", "tid"):
                    continue
                if k in objs.get(kind, ()) and isinstance(v, int):
                    args[k] = names.object(v)
                elif k in ("len", "size") and isinstance(v, int):
                    args[k] = size_str(v)
                else:
                    args[k] = v
            tl.instants.append(_instant(pid, tid, t, kind.split(".", 1)[0], kind, args, tl))
    end = info.last_t
    tl.end = end
    for koid, (o, typ, _, begin) in open_spans.items():
        tl.spans.append(Span(o, koid, typ, names.object(koid), begin, end))
    for fid, cat, name, src, dst in pending_flows:
        a, b = syscalls.get(src), syscalls.get(dst)
        if a is not None and b is not None:
            tl.flows.append(Flow(fid, cat, name, _sc_point(a), _sc_point(b)))
    for th, start, dur, label in ts_.intervals(end):
        if label.startswith("blocked: "):
            label = "blocked: " + wait_str(label[len("blocked: "):], names)
        tl.slices.append(Slice(names.process_of.get(th, 0), th + STATE_TID, start, dur, "state", label, {}))
    # Names.
    for p in list(tl.processes):
        tl.processes[p] = names.process(p)
    for (p, th) in list(tl.threads):
        if th == p:
            continue
        label = names.name.get(th) or f"thread {th}"
        tl.threads[p, th] = f"{label} [{th}]"
        tl.threads[p, th + STATE_TID] = f"{label} [{th}] state"
    for koid, typ in names.type.items():
        tl.objects[koid] = (typ, names.name.get(koid, ""), owner.get(koid, 0))
    return tl


def _instant(pid: int, tid: int, ts: int, cat: str, name: str, args: dict[str, Any], tl: Timeline) -> Instant:
    """A thread-scoped instant if a thread did it, else process-scoped."""
    if tid:
        return Instant(pid, tid, ts, cat, name, args, "t")
    return Instant(pid, pid, ts, cat, name, args, "p")


def to_perfetto(path: str | IO[bytes], info: TraceInfo | None = None) -> dict[str, Any]:
    """The trace as a trace-event JSON document (`{"traceEvents": [...]}`)."""
    tl = build_timeline(path, info)
    us = 1000.0
    meta: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    pids = {KERNEL_PID} | set(tl.processes) | {p for p, _ in tl.threads}
    pids |= {s.pid for s in tl.slices} | {i.pid for i in tl.instants} | {c.pid for c in tl.counters}
    pids |= {s.pid for s in tl.spans}
    tracks = set(tl.threads) | {(s.pid, s.tid) for s in tl.slices} | {(i.pid, i.tid) for i in tl.instants}
    tracks |= {(s.pid, s.pid) for s in tl.spans} | {(KERNEL_PID, KERNEL_PID)}
    for pid in sorted(pids):
        meta.append({"name": "process_name", "ph": "M", "pid": pid, "tid": pid,
                     "args": {"name": "kernel" if pid == KERNEL_PID else tl.processes.get(pid, f"process [{pid}]")}})
        meta.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": pid, "args": {"sort_index": pid}})
    for pid, tid in sorted(tracks):
        label = tl.threads.get((pid, tid)) or ("kernel" if pid == KERNEL_PID else
                                               "(direct calls)" if tid == pid else f"thread [{tid}]")
        meta.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": label}})
        sort = (tid - STATE_TID) * 2 + 1 if tid >= STATE_TID else tid * 2
        meta.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid, "args": {"sort_index": sort}})
    for s in tl.slices:
        events.append({"name": s.name, "cat": s.cat, "ph": "X", "ts": s.ts / us, "dur": s.dur / us,
                       "pid": s.pid, "tid": s.tid, "args": s.args})
    for i in tl.instants:
        events.append({"name": i.name, "cat": i.cat, "ph": "i", "s": i.scope, "ts": i.ts / us,
                       "pid": i.pid, "tid": i.tid, "args": i.args})
    for c in tl.counters:
        events.append({"name": c.name, "ph": "C", "ts": c.ts / us, "pid": c.pid, "tid": c.pid,
                       "args": {"value": c.value}})
    for f in tl.flows:
        events.append({"name": f.name, "cat": f.cat, "ph": "s", "id": f.id, "ts": f.src[2] / us,
                       "pid": f.src[0], "tid": f.src[1]})
        events.append({"name": f.name, "cat": f.cat, "ph": "f", "bp": "e", "id": f.id, "ts": f.dst[2] / us,
                       "pid": f.dst[0], "tid": f.dst[1]})
    for sp in tl.spans:
        events.append({"name": sp.name, "cat": sp.cat, "ph": "b", "id": sp.koid, "ts": sp.begin / us,
                       "pid": sp.pid, "tid": sp.pid, "args": {"koid": sp.koid}})
        events.append({"name": sp.name, "cat": sp.cat, "ph": "e", "id": sp.koid, "ts": sp.end / us,
                       "pid": sp.pid, "tid": sp.pid})
    events.sort(key=lambda e: e["ts"])
    return {"traceEvents": meta + events, "displayTimeUnit": "ns"}


_PHASES = {"X", "B", "E", "b", "e", "n", "i", "I", "C", "M", "s", "t", "f"}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "X": ("name", "ts", "dur", "pid", "tid"), "B": ("name", "ts", "pid", "tid"), "E": ("ts", "pid", "tid"),
    "b": ("name", "cat", "id", "ts", "pid"), "e": ("name", "cat", "id", "ts", "pid"),
    "n": ("name", "cat", "id", "ts", "pid"), "C": ("name", "ts", "pid", "args"),
    "i": ("name", "ts", "pid", "tid", "s"), "I": ("name", "ts", "pid", "tid"), "M": ("name", "pid", "args"),
    "s": ("name", "cat", "id", "ts", "pid", "tid"), "t": ("name", "cat", "id", "ts", "pid", "tid"),
    "f": ("name", "cat", "id", "ts", "pid", "tid"),
}
_METADATA = {"process_name": "name", "thread_name": "name", "process_sort_index": "sort_index",
             "thread_sort_index": "sort_index", "process_labels": "labels"}
_EPS = 1e-6


def validate(doc: dict[str, Any]) -> list[str]:
    """Problems with a trace-event document (empty when it follows the format's rules).

    Checks: known phases and their required fields; numeric, non-negative ts and dur;
    metadata events of known names with their argument; every pid named by process_name
    and every thread track by thread_name; complete slices properly nested on each
    track; B/E matched per track; async b/e matched per (cat, id) with b before e;
    counters with numeric values; instant scopes g/p/t; every flow id started once ('s'),
    finished once ('f'), finished no earlier than started, and each flow point inside
    a slice on its track (Perfetto binds flow events to their enclosing slice).
    """
    problems: list[str] = []
    evs = doc.get("traceEvents")
    if not isinstance(evs, list):
        return ["traceEvents is not a list"]
    named_pids = {e.get("pid") for e in evs if e.get("ph") == "M" and e.get("name") == "process_name"}
    named_tids = {(e.get("pid"), e.get("tid")) for e in evs if e.get("ph") == "M" and e.get("name") == "thread_name"}
    slices: dict[tuple[Any, Any], list[tuple[float, float]]] = {}
    be_stack: dict[tuple[Any, Any], int] = {}
    spans: dict[tuple[Any, Any], list[float]] = {}
    flows: dict[Any, dict[str, list[tuple[Any, Any, float]]]] = {}
    for i, e in enumerate(evs):
        if not isinstance(e, dict):
            problems.append(f"event {i}: not an object")
            continue
        ph = e.get("ph")
        if ph not in _PHASES:
            problems.append(f"event {i}: unknown phase {ph!r}")
            continue
        missing = [k for k in _REQUIRED[ph] if k not in e]
        if missing:
            problems.append(f"event {i} ({ph}): missing {', '.join(missing)}")
            continue
        for key in ("ts", "dur"):
            if key in e and (not isinstance(e[key], (int, float)) or isinstance(e[key], bool) or e[key] < 0):
                problems.append(f"event {i}: {key} is not a non-negative number")
        if ph == "M":
            want = _METADATA.get(e["name"])
            if want is None:
                problems.append(f"event {i}: unknown metadata {e['name']!r}")
            elif not isinstance(e["args"], dict) or want not in e["args"]:
                problems.append(f"event {i}: metadata {e['name']} without args.{want}")
            continue
        track = (e["pid"], e.get("tid"))
        if e["pid"] not in named_pids:
            problems.append(f"event {i}: pid {e['pid']} has no process_name")
        if ph in ("X", "B", "E", "i", "I", "s", "t", "f") and track not in named_tids:
            problems.append(f"event {i}: thread {track} has no thread_name")
        if ph == "X":
            slices.setdefault(track, []).append((float(e["ts"]), float(e["ts"]) + float(e["dur"])))
        elif ph == "B":
            be_stack[track] = be_stack.get(track, 0) + 1
        elif ph == "E":
            be_stack[track] = be_stack.get(track, 0) - 1
            if be_stack[track] < 0:
                problems.append(f"event {i}: E without B on {track}")
        elif ph in ("b", "e"):
            sp = spans.setdefault((e["cat"], e["id"]), [0, -1.0])
            sp[0] += 1 if ph == "b" else -1
            if sp[0] < 0:
                problems.append(f"event {i}: 'e' without 'b' for {(e['cat'], e['id'])}")
        elif ph == "C":
            if not isinstance(e["args"], dict) or not all(isinstance(v, (int, float)) for v in e["args"].values()):
                problems.append(f"event {i}: counter values must be numbers")
        elif ph == "i" and e["s"] not in ("g", "p", "t"):
            problems.append(f"event {i}: instant scope {e['s']!r} is not g, p or t")
        elif ph in ("s", "t", "f"):
            flows.setdefault((e["cat"], e["id"]), {}).setdefault(ph, []).append((e["pid"], e["tid"], float(e["ts"])))
    problems += [f"B/E on {t} not matched ({n} open)" for t, n in be_stack.items() if n]
    problems += [f"async span {s} not closed" for s, (n, _) in spans.items() if n]
    for track, items in slices.items():
        items.sort(key=lambda x: (x[0], -x[1]))
        stack: list[float] = []
        for start, stop in items:
            while stack and stack[-1] <= start + _EPS:
                stack.pop()
            if stack and stop > stack[-1] + _EPS:
                problems.append(f"slices on {track} overlap without nesting at ts {start}")
                break
            stack.append(stop)

    def inside(pid: Any, tid: Any, ts: float) -> bool:
        return any(a - _EPS <= ts <= b + _EPS for a, b in slices.get((pid, tid), ()))

    for fid, parts in flows.items():
        if len(parts.get("s", [])) != 1 or len(parts.get("f", [])) != 1:
            problems.append(f"flow {fid}: needs one 's' and one 'f'")
            continue
        (sp, st, sts), (fp, ft, fts) = parts["s"][0], parts["f"][0]
        if fts < sts:
            problems.append(f"flow {fid}: ends before it starts")
        if not inside(sp, st, sts) or not inside(fp, ft, fts):
            problems.append(f"flow {fid}: a flow point is not inside a slice of its thread")
    return problems
