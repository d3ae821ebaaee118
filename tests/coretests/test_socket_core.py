"""Ports of Zircon's socket core-tests (zircon/system/utest/core/socket/socket.cc)."""

from __future__ import annotations

from zxcore import get_signals, status_of

from microsim import zx
from microsim.objects.process import Process

R = zx.ZX_SOCKET_READABLE
W = zx.ZX_SOCKET_WRITABLE
RXT = zx.ZX_PROP_SOCKET_RX_THRESHOLD
TXT = zx.ZX_PROP_SOCKET_TX_THRESHOLD
DIS = zx.ZX_SOCKET_DISPOSITION_WRITE_DISABLED
ENA = zx.ZX_SOCKET_DISPOSITION_WRITE_ENABLED
MSG1, MSG2, MSG3 = b"12345", b"abcdef", b"ghijklm"
DATA = (0xDEADBEEF).to_bytes(4, "little") + (0xC0FFEE).to_bytes(4, "little")


def test_EndpointsAreRelated(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    ia, ib = (p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in (a, b))
    assert ia.koid and ia.related_koid and ib.koid and ib.related_koid
    assert ia.koid == ib.related_koid and ib.koid == ia.related_koid


def test_EmptySocketShouldWait(p: Process) -> None:
    a, _ = p.zx.socket_create(0)
    assert status_of(p.zx.socket_read, a, 0, 4) == zx.ZX_ERR_SHOULD_WAIT


def test_WriteReadDataVerify(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    assert p.zx.socket_write(a, 0, DATA[:4]) == 4
    assert p.zx.socket_write(a, 0, DATA[4:]) == 4
    assert p.zx.socket_read(b, 0, 8) == DATA
    assert p.zx.socket_write(a, 0, DATA) == 8
    assert p.zx.socket_read(b, 0, 8) == DATA


def test_PeerClosedError(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    p.zx.handle_close(b)
    assert status_of(p.zx.socket_write, a, 0, b"data") == zx.ZX_ERR_PEER_CLOSED


def test_PeekingLeavesData(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    p.zx.socket_write(a, 0, DATA[:4])
    p.zx.socket_write(a, 0, DATA[4:])
    assert p.zx.socket_read(b, zx.ZX_SOCKET_PEEK, 8) == DATA
    assert get_signals(p, a) == W
    assert get_signals(p, b) == W | R
    assert p.zx.socket_read(b, 0, 8) == DATA
    assert get_signals(p, b) == W


def test_PeekingIntoEmpty(p: Process) -> None:
    a, _ = p.zx.socket_create(0)
    assert status_of(p.zx.socket_read, a, zx.ZX_SOCKET_PEEK, 4) == zx.ZX_ERR_SHOULD_WAIT


def test_Signals(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    assert get_signals(p, a) == W and get_signals(p, b) == W
    chunk = 128 * 1024 // 16
    assert p.zx.socket_write(a, 0, b"\x66" * chunk) == chunk
    assert get_signals(p, a) == W
    assert get_signals(p, b) == R | W
    assert len(p.zx.socket_read(b, 0, 128 * 1024)) == chunk
    assert get_signals(p, a) == W and get_signals(p, b) == W
    assert status_of(p.zx.object_signal_peer, a, W, 0) == zx.ZX_ERR_INVALID_ARGS
    p.zx.object_signal_peer(a, 0, zx.ZX_USER_SIGNAL_1)
    assert get_signals(p, a) == W
    assert get_signals(p, b) == W | zx.ZX_USER_SIGNAL_1
    p.zx.handle_close(b)
    assert get_signals(p, a) == zx.ZX_SOCKET_PEER_CLOSED


def test_SetThreshholdsProp(p: Process) -> None:
    a, _ = p.zx.socket_create(0)
    p.zx.object_set_property(a, RXT, 0)
    assert status_of(p.zx.object_set_property, a, RXT, 0xEFFFFFFF) == zx.ZX_ERR_INVALID_ARGS
    p.zx.object_set_property(a, TXT, 0)
    assert status_of(p.zx.object_set_property, a, TXT, 0xEFFFFFFF) == zx.ZX_ERR_INVALID_ARGS


def test_SetThreshholdsAndCheckSignals(p: Process) -> None:
    local, remote = p.zx.socket_create(0)
    rx = 101
    p.zx.object_set_property(local, RXT, rx)
    assert p.zx.object_get_property(local, RXT) == rx
    info = p.zx.object_get_info(remote, zx.ZX_INFO_SOCKET)
    wt = info.tx_buf_max - (rx + 2)
    p.zx.object_set_property(remote, TXT, wt)
    assert p.zx.object_get_property(remote, TXT) == wt
    lc = p.zx.handle_duplicate(local, zx.ZX_RIGHT_SAME_RIGHTS)
    rc = p.zx.handle_duplicate(remote, zx.ZX_RIGHT_SAME_RIGHTS)
    assert p.zx.object_get_property(lc, RXT) == rx
    assert p.zx.object_get_property(rc, TXT) == wt
    WT, RT = zx.ZX_SOCKET_WRITE_THRESHOLD, zx.ZX_SOCKET_READ_THRESHOLD

    def check(lsig: int, rsig: int) -> None:
        assert get_signals(p, local) == lsig and get_signals(p, lc) == lsig
        assert get_signals(p, remote) == rsig and get_signals(p, rc) == rsig

    check(W, W | WT)
    assert p.zx.socket_write(remote, 0, bytes(rx - 1)) == rx - 1
    check(W | R, W | WT)
    assert p.zx.socket_write(remote, 0, bytes(1)) == 1
    check(W | R | RT, W | WT)
    p.zx.object_set_property(local, RXT, rx + 50)
    check(W | R, W | WT)
    p.zx.object_set_property(local, RXT, rx)
    check(W | R | RT, W | WT)
    p.zx.object_set_property(remote, TXT, info.tx_buf_max - 10)
    check(W | R | RT, W)
    p.zx.object_set_property(remote, TXT, wt)
    check(W | R | RT, W | WT)
    size = wt - (rx + 1)
    assert p.zx.socket_write(remote, 0, bytes(size)) == size
    check(W | R | RT, W)
    size += 10
    assert len(p.zx.socket_read(local, 0, size)) == size
    check(W | R, W | WT)


def test_SignalClosedPeer(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    p.zx.handle_close(b)
    assert status_of(p.zx.object_signal_peer, a, 0, zx.ZX_USER_SIGNAL_0) == zx.ZX_ERR_PEER_CLOSED


def test_PeerClosedSetProperty(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    p.zx.object_set_property(a, TXT, 1)
    p.zx.handle_close(b)
    assert status_of(p.zx.object_set_property, a, TXT, 1) == zx.ZX_ERR_PEER_CLOSED


def test_BytesOutstanding(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    assert status_of(p.zx.socket_read, a, 0, 8) == zx.ZX_ERR_SHOULD_WAIT
    p.zx.socket_write(a, 0, DATA[:4])
    p.zx.socket_write(a, 0, DATA[4:])
    assert p.zx.object_get_info(b, zx.ZX_INFO_SOCKET).rx_buf_available == 8
    assert p.zx.socket_read(b, 0, 8) == DATA
    p.zx.handle_close(b)
    assert status_of(p.zx.socket_write, a, 0, DATA[4:]) == zx.ZX_ERR_PEER_CLOSED


def test_SetDispositionHandleWithoutRight(p: Process) -> None:
    a, _ = p.zx.socket_create(0)
    info = p.zx.object_get_info(a, zx.ZX_INFO_HANDLE_BASIC)
    assert info.rights & zx.ZX_RIGHT_MANAGE_SOCKET
    clone = p.zx.handle_duplicate(a, info.rights ^ zx.ZX_RIGHT_MANAGE_SOCKET)
    assert status_of(p.zx.socket_set_disposition, clone, DIS, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status_of(p.zx.socket_set_disposition, clone, 0, DIS) == zx.ZX_ERR_ACCESS_DENIED


def test_SetDispositionInvalidArgs(p: Process) -> None:
    a, _ = p.zx.socket_create(0)
    assert status_of(p.zx.socket_set_disposition, a, DIS | ENA, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status_of(p.zx.socket_set_disposition, a, 0, DIS | ENA) == zx.ZX_ERR_INVALID_ARGS
    bad = 1337 & ~(DIS | ENA)
    assert status_of(p.zx.socket_set_disposition, a, bad, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status_of(p.zx.socket_set_disposition, a, 0, bad) == zx.ZX_ERR_INVALID_ARGS


def _disable_write_helper(p: Process, disable_local: bool, disable_remote: bool) -> None:
    local, remote = p.zx.socket_create(0)
    ls, rs = W, W
    assert get_signals(p, local) == ls and get_signals(p, remote) == rs
    if disable_local:
        assert p.zx.socket_write(local, 0, MSG1) == len(MSG1)
        rs |= R
        assert get_signals(p, remote) == rs
    if disable_remote:
        assert p.zx.socket_write(remote, 0, MSG2) == len(MSG2)
        ls |= R
        assert get_signals(p, local) == ls
    ld = rd = 0
    if disable_local:
        ld = DIS
        ls = (ls | zx.ZX_SOCKET_WRITE_DISABLED) ^ W
        rs |= zx.ZX_SOCKET_PEER_WRITE_DISABLED
    if disable_remote:
        rd = DIS
        rs = (rs ^ W) | zx.ZX_SOCKET_WRITE_DISABLED
        ls |= zx.ZX_SOCKET_PEER_WRITE_DISABLED
    p.zx.socket_set_disposition(local, ld, rd)
    assert get_signals(p, local) == ls and get_signals(p, remote) == rs

    def try_write(end: int, disabled: bool, msg: bytes) -> int:
        if disabled:
            assert status_of(p.zx.socket_write, end, 0, msg) == zx.ZX_ERR_BAD_STATE
            assert status_of(p.zx.socket_set_disposition, end, ENA, 0) == zx.ZX_ERR_BAD_STATE
            return 0
        assert p.zx.socket_write(end, 0, msg) == len(msg)
        return R

    rs |= try_write(local, disable_local, MSG1)
    assert get_signals(p, remote) == rs
    ls |= try_write(remote, disable_remote, MSG2)
    assert get_signals(p, local) == ls

    def consume(end: int, peer_disabled: bool, msg: bytes) -> None:
        assert p.zx.socket_read(end, 0, 8) == msg
        expected = zx.ZX_ERR_BAD_STATE if peer_disabled else zx.ZX_ERR_SHOULD_WAIT
        assert status_of(p.zx.socket_read, end, 0, 1) == expected

    consume(local, disable_remote, MSG2)
    assert get_signals(p, local) == ls ^ R
    consume(remote, disable_local, MSG1)
    assert get_signals(p, remote) == rs ^ R
    p.zx.socket_set_disposition(local, ENA, ENA)
    assert get_signals(p, local) == W and get_signals(p, remote) == W
    p.zx.socket_write(local, 0, MSG2)
    p.zx.socket_write(remote, 0, MSG3)
    assert get_signals(p, local) == W | R and get_signals(p, remote) == W | R
    assert p.zx.socket_read(local, 0, 8) == MSG3
    assert p.zx.socket_read(remote, 0, 8) == MSG2
    assert get_signals(p, local) == W and get_signals(p, remote) == W


def test_DisableWriteLocal(p: Process) -> None:
    _disable_write_helper(p, True, False)


def test_DisableWritePeer(p: Process) -> None:
    _disable_write_helper(p, False, True)


def test_DisableWriteBoth(p: Process) -> None:
    _disable_write_helper(p, True, True)


def test_SetDispositionOfClosedPeerWithBufferedData(p: Process) -> None:
    local, remote = p.zx.socket_create(0)
    assert p.zx.socket_write(remote, 0, MSG1) == len(MSG1)
    p.zx.socket_set_disposition(local, 0, DIS)
    assert status_of(p.zx.socket_set_disposition, local, 0, ENA) == zx.ZX_ERR_BAD_STATE
    p.zx.handle_close(remote)
    assert status_of(p.zx.socket_set_disposition, local, 0, ENA) == zx.ZX_ERR_BAD_STATE


def test_ShortWrite(p: Process) -> None:
    a, _ = p.zx.socket_create(0)
    info = p.zx.object_get_info(a, zx.ZX_INFO_SOCKET)
    size = info.rx_buf_max + 1
    assert p.zx.socket_write(a, 0, bytes(size)) < size


def test_Datagram(p: Process) -> None:
    a, b = p.zx.socket_create(zx.ZX_SOCKET_DATAGRAM)
    assert p.zx.socket_write(a, 0, MSG1) == len(MSG1)
    assert p.zx.socket_write(a, 0, MSG2) == len(MSG2)
    big = bytes(i & 0xFF for i in range(4096))
    assert p.zx.socket_write(a, 0, big) == 4096
    assert p.zx.object_get_info(b, zx.ZX_INFO_SOCKET).rx_buf_available == len(MSG1)
    assert p.zx.socket_read(b, 0, len(MSG1) - 1) == MSG1[:-1]
    assert p.zx.object_get_info(b, zx.ZX_INFO_SOCKET).rx_buf_available == len(MSG2)
    assert p.zx.socket_read(b, 0, len(MSG2)) == MSG2
    assert p.zx.object_get_info(b, zx.ZX_INFO_SOCKET).rx_buf_available == 4096
    assert p.zx.socket_read(b, 0, 4096) == big
    assert p.zx.object_get_info(b, zx.ZX_INFO_SOCKET).rx_buf_available == 0


def test_DatagramPeek(p: Process) -> None:
    a, b = p.zx.socket_create(zx.ZX_SOCKET_DATAGRAM)
    p.zx.socket_write(a, 0, MSG1)
    p.zx.socket_write(a, 0, MSG2)
    assert p.zx.socket_read(b, zx.ZX_SOCKET_PEEK, len(MSG1) - 1) == MSG1[:-1]
    assert p.zx.socket_read(b, zx.ZX_SOCKET_PEEK, len(MSG1)) == MSG1
    assert p.zx.socket_read(b, 0, len(MSG1)) == MSG1
    assert p.zx.socket_read(b, zx.ZX_SOCKET_PEEK, len(MSG2)) == MSG2


def test_DatagramPeekEmpty(p: Process) -> None:
    a, _ = p.zx.socket_create(zx.ZX_SOCKET_DATAGRAM)
    assert status_of(p.zx.socket_read, a, zx.ZX_SOCKET_PEEK, 1) == zx.ZX_ERR_SHOULD_WAIT


def test_DatagramNoShortWrite(p: Process) -> None:
    a, b = p.zx.socket_create(zx.ZX_SOCKET_DATAGRAM)
    info = p.zx.object_get_info(b, zx.ZX_INFO_SOCKET)
    assert info.tx_buf_max > 0
    assert status_of(p.zx.socket_write, a, 0, bytes(info.tx_buf_max * 2)) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.object_get_info(b, zx.ZX_INFO_SOCKET).rx_buf_available == 0


def test_ZeroSize(p: Process) -> None:
    for options in (0, zx.ZX_SOCKET_DATAGRAM):
        a, b = p.zx.socket_create(options)
        assert status_of(p.zx.socket_read, a, 0, 0) == zx.ZX_ERR_SHOULD_WAIT
        p.zx.socket_write(b, 0, b"a")
        assert p.zx.socket_read(a, 0, 0) == b""
        assert p.zx.socket_read(a, 0, 0) == b""
        assert get_signals(p, a) & R
        p.zx.handle_close_many([a, b])


def test_WriteFromNullBuffer(p: Process) -> None:
    a, _ = p.zx.socket_create(0)
    assert status_of(p.zx.socket_write, a, 0, None, 1) == zx.ZX_ERR_INVALID_ARGS


def test_WriteFromPartialBadBuffer(p: Process) -> None:
    # The buffer holds fewer bytes than the size: nothing is queued, signals stay honest.
    a, b = p.zx.socket_create(0)
    assert status_of(p.zx.socket_write, b, 0, bytes(16 * 1024), 32 * 1024) == zx.ZX_ERR_INVALID_ARGS
    has_read_signal = bool(get_signals(p, a) & R)
    assert has_read_signal is False
    assert status_of(p.zx.socket_read, a, 0, 1) == zx.ZX_ERR_SHOULD_WAIT


def test_ReadToPartialBadBuffer(p: Process) -> None:
    a, b = p.zx.socket_create(0)
    while True:
        try:
            p.zx.socket_write(b, 0, bytes(16 * 1024))
        except Exception:
            break
    assert get_signals(p, a) & R
    assert not get_signals(p, b) & W
    assert status_of(p.zx.socket_write, b, 0, b"x") == zx.ZX_ERR_SHOULD_WAIT
    while True:
        try:
            p.zx.socket_read(a, 0, 16 * 1024)
        except Exception:
            break
    assert get_signals(p, b) & W


def test_ReuseDatagramBuffer(p: Process) -> None:
    a, b = p.zx.socket_create(zx.ZX_SOCKET_DATAGRAM)
    buf = bytearray(b"\xAA" * 3000)
    buf[0] = ord("a")
    p.zx.socket_write(a, 0, bytes(buf[:1]))
    buf[0] = ord("b")
    p.zx.socket_write(a, 0, bytes(buf[:1]))
    assert p.zx.socket_read(b, 0, 1) == b"a"
    assert p.zx.socket_read(b, 0, 1) == b"b"
    buf[0] = ord("c")
    assert p.zx.socket_write(a, 0, bytes(buf)) == 3000
    buf[0] = ord("d")
    p.zx.socket_write(a, 0, bytes(buf[:1]))
    assert p.zx.socket_read(b, 0, 1) == b"c"
    assert p.zx.socket_read(b, 0, 1) == b"d"
    assert not get_signals(p, b) & R
