"""Every hook a microsim plugin can implement, in one module.

A plugin is a module (or object) registered under the `microsim.plugins` entry-point
group. It may set two module attributes:

    requires = ("vmo",)      # plugins it needs; a missing one is a load error
    description = "..."      # one line for `microsim plugins`

and implements any of the hooks below with `@microsim.hookimpl`. Hook functions may
accept fewer arguments than the spec (pluggy matches them by name). After loading, the
kernel calls `check_pending()`: a hookimpl whose name is not a hook here (or in a
plugin's own `register_hookspecs`) is an error, so a misspelt hook never fails silently.

Two kinds of hooks:

- **Registration hooks** (`register_*`) are called once per kernel, at start, with a
  `register` callback (the simonw/llm style). What they register (object types,
  syscalls, info topics, properties, event kinds, syscall observers) goes into plain
  tables: calling a syscall never goes through pluggy.
- **Observer hooks** (`object_created`, ...) are called on each matching state change.
  A hook nobody implements costs nothing: the kernel checks once, at start, whether it
  has implementations and otherwise skips it entirely.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from microsim.core.handle import Handle
    from microsim.core.object import KernelObject
    from microsim.kernel import Kernel
    from microsim.objects.process import Process

PROJECT = "microsim"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ----------------------------------------------------------------------------- registration
@hookspec
def register_hookspecs(register: Callable[[Any], None]) -> None:
    """Add a plugin's own hook specs: `register(module_or_class)`.

    This is how one plugin offers extension points to others (the VMO plugin declares
    how other plugins contribute to ZX_INFO_PROCESS_VMOS, for example).
    """


@hookspec
def register_object_types(register: Callable[[type[KernelObject]], None]) -> None:
    """Register kernel-object classes: `register(cls)`.

    `cls` subclasses `microsim.KernelObject` and sets `obj_type`, `type_name` (short name
    used in traces, e.g. "vmo") and `default_rights`. `obj_type` is Zircon's ZX_OBJ_TYPE_*
    value for a type Zircon has, else one of `zx.MICROSIM_OBJ_TYPE_FIRST..LAST` (48..63);
    anything else is a load error, as is an `obj_type` or `type_name` registered twice
    (the error names both plugins).
    """


@hookspec
def register_syscalls(register: Callable[..., None]) -> None:
    """Register syscalls: `register(name, impl, doc=None)`.

    `name` is Zircon's ("zx_vmo_create"); the facade method drops the prefix
    (`process.zx.vmo_create`). `impl(process, *args)` validates its arguments (see
    `microsim.core.syscall.arg_*`), raises `ZxError` on failure, changes no state when it
    fails, and returns the out-parameters (one value, or a tuple). Its parameter names
    are the argument names in the trace.
    """


@hookspec
def register_info_topics(register: Callable[..., None]) -> None:
    """Register zx_object_get_info topics: `register(topic, handler, name=..., cls=None, rights=0)`.

    `handler(process, handle, buffer_size)` gets the `Handle` (its object is
    `handle.obj`, its rights `handle.rights`) and the caller's buffer size in bytes (None:
    large enough); it returns one ABI struct (fixed-size topics: start with
    `MyStruct.check_buffer(buffer_size)`) or a `microsim.InfoList` (array topics:
    `MyStruct.clip(records, buffer_size)`). The kernel checks first, in Zircon's order:
    the handle (BAD_HANDLE), `cls` (WRONG_TYPE), `rights` (ACCESS_DENIED); unknown topics
    are NOT_SUPPORTED. `topic` is Zircon's ZX_INFO_* value, or for a topic Zircon lacks
    one of `zx.MICROSIM_INFO_TOPIC_FIRST..LAST`; a topic registered twice is a load error.
    """


@hookspec
def register_properties(register: Callable[..., None]) -> None:
    """Register object properties: `register(prop_id, name=..., get=fn, set=fn, cls=None, rights=0, set_rights=0, size=0)`.

    The same shape as an info topic: `get(process, handle, value_size)` returns the
    value, `set(process, handle, value)` stores it; `handle` is the `Handle`. Before
    either runs the kernel checks, in Zircon's order: the handle and
    ZX_RIGHT_GET_PROPERTY / SET_PROPERTY (BAD_HANDLE, ACCESS_DENIED), an unknown property
    (INVALID_ARGS), for get a `value_size` below `size` bytes (BUFFER_TOO_SMALL), `cls`
    (WRONG_TYPE), then `rights` (and for set `set_rights` too; ACCESS_DENIED). `prop_id`
    is Zircon's ZX_PROP_* value or one of `zx.MICROSIM_PROP_FIRST..LAST`. ZX_PROP_NAME
    is the core's (objects override `get_name`/`set_name`).
    """


@hookspec
def register_event_kinds(register: Callable[..., None]) -> None:
    """Declare trace event kinds: `register("plugin.event", ("field", ...), objects=("field",))`.

    The fields follow the common ones (kind, t, sc, pid, tid). `objects` names the
    fields whose values are koids, so trace tools (`trace object KOID`, `grep --koid`)
    find the event under those objects. Emit with `kernel.emit("plugin.event", *values)`
    guarded by `if kernel.trace is not None`. A kind registered twice (by any plugin,
    even with the same fields) is a load error naming both plugins.
    """


@hookspec
def register_syscall_hooks(register: Callable[..., None]) -> None:
    """Observe or replace syscalls: `register(pattern, enter=None, exit=None, replace=None)`.

    `pattern` is a glob on the syscall name, with or without `zx_` ("vmo_*",
    "zx_iob_create"). `enter(call)` runs before (may rewrite `call.args`), `exit(call)`
    after (sees `call.status`, `call.result`, `call.error`; may replace `call.result`),
    and `replace(call)` runs instead of the implementation (`call.call_original()` runs
    the real one). Several hooks may select one syscall; unselected syscalls pay nothing.
    """


# ----------------------------------------------------------------------------- lifecycle
@hookspec
def kernel_started(kernel: Kernel) -> None:
    """The kernel is built and its tables are complete (plugins may set up state)."""


@hookspec
def kernel_closing(kernel: Kernel) -> None:
    """The kernel is closing; the trace is still open."""


@hookspec
def process_exiting(kernel: Kernel, process: Process) -> None:
    """A process is exiting; its handles and mappings are about to be released."""


# ----------------------------------------------------------------------------- kernel services
@hookspec(firstresult=True)
def make_kernel_channel(kernel: Kernel) -> Any:
    """Create a channel whose one end the kernel keeps (exception channels use it).

    The core names no plugin type, so the plugin that provides channels implements this.
    Return an object with `user_end` (the end to hand out, a KernelObject, already
    published), `send(data: bytes, handles: list[Handle]) -> bool` (queue a message to the
    user end; handles are in flight, counted on their objects; False and nothing queued
    if the user end is closed), `alive() -> bool` (the user end is still open) and
    `close()` (close the kernel's end: the user end sees PEER_CLOSED). Return None if
    this kernel has no channels (then exception channels are ZX_ERR_NOT_SUPPORTED).
    """


# ----------------------------------------------------------------------------- observers
@hookspec
def object_created(kernel: Kernel, obj: KernelObject) -> None:
    """An object was published (it has a koid, and its peer if any)."""


@hookspec
def object_destroyed(kernel: Kernel, obj: KernelObject) -> None:
    """An object lost its last handle and kernel reference and was destroyed."""


@hookspec
def handle_created(kernel: Kernel, process: Process, handle: Handle, reason: str) -> None:
    """A handle entered a process's table (create, duplicate, replace, transfer, startup)."""


@hookspec
def handle_closed(kernel: Kernel, process: Process, handle: Handle, reason: str) -> None:
    """A handle left a process's table (close, replace, transfer, process_exit)."""


@hookspec
def signals_changed(kernel: Kernel, obj: KernelObject, old: int, new: int) -> None:
    """An object's signal state changed from `old` to `new`."""


# ----------------------------------------------------------------------------- reliability
@hookspec
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    """Walk the plugin's state and `report(message)` every broken invariant."""


@hookspec
def count_held_handles(kernel: Kernel, count: Callable[[Handle, str], None]) -> None:
    """Call `count(handle, where)` for every handle the plugin keeps outside process tables.

    Handles in flight (in queued channel messages, ...) still count toward their
    object's handle count. The invariant checker requires every object's handle count
    to equal the handles in tables plus those counted here, so a plugin that holds
    handles must implement this hook, or its objects are reported as leaking. `where`
    names the holder in reports ("<Channel koid=..> message 2").
    """
