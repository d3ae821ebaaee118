"""Allocation-failure injection, the invariant checker, and clear errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from microsim import Kernel, KernelObject, ZxError, zx
from microsim.core.invariants import InvariantViolation, collect

P = zx.ZX_PAGE_SIZE


def _state(k: Kernel) -> Any:
    procs = tuple((p.koid, tuple(sorted((v, h.obj.koid, h.rights) for v, h in p.handles.items())))
                  for p in k.processes)
    objs = tuple(sorted((o.koid, o.signals, o.handle_count, o.kernel_refs) for o in k.objects.values()))
    return procs, objs, k.mem.pages_used


def _region(access: int, discipline: int = 0, size: int = P) -> zx.zx_iob_region_t:
    r = zx.zx_iob_region_t(type=zx.ZX_IOB_REGION_TYPE_PRIVATE, access=access, size=size)
    r.discipline.type = discipline
    return r


def scenario(k: Kernel) -> None:
    """Create an IOB with several regions, map it, allocate ids, close everything."""
    p = k.processes[0]
    ep0, ep1 = p.zx.iob_create(0, [
        _region(0x33), _region(0x03 | zx.ZX_IOB_ACCESS_EP1_CAN_MEDIATED_WRITE, zx.ZX_IOB_DISCIPLINE_TYPE_ID_ALLOCATOR),
        _region(0x33, size=3 * P),
    ])
    addr = p.zx.vmar_map_iob(p.root_vmar_handle, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE, 0, ep0, 0, 0, P)
    p.write_memory(addr, b"hello")
    for blob in (b"one", b"two", b"three"):
        p.zx.iob_allocate_id(ep1, 0, 1, blob)
    p.zx.vmar_unmap(p.root_vmar_handle, addr, P)
    p.zx.handle_close_many([ep0, ep1])


def count_allocations() -> int:
    with Kernel(plugins=["vmo", "iob"]) as k:
        k.create_process("a")
        k.mem.arm()
        scenario(k)
        return k.mem.count


def test_every_allocation_point_fails_cleanly() -> None:
    total = count_allocations()
    assert total > 10
    for n in range(1, total + 1):
        with Kernel(plugins=["vmo", "iob"], check_invariants=True) as k:
            k.create_process("a")
            k.mem.arm(fail_at=n)
            failed_state = None
            try:
                scenario(k)
            except ZxError as e:
                assert e.status == zx.ZX_ERR_NO_MEMORY, (n, e)
                failed_state = _state(k)
            assert k.mem.failures == 1, n
            assert not collect(k), n
            assert failed_state is not None
            # The failed syscall left no half-built object: closing what the program
            # still holds and exiting releases everything.
            k.mem.disarm()
            k.exit_process(k.processes[0])
            assert not [o for o in k.objects.values() if o.type_name not in ("process", "thread", "job")], n


def test_failed_allocation_changes_nothing() -> None:
    with Kernel(plugins=["vmo", "iob", "channel"]) as k:
        p = k.create_process("a")
        for call in (lambda: p.zx.vmo_create(P, 0), lambda: p.zx.channel_create(0),
                     lambda: p.zx.iob_create(0, [_region(0x33), _region(0x33)]),
                     lambda: p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)):
            before = _state(k)
            k.mem.arm(fail_at=1)
            with pytest.raises(ZxError) as e:
                call()
            k.mem.disarm()
            assert e.value.status == zx.ZX_ERR_NO_MEMORY
            assert _state(k) == before


def test_seeded_failure_rate_is_deterministic() -> None:
    def run(seed: int) -> list[int]:
        out = []
        with Kernel(plugins=["vmo"]) as k:
            p = k.create_process("a")
            k.mem.arm(fail_rate=0.3, seed=seed)
            for _ in range(40):
                try:
                    p.zx.vmo_create(P, 0)
                    out.append(0)
                except ZxError as e:
                    out.append(e.status)
        return out

    assert run(5) == run(5) and zx.ZX_ERR_NO_MEMORY in run(5) and 0 in run(5)


def test_memory_size_limits_pages() -> None:
    with Kernel(plugins=["vmo"], memory=3 * P) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(8 * P, 0)
        p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 0, 3 * P)
        with pytest.raises(ZxError) as e:
            p.zx.vmo_op_range(v, zx.ZX_VMO_OP_COMMIT, 3 * P, P)
        assert e.value.status == zx.ZX_ERR_NO_MEMORY


def test_invariant_checker_finds_corruption() -> None:
    with Kernel(plugins=["vmo", "iob", "channel"]) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(P, 0)
        a, b = p.zx.channel_create(0)
        assert collect(k) == []
        vmo: KernelObject = p.handles[v].obj
        vmo.handle_count += 1  # a count that no longer matches the handles... still >=
        vmo.signals &= ~zx.ZX_VMO_ZERO_CHILDREN
        ch = p.handles[a].obj
        ch.signals |= zx.ZX_CHANNEL_READABLE
        problems = collect(k)
        assert any("ZERO_CHILDREN" in m for m in problems)
        assert any("READABLE" in m for m in problems)
        vmo.signals |= zx.ZX_VMO_ZERO_CHILDREN
        ch.signals &= ~zx.ZX_CHANNEL_READABLE
        vmo.handle_count = 0  # fewer than the handles naming it
        assert any("handle_count" in m for m in collect(k))
        vmo.handle_count = 1
        del b


def test_invariants_run_after_every_syscall_when_enabled() -> None:
    with Kernel(plugins=["vmo"], check_invariants=True) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(P, 0)
        p.handles[v].obj.signals = 0  # corrupt: ZERO_CHILDREN must be asserted
        with pytest.raises(InvariantViolation, match="after zx_vmo_get_size"):
            p.zx.vmo_get_size(v)


def _fake_plugin(tmp_path: Path, source: str) -> dict[str, str]:
    """A distribution on PYTHONPATH with a `microsim.plugins` entry point named broken."""
    (tmp_path / "broken_plugin.py").write_text(textwrap.dedent(source))
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[microsim.plugins]\nbroken = broken_plugin\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH", "")]))
    return env


@pytest.mark.parametrize("source,message", [
    ("from microsim import hookimpl\n@hookimpl\ndef register_syscals(register):\n    pass\n", "register_syscals"),
    ("from microsim import hookimpl\n@hookimpl\ndef register_syscalls(register):\n"
     "    register('zx_handle_close', lambda p, h: None)\n", "zx_handle_close"),
    ("requires = ('nothere',)\n", "requires plugin 'nothere'"),
    ("raise RuntimeError('import-time bug')\n", "failed to import"),
])
def test_broken_plugins_get_a_one_line_error(tmp_path: Path, source: str, message: str) -> None:
    env = _fake_plugin(tmp_path, source)
    r = subprocess.run([sys.executable, "-m", "microsim", "plugins"], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([sys.executable, "-m", "microsim", "--debug", "plugins"], capture_output=True,
                       text=True, env=env)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_program_that_raises_exits_nonzero(tmp_path: Path) -> None:
    prog = tmp_path / "boom.py"
    prog.write_text("def main(ctx):\n    raise KeyError('nope')\n")
    r = subprocess.run([sys.executable, "-m", "microsim", "run", str(prog)], capture_output=True, text=True)
    assert r.returncode == 1 and "KeyError" in r.stderr
