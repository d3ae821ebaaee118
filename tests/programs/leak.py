"""A leak: a VMO and a channel created and never closed (the process's exit closes them).

    microsim run tests/programs/leak.py --trace leak.jsonl
    microsim trace leaks leak.jsonl
"""

from __future__ import annotations


def main(ctx) -> None:  # type: ignore[no-untyped-def]
    """Create, use, forget."""
    vmo = ctx.zx.vmo_create(4096, 0)
    ctx.zx.vmo_write(vmo, b"forgotten", 0)
    a, b = ctx.zx.channel_create(0)
    ctx.zx.channel_write(a, 0, b"never read", [])
    ctx.zx.handle_close(b)  # one of the two ends is closed properly
