"""Koids, handle values, rights, duplicate/replace/close/close_many (core)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from microsim import Kernel, ZxError, hookimpl, zx
from microsim.core.invariants import InvariantViolation
from microsim.kernel import Kernel as _K  # noqa: F401 - import check

BASIC = zx.ZX_INFO_HANDLE_BASIC


@pytest.fixture
def kernel() -> Kernel:
    with Kernel(seed=7, plugins=[]) as k:
        yield k


def basic(proc, h):
    return proc.zx.object_get_info(h, BASIC)


def test_startup_handles_and_koids(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    info = basic(p, p.self_handle)
    assert info.koid == p.koid >= zx.ZX_KOID_FIRST
    assert info.type == zx.ZX_OBJ_TYPE_PROCESS
    assert info.rights == zx.ZX_DEFAULT_PROCESS_RIGHTS
    v = basic(p, p.root_vmar_handle)
    assert v.type == zx.ZX_OBJ_TYPE_VMAR
    assert v.rights == 0x20801F  # root VMAR: default VMAR rights + READ|WRITE|EXECUTE
    assert v.koid > info.koid  # koids only grow
    assert p.zx.process_self() == p.self_handle
    assert p.zx.vmar_root_self() == p.root_vmar_handle


def test_handle_values_look_like_zircon(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    values = [p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS) for _ in range(50)]
    assert all(v != 0 and v & zx.ZX_HANDLE_FIXED_BITS_MASK == 3 for v in values)
    assert len(set(values)) == 50
    diffs = {b - a for a, b in itertools.pairwise(values)}
    assert len(diffs) > 1  # not consecutive integers
    assert max(values) > 1 << 20  # not small integers


def test_handle_values_are_deterministic_from_seed() -> None:
    def values(seed: int) -> list[int]:
        with Kernel(seed=seed, plugins=[]) as k:
            p = k.create_process("a")
            return [p.self_handle, p.root_vmar_handle, p.zx.handle_duplicate(p.self_handle, 1)]

    assert values(1) == values(1)
    assert values(1) != values(2)


def test_closed_value_is_stale_not_reused(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    h = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
    p.zx.handle_close(h)
    fresh = {p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS) for _ in range(1000)}
    assert h not in fresh
    with pytest.raises(ZxError) as e:
        p.zx.handle_close(h)
    assert e.value.status == zx.ZX_ERR_BAD_HANDLE


def test_process_cannot_use_another_process_handles(kernel: Kernel) -> None:
    a = kernel.create_process("a")
    b = kernel.create_process("b")
    for bad in (a.self_handle, a.root_vmar_handle):
        with pytest.raises(ZxError) as e:
            b.zx.object_get_info(bad, BASIC)
        assert e.value.status == zx.ZX_ERR_BAD_HANDLE


def test_duplicate_rules(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    src = p.self_handle
    rights = basic(p, src).rights
    same = p.zx.handle_duplicate(src, zx.ZX_RIGHT_SAME_RIGHTS)
    assert basic(p, same).rights == rights and basic(p, same).koid == p.koid
    less = p.zx.handle_duplicate(src, zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_INSPECT)
    assert basic(p, less).rights == zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_INSPECT
    none = p.zx.handle_duplicate(src, zx.ZX_RIGHT_NONE)
    assert basic(p, none).rights == 0
    # Not a subset: INVALID_ARGS, and nothing is created.
    count = len(p.handles)
    with pytest.raises(ZxError) as e:
        p.zx.handle_duplicate(less, zx.ZX_RIGHT_DUPLICATE | zx.ZX_RIGHT_WRITE)
    assert e.value.status == zx.ZX_ERR_INVALID_ARGS
    # SAME_RIGHTS combined with other bits is not the sentinel: INVALID_ARGS.
    with pytest.raises(ZxError) as e:
        p.zx.handle_duplicate(src, zx.ZX_RIGHT_SAME_RIGHTS | zx.ZX_RIGHT_READ)
    assert e.value.status == zx.ZX_ERR_INVALID_ARGS
    assert len(p.handles) == count
    # Without ZX_RIGHT_DUPLICATE: ACCESS_DENIED (checked before the rights subset).
    with pytest.raises(ZxError) as e:
        p.zx.handle_duplicate(none, zx.ZX_RIGHT_NONE)
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED
    with pytest.raises(ZxError) as e:
        p.zx.handle_duplicate(0xBADC0FFE, zx.ZX_RIGHT_SAME_RIGHTS)
    assert e.value.status == zx.ZX_ERR_BAD_HANDLE


def test_replace_success_original_invalid(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    h = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
    count = p.handle_count
    r = p.zx.handle_replace(h, zx.ZX_RIGHT_INSPECT)
    assert basic(p, r).rights == zx.ZX_RIGHT_INSPECT
    assert p.handle_count == count
    with pytest.raises(ZxError) as e:
        p.zx.handle_close(h)
    assert e.value.status == zx.ZX_ERR_BAD_HANDLE
    # Replace needs no rights at all.
    r2 = p.zx.handle_replace(p.zx.handle_duplicate(p.self_handle, 0), zx.ZX_RIGHT_SAME_RIGHTS)
    assert basic(p, r2).rights == 0


def test_replace_failure_both_invalid(kernel: Kernel) -> None:
    """HandleDup.ReplaceFailureBothInvalid: bad rights still consume the source."""
    p = kernel.create_process("a")
    h = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_INSPECT)
    count = p.handle_count
    with pytest.raises(ZxError) as e:
        p.zx.handle_replace(h, zx.ZX_RIGHT_EXECUTE)
    assert e.value.status == zx.ZX_ERR_INVALID_ARGS
    assert h not in p.handles
    assert p.handle_count == count - 1


def test_close_invalid_is_ok_and_garbage_is_bad_handle(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    p.zx.handle_close(zx.ZX_HANDLE_INVALID)
    for bad in (0xBADC0FFE, 5, -1, 2**40, "h", None, 1.5, [1]):
        with pytest.raises(ZxError) as e:
            p.zx.handle_close(bad)
        assert e.value.status == zx.ZX_ERR_BAD_HANDLE


def test_close_many(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    hs = [p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS) for _ in range(4)]
    p.zx.handle_close_many([hs[0], 0, hs[1], 0])  # zeros are skipped
    assert hs[0] not in p.handles and hs[1] not in p.handles
    # A repeat counts as bad (the second occurrence is gone), yet all valid ones close.
    with pytest.raises(ZxError) as e:
        p.zx.handle_close_many([hs[2], hs[2], hs[3]])
    assert e.value.status == zx.ZX_ERR_BAD_HANDLE
    assert hs[2] not in p.handles and hs[3] not in p.handles
    # Regression 479281267: a bad first entry among 65 still yields BAD_HANDLE.
    many = [p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS) for _ in range(64)]
    with pytest.raises(ZxError) as e:
        p.zx.handle_close_many([0xBADC0FFE, *many])
    assert e.value.status == zx.ZX_ERR_BAD_HANDLE
    assert not set(many) & set(p.handles)
    with pytest.raises(ZxError) as e:
        p.zx.handle_close_many(42)
    assert e.value.status == zx.ZX_ERR_INVALID_ARGS


def test_garbage_arguments_are_statuses_not_exceptions(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    calls = [
        (p.zx.handle_duplicate, (p.self_handle, "x"), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.handle_duplicate, (p.self_handle, -1), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.handle_duplicate, (p.self_handle, 2**33), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.handle_duplicate, (p.self_handle,), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.handle_duplicate, (p.self_handle, 1, 2, 3), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.object_get_info, (p.self_handle, "topic"), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.object_get_info, (p.self_handle, 0x7777), zx.ZX_ERR_NOT_SUPPORTED),
        (p.zx.object_get_info, (p.self_handle, BASIC, 8), zx.ZX_ERR_BUFFER_TOO_SMALL),
        (p.zx.object_get_info, (p.self_handle, BASIC, -8), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.object_signal, (p.self_handle, None, 0), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.object_wait_one, (p.self_handle, 1, "soon"), zx.ZX_ERR_INVALID_ARGS),
        (p.zx.object_set_property, (p.self_handle, zx.ZX_PROP_NAME, 12), zx.ZX_ERR_INVALID_ARGS),
    ]
    for fn, args, status in calls:
        before = dict(p.handles)
        with pytest.raises(ZxError) as e:
            fn(*args)
        assert e.value.status == status, (fn, args)
        assert p.handles == before


def test_handle_valid_and_count(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    assert p.zx.object_get_info(p.self_handle, zx.ZX_INFO_HANDLE_VALID) is None
    with pytest.raises(ZxError) as e:
        p.zx.object_get_info(0xBADC0FFE, zx.ZX_INFO_HANDLE_VALID)
    assert e.value.status == zx.ZX_ERR_BAD_HANDLE
    n0 = p.zx.object_get_info(p.self_handle, zx.ZX_INFO_HANDLE_COUNT).handle_count
    p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
    assert p.zx.object_get_info(p.self_handle, zx.ZX_INFO_HANDLE_COUNT).handle_count == n0 + 1
    no_inspect = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_DUPLICATE)
    with pytest.raises(ZxError) as e:
        p.zx.object_get_info(no_inspect, zx.ZX_INFO_HANDLE_COUNT)
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED
    # HANDLE_BASIC needs no rights.
    assert basic(p, no_inspect).koid == p.koid


@pytest.mark.parametrize("trace", [False, True])
def test_facade_maps_every_argument_mismatch_to_invalid_args(tmp_path: Path, trace: bool) -> None:
    # Missing, extra and unknown keyword arguments are a bad call, never a Python TypeError.
    with Kernel(trace=str(tmp_path / "t.jsonl") if trace else None) as k:
        p = k.create_process("a")
        for call in (lambda: p.zx.vmo_create(size=4096, bogus=1), lambda: p.zx.vmo_create(4096),
                     lambda: p.zx.handle_close(), lambda: p.zx.vmo_create(1, 2, 3)):
            with pytest.raises(ZxError) as e:
                call()
            assert e.value.status == zx.ZX_ERR_INVALID_ARGS
        assert p.zx.vmo_create(size=4096, options=0)


def test_handle_observer_hooks_see_every_handle_event() -> None:
    """A plugin implementing handle_created / handle_closed sees duplicate, close, replace
    and transfers, untraced (the handle paths test one flag for trace and observers)."""
    seen: list[tuple[str, str, int]] = []

    class Watcher:
        name = "watcher"

        @hookimpl
        def handle_created(self, kernel: Kernel, process: Any, handle: Any, reason: str) -> None:
            seen.append(("created", reason, handle.value))

        @hookimpl
        def handle_closed(self, kernel: Kernel, process: Any, handle: Any, reason: str) -> None:
            seen.append(("closed", reason, handle.value))

    with Kernel(seed=1, plugins=["vmo", "channel", Watcher()]) as k:
        assert k.trace is None and k.handle_events
        p = k.create_process("a")
        v = p.zx.vmo_create(4096, 0)
        d = p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS)
        r = p.zx.handle_replace(d, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_TRANSFER)
        a, b = p.zx.channel_create(0)
        p.zx.channel_write(a, 0, b"", [r])
        _, (moved,) = p.zx.channel_read(b, 0)
        p.zx.handle_close(moved)
        del seen[:seen.index(("created", "create", v))]
        assert [(kind, reason) for kind, reason, _ in seen] == [
            ("created", "create"),                      # the VMO
            ("created", "duplicate"),
            ("closed", "replace"), ("created", "replace"),
            ("created", "create"), ("created", "create"),  # the channel's two ends
            ("closed", "transfer"), ("created", "transfer"),
            ("closed", "close"),
        ]
        assert seen[1][2] == d and seen[-1][2] == moved


def test_invariant_checks_enabled_later_run_after_every_syscall() -> None:
    """`enable_invariant_checks` on a running kernel compiles the checker into the facade."""
    with Kernel(seed=1, plugins=["vmo"]) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(4096, 0)
        p.handles[v].obj.handle_count += 5  # corrupt: more than the handles naming it
        p.zx.handle_close(p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS))  # not checked
        k.enable_invariant_checks()
        with pytest.raises(InvariantViolation, match="after zx_handle_duplicate"):
            p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS)
        p.handles[v].obj.handle_count -= 5
