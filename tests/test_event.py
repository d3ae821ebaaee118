"""Events and eventpairs (Zircon's event-pair core-tests and the signal rules of ipc.md)."""

from __future__ import annotations

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

SIG = zx.ZX_EVENT_SIGNALED
PC = zx.ZX_EVENTPAIR_PEER_CLOSED
U0 = zx.ZX_USER_SIGNAL_0



def signals(p: Process, h: int) -> int:
    try:
        return p.zx.object_wait_one(h, 0xFFFFFFFF, 0)
    except ZxError as e:
        return e.observed  # type: ignore[no-any-return]


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["event", "eventpair"]).create_process("events")


def test_event_create_rights_and_options(p: Process) -> None:
    e = p.zx.event_create(0)
    info = p.zx.object_get_info(e, zx.ZX_INFO_HANDLE_BASIC)
    assert info.type == zx.ZX_OBJ_TYPE_EVENT and info.rights == 0xD003 and info.related_koid == 0
    assert signals(p, e) == 0
    assert status(p.zx.event_create, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.event_create, 2**32) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.event_create, "0") == zx.ZX_ERR_INVALID_ARGS


def test_event_signal_mask_and_order(p: Process) -> None:
    e = p.zx.event_create(0)
    p.zx.object_signal(e, 0, SIG | U0)
    assert signals(p, e) == SIG | U0
    # Clear first, then set.
    p.zx.object_signal(e, SIG | U0, SIG)
    assert signals(p, e) == SIG
    for bad in (zx.ZX_OBJECT_READABLE, PC, 1 << 4, zx.ZX_SIGNAL_HANDLE_CLOSED):
        assert status(p.zx.object_signal, e, 0, bad) == zx.ZX_ERR_INVALID_ARGS
        assert status(p.zx.object_signal, e, bad, 0) == zx.ZX_ERR_INVALID_ARGS
    assert signals(p, e) == SIG
    # No SIGNAL_PEER right: ACCESS_DENIED; without SIGNAL: ACCESS_DENIED.
    assert status(p.zx.object_signal_peer, e, 0, U0) == zx.ZX_ERR_ACCESS_DENIED
    ro = p.zx.handle_duplicate(e, zx.ZX_RIGHT_WAIT)
    assert status(p.zx.object_signal, ro, 0, U0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.object_signal, 0x1234, 0, U0) == zx.ZX_ERR_BAD_HANDLE


def test_event_wakes_a_waiting_thread(p: Process) -> None:
    k = p.kernel
    e = p.zx.event_create(0)
    seen: list[int] = []
    k.create_thread(p, lambda: seen.append(p.zx.object_wait_one(e, SIG, zx.ZX_TIME_INFINITE)))
    k.create_thread(p, lambda: p.zx.object_signal(e, 0, SIG))
    k.run()
    assert seen == [SIG]


def test_eventpair_create(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    ia, ib = (p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in (a, b))
    assert ia.type == ib.type == zx.ZX_OBJ_TYPE_EVENTPAIR
    assert ia.rights == ib.rights == 0xF003
    assert ia.related_koid == ib.koid and ib.related_koid == ia.koid
    assert signals(p, a) == signals(p, b) == 0
    # Zircon's CheckNoFlagsSupported: NOT_SUPPORTED, not INVALID_ARGS.
    assert status(p.zx.eventpair_create, 1) == zx.ZX_ERR_NOT_SUPPORTED
    assert status(p.zx.eventpair_create, -1) == zx.ZX_ERR_INVALID_ARGS


def test_eventpair_signal_and_signal_peer(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    p.zx.object_signal_peer(a, 0, SIG)
    assert signals(p, a) == 0 and signals(p, b) == SIG
    p.zx.object_signal(a, 0, U0)
    assert signals(p, a) == U0 and signals(p, b) == SIG
    p.zx.object_signal_peer(b, U0, 0)
    assert signals(p, a) == 0
    # PEER_CLOSED is not user-settable, on either side.
    assert status(p.zx.object_signal, a, 0, PC) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_signal_peer, a, 0, PC) == zx.ZX_ERR_INVALID_ARGS


def test_eventpair_peer_closed_keeps_signals(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    p.zx.object_signal_peer(a, 0, SIG | U0)
    p.zx.handle_close(a)
    assert signals(p, b) == SIG | U0 | PC
    # The survivor can still signal itself; signalling the peer is PEER_CLOSED, but a bad
    # mask wins over the closed peer.
    p.zx.object_signal(b, SIG, 0)
    assert signals(p, b) == U0 | PC
    assert status(p.zx.object_signal_peer, b, 0, U0) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.object_signal_peer, b, 0, 1 << 4) == zx.ZX_ERR_INVALID_ARGS


def test_eventpair_rights_checked(p: Process) -> None:
    a, _b = p.zx.eventpair_create(0)
    no_peer = p.zx.handle_duplicate(a, zx.ZX_RIGHT_SIGNAL | zx.ZX_RIGHT_WAIT)
    assert status(p.zx.object_signal_peer, no_peer, 0, U0) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.object_signal(no_peer, 0, U0)
    e = p.zx.event_create(0)
    # wait_one on a handle without WAIT.
    nowait = p.zx.handle_duplicate(e, zx.ZX_RIGHT_SIGNAL)
    assert status(p.zx.object_wait_one, nowait, SIG, 0) == zx.ZX_ERR_ACCESS_DENIED


def test_eventpair_closed_while_waiting(p: Process) -> None:
    k = p.kernel
    a, b = p.zx.eventpair_create(0)
    got: list[int] = []
    k.create_thread(p, lambda: got.append(p.zx.object_wait_one(b, PC, zx.ZX_TIME_INFINITE)))
    k.create_thread(p, lambda: p.zx.handle_close(a))
    k.run()
    assert got == [PC]
