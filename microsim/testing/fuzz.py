"""Stateful fuzzing of every registered syscall, derived from the syscall table.

    python -m microsim.testing.fuzz --syscalls 1000000 --seed 0

The fuzzer knows no syscall by name. For every parameter of every registered syscall it
derives adversarial arguments from the parameter's name and annotation, the syscall's
docstring, the ABI structs of `microsim.zx` and the kernel's live state: valid handles of
the type the parameter names, handles of other processes, stale handles,
ZX_HANDLE_INVALID, wrong Python types, integers beyond 64 bits, negative values, huge
sizes, the addresses of live mappings, the ZX_* constants that fit the parameter, odd
objects, and ABI structs whose fields are any of those. A plugin's new syscalls are
fuzzed with no new code.

Calls go through the facades of several processes (and, now and then, of a process that
has exited), on a traced kernel. After every call:

- only `ZxError` may escape (a direct wait that can never complete may raise `Deadlock`);
- a failed call changed nothing: a snapshot of the observable state (handle tables with
  rights, every object's signals, counts and plain fields found by a generic walk,
  mappings, pages used) is the same before and after. The exceptions are Zircon's
  documented ones (`CONSUMES_ON_FAILURE`: the call may only remove handles it was given;
  `CHANGES_ON_FAILURE`: the named statuses may change state);
- the invariants hold (`microsim.core.invariants.collect`: exact handle accounting,
  observers owned by live waits, every plugin's own checks).

Each episode (a fresh kernel, `episode` calls) ends with a teardown: every handle closed
through the facade, every process exited; then no object may be left alive except those
only reachable through messages that can never be read. Everything is seeded: the same
seed gives the same calls and byte-identical traces (the digest in the report).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import inspect
import json
import random
import re
import sys
import time
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Any

from microsim import zx
from microsim.core.invariants import collect, held_handles
from microsim.core.object import KernelObject
from microsim.core.syscall import SyscallSpec
from microsim.errors import Deadlock, KernelPanic, MemoryFault, MicrosimError, ZxError
from microsim.kernel import Kernel
from microsim.objects.job import Job
from microsim.objects.process import Process
from microsim.objects.thread import ExecuteFault

try:
    import resource
except ImportError:  # pragma: no cover - not on POSIX
    resource = None  # type: ignore[assignment]

P = zx.ZX_PAGE_SIZE

# Zircon's documented exceptions to "a failed syscall changes nothing".
# These may remove (consume) handles named in their arguments when they fail, and nothing
# else: zx_handle_replace (HandleDup.ReplaceFailureBothInvalid), channel writes and calls
# (WriteConsumesAllHandles), zx_handle_close_many (closes the valid ones), process start
# and replace_as_executable (the handle is invalidated even on failure).
CONSUMES_ON_FAILURE: frozenset[str] = frozenset({
    "zx_handle_replace", "zx_handle_close_many", "zx_channel_write", "zx_channel_write_etc",
    "zx_channel_call", "zx_channel_call_etc", "zx_process_start", "zx_vmo_replace_as_executable",
})
# These statuses change state by design: a channel read with ZX_CHANNEL_READ_MAY_DISCARD
# drops a message too large for the buffers; an ID allocation that finds a corrupt index
# slot has already advanced the header.
CHANGES_ON_FAILURE: dict[str, frozenset[int]] = {
    "zx_channel_read": frozenset({zx.ZX_ERR_BUFFER_TOO_SMALL}),
    "zx_channel_read_etc": frozenset({zx.ZX_ERR_BUFFER_TOO_SMALL}),
    "zx_iob_allocate_id": frozenset({zx.ZX_ERR_IO_DATA_INTEGRITY}),
}

# Probe families a campaign can leave out (`--skip`), e.g. while a known bug is open.
PROBES: dict[str, str] = {
    "bigints": "integers beyond 64 bits in arguments and struct fields",
    "exited-process": "syscalls through the facade of a process that has exited",
    "memory": "Process.read_memory / write_memory at live and adversarial addresses",
    "threads": "simulated threads making blocking syscalls, and runs of the scheduler",
}

# Findings of issues that are open elsewhere, as (kind, syscall glob, detail text): the test
# suite counts them apart (`Fuzzer(known=OPEN_ISSUES)`) so it stays green until their fixes
# land. Empty this list as they do; the campaign command ignores it (it reports everything).
OPEN_ISSUES: list[tuple[str, str, str]] = []

FINDING_KINDS = ("escaped", "changed", "invariant", "exited_process", "leak", "memory_access")


class _Odd:
    """An object no syscall expects (with a stable repr, so traces stay deterministic)."""

    def __repr__(self) -> str:
        return "<odd object>"


ODD: tuple[Any, ...] = (None, "x", 1.5, float("nan"), [1], (2,), b"\xff", {"k": 1}, _Odd(), True, 2**64, 2**100, -1)
_SIZES = (0, 1, 7, P - 1, P, P + 1, 2 * P, 3 * P, 16 * P, 1 << 16, 1 << 20, 2**31, 2**32, 2**33, 2**40,
          2**63 - 1, 2**63, 2**64 - P, 2**64 - 1, 2**64, 2**70, -1, -P)
_BITS = (0, 1, 2, 3, 0xFF, 0xFFFF, 0xFFFFFFFF, zx.ZX_RIGHT_SAME_RIGHTS, 2**32, 2**63, 2**64 - 1, 2**64, -1)
_SIZE_WORDS = frozenset({"size", "len", "length", "offset", "addr", "count", "capacity", "num", "bytes", "actual"})
_BITS_WORDS = frozenset({"options", "flags", "rights", "signals", "mask", "op", "topic", "property", "access",
                         "perms", "type", "mode", "kind", "trigger", "observed", "waitfor", "operation"})
_TIME_WORDS = frozenset({"deadline", "nanoseconds", "duration", "timeout", "timestamp", "time"})
_ALIASES = {"rights": ("_RIGHT_",), "signals": ("_SIGNAL",), "mask": ("_SIGNAL",), "waitfor": ("_SIGNAL",),
            "trigger": ("_SIGNAL",), "observed": ("_SIGNAL",), "topic": ("ZX_INFO_",),
            "property": ("ZX_PROP_",), "perms": ("ZX_VM_PERM",), "op": ("_OP_",), "operation": ("ZX_HANDLE_OP_",),
            "type": ("_TYPE_",), "access": ("_ACCESS_",)}
_CONSTANTS: tuple[tuple[str, int], ...] = tuple(
    (n, v) for n, v in sorted(vars(zx).items()) if n.startswith("ZX_") and type(v) is int
)
_STRUCTS: dict[str, type] = {
    n: c for n, c in sorted(vars(zx).items())
    if n.startswith("zx_") and n.endswith("_t") and isinstance(c, type) and dataclasses.is_dataclass(c)
}


# --------------------------------------------------------------------------- snapshots
_BASE_SLOTS = frozenset({"kernel", "koid", "signals", "handle_count", "kernel_refs", "name", "observers",
                         "alive", "published", "owner_koid", "__weakref__", "__dict__"})
_slot_cache: dict[type, tuple[str, ...]] = {}


def _slots(cls: type) -> tuple[str, ...]:
    names = _slot_cache.get(cls)
    if names is None:
        found: list[str] = []
        for klass in cls.__mro__:
            slots = klass.__dict__.get("__slots__", ())
            for s in (slots,) if isinstance(slots, str) else slots:
                if s not in _BASE_SLOTS and s not in found:
                    found.append(s)
        names = _slot_cache[cls] = tuple(sorted(found))
    return names


def _plain(value: Any) -> Any:
    """The comparable summary of one field: scalars as they are, containers by length,
    kernel objects by koid; anything else is left out."""
    t = type(value)
    if t is int or t is bool or t is str or t is bytes or value is None:
        return value
    if isinstance(value, KernelObject):
        return ("koid", value.koid)
    if hasattr(value, "__len__") and not isinstance(value, (bytearray, memoryview)):
        try:
            return ("len", len(value))
        except TypeError:
            return None
    if isinstance(value, (bytearray, memoryview)):
        return ("buf", bytes(value))
    return None


def describe_state(obj: Any) -> tuple[Any, ...]:
    """A generic walk of one object's own fields (slots and `__dict__`), summarised.
    Private fields (a leading underscore: lookup caches and the like) are left out."""
    out = [(name, _plain(getattr(obj, name, None))) for name in _slots(type(obj))
           if not name.startswith("_")]
    d = getattr(obj, "__dict__", None)
    if d:
        out += [(k, _plain(v)) for k, v in sorted(d.items())
                if k not in _BASE_SLOTS and not k.startswith("_")]
    return tuple(out)


def snapshot(kernel: Kernel) -> tuple[Any, ...]:
    """The observable state a failed syscall must leave alone.

    Handle tables (value, koid, rights), every live object (koid, type, signals, handle
    count, kernel references, name, number of observers, `describe()`, and a generic walk
    of its fields), every process's mappings and VMARs, and the pages in use.
    """
    tables = tuple(
        (p.koid, p.exited, tuple(sorted((v, h.obj.koid, h.rights) for v, h in p.handles.items())))
        for p in kernel.processes
    )
    objects = []
    for koid in sorted(kernel.objects):
        o = kernel.objects[koid]
        try:
            extra = tuple(sorted((str(k), _plain(v)) for k, v in o.describe().items()))
        except Exception as exc:  # a broken describe() is itself reported as a change
            extra = (("describe() raised", type(exc).__name__),)
        objects.append((koid, o.type_name, o.signals, o.handle_count, o.kernel_refs, o.name,
                        len(o.observers or ()), extra, describe_state(o)))
    maps = []
    for p in kernel.processes:
        root = p.root_vmar
        walk = getattr(root, "walk", None)
        if walk is not None:
            for depth, node in walk(0):
                maps.append((p.koid, depth, type(node).__name__, describe_state(node)))
    return tables, tuple(objects), tuple(maps), kernel.mem.pages_used


_OBJECT_FIELDS = ("koid", "type", "signals", "handle_count", "kernel_refs", "name", "observers", "describe")


def _object_diff(before: Any, after: Any) -> str:
    """What changed in one object's snapshot entry, field by field."""
    if before is None:
        return f"new {after[1]}"
    if after is None:
        return f"{before[1]} gone"
    out = [f"{n} {b!r} -> {a!r}" for n, b, a in zip(_OBJECT_FIELDS, before, after) if b != a]
    bf, af = dict(before[-1]), dict(after[-1])
    out += [f"{n} {bf.get(n)!r} -> {af.get(n)!r}" for n in sorted(set(bf) | set(af)) if bf.get(n) != af.get(n)]
    return f"{before[1]}: " + ", ".join(out)[:160]


def _collect(kernel: Kernel) -> list[str]:
    """The invariant checker's report; a check that raises is itself a broken invariant."""
    try:
        return collect(kernel)
    except Exception as exc:
        return [f"the invariant checker raised {type(exc).__name__}: {exc}"]


def _ints(value: Any, out: set[int], depth: int = 0) -> None:
    """Every int inside an argument (lists, tuples, structs), for consumed-handle checks."""
    if depth > 4:
        return
    if type(value) is int:
        out.add(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _ints(v, out, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _ints(getattr(value, f.name, None), out, depth + 1)


# --------------------------------------------------------------------------- arguments
def _words(name: str) -> list[str]:
    return [w for w in name.lower().split("_") if w]


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


@dataclass
class _Param:
    """How to draw one parameter (or struct field)."""

    name: str
    kind: str  # handle | size | bits | time | small | int | bytes | list | struct | any
    handle_type: str | None = None
    constants: tuple[int, ...] = ()
    optional: bool = False
    has_default: bool = False
    struct: type | None = None
    element: _Param | None = None
    structs: tuple[type, ...] = ()


class ArgumentDeriver:
    """Derives, for every registered syscall, how to draw adversarial arguments."""

    def __init__(self, kernel: Kernel) -> None:
        self.type_names = sorted(kernel.object_types)
        self.specs: dict[str, list[_Param]] = {}
        self._struct_params: dict[type, list[_Param]] = {}
        for name in sorted(kernel.syscalls.specs):
            self.specs[name] = self._derive(kernel.syscalls.specs[name])

    # ------------------------------------------------------------------ classification
    def _handle_type(self, name: str, family: str) -> str | None:
        low = name.lower()
        for t in self.type_names:
            if low == t or low.endswith("_" + t) or t.endswith("_" + low):
                return t
        if "handle" in low and family in self.type_names:
            return family
        return None

    def _is_handle(self, name: str) -> bool:
        low = name.lower()
        if low.startswith("num_"):
            return False
        return "handle" in _words(low) or any(
            low == t or low.endswith("_" + t) or t.endswith("_" + low) for t in self.type_names)

    def _constants(self, name: str, family: str, struct: bool = False) -> tuple[int, ...]:
        words = [_singular(w).upper() for w in _words(name)]
        fam = family.upper()
        keys: list[str] = []
        for w in _words(name):
            keys += _ALIASES.get(w, ())
        flags = "options" in name or "flags" in name
        prefixes = ((f"ZX_{fam}_",) if fam else ()) + (("ZX_VM_",) if fam == "VMAR" else ())

        def fits(cname: str) -> bool:
            return (any(k in cname for k in keys)
                    or any(f"_{w}_" in cname + "_" for w in words if len(w) > 2)
                    or (flags and cname.startswith(prefixes)))

        vals = [v for cname, v in _CONSTANTS if fits(cname)]
        if struct and vals:
            # A struct field: prefer the constants of the struct's own family
            # (zx_iob_region_t.type -> ZX_IOB_REGION_TYPE_*, then ZX_IOB_*).
            for prefix in (fam, fam.split("_")[0]):
                narrowed = [v for n, v in _CONSTANTS if v in vals and n.startswith(f"ZX_{prefix}_")]
                if len(set(narrowed)) >= 2:
                    vals = narrowed
                    break
        return tuple(sorted(set(vals)))

    def _classify(self, name: str, annotation: Any, family: str, doc: str = "", struct_field: bool = False) -> _Param:
        ann = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
        ann = ann.replace("zx.", "")
        optional = "None" in ann
        words = set(_words(name))
        struct = next((c for n, c in _STRUCTS.items() if re.search(rf"\b{n}\b", ann)), None)
        if ann.startswith(("list", "tuple", "Sequence")) or (
                name.endswith("s") and ann in ("Any", "list") and not words & _BITS_WORDS):
            inner = ann[ann.find("[") + 1: ann.rfind("]")] if "[" in ann else "Any"
            elem = self._classify(_singular(name), inner, "", doc)
            cands = tuple(c for n, c in _STRUCTS.items()
                          if n in doc or n.endswith(f"_{_singular(name)}_t"))
            return _Param(name, "list", element=elem, optional=optional, structs=cands)
        if struct is not None:
            return _Param(name, "struct", struct=struct, optional=optional)
        sizeish = bool(words & _SIZE_WORDS) and ann.startswith("int")
        if ann.startswith("bytes") or (words & {"data", "blob", "buffer", "bytes"} and not sizeish and "num" not in words):
            return _Param(name, "bytes", optional=optional)
        if ann == "Any":
            return _Param(name, "any", optional=optional, handle_type=self._handle_type(name, family))
        if self._is_handle(name):
            return _Param(name, "handle", handle_type=self._handle_type(name, family), optional=optional)
        if words & _TIME_WORDS:
            return _Param(name, "time", optional=optional)
        if "index" in words:
            return _Param(name, "small", optional=optional)
        if words & _SIZE_WORDS or name.endswith("_len"):
            return _Param(name, "size", optional=optional)
        if words & _BITS_WORDS:
            return _Param(name, "bits", constants=self._constants(name, family, struct_field), optional=optional)
        return _Param(name, "int", optional=optional)

    def _derive(self, spec: SyscallSpec) -> list[_Param]:
        family = spec.name.split("_")[1] if spec.name.count("_") >= 2 else ""
        params = list(inspect.signature(spec.impl).parameters.values())[1:]
        out = []
        for prm in params:
            if prm.kind in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD):
                continue
            p = self._classify(prm.name, prm.annotation, family, spec.doc)
            p.has_default = prm.default is not inspect.Parameter.empty
            out.append(p)
        return out

    def struct_params(self, cls: type) -> list[_Param]:
        """How to draw each field of an ABI struct."""
        cached = self._struct_params.get(cls)
        if cached is None:
            try:
                hints = typing.get_type_hints(cls, vars(zx))
            except Exception:  # unresolvable annotations: every field is an int
                hints = {}
            family = cls.__name__[3:-2]
            cached = []
            for f in dataclasses.fields(cls):
                hint = hints.get(f.name, int)
                args = [a for a in typing.get_args(hint) if a is not type(None)]
                base = args[0] if args and typing.get_origin(hint) is not tuple else hint
                if isinstance(base, type) and dataclasses.is_dataclass(base):
                    cached.append(_Param(f.name, "struct", struct=base, optional=len(args) != 0))
                elif typing.get_origin(hint) is tuple:
                    cached.append(_Param(f.name, "list", element=_Param(f.name, "int")))
                elif hint is bytes:
                    cached.append(_Param(f.name, "bytes"))
                else:
                    cached.append(self._classify(f.name, "int", family, struct_field=True))
            self._struct_params[cls] = cached
        return cached


@dataclass
class _Pools:
    """The live values one call draws from."""

    own: list[int]
    own_by_type: dict[str, list[int]]
    others: list[int]
    stale: list[int]
    addrs: list[int]
    offsets: list[int]
    now: int
    topics: list[int]


class _Drawer:
    """Draws argument values. In a `benign` call (about a third) every value is plausible
    (handles of the right type, small page multiples, one or two fitting constants), so
    calls succeed and build deeper state for the adversarial ones to break."""

    def __init__(self, rng: random.Random, deriver: ArgumentDeriver, skip: frozenset[str]) -> None:
        self.rng = rng
        self.deriver = deriver
        self.benign = False
        self.no_bigints = "bigints" in skip
        self.odd_values = tuple(v for v in ODD if not (self.no_bigints and type(v) is int and v > 2**64 - 1))
        self.sizes = tuple(v for v in _SIZES if not (self.no_bigints and v > 2**64 - 1))
        self.bits_values = tuple(v for v in _BITS if not (self.no_bigints and v > 2**64 - 1))

    def odd(self) -> Any:
        return self.rng.choice(self.odd_values)

    def handle(self, pools: _Pools, want: str | None) -> Any:
        r = self.rng.random()
        typed = pools.own_by_type.get(want or "", [])
        if self.benign:
            return self.rng.choice(typed or pools.own or [0])
        if r < 0.55 and typed:
            return self.rng.choice(typed)
        if r < 0.72 and pools.own:
            return self.rng.choice(pools.own)
        if r < 0.82 and pools.others:
            return self.rng.choice(pools.others)
        if r < 0.90 and pools.stale:
            return self.rng.choice(pools.stale)
        if r < 0.94:
            return zx.ZX_HANDLE_INVALID
        return self.rng.choice((self.odd(), 0xBADC0FFE, 2**32 + 3, -1, 2**64 - 1))

    def size(self, pools: _Pools, name: str) -> int:
        r = self.rng.random()
        if self.benign:
            r *= 0.55
        if ("addr" in name or "vmar_offset" in name) and r < 0.5:
            base = self.rng.choice(pools.addrs if "addr" in name else pools.offsets)
            return base + self.rng.choice((0, 0, P, 2 * P, -P, 1))
        if r < 0.55:
            return self.rng.choice((0, P, 2 * P, 3 * P, 4 * P, 8 * P)) + (1 if self.rng.random() < 0.05 else 0)
        if r < 0.75:
            return self.rng.randrange(0, 1 << 17)
        return self.rng.choice(self.sizes)

    def bits(self, param: _Param) -> int:
        r = self.rng.random()
        consts = param.constants
        if self.benign:
            if not consts or r < 0.6:
                return zx.ZX_RIGHT_SAME_RIGHTS if param.name == "rights" and r < 0.2 else 0
            if r < 0.8:
                return self.rng.choice(consts)
            r = 0.0
        if consts and r < 0.6:
            v = self.rng.choice(consts)
            for _ in range(3):
                if self.rng.random() < 0.4:
                    v |= self.rng.choice(consts)
            return v
        if r < 0.75:
            return 0
        if r < 0.85:
            return 1 << self.rng.randrange(64 if self.rng.random() < 0.1 else 32)
        if r < 0.92:
            return self.rng.getrandbits(32)
        return self.rng.choice(self.bits_values)

    def time(self, pools: _Pools) -> int:
        if self.benign:
            return self.rng.choice((0, pools.now + 1000))
        return self.rng.choice((0, -1, pools.now, pools.now + 1, pools.now + 10_000, pools.now + 1_000_000,
                                zx.ZX_TIME_INFINITE, zx.ZX_TIME_INFINITE_PAST, 2**63,
                                2**63 if self.no_bigints else 2**64 + 1))

    def bytes_(self) -> Any:
        r = self.rng.random()
        if r < 0.5 or self.benign:
            return self.rng.randbytes(self.rng.choice((0, 1, 5, 8, 32, 64)))
        if r < 0.65:
            return bytes(self.rng.choice((P, 3 * P + 1, zx.ZX_CHANNEL_MAX_MSG_BYTES, zx.ZX_CHANNEL_MAX_MSG_BYTES + 1)))
        if r < 0.75:
            return bytearray(self.rng.randbytes(16))
        if r < 0.8:
            return memoryview(b"view" * 4)
        return self.odd()

    def draw(self, param: _Param, pools: _Pools, depth: int = 0) -> Any:
        """One argument value for `param`."""
        rng = self.rng
        if not self.benign:
            if param.optional and rng.random() < 0.1:
                return None
            if rng.random() < 0.06:
                return self.odd()
        kind = param.kind
        if kind == "handle":
            return self.handle(pools, param.handle_type)
        if kind == "size":
            return self.size(pools, param.name)
        if kind == "bits":
            if param.name == "topic" and rng.random() < 0.7:
                return rng.choice(pools.topics)
            return self.bits(param)
        if kind == "time":
            return self.time(pools)
        if kind == "small":
            if self.benign:
                return rng.choice((0, 0, 1))
            return rng.choice((0, 0, 1, 2, 3, 64, 2**32, -1))
        if kind == "bytes":
            return self.bytes_()
        if kind == "struct" and param.struct is not None:
            return self.struct(param.struct, pools, depth)
        if kind == "list":
            return self.list_(param, pools, depth)
        if kind == "any":
            r = rng.random()
            if r < 0.4:
                return self.bytes_()
            if r < 0.5:
                return "name"
            if r < 0.7:
                return self.handle(pools, param.handle_type)
            return self.size(pools, param.name)
        r = rng.random()
        if r < 0.25 or (self.benign and r < 0.5):
            return rng.choice((0, 1, 2, 3))  # keys, counts, codes: small values meet
        if r < 0.55:
            return self.handle(pools, None)
        if r < 0.75:
            return self.size(pools, param.name)
        return self.bits(param)

    def list_(self, param: _Param, pools: _Pools, depth: int) -> Any:
        rng = self.rng
        if self.benign:
            n = rng.choice((1, 1, 2) if param.structs else (0, 0, 1, 1, 2))
        else:
            n = rng.choice((0, 1, 1, 2, 3, 4)) if rng.random() < 0.97 else rng.choice((9, 64, 65))
        out: list[Any] = []
        for _ in range(n):
            r = rng.random()
            if param.structs and (r < 0.7 or self.benign) and depth < 3:
                out.append(self.struct(rng.choice(param.structs), pools, depth + 1))
            elif param.element is not None and r < 0.9:
                out.append(self.draw(param.element, pools, depth + 1))
            elif r < 0.95 or self.benign:
                out.append((self.handle(pools, None), self.bits(_Param("signals", "bits"))))
            else:
                out.append(self.odd())
        if n > 1 and rng.random() < 0.1 and not self.benign:
            out[-1] = out[0]  # a repeated entry
        return out if rng.random() < 0.9 else tuple(out)

    def struct(self, cls: type, pools: _Pools, depth: int) -> Any:
        values = {}
        for fp in self.deriver.struct_params(cls):
            if fp.kind == "struct" and fp.struct is not None:
                if depth >= 3 or (fp.optional and self.rng.random() < 0.3):
                    values[fp.name] = None if fp.optional else fp.struct()
                else:
                    values[fp.name] = self.struct(fp.struct, pools, depth + 1)
            elif fp.kind == "list":
                values[fp.name] = (0,) * 8 if self.benign else tuple(self.size(pools, fp.name) for _ in range(8))
            elif self.rng.random() < (0.5 if self.benign else 0.2) and fp.kind not in ("handle",):
                values[fp.name] = 0
            else:
                values[fp.name] = self.draw(fp, pools, depth + 1)
        try:
            return cls(**values)
        except Exception:  # a struct whose constructor checks its fields: use defaults
            try:
                return cls()
            except Exception:
                return None


# --------------------------------------------------------------------------- the report
@dataclass
class Finding:
    """Something the fuzzer found; `where` reproduces it (seed, episode, call number)."""

    kind: str
    syscall: str
    detail: str
    where: str
    call: str

    def line(self) -> str:
        """One line for the report."""
        return f"[{self.kind}] {self.syscall}: {self.detail} ({self.where}; {self.call})"


@dataclass
class FuzzReport:
    """The figures of one campaign."""

    seed: int
    syscalls: int = 0
    episodes: int = 0
    per_syscall: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    deadlocks: int = 0
    exited_process_calls: int = 0
    memory_probes: int = 0
    threads: int = 0
    findings: list[Finding] = field(default_factory=list)
    known: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    duration: float = 0.0
    trace_bytes: int = 0
    trace_digest: str = ""
    stopped: str = ""

    @property
    def clean(self) -> bool:
        """No escaped exception, no state change on failure, no broken invariant, no leak."""
        return not self.counts

    def add(self, finding: Finding, keep: int, known: Sequence[tuple[str, str, str]] = ()) -> None:
        """Count a finding; keep the first `keep` of each kind and syscall.

        A finding matching a `known` (kind, syscall glob, text in the detail) entry is
        counted under `known` and does not make the report unclean.
        """
        for kind, glob, text in known:
            if finding.kind == kind and fnmatchcase(finding.syscall, glob) and text in finding.detail:
                self.known[f"{kind} {finding.syscall}: {text}"] += 1
                return
        self.counts[finding.kind] += 1
        same = sum(1 for f in self.findings if f.kind == finding.kind and f.syscall == finding.syscall)
        if same < keep:
            self.findings.append(finding)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data."""
        return {
            "seed": self.seed, "syscalls": self.syscalls, "episodes": self.episodes,
            "duration_s": round(self.duration, 2), "deadlocks": self.deadlocks,
            "exited_process_calls": self.exited_process_calls, "memory_probes": self.memory_probes,
            "threads": self.threads,
            "findings": {k: self.counts.get(k, 0) for k in FINDING_KINDS},
            "per_syscall": dict(sorted(self.per_syscall.items())),
            "ok": dict(sorted(self.ok.items())), "statuses": dict(sorted(self.statuses.items())),
            "trace_bytes": self.trace_bytes, "trace_digest": self.trace_digest,
            "examples": [f.line() for f in self.findings], "stopped": self.stopped,
            "known": dict(sorted(self.known.items())),
        }

    def render(self) -> str:
        """The human-readable figures."""
        rate = self.syscalls / self.duration if self.duration else 0.0
        lines = [
            f"seed {self.seed}: {self.syscalls:,} syscalls in {self.episodes:,} episodes, "
            f"{self.duration:.1f} s ({rate:,.0f}/s){'; ' + self.stopped if self.stopped else ''}",
            f"  escaped exceptions: {self.counts.get('escaped', 0)}",
            f"  failed calls that changed state: {self.counts.get('changed', 0)}",
            f"  invariant breaks: {self.counts.get('invariant', 0)}",
            f"  leaks at teardown: {self.counts.get('leak', 0)}",
            f"  calls through an exited process that did not fail: {self.counts.get('exited_process', 0)}"
            f" (of {self.exited_process_calls:,})",
            f"  memory accesses that raised something else than MemoryFault: "
            f"{self.counts.get('memory_access', 0)} (of {self.memory_probes:,})",
            f"  direct waits ending in Deadlock (allowed, must change nothing): {self.deadlocks:,}",
            f"  simulated threads started (each makes one blocking syscall): {self.threads:,}",
            f"  trace: {self.trace_bytes:,} bytes, sha256 {self.trace_digest[:16]}",
            "  per syscall (calls / succeeded):",
        ]
        for name, n in sorted(self.per_syscall.items()):
            lines.append(f"    {name:32} {n:>10,} {self.ok.get(name, 0):>10,}")
        if self.known:
            lines.append("  known open issues (not counted above):")
            lines += [f"    {n:>8,}  {what}" for what, n in sorted(self.known.items())]
        if self.findings:
            lines.append("  findings (first of each kind and syscall; replay one with the same options plus "
                         "--first-episode E --episodes 1 --trace-dir DIR):")
            lines += ["    " + f.line() for f in self.findings]
        lines.append("RESULT: " + ("clean" if self.clean else "FAILURES FOUND"))
        return "\n".join(lines)


class _DigestSink:
    """A binary stream for the trace: hashes what it gets, optionally keeps a copy."""

    def __init__(self, copy: IO[bytes] | None = None) -> None:
        self.hash = hashlib.sha256()
        self.size = 0
        self.copy = copy

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.copy is not None:
            self.copy.write(data)
        return len(data)

    def writelines(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.copy is not None:
            self.copy.flush()


# --------------------------------------------------------------------------- the fuzzer
def _short(args: Sequence[Any]) -> str:
    text = repr(tuple(args))
    return text if len(text) <= 300 else text[:297] + "..."


@contextlib.contextmanager
def host_memory_limit(mib: int | None) -> Iterator[None]:
    """Cap this process's address space while fuzzing (restored afterwards), so a syscall
    that allocates without bound raises MemoryError instead of taking the host."""
    if not mib or resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mib << 20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class Fuzzer:
    """Seeded stateful fuzzing of the syscalls of `plugins` (None: every installed one).

    `syscalls`: names (globs allowed) to fuzz; default every registered syscall.
    `episode`: calls per kernel before teardown. `processes`: live processes per kernel.
    `memory`: simulated memory of each kernel. `trace_dir`: keep each episode's trace.
    `keep`: findings kept per kind and syscall (all are counted). `skip`: probe families
    to leave out (`PROBES`). `host_memory`: address-space cap in MiB while running
    (None: no cap). `known`: (kind, syscall glob, detail text) of open issues to count
    apart. `setup(process)`: run on every new process (e.g. to create objects to fuzz).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        plugins: Sequence[Any] | None = None,
        syscalls: Sequence[str] | None = None,
        episode: int = 1000,
        processes: int = 3,
        memory: int = 64 << 20,
        trace_dir: str | None = None,
        keep: int = 3,
        max_handles: int = 48,
        consumes_on_failure: Iterable[str] = CONSUMES_ON_FAILURE,
        changes_on_failure: dict[str, frozenset[int]] | None = None,
        skip: Iterable[str] = (),
        host_memory: int | None = 3072,
        known: Sequence[tuple[str, str, str]] = (),
        setup: Callable[[Process], Any] | None = None,
    ) -> None:
        self.known = list(known)
        self.setup = setup
        self.host_memory = host_memory
        self.seed = seed
        self.plugins = plugins
        self.patterns = list(syscalls) if syscalls else None
        self.episode_len = episode
        self.nprocs = processes
        self.memory = memory
        self.trace_dir = trace_dir
        self.keep = keep
        self.max_handles = max_handles
        self.consumes = frozenset(consumes_on_failure)
        self.changes = dict(CHANGES_ON_FAILURE if changes_on_failure is None else changes_on_failure)
        self.skip = frozenset(skip)
        unknown = self.skip - set(PROBES)
        if unknown:
            raise ValueError(f"unknown probes to skip: {sorted(unknown)} (known: {sorted(PROBES)})")
        self.report = FuzzReport(seed)
        self.corpus: dict[str, list[tuple[list[Any], list[str | None]]]] = {}
        self._digest = hashlib.sha256()

    # ------------------------------------------------------------------ set-up
    def _new_kernel(self, episode: int) -> None:
        self.episode = episode
        # Everything an episode draws from depends on (seed, episode) alone, so one episode
        # can be replayed by itself (`--first-episode E --episodes 1`).
        self.rng = random.Random(f"fuzz:{self.seed}:{episode}")
        # Per syscall: argument lists that succeeded (with the types of their handles),
        # replayed with live handles and one argument mutated.
        self.corpus = {}
        copy = None
        if self.trace_dir is not None:
            Path(self.trace_dir).mkdir(parents=True, exist_ok=True)
            copy = open(Path(self.trace_dir) / f"fuzz-{self.seed}-{episode}.jsonl", "wb")  # noqa: SIM115
        self._copy = copy
        self.sink = _DigestSink(copy)
        self.k = Kernel(seed=self.seed * 100_003 + episode, plugins=self.plugins, trace=self.sink,  # type: ignore[arg-type]
                        memory=self.memory)
        # Objects the kernel itself keeps (a root job, say) are not the episode's to free.
        self.baseline = set(self.k.objects)
        self.deriver = ArgumentDeriver(self.k)
        self.drawer = _Drawer(self.rng, self.deriver, self.skip)
        names = sorted(self.k.syscalls.specs)
        if self.patterns is not None:
            names = [n for n in names if any(fnmatchcase(n, pat) or fnmatchcase(n[3:], pat) for pat in self.patterns)]
        if not names:
            raise ValueError("no registered syscall matches the selection")
        self.names = names
        self.weights = [0.3 if n == "zx_process_exit" else 1.5 if "create" in n else 1.0 for n in names]
        self.live = [self._spawn(f"p{i}") for i in range(self.nprocs)]
        self.exited: list[Process] = []
        self.stale: list[int] = []
        self.spawned = self.nprocs
        self.calls_in_threads: list[str] = []
        self.thread_errors_seen: set[int] = set()

    def _spawn(self, name: str) -> Process:
        # Each process gets a job of its own under the root job, so a fuzzed zx_task_kill
        # of its job (it holds a handle to it) ends it alone, not every later process.
        k = self.k
        root = k.root_job
        job = Job(k, root, root.height - 1)
        k.publish(job)
        root.add_job(job)
        proc = k.create_process(name, job=job)
        if self.setup is not None:
            self.setup(proc)
        return proc

    def _pools(self, p: Process) -> _Pools:
        own = sorted(p.handles)
        by_type: dict[str, list[int]] = {}
        for v in own:
            by_type.setdefault(p.handles[v].obj.type_name, []).append(v)
        others = sorted(v for q in self.k.processes if q is not p for v in q.handles)
        addrs = [0]
        offsets = [0]
        root = p.root_vmar
        if root is not None and not p.exited:
            for _, node in root.walk(0):
                base = getattr(node, "base", 0)
                addrs.append(base)
                offsets.append(base - root.base)
        topics = sorted(self.k.info_topics) or [0]
        return _Pools(own, by_type, others, self.stale[-16:], addrs, offsets, self.k.now, topics)

    def _where(self, index: int) -> str:
        return f"seed {self.seed} episode {self.episode} call {index}"

    def _find(self, kind: str, name: str, detail: str, index: int, call: str) -> None:
        self.report.add(Finding(kind, name, detail, self._where(index), call), self.keep, self.known)

    # ------------------------------------------------------------------ one call
    def _call(self, index: int) -> bool:
        """One random syscall and its checks; False if the kernel must be replaced."""
        rng = self.rng
        k = self.k
        rep = self.report
        self._replace_exited()
        r = rng.random()
        if r < 0.01 and "memory" not in self.skip:
            return self._memory_probe(index)
        if r < 0.03 and "threads" not in self.skip:
            return self._thread_probe(index, start=r < 0.025)
        via_exited = bool(self.exited) and rng.random() < 0.03 and "exited-process" not in self.skip
        p = rng.choice(self.exited) if via_exited else rng.choice(self.live)
        name = rng.choices(self.names, self.weights)[0]
        # Creations are mostly benign so that every type has live objects to work on.
        self.drawer.benign = rng.random() < (0.7 if "create" in name else 0.35)
        spec = k.syscalls.specs[name]
        params = self.deriver.specs[name]
        pools = self._pools(p)
        corpus = self.corpus.get(name)
        from_corpus = bool(corpus) and rng.random() < 0.4
        if from_corpus:
            args = self._from_corpus(rng.choice(corpus), params, pools)  # type: ignore[arg-type]
        else:
            args = [self.drawer.draw(prm, pools) for prm in params]
        r = 1.0 if self.drawer.benign or from_corpus else rng.random()
        if r < 0.04:
            while args and params[len(args) - 1].has_default:
                args.pop()
        elif r < 0.06:
            args.append(0)  # one argument too many
        elif r < 0.07 and args:
            args.pop()  # one too few
        call = f"p{p.koid}.zx.{spec.method}{_short(args)}"
        try:
            saved: list[Any] | None = copy.deepcopy(args)
        except Exception:
            saved = None
        handle_types = [p.handles[a].obj.type_name if prm.kind == "handle" and type(a) is int and a in p.handles
                        else None for prm, a in zip(params, args)]
        # Timers due now fire at the next syscall entry whatever the syscall: fire them
        # first, so what the call itself changes is all the snapshots differ by.
        k.sched.fire_due()
        before = snapshot(k)
        switches = k.sched.switches
        now0 = k.now
        rep.syscalls += 1
        rep.per_syscall[name] += 1
        if via_exited:
            rep.exited_process_calls += 1
        status: int | None = None
        try:
            getattr(p.zx, spec.method)(*args)
        except ZxError as e:
            status = e.status
            rep.statuses[f"{name} {zx.zx_status_get_string(status)}"] += 1
        except Deadlock:
            status = zx.ZX_ERR_CANCELED
            rep.deadlocks += 1
        except MicrosimError as e:
            if not via_exited or isinstance(e, KernelPanic):
                return self._escaped(name, e, index, call)
            status = zx.ZX_ERR_BAD_STATE  # an exited process's facade may refuse with its own error
        except Exception as e:
            return self._escaped(name, e, index, call)
        else:
            rep.ok[name] += 1
            if saved is not None and len(saved) == len(params):
                entries = self.corpus.setdefault(name, [])
                if len(entries) < 16:
                    entries.append((saved, handle_types))
                else:
                    entries[rng.randrange(16)] = (saved, handle_types)
        after = snapshot(k)
        if via_exited and (status is None or after != before):
            what = "succeeded" if status is None else "failed but changed state"
            self._find("exited_process", name, f"a call through an exited process {what}", index, call)
        elif (status is not None and after != before and k.sched.switches == switches
              and k.now - now0 <= k.syscall_ns):
            # (A call that blocked is not compared: other simulated threads ran, or virtual
            # time jumped while it waited and timers fired, which change state legitimately.)
            detail = self._changed(name, status, args, before, after)
            if detail:
                self._find("changed", name, f"{zx.zx_status_get_string(status)} but {detail}", index, call)
        if k.sched.switches != switches and not self._thread_errors(index):
            return False
        problems = _collect(k)
        if problems:
            self._find("invariant", name, "; ".join(problems)[:300], index, call)
            return False
        # Handles that left the caller's table become stale values to try later.
        if status is None or name in self.consumes:
            gone = {v for v, *_ in before[0][k.processes.index(p)][2]} - set(p.handles) if p in k.processes else set()
            self.stale.extend(sorted(gone))
            del self.stale[:-64]
        # A process that lost its root VMAR handle can no longer reach most syscalls:
        # now and then it exits and a fresh one takes its place.
        if p.root_vmar_handle not in p.handles and not p.exited and rng.random() < 0.05:
            k.exit_process(p)
        self._replace_exited()
        for q in self.live:
            if len(q.handles) > self.max_handles:
                self._trim(q)
        return True

    def _from_corpus(self, entry: tuple[list[Any], list[str | None]], params: list[_Param],
                     pools: _Pools) -> list[Any]:
        """A call that once succeeded, with live handles of the same types, and maybe one
        argument redrawn."""
        saved, types = entry
        args = copy.deepcopy(saved)
        for i, t in enumerate(types):
            if t is not None:
                typed = pools.own_by_type.get(t)
                if typed:
                    args[i] = self.rng.choice(typed)
        if args and self.rng.random() < 0.6:
            i = self.rng.randrange(len(args))
            self.drawer.benign = self.rng.random() < 0.3
            args[i] = self.drawer.draw(params[i], pools)
        return args

    def _changed(self, name: str, status: int, args: list[Any], before: Any, after: Any) -> str:
        """What a failed call changed that it may not change ('' when allowed)."""
        if status in self.changes.get(name, ()):
            return ""
        if name in self.consumes:
            named: set[int] = set()
            _ints(args, named)
            b_tables = {t[0]: dict((v, (ko, r)) for v, ko, r in t[2]) for t in before[0]}
            a_tables = {t[0]: dict((v, (ko, r)) for v, ko, r in t[2]) for t in after[0]}
            # Closing a consumed handle may destroy its object, even a process (its last
            # handle to a process that never started): its table may go with it.
            ok = a_tables.keys() <= b_tables.keys()
            ended = {t[0] for t in after[0] if t[1]} - {t[0] for t in before[0] if t[1]}
            for pid, table in a_tables.items():
                if pid in ended:
                    continue
                old = b_tables.get(pid, {})
                if any(old.get(v) != e for v, e in table.items()) or not (old.keys() - table.keys()) <= named:
                    ok = False
            new_objs = {o[0] for o in after[1]} - {o[0] for o in before[1]}
            # A process destroyed that way takes its mappings and their pages with it.
            kept_maps = tuple(m for m in before[2] if m[0] in a_tables and m[0] not in ended)
            after_maps = tuple(m for m in after[2] if m[0] not in ended)
            if ok and not new_objs and kept_maps == after_maps and after[3] <= before[3]:
                return ""
        labels = ("handle tables", "objects", "mappings", "pages used")
        diffs = [lab for lab, b, a in zip(labels, before, after) if b != a]
        detail = ", ".join(diffs) + " changed"
        if before[1] != after[1]:
            b = {o[0]: o for o in before[1]}
            a = {o[0]: o for o in after[1]}
            for koid in sorted(set(a) | set(b)):
                if a.get(koid) != b.get(koid):
                    detail += f" (first: koid {koid}: {_object_diff(b.get(koid), a.get(koid))})"
                    break
        return detail

    def _escaped(self, name: str, exc: BaseException, index: int, call: str) -> bool:
        """Report an escaped exception and what it left broken; the kernel is replaced."""
        self._find("escaped", name, f"{type(exc).__name__}: {str(exc)[:200]}", index, call)
        problems = _collect(self.k)
        if problems:
            self._find("invariant", name, "; ".join(problems)[:300], index, call)
        return False

    def _replace_exited(self) -> None:
        """Replace live processes that have exited (by zx_process_exit, a kill, or the end
        of their last thread)."""
        for q in [q for q in self.live if q.exited]:
            self.live.remove(q)
            self.exited = ([*self.exited, q])[-2:]
            self.spawned += 1
            self.live.append(self._spawn(f"p{self.spawned}"))

    def _thread_probe(self, index: int, start: bool) -> bool:
        """Start a simulated thread that makes one blocking syscall (one with a deadline
        parameter), or run the scheduler until every thread is done or blocked for good."""
        k = self.k
        rng = self.rng
        if start:
            blocking = [n for n in self.names if any(prm.kind == "time" for prm in self.deriver.specs[n])]
            p = rng.choice(self.live)
            if not blocking or len(k.sched.live_threads()) > 8:
                return True
            name = rng.choice(blocking)
            self.drawer.benign = rng.random() < 0.5
            args = [self.drawer.draw(prm, self._pools(p)) for prm in self.deriver.specs[name]]
            method = getattr(p.zx, k.syscalls.specs[name].method)

            def body() -> None:
                with contextlib.suppress(ZxError, Deadlock):
                    method(*args)

            k.create_thread(p, body, name=f"fuzz-{name[3:]}")
            self.report.threads += 1
            self.calls_in_threads.append(f"p{p.koid}.zx.{name[3:]}{_short(args)}")
            return True
        try:
            k.run()
        except Deadlock:
            pass
        except Exception as e:
            self._find("escaped", "Kernel.run", f"{type(e).__name__}: {str(e)[:200]}", index, "kernel.run()")
            return False
        return self._thread_errors(index)

    def _thread_errors(self, index: int) -> bool:
        """Report a simulated thread that ended with an exception other than ZxError or
        a fault of simulated code (a thread started at a bad entry address faults, as a
        Zircon thread does: that is the kernel working, not a Python error escaping)."""
        for t in self.k.sched.threads:
            err = getattr(t, "error", None)
            if isinstance(err, (MemoryFault, ExecuteFault)):
                continue
            if err is not None and t.koid not in self.thread_errors_seen:
                self.thread_errors_seen.add(t.koid)
                self._find("escaped", "thread", f"{type(err).__name__}: {str(err)[:200]}", index,
                           "; ".join(self.calls_in_threads[-3:]))
                return False
        return True

    def _memory_probe(self, index: int) -> bool:
        """Read or write simulated memory at live and adversarial addresses."""
        rng = self.rng
        p = rng.choice(self.live)
        pools = self._pools(p)
        big = (2**48,) if "bigints" in self.skip else (2**64, 2**70)
        addr = rng.choice(pools.addrs) + rng.choice((0, 1, P, -1, *big))
        length = rng.choice((0, 1, 8, P, 2 * P + 3, 2**32, 2**40, -1, *big))
        self.report.memory_probes += 1
        write = rng.random() < 0.5
        call = f"p{p.koid}.{'write' if write else 'read'}_memory({addr:#x}, {length})"
        before = snapshot(self.k)
        try:
            if write:
                p.write_memory(addr, bytes(min(max(length, 0), 2 * P + 3)))
            else:
                p.read_memory(addr, length)
            return True
        except (MemoryFault, ZxError, ValueError, TypeError):
            # MemoryFault for a bad address; ValueError / TypeError for arguments that are
            # not addresses at all (a negative length, a non-int).
            if snapshot(self.k) != before:
                self._find("memory_access", "memory", "a faulting access changed state", index, call)
            return True
        except Exception as e:
            self._find("memory_access", "memory", f"{type(e).__name__}: {str(e)[:200]}", index, call)
            return False

    def _trim(self, q: Process) -> None:
        keep = {q.self_handle, q.root_vmar_handle}
        extra = [v for v in sorted(q.handles) if v not in keep]
        self.rng.shuffle(extra)
        for v in extra[: len(q.handles) - self.max_handles // 2]:
            with contextlib.suppress(ZxError):
                q.zx.handle_close(v)
            self.stale.append(v)

    # ------------------------------------------------------------------ teardown
    def _teardown(self, index: int, healthy: bool) -> None:
        k = self.k
        try:
            if healthy:
                try:
                    self._check_teardown(index)
                except Exception as e:
                    self._find("escaped", "teardown", f"{type(e).__name__}: {str(e)[:200]}", index,
                               "close every handle, exit every process")
        finally:
            try:
                k.close()
            except Exception as e:
                self._find("escaped", "Kernel.close", f"{type(e).__name__}: {str(e)[:200]}", index, "close()")
            finally:
                if self._copy is not None:
                    self._copy.close()
            self.report.trace_bytes += self.sink.size
            self._digest.update(self.sink.hash.digest())

    def _check_teardown(self, index: int) -> None:
        k = self.k
        for q in list(self.live):
            for v in sorted(q.handles):
                if q.exited:  # closing a handle may end it (its last thread's process...)
                    break
                if v in (q.self_handle, q.root_vmar_handle):
                    continue
                try:
                    q.zx.handle_close(v)
                except Exception as e:
                    self._find("escaped", "zx_handle_close", f"teardown: {type(e).__name__}: {e}", index,
                               f"p{q.koid}.zx.handle_close({v:#x})")
                    return
        for q in list(k.processes):
            k.exit_process(q)
        # Killed threads unwind when they next get the CPU (see Scheduler.kill).
        k.run()
        problems = _collect(k)
        if problems:
            self._find("invariant", "teardown", "; ".join(problems)[:300], index, "exit every process")
            return
        held = Counter(h.obj.koid for h, _ in held_handles(k))
        left = [o for o in k.objects.values() if o.koid not in self.baseline
                and (o.handle_count != held[o.koid] or (o.handle_count == 0 and not held))]
        if left:
            desc = ", ".join(f"{o!r} (handles {o.handle_count}, refs {o.kernel_refs})" for o in left[:5])
            self._find("leak", "teardown", f"{len(left)} objects outlive every process: {desc}", index,
                       "close every handle, exit every process")

    # ------------------------------------------------------------------ campaign
    def run(self, syscalls: int, *, time_limit: float | None = None,
            progress: Callable[[FuzzReport], None] | None = None,
            first_episode: int = 0, episodes: int | None = None) -> FuzzReport:
        """Make `syscalls` random calls (in episodes of fresh kernels); return the report.

        `first_episode` / `episodes`: run only those episodes (a finding's "episode E"
        replays alone with `first_episode=E, episodes=1`).
        """
        with host_memory_limit(self.host_memory):
            return self._run(syscalls, time_limit, progress, first_episode, episodes)

    def _run(self, syscalls: int, time_limit: float | None,
             progress: Callable[[FuzzReport], None] | None, first_episode: int,
             episodes: int | None) -> FuzzReport:
        rep = self.report
        start = time.monotonic()
        episode = first_episode
        last_progress = start
        while rep.syscalls < syscalls and (episodes is None or episode < first_episode + episodes):
            self._new_kernel(episode)
            rep.episodes += 1
            healthy = True
            i = 0
            try:
                for i in range(min(self.episode_len, syscalls - rep.syscalls)):
                    if not self._call(i):
                        healthy = False
                        break
            finally:
                self._teardown(i, healthy)
            episode += 1
            now = time.monotonic()
            if progress is not None and now - last_progress > 10:
                rep.duration = now - start
                progress(rep)
                last_progress = now
            if time_limit is not None and now - start > time_limit:
                rep.stopped = f"stopped at the time limit ({time_limit:.0f} s)"
                break
        rep.duration = time.monotonic() - start
        rep.trace_digest = self._digest.hexdigest()
        return rep


def fuzz_syscalls(
    plugins: Sequence[Any] | None, syscalls: Sequence[str] | None = None, *, calls: int = 2000, seed: int = 0,
    episode: int = 500,
) -> FuzzReport:
    """Fuzz `syscalls` (globs; default all) of a kernel with `plugins`; return the report."""
    return Fuzzer(seed, plugins=plugins, syscalls=syscalls, episode=episode).run(calls)


# --------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> int:
    """The campaign command: prints the figures; exit status 1 when anything was found."""
    ap = argparse.ArgumentParser(
        prog="python -m microsim.testing.fuzz",
        description="Stateful fuzzing of every registered syscall (arguments derived from the syscall table). "
                    "Exit status 0: clean; 1: findings (listed with their seed, episode and call number).",
    )
    ap.add_argument("--syscalls", type=int, default=100_000, help="number of random syscalls (default 100000)")
    ap.add_argument("--seed", type=int, default=0, help="campaign seed (same seed: same calls, same traces)")
    ap.add_argument("--plugins", default=None, help="comma-separated plugins to load (default: every installed)")
    ap.add_argument("--only", default=None, help="comma-separated syscall globs to fuzz (default: all)")
    ap.add_argument("--episode", type=int, default=1000, help="calls per fresh kernel before teardown (default 1000)")
    ap.add_argument("--first-episode", type=int, default=0,
                    help="start at this episode (replay a finding: --first-episode E --episodes 1 --trace-dir DIR)")
    ap.add_argument("--episodes", type=int, default=None, help="run at most this many episodes")
    ap.add_argument("--processes", type=int, default=3, help="live processes per kernel (default 3)")
    ap.add_argument("--time-limit", type=float, default=None, help="stop after this many seconds")
    ap.add_argument("--host-memory", type=int, default=3072,
                    help="cap this process's address space, MiB (default 3072; 0: no cap), so a syscall "
                         "that allocates without bound fails with MemoryError instead of taking the host")
    ap.add_argument("--trace-dir", default=None, help="keep each episode's trace (JSON lines) in this directory")
    ap.add_argument("--json", default=None, help="also write the report as JSON to this file")
    ap.add_argument("--skip", default="", help="comma-separated probe families to leave out: "
                    + "; ".join(f"{k} ({v})" for k, v in PROBES.items()))
    ap.add_argument("--known", action="append", default=[], metavar="KIND:SYSCALL:TEXT",
                    help="count findings of KIND for SYSCALL (glob) whose detail contains TEXT apart, as a "
                         "known open issue (repeatable)")
    ap.add_argument("--keep", type=int, default=3, help="examples kept per finding kind and syscall (default 3)")
    ns = ap.parse_args(argv)
    for name in (s for s in ns.skip.split(",") if s):
        if name not in PROBES:
            ap.error(f"--skip: unknown probe family {name!r} (known: {', '.join(PROBES)})")
    for entry in ns.known:
        if entry.count(":") < 2:
            ap.error(f"--known takes KIND:SYSCALL:TEXT, got {entry!r}")
    plugins = ns.plugins.split(",") if ns.plugins else None
    only = ns.only.split(",") if ns.only else None
    fuzzer = Fuzzer(ns.seed, plugins=plugins, syscalls=only, episode=ns.episode, processes=ns.processes,
                    trace_dir=ns.trace_dir, keep=ns.keep, host_memory=ns.host_memory or None, skip=[s for s in ns.skip.split(",") if s],
                    known=[tuple(k.split(":", 2)) for k in ns.known])  # type: ignore[misc]

    def progress(rep: FuzzReport) -> None:
        found = sum(rep.counts.values())
        print(f"... {rep.syscalls:,} syscalls, {rep.duration:.0f} s, {found} findings", file=sys.stderr, flush=True)

    rep = fuzzer.run(ns.syscalls, time_limit=ns.time_limit, progress=progress,
                     first_episode=ns.first_episode, episodes=ns.episodes)
    print(rep.render())
    if ns.json:
        Path(ns.json).write_text(json.dumps(rep.to_dict(), indent=1) + "\n")
    return 0 if rep.clean else 1


if __name__ == "__main__":
    sys.exit(main())
