"""microsim: a Python simulator of a Zircon-like microkernel whose object types are plugins.

    from microsim import Kernel, ZxError, zx

    with Kernel(seed=1) as kernel:
        proc = kernel.create_process("demo")
        vmo = proc.zx.vmo_create(4096, 0)
        dup = proc.zx.handle_duplicate(vmo, zx.ZX_RIGHT_READ)
"""

from microsim import blocking, zx
from microsim.blocking import Wait, WaitQueue, sleep_until, wait_signals, wait_signals_many
from microsim.core.handle import Handle
from microsim.core.info import InfoList
from microsim.core.object import KernelObject, PeeredObject, SignalObserver
from microsim.errors import Deadlock, KernelPanic, MemoryFault, MicrosimError, PluginError, ZxError
from microsim.hookspecs import hookimpl, hookspec
from microsim.kernel import Kernel
from microsim.objects.process import Process, ProcessExitedError
from microsim.objects.thread import Thread, vdso
from microsim.runner import spawn

__version__ = "0.1.0"

__all__ = [
    "Deadlock",
    "Handle",
    "InfoList",
    "Kernel",
    "KernelObject",
    "KernelPanic",
    "MemoryFault",
    "MicrosimError",
    "PeeredObject",
    "PluginError",
    "Process",
    "ProcessExitedError",
    "SignalObserver",
    "Thread",
    "Wait",
    "WaitQueue",
    "ZxError",
    "blocking",
    "hookimpl",
    "hookspec",
    "sleep_until",
    "spawn",
    "vdso",
    "wait_signals",
    "wait_signals_many",
    "zx",
]
