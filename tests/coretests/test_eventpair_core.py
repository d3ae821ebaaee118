"""Ports of Zircon's eventpair core-tests (zircon/system/utest/core/event-pair/event-pair.cc)."""

from __future__ import annotations

from zxcore import get_signals, status_of

from microsim import zx
from microsim.objects.process import Process

U0, U1, U2, U3, U4 = (zx.ZX_USER_SIGNAL_0, zx.ZX_USER_SIGNAL_1, zx.ZX_USER_SIGNAL_2,
                      zx.ZX_USER_SIGNAL_3, zx.ZX_USER_SIGNAL_4)
PC = zx.ZX_EVENTPAIR_PEER_CLOSED
PAST = -(1 << 63)


def test_HandlesNotInvalid(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    assert a != zx.ZX_HANDLE_INVALID and b != zx.ZX_HANDLE_INVALID


def test_HandleRightsAreCorrect(p: Process) -> None:
    for h in p.zx.eventpair_create(0):
        info = p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC)
        assert info.rights == zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHT_SIGNAL | zx.ZX_RIGHT_SIGNAL_PEER
        assert info.type == zx.ZX_OBJ_TYPE_EVENTPAIR


def test_KoidsAreCorrect(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    ia, ib = (p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in (a, b))
    assert ia.koid and ib.koid and ia.koid == ib.related_koid and ib.koid == ia.related_koid


def test_CheckNoFlagsSupported(p: Process) -> None:
    before = len(p.handles)
    assert status_of(p.zx.eventpair_create, 1) == zx.ZX_ERR_NOT_SUPPORTED
    assert len(p.handles) == before


def test_SignalEventPairAndClearVerifySignals(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    assert get_signals(p, a) == 0 and get_signals(p, b) == 0
    p.zx.object_signal(a, 0, U0)
    assert get_signals(p, a) == U0 and get_signals(p, b) == 0
    p.zx.object_signal(a, U0, 0)
    assert get_signals(p, a) == 0 and get_signals(p, b) == 0


def test_SignalPeerAndVerifyRecived(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    p.zx.object_signal_peer(a, 0, U0)
    assert get_signals(p, a) == 0 and get_signals(p, b) == U0
    p.zx.object_signal_peer(b, 0, U1 | U2)
    assert get_signals(p, a) == U1 | U2 and get_signals(p, b) == U0
    p.zx.object_signal_peer(a, U0, U3 | U4)
    assert get_signals(p, a) == U1 | U2 and get_signals(p, b) == U3 | U4


def test_SignalPeerThenCloseAndVerifySignalReceived(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    p.zx.object_signal_peer(a, 0, U3 | U4)
    p.zx.handle_close(a)
    assert get_signals(p, b) == PC | U3 | U4


def test_SignalingClosedPeerReturnsPeerClosed(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    p.zx.handle_close(b)
    assert status_of(p.zx.object_signal_peer, a, 0, U0) == zx.ZX_ERR_PEER_CLOSED


def _reduced(p: Process, h: int, drop: int) -> int:
    rights = p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights
    return p.zx.handle_duplicate(h, rights & ~drop)  # type: ignore[no-any-return]


def test_SignalAccessDeniedMissingSignalRight(p: Process) -> None:
    a, _ = p.zx.eventpair_create(0)
    r = _reduced(p, a, zx.ZX_RIGHT_SIGNAL)
    assert status_of(p.zx.object_signal, r, 0, U0) == zx.ZX_ERR_ACCESS_DENIED


def test_SignalPeerAccessDeniedMissingSignalPeerRight(p: Process) -> None:
    a, _ = p.zx.eventpair_create(0)
    r = _reduced(p, a, zx.ZX_RIGHT_SIGNAL_PEER)
    assert status_of(p.zx.object_signal_peer, r, 0, U0) == zx.ZX_ERR_ACCESS_DENIED


def test_WaitAccessDeniedMissingWaitRight(p: Process) -> None:
    a, _ = p.zx.eventpair_create(0)
    r = _reduced(p, a, zx.ZX_RIGHT_WAIT)
    assert status_of(p.zx.object_wait_one, r, U0, PAST) == zx.ZX_ERR_ACCESS_DENIED


def test_DuplicateHandlesAndPeerClosed(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    d1 = p.zx.handle_duplicate(a, zx.ZX_RIGHT_SAME_RIGHTS)
    d2 = p.zx.handle_duplicate(a, zx.ZX_RIGHT_SAME_RIGHTS)
    p.zx.handle_close(a)
    assert get_signals(p, b) == 0
    p.zx.handle_close(d1)
    assert get_signals(p, b) == 0
    p.zx.object_signal_peer(d2, 0, U0)
    assert get_signals(p, b) == U0
    p.zx.handle_close(d2)
    assert get_signals(p, b) == PC | U0


def test_SignalSelfAfterPeerClosed(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    p.zx.handle_close(b)
    assert get_signals(p, a) == PC
    p.zx.object_signal(a, 0, U3)
    assert get_signals(p, a) == PC | U3
    p.zx.object_signal(a, U3, 0)
    assert get_signals(p, a) == PC


def test_InvalidSignalBits(p: Process) -> None:
    a, b = p.zx.eventpair_create(0)
    inv = zx.ZX_ERR_INVALID_ARGS
    assert status_of(p.zx.object_signal, a, 0, PC) == inv
    assert status_of(p.zx.object_signal, a, PC, 0) == inv
    assert status_of(p.zx.object_signal_peer, a, 0, PC) == inv
    assert status_of(p.zx.object_signal_peer, a, PC, 0) == inv
    for bit in (1 << 4, 1 << 23):
        assert status_of(p.zx.object_signal, a, 0, bit) == inv
        assert status_of(p.zx.object_signal_peer, a, 0, bit) == inv
    p.zx.object_signal(a, 0, zx.ZX_EVENT_SIGNALED)
    assert get_signals(p, a) == zx.ZX_EVENT_SIGNALED
    p.zx.object_signal(a, zx.ZX_EVENT_SIGNALED, 0)
    assert get_signals(p, a) == 0
    p.zx.object_signal_peer(a, 0, zx.ZX_EVENT_SIGNALED)
    assert get_signals(p, b) == zx.ZX_EVENT_SIGNALED
    p.zx.object_signal_peer(a, zx.ZX_EVENT_SIGNALED, 0)
    assert get_signals(p, b) == 0


def test_InvalidHandleAndWrongType(p: Process) -> None:
    assert status_of(p.zx.object_signal_peer, zx.ZX_HANDLE_INVALID, 0, U0) == zx.ZX_ERR_BAD_HANDLE
    e = p.zx.event_create(0)
    assert status_of(p.zx.object_signal_peer, e, 0, U0) == zx.ZX_ERR_ACCESS_DENIED
