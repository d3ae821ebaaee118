"""The syscall table, the per-process facade (`process.zx`), and argument checking.

The table is built once when the kernel starts: a syscall call is a plain Python call
into the implementation, never a pluggy hook call. Each facade method is generated for
its syscall with the syscall's own parameter list (see "fast facade" below), in one of two
shapes: untraced (one attribute test, the call, exception mapping) or traced (adds the
sequence number, the context, and one flat tuple appended to the event log; the argument
names are the syscall's schema, written once in the trace header). A call that never
returns (its thread killed, a deadlock, the kernel shutting down while it was blocked) is
recorded with status None and `{"unwound": why}`.
Syscall observers (enter / exit / replace) are composed into the implementation only for
the syscalls they select, so an unobserved syscall pays nothing for them.
"""

from __future__ import annotations

import contextlib
import fnmatch
import inspect
import keyword
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from microsim import zx
from microsim.core.eventlog import freeze
from microsim.core.sched import ThreadExit
from microsim.errors import Deadlock, KernelClosed, KernelPanic, MicrosimError, PluginError, ZxError

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


_SCALARS = frozenset({int, bool, str, type(None)})


def _named_args(params: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a call made with keywords, named (the rare path)."""
    named: dict[str, Any] = {k: freeze(v) for k, v in zip(params, args)}
    named.update({str(k): freeze(v) for k, v in kwargs.items()})
    if len(args) > len(params):
        named["*extra"] = freeze(list(args[len(params):]))
    return named


def _unwound_reason(kernel: Kernel, exc: BaseException) -> str:
    """Why a syscall never returned (the `unwound` of its record)."""
    if isinstance(exc, Deadlock) or kernel.sched.deadlocked:
        return "deadlock"
    if kernel.closed:
        return "kernel shutdown"
    if isinstance(exc, ThreadExit):
        return "thread killed"
    return type(exc).__name__


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


def _failed(
    k: Kernel, exc: BaseException, name: str, params: tuple[str, ...], args: tuple[Any, ...],
    kwargs: dict[str, Any] | None,
    cost: int, t0: int, sc: int, pid: int, tid: int, saved_sc: int, saved_pid: int,
    append: Callable[[Any], None], buf: list[Any], batch: int, flush: Callable[[], None],
    strace: Callable[[tuple[Any, ...]], None] | None,
) -> BaseException:
    """Record a traced syscall that raised; return the exception the caller must raise.

    A ZxError is the call's status. A call that never returns (its thread killed, a
    deadlock, the kernel shutting down while it was blocked: an exception passing through)
    is recorded with status None and `{"unwound": why}`. A Python error inside the
    implementation is a KernelPanic (ZX_ERR_INTERNAL); a call with the wrong arguments,
    ZX_ERR_INVALID_ARGS.
    """
    error: BaseException = exc
    out: Any = None
    status: int | None
    if isinstance(exc, ZxError):
        status = exc.status
        out = freeze(exc.out) if exc.out else None
    elif isinstance(exc, Deadlock):
        status, out = None, {"unwound": "deadlock"}
    elif isinstance(exc, MicrosimError):
        status = zx.ZX_ERR_INTERNAL
    elif isinstance(exc, TypeError) and exc.__traceback__ is not None and exc.__traceback__.tb_next is None:
        status = _INVALID_ARGS
        error = ZxError(_INVALID_ARGS, f"{name}: {exc}")
        error.__suppress_context__ = True
    elif isinstance(exc, Exception):
        status = zx.ZX_ERR_INTERNAL
        error = _panic(name, exc)
        error.__cause__ = exc
    else:
        status, out = None, {"unwound": _unwound_reason(k, exc)}
    if status is not None:
        k.now += cost
    row = ("syscall", t0, sc, pid, tid, name,
           _named_args(params, args, kwargs) if kwargs else tuple(map(freeze, args)),
           status, out, k.now - t0)
    append(row)
    k.cur_sc = saved_sc
    k.cur_pid = saved_pid
    if strace is not None:
        strace(row)
    if len(buf) >= batch:
        flush()
    if status is not None and status != zx.ZX_ERR_INTERNAL and k.invariants is not None:
        k.invariants(name)
    return error


# --------------------------------------------------------------------------- fast facade
# A facade method with the syscall's own parameter list (`def handle_duplicate(self,
# handle=_NO, rights=_NO, *_extra)`) calls its implementation with plain positional
# arguments: no `*args` tuple, no `**kwargs` dict per call. A call with too few or too many
# arguments takes the generic method (`*args, **kwargs`), which maps the mismatch to
# ZX_ERR_INVALID_ARGS. The source is compiled once per parameter shape and shared by kernels.


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_NO: Any = _Missing()

_FAST_HEAD = """
def _factory(_kernel, _impl, _name, _cost, _generic, _params, _append, _buf, _batch, _flush,
             _strace, {defaults}):
    def {method}(self, {sig}*_extra, **_kwextra):
        if {missing}_extra or _kwextra:
            return _slow(_generic, _params, self, [{vals}], _extra, _kwextra)
        _k = _kernel
        if _k.preempt:
            _k.sched.preempt(_name, [{vals}])
"""

_FAST_UNTRACED = _FAST_HEAD + """
        try:
            _r = _impl(self._p, {vals})
        except _ZxError:
            _k.now += _cost
            raise
        except _MicrosimError:
            raise
        except TypeError as _e:
            _k.now += _cost
            raise _panic(_name, _e) from _e
        except Exception as _e:
            raise _panic(_name, _e) from _e
        _k.now += _cost
{check}        return _r
    return {method}
"""

_FAST_TRACED = _FAST_HEAD + """
        _pr = self._p
        _pid = _pr.koid
        _sc = _k.sc_counter + 1
        _k.sc_counter = _sc
        _saved_sc = _k.cur_sc
        _saved_pid = _k.cur_pid
        _k.cur_sc = _sc
        _k.cur_pid = _pid
        _tid = _k.cur_tid
        _t0 = _k.now
        try:
            _r = _impl(_pr, {vals})
        except BaseException as _e:
            raise _failed(_k, _e, _name, _params, ({vals_tuple}), None, _cost, _t0, _sc, _pid, _tid,
                          _saved_sc, _saved_pid, _append, _buf, _batch, _flush, _strace)
        _t1 = _k.now
        _k.now = _t1 + _cost
        if {all_scalar}:
            _args = ({vals_tuple})
        else:
            _args = _tuple(_map(_freeze, ({vals_tuple})))
        # The duration is the syscall's cost unless it blocked (no new int object then).
        _append(("syscall", _t0, _sc, _pid, _tid, _name, _args,
                 0, _r if _type(_r) in _scalars else _freeze(_r),
                 _cost if _t1 is _t0 else _t1 + _cost - _t0))
        _k.cur_sc = _saved_sc
        _k.cur_pid = _saved_pid
{strace}        if _len(_buf) >= _batch:
            _flush()
{check}        return _r
    return {method}
"""
# The live strace view, compiled in only when the kernel has one.
_FAST_STRACE = """        _strace(_buf[-1])
"""
# The invariant checker, compiled in only while it is enabled
# (`Kernel.enable_invariant_checks` rebuilds the facade): unchecked syscalls do not test for it.
_FAST_CHECK = """        _k.invariants(_name)
"""
_FACTORIES: dict[tuple[Any, ...], Callable[..., Any]] = {}


def _slow(generic: Callable[..., Any], params: tuple[str, ...], self: SyscallFacade,
          vals: list[Any], extra: tuple[Any, ...], unknown: dict[str, Any]) -> Any:
    """A call with missing, extra or unknown keyword arguments: rebuilt as it was made,
    then made through the generic method (which reports the mismatch as
    ZX_ERR_INVALID_ARGS)."""
    args: list[Any] = []
    kwargs: dict[str, Any] = dict(unknown)
    gap = False
    for p, v in zip(params, vals):
        if v is _NO:
            gap = True
        elif gap:
            kwargs[p] = v  # after a missing one, it can only have come by keyword
        else:
            args.append(v)
    return generic(self, *args, *extra, **kwargs)


_SHAPES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _shape(impl: SyscallImpl) -> tuple[list[str], tuple[bool, ...], list[Any]] | None:
    """Parameter names, which have defaults, and the defaults (None: not a plain
    signature). Cached per implementation: kernels are made often."""
    try:
        return _SHAPES[impl]  # type: ignore[no-any-return]
    except (KeyError, TypeError):
        pass
    shape: tuple[list[str], tuple[bool, ...], list[Any]] | None
    try:
        params = list(inspect.signature(impl).parameters.values())[1:]
    except (TypeError, ValueError):
        params = None
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if params is None or any(p.kind not in plain or p.name.startswith("_") or p.name == "self" for p in params):
        shape = None
    else:
        shape = (
            [p.name for p in params],
            tuple(p.default is not inspect.Parameter.empty for p in params),
            [p.default for p in params if p.default is not inspect.Parameter.empty],
        )
    with contextlib.suppress(TypeError):  # not weak-referenceable: not cached
        _SHAPES[impl] = shape
    return shape


def _fast_method(
    kernel: Kernel, name: str, impl: SyscallImpl, spec: SyscallSpec,
    generic: Callable[..., Any], traced: bool,
) -> Callable[..., Any] | None:
    """The fast facade method of `spec`, or None if its signature is not plain."""
    shape = _shape(spec.impl)
    method = spec.method
    if shape is None or not method.isidentifier() or method.startswith("_") or keyword.iskeyword(method):
        return None
    names, has_default, default_values = shape
    checked = kernel.invariants is not None
    straced = traced and getattr(kernel, "strace", None) is not None
    key = (traced, checked, straced, method, tuple(names), has_default)
    factory = _FACTORIES.get(key)
    if factory is None:
        defaults = [f"_d{i}" for i, d in enumerate(has_default) if d]
        sig = "".join(
            f"{n}=_d{i}, " if d else f"{n}=_NO, " for i, (n, d) in enumerate(zip(names, has_default))
        )
        missing = "".join(f"{n} is _NO or " for n, d in zip(names, has_default) if not d)
        vals = ", ".join(names)
        src = (_FAST_TRACED if traced else _FAST_UNTRACED).format(
            defaults=", ".join(defaults) if defaults else "_unused=None",
            method=method, sig=sig, missing=missing, vals=vals,
            vals_tuple=vals + ("," if len(names) == 1 else ""),
            all_scalar=" and ".join(f"_type({n}) in _scalars" for n in names) or "True",
            check=_FAST_CHECK if checked else "",
            strace=_FAST_STRACE if straced else "",
        )
        namespace: dict[str, Any] = {
            "_NO": _NO, "_ZxError": ZxError, "_MicrosimError": MicrosimError, "_panic": _panic,
            "_scalars": _SCALARS, "_freeze": freeze, "_slow": _slow, "_failed": _failed,
            # Builtins by other names: a parameter may be called `len` or `type`.
            "_len": len, "_type": type, "_tuple": tuple, "_map": map,
        }
        exec(compile(src, f"<facade {method}>", "exec"), namespace)
        factory = namespace["_factory"]
        _FACTORIES[key] = factory
    trace = kernel.trace
    sinks: tuple[Any, ...] = (None, None, 0, None, None)
    if traced and trace is not None:
        sinks = (trace.buffer.append, trace.buffer, trace.batch, trace.flush, getattr(kernel, "strace", None))
    fn = factory(kernel, impl, name, kernel.syscall_ns, generic, tuple(names), *sinks, *default_values)
    fn.__qualname__ = f"Zx.{method}"
    fn.__doc__ = spec.doc
    return fn  # type: ignore[no-any-return]


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
        traced = kernel.trace is not None
        generic = (self._traced if traced else self._untraced)(kernel, name, impl, spec)
        fast = _fast_method(kernel, name, impl, spec, generic, traced)
        return generic if fast is None else fast

    @staticmethod
    def _untraced(
        kernel: Kernel, name: str, impl: SyscallImpl, spec: SyscallSpec
    ) -> Callable[..., Any]:
        cost = kernel.syscall_ns

        def syscall(self: SyscallFacade, *args: Any, **kwargs: Any) -> Any:
            k = kernel
            if k.preempt:
                k.sched.preempt(name, (*args, *kwargs.values()))
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
        trace = kernel.trace
        assert trace is not None
        trace.declare_syscall(name, params)
        buf = trace.buffer  # one list for the log's life (flush empties it in place)
        append = buf.append
        flush = trace.flush
        strace: Callable[[tuple[Any, ...]], None] | None = getattr(kernel, "strace", None)
        scalars = _SCALARS

        def syscall(self: SyscallFacade, *args: Any, **kwargs: Any) -> Any:
            k = kernel
            if k.preempt:
                k.sched.preempt(name, (*args, *kwargs.values()))
            p = self._p
            pid = p.koid
            sc = k.sc_counter + 1
            k.sc_counter = sc
            saved_sc = k.cur_sc
            saved_pid = k.cur_pid
            k.cur_sc = sc
            k.cur_pid = pid
            tid = k.cur_tid
            t0 = k.now
            try:
                result = impl(p, *args, **kwargs)
            except BaseException as exc:
                # _failed sets the cause; the original exception is re-raised as it is.
                raise _failed(k, exc, name, params, args, kwargs, cost, t0, sc, pid, tid,  # noqa: B904
                              saved_sc, saved_pid, append, buf, trace.batch, flush, strace)
            else:
                # The common case, kept short: scalars are recorded as they are.
                now = k.now = k.now + cost
                for a in args:
                    if type(a) not in scalars:
                        args = tuple(map(freeze, args))
                        break
                row = ("syscall", t0, sc, pid, tid, name,
                       _named_args(params, args, kwargs) if kwargs else args,
                       0, result if type(result) in scalars else freeze(result), now - t0)
                append(row)
                k.cur_sc = saved_sc
                k.cur_pid = saved_pid
                if strace is not None:
                    strace(row)
                if len(buf) >= trace.batch:
                    flush()
                if k.invariants is not None:
                    k.invariants(name)
                return result

        syscall.__name__ = spec.method
        syscall.__qualname__ = f"Zx.{spec.method}"
        syscall.__doc__ = spec.doc
        return syscall
