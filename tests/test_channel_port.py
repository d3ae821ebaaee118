"""Channels and ports (Zircon's channel.cc, handle-transfer.cc and port rules)."""

from __future__ import annotations

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

R = zx.ZX_CHANNEL_READABLE
W = zx.ZX_CHANNEL_WRITABLE
PC = zx.ZX_CHANNEL_PEER_CLOSED


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["vmo", "channel", "port"]).create_process("chan")



def signals(p: Process, h: int) -> int:
    try:
        return p.zx.object_wait_one(h, 0xFFFFFFFF, 0)
    except ZxError as e:
        return e.observed  # type: ignore[no-any-return]


def test_create_related_and_writable(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    ia, ib = (p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in (a, b))
    assert ia.related_koid == ib.koid and ib.related_koid == ia.koid
    assert ia.rights == zx.ZX_DEFAULT_CHANNEL_RIGHTS and not ia.rights & zx.ZX_RIGHT_DUPLICATE
    assert signals(p, a) == W and signals(p, b) == W
    assert status(p.zx.channel_create, 1) == zx.ZX_ERR_INVALID_ARGS


def test_write_read_and_signals(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    assert status(p.zx.channel_read, b, 0) == zx.ZX_ERR_SHOULD_WAIT
    p.zx.channel_write(a, 0, b"one", [])
    p.zx.channel_write(a, 0, b"two", [])
    assert signals(p, b) == R | W and signals(p, a) == W
    assert p.zx.channel_read(b, 0) == (b"one", [])
    assert p.zx.channel_read(b, 0) == (b"two", [])
    assert signals(p, b) == W


def test_buffer_too_small_keeps_or_discards(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    p.zx.channel_write(a, 0, b"12345", [])
    with pytest.raises(ZxError) as e:
        p.zx.channel_read(b, 0, 2, 0)
    assert e.value.status == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert (e.value.actual_bytes, e.value.actual_handles) == (5, 0)
    assert p.zx.channel_read(b, 0) == (b"12345", [])
    p.zx.channel_write(a, 0, b"12345", [])
    assert status(p.zx.channel_read, b, zx.ZX_CHANNEL_READ_MAY_DISCARD, 2, 0) == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert status(p.zx.channel_read, b, 0) == zx.ZX_ERR_SHOULD_WAIT


def test_peer_closed_rules(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    p.zx.channel_write(a, 0, b"left", [])
    p.zx.handle_close(a)
    assert signals(p, b) == R | PC  # WRITABLE cleared
    assert p.zx.channel_read(b, 0) == (b"left", [])
    assert status(p.zx.channel_read, b, 0) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.channel_write, b, 0, b"x", []) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.object_signal_peer, b, 0, zx.ZX_USER_SIGNAL_0) == zx.ZX_ERR_PEER_CLOSED


def test_handles_move_and_are_consumed_on_failure(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    v = p.zx.vmo_create(4096, 0)
    koid = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC).koid
    p.zx.channel_write(a, 0, b"", [v])
    assert status(p.zx.handle_close, v) == zx.ZX_ERR_BAD_HANDLE  # it left the table
    _, (nv,) = p.zx.channel_read(b, 0)
    assert nv != v and p.zx.object_get_info(nv, zx.ZX_INFO_HANDLE_BASIC).koid == koid
    # A non-transferable handle: ACCESS_DENIED and every handle is gone.
    keep = p.zx.vmo_create(4096, 0)
    nt = p.zx.handle_duplicate(nv, zx.ZX_RIGHT_READ)
    assert status(p.zx.channel_write, a, 0, b"", [keep, nt]) == zx.ZX_ERR_ACCESS_DENIED
    assert keep not in p.handles and nt not in p.handles
    # Repeated handles: BAD_HANDLE, consumed.
    d = p.zx.handle_duplicate(nv, zx.ZX_RIGHT_SAME_RIGHTS)
    assert status(p.zx.channel_write, a, 0, b"", [d, d]) == zx.ZX_ERR_BAD_HANDLE
    assert d not in p.handles
    # Too many handles: OUT_OF_RANGE, all consumed.
    many = [p.zx.handle_duplicate(nv, zx.ZX_RIGHT_SAME_RIGHTS) for _ in range(65)]
    assert status(p.zx.channel_write, a, 0, b"", many) == zx.ZX_ERR_OUT_OF_RANGE
    assert not set(many) & set(p.handles)
    assert status(p.zx.channel_write, a, 0, bytes(65537), []) == zx.ZX_ERR_OUT_OF_RANGE
    own = p.zx.channel_create(0)[0]
    assert status(p.zx.channel_write, own, 0, b"", [own]) == zx.ZX_ERR_NOT_SUPPORTED
    ro = p.zx.handle_duplicate(nv, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_TRANSFER)
    _, e_ro = p.zx.channel_create(0)
    assert status(p.zx.channel_write, p.zx.handle_replace(e_ro, zx.ZX_RIGHT_READ), 0, b"", [ro]) == zx.ZX_ERR_ACCESS_DENIED


def test_handles_in_unread_messages_are_closed_with_the_channel(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    c, d = p.zx.channel_create(0)
    p.zx.channel_write(a, 0, b"", [c])  # c in flight, queued to b
    p.zx.handle_close(b)  # b dies: c is closed, so d sees PEER_CLOSED
    assert signals(p, d) & PC


def test_read_etc_and_write_etc(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    v = p.zx.vmo_create(4096, 0)
    disp = zx.zx_handle_disposition_t(operation=zx.ZX_HANDLE_OP_MOVE, handle=v,
                                      rights=zx.ZX_RIGHT_READ | zx.ZX_RIGHT_TRANSFER)
    p.zx.channel_write_etc(a, 0, b"etc", [disp])
    data, (info,) = p.zx.channel_read_etc(b, 0)
    assert data == b"etc" and info.type == zx.ZX_OBJ_TYPE_VMO
    assert info.rights == zx.ZX_RIGHT_READ | zx.ZX_RIGHT_TRANSFER


def test_transfer_cancels_waits(make_kernel) -> None:  # type: ignore[no-untyped-def]
    """HandleTransferTest.CancelsWait: a waiting thread sees ZX_ERR_CANCELED."""
    k = make_kernel(plugins=["vmo", "channel"])
    p = k.create_process("a")
    a, _b = p.zx.channel_create(0)
    ev, _ = p.zx.channel_create(0)
    results: list[tuple[int, int]] = []

    def waiter() -> None:
        try:
            p.zx.object_wait_one(ev, zx.ZX_USER_SIGNAL_0, zx.ZX_TIME_INFINITE)
        except ZxError as e:
            results.append((e.status, e.observed))

    def mover() -> None:
        p.zx.channel_write(a, 0, b"", [ev])

    k.create_thread(p, waiter)
    k.create_thread(p, mover)
    k.run()
    assert results and results[0][0] == zx.ZX_ERR_CANCELED
    assert results[0][1] & zx.ZX_SIGNAL_HANDLE_CLOSED


def test_ports(p: Process) -> None:
    port = p.zx.port_create(0)
    a, b = p.zx.channel_create(0)
    assert status(p.zx.port_wait, port, 0) == zx.ZX_ERR_TIMED_OUT
    p.zx.object_wait_async(b, port, 1, R, 0)
    p.zx.channel_write(a, 0, b"x", [])
    pkt = p.zx.port_wait(port, 0)
    assert (pkt.key, pkt.type, pkt.signal.trigger, pkt.signal.observed) == (1, zx.ZX_PKT_TYPE_SIGNAL_ONE, R, R | W)
    # One-shot: no second packet for the same registration.
    p.zx.channel_write(a, 0, b"y", [])
    assert status(p.zx.port_wait, port, 0) == zx.ZX_ERR_TIMED_OUT
    # Already asserted: queued at once, unless EDGE.
    p.zx.object_wait_async(b, port, 2, R, 0)
    assert p.zx.port_wait(port, 0).key == 2
    p.zx.object_wait_async(b, port, 3, R, zx.ZX_WAIT_ASYNC_EDGE)
    assert status(p.zx.port_wait, port, 0) == zx.ZX_ERR_TIMED_OUT
    p.zx.port_cancel(port, b, 3)
    assert status(p.zx.port_cancel, port, b, 3) == zx.ZX_ERR_NOT_FOUND
    p.zx.port_queue(port, zx.zx_port_packet_t(key=9, user=zx.zx_packet_user_t.from_bytes(b"hi")))
    user = p.zx.port_wait(port, 0)
    assert user.type == zx.ZX_PKT_TYPE_USER and user.key == 9
    assert status(p.zx.object_wait_one, port, 1, 0) == zx.ZX_ERR_ACCESS_DENIED  # ports lack WAIT
    assert status(p.zx.object_wait_async, b, port, 1, R, 0x80) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_wait_async, b, a, 1, R, 0) == zx.ZX_ERR_WRONG_TYPE
