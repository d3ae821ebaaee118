"""Randomised check of the copy-on-write snapshot tree against a model that copies eagerly
(SNAPSHOT's promise: a child reads as a copy of its parent at creation)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from microsim import Kernel, ZxError, zx

P = zx.ZX_PAGE_SIZE
PAGES = 4

ops = st.lists(
    st.tuples(
        st.sampled_from(["snap", "write", "zero", "resize", "close", "commit", "transfer", "decommit"]),
        st.integers(0, 7), st.integers(0, PAGES), st.integers(0, PAGES), st.integers(1, 255),
    ),
    min_size=1, max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_snapshot_tree_reads_like_eager_copies(seq: list[tuple[str, int, int, int, int]]) -> None:
    with Kernel(seed=0, check_invariants=True) as k:
        p = k.create_process("cow")
        v = p.zx.vmo_create(PAGES * P, zx.ZX_VMO_RESIZABLE)
        live: list[tuple[int, bytearray]] = [(v, bytearray(PAGES * P))]
        for op, who, a, b, val in seq:
            h, model = live[who % len(live)]
            size = len(model)
            if op == "snap":
                off, n = a * P, b * P
                c = p.zx.vmo_create_child(h, zx.ZX_VMO_CHILD_SNAPSHOT | zx.ZX_VMO_CHILD_RESIZABLE, off, n)
                data = bytearray(model[off:off + n])
                live.append((c, data + bytearray(n - len(data))))
            elif op == "write" and size:
                off = min(a * P + val, size - 1)
                p.zx.vmo_write(h, bytes([val]) * 10, off) if off + 10 <= size else None
                if off + 10 <= size:
                    model[off:off + 10] = bytes([val]) * 10
            elif op == "zero" and size:
                off = min(a * P + val, size)
                n = min(b * P, size - off)
                p.zx.vmo_op_range(h, zx.ZX_VMO_OP_ZERO, off, n)
                model[off:off + n] = bytes(n)
            elif op == "decommit" and size:
                off = min(a, size // P) * P
                try:
                    p.zx.vmo_op_range(h, zx.ZX_VMO_OP_DECOMMIT, off, size - off)
                except ZxError as e:
                    assert e.status == zx.ZX_ERR_NOT_SUPPORTED
                else:
                    model[off:] = bytes(size - off)
            elif op == "commit" and size:
                off = min(a, size // P) * P
                p.zx.vmo_op_range(h, zx.ZX_VMO_OP_COMMIT, off, size - off)
            elif op == "resize":
                n = b * P
                p.zx.vmo_set_size(h, n)
                del model[n:]
                model.extend(bytes(n - len(model)))
            elif op == "transfer" and len(live) > 1:
                h2, model2 = live[(who + 1) % len(live)]
                n = min(size, len(model2), b * P)
                if h2 != h and n:
                    p.zx.vmo_transfer_data(h2, 0, 0, n, h, 0)
                    model2[0:n] = model[0:n]
                    model[0:n] = bytes(n)
            elif op == "close" and len(live) > 1:
                p.zx.handle_close(h)
                live.remove((h, model))
            for h3, m3 in live:
                assert p.zx.vmo_read(h3, 0, len(m3)) == bytes(m3)
        total = sum(p.zx.object_get_info(h3, zx.ZX_INFO_VMO).committed_bytes for h3, _ in live)
        assert total <= k.mem.pages_used * P
        for h3, _ in live:
            p.zx.handle_close(h3)
        assert k.mem.pages_used == 0  # hidden stores are freed with their last child
