"""Export a trace to the Fuchsia trace format (FXT), which ui.perfetto.dev opens natively.

The file follows Fuchsia's trace format specification (docs/reference/tracing/
trace-format.md in the Fuchsia tree): little-endian 64-bit words; a magic-number record,
an initialization record (1 tick = 1 ns of virtual time), then string records (the string
table), thread records (the thread table of (process koid, thread koid) pairs), kernel
object records (every object by koid, with its ZX_OBJ_TYPE_* and name; threads carry a
`process` koid argument) and event records:

- each syscall and each thread-state slice: a duration complete event (type 4);
- signals, deadlocks, process exits and plugin events: instant events (type 0);
- live handles / mapped bytes per process, live objects: counter events (type 1);
- channel messages, moved handles, port packets: flow begin / flow end (types 8 / 10)
  inside the slices they link;
- object lifetimes: async begin / end (types 5 / 7), correlation id = koid.

It draws the same `Timeline` as the JSON export (export.py).
"""

from __future__ import annotations

import struct
from typing import IO, Any

from microsim import zx
from microsim.trace.analysis import TraceInfo
from microsim.trace.export import KERNEL_PID, STATE_TID, Timeline, build_timeline

MAGIC_RECORD = 0x0016547846040010
TICKS_PER_SECOND = 1_000_000_000

# Record types.
RT_METADATA, RT_INIT, RT_STRING, RT_THREAD, RT_EVENT, RT_KOBJ = 0, 1, 2, 3, 4, 7
# Event types.
EV_INSTANT, EV_COUNTER, EV_COMPLETE, EV_ASYNC_BEGIN, EV_ASYNC_END = 0, 1, 4, 5, 7
EV_FLOW_BEGIN, EV_FLOW_END = 8, 10
# Argument types.
ARG_I32, ARG_U32, ARG_I64, ARG_U64, ARG_F64, ARG_STR, ARG_KOID, ARG_BOOL = 1, 2, 3, 4, 5, 6, 8, 9

MAX_ARGS = 15
MAX_STRING = 1000  # bytes of an argument string kept (records stay far below 32 KiB)
_KOID_ARGS = frozenset({"koid", "process", "sc_koid"})


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 8)


class FxtWriter:
    """Encodes FXT records into a byte buffer; strings and threads are pooled in tables."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.strings: dict[str, int] = {}
        self.threads: dict[tuple[int, int], int] = {}
        self.records = 0
        self._word(MAGIC_RECORD)
        self.records += 1
        self._record(RT_INIT, 0, [TICKS_PER_SECOND])

    def _word(self, w: int) -> None:
        self.out += struct.pack("<Q", w & 0xFFFFFFFFFFFFFFFF)

    def _record(self, rtype: int, bits: int, words: list[int], tail: bytes = b"") -> None:
        size = 1 + len(words) + len(tail) // 8
        if size > 0xFFF:
            raise ValueError("FXT record too large")
        self._word(rtype | size << 4 | bits << 16)
        for w in words:
            self._word(w)
        self.out += tail
        self.records += 1

    def string(self, s: str) -> tuple[int, bytes]:
        """A string ref for `s` (indexed, registering it if new) and its inline stream (empty)."""
        if not s:
            return 0, b""
        idx = self.strings.get(s)
        if idx is None:
            data = s.encode()[:0x7FFF]
            if len(self.strings) >= 0x7FFF:  # table full: inline
                return 0x8000 | len(data), _pad(data)
            idx = self.strings[s] = len(self.strings) + 1
            self._record(RT_STRING, idx | len(data) << 16, [], _pad(data))
        return idx, b""

    def thread(self, pid: int, tid: int) -> tuple[int, list[int]]:
        """A thread ref for (pid, tid) (indexed, registering it if new) and its inline words."""
        idx = self.threads.get((pid, tid))
        if idx is None:
            if len(self.threads) >= 0xFF:
                return 0, [pid, tid]
            idx = self.threads[pid, tid] = len(self.threads) + 1
            self._record(RT_THREAD, idx, [pid, tid])
        return idx, []

    def _args(self, args: dict[str, Any]) -> tuple[int, bytes]:
        out = bytearray()
        n = 0
        for key, value in args.items():
            if n == MAX_ARGS:
                break
            if value is None:
                continue
            name_ref, name_tail = self.string(key)
            if isinstance(value, bool):
                head, words, tail = ARG_BOOL | name_ref << 16 | int(value) << 32, [], b""
            elif isinstance(value, int) and key in _KOID_ARGS and 0 <= value < 1 << 64:
                head, words, tail = ARG_KOID | name_ref << 16, [value], b""
            elif isinstance(value, int) and -(1 << 31) <= value < 1 << 31:
                head, words, tail = ARG_I32 | name_ref << 16 | (value & 0xFFFFFFFF) << 32, [], b""
            elif isinstance(value, int) and -(1 << 63) <= value < 1 << 63:
                head, words, tail = ARG_I64 | name_ref << 16, [value], b""
            elif isinstance(value, int) and 0 <= value < 1 << 64:
                head, words, tail = ARG_U64 | name_ref << 16, [value], b""
            elif isinstance(value, float):
                head, words, tail = ARG_F64 | name_ref << 16, [struct.unpack("<Q", struct.pack("<d", value))[0]], b""
            else:
                text = str(value)
                data = text.encode()[:MAX_STRING]
                text = data.decode(errors="ignore")
                vref, vtail = self.string(text) if len(text) < 64 else (0x8000 | len(text.encode()),
                                                                         _pad(text.encode()))
                head, words, tail = ARG_STR | name_ref << 16 | vref << 32, [], vtail
            size = 1 + len(name_tail) // 8 + len(words) + len(tail) // 8
            out += struct.pack("<Q", head | size << 4)
            out += name_tail
            for w in words:
                out += struct.pack("<Q", w & 0xFFFFFFFFFFFFFFFF)
            out += tail
            n += 1
        return n, bytes(out)

    def event(self, etype: int, pid: int, tid: int, ts: int, cat: str, name: str,
              args: dict[str, Any], extra: list[int]) -> None:
        """An event record (instant, counter, complete, async, flow)."""
        tref, twords = self.thread(pid, tid)
        cref, ctail = self.string(cat)
        nref, ntail = self.string(name)
        nargs, argdata = self._args(args)
        bits = etype | nargs << 4 | tref << 8 | cref << 16 | nref << 32
        payload = b"".join(struct.pack("<Q", w & 0xFFFFFFFFFFFFFFFF) for w in [ts, *twords])
        payload += ctail + ntail + argdata
        payload += b"".join(struct.pack("<Q", w & 0xFFFFFFFFFFFFFFFF) for w in extra)
        size = 1 + len(payload) // 8
        self._word(RT_EVENT | size << 4 | bits << 16)
        self.out += payload
        self.records += 1

    def kernel_object(self, koid: int, obj_type: int, name: str, args: dict[str, Any]) -> None:
        """A kernel object record: koid, ZX_OBJ_TYPE_*, name, arguments."""
        nref, ntail = self.string(name)
        nargs, argdata = self._args(args)
        bits = (obj_type & 0xFF) | nref << 8 | nargs << 24
        payload = struct.pack("<Q", koid) + ntail + argdata
        self._word(RT_KOBJ | (1 + len(payload) // 8) << 4 | bits << 16)
        self.out += payload
        self.records += 1


_OBJ_TYPES = {n[len("ZX_OBJ_TYPE_"):].lower(): v for n, v in vars(zx).items()
              if n.startswith("ZX_OBJ_TYPE_") and isinstance(v, int)}


def encode(tl: Timeline) -> tuple[bytes, int]:
    """The FXT bytes of a timeline and the number of records."""
    w = FxtWriter()
    w.kernel_object(KERNEL_PID, zx.ZX_OBJ_TYPE_PROCESS, "kernel", {})
    for koid, (typ, name, owner) in sorted(tl.objects.items()):
        label = tl.processes.get(koid) if typ == "process" else (tl.threads.get((owner, koid)) if typ == "thread"
                                                                else None)
        args: dict[str, Any] = {"process": owner} if typ == "thread" else {}
        if typ not in ("process", "thread"):
            args["type"] = typ
        w.kernel_object(koid, _OBJ_TYPES.get(typ, zx.ZX_OBJ_TYPE_NONE),
                        label or (f"{typ} {name} [{koid}]" if name else f"{typ} [{koid}]"), args)
    # Synthetic tracks (state tracks, direct calls) are named as threads of their process.
    for (pid, tid), label in sorted(tl.threads.items()):
        if tid >= STATE_TID or tid == pid:
            w.kernel_object(tid, zx.ZX_OBJ_TYPE_THREAD, label or "(direct calls)", {"process": pid})
    items: list[tuple[int, int, Any]] = []
    for s in tl.slices:
        items.append((s.ts, 1, s))
    for i in tl.instants:
        items.append((i.ts, 2, i))
    for c in tl.counters:
        items.append((c.ts, 3, c))
    for f in tl.flows:
        items.append((f.src[2], 4, ("begin", f)))
        items.append((f.dst[2], 5, ("end", f)))
    for sp in tl.spans:
        items.append((sp.begin, 0, ("b", sp)))
        items.append((sp.end, 6, ("e", sp)))
    items.sort(key=lambda x: (x[0], x[1]))
    counter_ids: dict[tuple[int, str], int] = {}
    for ts, order, item in items:
        if order == 1:
            w.event(EV_COMPLETE, item.pid, item.tid, ts, item.cat, item.name, item.args, [ts + item.dur])
        elif order == 2:
            w.event(EV_INSTANT, item.pid, item.tid, ts, item.cat, item.name, item.args, [])
        elif order == 3:
            cid = counter_ids.setdefault((item.pid, item.name), len(counter_ids) + 1)
            w.event(EV_COUNTER, item.pid, item.pid, ts, "counter", item.name, {"value": item.value}, [cid])
        elif order in (4, 5):
            which, f = item
            pid, tid, _ = f.src if which == "begin" else f.dst
            w.event(EV_FLOW_BEGIN if which == "begin" else EV_FLOW_END, pid, tid, ts, f.cat, f.name, {}, [f.id])
        else:
            which, sp = item
            w.event(EV_ASYNC_BEGIN if which == "b" else EV_ASYNC_END, sp.pid, sp.pid, ts, sp.cat, sp.name,
                    {"koid": sp.koid} if which == "b" else {}, [sp.koid])
    return bytes(w.out), w.records


def write_fxt(path: str | IO[bytes], out: str, info: TraceInfo | None = None) -> int:
    """Write the FXT export of trace `path` to file `out`; returns the number of records."""
    data, n = encode(build_timeline(path, info))
    with open(out, "wb") as f:
        f.write(data)
    return n


__all__ = ["MAGIC_RECORD", "FxtWriter", "encode", "write_fxt"]
