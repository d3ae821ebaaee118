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
from microsim.core.eventlog import TRACE_FORMAT_VERSION, EventLog
from microsim.core.handle import Handle, encode_handle_value
from microsim.core.info import InfoHandler, InfoTopic, PropertySpec
from microsim.core.invariants import assert_invariants
from microsim.core.memory import Memory
from microsim.core.object import KernelObject
from microsim.core.plugins import (
    PluginRecord,
    call_each,
    installed_plugins,
    make_plugin_manager,
    order_plugins,
    resolve,
)
from microsim.core.sched import Scheduler
from microsim.core.syscall import SyscallHook, SyscallTable
from microsim.errors import KernelClosed, PluginError, ZxError
from microsim.objects import plugin as core_objects
from microsim.objects.process import Process
from microsim.objects.thread import Thread
from microsim.objects.vmar import create_root_vmar

# Simulated physical memory by default: enough for any sensible program, and a bound on
# what a runaway one (ZX_VMO_OP_COMMIT of a 2**50-byte VMO) can take from the host.
DEFAULT_MEMORY = 1 << 30



class Kernel:
    """A simulated Zircon kernel.

    `seed` fixes every random choice (handle values, addresses, scheduling).
    `plugins`: None loads every installed plugin; otherwise a list of entry-point names,
    module paths, modules or plugin objects. `trace`: path (or binary stream) of a
    JSON-lines trace; `capture=True` keeps the trace records in `kernel.trace.records`.
    `memory`: simulated memory size in bytes (default 1 GiB; None: unlimited, at the risk
    of a program committing more pages than the host has). `check_invariants=True`
    runs the invariant checker after every syscall.
    """

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
    ) -> None:
        self.seed = seed
        self.syscall_ns = syscall_ns
        self.now = 0
        self._koid = zx.ZX_KOID_FIRST
        self.objects: dict[int, KernelObject] = {}
        self.processes: list[Process] = []
        self.mem = Memory(memory)
        self._rngs: dict[str, random.Random] = {}
        self._handle_index = 0
        self._handle_mask = self.random("handles").getrandbits(30) << 2
        self.closed = False
        self._refusing = False  # set once close() has unwound everything

        # Trace context: the current syscall's sequence number, process and thread.
        self.sc_counter = 0
        self.cur_sc = 0
        self.cur_pid = 0
        self.cur_tid = 0
        self.trace: EventLog | None = None
        if trace is not None or capture:
            self.trace = EventLog(trace, capture=capture, processors=trace_processors)
        self.trace_batch = 4096
        self.preempt = False
        self.sched = Scheduler(self, seed)
        self.invariants: Callable[[str], None] | None = None

        # Tables filled by the registration hooks.
        self.object_types: dict[str, type[KernelObject]] = {}
        self.info_topics: dict[int, InfoTopic] = {}
        self.properties: dict[int, PropertySpec] = {}
        self.syscalls = SyscallTable(self)
        self.pm: pluggy.PluginManager = make_plugin_manager()
        self.plugins: dict[str, PluginRecord] = {}
        self._load_plugins(plugins)

        # Observer hooks: None when no plugin implements them (then they cost nothing).
        self.obs_object_created = self._observer("object_created")
        self.obs_object_destroyed = self._observer("object_destroyed")
        self.obs_handle_created = self._observer("handle_created")
        self.obs_handle_closed = self._observer("handle_closed")
        self.obs_signals = self._observer("signals_changed")

        if self.trace is not None:
            self.emit("trace_start", TRACE_FORMAT_VERSION, seed, list(self.plugins), syscall_ns)
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
        pm = self.pm
        for rec in [core_rec, *records]:
            try:
                pm.register(rec.plugin, name=rec.name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise PluginError(f"plugin {rec.name!r}: {exc}") from exc
            self.plugins[rec.name] = rec

        def add_specs(name: str) -> dict[str, Any]:
            def register(module: Any) -> None:
                pm.add_hookspecs(module)
                self.plugins[name].hookspecs.append(module)

            return {"register": register}

        try:
            call_each(pm, "register_hookspecs", add_specs)
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {exc.plugin!r}: {exc}") from exc
        call_each(pm, "register_object_types", lambda n: {"register": self._type_registrar(n)})
        call_each(pm, "register_event_kinds", lambda n: {"register": self._event_registrar(n)})
        call_each(pm, "register_syscalls", lambda n: {"register": self._syscall_registrar(n)})
        call_each(pm, "register_info_topics", lambda n: {"register": self._info_registrar(n)})
        call_each(pm, "register_properties", lambda n: {"register": self._prop_registrar(n)})
        call_each(pm, "register_syscall_hooks", lambda n: {"register": self._hook_registrar(n)})

    def _type_registrar(self, plugin: str) -> Callable[[type[KernelObject]], None]:
        def register(cls: type[KernelObject]) -> None:
            if not (isinstance(cls, type) and issubclass(cls, KernelObject)):
                raise PluginError(f"plugin {plugin!r}: {cls!r} is not a KernelObject class")
            for other in self.object_types.values():
                if other.obj_type == cls.obj_type or other.type_name == cls.type_name:
                    raise PluginError(
                        f"plugin {plugin!r}: object type {cls.type_name!r} "
                        f"({cls.obj_type}) clashes with {other.__name__}"
                    )
            self.object_types[cls.type_name] = cls
            self.plugins[plugin].object_types.append(cls.type_name)

        return register

    def _event_registrar(self, plugin: str) -> Callable[[str, tuple[str, ...]], None]:
        def register(kind: str, fields: tuple[str, ...]) -> None:
            if self.trace is not None:
                if kind in self.trace.schemas:
                    raise PluginError(f"plugin {plugin!r}: event kind {kind!r} exists already")
                self.trace.add_kind(kind, fields)
            self.plugins[plugin].event_kinds.append(kind)

        return register

    def _syscall_registrar(self, plugin: str) -> Callable[..., None]:
        def register(name: str, impl: Callable[..., Any], doc: str | None = None) -> None:
            self.syscalls.register(name, impl, plugin=plugin, doc=doc)
            self.plugins[plugin].syscalls.append(name)

        return register

    def _info_registrar(self, plugin: str) -> Callable[..., None]:
        def register(
            topic: int,
            handler: InfoHandler,
            name: str = "",
            cls: type[KernelObject] | None = None,
            rights: int = 0,
        ) -> None:
            if topic in self.info_topics:
                raise PluginError(
                    f"plugin {plugin!r}: info topic {topic:#x} already registered by "
                    f"{self.info_topics[topic].plugin!r}"
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
        ) -> None:
            if prop_id in self.properties:
                raise PluginError(f"plugin {plugin!r}: property {prop_id} already registered")
            self.properties[prop_id] = PropertySpec(prop_id, name or str(prop_id), get, set, plugin)
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

    def emit(self, kind: str, *fields: Any) -> None:
        """Append an event (call only when `self.trace is not None`)."""
        trace = self.trace
        if trace is not None:
            trace.buffer.append((kind, self.now, self.cur_sc, self.cur_pid, self.cur_tid, *fields))

    # ------------------------------------------------------------------ handles
    def next_handle_value(self) -> int:
        """A fresh handle value (unique kernel-wide, not reused for 2**30 handles)."""
        self._handle_index += 1
        return encode_handle_value(self._handle_index, self._handle_mask)

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
        h = Handle(obj, rights)
        obj.handle_count += 1
        return process.add_handle(h, reason)

    def close_handle(self, handle: Handle) -> None:
        """Drop a handle that is already out of any table; maybe destroy its object."""
        obj = handle.obj
        obj.handle_count -= 1
        if obj.handle_count == 0:
            obj.on_zero_handles()
            if obj.kernel_refs == 0:
                self.destroy(obj)

    # ------------------------------------------------------------------ processes
    def create_process(self, name: str = "process", parent: Process | None = None) -> Process:
        """A new process with a root VMAR and startup handles to itself and its VMAR."""
        self._refuse_if_closed("create_process")
        proc = Process(self, name)
        proc.parent_koid = parent.koid if parent is not None else 0
        self.publish(proc, parent.koid if parent else 0)
        proc.root_vmar = create_root_vmar(self, proc)
        self.processes.append(proc)
        saved = self.cur_pid
        self.cur_pid = proc.koid
        proc.self_handle = self.new_handle(proc, proc, zx.ZX_DEFAULT_PROCESS_RIGHTS, "startup")
        proc.root_vmar_handle = self.new_handle(
            proc, proc.root_vmar, proc.root_vmar.default_handle_rights(), "startup"
        )
        self.cur_pid = saved
        return proc

    def create_thread(
        self, process: Process, entry: Callable[..., Any], *args: Any, name: str = "thread"
    ) -> Thread:
        """A new runnable thread of `process` running `entry(*args)` under the scheduler."""
        self._refuse_if_closed("create_thread")
        if process.exited:
            raise ZxError(zx.ZX_ERR_BAD_STATE, "the process has exited")
        thread = Thread(self, process, entry, args, name)
        thread.retain()  # the scheduler's reference, dropped when the thread exits
        self.publish(thread, process.koid)
        process.threads.append(thread)
        thread.update_signals(0, zx.ZX_THREAD_RUNNING)
        self.sched.add_thread(thread)
        return thread

    def exit_process(self, process: Process, code: int = 0) -> None:
        """End a process: kill its threads, close its handles, destroy its mappings."""
        self._refuse_if_closed("exit_process")
        if process.exited:
            return
        process.exited = True
        process.exit_code = code
        saved = self.cur_pid
        self.cur_pid = process.koid
        self.pm.hook.process_exiting(kernel=self, process=process)
        for t in list(process.threads):
            self.sched.kill(t)
        for value in list(process.handles):
            h = process.take_handle(value, "process_exit")
            self.close_handle(h)
        root = process.root_vmar
        if root is not None:
            root.destroy_all()
        if self.trace is not None:
            self.emit("process_exit", process.koid, code)
        process.update_signals(0, zx.ZX_PROCESS_TERMINATED)
        self.cur_pid = saved

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
