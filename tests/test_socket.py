"""Sockets (Zircon's socket core-tests)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from microsim_socket import SOCKET_MAX

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

R = zx.ZX_SOCKET_READABLE
W = zx.ZX_SOCKET_WRITABLE
PC = zx.ZX_SOCKET_PEER_CLOSED
PWD = zx.ZX_SOCKET_PEER_WRITE_DISABLED
WD = zx.ZX_SOCKET_WRITE_DISABLED
RT = zx.ZX_SOCKET_READ_THRESHOLD
WT = zx.ZX_SOCKET_WRITE_THRESHOLD
DG = zx.ZX_SOCKET_DATAGRAM
PEEK = zx.ZX_SOCKET_PEEK
DIS = zx.ZX_SOCKET_DISPOSITION_WRITE_DISABLED
EN = zx.ZX_SOCKET_DISPOSITION_WRITE_ENABLED
RXT = zx.ZX_PROP_SOCKET_RX_THRESHOLD
TXT = zx.ZX_PROP_SOCKET_TX_THRESHOLD



def signals(p: Process, h: int) -> int:
    try:
        return p.zx.object_wait_one(h, 0xFFFFFFFF, 0)
    except ZxError as e:
        return e.observed  # type: ignore[no-any-return]


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["socket", "vmo"]).create_process("socket")


def test_create(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    ia, ib = (p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in (a, b))
    assert ia.type == zx.ZX_OBJ_TYPE_SOCKET and ia.rights == 0x10F0CF
    assert ia.related_koid == ib.koid and ib.related_koid == ia.koid
    assert signals(p, a) == W and signals(p, b) == W
    assert status(p.zx.socket_create, 2) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_create, 1 << 31) == zx.ZX_ERR_INVALID_ARGS
    p.zx.socket_create(DG)


def test_stream_write_read_and_signals(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    assert status(p.zx.socket_read, b, 0, 10) == zx.ZX_ERR_SHOULD_WAIT
    assert p.zx.socket_write(a, 0, b"hello") == 5
    assert p.zx.socket_write(a, 0, b" world") == 6
    assert signals(p, b) == R | W and signals(p, a) == W
    assert p.zx.socket_read(b, PEEK, 3) == b"hel"
    assert p.zx.socket_read(b, 0, 0) == b""
    assert p.zx.socket_read(b, 0, 7) == b"hello w"
    assert p.zx.socket_read(b, 0, 100) == b"orld"
    assert signals(p, b) == W
    assert status(p.zx.socket_read, b, 0, 0) == zx.ZX_ERR_SHOULD_WAIT
    assert p.zx.socket_write(a, 0, b"") == 0
    assert signals(p, b) == W


def test_stream_short_write_and_writable(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    info = p.zx.object_get_info(a, zx.ZX_INFO_SOCKET)
    assert info.rx_buf_max == SOCKET_MAX == info.tx_buf_max
    assert p.zx.socket_write(a, 0, bytes(SOCKET_MAX - 10)) == SOCKET_MAX - 10
    assert p.zx.socket_write(a, 0, bytes(100)) == 10  # short
    assert signals(p, a) == 0  # full: WRITABLE cleared
    assert status(p.zx.socket_write, a, 0, b"x") == zx.ZX_ERR_SHOULD_WAIT
    info = p.zx.object_get_info(b, zx.ZX_INFO_SOCKET)
    assert (info.rx_buf_size, info.rx_buf_available) == (SOCKET_MAX, SOCKET_MAX)
    assert p.zx.object_get_info(a, zx.ZX_INFO_SOCKET).tx_buf_size == SOCKET_MAX
    assert len(p.zx.socket_read(b, 0, 1)) == 1
    assert signals(p, a) == W
    assert p.kernel.mem.bytes_used == SOCKET_MAX - 1


def test_datagram_whole_or_nothing_and_truncation(p: Process) -> None:
    a, b = p.zx.socket_create(DG)
    assert p.zx.socket_write(a, 0, b"first") == 5
    assert p.zx.socket_write(a, 0, b"second!") == 7
    info = p.zx.object_get_info(b, zx.ZX_INFO_SOCKET)
    assert (info.options, info.rx_buf_size, info.rx_buf_available) == (DG, 12, 5)
    assert p.zx.socket_read(b, PEEK, 100) == b"first"
    assert p.zx.socket_read(b, 0, 0) == b""  # consumes nothing
    assert p.zx.socket_read(b, 0, 3) == b"fir"  # the rest of "first" is discarded
    assert p.zx.socket_read(b, 0, 100) == b"second!"
    assert status(p.zx.socket_read, b, 0, 100) == zx.ZX_ERR_SHOULD_WAIT
    assert status(p.zx.socket_write, a, 0, bytes(SOCKET_MAX + 1)) == zx.ZX_ERR_OUT_OF_RANGE
    # 200 KiB then 100 KiB: the second does not fit, yet WRITABLE stays asserted.
    assert p.zx.socket_write(a, 0, bytes(200 * 1024)) == 200 * 1024
    assert status(p.zx.socket_write, a, 0, bytes(100 * 1024)) == zx.ZX_ERR_SHOULD_WAIT
    assert signals(p, a) == W
    assert p.kernel.mem.bytes_used == 200 * 1024
    # Full socket: SHOULD_WAIT beats the datagram size check.
    assert p.zx.socket_write(a, 0, bytes(SOCKET_MAX - 200 * 1024)) > 0
    assert status(p.zx.socket_write, a, 0, bytes(SOCKET_MAX + 1)) == zx.ZX_ERR_SHOULD_WAIT


def test_errors_in_order(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    assert status(p.zx.socket_write, a, 0, 5) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_write, 0x999, 1, b"x") == zx.ZX_ERR_INVALID_ARGS  # options pre-lookup
    assert status(p.zx.socket_write, 0x999, 0, b"x") == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.socket_read, 0x999, 2, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_read, b, 0, 1 << 32) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_read, b, 0, -1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_write, a, 0, b"x", -1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_write, a, 0, b"x", 1 << 64) == zx.ZX_ERR_INVALID_ARGS
    vmo = p.zx.vmo_create(4096, 0)
    assert status(p.zx.socket_write, vmo, 0, b"x") == zx.ZX_ERR_WRONG_TYPE
    ro = p.zx.handle_duplicate(a, zx.ZX_RIGHT_READ)
    assert status(p.zx.socket_write, ro, 0, b"x") == zx.ZX_ERR_ACCESS_DENIED
    wo = p.zx.handle_duplicate(b, zx.ZX_RIGHT_WRITE)
    assert status(p.zx.socket_read, wo, 0, 1) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.socket_set_disposition, ro, DIS, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.socket_set_disposition, a, 3, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_set_disposition, 0x999, 0, 3) == zx.ZX_ERR_INVALID_ARGS
    # Nothing changed.
    assert signals(p, a) == W and signals(p, b) == W
    assert status(p.zx.object_signal, a, 0, R) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_signal_peer, a, 0, WD) == zx.ZX_ERR_INVALID_ARGS


def test_explicit_sizes_and_null_buffers(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    assert p.zx.socket_write(a, 0, None, 0) == 0  # WriteZeroBytesNullBuffer
    assert status(p.zx.socket_write, a, 0, None, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_write, a, 0, b"a", (1 << 32) + 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.socket_write, a, 0, b"abc", 4) == zx.ZX_ERR_INVALID_ARGS  # bad buffer
    assert status(p.zx.socket_read, b, 0, 1) == zx.ZX_ERR_SHOULD_WAIT  # nothing queued
    assert p.zx.socket_write(a, 0, b"abcdef", 3) == 3
    assert p.zx.socket_read(b, 0, 10) == b"abc"
    p.zx.handle_close(b)
    assert status(p.zx.socket_write, a, 0, None, 0) == zx.ZX_ERR_PEER_CLOSED


def test_peer_closed(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    p.zx.socket_write(a, 0, b"left")
    p.zx.handle_close(a)
    assert signals(p, b) == R | PC
    assert p.zx.socket_read(b, 0, 10) == b"left"
    assert status(p.zx.socket_read, b, 0, 10) == zx.ZX_ERR_PEER_CLOSED
    assert status(p.zx.socket_write, b, 0, b"") == zx.ZX_ERR_PEER_CLOSED
    info = p.zx.object_get_info(b, zx.ZX_INFO_SOCKET)
    assert (info.tx_buf_max, info.tx_buf_size) == (0, 0)
    assert status(p.zx.object_get_info, b, zx.ZX_INFO_SOCKET, 47) == zx.ZX_ERR_BUFFER_TOO_SMALL
    # Data written toward the closed end died with it.
    assert p.kernel.mem.bytes_used == 0


def test_set_disposition(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    p.zx.socket_set_disposition(a, 0, 0)
    p.zx.socket_set_disposition(a, DIS, 0)
    assert signals(p, a) == WD and signals(p, b) == W | PWD
    assert status(p.zx.socket_write, a, 0, b"x") == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.socket_read, b, 0, 1) == zx.ZX_ERR_BAD_STATE  # reads disabled
    p.zx.socket_set_disposition(a, EN, 0)
    assert signals(p, a) == W and signals(p, b) == W
    # Peer side: b disables a's writes.
    p.zx.socket_write(a, 0, b"data")
    p.zx.socket_set_disposition(b, 0, DIS)
    assert signals(p, b) == R | W | PWD and signals(p, a) == WD
    # Re-enabling writes toward an end still holding data it got while disabled.
    assert status(p.zx.socket_set_disposition, b, 0, EN) == zx.ZX_ERR_BAD_STATE
    assert status(p.zx.socket_set_disposition, a, EN, 0) == zx.ZX_ERR_BAD_STATE
    assert p.zx.socket_read(b, 0, 10) == b"data"  # buffered data stays readable
    assert status(p.zx.socket_read, b, 0, 1) == zx.ZX_ERR_BAD_STATE
    p.zx.socket_set_disposition(b, 0, EN)
    assert signals(p, a) == W and signals(p, b) == W
    # After the peer closed, only this end's own signals change.
    p.zx.handle_close(b)
    assert signals(p, a) == PC
    p.zx.socket_set_disposition(a, DIS, 0)
    assert signals(p, a) == PC | WD
    p.zx.socket_set_disposition(a, EN, 0)
    assert signals(p, a) == PC | W
    p.zx.socket_set_disposition(a, 0, DIS)
    assert signals(p, a) == PC | W


def test_disposition_of_closed_peer_with_buffered_data(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    p.zx.socket_write(b, 0, b"12345")
    p.zx.socket_set_disposition(a, 0, DIS)
    assert status(p.zx.socket_set_disposition, a, 0, EN) == zx.ZX_ERR_BAD_STATE
    p.zx.handle_close(b)
    assert status(p.zx.socket_set_disposition, a, 0, EN) == zx.ZX_ERR_BAD_STATE
    assert p.zx.socket_read(a, 0, 10) == b"12345"
    p.zx.socket_set_disposition(a, 0, EN)


def test_thresholds(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    assert p.zx.object_get_property(b, RXT) == 0
    p.zx.object_set_property(b, RXT, 10)
    assert p.zx.object_get_property(b, RXT) == 10
    p.zx.socket_write(a, 0, bytes(9))
    assert not signals(p, b) & RT
    p.zx.socket_write(a, 0, bytes(1))
    assert signals(p, b) & RT
    p.zx.socket_read(b, 0, 1)
    assert not signals(p, b) & RT
    p.zx.object_set_property(b, RXT, 9)
    assert signals(p, b) & RT
    p.zx.object_set_property(b, RXT, 0)
    assert not signals(p, b) & RT
    assert status(p.zx.object_set_property, b, RXT, SOCKET_MAX + 1) == zx.ZX_ERR_INVALID_ARGS
    # TX threshold: asserted while the peer's free space >= value.
    p.zx.object_set_property(a, TXT, SOCKET_MAX - 9)
    assert signals(p, a) & WT
    p.zx.socket_write(a, 0, bytes(1))
    assert not signals(p, a) & WT
    p.zx.socket_read(b, 0, 1)
    assert signals(p, a) & WT
    assert status(p.zx.object_get_property, a, TXT, 4) == zx.ZX_ERR_BUFFER_TOO_SMALL
    vmo = p.zx.vmo_create(4096, 0)
    assert status(p.zx.object_get_property, vmo, TXT) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.object_set_property, vmo, RXT, 1) == zx.ZX_ERR_WRONG_TYPE
    no_prop = p.zx.handle_duplicate(a, zx.ZX_RIGHT_READ)
    assert status(p.zx.object_get_property, no_prop, TXT) == zx.ZX_ERR_ACCESS_DENIED
    p.zx.handle_close(b)
    assert status(p.zx.object_set_property, a, TXT, 1) == zx.ZX_ERR_PEER_CLOSED
    p.zx.object_set_property(a, RXT, 1)  # allowed after the peer closed


def test_blocking_stream_transfer(p: Process) -> None:
    k = p.kernel
    a, b = p.zx.socket_create(0)
    total = 3 * SOCKET_MAX
    got = bytearray()

    def writer() -> None:
        chunk = bytes(range(256)) * 256
        sent = 0
        while sent < total:
            try:
                sent += p.zx.socket_write(a, 0, chunk[: total - sent])
            except ZxError as err:
                assert err.status == zx.ZX_ERR_SHOULD_WAIT
                p.zx.object_wait_one(a, W, zx.ZX_TIME_INFINITE)
        p.zx.handle_close(a)

    def reader() -> None:
        while True:
            try:
                got.extend(p.zx.socket_read(b, 0, 50000))
            except ZxError as err:
                if err.status == zx.ZX_ERR_PEER_CLOSED:
                    return
                p.zx.object_wait_one(b, R | PC, zx.ZX_TIME_INFINITE)

    k.create_thread(p, writer)
    k.create_thread(p, reader)
    k.run()
    assert len(got) == total and got[:512] == bytes(range(256)) * 2


@settings(max_examples=40, deadline=None)
@given(datagram=st.booleans(),
       ops=st.lists(st.tuples(st.sampled_from(["w", "r", "p"]), st.integers(0, 3 * SOCKET_MAX // 4)),
                    max_size=12))
def test_random_operations_match_a_model(datagram: bool, ops: list[tuple[str, int]]) -> None:
    from microsim import Kernel

    with Kernel(seed=0, plugins=["socket"], check_invariants=True) as k:
        p = k.create_process("model")
        a, b = p.zx.socket_create(DG if datagram else 0)
        model: list[bytes] = []  # datagrams, or one stream of bytes
        counter = 0
        for op, n in ops:
            used = sum(map(len, model))
            if op == "w":
                data = bytes((counter + i) % 251 for i in range(min(n, 4096))) * (n // 4096 + 1)
                data = data[:n]
                counter += 1
                try:
                    got = p.zx.socket_write(a, 0, data)
                except ZxError as err:
                    if n == 0:
                        raise
                    if used >= SOCKET_MAX:
                        assert err.status == zx.ZX_ERR_SHOULD_WAIT
                    else:
                        assert datagram and err.status == zx.ZX_ERR_SHOULD_WAIT and used + n > SOCKET_MAX
                    continue
                if datagram:
                    assert got == n
                    if n:
                        model.append(data)
                else:
                    assert got == min(n, SOCKET_MAX - used)
                    model = [b"".join(model) + data[:got]] if got or model else model
            else:
                try:
                    out = p.zx.socket_read(b, zx.ZX_SOCKET_PEEK if op == "p" else 0, n)
                except ZxError as err:
                    assert err.status == zx.ZX_ERR_SHOULD_WAIT and used == 0
                    continue
                first = model[0]
                assert out == first[:n]
                if op == "r" and (n or not datagram):
                    if datagram:
                        model.pop(0)
                    else:
                        model = [first[n:]] if first[n:] else []
            used = sum(map(len, model))
            sig = p.zx.object_wait_one(a, 0xFFFFFFFF, 0) if used < SOCKET_MAX else None
            assert (sig is None) or sig & W
            info = p.zx.object_get_info(b, zx.ZX_INFO_SOCKET)
            assert info.rx_buf_size == used == k.mem.bytes_used
