"""The syscall table, the per-process facade (`process.zx`), and argument checking.

The table is built once when the kernel starts: a syscall call is a plain Python call
into the implementation, never a pluggy hook call. Each facade method is generated for
its syscall in one of two shapes: untraced (one attribute test, the call, exception
mapping) or traced (adds sequence number, context and one tuple appended to the log).
Syscall observers (enter / exit / replace) are composed into the implementation only for
the syscalls they select, so an unobserved syscall pays nothing for them.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from microsim import zx
from microsim.errors import KernelClosed, KernelPanic, MicrosimError, PluginError, ZxError

if TYPE_CHECKING:
    from microsim.kernel import Kernel
    from microsim.objects.process import Process

SyscallImpl = Callable[..., Any]

_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_INVALID_ARGS = zx.ZX_ERR_INVALID_ARGS


# --------------------------------------------------------------------------- arguments
def arg_u32(value: Any) -> int:
    """A uint32 argument (options, rights, indices): else ZX_ERR_INVALID_ARGS."""
    if type(value) is int and 0 <= value <= _U32:
        return value
    raise ZxError(_INVALID_ARGS, f"expected a uint32, got {value!r:.40}")


def arg_u64(value: Any) -> int:
    """A uint64 flag/option argument: else ZX_ERR_INVALID_ARGS."""
    if type(value) is int and 0 <= value <= _U64:
        return value
    raise ZxError(_INVALID_ARGS, f"expected a uint64, got {value!r:.40}")


def arg_size(value: Any) -> int:
    """A size or offset (uint64): non-integers are ZX_ERR_INVALID_ARGS; negative or
    larger than 64 bits is ZX_ERR_OUT_OF_RANGE (a C caller would pass a huge value)."""
    if type(value) is not int:
        raise ZxError(_INVALID_ARGS, f"expected a size, got {value!r:.40}")
    if value < 0 or value > _U64:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"size {value} does not fit in 64 bits")
    return value


def arg_i64(value: Any) -> int:
    """A signed 64-bit argument (deadlines, durations): else ZX_ERR_INVALID_ARGS."""
    if type(value) is int and _I64_MIN <= value <= _I64_MAX:
        return value
    raise ZxError(_INVALID_ARGS, f"expected an int64, got {value!r:.40}")


def arg_bytes(value: Any) -> bytes:
    """A user buffer to read from: bytes-like, else ZX_ERR_INVALID_ARGS."""
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value)
        except (TypeError, ValueError, BufferError) as exc:
            raise ZxError(_INVALID_ARGS, str(exc)) from None
    raise ZxError(_INVALID_ARGS, f"expected a bytes-like buffer, got {type(value).__name__}")


def arg_handle_list(value: Any, limit: int) -> list[Any]:
    """A user array of handle values: a list or tuple, at most `limit` long."""
    if not isinstance(value, (list, tuple)):
        raise ZxError(_INVALID_ARGS, "expected a list of handles")
    if len(value) > limit:
        raise ZxError(zx.ZX_ERR_OUT_OF_RANGE, f"more than {limit} handles")
    return list(value)


# --------------------------------------------------------------------------- observers
@dataclass
class SyscallCall:
    """One syscall invocation as seen by syscall observers.

    Enter observers may rewrite `args`/`kwargs`; exit observers see `status`, `result`
    and `error` and may replace `result`. A replacement receives the call and may run
    the real implementation with `call_original()`.
    """

    process: Process
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    status: int = 0
    result: Any = None
    error: ZxError | None = None
    original: SyscallImpl | None = field(default=None, repr=False)

    def call_original(self) -> Any:
        """Run the syscall's own implementation with the current arguments."""
        assert self.original is not None
        return self.original(self.process, *self.args, **self.kwargs)


@dataclass
class SyscallHook:
    """A syscall observer registration: names matching `pattern` (a glob)."""

    pattern: str
    enter: Callable[[SyscallCall], None] | None = None
    exit: Callable[[SyscallCall], None] | None = None
    replace: Callable[[SyscallCall], Any] | None = None
    plugin: str = ""

    def matches(self, name: str) -> bool:
        """Whether the hook selects syscall `name` (with or without its zx_ prefix)."""
        short = name[3:] if name.startswith("zx_") else name
        return fnmatch.fnmatchcase(name, self.pattern) or fnmatch.fnmatchcase(
            short, self.pattern
        )


@dataclass
class SyscallSpec:
    """A registered syscall."""

    name: str
    impl: SyscallImpl
    plugin: str
    params: tuple[str, ...]
    doc: str

    @property
    def method(self) -> str:
        """The facade method name (the Zircon name without `zx_`)."""
        return self.name[3:] if self.name.startswith("zx_") else self.name


class SyscallFacade:
    """Base of the generated `process.zx` classes: one method per registered syscall."""

    __slots__ = ("_p",)

    def __init__(self, process: Process) -> None:
        self._p = process

    def __repr__(self) -> str:
        return f"<zx facade of {self._p!r}>"

    if TYPE_CHECKING:
        # The methods are generated from the syscall table when the kernel starts; to a
        # type checker every syscall is a callable attribute.
        def __getattr__(self, name: str) -> Callable[..., Any]: ...


def _observed(spec: SyscallSpec, hooks: list[SyscallHook]) -> SyscallImpl:
    enters = [h.enter for h in hooks if h.enter is not None]
    exits = [h.exit for h in hooks if h.exit is not None]
    replacements = [h.replace for h in hooks if h.replace is not None]
    replace = replacements[-1] if replacements else None
    impl = spec.impl
    name = spec.name

    def observed_impl(process: Process, *args: Any, **kwargs: Any) -> Any:
        call = SyscallCall(process, name, args, kwargs, original=impl)
        for enter in enters:
            enter(call)
        try:
            if replace is not None:
                call.result = replace(call)
            else:
                call.result = impl(process, *call.args, **call.kwargs)
        except ZxError as err:
            call.status = err.status
            call.error = err
            for ex in exits:
                ex(call)
            if call.error is not None:
                raise call.error from None
            return call.result
        for ex in exits:
            ex(call)
        if call.error is not None:
            raise call.error
        return call.result

    return observed_impl


def _freeze(value: Any) -> Any:
    """A trace-safe snapshot of an argument or result (mutable buffers by length)."""
    t = type(value)
    if t is int or t is bool or value is None or t is str:
        return value
    if t is bytes or t is bytearray or t is memoryview:
        return {"bytes": len(value)}
    if t is tuple or t is list:
        return [_freeze(v) for v in value]
    if t is dict:
        return {str(k): _freeze(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _freeze(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, int):
        return int(value)
    return repr(value)


_SCALARS = frozenset({int, bool, str, bytes, type(None)})


def _panic(name: str, exc: BaseException) -> KernelPanic:
    return KernelPanic(f"{name}: internal {type(exc).__name__}: {exc}")


def _refusing(spec: SyscallSpec) -> Callable[..., Any]:
    name = spec.name

    def syscall(self: SyscallFacade, *args: Any, **kwargs: Any) -> Any:
        raise KernelClosed(f"{name}: the kernel is closed")

    syscall.__name__ = spec.method
    syscall.__qualname__ = f"Zx.{spec.method}"
    syscall.__doc__ = spec.doc
    return syscall


class SyscallTable:
    """All syscalls of one kernel, and the facade class built from them."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.specs: dict[str, SyscallSpec] = {}
        self.hooks: list[SyscallHook] = []
        self.facade_class: type[SyscallFacade] = type("Zx", (SyscallFacade,), {"__slots__": ()})
        self.refused = False  # set by refuse_all() when the kernel closes

    def register(self, name: str, impl: SyscallImpl, *, plugin: str, doc: str | None = None) -> None:
        """Add syscall `name` (Zircon's name, e.g. "zx_vmo_create")."""
        if not name.startswith("zx_"):
            raise PluginError(f"plugin {plugin!r}: syscall name {name!r} must start with 'zx_'")
        if name in self.specs:
            other = self.specs[name].plugin
            raise PluginError(
                f"plugin {plugin!r} registers syscall {name!r}, already registered by {other!r}"
            )
        params = tuple(inspect.signature(impl).parameters)[1:]
        text = doc or inspect.getdoc(impl) or ""
        self.specs[name] = SyscallSpec(name, impl, plugin, params, text)

    def add_hook(self, hook: SyscallHook) -> None:
        """Add a syscall observer and rebuild the affected facade methods."""
        self.hooks.append(hook)
        self.build()

    def build(self) -> None:
        """(Re)generate one facade method per syscall on the shared facade class."""
        if self.refused:
            self.refuse_all()
            return
        for spec in self.specs.values():
            setattr(self.facade_class, spec.method, self._method(spec))

    def refuse_all(self) -> None:
        """Make every facade method raise `KernelClosed` (the kernel is closed).

        The methods are swapped, not guarded: an open kernel's syscalls pay nothing.
        """
        self.refused = True
        for spec in self.specs.values():
            setattr(self.facade_class, spec.method, _refusing(spec))

    def _method(self, spec: SyscallSpec) -> Callable[..., Any]:
        kernel = self.kernel
        hooks = [h for h in self.hooks if h.matches(spec.name)]
        impl = _observed(spec, hooks) if hooks else spec.impl
        name = spec.name
        if kernel.trace is None:
            return self._untraced(kernel, name, impl, spec)
        return self._traced(kernel, name, impl, spec)

    @staticmethod
    def _untraced(
        kernel: Kernel, name: str, impl: SyscallImpl, spec: SyscallSpec
    ) -> Callable[..., Any]:
        cost = kernel.syscall_ns

        def syscall(self: SyscallFacade, *args: Any, **kwargs: Any) -> Any:
            k = kernel
            if k.preempt:
                k.sched.preempt()
            try:
                result = impl(self._p, *args, **kwargs)
            except ZxError:
                k.now += cost
                raise
            except MicrosimError:
                raise
            except TypeError as exc:
                k.now += cost
                if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                    raise ZxError(_INVALID_ARGS, f"{name}: {exc}") from None
                raise _panic(name, exc) from exc
            except Exception as exc:
                raise _panic(name, exc) from exc
            k.now += cost
            if k.invariants is not None:
                k.invariants(name)
            return result

        syscall.__name__ = spec.method
        syscall.__qualname__ = f"Zx.{spec.method}"
        syscall.__doc__ = spec.doc
        return syscall

    @staticmethod
    def _traced(
        kernel: Kernel, name: str, impl: SyscallImpl, spec: SyscallSpec
    ) -> Callable[..., Any]:
        cost = kernel.syscall_ns
        params = spec.params

        def syscall(self: SyscallFacade, *args: Any, **kwargs: Any) -> Any:
            k = kernel
            if k.preempt:
                k.sched.preempt()
            p = self._p
            k.sc_counter += 1
            sc = k.sc_counter
            saved = (k.cur_sc, k.cur_pid, k.cur_tid)
            k.cur_sc = sc
            k.cur_pid = p.koid
            cur = k.sched.current
            k.cur_tid = cur.koid if cur is not None else 0
            t0 = k.now
            status = 0
            out: Any = None
            try:
                out = result = impl(p, *args, **kwargs)
                if type(result) not in _SCALARS:
                    out = _freeze(result)
                return result
            except ZxError as err:
                status = err.status
                out = _freeze(err.out) if err.out else None
                raise
            except MicrosimError:
                status = zx.ZX_ERR_INTERNAL
                raise
            except TypeError as exc:
                if exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
                    status = _INVALID_ARGS
                    raise ZxError(_INVALID_ARGS, f"{name}: {exc}") from None
                status = zx.ZX_ERR_INTERNAL
                raise _panic(name, exc) from exc
            except Exception as exc:
                status = zx.ZX_ERR_INTERNAL
                raise _panic(name, exc) from exc
            finally:
                k.now += cost
                # Immutable arguments are captured as they are; mutable ones (lists,
                # bytearrays, structs) are snapshotted so later changes do not leak in.
                for a in args:
                    if type(a) not in _SCALARS:
                        args = tuple(map(_freeze, args))
                        break
                named = dict(zip(params, args))
                if kwargs:
                    named.update({k2: _freeze(v) for k2, v in kwargs.items()})
                if len(args) > len(params):
                    named["*extra"] = list(args[len(params) :])
                trace = k.trace
                if trace is not None:
                    trace.buffer.append(
                        ("syscall", t0, sc, p.koid, cur.koid if cur is not None else 0,
                         name, named, status, out, k.now - t0)
                    )
                    if len(trace.buffer) >= k.trace_batch and not saved[0]:
                        trace.flush()
                k.cur_sc, k.cur_pid, k.cur_tid = saved
                if k.invariants is not None and status != zx.ZX_ERR_INTERNAL:
                    k.invariants(name)

        syscall.__name__ = spec.method
        syscall.__qualname__ = f"Zx.{spec.method}"
        syscall.__doc__ = spec.doc
        return syscall
