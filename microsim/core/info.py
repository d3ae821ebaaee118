"""Info topics and properties: what plugins register, and the array-topic result type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from microsim.zx import InfoList as InfoList

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
