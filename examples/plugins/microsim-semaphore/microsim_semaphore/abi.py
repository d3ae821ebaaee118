"""The semaphore's ABI: what a C header for it would declare.

Zircon has no semaphore, so its numbers come from the ranges microsim keeps for plugins
(`zx.MICROSIM_*`), and its signal is one of the per-type bits Zircon leaves unnamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from microsim import zx

# ZX_INFO_HANDLE_BASIC.type of a semaphore (plugin range 48..63).
SEMAPHORE_OBJ_TYPE = zx.MICROSIM_OBJ_TYPE_FIRST

# Asserted while the count is above zero (an acquire would not block).
SEMAPHORE_POSITIVE = zx.ZX_OBJECT_SIGNAL_4

# zx_object_get_info topic: a semaphore_info_t (plugin range 0x1000..0x1fff).
SEMAPHORE_INFO = zx.MICROSIM_INFO_TOPIC_FIRST

# zx_object_get/set_property: the maximum count, a uint64 (plugin range 0x1000..0x1fff).
SEMAPHORE_PROP_MAX = zx.MICROSIM_PROP_FIRST

# acquire needs ZX_RIGHT_WAIT; release and setting the maximum need ZX_RIGHT_WRITE.
SEMAPHORE_DEFAULT_RIGHTS = zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHT_WRITE | zx.ZX_RIGHTS_PROPERTY | zx.ZX_RIGHT_SIGNAL


@dataclass(slots=True)
class semaphore_info_t(zx.Struct):
    """SEMAPHORE_INFO: the count, the maximum and how many threads wait (24 bytes)."""

    FORMAT: ClassVar[str] = "<QQI4x"
    count: int = 0
    maximum: int = 0
    waiters: int = 0
