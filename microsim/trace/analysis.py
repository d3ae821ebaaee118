"""Leaks, the life of one object, and the first divergence between two traces."""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from microsim.trace import records

# Fields that differ between two runs of the same program by construction (the seed in
# the first record), so `diff` reports the first difference in behaviour instead.
_VOLATILE: frozenset[str] = frozenset({"seed"})


def leaks(path: str) -> dict[str, list[dict[str, Any]]]:
    """Handles still open and objects still alive at the end, with their creating syscall."""
    handles: dict[tuple[int, int], dict[str, Any]] = {}
    objects: dict[int, dict[str, Any]] = {}
    exited: set[int] = set()
    for _, rec in records(path):
        kind = rec["kind"]
        if kind == "handle_created":
            handles[rec["pid"], rec["handle"]] = {
                "pid": rec["pid"], "handle": rec["handle"], "koid": rec["koid"], "rights": rec["rights"],
                "reason": rec["reason"], "sc": rec["sc"], "t": rec["t"],
            }
        elif kind == "handle_closed":
            handles.pop((rec["pid"], rec["handle"]), None)
        elif kind == "object_created":
            objects[rec["koid"]] = {"koid": rec["koid"], "type": rec["type"], "sc": rec["sc"],
                                    "owner": rec.get("owner", 0), "t": rec["t"]}
        elif kind == "object_destroyed":
            objects.pop(rec["koid"], None)
        elif kind == "process_exit":
            exited.add(rec["process"])
    for h in handles.values():
        h["type"] = objects.get(h["koid"], {}).get("type", "?")
    return {
        "handles": sorted(handles.values(), key=lambda h: (h["sc"], h["pid"], h["handle"])),
        "objects": sorted(objects.values(), key=lambda o: o["koid"]),
    }


def object_life(path: str, koid: int) -> list[dict[str, Any]]:
    """Every event about one object: creation, handles, signals, mappings, destruction."""
    out: list[dict[str, Any]] = []
    syscall_of: dict[int, str] = {}
    pending: list[dict[str, Any]] = []
    for _, rec in records(path):
        kind = rec["kind"]
        if kind == "syscall":
            syscall_of[rec["sc"]] = rec["name"]
            for p in pending:
                if p["sc"] == rec["sc"]:
                    p["syscall"] = rec["name"]
            pending = [p for p in pending if "syscall" not in p]
            continue
        refs = (rec.get("koid"), rec.get("iob"), rec.get("child"), rec.get("region_koid"),
                rec.get("process"), rec.get("thread"))
        if koid in refs or (kind == "object_created" and rec.get("related_koid") == koid):
            entry = dict(rec)
            if rec.get("sc"):
                pending.append(entry)
            out.append(entry)
    return out


def diff(path_a: str, path_b: str) -> dict[str, Any] | None:
    """The first record where two traces differ (None if they are identical)."""
    for (na, a), (nb, b) in zip_longest(records(path_a), records(path_b), fillvalue=(0, None)):
        if a is None or b is None:
            return {"line": na or nb, "a": a, "b": b}
        if {k: v for k, v in a.items() if k not in _VOLATILE} != {k: v for k, v in b.items() if k not in _VOLATILE}:
            return {"line": na, "a": a, "b": b}
    return None
