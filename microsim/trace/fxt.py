"""Export a trace to Fuchsia's binary trace format (FXT)."""

from __future__ import annotations

from typing import IO, Any

from microsim.trace import TraceError


def write_fxt(path: str | IO[bytes], out: str, info: Any = None) -> int:
    """Write the FXT export of `path` to `out`; returns the number of records."""
    raise TraceError("FXT export is not available yet")
