"""Export a trace to Chrome / Perfetto trace-event JSON (opens in ui.perfetto.dev).

- one process track per simulated process (pid = process koid), one thread track per
  simulated thread (tid = thread koid; calls made from plain Python use tid = pid);
- each syscall a complete event (`ph: X`, ts/dur in microseconds of virtual time) with its
  arguments, status and result;
- object lifetimes as async spans (`b`/`e`, id = koid, cat = object type);
- live handle and object counts as counter tracks (`C`);
- signal changes and peer-closed assertions as instant events (`i`).
"""

from __future__ import annotations

from typing import Any

from microsim.trace.analysis import TraceInfo, scan, status_str

KERNEL_PID = 0


def to_perfetto(path: str, info: Any = None) -> dict[str, Any]:
    """The trace as a `{"traceEvents": [...]}` document."""
    events: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    names: dict[int, str] = {}
    threads: dict[tuple[int, int], str] = {}
    open_objects: dict[int, tuple[str, int]] = {}
    live_objects = live_handles = 0
    end_ts = 0.0

    def track(pid: int, tid: int) -> tuple[int, int]:
        tid = tid or pid
        if (pid, tid) not in threads:
            threads[pid, tid] = "main (direct calls)" if tid == pid else f"thread {tid}"
        return pid, tid

    for _, rec in scan(path, info or TraceInfo()):
        kind = rec["kind"]
        ts = rec.get("t", 0) / 1000.0
        end_ts = max(end_ts, ts)
        pid = rec.get("pid", 0)
        if kind == "syscall":
            p, t = track(pid, rec.get("tid", 0))
            events.append({
                "name": rec["name"], "cat": "syscall", "ph": "X", "ts": ts,
                "dur": rec.get("dur", 0) / 1000.0, "pid": p, "tid": t,
                "args": {"args": rec.get("args"), "status": status_str(rec["status"]),
                         "result": rec.get("result"), "sc": rec["sc"]},
            })
        elif kind == "object_created":
            koid = rec["koid"]
            if rec["type"] == "process":
                names.setdefault(koid, f"process {koid}")
            open_objects[koid] = (rec["type"], pid)
            events.append({"name": f"{rec['type']} {koid}", "cat": rec["type"], "ph": "b", "ts": ts,
                           "id": koid, "pid": pid or KERNEL_PID, "tid": rec.get("tid") or pid or KERNEL_PID,
                           "args": {"koid": koid, "related_koid": rec.get("related_koid", 0)}})
            live_objects += 1
            events.append({"name": "live objects", "ph": "C", "ts": ts, "pid": KERNEL_PID, "tid": KERNEL_PID,
                           "args": {"objects": live_objects}})
        elif kind == "object_destroyed":
            koid = rec["koid"]
            typ, opid = open_objects.pop(koid, (rec["type"], pid))
            events.append({"name": f"{typ} {koid}", "cat": typ, "ph": "e", "ts": ts, "id": koid,
                           "pid": opid or KERNEL_PID, "tid": opid or KERNEL_PID})
            live_objects -= 1
            events.append({"name": "live objects", "ph": "C", "ts": ts, "pid": KERNEL_PID, "tid": KERNEL_PID,
                           "args": {"objects": live_objects}})
        elif kind in ("handle_created", "handle_closed"):
            live_handles += 1 if kind == "handle_created" else -1
            events.append({"name": "live handles", "ph": "C", "ts": ts, "pid": KERNEL_PID, "tid": KERNEL_PID,
                           "args": {"handles": live_handles}})
        elif kind == "signal" or kind.endswith("peer_closed"):
            p, t = track(pid, rec.get("tid", 0))
            args = {k: v for k, v in rec.items() if k not in ("kind", "t", "pid", "tid")}
            events.append({"name": kind if kind != "signal" else f"signal koid {rec['koid']}",
                           "cat": "signal", "ph": "i", "s": "t", "ts": ts, "pid": p, "tid": t, "args": args})
        elif kind == "thread_state" and rec.get("state") == "start":
            threads[pid, rec["thread"]] = f"thread {rec['thread']}"
    # Async spans still open at the end are closed there, so viewers balance them.
    for koid, (typ, opid) in open_objects.items():
        events.append({"name": f"{typ} {koid}", "cat": typ, "ph": "e", "ts": end_ts, "id": koid,
                       "pid": opid or KERNEL_PID, "tid": opid or KERNEL_PID})
    pids = {KERNEL_PID} | {e["pid"] for e in events}
    for pid in sorted(pids):
        meta.append({"name": "process_name", "ph": "M", "pid": pid, "tid": pid,
                     "args": {"name": "kernel" if pid == KERNEL_PID else names.get(pid, f"process {pid}")}})
    tids = {(e["pid"], e["tid"]) for e in events} | set(threads)
    for pid, tid in sorted(tids):
        label = "kernel" if pid == KERNEL_PID else threads.get((pid, tid), f"thread {tid}")
        meta.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": label}})
    return {"traceEvents": meta + events, "displayTimeUnit": "ns"}


def validate(doc: dict[str, Any]) -> list[str]:
    """Problems with a trace-event document (empty when it follows the format)."""
    problems: list[str] = []
    evs = doc.get("traceEvents")
    if not isinstance(evs, list):
        return ["traceEvents is not a list"]
    required = {"X": ("name", "ts", "dur", "pid", "tid"), "b": ("name", "cat", "id", "ts", "pid"),
                "e": ("name", "cat", "id", "ts", "pid"), "C": ("name", "ts", "pid", "args"),
                "i": ("name", "ts", "pid", "tid", "s"), "M": ("name", "pid", "args")}
    named_pids = {e["pid"] for e in evs if e.get("ph") == "M" and e.get("name") == "process_name"}
    named_tids = {(e["pid"], e["tid"]) for e in evs if e.get("ph") == "M" and e.get("name") == "thread_name"}
    spans: dict[tuple[str, int], int] = {}
    last_end: dict[tuple[int, int], float] = {}
    for i, e in enumerate(evs):
        ph = e.get("ph")
        if ph not in required:
            problems.append(f"event {i}: unknown phase {ph!r}")
            continue
        for key in required[ph]:
            if key not in e:
                problems.append(f"event {i} ({ph}): missing {key}")
        if "ts" in e and not isinstance(e["ts"], (int, float)):
            problems.append(f"event {i}: ts is not a number")
        if ph != "M" and e.get("pid") not in named_pids:
            problems.append(f"event {i}: pid {e.get('pid')} has no process_name")
        if ph in ("X", "i") and (e.get("pid"), e.get("tid")) not in named_tids:
            problems.append(f"event {i}: tid {e.get('tid')} has no thread_name")
        if ph == "X" and "tid" in e and "dur" in e:
            track = (e["pid"], e["tid"])
            if e["ts"] < last_end.get(track, float("-inf")) - 1e-9:
                problems.append(f"event {i}: X event overlaps the previous one on {track}")
            last_end[track] = max(last_end.get(track, float("-inf")), e["ts"] + e["dur"])
        if ph in ("b", "e"):
            span = (e["cat"], e["id"])
            spans[span] = spans.get(span, 0) + (1 if ph == "b" else -1)
            if spans[span] < 0:
                problems.append(f"event {i}: 'e' without 'b' for {span}")
    problems += [f"span {s} not closed" for s, n in spans.items() if n]
    return problems
