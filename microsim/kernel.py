"""The kernel: koids, the object registry, processes, plugins, syscalls and the event log.

The kernel knows no object type by name. It owns the few places every state change goes
through (`publish`, `new_handle`, `close_handle`, `destroy`, `KernelObject.update_signals`,
`exit_process`), so the trace, the observer hooks and the invariant checker see all of
them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

import pluggy

from microsim import zx
from microsim.core.eventlog import CORE_EVENT_KINDS, TRACE_FORMAT_VERSION, EventLog
from microsim.core.handle import Handle, handle_values
from microsim.core.info import InfoHandler, InfoTopic, PropertySpec
from microsim.core.invariants import assert_invariants
from microsim.core.memory import Memory
from microsim.core.object import KernelObject
from microsim.core.plugins import (
    PluginRecord,
    call_each,
    installed_plugins,
    order_plugins,
    plugin_manager_for,
    resolve,
)
from microsim.core.sched import Scheduler
from microsim.core.strace import StraceView
from microsim.core.syscall import SyscallHook, SyscallTable
from microsim.errors import KernelClosed, MemoryFault, PluginError, ZxError
from microsim.objects import exception as exceptions
from microsim.objects import plugin as core_objects
from microsim.objects.job import Job, create_root_job
from microsim.objects.process import Process
from microsim.objects.thread import Thread
from microsim.objects.vmar import create_root_vmar

# Simulated physical memory by default: enough for any sensible program, and a bound on
# what a runaway one (ZX_VMO_OP_COMMIT of a 2**50-byte VMO) can take from the host.
DEFAULT_MEMORY = 1 << 30

# Virtual time at which a kernel starts (ns on the monotonic and boot clocks). Not 0: a
# program's first clock read comes after the system has booted, and Zircon's own tests
# rely on it (`Timer.DeadlineAfter` asserts the monotonic clock is past 1 µs).
BOOT_TIME_NS = 1_000_000

# Zircon's object type numbers (a plugin may implement one of these types).
_ZIRCON_OBJ_TYPES = frozenset(
    v for n, v in vars(zx).items()
    if n.startswith("ZX_OBJ_TYPE_") and n not in ("ZX_OBJ_TYPE_NONE", "ZX_OBJ_TYPE_UPPER_BOUND")
)



class Kernel:
    """A simulated Zircon kernel.

    `seed` fixes every random choice (handle values, addresses, scheduling).
    `plugins`: None loads every installed plugin; otherwise a list of entry-point names,
    module paths, modules or plugin objects. `trace`: path (or binary stream) of a
    JSON-lines trace; `capture=True` keeps the trace records in `kernel.trace.records`.
    `memory`: simulated memory size in bytes (default 1 GiB; None: unlimited, at the risk
    of a program committing more pages than the host has). `check_invariants=True`
    runs the invariant checker after every syscall. `strace`: a text stream on which
    each syscall is printed as it returns (see `microsim.core.strace`).
    `debugging_syscalls=True` enables zx_process_write_memory (Zircon's
    `kernel.enable-debugging-syscalls`).

    Kernels that load the same plugins share one pluggy manager (`kernel.pm`), so
    building one costs a few milliseconds: register plugins through the entry points or
    `plugins=`, never into `kernel.pm` directly.
    """

    # The state every syscall reads or writes lives in slots: a Kernel has more attributes
    # than CPython keeps in an instance's compact, fast-to-read layout (plugins add their
    # own in `__dict__`), and each syscall touches these several times (bench/).
    __slots__ = (
        "__dict__", "__weakref__", "cur_pid", "cur_sc", "cur_tid", "handle_events",
        "handle_values", "invariants", "mem", "now", "objects", "obs_handle_closed", "obs_handle_created",
        "obs_object_created", "obs_object_destroyed", "obs_signals", "preempt",
        "sc_counter", "sched", "strace", "trace",
    )

    def __init__(
        self,
        seed: int = 0,
        *,
        plugins: Sequence[Any] | None = None,
        trace: str | IO[bytes] | None = None,
        capture: bool = False,
        trace_processors: Sequence[Callable[..., Any]] = (),
        syscall_ns: int = 1000,
        memory: int | None = DEFAULT_MEMORY,
        check_invariants: bool = False,
        debugging_syscalls: bool = False,
        strace: IO[str] | None = None,
    ) -> None:
        self.seed = seed
        self.syscall_ns = syscall_ns
        self.debugging_syscalls = debugging_syscalls
        # Called with (thread, exception) when Python code of a thread raises (None: the
        # process is killed at once), and with (thread, fault) when a thread faults on
        # simulated memory; both deliver Zircon exceptions (microsim/objects/exception.py).
        self.exception_hook: Callable[[Thread, BaseException], None] | None = (
            exceptions.handle_uncaught
        )
        self.fault_hook: Callable[[Thread, MemoryFault], bool] = exceptions.handle_fault
        self.raise_exception_hook: Callable[[Thread, int, int], int] = exceptions.raise_exception
        # Debugger-channel lifecycle exceptions (THREAD_STARTING/EXITING, PROCESS_STARTING);
        # the scheduler calls it only once a debugger channel has ever been bound.
        self.lifecycle_hook: Callable[[Thread, int], None] = exceptions.lifecycle
        self.debuggers_bound = 0
        self.now = BOOT_TIME_NS
        self._koid = zx.ZX_KOID_FIRST
        self.objects: dict[int, KernelObject] = {}
        self.processes: list[Process] = []
        self.mem = Memory(memory)
        self._rngs: dict[str, random.Random] = {}
        # Handle values, drawn in order (`next(kernel.handle_values)`); see core/handle.py.
        self.handle_values = handle_values(self.random("handles").getrandbits(30) << 2)
        self.closed = False
        # Handles each exited process still held when it exited (koid -> count).
        self.exit_leaks: dict[int, int] = {}
        self._refusing = False  # set once close() has unwound everything

        # Trace context: the current syscall's sequence number, process and thread.
        self.sc_counter = 0
        self.cur_sc = 0
        self.cur_pid = 0
        self.cur_tid = 0
        self.trace: EventLog | None = None
        if trace is not None or capture or strace is not None:
            self.trace = EventLog(trace, capture=capture, processors=trace_processors)
        # A live strace-style view: called with each syscall's row as it returns.
        self.strace: Callable[[tuple[Any, ...]], None] | None = (
            None if strace is None else StraceView(self, strace)
        )
        self.preempt = False
        self.sched = Scheduler(self, seed)
        self.invariants: Callable[[str], None] | None = None

        # Tables filled by the registration hooks.
        self.object_types: dict[str, type[KernelObject]] = {}
        self.info_topics: dict[int, InfoTopic] = {}
        self.properties: dict[int, PropertySpec] = {}
        # Every event kind: its fields and which of them hold koids (core kinds included).
        self.event_kinds: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
            kind: (fields, ()) for kind, fields in CORE_EVENT_KINDS.items()
        }
        # Who registered each name or number: ("event kind", kind) -> plugin name...
        self.registered: dict[tuple[str, Any], str] = {
            ("event kind", kind): "core" for kind in CORE_EVENT_KINDS
        }
        self.syscalls = SyscallTable(self)
        self.pm: pluggy.PluginManager
        self.plugins: dict[str, PluginRecord] = {}
        self._load_plugins(plugins)

        # Observer hooks: None when no plugin implements them (then they cost nothing).
        self.obs_object_created = self._observer("object_created")
        self.obs_object_destroyed = self._observer("object_destroyed")
        self.obs_handle_created = self._observer("handle_created")
        self.obs_handle_closed = self._observer("handle_closed")
        self.obs_signals = self._observer("signals_changed")
        # Does anyone listen to handle events? One test on the handle paths instead of two.
        self.handle_events = (
            self.trace is not None or self.obs_handle_created is not None
            or self.obs_handle_closed is not None
        )

        if self.trace is not None:
            self.emit("trace_start", TRACE_FORMAT_VERSION, seed, list(self.plugins), syscall_ns)
            self.mem.on_pages = self._emit_pages
        self.root_job: Job = create_root_job(self)
        self.syscalls.build()
        self.pm.hook.kernel_started(kernel=self)
        if check_invariants:
            self.enable_invariant_checks()

    # ------------------------------------------------------------------ plugins
    def _load_plugins(self, specs: Sequence[Any] | None) -> None:
        installed = installed_plugins()
        wanted: list[Any] = list(installed) if specs is None else list(specs)
        records = order_plugins([resolve(s, installed) for s in wanted])
        core_rec = PluginRecord("core", core_objects, (), core_objects.description)
        self.pm, declared = plugin_manager_for([core_rec, *records])
        pm = self.pm
        for rec in [core_rec, *records]:
            rec.hookspecs = list(declared[rec.name])
            self.plugins[rec.name] = rec
        call_each(pm, "register_object_types", lambda n: {"register": self._type_registrar(n)})
        call_each(pm, "register_event_kinds", lambda n: {"register": self._event_registrar(n)})
        call_each(pm, "register_syscalls", lambda n: {"register": self._syscall_registrar(n)})
        call_each(pm, "register_info_topics", lambda n: {"register": self._info_registrar(n)})
        call_each(pm, "register_properties", lambda n: {"register": self._prop_registrar(n)})
        call_each(pm, "register_syscall_hooks", lambda n: {"register": self._hook_registrar(n)})

    def _clash(self, plugin: str, what: str, key: Any, label: str) -> None:
        """Refuse a name or number registered already (the error names both plugins)."""
        other = self.registered.get((what, key))
        if other is not None:
            raise PluginError(
                f"plugin {plugin!r}: {what} {label} is already registered by plugin {other!r}"
            )

    def _type_registrar(self, plugin: str) -> Callable[[type[KernelObject]], None]:
        def register(cls: type[KernelObject]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, KernelObject)):
                raise PluginError(f"plugin {plugin!r}: {cls!r} is not a KernelObject class")
            ot, name = cls.obj_type, cls.type_name
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {plugin!r}: {cls.__name__}.type_name must be a non-empty str")
            if type(ot) is not int or not 0 < ot < zx.ZX_OBJ_TYPE_UPPER_BOUND or (
                ot < zx.MICROSIM_OBJ_TYPE_FIRST and ot not in _ZIRCON_OBJ_TYPES
            ):
                raise PluginError(
                    f"plugin {plugin!r}: {cls.__name__}.obj_type {ot!r} is neither a Zircon "
                    f"ZX_OBJ_TYPE_* value nor in the plugin range {zx.MICROSIM_OBJ_TYPE_FIRST}.."
                    f"{zx.MICROSIM_OBJ_TYPE_LAST} (zx.MICROSIM_OBJ_TYPE_FIRST..LAST; "
                    f"ZX_OBJ_TYPE_UPPER_BOUND is {zx.ZX_OBJ_TYPE_UPPER_BOUND})"
                )
            self._clash(plugin, "object type", ot, f"{ot} ({cls.__name__})")
            self._clash(plugin, "object type name", name, repr(name))
            self.registered[("object type", ot)] = plugin
            self.registered[("object type name", name)] = plugin
            self.object_types[name] = cls
            self.plugins[plugin].object_types.append(name)

        return register

    def _event_registrar(self, plugin: str) -> Callable[..., None]:
        def register(kind: str, fields: Sequence[str], objects: Sequence[str] = ()) -> None:
            if not isinstance(kind, str) or not kind:
                raise PluginError(f"plugin {plugin!r}: an event kind must be a non-empty str")
            fields = tuple(fields)
            objects = tuple(objects)
            if not all(isinstance(f, str) for f in fields):
                raise PluginError(f"plugin {plugin!r}: event kind {kind!r}: fields must be str")
            unknown = [o for o in objects if o not in fields]
            if unknown:
                raise PluginError(
                    f"plugin {plugin!r}: event kind {kind!r}: objects {unknown} are not among "
                    f"its fields {list(fields)}"
                )
            self._clash(plugin, "event kind", kind, repr(kind))
            self.registered[("event kind", kind)] = plugin
            self.event_kinds[kind] = (fields, objects)
            if self.trace is not None:
                self.trace.add_kind(kind, fields, objects=objects)
            self.plugins[plugin].event_kinds.append(kind)

        return register

    def _syscall_registrar(self, plugin: str) -> Callable[..., None]:
        def register(name: str, impl: Callable[..., Any], doc: str | None = None) -> None:
            self.syscalls.register(name, impl, plugin=plugin, doc=doc)
            self.plugins[plugin].syscalls.append(name)

        return register

    def _check_target(self, plugin: str, what: str, cls: Any, rights: Any) -> None:
        if cls is not None and not (isinstance(cls, type) and issubclass(cls, KernelObject)):
            raise PluginError(f"plugin {plugin!r}: {what}: cls must be a KernelObject class or None")
        if type(rights) is not int or not 0 <= rights <= 0xFFFFFFFF:
            raise PluginError(f"plugin {plugin!r}: {what}: rights must be a uint32 (ZX_RIGHT_* bits)")

    def _info_registrar(self, plugin: str) -> Callable[..., None]:
        def register(
            topic: int,
            handler: InfoHandler,
            name: str = "",
            cls: type[KernelObject] | None = None,
            rights: int = 0,
        ) -> None:
            label = name or (hex(topic) if type(topic) is int else repr(topic))
            base = topic & 0x0FFFFFFF if type(topic) is int else -1
            if type(topic) is not int or not 0 < topic <= 0xFFFFFFFF or not (
                0 < base < zx.ZIRCON_INFO_TOPIC_LIMIT
                or zx.MICROSIM_INFO_TOPIC_FIRST <= base <= zx.MICROSIM_INFO_TOPIC_LAST
            ):
                raise PluginError(
                    f"plugin {plugin!r}: info topic {label} is neither in Zircon's range (below "
                    f"{zx.ZIRCON_INFO_TOPIC_LIMIT:#x}) nor in the plugin range "
                    f"{zx.MICROSIM_INFO_TOPIC_FIRST:#x}..{zx.MICROSIM_INFO_TOPIC_LAST:#x} "
                    f"(zx.MICROSIM_INFO_TOPIC_FIRST..LAST, optionally | version << 28)"
                )
            if not callable(handler):
                raise PluginError(f"plugin {plugin!r}: info topic {label}: the handler is not callable")
            self._check_target(plugin, f"info topic {label}", cls, rights)
            if topic in self.info_topics:
                other = self.info_topics[topic].plugin
                raise PluginError(
                    f"plugin {plugin!r}: info topic {label} ({topic:#x}) is already registered "
                    f"by plugin {other!r}"
                )
            self.info_topics[topic] = InfoTopic(topic, name or hex(topic), handler, cls, rights, plugin)
            self.plugins[plugin].info_topics.append(name or hex(topic))

        return register

    def _prop_registrar(self, plugin: str) -> Callable[..., None]:
        def register(
            prop_id: int,
            name: str = "",
            get: Callable[..., Any] | None = None,
            set: Callable[..., Any] | None = None,
            cls: type[KernelObject] | None = None,
            rights: int = 0,
            set_rights: int = 0,
            size: int = 0,
        ) -> None:
            label = name or str(prop_id)
            if type(prop_id) is not int or prop_id == zx.ZX_PROP_NAME or not (
                0 < prop_id < zx.ZIRCON_PROP_LIMIT
                or zx.MICROSIM_PROP_FIRST <= prop_id <= zx.MICROSIM_PROP_LAST
            ):
                raise PluginError(
                    f"plugin {plugin!r}: property {label} ({prop_id!r}) is neither in Zircon's "
                    f"range (below {zx.ZIRCON_PROP_LIMIT:#x}, not ZX_PROP_NAME) nor in the plugin "
                    f"range {zx.MICROSIM_PROP_FIRST:#x}..{zx.MICROSIM_PROP_LAST:#x} "
                    f"(zx.MICROSIM_PROP_FIRST..LAST)"
                )
            if get is None and set is None:
                raise PluginError(f"plugin {plugin!r}: property {label}: give get=, set= or both")
            if not all(f is None or callable(f) for f in (get, set)):
                raise PluginError(f"plugin {plugin!r}: property {label}: get/set must be callable")
            self._check_target(plugin, f"property {label}", cls, rights)
            self._check_target(plugin, f"property {label}", None, set_rights)
            if type(size) is not int or size < 0:
                raise PluginError(f"plugin {plugin!r}: property {label}: size must be an int >= 0")
            if prop_id in self.properties:
                other = self.properties[prop_id].plugin
                raise PluginError(
                    f"plugin {plugin!r}: property {label} ({prop_id}) is already registered "
                    f"by plugin {other!r}"
                )
            self.properties[prop_id] = PropertySpec(
                prop_id, name or str(prop_id), get, set, plugin, cls, rights, set_rights, size
            )
            self.plugins[plugin].properties.append(name or str(prop_id))

        return register

    def _hook_registrar(self, plugin: str) -> Callable[..., None]:
        def register(
            pattern: str,
            enter: Callable[..., None] | None = None,
            exit: Callable[..., None] | None = None,
            replace: Callable[..., Any] | None = None,
        ) -> None:
            self.syscalls.hooks.append(SyscallHook(pattern, enter, exit, replace, plugin))

        return register

    def _observer(self, name: str) -> Any:
        caller = getattr(self.pm.hook, name)
        return caller if caller.get_hookimpls() else None

    def observe_syscalls(
        self,
        pattern: str,
        *,
        enter: Callable[..., None] | None = None,
        exit: Callable[..., None] | None = None,
        replace: Callable[..., Any] | None = None,
    ) -> SyscallHook:
        """Add a syscall observer at run time (see the `register_syscall_hooks` hook)."""
        hook = SyscallHook(pattern, enter, exit, replace, "runtime")
        self.syscalls.add_hook(hook)
        return hook

    # ------------------------------------------------------------------ randomness
    def random(self, stream: str) -> random.Random:
        """A PRNG for one purpose ("aslr", "handles"...), derived from the seed."""
        rng = self._rngs.get(stream)
        if rng is None:
            rng = self._rngs[stream] = random.Random(f"{self.seed}:{stream}")
        return rng

    # ------------------------------------------------------------------ objects
    def new_koid(self) -> int:
        """The next koid (never reused; starts at ZX_KOID_FIRST)."""
        koid = self._koid
        self._koid = koid + 1
        return koid

    def publish(self, obj: KernelObject, owner: int = 0) -> None:
        """Make `obj` live: registered by koid and traced (link peers first)."""
        if obj.published:
            return
        obj.published = True
        obj.owner_koid = owner
        self.objects[obj.koid] = obj
        if self.trace is not None:
            self.emit("object_created", obj.koid, obj.type_name, obj.obj_type, obj.related_koid, owner)
            name = obj.name  # the stored name (get_name is the property, which may refuse)
            if name:
                self.emit("name", obj.koid, name.decode(errors="replace"))
        if self.obs_object_created is not None:
            self.obs_object_created(kernel=self, obj=obj)

    def destroy(self, obj: KernelObject) -> None:
        """Destroy an object with no handles and no kernel references left."""
        if not obj.alive:
            return
        obj.alive = False
        obj.on_destroy()
        obj.observers = None
        if not obj.published:
            return  # never made live (a failed syscall's discarded object): untraced
        self.objects.pop(obj.koid, None)
        if self.trace is not None:
            self.emit("object_destroyed", obj.koid, obj.type_name)
        if self.obs_object_destroyed is not None:
            self.obs_object_destroyed(kernel=self, obj=obj)

    def _emit_pages(self, committed: int) -> None:
        """Trace the number of committed pages (set as `mem.on_pages` when tracing)."""
        self.emit("pages", committed)

    def emit(self, kind: str, *fields: Any) -> None:
        """Append an event (call only when `self.trace is not None`)."""
        trace = self.trace
        if trace is not None:
            buf = trace.buffer
            buf.append((kind, self.now, self.cur_sc, self.cur_pid, self.cur_tid, *fields))
            if len(buf) >= trace.batch:
                trace.flush()

    # ------------------------------------------------------------------ handles
    def next_handle_value(self) -> int:
        """A fresh handle value (unique kernel-wide, not reused for 2**30 handles)."""
        return next(self.handle_values)

    def new_handle(
        self, process: Process, obj: KernelObject, rights: int, reason: str = "create",
        *, reserved: bool = False,
    ) -> int:
        """Create a handle to `obj` in `process`; returns its value.

        This is an allocation point, so it may fail with ZX_ERR_NO_MEMORY. A syscall that
        creates objects first reserves its handle entries with `self.mem.alloc("handle")`
        before any change of state and then passes `reserved=True`, so the commit phase
        cannot fail.
        """
        if self.mem.armed and not reserved:
            self.mem.alloc("handle")
        return process.new_handle(obj, rights, reason)

    def close_handle(self, handle: Handle) -> None:
        """Drop a handle that is already out of any table; maybe destroy its object."""
        obj = handle.obj
        obj.handle_count -= 1
        if obj.handle_count == 0:
            self.last_handle_closed(obj)

    def last_handle_closed(self, obj: KernelObject) -> None:
        """`obj` lost its last handle: tell it (Zircon's on_zero_handles), and destroy it
        if no kernel reference keeps it."""
        obj.on_zero_handles()
        if obj.kernel_refs == 0:
            self.destroy(obj)

    # ------------------------------------------------------------------ processes
    def create_process(
        self, name: str | bytes = "process", parent: Process | None = None, job: Job | None = None,
        *, startup_handles: bool = True,
    ) -> Process:
        """A new INITIAL process in `job` (default: the root job) with a root VMAR.

        With `startup_handles` (the default, for processes driven from Python) the process
        also gets handles to itself, its root VMAR and its job (`zx_process_self`,
        `zx_vmar_root_self`, `zx_job_default`); zx_process_create passes False, as Zircon gives a new process
        an empty handle table. A job that is being killed refuses (ZX_ERR_BAD_STATE).
        """
        self._refuse_if_closed("create_process")
        job = self.root_job if job is None else job
        if job.state != "ready":
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the job is being killed")
        proc = Process(self, name, job)
        proc.parent_koid = parent.koid if parent is not None else 0
        self.publish(proc, parent.koid if parent else 0)
        proc.root_vmar = create_root_vmar(self, proc)
        proc.root_vmar.retain()  # the process's address space, released when it is DEAD
        job.add_process(proc)
        self.processes.append(proc)
        if startup_handles:
            saved = self.cur_pid
            self.cur_pid = proc.koid
            proc.self_handle = self.new_handle(proc, proc, zx.ZX_DEFAULT_PROCESS_RIGHTS, "startup")
            proc.root_vmar_handle = self.new_handle(
                proc, proc.root_vmar, proc.root_vmar.default_handle_rights(), "startup"
            )
            proc.job_handle = self.new_handle(proc, job, zx.ZX_DEFAULT_JOB_RIGHTS, "startup")
            self.cur_pid = saved
        return proc

    def create_thread(
        self, process: Process, entry: Callable[..., Any], *args: Any, name: str = "thread"
    ) -> Thread:
        """A new started thread of `process` running `entry(*args)` under the scheduler
        (zx_thread_create + zx_thread_start for Python-driven tests and tools)."""
        self._refuse_if_closed("create_thread")
        if process.state not in ("initial", "running") or (
            process.state == "initial" and process.threads
        ):
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the process has exited")
        thread = Thread(self, process, entry, args, name)
        self.publish(thread, process.koid)
        thread.start(entry, args)
        return thread

    def exit_process(self, process: Process, code: int = 0, reason: str = "kill") -> None:
        """Kill a process with return code `code` (see `Process.kill`); `reason` is what
        the trace records (exit, kill, exception ...)."""
        self._refuse_if_closed("exit_process")
        process.kill(code, reason)

    def held_handles(self, process: Process) -> int:
        """Handles `process` holds besides its startup handles (to itself, its root VMAR
        and its job)."""
        startup = (process.self_handle, process.root_vmar_handle, process.job_handle)
        return sum(1 for v in process.handles if v not in startup)

    def leaked_handles(self) -> int:
        """Handles leaked so far: those processes held when they exited (closed by the exit,
        not by the program) plus those live processes hold now, startup handles aside."""
        return sum(self.exit_leaks.values()) + sum(
            self.held_handles(p) for p in self.processes if not p.exited)

    def run(self) -> None:
        """Run every thread until all have exited (raises `Deadlock` if they cannot)."""
        self._refuse_if_closed("run")
        self.sched.run()

    # ------------------------------------------------------------------ invariants
    def enable_invariant_checks(self) -> None:
        """Run the invariant checker after every syscall (raises on a broken invariant)."""
        def check(name: str) -> None:
            assert_invariants(self, after=name)

        self.invariants = check
        self.syscalls.build()

    def live_objects(self, type_name: str | None = None) -> Iterator[KernelObject]:
        """Published objects still alive, optionally of one type."""
        for obj in list(self.objects.values()):
            if type_name is None or obj.type_name == type_name:
                yield obj

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Unwind threads, flush and close the trace (idempotent).

        A closed kernel refuses everything with `KernelClosed`: every syscall through any
        process's facade, `create_process`, `create_thread`, `exit_process` and `run`.
        """
        if self.closed:
            return
        self.closed = True
        try:
            self.sched.shutdown()
            self.pm.hook.kernel_closing(kernel=self)
        finally:
            self.mem.on_pages = None
            self._refusing = True
            self.syscalls.refuse_all()
            if self.trace is not None:
                self.emit("trace_end", self.sc_counter, self.trace.count + len(self.trace.buffer) + 1)
                self.trace.close()

    def _refuse_if_closed(self, what: str) -> None:
        if self._refusing:
            raise KernelClosed(f"{what}: the kernel is closed")

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
