"""The core object types (process, thread, VMAR) and the generic syscalls, as a plugin.

Each object type is a module with its state and its syscalls, like a plugin folder; this
module registers them all under the plugin name "core", which the kernel loads first.
"""

from __future__ import annotations

from typing import Any

from microsim.hookspecs import hookimpl
from microsim.objects import exception, handles, job, process, suspend_token, task, thread, vmar

description = "koids, handles, rights, jobs, processes, threads, exceptions, VMARs, signals and waits"

_MODULES = (handles, job, process, thread, task, suspend_token, exception, vmar)


@hookimpl
def register_object_types(register: Any) -> None:
    register(job.Job)
    register(process.Process)
    register(thread.Thread)
    register(vmar.Vmar)
    register(exception.ExceptionObject)
    register(suspend_token.SuspendToken)


@hookimpl
def register_syscalls(register: Any) -> None:
    for module in _MODULES:
        for name, impl in module.SYSCALLS.items():
            register(name, impl)


@hookimpl
def register_info_topics(register: Any) -> None:
    for module in _MODULES:
        for topic, handler, name, cls, rights in module.INFO_TOPICS:
            register(topic, handler, name=name, cls=cls, rights=rights)


@hookimpl
def register_properties(register: Any) -> None:
    for prop_id, name, get, set_ in (*exception.PROPERTIES, *process.PROPERTIES, *job.PROPERTIES):
        register(prop_id, name=name, get=get, set=set_)


@hookimpl
def check_invariants(kernel: Any, report: Any) -> None:
    vmar.check_invariants(kernel, report)
    task.check_invariants(kernel, report)


@hookimpl
def register_event_kinds(register: Any) -> None:
    # A job or process is killed (zx_task_kill, a job kill, an unhandled exception...).
    register("task_kill", ("koid", "code"))
    # Thread `thread` raised a Zircon exception of type `type` (ZX_EXCP_*).
    register("exception", ("thread", "type"))
