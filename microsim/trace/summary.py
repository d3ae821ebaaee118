"""`microsim trace summary`: syscalls by name and status, objects by type, peaks, errors.

This is the hot path of trace analysis: one `orjson.loads` per line (the shared reader's
`project`, which picks the few fields needed out of each row) and a few dict updates, no
per-event objects.
"""

from __future__ import annotations

from collections import Counter
from typing import IO, Any

from microsim import zx
from microsim.trace import project

# The fields the summary reads (the reader skips the rest).
_FIELDS: dict[str, tuple[str, ...] | None] = {
    "syscall": ("name", "status"), "object_created": ("type",), "object_destroyed": ("type",),
    "trace_start": None,
}


def summarize(path: str | IO[bytes], progress: Any = None) -> dict[str, Any]:
    """The summary of a trace as a JSON-ready dict."""
    statuses: dict[tuple[str, int], int] = {}
    created: dict[str, int] = {}
    destroyed: dict[str, int] = {}
    live_objects = peak_objects = 0
    live_handles = peak_handles = 0
    header: dict[str, Any] = {}
    end_t = 0
    n = 0
    f = open(path, "rb") if isinstance(path, str) else path  # noqa: SIM115
    try:
        for kind, end_t, rec in project(f, _FIELDS):  # noqa: B007 - the last t is the end
            n += 1
            # Most records are syscalls and handle events: test those first.
            if kind == "syscall":
                key = rec
                statuses[key] = statuses.get(key, 0) + 1
            elif kind == "handle_created":
                live_handles += 1
                if live_handles > peak_handles:
                    peak_handles = live_handles
            elif kind == "handle_closed":
                live_handles -= 1
            elif kind == "object_created":
                t = rec[0]
                created[t] = created.get(t, 0) + 1
                live_objects += 1
                if live_objects > peak_objects:
                    peak_objects = live_objects
            elif kind == "object_destroyed":
                t = rec[0]
                destroyed[t] = destroyed.get(t, 0) + 1
                live_objects -= 1
            elif kind == "trace_start":
                header = rec
            if progress is not None and not n & 0xFFFF:
                progress(f.tell())
    finally:
        if isinstance(path, str):
            f.close()
    syscalls: Counter[str] = Counter()
    for (name, _), count in statuses.items():
        syscalls[name] += count
    by_status: dict[str, dict[str, int]] = {}
    errors: dict[str, dict[str, int]] = {}
    # A syscall that never returned has status None (its result says why it unwound).
    for (name, status), count in sorted(statuses.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or 0)):
        label = "unwound" if status is None else zx.zx_status_get_string(status)
        by_status.setdefault(name, {})[label] = count
        if status != 0:
            errors.setdefault(name, {})[label] = count
    types = sorted(set(created) | set(destroyed))
    created_c, destroyed_c = Counter(created), Counter(destroyed)
    return {
        "version": header.get("version"),
        "seed": header.get("seed"),
        "plugins": header.get("plugins", []),
        "events": n,
        "end_time_ns": end_t,
        "syscalls": dict(sorted(syscalls.items())),
        "syscalls_by_status": by_status,
        "errors": errors,
        "objects": {t: {"created": created_c[t], "destroyed": destroyed_c[t]} for t in types},
        "peak_live_objects": peak_objects,
        "peak_live_handles": peak_handles,
        "live_objects_at_end": live_objects,
        "live_handles_at_end": live_handles,
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
           f"virtual time {s['end_time_ns'] / 1e6:.3f} ms, seed {s['seed']}"]
    rows = []
    for name, count in s["syscalls"].items():
        by = s["syscalls_by_status"].get(name, {})
        ok = by.get("ZX_OK", 0)
        errs = ", ".join(f"{k} {v}" for k, v in by.items() if k != "ZX_OK")
        rows.append([name, count, ok, errs])
    if rows:
        out += ["", table(["syscall", "calls", "ok", "errors"], rows)]
    orows = [[t, v["created"], v["destroyed"], v["created"] - v["destroyed"]] for t, v in s["objects"].items()]
    if orows:
        out += ["", table(["object type", "created", "destroyed", "alive at end"], orows)]
    out += ["", f"peak live objects {s['peak_live_objects']}, peak live handles {s['peak_live_handles']}; "
            f"at the end: {s['live_objects_at_end']} objects, {s['live_handles_at_end']} handles"]
    return "\n".join(out)
