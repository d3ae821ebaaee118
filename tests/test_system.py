"""cprng, ticks, the boot clock and the system information calls."""

from __future__ import annotations

import re

from microsim import zx
from microsim.kernel import Kernel
from microsim.testing.calls import status


def draws(seed: int) -> list[bytes]:
    with Kernel(seed=seed, plugins=["system"]) as k:
        p = k.create_process("rng")
        out = [p.zx.cprng_draw(n) for n in (0, 1, 16, 300)]
        p.zx.cprng_add_entropy(b"entropy")
        out.append(p.zx.cprng_draw(32))
        return out


def test_cprng_is_seeded_and_any_length() -> None:
    a = draws(1)
    assert a == draws(1) and a != draws(2)
    assert [len(x) for x in a] == [0, 1, 16, 300, 32]
    assert len(set(a[2:])) == 3


def test_cprng_errors() -> None:
    with Kernel(seed=0, plugins=["system"], memory=1 << 20) as k:
        p = k.create_process("rng")
        assert len(p.zx.cprng_draw(1 << 20)) == 1 << 20
        for bad in (-1, (1 << 20) + 1, 2**64, "8", None):
            assert status(p.zx.cprng_draw, bad) == zx.ZX_ERR_INVALID_ARGS
    with Kernel(seed=0, plugins=["system"]) as k:
        p = k.create_process("rng")
        assert len(p.zx.cprng_draw(16 << 20)) == 16 << 20
        for bad in ((16 << 20) + 1, 498439907):
            assert status(p.zx.cprng_draw, bad) == zx.ZX_ERR_INVALID_ARGS
        p.zx.cprng_add_entropy(bytes(256))
        assert status(p.zx.cprng_add_entropy, bytes(257)) == zx.ZX_ERR_INVALID_ARGS
        assert status(p.zx.cprng_add_entropy, 5) == zx.ZX_ERR_INVALID_ARGS


def test_ticks_and_clocks_follow_virtual_time() -> None:
    with Kernel(seed=0, plugins=["system"]) as k:
        p = k.create_process("time")
        assert p.zx.ticks_per_second() == 1_000_000_000
        t0 = p.zx.ticks_get()
        p.zx.nanosleep(p.zx.deadline_after(5_000_000))
        t1 = p.zx.ticks_get()
        assert t1 - t0 >= 5_000_000
        assert p.zx.clock_get_boot() >= t1
        assert p.zx.clock_get_monotonic() >= p.zx.clock_get_boot() - k.syscall_ns


def test_system_info() -> None:
    with Kernel(seed=0, plugins=["system"], memory=64 << 20) as k:
        p = k.create_process("info")
        assert p.zx.system_get_page_size() == 4096
        assert p.zx.system_get_num_cpus() >= 1
        assert p.zx.system_get_physmem() == 64 << 20
        v = p.zx.system_get_version_string()
        assert re.fullmatch(r"git-[0-9a-f]{40}", v) and v == p.zx.system_get_version_string()
    with Kernel(seed=0, plugins=["system"], memory=None) as k:
        assert k.create_process("x").zx.system_get_physmem() > 0
