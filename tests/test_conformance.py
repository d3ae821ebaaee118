"""The conformance kit run against every object type the built-in plugins register."""

from __future__ import annotations

from microsim import zx
from microsim.objects.process import Process
from microsim.testing.conformance import Blocking, conformance_suite


def make_vmo(p: Process) -> int:
    return p.zx.vmo_create(zx.ZX_PAGE_SIZE, 0)  # type: ignore[no-any-return]


def make_iob(p: Process) -> tuple[int, int]:
    region = zx.zx_iob_region_t(type=zx.ZX_IOB_REGION_TYPE_PRIVATE, access=0x33, size=zx.ZX_PAGE_SIZE)
    return p.zx.iob_create(0, [region])  # type: ignore[no-any-return]


def make_shared_region(p: Process) -> int:
    return p.zx.iob_create_shared_region(0, 2 * zx.ZX_PAGE_SIZE)  # type: ignore[no-any-return]


def make_channel(p: Process) -> tuple[int, int]:
    return p.zx.channel_create(0)  # type: ignore[no-any-return]


def make_port(p: Process) -> int:
    return p.zx.port_create(0)  # type: ignore[no-any-return]


TestBuiltinConformance = conformance_suite(
    plugins=["vmo", "iob", "channel", "port"],
    factories={
        "vmo": make_vmo,
        "iob": make_iob,
        "iob_shared_region": make_shared_region,
        "channel": make_channel,
        "port": make_port,
    },
    # Zircon's port_wait is not cancelled by closing the port's handle.
    blocking={"port_wait": Blocking("port", lambda p, h, deadline: p.zx.port_wait(h, deadline),
                                    cancel_on_close=False)},
)


def test_every_registered_type_has_a_factory() -> None:
    from microsim import Kernel

    with Kernel(plugins=["vmo", "iob", "channel", "port"]) as k:
        plugin_types = {t for rec in k.plugins.values() if rec.name != "core" for t in rec.object_types}
    assert plugin_types == {"vmo", "iob", "iob_shared_region", "channel", "port"}
