"""Exceptions raised by microsim.

`ZxError` is the only exception a syscall raises on bad input: it carries the Zircon status
code. Everything else here reports a problem with the simulation itself (a kernel bug, a
plugin that is wrong, a program that deadlocked), never a status a program should handle.
"""

from __future__ import annotations

from typing import Any

from microsim import zx


class ZxError(Exception):
    """A syscall failed with a Zircon status.

    `status` is the negative `zx_status_t`; `name` is its `ZX_ERR_*` name. Out-parameters
    that Zircon still fills in on failure (for example `observed` on `ZX_ERR_TIMED_OUT`,
    or the needed sizes on `ZX_ERR_BUFFER_TOO_SMALL`) are keyword attributes, also
    collected in `out`.
    """

    def __init__(self, status: int, message: str | None = None, **out: Any) -> None:
        self.status = status
        self.name = zx.zx_status_get_string(status)
        self.out = out
        for key, value in out.items():
            setattr(self, key, value)
        text = self.name if message is None else f"{self.name}: {message}"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_zx_error, (self.status, self.args[0], self.out))


def _rebuild_zx_error(status: int, text: str, out: dict[str, Any]) -> ZxError:
    err = ZxError(status, **out)
    err.args = (text,)
    return err


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
