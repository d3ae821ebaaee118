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
- `@pytest.mark.microsim(explore="pct", runs=500)`: run a test body taking `ctx` as a
  program under an exploration strategy (see the end of this module).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from microsim import explore
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.runner import ProgramContext
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


# ---------------------------------------------------------------------------- exploration
# `@pytest.mark.microsim(explore="pct", runs=500, depth=2)` runs the test body as a
# program's main under an exploration strategy (microsim.explore): the test takes `ctx`
# (a ProgramContext) and may take other fixtures. Options: explore ("random", "pct",
# "dfs"), runs, depth (PCT), bound and max_runs (DFS), seed. A failing run fails the test
# with its replay schedule and the trace of the shortest failing run found by shrinking.
_MARKER_OPTIONS = {"explore", "runs", "depth", "bound", "seed", "max_runs"}


def pytest_configure(config: pytest.Config) -> None:
    """Register the `microsim` marker."""
    config.addinivalue_line(
        "markers",
        "microsim(explore='pct', runs=500, depth=2, bound=2, seed=0): run the test body "
        "(taking `ctx`) as a program under an exploration strategy",
    )


@pytest.fixture
def ctx(request: pytest.FixtureRequest) -> None:
    """The ProgramContext of a test marked `@pytest.mark.microsim(...)` (one per run)."""
    if request.node.get_closest_marker("microsim") is None:
        pytest.fail("the ctx fixture is for tests marked @pytest.mark.microsim(...)", pytrace=False)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a `microsim`-marked test under its strategy instead of calling it once."""
    marker = pyfuncitem.get_closest_marker("microsim")
    if marker is None:
        return None
    unknown = set(marker.kwargs) - _MARKER_OPTIONS
    if marker.args or unknown:
        pytest.fail(
            f"{pyfuncitem.nodeid}: microsim marker takes keywords {sorted(_MARKER_OPTIONS)}; "
            f"got {sorted(unknown) or list(marker.args)}", pytrace=False
        )
    opts = dict(marker.kwargs)
    test = pyfuncitem.obj
    names = pyfuncitem._fixtureinfo.argnames
    fixtures = {n: pyfuncitem.funcargs[n] for n in names if n != "ctx"}

    def program(ctx: ProgramContext) -> Any:
        return test(ctx=ctx, **fixtures) if "ctx" in names else test(**fixtures)

    program.__module__ = pyfuncitem.name
    report = explore.explore(
        program, opts.get("explore", "pct"), runs=opts.get("runs", 500),
        depth=opts.get("depth", 2), bound=opts.get("bound", 2), seed=opts.get("seed", 0),
        max_runs=opts.get("max_runs"), max_failures=1, shrink_failures=False,
    )
    if not report.results:
        if report.strategy == "dfs" and not report.complete:
            pytest.fail(f"{report.headline()} (raise max_runs or lower bound)", pytrace=False)
        return True
    factory = pyfuncitem.config._tmp_path_factory  # type: ignore[attr-defined]
    trace = str(factory.mktemp("microsim") / "shortest.jsonl")
    first = report.failed[0]
    best = explore.shortest_of(program, report.failed, trace=trace)
    lines = [
        report.headline(),
        "\n".join(first.failures) or first.error,
        *([f"output:\n{first.output.rstrip()}"] if first.output else []),
        f"shortest failing schedule ({best.preemptions} preemption{'s' if best.preemptions != 1 else ''}, "
        f"{best.steps} steps): {best.error}",
        f"replay schedule: {best.schedule}",
        f"trace of the shortest failing run: {trace}",
    ]
    pytest.fail("\n".join(lines), pytrace=False)
