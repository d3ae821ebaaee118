"""Test kit for microsim and its plugins: pytest fixtures, trace helpers, failure injection
and the conformance suite.

The fixtures are registered with pytest through the `pytest11` entry point, so any
project that installs microsim can use them: `kernel_args`, `kernel`, `proc`,
`make_kernel`, `trace` (see `microsim.testing.pytest_plugin` for how to override them).
Failure injection: `fail_allocation`, `check_allocation_failures` (`microsim.testing.faults`).
The conformance suite: `microsim.testing.conformance.conformance_suite`.
`status(fn, *args)`: the Zircon status of a call (ZX_OK when it returns).
"""

from microsim.testing.calls import status
from microsim.testing.capture import TraceCapture
from microsim.testing.faults import (
    check_allocation_failures,
    count_allocations,
    fail_allocation,
    kernel_state,
)

__all__ = [
    "TraceCapture",
    "check_allocation_failures",
    "count_allocations",
    "fail_allocation",
    "kernel_state",
    "status",
]
