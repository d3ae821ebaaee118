"""A live, strace-style view of the syscalls: `Kernel(strace=sys.stderr)` or
`microsim run PROGRAM --strace`.

Each syscall is printed as it returns, with the caller's process and thread names, its
arguments by name (handles in hex, rights and signals decoded), its result or status name,
and its start and duration in virtual time. Lines go through structlog's `ConsoleRenderer`,
coloured only when the stream is a terminal:

         1µs zx_handle_duplicate(handle=0x582241d3, rights=DUPLICATE|READ) = 0xb33a7e0f [ZX_OK] dur=1µs sc=2 proc=app thread=-
         3µs zx_handle_close(handle=0x5) = [ZX_ERR_BAD_HANDLE] dur=1µs sc=4 proc=app thread=-
         1µs zx_object_wait_one(handle=0x585e2d03, signals=READABLE, deadline=9223372036854775807) = ? <unwound: kernel shutdown> dur=0µs sc=2 proc=app thread=stuck

(`thread=-`: a call made directly from Python.) Printing is per syscall, in Python: it costs what a line of text costs (bench/bench_handles.py
measures it), and only when asked for.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import structlog

from microsim import zx

if TYPE_CHECKING:
    from microsim.kernel import Kernel

_RIGHTS = sorted(
    ((v, n[len("ZX_RIGHT_"):]) for n, v in vars(zx).items()
     if n.startswith("ZX_RIGHT_") and isinstance(v, int) and v and not v & (v - 1)
     and n != "ZX_RIGHT_SAME_RIGHTS"),
)
_SIGNALS = {
    zx.ZX_OBJECT_READABLE: "READABLE",
    zx.ZX_OBJECT_WRITABLE: "WRITABLE",
    zx.ZX_OBJECT_PEER_CLOSED: "PEER_CLOSED",
    zx.ZX_OBJECT_SIGNALED: "SIGNALED",
    zx.ZX_SIGNAL_HANDLE_CLOSED: "HANDLE_CLOSED",
    **{1 << (24 + i): f"USER_SIGNAL_{i}" for i in range(8)},
}
_SIGNAL_ARGS = frozenset({"signals", "set_mask", "clear_mask", "observed", "trigger", "pending"})


def decode_rights(value: int) -> str:
    """`READ|WRITE|...`, `SAME_RIGHTS` or `NONE` for a rights mask."""
    if value == zx.ZX_RIGHT_SAME_RIGHTS:
        return "SAME_RIGHTS"
    if value == 0:
        return "NONE"
    names = [n for bit, n in _RIGHTS if value & bit]
    rest = value & ~sum(bit for bit, _ in _RIGHTS)
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def decode_signals(value: int) -> str:
    """`READABLE|USER_SIGNAL_0|...` (object-specific bits as `SIGNAL_<bit>`) or `0`."""
    if value == 0:
        return "0"
    names = []
    for bit in range(32):
        if value & (1 << bit):
            names.append(_SIGNALS.get(1 << bit, f"SIGNAL_{bit}"))
    return "|".join(names)


def _ns(ns: int) -> str:
    if ns % 1000 == 0:
        return f"{ns // 1000}µs"
    return f"{ns / 1000:.3f}µs"


def _value(name: str, value: Any) -> str:
    if type(value) is int:
        if name == "rights" or name.endswith("_rights"):
            return decode_rights(value)
        if name in _SIGNAL_ARGS:
            return decode_signals(value)
        if name == "handle" or name.endswith("handle") or (name == "options" and value):
            return f"{value:#x}"
        return str(value)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class StraceView:
    """Prints each syscall record it is called with (the traced facade calls it)."""

    def __init__(self, kernel: Kernel, stream: IO[str]) -> None:
        self.kernel = kernel
        self.stream: IO[str] | None = stream
        isatty = getattr(stream, "isatty", None)
        colors = bool(isatty()) if isatty is not None else False
        self._render = structlog.dev.ConsoleRenderer(colors=colors, pad_event_to=0, sort_keys=False)

    def _name(self, koid: int) -> str:
        if koid == 0:
            return "-"
        obj = self.kernel.objects.get(koid)
        name = getattr(obj, "name", None)
        if isinstance(name, bytes):
            return name.decode(errors="replace") or str(koid)
        return str(koid)

    def line(self, row: tuple[Any, ...]) -> str:
        """The rendered line for one syscall row."""
        _, t0, sc, pid, tid, name, args, status, out, dur = row[:10]
        spec = self.kernel.syscalls.specs.get(name)
        params = spec.params if spec is not None else ()
        if isinstance(args, dict):
            items = list(args.items())
        else:
            items = list(zip(params, args))
            items += [("*", a) for a in args[len(params):]]
        call = f"{name}({', '.join(f'{k}={_value(k, v)}' for k, v in items)})"
        if status is None:
            outcome = f"= ? <unwound: {out.get('unwound') if isinstance(out, dict) else out}>"
        elif status == 0:
            if out is None:
                outcome = "= [ZX_OK]"
            elif type(out) is int:
                outcome = f"= {out:#x} [ZX_OK]" if name.endswith(("create", "duplicate", "replace")) else f"= {out} [ZX_OK]"
            else:
                outcome = f"= {_value('result', out)} [ZX_OK]"
        else:
            outcome = f"= [{zx.zx_status_get_string(status)}]"
            if out:
                outcome += f" {_value('out', out)}"
        event = {
            "timestamp": f"{_ns(t0):>12}",
            "event": f"{call} {outcome}",
            "dur": _ns(dur),
            "sc": sc,
            "proc": self._name(pid),
            "thread": self._name(tid),
        }
        return str(self._render(None, "info", event))

    def __call__(self, row: tuple[Any, ...]) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(self.line(row) + "\n")
        except (OSError, ValueError):
            # The stream is gone (closed, broken pipe): stop printing, keep simulating.
            self.stream = None
