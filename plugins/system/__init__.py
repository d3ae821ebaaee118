"""The system plugin: randomness, ticks, the boot clock and system information.

- `zx_cprng_draw(buffer_size) -> bytes`: `buffer_size` random bytes from a generator
  seeded by the kernel seed (so a run replays exactly). Zircon's vDSO call takes any
  length (looping over 256-byte kernel draws); microsim returns the bytes, so it bounds
  one call to CPRNG_DRAW_MAX (16 MiB) and the simulated memory size; a negative, non-int
  or larger size is ZX_ERR_INVALID_ARGS (where Zircon would fault on the bad buffer).
- `zx_cprng_add_entropy(data)`: mixes `data` into the generator (deterministically);
  more than ZX_CPRNG_ADD_ENTROPY_MAX_LEN (256) bytes -> ZX_ERR_INVALID_ARGS.
- `zx_ticks_get()`, `zx_ticks_per_second()`: virtual time, one tick per nanosecond.
- `zx_clock_get_boot()`: nanoseconds since boot (virtual time; the simulator never
  suspends, so it equals the monotonic clock).
- `zx_system_get_page_size()` (4096), `zx_system_get_num_cpus()` (1: simulated threads
  run one at a time), `zx_system_get_physmem()` (the simulated memory size; 2**40 when
  unlimited), `zx_system_get_version_string()` ("git-" and 40 hex digits).

None of these takes a handle; only the two cprng calls can fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from microsim import hookimpl, zx
from microsim.core.syscall import arg_bytes
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process

description = "cprng, ticks, the boot clock and system information"

TICKS_PER_SECOND = 1_000_000_000
NUM_CPUS = 1
UNLIMITED_PHYSMEM = 1 << 40
# microsim's bound on one zx_cprng_draw (the bytes are returned, so they take host memory).
CPRNG_DRAW_MAX = 16 << 20
VERSION = "git-" + hashlib.sha1(b"microsim 0.1.0").hexdigest()


def sys_cprng_draw(p: Process, buffer_size: int) -> bytes:
    """zx_cprng_draw: `buffer_size` random bytes (seeded from the kernel seed).

    Limits: at most 16 MiB (CPRNG_DRAW_MAX) and the simulated memory size per call; a
    size that is not an int, negative or larger is ZX_ERR_INVALID_ARGS.
    """
    k = p.kernel
    limit = min(CPRNG_DRAW_MAX, k.mem.size if k.mem.size is not None else CPRNG_DRAW_MAX)
    if type(buffer_size) is not int or not 0 <= buffer_size <= limit:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "not a buffer size")
    if buffer_size == 0:
        return b""
    return k.random("cprng").randbytes(buffer_size)


def sys_cprng_add_entropy(p: Process, data: bytes) -> None:
    """zx_cprng_add_entropy: mix `data` into the generator (at most 256 bytes, else
    ZX_ERR_INVALID_ARGS). Deterministic: the same program and seed give the same bytes."""
    buf = arg_bytes(data)
    if len(buf) > zx.ZX_CPRNG_ADD_ENTROPY_MAX_LEN:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS, "more than ZX_CPRNG_ADD_ENTROPY_MAX_LEN bytes")
    rng = p.kernel.random("cprng")
    digest = hashlib.sha256(rng.getrandbits(256).to_bytes(32, "little") + buf).digest()
    rng.seed(int.from_bytes(digest, "little"))
    return None


def sys_ticks_get(p: Process) -> int:
    """zx_ticks_get: the tick counter (virtual time; one tick per nanosecond)."""
    return p.kernel.now


def sys_ticks_per_second(p: Process) -> int:
    """zx_ticks_per_second: 1_000_000_000."""
    return TICKS_PER_SECOND


def sys_clock_get_boot(p: Process) -> int:
    """zx_clock_get_boot: nanoseconds since boot (virtual time)."""
    return p.kernel.now


def sys_system_get_page_size(p: Process) -> int:
    """zx_system_get_page_size: 4096."""
    return zx.ZX_PAGE_SIZE


def sys_system_get_num_cpus(p: Process) -> int:
    """zx_system_get_num_cpus: 1 (simulated threads run one at a time)."""
    return NUM_CPUS


def sys_system_get_physmem(p: Process) -> int:
    """zx_system_get_physmem: the simulated memory size in bytes (2**40 when unlimited)."""
    size = p.kernel.mem.size
    return size if size is not None else UNLIMITED_PHYSMEM


def sys_system_get_version_string(p: Process) -> str:
    """zx_system_get_version_string: "git-" followed by 40 hex digits, fixed."""
    return VERSION


SYSCALLS: dict[str, Any] = {
    "zx_cprng_draw": sys_cprng_draw,
    "zx_cprng_add_entropy": sys_cprng_add_entropy,
    "zx_ticks_get": sys_ticks_get,
    "zx_ticks_per_second": sys_ticks_per_second,
    "zx_clock_get_boot": sys_clock_get_boot,
    "zx_system_get_page_size": sys_system_get_page_size,
    "zx_system_get_num_cpus": sys_system_get_num_cpus,
    "zx_system_get_physmem": sys_system_get_physmem,
    "zx_system_get_version_string": sys_system_get_version_string,
}


@hookimpl
def register_syscalls(register: Callable[..., None]) -> None:
    for name, impl in SYSCALLS.items():
        register(name, impl)


@hookimpl
def kernel_started(kernel: Kernel) -> None:
    kernel.random("cprng")  # the stream exists from boot, whatever is drawn first
