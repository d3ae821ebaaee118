"""zx_channel_call / _etc (Zircon's call_etc core-tests), channel and port limits, and the
simulated-memory charge of queued messages and packets."""

from __future__ import annotations

import pytest
from microsim_channel import MAX_PENDING_MESSAGES, MESSAGE_OVERHEAD
from microsim_port import MAX_USER_PACKETS, PACKET_BYTES

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

R = zx.ZX_CHANNEL_READABLE
Args = zx.zx_channel_call_args_t



@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["channel", "port", "event"]).create_process("call")


def server(p: Process, h: int, reply: bytes = b"pong", count: int = 1) -> None:
    """Answer `count` requests: the reply echoes the request's txid."""
    for _ in range(count):
        p.zx.object_wait_one(h, R | zx.ZX_CHANNEL_PEER_CLOSED, zx.ZX_TIME_INFINITE)
        data, _ = p.zx.channel_read(h)
        p.zx.channel_write(h, 0, data[:4] + reply, [])


def test_call_gets_the_reply_with_its_txid(p: Process) -> None:
    k = p.kernel
    a, b = p.zx.channel_create(0)
    got: list[tuple[bytes, list[int]]] = []
    seen: list[bytes] = []

    def srv() -> None:
        p.zx.object_wait_one(b, R, zx.ZX_TIME_INFINITE)
        data, _ = p.zx.channel_read(b)
        seen.append(data)
        # A message with a user txid and one with another kernel txid are not the reply.
        p.zx.channel_write(b, 0, b"\x01\x00\x00\x00other", [])
        p.zx.channel_write(b, 0, (int.from_bytes(data[:4], "little") ^ 1).to_bytes(4, "little") + b"x", [])
        p.zx.channel_write(b, 0, data[:4] + b"reply", [])

    queued: list[object] = []

    def cli() -> None:
        got.append(p.zx.channel_call(a, 0, zx.ZX_TIME_INFINITE, Args(b"\0\0\0\0ping")))
        # The non-matching messages went to the queue.
        queued.append(p.zx.channel_read(a)[0])
        queued.append(p.zx.channel_read(a)[0][4:])
        queued.append(status(p.zx.channel_read, a))

    k.create_thread(p, cli)
    k.create_thread(p, srv)
    k.run()
    txid = int.from_bytes(seen[0][:4], "little")
    assert txid >= 0x80000000 and seen[0][4:] == b"ping"
    assert got == [(seen[0][:4] + b"reply", [])]
    assert queued == [b"\x01\x00\x00\x00other", b"x", zx.ZX_ERR_SHOULD_WAIT]


def test_call_moves_handles_both_ways(p: Process) -> None:
    k = p.kernel
    a, b = p.zx.channel_create(0)
    e = p.zx.event_create(0)
    ekoid = p.zx.object_get_info(e, zx.ZX_INFO_HANDLE_BASIC).koid
    out: list[object] = []

    def srv() -> None:
        p.zx.object_wait_one(b, R, zx.ZX_TIME_INFINITE)
        data, hs = p.zx.channel_read(b)
        p.zx.channel_write(b, 0, data[:4], hs)

    def cli() -> None:
        d = zx.zx_handle_disposition_t(zx.ZX_HANDLE_OP_MOVE, e, zx.ZX_OBJ_TYPE_EVENT, zx.ZX_RIGHT_SAME_RIGHTS, 0)
        _, infos = p.zx.channel_call_etc(a, 0, zx.ZX_TIME_INFINITE, Args(b"1234", [d]))
        out.extend((len(infos), infos[0].type, infos[0].rights,
                    p.zx.object_get_info(infos[0].handle, zx.ZX_INFO_HANDLE_BASIC).koid,
                    status(p.zx.handle_close, e)))

    k.create_thread(p, cli)
    k.create_thread(p, srv)
    k.run()
    assert out == [1, zx.ZX_OBJ_TYPE_EVENT, zx.ZX_DEFAULT_EVENT_RIGHTS, ekoid, zx.ZX_ERR_BAD_HANDLE]


def test_call_timeout_then_late_reply_is_queued(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    assert status(p.zx.channel_call, a, 0, p.zx.deadline_after(5000), Args(b"0000req")) == zx.ZX_ERR_TIMED_OUT
    data, _ = p.zx.channel_read(b)
    p.zx.channel_write(b, 0, data[:4] + b"late", [])
    assert p.zx.object_wait_one(a, R, 0) & R
    assert p.zx.channel_read(a)[0][4:] == b"late"
    # A deadline already past still sends the request.
    assert status(p.zx.channel_call, a, 0, 0, Args(b"0000again")) == zx.ZX_ERR_TIMED_OUT
    assert p.zx.channel_read(b)[0][4:] == b"again"


def test_call_peer_closed_before_and_during(p: Process) -> None:
    k = p.kernel
    a, b = p.zx.channel_create(0)
    e = p.zx.event_create(0)
    p.zx.handle_close(b)
    assert status(p.zx.channel_call, a, 0, zx.ZX_TIME_INFINITE, Args(b"0000", [e])) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.handle_close, e) == zx.ZX_ERR_BAD_HANDLE  # consumed
    a, b = p.zx.channel_create(0)
    res: list[int] = []

    def cli() -> None:
        try:
            p.zx.channel_call(a, 0, zx.ZX_TIME_INFINITE, Args(b"0000"))
        except ZxError as err:
            res.append(err.status)

    def closer() -> None:
        p.zx.object_wait_one(b, R, zx.ZX_TIME_INFINITE)
        p.zx.handle_close(b)

    k.create_thread(p, cli)
    k.create_thread(p, closer)
    k.run()
    assert res == [zx.ZX_ERR_PEER_CLOSED]


def test_call_canceled_when_calling_end_closes(p: Process) -> None:
    k = p.kernel
    a, _b = p.zx.channel_create(0)
    res: list[int] = []

    def cli() -> None:
        try:
            p.zx.channel_call(a, 0, zx.ZX_TIME_INFINITE, Args(b"0000"))
        except ZxError as err:
            res.append(err.status)

    k.create_thread(p, cli)
    k.create_thread(p, lambda: p.zx.handle_close(a))
    k.run()
    assert res == [zx.ZX_ERR_CANCELED]


def test_call_blocked_thread_is_named_in_deadlock(p: Process) -> None:
    from microsim.errors import Deadlock

    k = p.kernel
    a, _b = p.zx.channel_create(0)
    k.create_thread(p, lambda: p.zx.channel_call(a, 0, zx.ZX_TIME_INFINITE, Args(b"0000")))
    with pytest.raises(Deadlock) as err:
        k.run()
    assert "channel_call" in str(err.value)


def test_call_errors_in_order(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    e = p.zx.event_create(0)
    # Unreadable args: INVALID_ARGS, handles untouched.
    assert status(p.zx.channel_call, a, 0, 0, None) == zx.ZX_ERR_INVALID_ARGS
    # Bad options: INVALID_ARGS and the handles are consumed.
    assert status(p.zx.channel_call, a, 1, 0, Args(b"0000", [e])) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.handle_close, e) == zx.ZX_ERR_BAD_HANDLE
    ro = p.zx.handle_replace(a, zx.ZX_RIGHT_WRITE | zx.ZX_RIGHT_TRANSFER)
    assert status(p.zx.channel_call, ro, 0, 0, Args(b"0000")) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.channel_call, e, 0, 0, Args(b"0000")) == zx.ZX_ERR_BAD_HANDLE
    ev = p.zx.event_create(0)
    assert status(p.zx.channel_call, ev, 0, 0, Args(b"0000")) == zx.ZX_ERR_WRONG_TYPE
    a, b = p.zx.channel_create(0)
    big = bytes(zx.ZX_CHANNEL_MAX_MSG_BYTES + 1)
    assert status(p.zx.channel_call, a, 0, 0, Args(big)) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.channel_call, a, 0, 0, Args(b"0000", [0] * 65)) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.channel_call, a, 0, 0, Args(b"123")) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.channel_call, a, 0, 1 << 63, Args(b"1234")) == zx.ZX_ERR_INVALID_ARGS
    # Nothing was sent by any of these.
    assert status(p.zx.channel_read, b) == zx.ZX_ERR_SHOULD_WAIT


def test_call_etc_failure_keeps_duplicate_entries(p: Process) -> None:
    a, _b = p.zx.channel_create(0)
    keep, gone = p.zx.event_create(0), p.zx.event_create(0)
    ds = [zx.zx_handle_disposition_t(zx.ZX_HANDLE_OP_DUPLICATE, keep, zx.ZX_OBJ_TYPE_EVENT, zx.ZX_RIGHT_SAME_RIGHTS, 0),
          zx.zx_handle_disposition_t(zx.ZX_HANDLE_OP_MOVE, gone, zx.ZX_OBJ_TYPE_EVENT, zx.ZX_RIGHT_SAME_RIGHTS, 0)]
    assert status(p.zx.channel_call_etc, a, 0xFF, 0, Args(b"0000", ds)) == zx.ZX_ERR_INVALID_ARGS
    p.zx.object_get_info(keep, zx.ZX_INFO_HANDLE_VALID)
    assert status(p.zx.object_get_info, gone, zx.ZX_INFO_HANDLE_VALID) == zx.ZX_ERR_BAD_HANDLE


def test_call_reply_too_big_is_discarded(p: Process) -> None:
    k = p.kernel
    a, b = p.zx.channel_create(0)
    res: list[int] = []

    def cli() -> None:
        try:
            p.zx.channel_call(a, 0, zx.ZX_TIME_INFINITE, Args(b"0000", [], 8, 0))
        except ZxError as err:
            res.append(err.status)
        res.append(status(p.zx.channel_read, a))
        res.append(k.mem.bytes_used)

    k.create_thread(p, cli)
    k.create_thread(p, lambda: server(p, b, reply=b"x" * 100))
    k.run()
    assert res == [zx.ZX_ERR_BUFFER_TOO_SMALL, zx.ZX_ERR_SHOULD_WAIT, 0]


def test_message_memory_is_charged_and_released(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["channel"], memory=16 * zx.ZX_PAGE_SIZE, capture=False, check_invariants=False)
    p = k.create_process("flood")
    a, b = p.zx.channel_create(0)
    msg = bytes(4096)
    n = 0
    with pytest.raises(ZxError) as err:
        while True:
            p.zx.channel_write(a, 0, msg, [])
            n += 1
    assert err.value.status == zx.ZX_ERR_NO_MEMORY
    assert n == 16 * zx.ZX_PAGE_SIZE // (4096 + MESSAGE_OVERHEAD)
    assert k.mem.bytes_used == n * (4096 + MESSAGE_OVERHEAD)
    p.zx.channel_read(b)
    assert k.mem.bytes_used == (n - 1) * (4096 + MESSAGE_OVERHEAD)
    p.zx.channel_write(a, 0, msg, [])  # room again
    p.zx.handle_close(b)  # queued messages die with the end
    assert k.mem.bytes_used == 0


def test_pending_message_limit_raises_policy_exception(make_kernel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # What the exception does to a simulated thread: tests/test_exceptions.py.
    k = make_kernel(plugins=["channel"], capture=False, check_invariants=False)
    p = k.create_process("flood")
    raised: list[int] = []
    monkeypatch.setattr(Process, "raise_policy_exception", lambda self, code: raised.append(code))
    a, b = p.zx.channel_create(0)
    for _ in range(MAX_PENDING_MESSAGES):
        p.zx.channel_write(a, 0, b"m", [])
    assert raised == []
    p.zx.channel_write(a, 0, b"m", [])  # still OK, as in Zircon
    assert raised == [zx.ZX_EXCP_POLICY_CODE_CHANNEL_FULL_WRITE]
    assert len(p.zx.channel_read(b)[0]) == 1


def test_port_user_packet_limit(make_kernel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["port", "event"], capture=False, check_invariants=False)
    p = k.create_process("flood")
    raised: list[int] = []
    monkeypatch.setattr(Process, "raise_policy_exception", lambda self, code: raised.append(code))
    port = p.zx.port_create(0)
    pkt = zx.zx_port_packet_t(key=1)
    for _ in range(MAX_USER_PACKETS + 1):
        p.zx.port_queue(port, pkt)
    assert k.mem.bytes_used == (MAX_USER_PACKETS + 1) * PACKET_BYTES
    assert status(p.zx.port_queue, port, pkt) == zx.ZX_ERR_SHOULD_WAIT
    assert raised == [zx.ZX_EXCP_POLICY_CODE_PORT_TOO_MANY_PACKETS]
    # Signal packets do not count against the limit.
    e = p.zx.event_create(0)
    p.zx.object_wait_async(e, port, 7, zx.ZX_EVENT_SIGNALED, 0)
    p.zx.object_signal(e, 0, zx.ZX_EVENT_SIGNALED)
    p.zx.port_wait(port, 0)
    assert k.mem.bytes_used == MAX_USER_PACKETS * PACKET_BYTES
    p.zx.port_queue(port, pkt)
    p.zx.handle_close(port)
    assert k.mem.bytes_used == 0


def test_port_queue_no_memory(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["port"], memory=PACKET_BYTES * 3, capture=False)
    p = k.create_process("ports")
    port = p.zx.port_create(0)
    for _ in range(3):
        p.zx.port_queue(port, zx.zx_port_packet_t(key=1))
    assert status(p.zx.port_queue, port, zx.zx_port_packet_t(key=2)) == zx.ZX_ERR_NO_MEMORY
    assert p.zx.port_wait(port, 0).key == 1
    p.zx.port_queue(port, zx.zx_port_packet_t(key=2))


def test_queue_limits_are_traced(make_kernel) -> None:  # type: ignore[no-untyped-def]
    from microsim.testing import TraceCapture

    k = make_kernel(plugins=["channel", "port"], check_invariants=False)
    trace = TraceCapture(k)
    p = k.create_process("flood")
    a, _b = p.zx.channel_create(0)
    for _ in range(MAX_PENDING_MESSAGES + 1):
        p.zx.channel_write(a, 0, b"m", [])
    port = p.zx.port_create(0)
    for _ in range(MAX_USER_PACKETS + 1):
        p.zx.port_queue(port, zx.zx_port_packet_t(key=1))
    assert status(p.zx.port_queue, port, zx.zx_port_packet_t(key=1)) == zx.ZX_ERR_SHOULD_WAIT
    trace.assert_event("channel.queue_full", pending=MAX_PENDING_MESSAGES + 1)
    trace.assert_event("port.queue_full", pending=MAX_USER_PACKETS + 1)


def test_blocked_threads_carry_their_wait_reason(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["channel", "port", "futex", "vmo"])
    p = k.create_process("reasons")
    a, _b = p.zx.channel_create(0)
    port = p.zx.port_create(0)
    vmo = p.zx.vmo_create(zx.ZX_PAGE_SIZE, 0)
    addr = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE, 0, vmo, 0, zx.ZX_PAGE_SIZE)
    inf = zx.ZX_TIME_INFINITE
    k.create_thread(p, lambda: p.zx.channel_call(a, 0, inf, Args(b"0000")), name="caller")
    k.create_thread(p, lambda: p.zx.port_wait(port, inf), name="porter")
    k.create_thread(p, lambda: p.zx.futex_wait(addr, 0, 0, inf), name="futexer")
    seen: dict[str, int] = {}

    def check() -> None:
        p.zx.nanosleep(p.zx.deadline_after(100_000))
        for t in p.threads:
            if t.wait is not None:
                seen[t.name.decode()] = t.wait.reason  # type: ignore[attr-defined]
        p.zx.process_exit(0)

    k.create_thread(p, check, name="checker")
    k.run()
    assert seen == {"caller": zx.ZX_THREAD_STATE_BLOCKED_CHANNEL, "porter": zx.ZX_THREAD_STATE_BLOCKED_PORT,
                    "futexer": zx.ZX_THREAD_STATE_BLOCKED_FUTEX}
