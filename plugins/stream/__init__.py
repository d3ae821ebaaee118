"""The stream plugin: ZX_OBJ_TYPE_STREAM over a VMO (through the VMO plugin's public API).

Syscalls zx_stream_create, readv, readv_at, writev, writev_at, seek; ZX_INFO_STREAM;
ZX_PROP_STREAM_MODE_APPEND. See `microsim_stream.stream` for the Python shapes of iovecs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from microsim_stream.stream import (
    SYSCALLS,
    Stream,
    info_stream,
    prop_append_get,
    prop_append_set,
)

from microsim import hookimpl, zx
from microsim.kernel import Kernel

description = "streams: seekable, appendable byte access to a VMO's content"
requires = ("vmo",)

__all__ = ["Stream"]


@hookimpl
def register_object_types(register: Callable[[type], None]) -> None:
    register(Stream)


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    for name, impl in SYSCALLS.items():
        register(name, impl)


@hookimpl
def register_info_topics(register: Callable[..., None]) -> None:
    register(zx.ZX_INFO_STREAM, info_stream, name="ZX_INFO_STREAM", cls=Stream,
             rights=zx.ZX_RIGHT_INSPECT)


@hookimpl
def register_properties(register: Callable[..., Any]) -> None:
    register(zx.ZX_PROP_STREAM_MODE_APPEND, name="ZX_PROP_STREAM_MODE_APPEND",
             get=prop_append_get, set=prop_append_set)


@hookimpl
def check_invariants(kernel: Kernel, report: Callable[[str], None]) -> None:
    for obj in kernel.live_objects("stream"):
        assert isinstance(obj, Stream)
        if not obj.vmo.alive:
            report(f"{obj!r} refers to destroyed {obj.vmo!r}")
        if not 0 <= obj.seek < 1 << 64:
            report(f"{obj!r}: seek {obj.seek} outside [0, 2**64)")
