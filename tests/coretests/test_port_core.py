"""Ports of Zircon's port core-tests (zircon/system/utest/core/port/ports.cc)."""

from __future__ import annotations

from zxcore import keep_alive, status_of

from microsim import ZxError, zx
from microsim.objects.process import Process

INF = zx.ZX_TIME_INFINITE
PAST = -(1 << 63)
R = zx.ZX_CHANNEL_READABLE
PC = zx.ZX_CHANNEL_PEER_CLOSED
ES = zx.ZX_EVENT_SIGNALED


def drain(p: Process, port: int) -> list[zx.zx_port_packet_t]:
    out = []
    while True:
        try:
            out.append(p.zx.port_wait(port, PAST))
        except ZxError as e:
            assert e.status == zx.ZX_ERR_TIMED_OUT
            return out


def test_QueueNullPtrReturnsInvalidArgs(p: Process) -> None:
    port = p.zx.port_create(0)
    assert status_of(p.zx.port_queue, port, None) == zx.ZX_ERR_INVALID_ARGS


def test_QueueWaitVerifyUserPacket(p: Process) -> None:
    port = p.zx.port_create(0)
    user = zx.zx_packet_user_t(1, 2, 3, 4)
    p.zx.port_queue(port, zx.zx_port_packet_t(key=12, type=zx.ZX_PKT_TYPE_USER + 5, status=-3, user=user))
    out = p.zx.port_wait(port, INF)
    assert (out.key, out.type, out.status) == (12, zx.ZX_PKT_TYPE_USER, -3)
    assert out.user == user


def test_PortTimeout(p: Process) -> None:
    port = p.zx.port_create(0)
    assert status_of(p.zx.port_wait, port, p.zx.deadline_after(1)) == zx.ZX_ERR_TIMED_OUT


def test_QueueAndClose(p: Process) -> None:
    port = p.zx.port_create(0)
    p.zx.port_queue(port, zx.zx_port_packet_t(key=1, type=zx.ZX_PKT_TYPE_USER, user=zx.zx_packet_user_t()))
    p.zx.handle_close(port)


def test_AsyncWaitChannelTimedOut(p: Process) -> None:
    port = p.zx.port_create(0)
    _, b = p.zx.channel_create(0)
    p.zx.object_wait_async(b, port, 6567, R, 0)
    assert status_of(p.zx.port_wait, port, p.zx.deadline_after(200_000)) == zx.ZX_ERR_TIMED_OUT


def test_AsyncWaitChannel(p: Process) -> None:
    port = p.zx.port_create(0)
    a, b = p.zx.channel_create(0)
    p.zx.object_wait_async(b, port, 6567, R, 0)
    assert status_of(p.zx.port_wait, port, p.zx.deadline_after(200_000)) == zx.ZX_ERR_TIMED_OUT
    p.zx.channel_write(a, 0, b"here", [])
    out = p.zx.port_wait(port, INF)
    assert out.key == 6567 and out.type == zx.ZX_PKT_TYPE_SIGNAL_ONE
    assert out.signal.observed == zx.ZX_CHANNEL_WRITABLE | R
    assert out.signal.trigger == R and out.signal.count == 1
    assert status_of(p.zx.channel_read, b, zx.ZX_CHANNEL_READ_MAY_DISCARD, 0, 0) == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert status_of(p.zx.port_wait, port, p.zx.deadline_after(200_000)) == zx.ZX_ERR_TIMED_OUT
    p.zx.object_wait_async(b, port, 6567, R, 0)
    assert status_of(p.zx.port_wait, port, 0) == zx.ZX_ERR_TIMED_OUT  # the message was discarded


def test_AsyncWaitCloseOrder(p: Process) -> None:
    for order in ((1, 0, 2), (1, 2, 0), (0, 2, 1), (0, 1, 2), (2, 0, 1), (2, 1, 0)):
        port = p.zx.port_create(0)
        a, b = p.zx.channel_create(0)
        handles = (a, b, port)
        p.zx.object_wait_async(b, port, 1122, R | PC, 0)
        for i in order:
            p.zx.handle_close(handles[i])
    assert not list(p.kernel.live_objects("port"))


def test_EventAsyncSignalWaitSingle(p: Process) -> None:
    port = p.zx.port_create(0)
    ev = p.zx.event_create(0)
    for ix in range(7):
        p.zx.object_wait_async(ev, port, ix, ES, 0)
    p.zx.object_signal(ev, 0, ES)
    key_sum = 0
    for _ in range(5):
        out = p.zx.port_wait(port, INF)
        key_sum += out.key
        assert out.type == zx.ZX_PKT_TYPE_SIGNAL_ONE and out.signal.count == 1
    assert key_sum == 20  # Zircon notifies the newest observer first: keys 6..2


def test_AsyncWaitEventRepeat(p: Process) -> None:
    port = p.zx.port_create(0)
    ev = p.zx.event_create(0)
    count = [0, 0, 0]
    for ix in range(24):
        p.zx.object_wait_async(ev, port, 1122, ES | zx.ZX_USER_SIGNAL_2, 0)
        ub = 0 if ix % 2 else zx.ZX_USER_SIGNAL_2
        p.zx.object_signal(ev, 0, ES | ub)
        p.zx.object_signal(ev, ES | ub, 0)
        packet = p.zx.port_wait(port, PAST)
        assert packet.type == zx.ZX_PKT_TYPE_SIGNAL_ONE and packet.signal.count == 1
        count[0] += bool(packet.signal.observed & ES)
        count[1] += bool(packet.signal.observed & zx.ZX_USER_SIGNAL_2)
        count[2] += bool(packet.signal.observed & ~(ES | zx.ZX_USER_SIGNAL_2))
    assert count == [24, 12, 0]


def test_AsyncWaitEventManyAllProcessed(make_kernel) -> None:  # type: ignore[no-untyped-def]
    # Invariant checks after each of these 50,000 syscalls would make this quadratic.
    p = make_kernel(check_invariants=False, capture=False).create_process("many")
    port = p.zx.port_create(0)
    n = 16 * 1024 + 1  # one more than Zircon's packet arena
    for _ in range(n):
        ev = p.zx.event_create(0)
        p.zx.object_wait_async(ev, port, 6567, ES, 0)
        p.zx.object_signal(ev, 0, ES)
    packets = drain(p, port)
    assert len(packets) == n
    assert all(pk.key == 6567 and pk.type == zx.ZX_PKT_TYPE_SIGNAL_ONE and pk.signal.observed == ES
               and pk.signal.trigger == ES and pk.signal.count == 1 for pk in packets)


def test_AsyncWaitInvalidOption(p: Process) -> None:
    port = p.zx.port_create(0)
    ev = p.zx.event_create(0)
    assert status_of(p.zx.object_wait_async, ev, port, 0, ES, 20) == zx.ZX_ERR_INVALID_ARGS


def test_ChannelAsyncWaitOnExistingStateIsNotified(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    for _ in range(5):
        p.zx.channel_write(a, 0, b"123456", [])
    p.zx.handle_close(a)
    port = p.zx.port_create(0)
    p.zx.object_wait_async(b, port, 65667, R | PC, 0)
    packet = p.zx.port_wait(port, PAST)
    assert packet.signal.count == 1
    assert packet.signal.trigger == R | PC and packet.signal.observed == R | PC
    assert status_of(p.zx.port_wait, port, PAST) == zx.ZX_ERR_TIMED_OUT


def test_CancelEventKey(p: Process) -> None:
    port = p.zx.port_create(0)
    ev = p.zx.event_create(0)
    keys = (128, 13, 7, 13)
    for k in keys:
        p.zx.object_wait_async(ev, port, k, ES, 0)
    p.zx.port_cancel(port, ev, 13)
    for _ in range(2):
        p.zx.object_signal(ev, 0, ES)
        p.zx.object_signal(ev, ES, 0)
    packets = drain(p, port)
    assert all(pk.signal.trigger == ES and pk.signal.observed == ES for pk in packets)
    assert status_of(p.zx.port_cancel, port, ev, 128) == zx.ZX_ERR_NOT_FOUND
    assert len(packets) == 2 and sum(pk.key for pk in packets) == keys[0] + keys[2]


def test_CancelEventKeyAfter(p: Process) -> None:
    port = p.zx.port_create(0)
    keys = (128, 3, 3)
    evs = [p.zx.event_create(0) for _ in keys]
    for ev, k in zip(evs, keys):
        p.zx.object_wait_async(ev, port, k, ES, 0)
    p.zx.object_signal(evs[0], 0, ES)
    p.zx.object_signal(evs[1], 0, ES)
    p.zx.port_cancel(port, evs[1], 3)
    p.zx.port_cancel(port, evs[2], 3)
    p.zx.object_signal(evs[2], 0, ES)
    packets = drain(p, port)
    assert [pk.key for pk in packets] == [128]


def test_Timestamp(p: Process) -> None:
    port = p.zx.port_create(0)
    e0, e1 = p.zx.event_create(0), p.zx.event_create(0)
    p.zx.object_wait_async(e0, port, 1, ES, zx.ZX_WAIT_ASYNC_TIMESTAMP)
    p.zx.object_wait_async(e1, port, 2, ES, 0)
    before = p.zx.clock_get_monotonic()
    p.zx.object_signal(e0, 0, ES)
    after = p.zx.clock_get_monotonic()
    p.zx.object_signal(e1, 0, ES)
    k0, k1 = p.zx.port_wait(port, INF), p.zx.port_wait(port, INF)
    assert k0.signal.trigger == ES and k1.signal.trigger == ES
    assert before <= k0.signal.timestamp <= after
    assert k1.signal.timestamp == 0


def test_EdgeTriggerDetected(p: Process) -> None:
    port = p.zx.port_create(0)
    ev = p.zx.event_create(0)
    p.zx.object_wait_async(ev, port, 2, ES, zx.ZX_WAIT_ASYNC_EDGE)
    release = keep_alive(p)
    p.kernel.create_thread(p, lambda: (p.zx.nanosleep(p.zx.deadline_after(600_000)),
                                       p.zx.object_signal(ev, 0, ES)))
    packet = p.zx.port_wait(port, INF)
    assert packet.status == zx.ZX_OK and packet.type == zx.ZX_PKT_TYPE_SIGNAL_ONE
    assert packet.signal.observed == ES and packet.key == 2
    release()


def test_EdgeTriggerCancel(p: Process) -> None:
    port = p.zx.port_create(0)
    ev = p.zx.event_create(0)
    for key in (42, 999, 2020):
        p.zx.object_wait_async(ev, port, key, ES, zx.ZX_WAIT_ASYNC_EDGE)
    p.zx.port_cancel(port, ev, 999)
    p.zx.object_signal(ev, 0, ES)
    p.zx.port_cancel(port, ev, 2020)
    packet = p.zx.port_wait(port, INF)
    assert packet.status == zx.ZX_OK and packet.signal.observed == ES and packet.key == 42
    assert status_of(p.zx.port_wait, port, p.zx.deadline_after(600_000)) == zx.ZX_ERR_TIMED_OUT


def test_EdgeTriggerTimeout(p: Process) -> None:
    port = p.zx.port_create(0)
    ev = p.zx.event_create(0)
    p.zx.object_signal(ev, 0, ES)
    p.zx.object_wait_async(ev, port, 1, ES, zx.ZX_WAIT_ASYNC_EDGE)
    assert status_of(p.zx.port_wait, port, p.zx.deadline_after(600_000)) == zx.ZX_ERR_TIMED_OUT


def test_CloseQueueRace(p: Process) -> None:
    # Without a real race: a queue through the closed port's handle is BAD_HANDLE.
    port = p.zx.port_create(0)
    pkt = zx.zx_port_packet_t(key=1, type=zx.ZX_PKT_TYPE_USER, user=zx.zx_packet_user_t())
    p.zx.port_queue(port, pkt)
    p.zx.handle_close(port)
    assert status_of(p.zx.port_queue, port, pkt) == zx.ZX_ERR_BAD_HANDLE
    assert status_of(p.zx.port_wait, port, PAST) == zx.ZX_ERR_BAD_HANDLE
