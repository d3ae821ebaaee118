"""Streams (Zircon's stream core-tests, ported; stream.cc / stream_dispatcher.cc order)."""

from __future__ import annotations

import pytest

from microsim import zx
from microsim.objects.process import Process
from microsim.testing.calls import status
from microsim.testing.conformance import conformance_suite

P = zx.ZX_PAGE_SIZE
U64 = 2**64 - 1
RD, WR, AP = zx.ZX_STREAM_MODE_READ, zx.ZX_STREAM_MODE_WRITE, zx.ZX_STREAM_MODE_APPEND
START, CURRENT, END = (
    zx.ZX_STREAM_SEEK_ORIGIN_START, zx.ZX_STREAM_SEEK_ORIGIN_CURRENT, zx.ZX_STREAM_SEEK_ORIGIN_END,
)


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel(plugins=["vmo", "stream"]).create_process("stream-test")



def empty_vmo(p: Process, size: int = P, options: int = 0) -> int:
    v = p.zx.vmo_create(size, options)
    p.zx.vmo_set_stream_size(v, 0)
    return v


def test_create_options_rights_and_types(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    basic = zx.ZX_DEFAULT_STREAM_RIGHTS
    assert basic == 0xD0C3
    for mode, extra in ((0, 0), (RD, zx.ZX_RIGHT_READ), (WR, zx.ZX_RIGHT_WRITE),
                        (RD | WR | AP, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_WRITE)):
        s = p.zx.stream_create(mode, v, 0)
        info = p.zx.object_get_info(s, zx.ZX_INFO_HANDLE_BASIC)
        assert info.rights == basic | extra and info.type == zx.ZX_OBJ_TYPE_STREAM
    assert status(p.zx.stream_create, 8, 999, 0) == zx.ZX_ERR_INVALID_ARGS  # before the lookup
    assert status(p.zx.stream_create, RD, 999, 0) == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.stream_create, RD, p.self_handle, 0) == zx.ZX_ERR_WRONG_TYPE
    ro = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
    assert status(p.zx.stream_create, WR, ro, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.stream_create, RD, p.zx.handle_duplicate(v, zx.ZX_RIGHT_WRITE), 0) \
        == zx.ZX_ERR_ACCESS_DENIED
    p.zx.stream_create(0, p.zx.handle_duplicate(v, 0), 0)  # no mode: no right needed
    assert status(p.zx.stream_create, RD, v, -1) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.stream_create, RD, v, "0") == zx.ZX_ERR_INVALID_ARGS
    s = p.zx.stream_create(RD, v, 2**63)  # the seek is not validated
    info = p.zx.object_get_info(s, zx.ZX_INFO_STREAM)
    assert (info.options, info.seek, info.content_size) == (RD, 2**63, P)
    assert zx.zx_info_stream_t.SIZE == 24


def test_read_write_seek_roundtrip(p: Process) -> None:
    v = empty_vmo(p, P)
    s = p.zx.stream_create(RD | WR, v, 0)
    assert p.zx.stream_writev(s, 0, [b"abc", bytearray(b"def"), memoryview(b"gh")]) == 8
    assert p.zx.vmo_get_stream_size(v) == 8
    assert p.zx.stream_seek(s, CURRENT, 0) == 8
    assert p.zx.stream_readv(s, 0, [10]) == b""  # at the content size
    assert p.zx.stream_seek(s, START, 2) == 2
    buf = bytearray(3)
    assert p.zx.stream_readv(s, 0, [buf, 100]) == b"cdefgh"
    assert buf == b"cde"
    assert p.zx.stream_seek(s, CURRENT, 0) == 8
    assert p.zx.stream_readv_at(s, 0, 1, [2]) == b"bc"
    assert p.zx.stream_seek(s, CURRENT, 0) == 8  # _at leaves the seek alone
    assert p.zx.stream_writev_at(s, 0, 0, [b"A"]) == 1
    assert p.zx.vmo_read(v, 0, 8) == b"Abcdefgh"
    assert p.zx.stream_readv(s, 0, []) == b"" and p.zx.stream_writev(s, 0, []) == 0
    assert p.zx.stream_readv(s, 0, [0, 0]) == b""
    assert p.zx.stream_seek(s, END, -3) == 5


def test_iovec_argument_checks(p: Process) -> None:
    v = empty_vmo(p)
    s = p.zx.stream_create(RD | WR, v, 0)
    for fn, args in ((p.zx.stream_readv, (s, 1, [1])), (p.zx.stream_readv_at, (s, 1, 0, [1])),
                     (p.zx.stream_writev, (s, 2, [b"x"])), (p.zx.stream_writev_at, (s, 1, 0, [b"x"]))):
        assert status(fn, *args) == zx.ZX_ERR_INVALID_ARGS
    # A NULL vector is INVALID_ARGS before the handle is looked up.
    assert status(p.zx.stream_readv, 999, 0, None) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_writev, 999, 0, None) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_readv, s, 0, [2**63, 2**63]) == zx.ZX_ERR_INVALID_ARGS  # overflow
    assert status(p.zx.stream_readv, s, 0, [-1]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_readv, s, 0, [b"read-only"]) == zx.ZX_ERR_INVALID_ARGS
    from array import array
    assert status(p.zx.stream_readv, s, 0, [memoryview(array("i", [1]))]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_writev, s, 0, ["text"]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_readv, s, "0", [1]) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_readv_at, s, 0, -1, [1]) == zx.ZX_ERR_OUT_OF_RANGE
    assert p.zx.vmo_get_stream_size(v) == 0


def test_rights_and_wrong_types(p: Process) -> None:
    v = empty_vmo(p)
    ro = p.zx.stream_create(RD, v, 0)
    wo = p.zx.stream_create(WR, v, 0)
    assert status(p.zx.stream_writev, ro, 0, [b"x"]) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.stream_writev_at, ro, 0, 0, [b"x"]) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.stream_readv, wo, 0, [1]) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.stream_readv_at, wo, 0, 0, [1]) == zx.ZX_ERR_ACCESS_DENIED
    none = p.zx.stream_create(0, v, 0)
    assert status(p.zx.stream_seek, none, START, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert p.zx.stream_seek(wo, START, 4) == 4 and p.zx.stream_seek(ro, START, 4) == 4
    for fn, args in ((p.zx.stream_readv, (v, 0, [1])), (p.zx.stream_writev, (v, 0, [b"x"])),
                     (p.zx.stream_seek, (v, START, 0))):
        assert status(fn, *args) == zx.ZX_ERR_WRONG_TYPE
    assert status(p.zx.stream_seek, 12345, START, 0) == zx.ZX_ERR_BAD_HANDLE
    assert status(p.zx.object_get_info, v, zx.ZX_INFO_STREAM) == zx.ZX_ERR_WRONG_TYPE
    no_inspect = p.zx.handle_duplicate(ro, zx.ZX_RIGHT_READ)
    assert status(p.zx.object_get_info, no_inspect, zx.ZX_INFO_STREAM) == zx.ZX_ERR_ACCESS_DENIED
    assert status(p.zx.object_get_info, ro, zx.ZX_INFO_STREAM, 8) == zx.ZX_ERR_BUFFER_TOO_SMALL


def test_seek_rules(p: Process) -> None:
    v = empty_vmo(p)
    s = p.zx.stream_create(RD | WR, v, 0)
    p.zx.stream_writev(s, 0, [b"x" * 100])
    assert status(p.zx.stream_seek, s, START, -1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_seek, s, CURRENT, -101) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_seek, s, END, -101) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_seek, s, 3, 0) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_seek, s, START, 2**63) == zx.ZX_ERR_INVALID_ARGS  # not an int64
    assert p.zx.stream_seek(s, CURRENT, 0) == 100  # nothing changed
    assert p.zx.stream_seek(s, CURRENT, 2**63 - 1) == 2**63 + 99
    assert p.zx.stream_seek(s, CURRENT, 1038) == 2**63 + 1137  # past the content: allowed
    assert p.zx.stream_seek(s, END, 0) == 100
    p.zx.stream_seek(s, START, 2**63 - 1)
    p.zx.stream_seek(s, CURRENT, 2**63 - 1)
    assert status(p.zx.stream_seek, s, CURRENT, 2) == zx.ZX_ERR_INVALID_ARGS  # past 2**64 - 1
    assert p.zx.stream_seek(s, CURRENT, 1) == U64


def test_write_extends_content_size_then_no_space(p: Process) -> None:
    v = empty_vmo(p, P)
    s = p.zx.stream_create(RD | WR, v, 0)
    for _ in range(409):
        assert p.zx.stream_writev(s, 0, [b"0123456789"]) == 10
    assert p.zx.vmo_get_stream_size(v) == 4090
    assert p.zx.stream_writev(s, 0, [b"0123456789"]) == 6  # cut at the VMO's end
    assert status(p.zx.stream_writev, s, 0, [b"0123456789"]) == zx.ZX_ERR_NO_SPACE
    assert p.zx.vmo_get_stream_size(v) == P and p.zx.vmo_get_size(v) == P
    assert status(p.zx.stream_writev_at, s, 0, P, [b"x"]) == zx.ZX_ERR_NO_SPACE


def test_growth_needs_a_resizable_vmo_and_the_resize_right(p: Process) -> None:
    v = empty_vmo(p, P, zx.ZX_VMO_RESIZABLE)
    s = p.zx.stream_create(RD | WR, v, 0)
    assert p.zx.stream_writev_at(s, 0, 2 * P, [b"far"]) == 3
    assert p.zx.vmo_get_size(v) == 3 * P
    assert p.zx.vmo_get_stream_size(v) == 2 * P + 3
    no_resize = p.zx.handle_duplicate(v, zx.ZX_DEFAULT_VMO_RIGHTS)
    s2 = p.zx.stream_create(RD | WR, no_resize, 0)
    assert status(p.zx.stream_writev_at, s2, 0, 3 * P, [b"x"]) == zx.ZX_ERR_NO_SPACE
    assert p.zx.vmo_get_size(v) == 3 * P
    # Growth past the largest VMO size: OUT_OF_RANGE; a write past 2**64: FILE_BIG.
    assert status(p.zx.stream_writev_at, s, 0, U64 - 2, [b"x"]) == zx.ZX_ERR_OUT_OF_RANGE
    assert status(p.zx.stream_writev_at, s, 0, U64, [b"xy"]) == zx.ZX_ERR_FILE_BIG
    assert p.zx.vmo_get_size(v) == 3 * P and p.zx.vmo_get_stream_size(v) == 2 * P + 3


def test_extend_fills_with_zeros(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    p.zx.vmo_write(v, b"J" * P, 0)
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, 0)  # zeroes beyond
    p.zx.vmo_write(v, b"J" * P, 0)  # junk past the content size
    s = p.zx.stream_create(RD | WR, v, 0)
    assert p.zx.stream_writev_at(s, 0, 100, [b"data"]) == 4
    assert p.zx.vmo_read(v, 0, 106) == bytes(100) + b"data" + b"JJ"  # beyond: untouched
    assert p.zx.stream_readv_at(s, 0, 0, [200]) == bytes(100) + b"data"


def test_append(p: Process) -> None:
    v = empty_vmo(p, P)
    s = p.zx.stream_create(RD | WR, v, 0)
    p.zx.stream_writev(s, 0, [b"12345"])
    p.zx.stream_seek(s, START, 0)
    assert p.zx.stream_writev(s, zx.ZX_STREAM_APPEND, [b"ab"]) == 2
    assert p.zx.stream_seek(s, CURRENT, 0) == 7
    assert p.zx.vmo_read(v, 0, 7) == b"12345ab"
    a = p.zx.stream_create(RD | WR | AP, v, 0)
    assert p.zx.object_get_property(a, zx.ZX_PROP_STREAM_MODE_APPEND) == 1
    assert p.zx.object_get_info(a, zx.ZX_INFO_STREAM).options == RD | WR | AP
    assert p.zx.stream_writev(a, 0, [b"c"]) == 1
    assert p.zx.stream_writev_at(a, 0, 0, [b"!"]) == 1  # _at never appends
    assert p.zx.vmo_read(v, 0, 8) == b"!2345abc"
    p.zx.object_set_property(a, zx.ZX_PROP_STREAM_MODE_APPEND, 0)
    assert p.zx.object_get_info(a, zx.ZX_INFO_STREAM).options == RD | WR
    p.zx.object_set_property(s, zx.ZX_PROP_STREAM_MODE_APPEND, b"\x01")
    p.zx.stream_seek(s, START, 0)
    p.zx.stream_writev(s, 0, [b"d"])
    assert p.zx.vmo_read(v, 0, 9) == b"!2345abcd"
    assert status(p.zx.object_get_property, s, zx.ZX_PROP_STREAM_MODE_APPEND, 0) == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert status(p.zx.object_set_property, s, zx.ZX_PROP_STREAM_MODE_APPEND, b"") == zx.ZX_ERR_BUFFER_TOO_SMALL
    assert status(p.zx.object_set_property, s, zx.ZX_PROP_STREAM_MODE_APPEND, 256) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_get_property, v, zx.ZX_PROP_STREAM_MODE_APPEND) == zx.ZX_ERR_WRONG_TYPE
    # Append overflow: content size near 2**64 (the property may exceed the VMO size).
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, U64)
    assert status(p.zx.stream_writev, s, zx.ZX_STREAM_APPEND, [b"xy"]) == zx.ZX_ERR_OUT_OF_RANGE
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, 2 * P)
    assert status(p.zx.stream_writev, s, zx.ZX_STREAM_APPEND, [b"x"]) == zx.ZX_ERR_NO_SPACE


def test_bad_buffers(p: Process) -> None:
    v = empty_vmo(p)
    s = p.zx.stream_create(RD | WR, v, 0)
    assert status(p.zx.stream_writev, s, 0, [None, b"x"]) == zx.ZX_ERR_NOT_FOUND
    assert p.zx.vmo_get_stream_size(v) == 0 and p.zx.stream_seek(s, CURRENT, 0) == 0
    assert p.zx.stream_writev(s, 0, [b"abc", None, b"zzz"]) == 3  # partial
    assert p.zx.stream_readv(s, 0, [None, 7]) == b""  # at the content size: nothing to copy
    assert status(p.zx.stream_readv_at, s, 0, 0, [None]) == zx.ZX_ERR_NOT_FOUND
    assert p.zx.stream_readv_at(s, 0, 0, [2, None, 5]) == b"ab"


def test_stream_keeps_the_vmo_alive(p: Process) -> None:
    v = p.zx.vmo_create(P, 0)
    s = p.zx.stream_create(RD | WR, v, 0)
    koid = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC).koid
    p.zx.handle_close(v)
    p.zx.stream_writev_at(s, 0, 0, [b"alive"])
    assert p.zx.stream_readv_at(s, 0, 0, [5]) == b"alive"
    assert any(o.koid == koid for o in p.kernel.live_objects("vmo"))
    p.zx.handle_close(s)
    assert not any(o.koid == koid for o in p.kernel.live_objects("vmo"))


def test_write_is_all_or_nothing_when_memory_runs_out(make_kernel) -> None:  # type: ignore[no-untyped-def]
    k = make_kernel(plugins=["vmo", "stream"], memory=2 * P)
    p = k.create_process("oom")
    v = empty_vmo(p, P, zx.ZX_VMO_RESIZABLE)
    s = p.zx.stream_create(RD | WR, v, 0)
    assert status(p.zx.stream_writev, s, 0, [bytes(3 * P)]) == zx.ZX_ERR_NO_MEMORY
    assert p.zx.vmo_get_size(v) == P and p.zx.vmo_get_stream_size(v) == 0
    assert p.zx.stream_seek(s, CURRENT, 0) == 0 and k.mem.pages_used == 0


def make_stream(p: Process, mode: int = 0) -> int:
    # Mode 0: exactly ZX_DEFAULT_STREAM_RIGHTS (the kit checks handles carry the defaults).
    # Atomic like one syscall: the VMO handle is closed whether or not the stream is made
    # (the kit fails each allocation point in turn and expects nothing left behind).
    vmo = p.zx.vmo_create(P, 0)
    try:
        return p.zx.stream_create(mode, vmo, 0)  # type: ignore[no-any-return]
    finally:
        p.zx.handle_close(vmo)


TestStreamConformance = conformance_suite(plugins=["vmo", "stream"], factories={"stream": make_stream})


def test_user_signals(p: Process) -> None:
    s = make_stream(p)
    p.zx.object_signal(s, 0, zx.ZX_USER_SIGNAL_0)
    assert status(p.zx.object_signal, s, 0, 1) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.object_signal_peer, s, 0, zx.ZX_USER_SIGNAL_0) in (
        zx.ZX_ERR_ACCESS_DENIED, zx.ZX_ERR_NOT_SUPPORTED)


def test_seek_port(p: Process) -> None:
    """Zircon's StreamTestCase.Seek."""
    v = p.zx.vmo_create(4 * P, 0)
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, 42)
    assert status(p.zx.stream_seek, p.zx.stream_create(0, v, 0), START, 0) == zx.ZX_ERR_ACCESS_DENIED
    assert p.zx.stream_seek(p.zx.stream_create(RD, v, 9), CURRENT, 0) == 9
    assert p.zx.stream_seek(p.zx.stream_create(WR, v, 518), CURRENT, 0) == 518
    s = p.zx.stream_create(RD | WR, v, 0)
    assert status(p.zx.stream_seek, s, 34893, 12) == zx.ZX_ERR_INVALID_ARGS
    assert status(p.zx.stream_seek, s, START, -10) == zx.ZX_ERR_INVALID_ARGS
    assert p.zx.stream_seek(s, START, 12) == 12
    assert status(p.zx.stream_seek, s, CURRENT, -21) == zx.ZX_ERR_INVALID_ARGS
    assert p.zx.stream_seek(s, CURRENT, 3) == 15
    assert p.zx.stream_seek(s, CURRENT, -15) == 0
    assert p.zx.stream_seek(s, CURRENT, 2**63 - 1) == 2**63 - 1
    assert p.zx.stream_seek(s, CURRENT, 1038) == 2**63 - 1 + 1038
    assert status(p.zx.stream_seek, s, CURRENT, 2**63 - 1) == zx.ZX_ERR_INVALID_ARGS
    assert p.zx.stream_seek(s, END, 0) == 42
    assert p.zx.stream_seek(s, END, -11) == 31
    assert p.zx.stream_seek(s, END, 24) == 66
    assert status(p.zx.stream_seek, s, END, -1238) == zx.ZX_ERR_INVALID_ARGS
    p.zx.object_set_property(v, zx.ZX_PROP_VMO_CONTENT_SIZE, U64)
    assert p.zx.stream_seek(s, END, -11) == U64 - 11
    assert status(p.zx.stream_seek, s, END, 5) == zx.ZX_ERR_INVALID_ARGS


def test_expand_vmo_resize_right_port(p: Process) -> None:
    """Zircon's StreamTestCase.ExpandVmoResizeRight."""
    v = p.zx.vmo_create(P, zx.ZX_VMO_RESIZABLE)
    rights = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC).rights
    no_resize = p.zx.handle_duplicate(v, rights & ~zx.ZX_RIGHT_RESIZE)
    s = p.zx.stream_create(WR, v, P - 1)
    s2 = p.zx.stream_create(WR, no_resize, P - 1)
    data = b"012345678\0"
    assert p.zx.stream_writev(s2, 0, [data]) == 1
    assert status(p.zx.stream_writev, s2, 0, [data]) == zx.ZX_ERR_NO_SPACE
    assert p.zx.vmo_get_size(v) == P
    assert p.zx.stream_writev(s, 0, [data]) == 10
    assert p.zx.vmo_get_size(v) == 2 * P
    assert p.zx.vmo_read(v, P - 1, 10) == data
