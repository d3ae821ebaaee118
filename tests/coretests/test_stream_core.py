"""Ports of Zircon's core-tests for streams (zircon/system/utest/core/stream/stream.cc).

Each test is named after the Zircon case it ports (StreamTestCase.X -> test_x). An iovec
is a capacity (int) or a writable buffer for reads and bytes for writes; a NULL buffer is
None. Not ported: the sub-checks that need an iovec of capacity UINT64_MAX or INT64_MAX for a
write (FILE_BIG / OUT_OF_RANGE: a Python buffer cannot be that large), the pager and
thread-race cases (ReadShrinkRace, WriteShrinkRace, ReadWriteShrinkRace,
ContentSizeUpdatedOnPartialWrite, the RaceRead/Write/ResizeVec cases, AppendWithMultipleThreads
runs single-threaded) and ReadVectorAlias (no aliasing of iovec arrays).
"""

from __future__ import annotations

import pytest

from microsim import ZxError, zx
from microsim.objects.process import Process
from microsim.testing.calls import status

P = zx.ZX_PAGE_SIZE
U64 = 2**64 - 1
I64 = 2**63 - 1
RD, WR, AP = zx.ZX_STREAM_MODE_READ, zx.ZX_STREAM_MODE_WRITE, zx.ZX_STREAM_MODE_APPEND
START, CURRENT, END = (
    zx.ZX_STREAM_SEEK_ORIGIN_START, zx.ZX_STREAM_SEEK_ORIGIN_CURRENT, zx.ZX_STREAM_SEEK_ORIGIN_END,
)
ALPHA = b"abcdefghijklmnopqrstuvwxyz"
BUF = b"0123456789ABCDEF\0"


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("stream-core")



def rights(p: Process, h: int) -> int:
    return int(p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights)


def content_size(p: Process, v: int) -> int:
    return int(p.zx.object_get_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE))


def set_content_size(p: Process, v: int, n: int) -> None:
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, n)


def get_data(p: Process, v: int) -> bytes:
    return p.zx.vmo_read(v, 0, P).split(b"\0")[0]


def alpha_vmo(p: Process) -> int:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, ALPHA, 0)
    set_content_size(p, v, 26)
    return v


def test_create(p: Process) -> None:
    assert status(p.zx.stream_create, 0, zx.ZX_HANDLE_INVALID, 0) == zx.ZX_ERR_BAD_HANDLE
    ev = p.zx.event_create(0)
    assert status(p.zx.stream_create, 0, ev, 0) == zx.ZX_ERR_WRONG_TYPE
    v = p.zx.vmo_create(4 * P, 0)
    set_content_size(p, v, 0)
    base = zx.ZX_DEFAULT_STREAM_RIGHTS
    assert not base & (zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)
    assert status(p.zx.stream_create, -42 & 0xFFFFFFFF, v, 0) == zx.ZX_ERR_INVALID_ARGS
    rr, ww = zx.ZX_RIGHT_READ, zx.ZX_RIGHT_WRITE
    for mode, extra in ((0, 0), (RD, rr), (WR, ww), (RD | WR, rr | ww), (AP, 0), (RD | AP, rr),
                        (WR | AP, ww), (RD | WR | AP, rr | ww)):
        assert rights(p, p.zx.stream_create(mode, v, 0)) == base | extra
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    assert rights(p, p.zx.stream_create(0, ro, 0)) == base
    assert rights(p, p.zx.stream_create(RD, ro, 0)) == base | rr
    assert status(p.zx.stream_create, WR, ro, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.stream_create, RD | WR, ro, 0) == zx.ZX_ERR_ACCESS_DENIED
    wo = p.zx.handle_duplicate(v, zx.ZX_RIGHT_WRITE)
    assert rights(p, p.zx.stream_create(0, wo, 0)) == base
    assert status(p.zx.stream_create, RD, wo, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert rights(p, p.zx.stream_create(WR, wo, 0)) == base | ww
    assert status(p.zx.stream_create, RD | WR, wo, 0) == zx.ZX_ERR_ACCESS_DENIED
    none = p.zx.handle_duplicate(v, 0)
    assert rights(p, p.zx.stream_create(0, none, 0)) == base
    for mode in (RD, WR, RD | WR):
        assert status(p.zx.stream_create, mode, none, 0) == zx.ZX_ERR_ACCESS_DENIED


def test_seek(p: Process) -> None:
    v = p.zx.vmo_create(4 * P, 0)
    set_content_size(p, v, 42)
    s = p.zx.stream_create(0, v, 0)
    assert status(p.zx.stream_seek, s, START, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert p.zx.stream_seek(p.zx.stream_create(RD, v, 9), CURRENT, 0) == 9
    assert p.zx.stream_seek(p.zx.stream_create(WR, v, 518), CURRENT, 0) == 518
    s = p.zx.stream_create(RD | WR, v, 0)
    inval = zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_seek, s, 34893, 12) == inval
    assert status(p.zx.stream_seek, s, START, -10) == inval
    assert p.zx.stream_seek(s, START, 10) == 10
    assert p.zx.stream_seek(s, START, 12) == 12
    assert status(p.zx.stream_seek, s, CURRENT, -21) == inval
    assert p.zx.stream_seek(s, CURRENT, 3) == 15
    assert p.zx.stream_seek(s, CURRENT, -15) == 0
    assert p.zx.stream_seek(s, CURRENT, I64) == I64
    assert p.zx.stream_seek(s, CURRENT, 1038) == I64 + 1038
    assert status(p.zx.stream_seek, s, CURRENT, I64) == inval
    assert p.zx.stream_seek(s, END, 0) == 42
    assert p.zx.stream_seek(s, END, -11) == 31
    assert p.zx.stream_seek(s, END, -13) == 29
    assert p.zx.stream_seek(s, END, -42) == 0
    assert p.zx.stream_seek(s, END, 24) == 66
    assert status(p.zx.stream_seek, s, END, -1238) == inval
    set_content_size(p, v, U64)
    assert p.zx.stream_seek(s, END, -11) == U64 - 11
    assert status(p.zx.stream_seek, s, END, 5) == inval
    p.zx.stream_seek(s, START, 0)


def test_read_v(p: Process) -> None:
    v = alpha_vmo(p)
    s = p.zx.stream_create(0, v, 0)
    assert status(p.zx.stream_readv, s, 0, [16]) == zx.ZX_ERR_ACCESS_DENIED
    s = p.zx.stream_create(RD, v, 0)
    buf = bytearray(16)
    assert p.zx.stream_readv(s, 0, [memoryview(buf)[:7]]) == b"abcdefg"
    assert buf[:7] == b"abcdefg"
    assert status(p.zx.stream_readv, s, 24098, [7]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_readv, s, 0, None) == zx.ZX_ERR_INVALID_ARGS
    assert p.zx.stream_readv(s, 0, [3]) == b"hij"
    assert status(p.zx.stream_readv, s, 0, [None]) == zx.ZX_ERR_NOT_FOUND
    assert status(p.zx.stream_readv, s, 0, [I64] * 7) == zx.ZX_ERR_INVALID_ARGS
    p.zx.stream_readv(s, 0, [16])
    set_content_size(p, v, 6)
    assert p.zx.stream_readv(s, 0, [3]) == b""
    p.zx.stream_seek(s, START, 0)
    assert p.zx.stream_readv(s, 0, [12]) == b"abcdef"
    set_content_size(p, v, 26)
    p.zx.stream_seek(s, START, 0)
    bufs = [bytearray(1) for _ in range(7)]
    # Shrinking the content size to 6 zeroed the bytes past it.
    assert p.zx.stream_readv(s, 0, bufs) == b"abcdef\0"
    assert b"".join(bufs) == b"abcdef\0"


def test_write_v(p: Process) -> None:
    v = alpha_vmo(p)
    s = p.zx.stream_create(0, v, 0)
    assert status(p.zx.stream_writev, s, 0, [BUF]) == zx.ZX_ERR_ACCESS_DENIED
    s = p.zx.stream_create(WR, v, 0)
    assert p.zx.stream_writev(s, 0, [BUF[:7]]) == 7
    assert get_data(p, v) == b"0123456hijklmnopqrstuvwxyz"
    p.zx.vmo_write(v, ALPHA, 0)
    assert status(p.zx.stream_writev, s, 24098, [BUF[:7]]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_writev, s, 0, None) == zx.ZX_ERR_INVALID_ARGS
    p.zx.stream_writev(s, 0, [BUF[:3]])
    assert get_data(p, v) == b"abcdefg012klmnopqrstuvwxyz"
    p.zx.vmo_write(v, ALPHA, 0)
    assert status(p.zx.stream_writev, s, 0, [None]) == zx.ZX_ERR_NOT_FOUND
    p.zx.stream_seek(s, START, 0)
    assert p.zx.stream_writev(s, 0, [BUF[6 - i:7 - i] for i in range(7)]) == 7
    assert get_data(p, v) == b"6543210hijklmnopqrstuvwxyz"


def test_write_extends_content_size(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, ALPHA, 0)
    set_content_size(p, v, 3)
    s = p.zx.stream_create(WR, v, 0)
    assert p.zx.stream_writev(s, 0, [BUF[:7]]) == 7
    assert get_data(p, v) == b"0123456"  # the bytes past the old content size were zeroed
    assert content_size(p, v) == 7
    p.zx.vmo_write(v, ALPHA, 0)
    assert p.zx.stream_writev(s, 0, [BUF[:2]]) == 2
    assert get_data(p, v) == b"abcdefg01jklmnopqrstuvwxyz"
    assert content_size(p, v) == 9
    p.zx.vmo_write(v, ALPHA, 0)
    p.zx.stream_seek(s, START, 0)
    i = 1
    while i * 10 < P:
        assert p.zx.stream_writev(s, 0, [BUF[:10]]) == 10
        i += 1
    assert content_size(p, v) == 4090
    assert p.zx.stream_writev(s, 0, [BUF[:10]]) == 6
    assert content_size(p, v) == 4096
    assert p.zx.vmo_read(v, 4090, 6) == b"012345"
    assert status(p.zx.stream_writev, s, 0, [BUF[:10]]) == zx.ZX_ERR_NO_SPACE
    assert content_size(p, v) == 4096


def test_write_extends_vmo_size(p: Process) -> None:
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    set_content_size(p, v, 0)
    s = p.zx.stream_create(WR, v, 0)
    i = 1
    while i * 10 < P:
        assert p.zx.stream_writev(s, 0, [BUF[:10]]) == 10
        i += 1
    assert content_size(p, v) == 4090
    assert p.zx.stream_writev(s, 0, [BUF[:10]]) == 10
    assert content_size(p, v) == 4100
    assert p.zx.vmo_get_size(v) == 2 * P


def test_read_v_at(p: Process) -> None:
    v = alpha_vmo(p)
    s = p.zx.stream_create(RD, v, 0)
    assert p.zx.stream_readv_at(s, 0, 24, [7]) == b"yz"
    assert p.zx.stream_seek(s, CURRENT, 0) == 0
    assert p.zx.stream_readv_at(s, 0, 36, [7]) == b""
    assert p.zx.stream_readv_at(s, 0, 3645651, [7]) == b""


def test_write_v_at(p: Process) -> None:
    v = alpha_vmo(p)
    s = p.zx.stream_create(WR, v, 0)
    assert p.zx.stream_writev_at(s, 0, 7, [BUF[:3]]) == 3
    assert get_data(p, v) == b"abcdefg012klmnopqrstuvwxyz"
    p.zx.vmo_write(v, ALPHA, 0)
    assert p.zx.stream_seek(s, CURRENT, 0) == 0
    assert status(p.zx.stream_writev_at, s, 0, 4100, [BUF[:10]]) == zx.ZX_ERR_NO_SPACE
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    s = p.zx.stream_create(WR, v, 0)
    assert p.zx.stream_writev_at(s, 0, 4090, [BUF[:10]]) == 10
    assert content_size(p, v) == 4100
    assert p.zx.vmo_get_size(v) == 2 * P
    with pytest.raises(ZxError):
        p.zx.stream_writev_at(s, 0, 5000, [None])
    assert content_size(p, v) == 4100


def test_append(p: Process) -> None:
    v = alpha_vmo(p)
    s = p.zx.stream_create(WR, v, 0)
    info = p.zx.object_get_info(s, zx.ZX_INFO_STREAM)
    assert (info.options, info.seek, info.content_size) == (WR, 0, 26)
    assert p.zx.stream_writev(s, zx.ZX_STREAM_APPEND, [BUF[:7]]) == 7
    assert get_data(p, v) == ALPHA + b"0123456"
    info = p.zx.object_get_info(s, zx.ZX_INFO_STREAM)
    assert (info.options, info.seek, info.content_size) == (WR, 33, 33)
    vec = [BUF * 2][0][:26]
    size = info.content_size
    while size + 26 < P:
        assert p.zx.stream_writev(s, zx.ZX_STREAM_APPEND, [vec]) == 26
        size += 26
    cs = p.zx.object_get_info(s, zx.ZX_INFO_STREAM).content_size
    assert cs < P
    assert p.zx.stream_writev(s, zx.ZX_STREAM_APPEND, [vec]) == P - cs
    assert status(p.zx.stream_writev, s, zx.ZX_STREAM_APPEND, [vec]) == zx.ZX_ERR_NO_SPACE


def test_write_vector_with_stream_in_append_mode(p: Process) -> None:
    v = alpha_vmo(p)
    s = p.zx.stream_create(WR | AP, v, 0)
    info = p.zx.object_get_info(s, zx.ZX_INFO_STREAM)
    assert (info.options, info.seek, info.content_size) == (WR | AP, 0, 26)
    assert p.zx.stream_writev(s, 0, [BUF[:7]]) == 7
    assert get_data(p, v) == ALPHA + b"0123456"
    info = p.zx.object_get_info(s, zx.ZX_INFO_STREAM)
    assert (info.options, info.seek, info.content_size) == (WR | AP, 33, 33)
    vec = (BUF * 2)[:26]
    size = info.content_size
    while size + 26 < P:
        assert p.zx.stream_writev(s, 0, [vec]) == 26
        size += 26
    cs = p.zx.object_get_info(s, zx.ZX_INFO_STREAM).content_size
    assert p.zx.stream_writev(s, 0, [vec]) == P - cs
    assert status(p.zx.stream_writev, s, 0, [vec]) == zx.ZX_ERR_NO_SPACE


def test_property_mode_append(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    set_content_size(p, v, 0)
    s = p.zx.stream_create(WR, v, 0)
    data = BUF[:16]
    p.zx.stream_writev(s, 0, [data])
    info = p.zx.object_get_info(s, zx.ZX_INFO_STREAM)
    assert not info.options & AP and (info.seek, info.content_size) == (16, 16)
    assert not p.zx.object_get_property(s, zx.ZX_PROP_STREAM_MODE_APPEND)
    p.zx.object_set_property(s, zx.ZX_PROP_STREAM_MODE_APPEND, 1)
    assert p.zx.object_get_info(s, zx.ZX_INFO_STREAM).options & AP
    assert p.zx.object_get_property(s, zx.ZX_PROP_STREAM_MODE_APPEND)
    p.zx.stream_seek(s, START, 10)
    p.zx.stream_writev(s, 0, [data])
    assert get_data(p, v) == data * 2
    p.zx.object_set_property(s, zx.ZX_PROP_STREAM_MODE_APPEND, 0)
    info = p.zx.object_get_info(s, zx.ZX_INFO_STREAM)
    assert not info.options & AP and (info.seek, info.content_size) == (32, 32)
    assert not p.zx.object_get_property(s, zx.ZX_PROP_STREAM_MODE_APPEND)
    p.zx.stream_seek(s, START, 10)
    p.zx.stream_writev(s, 0, [data])
    assert get_data(p, v) == b"01234567890123456789ABCDEFABCDEF"


def test_append_with_multiple_threads(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    set_content_size(p, v, 0)
    streams = [p.zx.stream_create(WR | AP, v, 0) for _ in range(4)]
    for i in range(64):
        for t, s in enumerate(streams):
            p.zx.stream_writev(s, 0, [bytes([t * 64 + i])])
    assert sorted(p.zx.vmo_read(v, 0, 256)) == list(range(256))


def test_extend_fills_with_zeros(p: Process) -> None:
    pages = 6
    v = p.zx.vmo_create(pages * P, 0)
    set_content_size(p, v, 0)
    s = p.zx.stream_create(WR, v, 0)
    for i in range(pages):
        p.zx.vmo_write(v, b"x" * P, i * P)
    assert p.zx.stream_writev_at(s, 0, 2 * P - 2, [b"0123"]) == 4
    assert p.zx.vmo_read(v, 0, P) == bytes(P)
    page = p.zx.vmo_read(v, P, P)
    assert page[:-2] == bytes(P - 2) and page[-2:] == b"01"
    assert p.zx.vmo_read(v, 2 * P, 4) == b"23xx"
    p.zx.stream_seek(s, START, 5 * P - 2)
    assert p.zx.stream_writev(s, 0, [b"0123"]) == 4
    assert p.zx.vmo_read(v, 2 * P, 4) == b"23\0\0"
    assert p.zx.vmo_read(v, 3 * P, P) == bytes(P)
    page = p.zx.vmo_read(v, 4 * P, P)
    assert page[:-2] == bytes(P - 2) and page[-2:] == b"01"
    assert p.zx.vmo_read(v, 5 * P, 4) == b"23xx"


def test_expand_overflow(p: Process) -> None:
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    s = p.zx.stream_create(WR, v, 0)
    assert status(p.zx.stream_writev_at, s, 0, 0xFFFFFFFFFFFFFFF8, [b"AAAA"]) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.vmo_get_size(v) == P
    assert content_size(p, v) == P
    p.zx.vmo_set_size(v, 2 * P)
    assert p.zx.vmo_get_size(v) == 2 * P
    assert content_size(p, v) == 2 * P


def test_expand_vmo_resize_right(p: Process) -> None:
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    r = rights(p, v)
    assert r & zx.ZX_RIGHT_RESIZE
    no_resize = p.zx.handle_duplicate(v, r & ~zx.ZX_RIGHT_RESIZE)
    s = p.zx.stream_create(WR, v, P - 1)
    s_no = p.zx.stream_create(WR, no_resize, P - 1)
    data = b"012345678\0"
    assert p.zx.stream_writev(s_no, 0, [data]) == 1
    assert status(p.zx.stream_writev, s_no, 0, [data]) == zx.ZX_ERR_NO_SPACE
    assert p.zx.vmo_get_size(v) == P
    assert p.zx.stream_writev(s, 0, [data]) == len(data)
    assert p.zx.vmo_get_size(v) == 2 * P
