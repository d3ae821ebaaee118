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
    # Checked by the kernel before get/set run, like an info topic's: the object's class
    # (ZX_ERR_WRONG_TYPE), rights beyond ZX_RIGHT_GET/SET_PROPERTY (ZX_ERR_ACCESS_DENIED)
    # for both, and more rights for set only.
    cls: type[KernelObject] | None = None
    rights: int = 0
    set_rights: int = 0
    # The value's size in bytes: a get with a smaller `value_size` is ZX_ERR_BUFFER_TOO_SMALL,
    # checked before the class, in Zircon's order (0: the getter checks it itself).
    size: int = 0
