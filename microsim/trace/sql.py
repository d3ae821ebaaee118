"""Load a trace into SQLite."""

from __future__ import annotations

from typing import IO, Any

from microsim.trace import TraceError


def load_sqlite(path: str | IO[bytes], out: str, info: Any = None) -> dict[str, int]:
    """Load the trace into the SQLite database file `out`; row counts per table."""
    raise TraceError("SQL loading is not available yet")


def query(path: str | IO[bytes], sql: str, info: Any = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one query over the trace."""
    raise TraceError("SQL loading is not available yet")
