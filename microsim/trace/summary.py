"""`microsim trace summary`: syscalls by name and status, objects by type, peaks, errors,
process endings, deadlocks and plugin events.

This is the hot path of trace analysis: one pass, a few dict updates per record, no
per-event objects.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import IO, Any

from microsim.trace.analysis import (
    Names,
    NotFast,
    TraceInfo,
    fast_chunks,
    no_gc,
    reset,
    scan,
    size_str,
    status_str,
    time_str,
    wait_str,
)

_HANDLE_DELTA = {"handle_created": 1, "handle_closed": -1}
_OBJECT_DELTA = {"object_created": 1, "object_destroyed": -1}


def summarize(path: str | IO[bytes], progress: Any = None, info: TraceInfo | None = None) -> dict[str, Any]:
    """The summary of a trace as a JSON-ready dict (statuses by name; a syscall that never
    returned counts as "did not return", never as ZX_OK)."""
    info = info or TraceInfo()
    if isinstance(path, str):
        try:
            with no_gc():
                return _summarize_fast(path, progress, info)
        except NotFast:
            reset(info)
    statuses: dict[tuple[str, int | None], int] = {}
    created: dict[str, int] = {}
    destroyed: dict[str, int] = {}
    other: dict[str, int] = {}
    live_objects = peak_objects = 0
    live_handles = peak_handles = 0
    pages = peak_pages = 0
    names = Names()
    exits: list[dict[str, Any]] = []
    deadlocks: list[dict[str, Any]] = []
    n = 0
    for n, rec in scan(path, info):
        kind = rec["kind"]
        # Most records are syscalls and handle events: test those first.
        if kind == "syscall":
            key = (rec["name"], rec["status"])
            statuses[key] = statuses.get(key, 0) + 1
        elif kind == "handle_created":
            live_handles += 1
            if live_handles > peak_handles:
                peak_handles = live_handles
        elif kind == "handle_closed":
            live_handles -= 1
        elif kind == "object_created":
            names.see(rec)
            t = rec["type"]
            created[t] = created.get(t, 0) + 1
            live_objects += 1
            if live_objects > peak_objects:
                peak_objects = live_objects
        elif kind == "object_destroyed":
            t = rec["type"]
            destroyed[t] = destroyed.get(t, 0) + 1
            live_objects -= 1
        elif kind == "name":
            names.see(rec)
        elif kind == "process_exit":
            exits.append({"pid": rec["process"], "code": rec["code"], "reason": rec.get("reason", "exit"),
                          "t": rec["t"]})
        elif kind == "deadlock":
            deadlocks.append({"t": rec["t"], "blocked": rec["blocked"]})
        elif kind == "pages":
            pages = rec["committed"]
            if pages > peak_pages:
                peak_pages = pages
        else:
            other[kind] = other.get(kind, 0) + 1
        if progress is not None and not n & 0xFFFF:
            progress(n)
    return _result(info, statuses, created, destroyed, other, names, exits, deadlocks,
                   (live_objects, peak_objects, live_handles, peak_handles, pages, peak_pages))


def _summarize_fast(path: str, progress: Any, info: TraceInfo) -> dict[str, Any]:
    """`summarize` a chunk of records at a time, column by column (NotFast: the trace
    needs `scan`)."""
    statuses: Counter[tuple[str, int | None]] = Counter()
    ok: Counter[str] = Counter()  # calls that returned ZX_OK, by name
    created: Counter[str] = Counter()
    destroyed: Counter[str] = Counter()
    other: Counter[str] = Counter({"trace_start": 1})
    live_objects = peak_objects = 0
    live_handles = peak_handles = 0
    pages = peak_pages = 0
    names = Names()
    exits: list[dict[str, Any]] = []
    deadlocks: list[dict[str, Any]] = []
    accumulate = itertools.accumulate
    for chunk in fast_chunks(path, info, waits=False):  # statuses only
        groups = chunk.groups
        for kind, (sel, cols) in groups.items():
            if kind in _HANDLE_DELTA:
                continue
            at = chunk.names.get(kind, ()).index
            if kind == "syscall":
                status = cols[at("status")]
                if status.count(0) == len(status):  # the common case: every call succeeded
                    ok.update(cols[at("name")])
                else:
                    statuses.update(zip(cols[at("name")], status))
            elif kind == "object_created":
                koids, types = cols[at("koid")], cols[at("type")]
                names.type.update(zip(koids, types))
                if "thread" in types:
                    for rec in sel:
                        if rec[at("type")] == "thread":
                            names.process_of[rec[at("koid")]] = rec[at("owner")] or rec[at("related_koid")]
                created.update(types)
            elif kind == "object_destroyed":
                destroyed.update(cols[at("type")])
            elif kind == "name":
                names.name.update(zip(cols[at("koid")], cols[at("name")]))
            elif kind == "pages":
                col = cols[at("committed")]
                peak_pages = max(peak_pages, *col)
                pages = col[-1]
            elif kind == "process_exit":
                exits += [{"pid": p, "code": c, "reason": r, "t": t}
                          for p, c, r, t in zip(cols[at("process")], cols[at("code")], cols[at("reason")], cols[1])]
            elif kind == "deadlock":
                deadlocks += [{"t": t, "blocked": b} for t, b in zip(cols[1], cols[at("blocked")])]
            else:
                other[kind] += len(sel)
        kinds = chunk.kinds
        if "handle_created" in groups or "handle_closed" in groups:
            steps = list(accumulate(map(_HANDLE_DELTA.__getitem__, chunk.handle_kinds), initial=live_handles))
            peak_handles = max(peak_handles, *steps)
            live_handles = steps[-1]
        if "object_created" in groups or "object_destroyed" in groups:
            steps = list(accumulate(filter(None, map(_OBJECT_DELTA.get, kinds)), initial=live_objects))
            peak_objects = max(peak_objects, *steps)
            live_objects = steps[-1]
        if progress is not None:
            progress(info.records)
    statuses.update(zip(ok.keys(), itertools.repeat(0)))
    for name, count in ok.items():
        statuses[name, 0] += count - 1
    return _result(info, dict(statuses), dict(created), dict(destroyed), dict(other), names, exits, deadlocks,
                   (live_objects, peak_objects, live_handles, peak_handles, pages, peak_pages))


def _result(info: TraceInfo, statuses: dict[tuple[str, int | None], int], created: dict[str, int],
            destroyed: dict[str, int], other: dict[str, int], names: Names, exits: list[dict[str, Any]],
            deadlocks: list[dict[str, Any]], levels: tuple[int, ...]) -> dict[str, Any]:
    """The summary dict from what the pass counted."""
    live_objects, peak_objects, live_handles, peak_handles, pages, peak_pages = levels
    syscalls: Counter[str] = Counter()
    for (name, _), count in statuses.items():
        syscalls[name] += count
    by_status: dict[str, dict[str, int]] = {}
    errors: dict[str, dict[str, int]] = {}
    unreturned: dict[str, int] = {}
    for (name, status), count in sorted(statuses.items(), key=lambda x: (x[0][0], -1 << 40 if x[0][1] is None
                                                                           else x[0][1])):
        label = status_str(status)
        by_status.setdefault(name, {})[label] = count
        if status is None:
            unreturned[name] = count
        elif status != 0:
            errors.setdefault(name, {})[label] = count
    for e in exits:
        e["process"] = names.process(e["pid"])
    for d in deadlocks:
        for b in d["blocked"]:
            if isinstance(b, dict):
                b["label"] = names.thread(b.get("tid", 0))
                b["waits_for"] = wait_str(b.get("wait", ""), names)
    types = sorted(set(created) | set(destroyed))
    created_c, destroyed_c = Counter(created), Counter(destroyed)
    header = info.header
    plugin_events = {k: v for k, v in sorted(other.items()) if "." in k}
    core_events = {k: v for k, v in sorted(other.items()) if "." not in k}
    return {
        "version": header.get("version"),
        "seed": header.get("seed"),
        "plugins": header.get("plugins", []),
        "complete": info.complete,
        "events": info.records,
        "start_time_ns": header.get("t", 0) if type(header.get("t")) is int else 0,
        "end_time_ns": info.last_t,
        "syscalls": dict(sorted(syscalls.items())),
        "syscalls_by_status": by_status,
        "errors": errors,
        "did_not_return": unreturned,
        "objects": {t: {"created": created_c[t], "destroyed": destroyed_c[t]} for t in types},
        "peak_live_objects": peak_objects,
        "peak_live_handles": peak_handles,
        "live_objects_at_end": live_objects,
        "live_handles_at_end": live_handles,
        "peak_committed_pages": peak_pages,
        "committed_pages_at_end": pages,
        "process_exits": exits,
        "deadlocks": deadlocks,
        "plugin_events": plugin_events,
        "other_events": core_events,
    }


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """An aligned text table (numbers right-aligned)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(row: list[str], raw: list[Any] | None = None) -> str:
        out = []
        for i, c in enumerate(row):
            numeric = raw is not None and isinstance(raw[i], int)
            out.append(c.rjust(widths[i]) if numeric else c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines += [fmt(c, r) for c, r in zip(cells, rows)]
    return "\n".join(lines)


def render_text(s: dict[str, Any]) -> str:
    """The summary as aligned tables for people."""
    out = [f"trace summary: {s['events']} events, {sum(s['syscalls'].values())} syscalls, "
           f"virtual time {time_str(s['end_time_ns'] - s['start_time_ns'])} "
           f"({time_str(s['start_time_ns'])} to {time_str(s['end_time_ns'])}), seed {s['seed']}"]
    if not s.get("complete", True):
        out.append("WARNING: no trace_end record: the trace is truncated, these results are partial")
    rows = []
    for name, count in s["syscalls"].items():
        by = s["syscalls_by_status"].get(name, {})
        ok = by.get("ZX_OK", 0)
        stuck = by.get("did not return", 0)
        errs = ", ".join(f"{k} {v}" for k, v in by.items() if k not in ("ZX_OK", "did not return"))
        rows.append([name, count, ok, stuck or "", errs])
    if rows:
        out += ["", table(["syscall", "calls", "ok", "did not return", "errors"], rows)]
    orows = [[t, v["created"], v["destroyed"], v["created"] - v["destroyed"]] for t, v in s["objects"].items()]
    if orows:
        out += ["", table(["object type", "created", "destroyed", "alive at end"], orows)]
    out += ["", f"peak live objects {s['peak_live_objects']}, peak live handles {s['peak_live_handles']}; "
            f"at the end: {s['live_objects_at_end']} objects, {s['live_handles_at_end']} handles"]
    if s.get("peak_committed_pages"):
        out.append(f"committed memory: peak {s['peak_committed_pages']} pages, "
                   f"{s['committed_pages_at_end']} at the end")
    if s["process_exits"]:
        out += ["", table(["process", "ended at", "code", "why"],
                          [[e["process"], time_str(e["t"]), e["code"], e["reason"]] for e in s["process_exits"]])]
    for d in s["deadlocks"]:
        out += ["", f"DEADLOCK at {time_str(d['t'])}: every thread is blocked with no deadline"]
        out += [f"  {b.get('label', b.get('tid'))}: {b.get('waits_for', b.get('wait'))}"
                for b in d["blocked"] if isinstance(b, dict)]
    if s["plugin_events"]:
        out += ["", table(["plugin event", "count"], [[k, v] for k, v in s["plugin_events"].items()])]
    return "\n".join(out)


__all__ = ["render_text", "size_str", "summarize", "table"]
