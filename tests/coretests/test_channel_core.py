"""Ports of Zircon's channel core-tests (zircon/system/utest/core/channel/channel.cc),
including the zx_channel_call cases. The test's Python code is the main thread; service
threads run under the seeded scheduler while it blocks."""

from __future__ import annotations

from collections.abc import Callable

from zxcore import get_signals, keep_alive, status_of

from microsim import ZxError, zx
from microsim.objects.process import Process

R = zx.ZX_CHANNEL_READABLE
W = zx.ZX_CHANNEL_WRITABLE
PC = zx.ZX_CHANNEL_PEER_CLOSED
INF = zx.ZX_TIME_INFINITE
PAST = -(1 << 63)
DATA = (0xDEADBEEF).to_bytes(4, "little")


def call_args(data: bytes, handles: list[int], rd_bytes: int, rd_handles: int) -> zx.zx_channel_call_args_t:
    return zx.zx_channel_call_args_t(wr_bytes=data, wr_handles=handles, rd_num_bytes=rd_bytes,
                                     rd_num_handles=rd_handles)


def service(p: Process, svc: int, replies: int, reply_bytes: int, reply_handles: int,
            accumulate: int = 1, errors: list[str] | None = None) -> None:
    """Zircon's Reply<ReplyFiller<...>, accumulated>: read requests, then answer each
    (same txid) with `reply_bytes` payload bytes and `reply_handles` fresh events."""

    def run() -> None:
        live: list[int] = []
        for _ in range(replies):
            p.zx.object_wait_one(svc, R, INF)
            data, handles = p.zx.channel_read(svc, 0)
            for h in handles:
                p.zx.handle_close(h)
            txid = int.from_bytes(data[:4], "little")
            if txid in live and errors is not None:
                errors.append("repeated txid")
            live.append(txid)
            if len(live) < accumulate:
                continue
            for t in live:
                hs = [p.zx.event_create(0) for _ in range(reply_handles)]
                p.zx.channel_write(svc, 0, t.to_bytes(4, "little") + bytes(reply_bytes), hs)
            live.clear()

    p.kernel.create_thread(p, run, name="service")


def test_CreateIsOkAndEndpointsAreRelated(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    ia, ib = (p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in (a, b))
    assert ia.koid and ib.koid and ia.related_koid == ib.koid and ib.related_koid == ia.koid


def test_IsWriteableByDefault(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    assert p.zx.object_wait_one(a, W, PAST) == W and p.zx.object_wait_one(b, W, PAST) == W


def test_WriteToEndpointCausesOtherToBecomeReadable(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    p.zx.channel_write(a, 0, DATA, [])
    assert p.zx.object_wait_one(a, W, PAST) == W
    assert p.zx.object_wait_one(b, W | R, PAST) == W | R


def test_WriteConsumesAllHandles(p: Process) -> None:
    a, _ = p.zx.channel_create(0)
    handles = [p.zx.event_create(0) for _ in range(zx.ZX_CHANNEL_MAX_MSG_HANDLES + 1)]
    assert status_of(p.zx.channel_write, a, 0, b"", handles) == zx.ZX_ERR_OUT_OF_RANGE
    for h in handles:
        assert status_of(p.zx.handle_close, h) == zx.ZX_ERR_BAD_HANDLE


def _wait_on_channels(p: Process, r1: int, r2: int, event: int, got: dict[str, int]) -> Callable[[], None]:
    def run() -> None:
        closed = [False, False]
        while not all(closed):
            try:
                pending = p.zx.object_wait_many([(r1, R | PC), (r2, R | PC)], INF)
            except ZxError:
                got["error"] = 1
                return
            if pending[0] & R:
                p.zx.object_signal(event, 0, zx.ZX_USER_SIGNAL_0)
                data, _ = p.zx.channel_read(r1, 0)
                got["b1"] += len(data) if data == DATA else -1000
                got["packets"] += 1
            elif pending[1] & R:
                p.zx.object_signal(event, 0, zx.ZX_USER_SIGNAL_1)
                data, _ = p.zx.channel_read(r2, 0)
                got["b2"] += len(data) if data == DATA else -1000
                got["packets"] += 1
            else:
                closed = [closed[0] or bool(pending[0] & PC), closed[1] or bool(pending[1] & PC)]
    return run


def _wait_many_case(p: Process, write_both: bool) -> None:
    release = keep_alive(p)
    l1, r1 = p.zx.channel_create(0)
    l2, r2 = p.zx.channel_create(0)
    event = p.zx.event_create(0)
    got = {"b1": 0, "b2": 0, "packets": 0}
    t = p.kernel.create_thread(p, _wait_on_channels(p, r1, r2, event, got), name="worker")
    if write_both:
        p.zx.channel_write(l2, 0, DATA, [])
    p.zx.channel_write(l1, 0, DATA, [])
    p.zx.object_wait_one(event, zx.ZX_USER_SIGNAL_0, INF)
    if write_both:
        p.zx.object_wait_one(event, zx.ZX_USER_SIGNAL_1, INF)
    p.zx.handle_close_many([l1, l2])
    p.zx.nanosleep(p.zx.deadline_after(10**6))
    assert t.state == "dead" and "error" not in got
    both = zx.ZX_USER_SIGNAL_0 | zx.ZX_USER_SIGNAL_1
    assert p.zx.object_wait_one(event, both, PAST) == (both if write_both else zx.ZX_USER_SIGNAL_0)
    assert get_signals(p, r1) == PC and get_signals(p, r2) == PC
    assert got == {"b1": 4, "b2": 4 if write_both else 0, "packets": 2 if write_both else 1}
    release()


def test_WaitManyIsSignaledOnAnyElementWrite(p: Process) -> None:
    _wait_many_case(p, write_both=False)


def test_WaitManyIsSignaledForBothWrites(p: Process) -> None:
    _wait_many_case(p, write_both=True)


def test_ReadWhenEmptyReturnsShouldWait(p: Process) -> None:
    _, b = p.zx.channel_create(0)
    assert status_of(p.zx.channel_read, b, 0, 0, 0) == zx.ZX_ERR_SHOULD_WAIT


def test_ReadWhenEmptyAndClosedReturnsPeerClosed(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    p.zx.handle_close(a)
    assert status_of(p.zx.channel_read, b, 0, 0, 0) == zx.ZX_ERR_PEER_CLOSED


def test_ReadRemainingMessagesWhenPeerIsClosed(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    for _ in range(4):
        p.zx.channel_write(a, 0, DATA, [])
    p.zx.handle_close(a)
    assert get_signals(p, b) == R | PC
    for _ in range(4):
        assert p.zx.channel_read(b, 0, 4, 0) == (DATA, [])
    assert status_of(p.zx.object_wait_one, b, R, PAST) == zx.ZX_ERR_TIMED_OUT


def test_CloseSignalsPeerClosed(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    p.zx.handle_close(a)
    assert p.zx.object_wait_one(b, PC, INF) & PC


def test_CloseClearsSignalsWriteable(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    assert get_signals(p, b) & W
    p.zx.handle_close(a)
    assert not p.zx.object_wait_one(b, PC, INF) & W


def test_CloseSignalsPeerReturnsPeerClosed(p: Process) -> None:
    a, b = p.zx.channel_create(0)
    p.zx.handle_close(a)
    assert status_of(p.zx.object_signal_peer, b, 0, zx.ZX_USER_SIGNAL_0) == zx.ZX_ERR_PEER_CLOSED


def test_OnFlightHandlesSignalledWhenPeerIsClosed(p: Process) -> None:
    local, remote = p.zx.channel_create(0)
    fl0, fr0 = p.zx.channel_create(0)
    fl1, fr1 = p.zx.channel_create(0)
    p.zx.channel_write(local, 0, b"", [fr0])
    p.zx.channel_write(remote, 0, b"", [fr1])
    p.zx.handle_close(local)
    p.zx.object_wait_one(fl1, PC, INF)
    assert get_signals(p, fl0) & W
    p.zx.handle_close(remote)
    p.zx.object_wait_one(fl0, PC, INF)


def test_WriteNonTransferableHandleReturnsAccessDeniedAndClosesHandle(p: Process) -> None:
    a, _ = p.zx.channel_create(0)
    e = p.zx.event_create(0)
    rights = p.zx.object_get_info(e, zx.ZX_INFO_HANDLE_BASIC).rights & ~zx.ZX_RIGHT_TRANSFER
    nt = p.zx.handle_duplicate(e, rights)
    assert status_of(p.zx.channel_write, a, 0, b"", [nt]) == zx.ZX_ERR_ACCESS_DENIED
    assert status_of(p.zx.handle_close, nt) == zx.ZX_ERR_BAD_HANDLE


def test_WriteRepeatedHandlesReturnsBadHandlesAndClosesHandle(p: Process) -> None:
    a, _ = p.zx.channel_create(0)
    e = p.zx.event_create(0)
    assert status_of(p.zx.channel_write, a, 0, b"", [e, e]) == zx.ZX_ERR_BAD_HANDLE
    assert status_of(p.zx.handle_close, e) == zx.ZX_ERR_BAD_HANDLE


def _read_may_discard(p: Process, buf_bytes: int, buf_handles: int, msg_bytes: int, msg_handles: int) -> None:
    local, remote = p.zx.channel_create(0)
    event = p.zx.event_create(0)
    assert status_of(p.zx.object_wait_one, remote, R, PAST) == zx.ZX_ERR_TIMED_OUT
    dups = [p.zx.handle_duplicate(event, zx.ZX_RIGHT_SAME_RIGHTS) for _ in range(msg_handles)]
    p.zx.channel_write(local, 0, bytes(msg_bytes), dups)
    try:
        p.zx.channel_read(remote, zx.ZX_CHANNEL_READ_MAY_DISCARD, buf_bytes, buf_handles)
        raise AssertionError("the read should not fit")
    except ZxError as e:
        assert e.status == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert status_of(p.zx.object_wait_one, remote, R, PAST) == zx.ZX_ERR_TIMED_OUT
    assert p.zx.object_get_info(event, zx.ZX_INFO_HANDLE_COUNT).handle_count == 1


def test_ReadMayDiscardWithNullBuffersReturnsBufferTooSmall(p: Process) -> None:
    _read_may_discard(p, 0, 0, 1, 1)


def test_ReadMayDiscardWithNullBufferDiscardsDataReturnsBufferTooSmall(p: Process) -> None:
    _read_may_discard(p, 1, 0, 2, 0)


def test_ReadMayDiscardWithNullBufferDiscardHandlesReturnsBufferTooSmall(p: Process) -> None:
    _read_may_discard(p, 0, 1, 0, 2)


def test_ReadMayDiscardWithSmallerBufferDiscardHandlesAndDateReturnsBufferTooSmall(p: Process) -> None:
    _read_may_discard(p, 10, 1, 11, 2)


def test_CallWrittenBytesSmallerThanZxTxIdReturnsInvalidArgs(p: Process) -> None:
    local, _ = p.zx.channel_create(0)
    args = call_args(bytes(3), [], 68, 0)
    assert status_of(p.zx.channel_call, local, 0, INF, args) == zx.ZX_ERR_INVALID_ARGS


def test_CallWrittenBytesSmallerThanZxTxIdWithBadPointerReturnsInvalidArgs(p: Process) -> None:
    local, _ = p.zx.channel_create(0)
    args = call_args(None, [], 68, 0)  # type: ignore[arg-type]
    assert status_of(p.zx.channel_call, local, 0, INF, args) == zx.ZX_ERR_INVALID_ARGS


def test_CallResponseBiggerThanRdNumBytesReturnsBufferTooSmall(p: Process) -> None:
    local, remote = p.zx.channel_create(0)
    service(p, remote, 1, reply_bytes=2, reply_handles=0)
    args = call_args(bytes(4 + 20), [], 4 + 1, 0)
    assert status_of(p.zx.channel_call, local, 0, INF, args) == zx.ZX_ERR_BUFFER_TOO_SMALL


def test_CallResponseBiggerThanRdNumHandlesReturnsBufferTooSmall(p: Process) -> None:
    release = keep_alive(p)  # the test's code stands for a thread of `p`
    local, remote = p.zx.channel_create(0)
    service(p, remote, 1, reply_bytes=0, reply_handles=2)
    args = call_args(bytes(4), [p.zx.event_create(0)], 4, 1)
    assert status_of(p.zx.channel_call, local, 0, INF, args) == zx.ZX_ERR_BUFFER_TOO_SMALL
    p.zx.nanosleep(p.zx.deadline_after(10**6))
    assert [o.type_name for o in p.kernel.live_objects("event")] == ["event"]  # keep_alive's own
    release()


def _successful_call(p: Process, request_bytes: int, request_handles: int, reply_bytes: int,
                     reply_handles: int) -> None:
    release = keep_alive(p)
    local, remote = p.zx.channel_create(0)
    service(p, remote, 1, reply_bytes, reply_handles)
    sent = [p.zx.event_create(0) for _ in range(request_handles)]
    data, handles = p.zx.channel_call(local, 0, INF, call_args(bytes(4 + request_bytes), sent, 4 + reply_bytes,
                                                                reply_handles))
    assert len(data) == 4 + reply_bytes and len(handles) == reply_handles
    assert int.from_bytes(data[:4], "little") >= 0x80000000
    for h in sent:
        assert status_of(p.zx.handle_close, h) == zx.ZX_ERR_BAD_HANDLE
    p.zx.handle_close_many(handles)
    release()


def test_CallBytesFitIsOk(p: Process) -> None:
    _successful_call(p, 0, 0, 5, 0)


def test_CallHandlesFitIsOk(p: Process) -> None:
    _successful_call(p, 0, 1, 0, 2)


def test_CallHandleAndBytesFitsIsOk(p: Process) -> None:
    _successful_call(p, 2, 1, 2, 2)


def test_CallPendingTransactionsUseDifferentIds(p: Process) -> None:
    n = 20
    local, remote = p.zx.channel_create(0)
    errors: list[str] = []
    service(p, remote, n, 0, 0, accumulate=n, errors=errors)
    results: list[int] = []

    def caller() -> None:
        try:
            p.zx.channel_call(local, 0, INF, call_args(bytes(6), [], 4, 0))
            results.append(zx.ZX_OK)
        except ZxError as e:
            results.append(e.status)

    for _ in range(n):
        p.kernel.create_thread(p, caller)
    p.kernel.run()
    assert results == [zx.ZX_OK] * n and errors == []


def test_CallDeadlineExceededReturnsTimedOut(p: Process) -> None:
    local, remote = p.zx.channel_create(0)
    assert status_of(p.zx.channel_call, local, 0, PAST, call_args(bytes(6), [], 4, 0)) == zx.ZX_ERR_TIMED_OUT
    # The request went out all the same.
    data, _ = p.zx.channel_read(remote, 0)
    assert len(data) == 6


def test_CallConsumesHandlesOnSuccess(p: Process) -> None:
    _successful_call(p, 0, 2, 0, 0)


def test_CallConsumesHandlesOnError(p: Process) -> None:
    local, remote = p.zx.channel_create(0)
    p.zx.handle_close(remote)
    hs = [p.zx.event_create(0), p.zx.event_create(0)]
    assert status_of(p.zx.channel_call, local, 0, INF, call_args(bytes(4), hs, 4, 0)) == zx.ZX_ERR_PEER_CLOSED
    for h in hs:
        assert status_of(p.zx.handle_close, h) == zx.ZX_ERR_BAD_HANDLE


def test_CallNotifiedOnPeerClosed(p: Process) -> None:
    local, remote = p.zx.channel_create(0)

    def svc() -> None:
        p.zx.object_wait_one(remote, R, INF)
        p.zx.handle_close(remote)

    p.kernel.create_thread(p, svc)
    assert status_of(p.zx.channel_call, local, 0, INF, call_args(bytes(4), [], 4, 0)) == zx.ZX_ERR_PEER_CLOSED


def test_NestingIsOk(p: Process) -> None:
    pairs = [p.zx.channel_create(0) for _ in range(200)]
    for i in range(199, 0, -1):
        p.zx.channel_write(pairs[i - 1][0], 0, b"", list(pairs[i]))
    p.zx.handle_close_many(list(pairs[0]))
    assert not list(p.kernel.live_objects("channel"))


def test_WriteSelfHandleReturnsNotSupported(p: Process) -> None:
    local, remote = p.zx.channel_create(0)
    assert status_of(p.zx.channel_write, local, 0, b"", [local]) == zx.ZX_ERR_NOT_SUPPORTED
    assert p.zx.object_wait_one(remote, PC, PAST) == PC


def test_ReadEtcHandleInfoValidation(p: Process) -> None:
    local, remote = p.zx.channel_create(0)
    e = p.zx.event_create(0)
    less = p.zx.handle_duplicate(e, zx.ZX_RIGHTS_BASIC & ~zx.ZX_RIGHT_WAIT)
    fl, fr = p.zx.fifo_create(32, 8, 0)
    p.zx.channel_write(local, 0, b"", [fl, e, less, fr])
    data, infos = p.zx.channel_read_etc(remote, 0, 0, 4)
    assert data == b"" and len(infos) == 4
    assert [(i.type, i.rights) for i in infos] == [
        (zx.ZX_OBJ_TYPE_FIFO, zx.ZX_DEFAULT_FIFO_RIGHTS),
        (zx.ZX_OBJ_TYPE_EVENT, zx.ZX_DEFAULT_EVENT_RIGHTS),
        (zx.ZX_OBJ_TYPE_EVENT, zx.ZX_RIGHTS_BASIC & ~zx.ZX_RIGHT_WAIT),
        (zx.ZX_OBJ_TYPE_FIFO, zx.ZX_DEFAULT_FIFO_RIGHTS),
    ]


def test_ReadAndWriteWithMultipleSizes(p: Process) -> None:
    local, remote = p.zx.channel_create(0)
    rng = p.kernel.random("coretest")
    for i in range(50):
        nb = rng.randrange(zx.ZX_CHANNEL_MAX_MSG_BYTES)
        nh = rng.randrange(zx.ZX_CHANNEL_MAX_MSG_HANDLES)
        data = bytes([i % 255]) + bytes(max(nb - 1, 0)) if nb else b""
        p.zx.channel_write(local, 0, data, [p.zx.event_create(0) for _ in range(nh)])
        got, handles = p.zx.channel_read(remote, 0, nb, nh)
        assert len(got) == nb and len(handles) == nh and got[:1] == data[:1]
        p.zx.handle_close_many(handles)
