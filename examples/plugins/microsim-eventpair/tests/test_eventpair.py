"""The eventpair plugin's tests, using microsim's pytest kit and conformance suite."""

from __future__ import annotations

import pytest

from microsim import ZxError, zx
from microsim.testing.conformance import conformance_suite

TestConformance = conformance_suite(
    plugins=["eventpair"],
    factories={
        "event": lambda p: p.zx.event_create(0),
        "eventpair": lambda p: p.zx.eventpair_create(0),
    },
)


@pytest.fixture
def proc(make_kernel):  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["eventpair"]).create_process("events")


def test_event_signals(proc) -> None:  # type: ignore[no-untyped-def]
    e = proc.zx.event_create(0)
    proc.zx.object_signal(e, 0, zx.ZX_EVENT_SIGNALED)
    assert proc.zx.object_wait_one(e, zx.ZX_EVENT_SIGNALED, 0) == zx.ZX_EVENT_SIGNALED
    with pytest.raises(ZxError) as err:
        proc.zx.object_signal(e, 0, zx.ZX_OBJECT_PEER_CLOSED)
    assert err.value.status == zx.ZX_ERR_INVALID_ARGS
    with pytest.raises(ZxError) as err:
        proc.zx.event_create(1)
    assert err.value.status == zx.ZX_ERR_INVALID_ARGS


def test_eventpair_signal_peer_and_trace(proc, make_kernel) -> None:  # type: ignore[no-untyped-def]
    from microsim.testing import TraceCapture

    trace = TraceCapture(proc.kernel)
    a, b = proc.zx.eventpair_create(0)
    proc.zx.object_signal_peer(a, 0, zx.ZX_EVENTPAIR_SIGNALED)
    assert proc.zx.object_wait_one(b, zx.ZX_EVENTPAIR_SIGNALED, 0) & zx.ZX_EVENTPAIR_SIGNALED
    proc.zx.handle_close(a)
    assert proc.zx.object_wait_one(b, zx.ZX_EVENTPAIR_PEER_CLOSED, 0) & zx.ZX_EVENTPAIR_PEER_CLOSED
    trace.assert_event("syscall", name="zx_eventpair_create", status=0)
    trace.assert_event("object_destroyed", type="eventpair")
