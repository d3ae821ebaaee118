"""Handles: a reference to a kernel object with a set of rights, owned by one process.

A handle in flight (inside a channel message) has no owner and no value, but still counts
toward its object's handle count, as in Zircon.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from microsim.core.object import KernelObject
    from microsim.objects.process import Process


class Handle:
    """A (object, rights) pair; `value` is its number in the owner's handle table."""

    __slots__ = ("obj", "owner", "rights", "value")

    def __init__(self, obj: KernelObject, rights: int) -> None:
        # Typed Any: syscalls reach it after `Process.lookup` checked its class at run
        # time, and then use it as that class.
        self.obj: Any = obj
        self.rights = rights
        self.value = 0
        self.owner: Process | None = None

    def __repr__(self) -> str:
        return (
            f"<Handle 0x{self.value:08x} {self.obj.type_name} koid={self.obj.koid} "
            f"rights=0x{self.rights:x}>"
        )


# Handle values look like Zircon's: (index << 2 | 0b11) XOR a random mask that leaves the
# low two bits alone. The index goes through an odd multiplier modulo 2**30 first, so
# consecutive handles do not get neighbouring values; the map is a bijection, so values stay
# unique for 2**30 allocations and a closed value is not handed out again for that long.
_INDEX_BITS = 30
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_SCRAMBLE = 0x2545F491  # odd


_BLOCK = 4096


def encode_handle_value(index: int, mask: int) -> int:
    """The handle value for the `index`-th handle allocated by a kernel with `mask`."""
    scrambled = (index * _SCRAMBLE) & _INDEX_MASK
    return ((scrambled << 2) | 0b11) ^ mask


def _value_block(mask: int, first: int) -> list[int]:
    return [((((i * _SCRAMBLE) & _INDEX_MASK) << 2) | 0b11) ^ mask for i in range(first, first + _BLOCK)]


def handle_values(mask: int) -> Iterator[int]:
    """Every handle value of a kernel with `mask`, in allocation order (index 1, 2, ...).

    Values are made in blocks of 4,096 by one comprehension and handed out by C-level
    iterators, so taking the next one costs no Python frame: handle creation is on every
    hot path. `encode_handle_value` states the same mapping one value at a time.
    """
    return itertools.chain.from_iterable(map(functools.partial(_value_block, mask),
                                             itertools.count(1, _BLOCK)))
