"""pytest fixtures for microsim (registered through the `pytest11` entry point).

- `make_kernel(**kwargs)`: build kernels (closed at teardown); defaults: seed 0, every
  installed plugin, in-memory trace capture, invariant checks after every syscall.
- `kernel`: one such kernel; `proc`: a process in it; `trace`: a `TraceCapture` of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.testing.capture import TraceCapture


@pytest.fixture
def make_kernel() -> Iterator[Callable[..., Kernel]]:
    """A factory for kernels that are closed when the test ends."""
    made: list[Kernel] = []

    def factory(**kwargs: Any) -> Kernel:
        kwargs.setdefault("seed", 0)
        kwargs.setdefault("capture", True)
        kwargs.setdefault("check_invariants", True)
        k = Kernel(**kwargs)
        made.append(k)
        return k

    yield factory
    for k in made:
        k.close()


@pytest.fixture
def kernel(make_kernel: Callable[..., Kernel]) -> Kernel:
    """A kernel with every installed plugin, trace capture and invariant checks."""
    return make_kernel()


@pytest.fixture
def proc(kernel: Kernel) -> Process:
    """A process in `kernel`."""
    return kernel.create_process("test")


@pytest.fixture
def trace(kernel: Kernel) -> TraceCapture:
    """The captured trace of `kernel`."""
    return TraceCapture(kernel)
