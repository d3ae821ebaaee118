"""Info topics and properties: what plugins register, and the array-topic result type."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from microsim.core.handle import Handle
    from microsim.core.object import KernelObject
    from microsim.objects.process import Process

InfoHandler = Callable[["Process", "Handle", "int | None"], Any]


@dataclass
class InfoTopic:
    """A registered zx_object_get_info topic."""

    topic: int
    name: str
    handler: InfoHandler
    cls: type[KernelObject] | None
    rights: int
    plugin: str


@dataclass
class PropertySpec:
    """A registered object property."""

    prop_id: int
    name: str
    get: Callable[..., Any] | None
    set: Callable[..., Any] | None
    plugin: str


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
            n = min(n, buffer_size // record_size)
        return cls(records[:n], avail=len(records))
