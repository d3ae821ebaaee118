"""Exceptions raised by microsim.

`ZxError` is the only exception a syscall raises on bad input: it carries the Zircon status
code. Everything else here reports a problem with the simulation itself (a kernel bug, a
plugin that is wrong, a program that deadlocked), never a status a program should handle.
"""

from __future__ import annotations

from microsim.zx import ZxError as ZxError

# ZxError lives with the status codes in the ABI module (so its helpers can raise it);
# this is its usual import path.
ZxError.__module__ = __name__


class MicrosimError(Exception):
    """Base of the errors that are not Zircon statuses."""


class KernelPanic(MicrosimError):
    """An internal exception escaped a syscall: a bug in the kernel or a plugin."""


class KernelClosed(MicrosimError):
    """The kernel was closed: it refuses every syscall and every new process or thread."""


class PluginError(MicrosimError):
    """A plugin could not be loaded: missing dependency, bad hook, duplicate name."""


class Deadlock(MicrosimError):
    """Every thread is blocked and no deadline can wake any of them."""

    def __init__(self, message: str, blocked: list[str] | None = None) -> None:
        super().__init__(message)
        self.blocked = blocked or []


class MemoryFault(MicrosimError):
    """A simulated userspace memory access hit an unmapped or protected address."""

    def __init__(self, message: str, address: int, status: int) -> None:
        super().__init__(message)
        self.address = address
        self.status = status
