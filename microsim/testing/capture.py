"""In-memory trace capture with helpers to assert on events.

A kernel built with `capture=True` keeps its records compactly (their rendered batches,
about as many bytes per event as the trace file); `TraceCapture` decodes them into record
dicts, the same as `microsim.trace.records` gives for a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from microsim.kernel import Kernel


class TraceCapture:
    """The trace records of a kernel built with `capture=True`, as a queryable list."""

    def __init__(self, kernel: Kernel) -> None:
        if kernel.trace is None or kernel.trace.records is None:
            raise ValueError("the kernel was not built with capture=True")
        self.kernel = kernel

    @property
    def records(self) -> Sequence[dict[str, Any]]:
        """Every record so far (flushes the buffer first)."""
        assert self.kernel.trace is not None and self.kernel.trace.records is not None
        self.kernel.trace.flush()
        return self.kernel.trace.records

    def events(self, kind: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Records of `kind` (any if None) whose fields equal the given values."""
        return [
            r
            for r in self.records
            if (kind is None or r["kind"] == kind)
            and all(r.get(k) == v for k, v in fields.items())
        ]

    def syscalls(self, name: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Syscall records (optionally of one syscall: "zx_vmo_create" or "vmo_create")."""
        if name is not None and not name.startswith("zx_"):
            name = "zx_" + name
        if name is not None:
            fields["name"] = name
        return self.events("syscall", **fields)

    def assert_event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """The first matching record; AssertionError listing the kinds seen if none."""
        found = self.events(kind, **fields)
        if not found:
            seen = sorted({r["kind"] for r in self.records})
            raise AssertionError(f"no {kind!r} event with {fields}; kinds seen: {seen}")
        return found[0]

    def assert_no_event(self, kind: str, **fields: Any) -> None:
        """Fail if any record matches."""
        found = self.events(kind, **fields)
        if found:
            raise AssertionError(f"unexpected {kind!r} events: {found[:3]}")

    def mark(self) -> int:
        """A position; `since(mark)` returns the records after it."""
        return len(self.records)

    def since(self, mark: int, kind: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """Records after `mark`, filtered like `events`."""
        return [
            r
            for r in self.records[mark:]
            if (kind is None or r["kind"] == kind)
            and all(r.get(k) == v for k, v in fields.items())
        ]
