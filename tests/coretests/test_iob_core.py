"""Ports of Zircon's IOB core-tests (zircon/system/utest/core/iob/iob.cc) that check the
VMO side of IOB regions: Iob.GetSetNames and Iob.GetInfoProcessVmos (the rest of iob.cc is
ported in tests/test_iob.py)."""

from __future__ import annotations

import pytest

from microsim import zx
from microsim.objects.process import Process

P = zx.ZX_PAGE_SIZE
RW = 0x33  # kIoBufferEpRwMap
E0RW = 0x03  # kIoBufferEp0OnlyRwMap


def region(access: int, size: int) -> zx.zx_iob_region_t:
    r = zx.zx_iob_region_t(type=zx.ZX_IOB_REGION_TYPE_PRIVATE, access=access, size=size)
    r.discipline.type = zx.ZX_IOB_DISCIPLINE_TYPE_NONE
    return r


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("iob-core")


def vmos(p: Process) -> list:  # type: ignore[type-arg]
    return list(p.zx.object_get_info(p.self_handle, zx.ZX_INFO_PROCESS_VMOS))


def name(v) -> bytes:  # type: ignore[no-untyped-def]
    return bytes(v.name).rstrip(b"\0")


def test_get_set_names(p: Process) -> None:
    ep0, ep1 = p.zx.iob_create(0, [region(RW, P)])
    p.zx.object_set_property(ep0, zx.ZX_PROP_NAME, b"TestIob\0")
    for ep in (ep0, ep1):
        assert bytes(p.zx.object_get_property(ep, zx.ZX_PROP_NAME, zx.ZX_MAX_NAME_LEN)).rstrip(b"\0") == b"TestIob"
    p.zx.object_set_property(ep1, zx.ZX_PROP_NAME, b"TestIob2\0")
    for ep in (ep0, ep1):
        assert bytes(p.zx.object_get_property(ep, zx.ZX_PROP_NAME, zx.ZX_MAX_NAME_LEN)).rstrip(b"\0") == b"TestIob2"
    found = [v for v in vmos(p) if name(v) == b"TestIob2"]
    assert found and all(v.flags & zx.ZX_INFO_VMO_VIA_IOB_HANDLE for v in found)


def test_get_info_process_vmos(p: Process) -> None:
    before = len(vmos(p))
    ep0, ep1 = p.zx.iob_create(0, [region(E0RW, P), region(E0RW, 2 * P), region(E0RW, 3 * P)])
    after = vmos(p)
    p.zx.object_set_property(ep0, zx.ZX_PROP_NAME, b"TestIob\0")
    after = vmos(p)
    assert len(after) == before + 6  # counted once per endpoint handle
    seen = set()
    for v in after:
        if name(v) != b"TestIob":
            continue
        ep = 1 if not v.handle_rights & zx.ZX_RIGHT_READ else 0
        if ep == 1:
            assert not v.handle_rights & zx.ZX_RIGHT_WRITE
        else:
            assert v.handle_rights & zx.ZX_RIGHT_WRITE
        key = (ep, v.size_bytes // P)
        assert key not in seen
        seen.add(key)
    assert seen == {(e, n) for e in (0, 1) for n in (1, 2, 3)}
    p.zx.handle_close(ep0)
    assert len(vmos(p)) == before + 3
    p.zx.handle_close(ep1)
    assert len(vmos(p)) == before
