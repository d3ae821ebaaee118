"""pytest fixtures for microsim (registered through the `pytest11` entry point).

- `kernel_args`: the keyword arguments of the `kernel` fixture's kernel (default: none,
  so every installed plugin). Override it to choose plugins or options:

      @pytest.fixture
      def kernel_args():
          return {"plugins": ["semaphore"]}

- `make_kernel(**kwargs)`: build kernels (closed at teardown); defaults: seed 0, every
  installed plugin, in-memory trace capture, invariant checks after every syscall.
- `kernel`: `make_kernel(**kernel_args)`; `proc`: a process in `kernel`;
- `trace`: a `TraceCapture` of the kernel the test works on: `proc.kernel` when the test
  uses `proc`, else `kernel`. So overriding `kernel` (proc and trace follow it) or
  `proc` (trace follows it) never leaves `trace` watching another kernel; a kernel built
  without `capture=True` is an error, not an empty trace.
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
def kernel_args() -> dict[str, Any]:
    """Keyword arguments for the `kernel` fixture (override to choose plugins...)."""
    return {}


@pytest.fixture
def kernel(make_kernel: Callable[..., Kernel], kernel_args: dict[str, Any]) -> Kernel:
    """A kernel with trace capture and invariant checks, built from `kernel_args`."""
    return make_kernel(**kernel_args)


@pytest.fixture
def proc(kernel: Kernel) -> Process:
    """A process in `kernel`."""
    return kernel.create_process("test")


@pytest.fixture
def trace(request: pytest.FixtureRequest) -> TraceCapture:
    """The captured trace of the test's kernel: `proc.kernel` if the test uses `proc`
    (even an overridden one), else `kernel`."""
    if "proc" in request.fixturenames:
        k: Kernel = request.getfixturevalue("proc").kernel
        source = "proc.kernel"
    else:
        k = request.getfixturevalue("kernel")
        source = "kernel"
    if k.trace is None or k.trace.records is None:
        pytest.fail(
            f"the `trace` fixture needs {source} built with capture=True "
            "(make_kernel() does that by default)", pytrace=False,
        )
    return TraceCapture(k)
