"""Programs, threads, the scheduler, virtual time, `microsim run`, and the examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from microsim import Deadlock, Kernel, ZxError, zx
from microsim.cli import main as cli_main
from microsim.runner import run_program, spawn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_spawn_moves_startup_handles_and_runs() -> None:
    seen: list[bytes] = []

    def child(ctx) -> None:  # type: ignore[no-untyped-def]
        (h,) = ctx.handles
        ctx.zx.object_wait_one(h, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)
        seen.append(ctx.zx.channel_read(h, 0)[0])

    def parent(ctx) -> None:  # type: ignore[no-untyped-def]
        a, b = ctx.zx.channel_create(0)
        ctx.spawn(child, handles=[b])
        assert b not in ctx.process.handles  # moved out
        ctx.zx.nanosleep(ctx.zx.deadline_after(5_000))
        ctx.zx.channel_write(a, 0, b"hello child", [])

    with Kernel(seed=4, check_invariants=True) as k:
        spawn(k, parent)
        k.run()
        assert seen == [b"hello child"]
        assert all(p.exited for p in k.processes)


def test_deadlock_names_the_blocked_threads() -> None:
    def stuck(ctx) -> None:  # type: ignore[no-untyped-def]
        a, _ = ctx.zx.channel_create(0)
        ctx.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)

    with Kernel() as k:
        spawn(k, stuck, name="stuck-prog")
        with pytest.raises(Deadlock) as e:
            k.run()
        assert "stuck-prog/main" in str(e.value) and "wait_one" in str(e.value)


def test_time_jumps_to_the_earliest_deadline() -> None:
    times: list[int] = []

    def sleeper(ctx) -> None:  # type: ignore[no-untyped-def]
        ctx.zx.nanosleep(5_000_000_000)
        times.append(ctx.zx.clock_get_monotonic())

    with Kernel() as k:
        spawn(k, sleeper)
        k.run()
    assert times and times[0] >= 5_000_000_000


def test_wait_timeout_inside_a_thread() -> None:
    out: list[int] = []

    def prog(ctx) -> None:  # type: ignore[no-untyped-def]
        a, _ = ctx.zx.channel_create(0)
        try:
            ctx.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, ctx.zx.deadline_after(1000))
        except ZxError as e:
            out.append(e.status)

    with Kernel() as k:
        spawn(k, prog)
        k.run()
    assert out == [zx.ZX_ERR_TIMED_OUT]


def test_same_seed_same_trace_different_seeds_differ(tmp_path: Path) -> None:
    def run(seed: int, name: str) -> bytes:
        path = tmp_path / name
        run_program(EXAMPLES / "race.py", seed=seed, trace=str(path))
        return path.read_bytes()

    assert run(3, "a.jsonl") == run(3, "b.jsonl")
    traces = {run(s, f"s{s}.jsonl") for s in range(6)}
    assert len(traces) > 1


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_examples_run_and_are_deterministic(example: str, tmp_path: Path) -> None:
    if example == "race.py":
        seed = next(s for s in range(50) if run_program(EXAMPLES / example, seed=s).ok)
    else:
        seed = 0
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    r = run_program(EXAMPLES / example, seed=seed, trace=str(a))
    assert r.ok, r.failures or r.error
    assert r.leaked_handles == 0
    run_program(EXAMPLES / example, seed=seed, trace=str(b))
    assert a.read_bytes() == b.read_bytes()


def test_race_example_fails_only_under_some_seeds() -> None:
    results = [run_program(EXAMPLES / "race.py", seed=s) for s in range(20)]
    failing = [r.seed for r in results if not r.ok]
    assert failing and len(failing) < 20
    assert all("lost an increment" in r.error for r in results if not r.ok)


def test_cli_run(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    trace = tmp_path / "demo.jsonl"
    assert cli_main(["run", str(EXAMPLES / "demo.py"), "--trace", str(trace)]) == 0
    out = capsys.readouterr().out
    assert "reader: got 'goodbye'" in out and f"trace written to {trace}" in out
    assert "zx_iob_create" in out  # the trace summary follows
    assert cli_main(["run", str(EXAMPLES / "producer_consumer.py"), "--", "7"]) == 0
    assert "received 7 messages" in capsys.readouterr().out
    assert cli_main(["run", str(EXAMPLES / "race.py"), "--seeds", "0..9"]) == 1
    out = capsys.readouterr().out
    assert "10 seeds run" in out and "replay: microsim run" in out and "--schedule v1-s" in out


def test_cli_run_failures_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def main(ctx):\n    raise ValueError('boom')\n")
    r = subprocess.run([sys.executable, "-m", "microsim", "run", str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "ValueError: boom" in r.stderr
    r = subprocess.run([sys.executable, "-m", "microsim", "run", str(tmp_path / "missing.py")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "missing.py" in r.stderr
