"""Hooks the VMO plugin offers other plugins (added through `register_hookspecs`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from microsim.hookspecs import hookspec

if TYPE_CHECKING:
    from microsim.kernel import Kernel
    from microsim.objects.process import Process


@hookspec
def vmo_first_child(kernel: Kernel, vmo: Any) -> None:
    """A VMO got its first direct child (ZX_VMO_ZERO_CHILDREN was just cleared)."""


@hookspec
def vmo_zero_children(kernel: Kernel, vmo: Any) -> None:
    """A VMO's last direct child went away (ZX_VMO_ZERO_CHILDREN was just asserted).

    Per-VMO observers (`Vmo.set_child_observer`, Zircon's VmObjectChildObserver) are
    told first; this hook is for plugins that watch every VMO.
    """


@hookspec
def process_vmos(kernel: Kernel, process: Process, add: Callable[[Any], None]) -> None:
    """Contribute ZX_INFO_PROCESS_VMOS entries: `add(zx_info_vmo_t)` for each VMO the
    process reaches through a plugin's objects (the IOB plugin adds its regions)."""
