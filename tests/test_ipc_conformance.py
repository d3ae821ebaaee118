"""The conformance kit run against every IPC and synchronisation object type."""

from __future__ import annotations

from typing import Any

from microsim import Kernel
from microsim.testing.conformance import conformance_suite

PLUGINS = ["system", "futex", "timer", "socket", "fifo", "event", "eventpair", "counter"]

FACTORIES: dict[str, Any] = {
    "event": lambda p: p.zx.event_create(0),
    "eventpair": lambda p: p.zx.eventpair_create(0),
    "counter": lambda p: p.zx.counter_create(0),
    "fifo": lambda p: p.zx.fifo_create(4, 8, 0),
    "socket": lambda p: p.zx.socket_create(0),
    "timer": lambda p: p.zx.timer_create(0, 0),
}

TestIpcConformance = conformance_suite(plugins=PLUGINS, factories=FACTORIES)


def test_every_ipc_type_has_a_factory() -> None:
    with Kernel(plugins=PLUGINS) as k:
        types = {t for rec in k.plugins.values() if rec.name != "core" for t in rec.object_types}
    assert types == set(FACTORIES)
