"""Ports of Zircon's core-tests for zx_vmo_transfer_data (zircon/system/utest/core/vmo/vmo-transfer-data.cc).

Named after the VmoTransferDataTestCase case each ports; the pager-backed
SNAPSHOT_AT_LEAST_ON_WRITE halves of SnapshotChildSrc/Dst are not ported.
"""

from __future__ import annotations

import pytest

from microsim import zx
from microsim.objects.process import Process

P = zx.ZX_PAGE_SIZE
SIZE = 5 * P
CHILD = 3 * P


@pytest.fixture
def p(make_kernel) -> Process:  # type: ignore[no-untyped-def]
    return make_kernel().create_process("vmo-transfer-core")


def filled(p: Process, c: bytes, size: int = SIZE) -> int:
    v = p.zx.vmo_create(size, 0)
    p.zx.vmo_write(v, c * size, 0)
    return v


def test_destroyed_parent_with_non_zero_offset(p: Process) -> None:
    parent = filled(p, b"s")
    src = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_SNAPSHOT, P, CHILD)
    p.zx.handle_close(parent)
    dst = filled(p, b"d")
    p.zx.vmo_transfer_data(dst, 0, 0, CHILD, src, 0)
    assert p.zx.vmo_read(src, 0, CHILD) == bytes(CHILD)
    assert p.zx.vmo_read(dst, 0, SIZE) == b"s" * CHILD + b"d" * (SIZE - CHILD)


def test_snapshot_child_src(p: Process) -> None:
    parent = filled(p, b"s")
    src = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_SNAPSHOT, 0, CHILD)
    dst = filled(p, b"d")
    p.zx.vmo_transfer_data(dst, 0, 0, CHILD, src, 0)
    assert p.zx.vmo_read(src, 0, CHILD) == bytes(CHILD)
    assert p.zx.vmo_read(parent, 0, SIZE) == b"s" * SIZE
    assert p.zx.vmo_read(dst, 0, SIZE) == b"s" * CHILD + b"d" * (SIZE - CHILD)


def test_snapshot_child_dst(p: Process) -> None:
    src = filled(p, b"s")
    parent = filled(p, b"d")
    dst = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_SNAPSHOT, 0, CHILD)
    p.zx.vmo_transfer_data(dst, 0, 0, CHILD, src, 0)
    assert p.zx.vmo_read(dst, 0, CHILD) == b"s" * CHILD
    assert p.zx.vmo_read(src, 0, SIZE) == bytes(CHILD) + b"s" * (SIZE - CHILD)
    assert p.zx.vmo_read(parent, 0, SIZE) == b"d" * SIZE


def test_child_slice_dst(p: Process) -> None:
    src = filled(p, b"s")
    parent = filled(p, b"d")
    dst = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_SLICE, 0, CHILD)
    p.zx.vmo_transfer_data(dst, 0, 0, CHILD, src, 0)
    assert p.zx.vmo_read(src, 0, SIZE) == bytes(CHILD) + b"s" * (SIZE - CHILD)
    assert p.zx.vmo_read(parent, 0, SIZE) == b"s" * CHILD + b"d" * (SIZE - CHILD)
    assert p.zx.vmo_read(dst, 0, CHILD) == b"s" * CHILD


def test_child_slice_src(p: Process) -> None:
    parent = filled(p, b"s")
    src = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_SLICE, 0, CHILD)
    dst = filled(p, b"d")
    p.zx.vmo_transfer_data(dst, 0, 0, CHILD, src, 0)
    assert p.zx.vmo_read(src, 0, CHILD) == bytes(CHILD)
    assert p.zx.vmo_read(parent, 0, SIZE) == bytes(CHILD) + b"s" * (SIZE - CHILD)
    assert p.zx.vmo_read(dst, 0, SIZE) == b"s" * CHILD + b"d" * (SIZE - CHILD)


def test_reference_child_src(p: Process) -> None:
    parent = filled(p, b"s")
    src = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_REFERENCE, 0, 0)
    dst = filled(p, b"d")
    p.zx.vmo_transfer_data(dst, 0, 0, CHILD, src, 0)
    assert p.zx.vmo_read(src, 0, CHILD) == bytes(CHILD)
    assert p.zx.vmo_read(parent, 0, SIZE) == bytes(CHILD) + b"s" * (SIZE - CHILD)
    assert p.zx.vmo_read(dst, 0, SIZE) == b"s" * CHILD + b"d" * (SIZE - CHILD)


def test_reference_child_dst(p: Process) -> None:
    src = filled(p, b"s")
    parent = filled(p, b"d")
    dst = p.zx.vmo_create_child(parent, zx.ZX_VMO_CHILD_REFERENCE, 0, 0)
    p.zx.vmo_transfer_data(dst, 0, 0, CHILD, src, 0)
    assert p.zx.vmo_read(src, 0, SIZE) == bytes(CHILD) + b"s" * (SIZE - CHILD)
    assert p.zx.vmo_read(parent, 0, SIZE) == b"s" * CHILD + b"d" * (SIZE - CHILD)
    assert p.zx.vmo_read(dst, 0, CHILD) == b"s" * CHILD


def test_same_src_and_dst(p: Process) -> None:
    v = filled(p, b"s")
    p.zx.vmo_transfer_data(v, 0, 2 * P, CHILD, v, 0)
    assert p.zx.vmo_read(v, 0, SIZE) == bytes(2 * P) + b"s" * CHILD


def test_basic(p: Process) -> None:
    src = filled(p, b"s")
    dst = filled(p, b"d")
    p.zx.vmo_transfer_data(dst, 0, 2 * P, CHILD, src, 0)
    assert p.zx.vmo_read(dst, 0, SIZE) == b"d" * 2 * P + b"s" * CHILD
    assert p.zx.vmo_read(src, 0, SIZE) == bytes(CHILD) + b"s" * 2 * P
