"""Zircon's published ABI as microsim implements it: every ZX_* constant and struct.

This module mirrors Zircon's public headers (`zircon/types.h`, `zircon/rights.h`,
`zircon/errors.h`, `zircon/syscalls/object.h`, `zircon/syscalls/iob.h`,
`zircon/syscalls-next.h`, `zircon/syscalls/port.h`): names and numeric values are
Zircon's. Beyond the constants it holds only what every syscall author needs next to
them: `ZxError` (a failed syscall's status), the `Struct` base that packs structs into
Zircon's little-endian layout with their info-topic buffer checks, and `InfoList`.

For a plugin whose object type Zircon lacks: the signal bits an object type may give
meanings to are ZX_OBJECT_READABLE/WRITABLE/PEER_CLOSED/SIGNALED and ZX_OBJECT_SIGNAL_4 ..
ZX_OBJECT_SIGNAL_22 (bit 23 is ZX_SIGNAL_HANDLE_CLOSED, bits 24-31 are the user's); its
object type, info topic and property numbers come from the MICROSIM_*_FIRST..LAST ranges
below, which the kernel enforces at registration.
"""

from __future__ import annotations

import struct as _struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

# ----------------------------------------------------------------------------- status codes
ZX_OK = 0
ZX_ERR_INTERNAL = -1
ZX_ERR_NOT_SUPPORTED = -2
ZX_ERR_NO_RESOURCES = -3
ZX_ERR_NO_MEMORY = -4
ZX_ERR_INTERNAL_INTR_RETRY = -6
ZX_ERR_INVALID_ARGS = -10
ZX_ERR_BAD_HANDLE = -11
ZX_ERR_WRONG_TYPE = -12
ZX_ERR_BAD_SYSCALL = -13
ZX_ERR_OUT_OF_RANGE = -14
ZX_ERR_BUFFER_TOO_SMALL = -15
ZX_ERR_BAD_STATE = -20
ZX_ERR_TIMED_OUT = -21
ZX_ERR_SHOULD_WAIT = -22
ZX_ERR_CANCELED = -23
ZX_ERR_PEER_CLOSED = -24
ZX_ERR_NOT_FOUND = -25
ZX_ERR_ALREADY_EXISTS = -26
ZX_ERR_ALREADY_BOUND = -27
ZX_ERR_UNAVAILABLE = -28
ZX_ERR_ACCESS_DENIED = -30
ZX_ERR_IO = -40
ZX_ERR_IO_REFUSED = -41
ZX_ERR_IO_DATA_INTEGRITY = -42
ZX_ERR_IO_DATA_LOSS = -43
ZX_ERR_IO_NOT_PRESENT = -44
ZX_ERR_IO_OVERRUN = -45
ZX_ERR_IO_MISSED_DEADLINE = -46
ZX_ERR_IO_INVALID = -47
ZX_ERR_BAD_PATH = -50
ZX_ERR_NOT_DIR = -51
ZX_ERR_NOT_FILE = -52
ZX_ERR_FILE_BIG = -53
ZX_ERR_NO_SPACE = -54
ZX_ERR_NOT_EMPTY = -55
ZX_ERR_STOP = -60
ZX_ERR_NEXT = -61
ZX_ERR_ASYNC = -62
ZX_ERR_PROTOCOL_NOT_SUPPORTED = -70
ZX_ERR_ADDRESS_UNREACHABLE = -71
ZX_ERR_ADDRESS_IN_USE = -72
ZX_ERR_NOT_CONNECTED = -73
ZX_ERR_CONNECTION_REFUSED = -74
ZX_ERR_CONNECTION_RESET = -75
ZX_ERR_CONNECTION_ABORTED = -76
ZX_ERR_INTERNAL_INTR_KILLED = -502

_STATUS_NAMES: dict[int, str] = {
    v: k for k, v in dict(globals()).items() if k == "ZX_OK" or k.startswith("ZX_ERR_")
}


def zx_status_get_string(status: int) -> str:
    """The name of a status code ("ZX_ERR_BAD_HANDLE"), or "(UNKNOWN)" like Zircon."""
    return _STATUS_NAMES.get(status, "(UNKNOWN)")


class ZxError(Exception):
    """A syscall failed with a Zircon status.

    `status` is the negative `zx_status_t`; `name` is its `ZX_ERR_*` name. Out-parameters
    that Zircon still fills in on failure (for example `observed` on `ZX_ERR_TIMED_OUT`,
    or the needed sizes on `ZX_ERR_BUFFER_TOO_SMALL`) are keyword attributes, also
    collected in `out`.
    """

    # Slots, not the instance dict, for the two fields every instance has (out-parameters
    # still go to the dict): one is built on every error return of a syscall (a futex
    # wait that finds the value changed, a poll that finds nothing), so it is kept cheap.
    __slots__ = ("out", "status")

    def __init__(self, status: int, message: str | None = None, **out: Any) -> None:
        # No call to Exception.__init__ (setting `args` is the same); `name` is derived.
        self.status = status
        self.out = out
        if out:
            for key, value in out.items():
                setattr(self, key, value)
        name = _STATUS_NAMES.get(status, "(UNKNOWN)")
        self.args = (name if message is None else f"{name}: {message}",)

    @property
    def name(self) -> str:
        """The status's `ZX_ERR_*` name ("(UNKNOWN)" for a code Zircon does not define)."""
        return _STATUS_NAMES.get(self.status, "(UNKNOWN)")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_zx_error, (self.status, self.args[0], self.out))


def _rebuild_zx_error(status: int, text: str, out: dict[str, Any]) -> ZxError:
    err = ZxError(status, **out)
    err.args = (text,)
    return err


# ----------------------------------------------------------------------------- rights
ZX_RIGHT_NONE = 0
ZX_RIGHT_DUPLICATE = 1 << 0
ZX_RIGHT_TRANSFER = 1 << 1
ZX_RIGHT_READ = 1 << 2
ZX_RIGHT_WRITE = 1 << 3
ZX_RIGHT_EXECUTE = 1 << 4
ZX_RIGHT_MAP = 1 << 5
ZX_RIGHT_GET_PROPERTY = 1 << 6
ZX_RIGHT_SET_PROPERTY = 1 << 7
ZX_RIGHT_ENUMERATE = 1 << 8
ZX_RIGHT_DESTROY = 1 << 9
ZX_RIGHT_SET_POLICY = 1 << 10
ZX_RIGHT_GET_POLICY = 1 << 11
ZX_RIGHT_SIGNAL = 1 << 12
ZX_RIGHT_SIGNAL_PEER = 1 << 13
ZX_RIGHT_WAIT = 1 << 14
ZX_RIGHT_INSPECT = 1 << 15
ZX_RIGHT_MANAGE_JOB = 1 << 16
ZX_RIGHT_MANAGE_PROCESS = 1 << 17
ZX_RIGHT_MANAGE_THREAD = 1 << 18
ZX_RIGHT_APPLY_PROFILE = 1 << 19
ZX_RIGHT_MANAGE_SOCKET = 1 << 20
ZX_RIGHT_OP_CHILDREN = 1 << 21
ZX_RIGHT_RESIZE = 1 << 22
ZX_RIGHT_ATTACH_VMO = 1 << 23
ZX_RIGHT_MANAGE_VMO = 1 << 24
ZX_RIGHT_SAME_RIGHTS = 1 << 31

ZX_RIGHTS_BASIC = ZX_RIGHT_TRANSFER | ZX_RIGHT_DUPLICATE | ZX_RIGHT_WAIT | ZX_RIGHT_INSPECT
ZX_RIGHTS_IO = ZX_RIGHT_READ | ZX_RIGHT_WRITE
ZX_RIGHTS_PROPERTY = ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY
ZX_RIGHTS_POLICY = ZX_RIGHT_GET_POLICY | ZX_RIGHT_SET_POLICY

ZX_DEFAULT_CHANNEL_RIGHTS = (
    (ZX_RIGHTS_BASIC & ~ZX_RIGHT_DUPLICATE) | ZX_RIGHTS_IO | ZX_RIGHT_SIGNAL | ZX_RIGHT_SIGNAL_PEER
)
ZX_DEFAULT_EVENT_RIGHTS = ZX_RIGHTS_BASIC | ZX_RIGHT_SIGNAL
ZX_DEFAULT_EVENTPAIR_RIGHTS = ZX_RIGHTS_BASIC | ZX_RIGHT_SIGNAL | ZX_RIGHT_SIGNAL_PEER
ZX_DEFAULT_FIFO_RIGHTS = ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHT_SIGNAL | ZX_RIGHT_SIGNAL_PEER
ZX_DEFAULT_JOB_RIGHTS = (
    ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHTS_POLICY | ZX_RIGHT_ENUMERATE
    | ZX_RIGHT_DESTROY | ZX_RIGHT_SIGNAL | ZX_RIGHT_MANAGE_JOB | ZX_RIGHT_MANAGE_PROCESS
    | ZX_RIGHT_MANAGE_THREAD
)
ZX_DEFAULT_PORT_RIGHTS = (ZX_RIGHTS_BASIC & ~ZX_RIGHT_WAIT) | ZX_RIGHTS_IO
ZX_DEFAULT_PROCESS_RIGHTS = (
    ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_ENUMERATE | ZX_RIGHT_DESTROY
    | ZX_RIGHT_SIGNAL | ZX_RIGHT_MANAGE_PROCESS | ZX_RIGHT_MANAGE_THREAD
)
ZX_DEFAULT_SOCKET_RIGHTS = (
    ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_SIGNAL | ZX_RIGHT_SIGNAL_PEER
    | ZX_RIGHT_MANAGE_SOCKET
)
ZX_DEFAULT_STREAM_RIGHTS = ZX_RIGHTS_BASIC | ZX_RIGHTS_PROPERTY | ZX_RIGHT_SIGNAL
ZX_DEFAULT_THREAD_RIGHTS = (
    ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_DESTROY | ZX_RIGHT_SIGNAL
    | ZX_RIGHT_MANAGE_THREAD
)
ZX_DEFAULT_VMAR_RIGHTS = (ZX_RIGHTS_BASIC & ~ZX_RIGHT_WAIT) | ZX_RIGHT_OP_CHILDREN
ZX_DEFAULT_VMO_RIGHTS = (
    ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_MAP | ZX_RIGHT_SIGNAL
)
ZX_DEFAULT_TIMER_RIGHTS = ZX_RIGHTS_BASIC | ZX_RIGHT_WRITE | ZX_RIGHT_SIGNAL
ZX_DEFAULT_CLOCK_RIGHTS = ZX_RIGHTS_BASIC | ZX_RIGHTS_IO
ZX_DEFAULT_COUNTER_RIGHTS = ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHT_SIGNAL
ZX_DEFAULT_IOB_RIGHTS = (
    ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_MAP | ZX_RIGHT_SIGNAL
    | ZX_RIGHT_SIGNAL_PEER
)
ZX_DEFAULT_IOB_SHARED_REGION_RIGHTS = ZX_RIGHTS_BASIC | ZX_RIGHTS_PROPERTY | ZX_RIGHT_SIGNAL

# ----------------------------------------------------------------------------- handles, koids, time
ZX_HANDLE_INVALID = 0
ZX_HANDLE_FIXED_BITS_MASK = 0x3
ZX_KOID_INVALID = 0
ZX_KOID_KERNEL = 1
ZX_KOID_FIRST = 1024
ZX_TIME_INFINITE = (1 << 63) - 1
ZX_TIME_INFINITE_PAST = -(1 << 63)
ZX_CLOCK_MONOTONIC = 0
ZX_PAGE_SIZE = 4096
ZX_MAX_NAME_LEN = 32
ZX_CHANNEL_MAX_MSG_BYTES = 65536
ZX_CHANNEL_MAX_MSG_HANDLES = 64
ZX_CHANNEL_MAX_MSG_IOVECS = 8192
ZX_CHANNEL_READ_MAY_DISCARD = 1
ZX_CHANNEL_WRITE_USE_IOVEC = 2
ZX_HANDLE_OP_MOVE = 0
ZX_HANDLE_OP_DUPLICATE = 1
ZX_WAIT_MANY_MAX_ITEMS = 64

# ----------------------------------------------------------------------------- object types
ZX_OBJ_TYPE_NONE = 0
ZX_OBJ_TYPE_PROCESS = 1
ZX_OBJ_TYPE_THREAD = 2
ZX_OBJ_TYPE_VMO = 3
ZX_OBJ_TYPE_CHANNEL = 4
ZX_OBJ_TYPE_EVENT = 5
ZX_OBJ_TYPE_PORT = 6
ZX_OBJ_TYPE_INTERRUPT = 9
ZX_OBJ_TYPE_PCI_DEVICE = 11
ZX_OBJ_TYPE_DEBUGLOG = 12
ZX_OBJ_TYPE_SOCKET = 14
ZX_OBJ_TYPE_RESOURCE = 15
ZX_OBJ_TYPE_EVENTPAIR = 16
ZX_OBJ_TYPE_JOB = 17
ZX_OBJ_TYPE_VMAR = 18
ZX_OBJ_TYPE_FIFO = 19
ZX_OBJ_TYPE_GUEST = 20
ZX_OBJ_TYPE_VCPU = 21
ZX_OBJ_TYPE_TIMER = 22
ZX_OBJ_TYPE_IOMMU = 23
ZX_OBJ_TYPE_BTI = 24
ZX_OBJ_TYPE_PROFILE = 25
ZX_OBJ_TYPE_PMT = 26
ZX_OBJ_TYPE_SUSPEND_TOKEN = 27
ZX_OBJ_TYPE_PAGER = 28
ZX_OBJ_TYPE_EXCEPTION = 29
ZX_OBJ_TYPE_CLOCK = 30
ZX_OBJ_TYPE_STREAM = 31
ZX_OBJ_TYPE_MSI = 32
ZX_OBJ_TYPE_IOB = 33
ZX_OBJ_TYPE_COUNTER = 34
ZX_OBJ_TYPE_IOB_SHARED_REGION = 35
ZX_OBJ_TYPE_UPPER_BOUND = 64

# ----------------------------------------------------------------------------- signals
ZX_SIGNAL_NONE = 0
ZX_OBJECT_SIGNAL_ALL = 0x00FFFFFF
ZX_USER_SIGNAL_ALL = 0xFF000000
ZX_OBJECT_READABLE = 1 << 0
ZX_OBJECT_WRITABLE = 1 << 1
ZX_OBJECT_PEER_CLOSED = 1 << 2
ZX_OBJECT_SIGNALED = 1 << 3
ZX_SIGNAL_HANDLE_CLOSED = 1 << 23
ZX_USER_SIGNAL_0 = 1 << 24
ZX_USER_SIGNAL_1 = 1 << 25
ZX_USER_SIGNAL_2 = 1 << 26
ZX_USER_SIGNAL_3 = 1 << 27
ZX_USER_SIGNAL_4 = 1 << 28
ZX_USER_SIGNAL_5 = 1 << 29
ZX_USER_SIGNAL_6 = 1 << 30
ZX_USER_SIGNAL_7 = 1 << 31
# The per-type signal bits Zircon leaves unnamed (its __ZX_OBJECT_SIGNAL_4..22): an object
# type Zircon lacks names its own signals after these (bit 23 is ZX_SIGNAL_HANDLE_CLOSED).
ZX_OBJECT_SIGNAL_4 = 1 << 4
ZX_OBJECT_SIGNAL_5 = 1 << 5
ZX_OBJECT_SIGNAL_6 = 1 << 6
ZX_OBJECT_SIGNAL_7 = 1 << 7
ZX_OBJECT_SIGNAL_8 = 1 << 8
ZX_OBJECT_SIGNAL_9 = 1 << 9
ZX_OBJECT_SIGNAL_10 = 1 << 10
ZX_OBJECT_SIGNAL_11 = 1 << 11
ZX_OBJECT_SIGNAL_12 = 1 << 12
ZX_OBJECT_SIGNAL_13 = 1 << 13
ZX_OBJECT_SIGNAL_14 = 1 << 14
ZX_OBJECT_SIGNAL_15 = 1 << 15
ZX_OBJECT_SIGNAL_16 = 1 << 16
ZX_OBJECT_SIGNAL_17 = 1 << 17
ZX_OBJECT_SIGNAL_18 = 1 << 18
ZX_OBJECT_SIGNAL_19 = 1 << 19
ZX_OBJECT_SIGNAL_20 = 1 << 20
ZX_OBJECT_SIGNAL_21 = 1 << 21
ZX_OBJECT_SIGNAL_22 = 1 << 22
ZX_EVENT_SIGNALED = ZX_OBJECT_SIGNALED
ZX_EVENTPAIR_SIGNALED = ZX_OBJECT_SIGNALED
ZX_EVENTPAIR_PEER_CLOSED = ZX_OBJECT_PEER_CLOSED
ZX_CHANNEL_READABLE = ZX_OBJECT_READABLE
ZX_CHANNEL_WRITABLE = ZX_OBJECT_WRITABLE
ZX_CHANNEL_PEER_CLOSED = ZX_OBJECT_PEER_CLOSED
ZX_SOCKET_READABLE = ZX_OBJECT_READABLE
ZX_SOCKET_WRITABLE = ZX_OBJECT_WRITABLE
ZX_SOCKET_PEER_CLOSED = ZX_OBJECT_PEER_CLOSED
ZX_SOCKET_PEER_WRITE_DISABLED = 1 << 4
ZX_SOCKET_WRITE_DISABLED = 1 << 5
ZX_SOCKET_READ_THRESHOLD = 1 << 10
ZX_SOCKET_WRITE_THRESHOLD = 1 << 11
ZX_FIFO_READABLE = ZX_OBJECT_READABLE
ZX_FIFO_WRITABLE = ZX_OBJECT_WRITABLE
ZX_FIFO_PEER_CLOSED = ZX_OBJECT_PEER_CLOSED
ZX_TASK_TERMINATED = ZX_OBJECT_SIGNALED
ZX_JOB_TERMINATED = ZX_OBJECT_SIGNALED
ZX_PROCESS_TERMINATED = ZX_OBJECT_SIGNALED
ZX_THREAD_TERMINATED = ZX_OBJECT_SIGNALED
ZX_THREAD_RUNNING = 1 << 4
ZX_THREAD_SUSPENDED = 1 << 5
ZX_TIMER_SIGNALED = ZX_OBJECT_SIGNALED
ZX_VMO_ZERO_CHILDREN = ZX_OBJECT_SIGNALED
ZX_COUNTER_SIGNALED = ZX_OBJECT_SIGNALED
ZX_COUNTER_POSITIVE = 1 << 4
ZX_COUNTER_NON_POSITIVE = 1 << 5
ZX_IOB_PEER_CLOSED = ZX_OBJECT_PEER_CLOSED
ZX_IOB_SHARED_REGION_UPDATED = ZX_OBJECT_SIGNALED

# thread states (zircon/syscalls/object.h): ZX_INFO_THREAD.state, and why a thread blocks
ZX_THREAD_STATE_NEW = 0x0000
ZX_THREAD_STATE_RUNNING = 0x0001
ZX_THREAD_STATE_SUSPENDED = 0x0002
ZX_THREAD_STATE_BLOCKED = 0x0003
ZX_THREAD_STATE_DYING = 0x0004
ZX_THREAD_STATE_DEAD = 0x0005
ZX_THREAD_STATE_BLOCKED_EXCEPTION = 0x0103
ZX_THREAD_STATE_BLOCKED_SLEEPING = 0x0203
ZX_THREAD_STATE_BLOCKED_FUTEX = 0x0303
ZX_THREAD_STATE_BLOCKED_PORT = 0x0403
ZX_THREAD_STATE_BLOCKED_CHANNEL = 0x0503
ZX_THREAD_STATE_BLOCKED_WAIT_ONE = 0x0603
ZX_THREAD_STATE_BLOCKED_WAIT_MANY = 0x0703
ZX_THREAD_STATE_BLOCKED_INTERRUPT = 0x0803
ZX_THREAD_STATE_BLOCKED_PAGER = 0x0903

# ----------------------------------------------------------------------------- plugin numbers
# Not Zircon's: the numbers a plugin gives what Zircon lacks. The kernel refuses, at
# registration, an object type, info topic or property outside both Zircon's range and
# these (and any number registered twice).
#
# Object types: Zircon's are 1 .. 47 (the ZX_OBJ_TYPE_* values above); a type Zircon lacks
# takes one of 48 .. 63 (ZX_INFO_HANDLE_BASIC.type stays below ZX_OBJ_TYPE_UPPER_BOUND).
MICROSIM_OBJ_TYPE_FIRST = 48
MICROSIM_OBJ_TYPE_LAST = ZX_OBJ_TYPE_UPPER_BOUND - 1
# Info topics: Zircon's are below 0x100 (its ZX_INFO_* values; the top four bits of a
# topic are its version, `topic | (version << 28)`); a plugin's own take 0x1000 .. 0x1fff.
MICROSIM_INFO_TOPIC_FIRST = 0x1000
MICROSIM_INFO_TOPIC_LAST = 0x1FFF
ZIRCON_INFO_TOPIC_LIMIT = 0x100
# Properties: Zircon's are below 0x100 (ZX_PROP_*); a plugin's own take 0x1000 .. 0x1fff.
MICROSIM_PROP_FIRST = 0x1000
MICROSIM_PROP_LAST = 0x1FFF
ZIRCON_PROP_LIMIT = 0x100


# zx_object_wait_async options (zircon/syscalls/object.h)
ZX_WAIT_ASYNC_ONCE = 0
ZX_WAIT_ASYNC_TIMESTAMP = 1
ZX_WAIT_ASYNC_EDGE = 2
ZX_WAIT_ASYNC_BOOT_TIMESTAMP = 4

# port packets (zircon/syscalls/port.h)
ZX_PKT_TYPE_USER = 0x00
ZX_PKT_TYPE_SIGNAL_ONE = 0x01
ZX_PKT_TYPE_GUEST_BELL = 0x03
ZX_PKT_TYPE_GUEST_MEM = 0x04
ZX_PKT_TYPE_GUEST_IO = 0x05
ZX_PKT_TYPE_GUEST_VCPU = 0x06
ZX_PKT_TYPE_INTERRUPT = 0x07
ZX_PKT_TYPE_PAGE_REQUEST = 0x09
ZX_PORT_BIND_TO_INTERRUPT = 1 << 0

# ----------------------------------------------------------------------------- info topics, properties
ZX_INFO_NONE = 0
ZX_INFO_HANDLE_VALID = 1
ZX_INFO_HANDLE_BASIC = 2
ZX_INFO_PROCESS_V1 = 3
ZX_INFO_PROCESS = 3 | (1 << 28)
ZX_INFO_PROCESS_THREADS = 4
ZX_INFO_VMAR = 7
ZX_INFO_JOB_CHILDREN = 8
ZX_INFO_JOB_PROCESSES = 9
ZX_INFO_THREAD = 10
ZX_INFO_TASK_STATS = 12
ZX_INFO_THREAD_STATS = 15
ZX_INFO_JOB = 24
ZX_INFO_PROCESS_MAPS_V1 = 13
ZX_INFO_PROCESS_MAPS = 13 | (1 << 28)
ZX_INFO_PROCESS_VMOS_V1 = 14
ZX_INFO_PROCESS_VMOS = 14 | (2 << 28)
ZX_INFO_HANDLE_COUNT = 19
ZX_INFO_VMO_V1 = 23
ZX_INFO_VMO_V2 = 23 | (1 << 28)
ZX_INFO_VMO = 23 | (2 << 28)
ZX_INFO_HANDLE_TABLE = 27
ZX_INFO_IOB = 34
ZX_INFO_IOB_REGIONS = 35
ZX_INFO_VMAR_MAPS = 36

ZX_PROP_NAME = 3
ZX_PROP_PROCESS_DEBUG_ADDR = 5
ZX_PROP_PROCESS_VDSO_BASE_ADDRESS = 6
ZX_PROP_PROCESS_BREAK_ON_LOAD = 7
ZX_PROP_JOB_KILL_ON_OOM = 15
ZX_PROP_EXCEPTION_STATE = 16
ZX_PROP_EXCEPTION_STRATEGY = 18
ZX_PROP_VMO_CONTENT_SIZE = 17
ZX_PROP_STREAM_MODE_APPEND = 19
ZX_INFO_STREAM = 26

# Streams (zircon/types.h).
ZX_STREAM_MODE_READ = 1 << 0
ZX_STREAM_MODE_WRITE = 1 << 1
ZX_STREAM_MODE_APPEND = 1 << 2
ZX_STREAM_CREATE_MASK = ZX_STREAM_MODE_READ | ZX_STREAM_MODE_WRITE | ZX_STREAM_MODE_APPEND
ZX_STREAM_APPEND = 1 << 0
ZX_STREAM_SEEK_ORIGIN_START = 0
ZX_STREAM_SEEK_ORIGIN_CURRENT = 1
ZX_STREAM_SEEK_ORIGIN_END = 2

ZX_INFO_VMO_TYPE_PHYSICAL = 0
ZX_INFO_VMO_TYPE_PAGED = 1 << 0
ZX_INFO_VMO_RESIZABLE = 1 << 1
ZX_INFO_VMO_IS_COW_CLONE = 1 << 2
ZX_INFO_VMO_VIA_HANDLE = 1 << 3
ZX_INFO_VMO_VIA_MAPPING = 1 << 4
ZX_INFO_VMO_PAGER_BACKED = 1 << 5
ZX_INFO_VMO_CONTIGUOUS = 1 << 6
ZX_INFO_VMO_DISCARDABLE = 1 << 7
ZX_INFO_VMO_IMMUTABLE = 1 << 8
ZX_INFO_VMO_VIA_IOB_HANDLE = 1 << 9

ZX_INFO_MAPS_TYPE_NONE = 0
ZX_INFO_MAPS_TYPE_ASPACE = 1
ZX_INFO_MAPS_TYPE_VMAR = 2
ZX_INFO_MAPS_TYPE_MAPPING = 3

ZX_CACHE_POLICY_CACHED = 0
ZX_CACHE_POLICY_UNCACHED = 1
ZX_CACHE_POLICY_UNCACHED_DEVICE = 2
ZX_CACHE_POLICY_WRITE_COMBINING = 3
ZX_CACHE_POLICY_MASK = 3

# ----------------------------------------------------------------------------- VMO
ZX_VMO_RESIZABLE = 1 << 1
ZX_VMO_DISCARDABLE = 1 << 2
ZX_VMO_TRAP_DIRTY = 1 << 3
ZX_VMO_UNBOUNDED = 1 << 4

ZX_VMO_CHILD_SNAPSHOT = 1 << 0
ZX_VMO_CHILD_RESIZABLE = 1 << 2
ZX_VMO_CHILD_SLICE = 1 << 3
ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE = 1 << 4
ZX_VMO_CHILD_NO_WRITE = 1 << 5
ZX_VMO_CHILD_REFERENCE = 1 << 6
ZX_VMO_CHILD_SNAPSHOT_MODIFIED = 1 << 7
ZX_VMO_CHILD_COPY_ON_WRITE = ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE

ZX_VMO_OP_COMMIT = 1
ZX_VMO_OP_DECOMMIT = 2
ZX_VMO_OP_LOCK = 3
ZX_VMO_OP_UNLOCK = 4
ZX_VMO_OP_CACHE_SYNC = 6
ZX_VMO_OP_CACHE_INVALIDATE = 7
ZX_VMO_OP_CACHE_CLEAN = 8
ZX_VMO_OP_CACHE_CLEAN_INVALIDATE = 9
ZX_VMO_OP_ZERO = 10
ZX_VMO_OP_TRY_LOCK = 11
ZX_VMO_OP_DONT_NEED = 12
ZX_VMO_OP_ALWAYS_NEED = 13
ZX_VMO_OP_PREFETCH = 14

# ----------------------------------------------------------------------------- VMAR
ZX_VM_PERM_READ = 1 << 0
ZX_VM_PERM_WRITE = 1 << 1
ZX_VM_PERM_EXECUTE = 1 << 2
ZX_VM_COMPACT = 1 << 3
ZX_VM_SPECIFIC = 1 << 4
ZX_VM_SPECIFIC_OVERWRITE = 1 << 5
ZX_VM_CAN_MAP_SPECIFIC = 1 << 6
ZX_VM_CAN_MAP_READ = 1 << 7
ZX_VM_CAN_MAP_WRITE = 1 << 8
ZX_VM_CAN_MAP_EXECUTE = 1 << 9
ZX_VM_MAP_RANGE = 1 << 10
ZX_VM_REQUIRE_NON_RESIZABLE = 1 << 11
ZX_VM_ALLOW_FAULTS = 1 << 12
ZX_VM_OFFSET_IS_UPPER_LIMIT = 1 << 13
ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED = 1 << 14
ZX_VM_FAULT_BEYOND_STREAM_SIZE = 1 << 15
ZX_VM_ALIGN_BASE = 24
ZX_VM_ALIGN_1KB = 10 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_2KB = 11 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_4KB = 12 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_8KB = 13 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_16KB = 14 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_32KB = 15 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_64KB = 16 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_128KB = 17 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_256KB = 18 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_512KB = 19 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_1MB = 20 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_2MB = 21 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_4MB = 22 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_8MB = 23 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_16MB = 24 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_32MB = 25 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_64MB = 26 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_128MB = 27 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_256MB = 28 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_512MB = 29 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_1GB = 30 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_2GB = 31 << ZX_VM_ALIGN_BASE
ZX_VM_ALIGN_4GB = 32 << ZX_VM_ALIGN_BASE

ZX_VMAR_OP_COMMIT = 1
ZX_VMAR_OP_DECOMMIT = 2
ZX_VMAR_OP_MAP_RANGE = 3
ZX_VMAR_OP_ZERO = 10
ZX_VMAR_OP_DONT_NEED = 12
ZX_VMAR_OP_ALWAYS_NEED = 13
ZX_VMAR_OP_PREFETCH = 14

# ----------------------------------------------------------------------------- IOB
ZX_IOB_MAX_REGIONS = 64
ZX_IOB_REGION_TYPE_PRIVATE = 0
ZX_IOB_REGION_TYPE_SHARED = 1
ZX_IOB_DISCIPLINE_TYPE_NONE = 0
ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR = 1
ZX_IOB_DISCIPLINE_TYPE_MEDIATED_WRITE_RING_BUFFER = 2
ZX_IOB_ACCESS_EP0_CAN_MAP_READ = 1 << 0
ZX_IOB_ACCESS_EP0_CAN_MAP_WRITE = 1 << 1
ZX_IOB_ACCESS_EP0_CAN_MEDIATED_READ = 1 << 2
ZX_IOB_ACCESS_EP0_CAN_MEDIATED_WRITE = 1 << 3
ZX_IOB_ACCESS_EP1_CAN_MAP_READ = 1 << 4
ZX_IOB_ACCESS_EP1_CAN_MAP_WRITE = 1 << 5
ZX_IOB_ACCESS_EP1_CAN_MEDIATED_READ = 1 << 6
ZX_IOB_ACCESS_EP1_CAN_MEDIATED_WRITE = 1 << 7
# The older header's names for the same bits.
ZX_IOB_EP0_CAN_MAP_READ = ZX_IOB_ACCESS_EP0_CAN_MAP_READ
ZX_IOB_EP0_CAN_MAP_WRITE = ZX_IOB_ACCESS_EP0_CAN_MAP_WRITE
ZX_IOB_EP0_CAN_MEDIATED_READ = ZX_IOB_ACCESS_EP0_CAN_MEDIATED_READ
ZX_IOB_EP0_CAN_MEDIATED_WRITE = ZX_IOB_ACCESS_EP0_CAN_MEDIATED_WRITE
ZX_IOB_EP1_CAN_MAP_READ = ZX_IOB_ACCESS_EP1_CAN_MAP_READ
ZX_IOB_EP1_CAN_MAP_WRITE = ZX_IOB_ACCESS_EP1_CAN_MAP_WRITE
ZX_IOB_EP1_CAN_MEDIATED_READ = ZX_IOB_ACCESS_EP1_CAN_MEDIATED_READ
ZX_IOB_EP1_CAN_MEDIATED_WRITE = ZX_IOB_ACCESS_EP1_CAN_MEDIATED_WRITE


# ----------------------------------------------------------------------------- structs
class Struct:
    """Base of the flat ABI structs, for Zircon's and for a plugin's own.

    A struct is a `@dataclass(slots=True)` subclass whose `FORMAT` is its `struct`-module
    layout: little-endian (`<`), one code per field in declaration order, explicit padding
    (`4x`) where Zircon's C layout has it, bytes fields as NUL-padded `Ns`. `SIZE` is
    computed from it (`sizeof` in C); `pack()` / `unpack()` convert to and from bytes.
    `check_buffer(buffer_size)` is the buffer check of a fixed-size info topic and
    `clip(records, buffer_size)` the result of an array topic.

        @dataclass(slots=True)
        class sem_info_t(zx.Struct):
            FORMAT: ClassVar[str] = "<QI4x"      # uint64 count; uint32 waiters; padding
            count: int = 0
            waiters: int = 0
    """

    FORMAT: ClassVar[str] = "<"
    # The older spelling of FORMAT (Zircon's own structs here use it); either may be set.
    _FORMAT: ClassVar[str] = "<"
    SIZE: ClassVar[int] = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        fmt = own.get("FORMAT") or own.get("_FORMAT") or cls._FORMAT
        cls.FORMAT = cls._FORMAT = fmt
        cls.SIZE = _struct.calcsize(fmt)

    def pack(self) -> bytes:
        """The struct's bytes, in Zircon's little-endian layout."""
        return _struct.pack(self._FORMAT, *(getattr(self, f.name) for f in fields(self)))  # type: ignore[arg-type]

    @classmethod
    def unpack(cls, data: bytes) -> Self:
        """Parse `SIZE` bytes (ValueError on any other length)."""
        if len(data) != cls.SIZE:
            raise ValueError(f"{cls.__name__} takes {cls.SIZE} bytes, got {len(data)}")
        values = [
            v.rstrip(b"\0") if isinstance(v, bytes) else v
            for v in _struct.unpack(cls._FORMAT, data)
        ]
        return cls(*values)

    @classmethod
    def check_buffer(cls, buffer_size: int | None) -> None:
        """A fixed-size info topic's buffer check: ZX_ERR_BUFFER_TOO_SMALL (actual 0,
        avail 1, as Zircon reports) when `buffer_size` bytes cannot hold one struct.
        `buffer_size` None means large enough."""
        if buffer_size is not None and buffer_size < cls.SIZE:
            raise ZxError(ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)

    @classmethod
    def clip(cls, records: Sequence[Any], buffer_size: int | None) -> InfoList:
        """An array info topic's result: as many `records` as `buffer_size` bytes hold
        (`actual`), and how many there are (`avail`); a small buffer is not an error."""
        return InfoList.clip(records, cls.SIZE, buffer_size)


# The name the built-in structs were declared with; kept so both spellings work.
_Struct = Struct


class InfoList(list[Any]):
    """The records of an array info topic, with Zircon's `actual` and `avail` counts."""

    def __init__(self, records: Iterable[Any] = (), avail: int | None = None) -> None:
        super().__init__(records)
        self.actual = len(self)
        self.avail = self.actual if avail is None else avail

    @classmethod
    def clip(cls, records: Sequence[Any], record_size: int, buffer_size: int | None) -> InfoList:
        """Keep as many records as fit in `buffer_size` bytes (None: all)."""
        n = len(records)
        if buffer_size is not None:
            n = min(n, buffer_size // record_size) if record_size else n
        return cls(records[:n], avail=len(records))


def check_buffer(size: int, buffer_size: int | None) -> None:
    """ZX_ERR_BUFFER_TOO_SMALL when a caller's `buffer_size` is below `size` bytes (for a
    fixed-size value that is not a `Struct`, such as a uint64 property)."""
    if buffer_size is not None and buffer_size < size:
        raise ZxError(ZX_ERR_BUFFER_TOO_SMALL, actual=0, avail=1)


@dataclass(slots=True)
class zx_info_handle_basic_t(_Struct):
    """ZX_INFO_HANDLE_BASIC."""

    _FORMAT: ClassVar[str] = "<QIIQI4x"
    koid: int = 0
    rights: int = 0
    type: int = 0
    related_koid: int = 0
    reserved: int = 0


@dataclass(slots=True)
class zx_info_handle_count_t(_Struct):
    """ZX_INFO_HANDLE_COUNT."""

    _FORMAT: ClassVar[str] = "<I"
    handle_count: int = 0


@dataclass(slots=True)
class zx_info_stream_t(_Struct):
    """ZX_INFO_STREAM: mode bits (APPEND as currently set), seek offset, content size."""

    _FORMAT: ClassVar[str] = "<I4xQQ"
    options: int = 0
    seek: int = 0
    content_size: int = 0


@dataclass(slots=True)
class zx_info_vmar_t(_Struct):
    """ZX_INFO_VMAR: base address and length."""

    _FORMAT: ClassVar[str] = "<QQ"
    base: int = 0
    len: int = 0


@dataclass(slots=True)
class zx_info_process_t(_Struct):
    """ZX_INFO_PROCESS."""

    _FORMAT: ClassVar[str] = "<qqI4x"
    return_code: int = 0
    start_time: int = 0
    flags: int = 0


ZX_INFO_PROCESS_FLAG_STARTED = 1 << 0
ZX_INFO_PROCESS_FLAG_EXITED = 1 << 1
ZX_INFO_PROCESS_FLAG_DEBUGGER_ATTACHED = 1 << 2


@dataclass(slots=True)
class zx_info_maps_t(_Struct):
    """One ZX_INFO_PROCESS_MAPS / ZX_INFO_VMAR_MAPS entry.

    The C union `u.mapping` is flattened: its fields are meaningful when
    `type == ZX_INFO_MAPS_TYPE_MAPPING` and zero otherwise.
    """

    _FORMAT: ClassVar[str] = "<32sQQQI4xI4xQQQQ"
    name: bytes = b""
    base: int = 0
    size: int = 0
    depth: int = 0
    type: int = 0
    mmu_flags: int = 0
    vmo_koid: int = 0
    vmo_offset: int = 0
    committed_pages: int = 0
    populated_pages: int = 0


@dataclass(slots=True)
class zx_info_vmo_t(_Struct):
    """ZX_INFO_VMO (and ZX_INFO_PROCESS_VMOS entries)."""

    _FORMAT: ClassVar[str] = "<Q32sQQQQQI4xQIIQQQ"
    koid: int = 0
    name: bytes = b""
    size_bytes: int = 0
    parent_koid: int = 0
    num_children: int = 0
    num_mappings: int = 0
    share_count: int = 0
    flags: int = 0
    committed_bytes: int = 0
    handle_rights: int = 0
    cache_policy: int = 0
    metadata_bytes: int = 0
    committed_change_events: int = 0
    populated_bytes: int = 0


@dataclass(slots=True)
class zx_info_vmo_v1_t(_Struct):
    """ZX_INFO_VMO_V1: the first layout of zx_info_vmo_t."""

    _FORMAT: ClassVar[str] = "<Q32sQQQQQI4xQII"
    koid: int = 0
    name: bytes = b""
    size_bytes: int = 0
    parent_koid: int = 0
    num_children: int = 0
    num_mappings: int = 0
    share_count: int = 0
    flags: int = 0
    committed_bytes: int = 0
    handle_rights: int = 0
    cache_policy: int = 0


@dataclass(slots=True)
class zx_info_vmo_v2_t(_Struct):
    """ZX_INFO_VMO_V2: zx_info_vmo_v1_t plus metadata_bytes and committed_change_events."""

    _FORMAT: ClassVar[str] = "<Q32sQQQQQI4xQIIQQ"
    koid: int = 0
    name: bytes = b""
    size_bytes: int = 0
    parent_koid: int = 0
    num_children: int = 0
    num_mappings: int = 0
    share_count: int = 0
    flags: int = 0
    committed_bytes: int = 0
    handle_rights: int = 0
    cache_policy: int = 0
    metadata_bytes: int = 0
    committed_change_events: int = 0


@dataclass(slots=True)
class zx_info_iob_t(_Struct):
    """ZX_INFO_IOB."""

    _FORMAT: ClassVar[str] = "<QI4x"
    options: int = 0
    region_count: int = 0


@dataclass(slots=True)
class zx_wait_item_t(_Struct):
    """One item of zx_object_wait_many."""

    _FORMAT: ClassVar[str] = "<III"
    handle: int = 0
    waitfor: int = 0
    pending: int = 0


@dataclass(slots=True)
class zx_handle_info_t(_Struct):
    """A handle received by zx_channel_read_etc."""

    _FORMAT: ClassVar[str] = "<IIII"
    handle: int = 0
    type: int = 0
    rights: int = 0
    unused: int = 0


@dataclass(slots=True)
class zx_handle_disposition_t(_Struct):
    """A handle sent by zx_channel_write_etc."""

    _FORMAT: ClassVar[str] = "<IIIIi"
    operation: int = 0
    handle: int = 0
    type: int = 0
    rights: int = 0
    result: int = 0


@dataclass(slots=True)
class zx_vmo_lock_state_t(_Struct):
    """The buffer of ZX_VMO_OP_LOCK."""

    _FORMAT: ClassVar[str] = "<QQQQ"
    offset: int = 0
    size: int = 0
    discarded_offset: int = 0
    discarded_size: int = 0


@dataclass(slots=True)
class zx_packet_signal_t(_Struct):
    """The payload of a ZX_PKT_TYPE_SIGNAL_ONE port packet."""

    _FORMAT: ClassVar[str] = "<IIQQQ"
    trigger: int = 0
    observed: int = 0
    count: int = 0
    timestamp: int = 0
    reserved1: int = 0


@dataclass(slots=True)
class zx_packet_user_t(_Struct):
    """The payload of a ZX_PKT_TYPE_USER port packet (32 bytes)."""

    _FORMAT: ClassVar[str] = "<QQQQ"
    u64_0: int = 0
    u64_1: int = 0
    u64_2: int = 0
    u64_3: int = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> zx_packet_user_t:
        """A user payload from up to 32 bytes (zero-padded)."""
        return cls.unpack(bytes(data[:32]).ljust(32, b"\0"))


@dataclass(slots=True)
class zx_port_packet_t:
    """A port packet: key, type, status and a 32-byte payload (signal or user)."""

    SIZE: ClassVar[int] = 48
    key: int = 0
    type: int = 0
    status: int = 0
    signal: zx_packet_signal_t | None = None
    user: zx_packet_user_t | None = None

    def pack(self) -> bytes:
        """The packet's 48 bytes."""
        if self.signal is not None:
            payload = self.signal.pack()
        elif self.user is not None:
            payload = self.user.pack()
        else:
            payload = bytes(32)
        return _struct.pack("<QIi", self.key, self.type, self.status) + payload

    @classmethod
    def unpack(cls, data: bytes) -> zx_port_packet_t:
        """Parse 48 bytes; the payload is decoded according to `type`."""
        if len(data) != cls.SIZE:
            raise ValueError(f"zx_port_packet_t takes 48 bytes, got {len(data)}")
        key, type_, status = _struct.unpack("<QIi", data[:16])
        payload = data[16:]
        if type_ == ZX_PKT_TYPE_SIGNAL_ONE:
            return cls(key, type_, status, signal=zx_packet_signal_t.unpack(payload))
        return cls(key, type_, status, user=zx_packet_user_t.unpack(payload))


@dataclass(slots=True)
class zx_iob_discipline_t:
    """A region's discipline: `type` (u64) and 64 bytes of parameters (8 u64)."""

    SIZE: ClassVar[int] = 72
    type: int = ZX_IOB_DISCIPLINE_TYPE_NONE
    reserved: tuple[int, ...] = (0,) * 8

    @property
    def tag(self) -> int:
        """The mediated-write ring buffer's tag (the first parameter word)."""
        return self.reserved[0]

    def pack(self) -> bytes:
        """The discipline's 72 bytes."""
        words = tuple(self.reserved)[:8] + (0,) * (8 - len(tuple(self.reserved)[:8]))
        return _struct.pack("<Q8Q", self.type, *words)

    @classmethod
    def unpack(cls, data: bytes) -> zx_iob_discipline_t:
        """Parse 72 bytes."""
        if len(data) != cls.SIZE:
            raise ValueError(f"zx_iob_discipline_t takes 72 bytes, got {len(data)}")
        values = _struct.unpack("<Q8Q", data)
        return cls(values[0], tuple(values[1:]))


@dataclass(slots=True)
class zx_iob_discipline_mediated_write_ring_buffer_t(_Struct):
    """Parameters of ZX_IOB_DISCIPLINE_TYPE_MEDIATED_WRITE_RING_BUFFER (64 bytes)."""

    _FORMAT: ClassVar[str] = "<Q56x"
    tag: int = 0

    def discipline(self) -> zx_iob_discipline_t:
        """The discipline record carrying these parameters."""
        return zx_iob_discipline_t(
            ZX_IOB_DISCIPLINE_TYPE_MEDIATED_WRITE_RING_BUFFER, (self.tag,) + (0,) * 7
        )


@dataclass(slots=True)
class zx_iob_region_private_t(_Struct):
    """Private-region parameters: VMO create options (32 bytes with padding)."""

    _FORMAT: ClassVar[str] = "<I28x"
    options: int = 0


@dataclass(slots=True)
class zx_iob_region_shared_t(_Struct):
    """Shared-region parameters: options and the shared-region handle (32 bytes)."""

    _FORMAT: ClassVar[str] = "<II24x"
    options: int = 0
    shared_region: int = 0


@dataclass(slots=True)
class zx_iob_region_t:
    """One IOB region description (120 bytes).

    The C type ends in a union: `private_region` is used when `type` is
    ZX_IOB_REGION_TYPE_PRIVATE, `shared_region` when it is ZX_IOB_REGION_TYPE_SHARED.
    """

    SIZE: ClassVar[int] = 120
    type: int = ZX_IOB_REGION_TYPE_PRIVATE
    access: int = 0
    size: int = 0
    discipline: zx_iob_discipline_t = field(default_factory=zx_iob_discipline_t)
    private_region: zx_iob_region_private_t = field(default_factory=zx_iob_region_private_t)
    shared_region: zx_iob_region_shared_t = field(default_factory=zx_iob_region_shared_t)

    def pack(self) -> bytes:
        """The region's 120 bytes."""
        union = (
            self.shared_region.pack()
            if self.type == ZX_IOB_REGION_TYPE_SHARED
            else self.private_region.pack()
        )
        return _struct.pack("<IIQ", self.type, self.access, self.size) + self.discipline.pack() + union

    @classmethod
    def unpack(cls, data: bytes) -> zx_iob_region_t:
        """Parse 120 bytes (both union views are filled from the same bytes)."""
        if len(data) != cls.SIZE:
            raise ValueError(f"zx_iob_region_t takes 120 bytes, got {len(data)}")
        type_, access, size = _struct.unpack("<IIQ", data[:16])
        return cls(
            type_,
            access,
            size,
            zx_iob_discipline_t.unpack(data[16:88]),
            zx_iob_region_private_t.unpack(data[88:120]),
            zx_iob_region_shared_t.unpack(data[88:120]),
        )


@dataclass(slots=True)
class zx_iob_region_info_t:
    """One ZX_INFO_IOB_REGIONS entry: the region description and its memory's koid."""

    SIZE: ClassVar[int] = 128
    region: zx_iob_region_t = field(default_factory=zx_iob_region_t)
    koid: int = 0

    def pack(self) -> bytes:
        """The entry's 128 bytes."""
        return self.region.pack() + _struct.pack("<Q", self.koid)

    @classmethod
    def unpack(cls, data: bytes) -> zx_iob_region_info_t:
        """Parse 128 bytes."""
        if len(data) != cls.SIZE:
            raise ValueError(f"zx_iob_region_info_t takes 128 bytes, got {len(data)}")
        return cls(zx_iob_region_t.unpack(data[:120]), _struct.unpack("<Q", data[120:])[0])


# ----------------------------------------------------------------------------- IPC and sync objects
# (zircon/types.h, syscalls/object.h, syscalls/port.h, rights.h; see each plugin's docstring)
ZX_CLOCK_BOOT = 1
ZX_TIMER_SLACK_CENTER = 0
ZX_TIMER_SLACK_EARLY = 1
ZX_TIMER_SLACK_LATE = 2
ZX_INFO_TIMER = 25
ZX_INFO_SOCKET = 22
ZX_SOCKET_STREAM = 0
ZX_SOCKET_DATAGRAM = 1 << 0
ZX_SOCKET_CREATE_MASK = ZX_SOCKET_DATAGRAM
ZX_SOCKET_PEEK = 1 << 3
ZX_SOCKET_DISPOSITION_WRITE_DISABLED = 1 << 0
ZX_SOCKET_DISPOSITION_WRITE_ENABLED = 1 << 1
ZX_PROP_SOCKET_RX_THRESHOLD = 12
ZX_PROP_SOCKET_TX_THRESHOLD = 13
ZX_FIFO_MAX_SIZE_BYTES = ZX_PAGE_SIZE
ZX_CPRNG_DRAW_MAX_LEN = 256
ZX_CPRNG_ADD_ENTROPY_MAX_LEN = 256
ZX_EVENT_SIGNAL_MASK = ZX_USER_SIGNAL_ALL | ZX_EVENT_SIGNALED
ZX_EVENTPAIR_SIGNAL_MASK = ZX_USER_SIGNAL_ALL | ZX_EVENTPAIR_SIGNALED | ZX_EVENTPAIR_PEER_CLOSED
# Thread states (syscalls/object.h), as ZX_INFO_THREAD reports them.
ZX_THREAD_STATE_NEW = 0x0000
ZX_THREAD_STATE_RUNNING = 0x0001
ZX_THREAD_STATE_SUSPENDED = 0x0002
ZX_THREAD_STATE_BLOCKED = 0x0003
ZX_THREAD_STATE_DYING = 0x0004
ZX_THREAD_STATE_DEAD = 0x0005
ZX_THREAD_STATE_BLOCKED_EXCEPTION = 0x0103
ZX_THREAD_STATE_BLOCKED_SLEEPING = 0x0203
ZX_THREAD_STATE_BLOCKED_FUTEX = 0x0303
ZX_THREAD_STATE_BLOCKED_PORT = 0x0403
ZX_THREAD_STATE_BLOCKED_CHANNEL = 0x0503
ZX_THREAD_STATE_BLOCKED_WAIT_ONE = 0x0603
ZX_THREAD_STATE_BLOCKED_WAIT_MANY = 0x0703
ZX_THREAD_STATE_BLOCKED_INTERRUPT = 0x0803
ZX_THREAD_STATE_BLOCKED_PAGER = 0x0903
# Policy exception codes raised by queue limits (syscalls/exception.h).
ZX_EXCP_POLICY_CODE_CHANNEL_FULL_WRITE = 16
ZX_EXCP_POLICY_CODE_PORT_TOO_MANY_PACKETS = 17


@dataclass(slots=True)
class zx_info_timer_t(_Struct):
    """ZX_INFO_TIMER: create options, clock, armed deadline and slack (24 bytes)."""

    _FORMAT: ClassVar[str] = "<IIqq"
    options: int = 0
    clock_id: int = 0
    deadline: int = 0
    slack: int = 0


@dataclass(slots=True)
class zx_info_socket_t(_Struct):
    """ZX_INFO_SOCKET: options and both directions' buffer sizes (48 bytes)."""

    _FORMAT: ClassVar[str] = "<I4xQQQQQ"
    options: int = 0
    rx_buf_max: int = 0
    rx_buf_size: int = 0
    rx_buf_available: int = 0
    tx_buf_max: int = 0
    tx_buf_size: int = 0


@dataclass(slots=True)
class zx_channel_call_args_t:
    """The arguments of zx_channel_call / zx_channel_call_etc.

    `wr_bytes` is the request (its first 4 bytes are replaced by the kernel's txid);
    `wr_handles` the handles to send (handle values for zx_channel_call,
    `zx_handle_disposition_t` entries for zx_channel_call_etc, whose `result` is
    written); `rd_num_bytes` / `rd_num_handles` the capacity for the reply.
    """

    wr_bytes: Any = b""
    wr_handles: Any = ()
    rd_num_bytes: int = ZX_CHANNEL_MAX_MSG_BYTES
    rd_num_handles: int = ZX_CHANNEL_MAX_MSG_HANDLES


__all__ = sorted(
    name for name in dict(globals()) if name.startswith(("ZX_", "zx_")) and name != "zx_"
)


# ----------------------------------------------------------------------------- tasks
# zircon/system/public/zircon/{types.h,rights.h,syscalls/object.h,syscalls/exception.h}
ZX_DEFAULT_SUSPEND_TOKEN_RIGHTS = ZX_RIGHT_TRANSFER | ZX_RIGHT_INSPECT
ZX_DEFAULT_EXCEPTION_RIGHTS = ZX_RIGHT_TRANSFER | ZX_RIGHTS_PROPERTY | ZX_RIGHT_INSPECT
ZX_EXCEPTION_CHANNEL_RIGHTS = ZX_RIGHT_TRANSFER | ZX_RIGHT_WAIT | ZX_RIGHT_READ

ZX_JOB_NO_JOBS = 1 << 4
ZX_JOB_NO_PROCESSES = 1 << 5
ZX_JOB_NO_CHILDREN = 1 << 6  # kernel-internal in Zircon; its core-tests wait on it

ZX_TASK_RETCODE_SYSCALL_KILL = -1024
ZX_TASK_RETCODE_OOM_KILL = -1025
ZX_TASK_RETCODE_POLICY_KILL = -1026
ZX_TASK_RETCODE_VDSO_KILL = -1027
ZX_TASK_RETCODE_EXCEPTION_KILL = -1028
ZX_TASK_RETCODE_CRITICAL_PROCESS_KILL = -1029

ZX_PROCESS_SHARED = 1
ZX_JOB_CRITICAL_PROCESS_RETCODE_NONZERO = 1
ZX_MAX_JOB_HEIGHT = 32
ZX_PROCESS_MEMORY_MAX = 64 << 20  # bytes per zx_process_read/write_memory call

ZX_THREAD_STATE_NEW = 0x0000
ZX_THREAD_STATE_RUNNING = 0x0001
ZX_THREAD_STATE_SUSPENDED = 0x0002
ZX_THREAD_STATE_BLOCKED = 0x0003
ZX_THREAD_STATE_DYING = 0x0004
ZX_THREAD_STATE_DEAD = 0x0005
ZX_THREAD_STATE_BLOCKED_EXCEPTION = 0x0103
ZX_THREAD_STATE_BLOCKED_SLEEPING = 0x0203
ZX_THREAD_STATE_BLOCKED_FUTEX = 0x0303
ZX_THREAD_STATE_BLOCKED_PORT = 0x0403
ZX_THREAD_STATE_BLOCKED_CHANNEL = 0x0503
ZX_THREAD_STATE_BLOCKED_WAIT_ONE = 0x0603
ZX_THREAD_STATE_BLOCKED_WAIT_MANY = 0x0703
ZX_THREAD_STATE_BLOCKED_INTERRUPT = 0x0803
ZX_THREAD_STATE_BLOCKED_PAGER = 0x0903


def ZX_THREAD_STATE_BASIC(state: int) -> int:
    """The basic thread state (drops the BLOCKED_* reason)."""
    return state & 0xFF


ZX_EXCEPTION_CHANNEL_TYPE_NONE = 0
ZX_EXCEPTION_CHANNEL_TYPE_DEBUGGER = 1
ZX_EXCEPTION_CHANNEL_TYPE_THREAD = 2
ZX_EXCEPTION_CHANNEL_TYPE_PROCESS = 3
ZX_EXCEPTION_CHANNEL_TYPE_JOB = 4
ZX_EXCEPTION_CHANNEL_TYPE_JOB_DEBUGGER = 5

ZX_EXCEPTION_CHANNEL_DEBUGGER = 1
ZX_EXCEPTION_STATE_TRY_NEXT = 0
ZX_EXCEPTION_STATE_HANDLED = 1
ZX_EXCEPTION_STATE_THREAD_EXIT = 2
ZX_EXCEPTION_STRATEGY_FIRST_CHANCE = 0
ZX_EXCEPTION_STRATEGY_SECOND_CHANCE = 1
ZX_EXCEPTION_CHANNEL_JOB_DEBUGGER_MAX_COUNT = 32

ZX_EXCP_SYNTH = 0x8000
ZX_EXCP_GENERAL = 0x008
ZX_EXCP_FATAL_PAGE_FAULT = 0x108
ZX_EXCP_UNDEFINED_INSTRUCTION = 0x208
ZX_EXCP_SW_BREAKPOINT = 0x308
ZX_EXCP_HW_BREAKPOINT = 0x408
ZX_EXCP_UNALIGNED_ACCESS = 0x508
ZX_EXCP_THREAD_STARTING = 0x8008
ZX_EXCP_THREAD_EXITING = 0x8108
ZX_EXCP_POLICY_ERROR = 0x8208
ZX_EXCP_PROCESS_STARTING = 0x8308
ZX_EXCP_USER = 0x8309
# zx_thread_raise_exception: its one option, and the well-known ZX_EXCP_USER synth codes.
ZX_EXCEPTION_TARGET_JOB_DEBUGGER = 1
ZX_EXCP_USER_CODE_PROCESS_NAME_CHANGED = 0x0001
ZX_EXCP_USER_CODE_USER0 = 0xF000
ZX_EXCP_USER_CODE_USER1 = 0xF001
ZX_EXCP_USER_CODE_USER2 = 0xF002


def ZX_EXCP_IS_ARCH(excp: int) -> bool:
    """Whether an exception type is architectural (not synthetic)."""
    return not excp & ZX_EXCP_SYNTH


@dataclass(slots=True)
class zx_info_process_v1_t(_Struct):
    """ZX_INFO_PROCESS_V1 (the older 16-byte record)."""

    _FORMAT: ClassVar[str] = "<q???5x"
    return_code: int = 0
    started: bool = False
    exited: bool = False
    debugger_attached: bool = False


@dataclass(slots=True)
class zx_info_job_t(_Struct):
    """ZX_INFO_JOB."""

    _FORMAT: ClassVar[str] = "<q???5x"
    return_code: int = 0
    exited: bool = False
    kill_on_oom: bool = False
    debugger_attached: bool = False


@dataclass(slots=True)
class zx_info_thread_t(_Struct):
    """ZX_INFO_THREAD: state, exception channel type and CPU mask (8 words)."""

    _FORMAT: ClassVar[str] = "<II8Q"
    state: int = 0
    wait_exception_channel_type: int = 0
    m0: int = 0
    m1: int = 0
    m2: int = 0
    m3: int = 0
    m4: int = 0
    m5: int = 0
    m6: int = 0
    m7: int = 0


@dataclass(slots=True)
class zx_info_thread_stats_t(_Struct):
    """ZX_INFO_THREAD_STATS."""

    _FORMAT: ClassVar[str] = "<qI4x"
    total_runtime: int = 0
    last_scheduled_cpu: int = 0


ZX_INFO_INVALID_CPU = 0xFFFFFFFF


@dataclass(slots=True)
class zx_info_task_stats_t(_Struct):
    """ZX_INFO_TASK_STATS."""

    _FORMAT: ClassVar[str] = "<QQQQ"
    mem_mapped_bytes: int = 0
    mem_private_bytes: int = 0
    mem_shared_bytes: int = 0
    mem_scaled_shared_bytes: int = 0


@dataclass(slots=True)
class zx_exception_context_t(_Struct):
    """An exception's context (x86-64 layout): the architectural part, then the synthetic
    code and data (what zx_thread_raise_exception passes on; its `arch` part is ignored)."""

    _FORMAT: ClassVar[str] = "<QQQII"
    vector: int = 0
    err_code: int = 0
    cr2: int = 0
    synth_code: int = 0
    synth_data: int = 0


@dataclass(slots=True)
class zx_exception_info_t(_Struct):
    """The 24-byte message an exception channel delivers (with one exception handle)."""

    _FORMAT: ClassVar[str] = "<QQI4x"
    pid: int = 0
    tid: int = 0
    type: int = 0


# ----------------------------------------------------------------------------- job policy
# zircon/system/public/zircon/syscalls/policy.h
ZX_JOB_POL_RELATIVE = 0
ZX_JOB_POL_ABSOLUTE = 1
ZX_JOB_POL_BASIC_V1 = 0
ZX_JOB_POL_BASIC_V2 = 0x01000000
ZX_JOB_POL_BASIC = ZX_JOB_POL_BASIC_V1
ZX_JOB_POL_TIMER_SLACK = 1

ZX_POL_BAD_HANDLE = 0
ZX_POL_WRONG_OBJECT = 1
ZX_POL_VMAR_WX = 2
ZX_POL_NEW_ANY = 3
ZX_POL_NEW_VMO = 4
ZX_POL_NEW_CHANNEL = 5
ZX_POL_NEW_EVENT = 6
ZX_POL_NEW_EVENTPAIR = 7
ZX_POL_NEW_PORT = 8
ZX_POL_NEW_SOCKET = 9
ZX_POL_NEW_FIFO = 10
ZX_POL_NEW_TIMER = 11
ZX_POL_NEW_PROCESS = 12
ZX_POL_NEW_PROFILE = 13
ZX_POL_NEW_PAGER = 14
ZX_POL_AMBIENT_MARK_VMO_EXEC = 15
ZX_POL_NEW_IOB = 16
ZX_POL_MAX = 17  # kernel-internal: one past the last condition

ZX_POL_ACTION_ALLOW = 0
ZX_POL_ACTION_DENY = 1
ZX_POL_ACTION_ALLOW_EXCEPTION = 2
ZX_POL_ACTION_DENY_EXCEPTION = 3
ZX_POL_ACTION_KILL = 4

ZX_POL_OVERRIDE_ALLOW = 0
ZX_POL_OVERRIDE_DENY = 1

ZX_TIMER_SLACK_CENTER = 0
ZX_TIMER_SLACK_EARLY = 1
ZX_TIMER_SLACK_LATE = 2

ZX_JOB_POL_MAX_COUNT = 32  # entries per zx_job_set_policy call


@dataclass(slots=True)
class zx_policy_basic_v1_t(_Struct):
    """A ZX_JOB_POL_BASIC_V1 entry."""

    _FORMAT: ClassVar[str] = "<II"
    condition: int = 0
    policy: int = 0


@dataclass(slots=True)
class zx_policy_basic_v2_t(_Struct):
    """A ZX_JOB_POL_BASIC_V2 entry."""

    _FORMAT: ClassVar[str] = "<III"
    condition: int = 0
    action: int = 0
    flags: int = 0


@dataclass(slots=True)
class zx_policy_timer_slack_t(_Struct):
    """The ZX_JOB_POL_TIMER_SLACK entry."""

    _FORMAT: ClassVar[str] = "<qI4x"
    min_slack: int = 0
    default_mode: int = 0

ZX_INFO_TASK_RUNTIME_V1 = 30
ZX_INFO_TASK_RUNTIME = 30 | (1 << 28)


@dataclass(slots=True)
class zx_info_task_runtime_t(_Struct):
    """ZX_INFO_TASK_RUNTIME (v1 is the first two fields)."""

    _FORMAT: ClassVar[str] = "<qqqq"
    cpu_time: int = 0
    queue_time: int = 0
    page_fault_time: int = 0
    lock_contention_time: int = 0

# zx_thread_read_state / write_state kinds (zircon/syscalls/debug.h) and the sizes of
# their x86-64 records (microsim models an x86-64 register file).
ZX_THREAD_STATE_GENERAL_REGS = 0
ZX_THREAD_STATE_FP_REGS = 1
ZX_THREAD_STATE_VECTOR_REGS = 2
ZX_THREAD_STATE_DEBUG_REGS = 4
ZX_THREAD_STATE_SINGLE_STEP = 5
THREAD_STATE_SIZES = {
    ZX_THREAD_STATE_GENERAL_REGS: 160,  # rax..r15, rip, rflags, fs_base, gs_base
    ZX_THREAD_STATE_FP_REGS: 160,
    ZX_THREAD_STATE_VECTOR_REGS: 2120,
    ZX_THREAD_STATE_DEBUG_REGS: 48,
    ZX_THREAD_STATE_SINGLE_STEP: 4,
}

ZX_INFO_PROCESS_HANDLE_STATS = 21
ZX_INFO_THREAD_EXCEPTION_REPORT_V1 = 11
ZX_INFO_THREAD_EXCEPTION_REPORT = 11 | (1 << 28)


@dataclass(slots=True)
class zx_info_handle_extended_t(_Struct):
    """One ZX_INFO_HANDLE_TABLE entry."""

    _FORMAT: ClassVar[str] = "<IIII QQQ"
    type: int = 0
    handle_value: int = 0
    rights: int = 0
    reserved: int = 0
    koid: int = 0
    related_koid: int = 0
    peer_owner_koid: int = 0


@dataclass(slots=True)
class zx_info_process_handle_stats_t:
    """ZX_INFO_PROCESS_HANDLE_STATS: handles per object type (64 counters)."""

    handle_count: list[int] = field(default_factory=lambda: [0] * ZX_OBJ_TYPE_UPPER_BOUND)
    SIZE: ClassVar[int] = 4 * ZX_OBJ_TYPE_UPPER_BOUND

    def pack(self) -> bytes:
        """The record's 256 bytes."""
        return _struct.pack(f"<{ZX_OBJ_TYPE_UPPER_BOUND}I", *self.handle_count)


@dataclass(slots=True)
class zx_exception_report_t(_Struct):
    """ZX_INFO_THREAD_EXCEPTION_REPORT: header (size, type) and the x86-64 context."""

    _FORMAT: ClassVar[str] = "<IIQQQII"
    size: int = 40
    type: int = 0
    vector: int = 0
    err_code: int = 0
    cr2: int = 0
    synth_code: int = 0
    synth_data: int = 0
