"""Stateful fuzzing: random syscall sequences from several processes.

Every registered syscall is driven with live, stale, wrong-type, wrong-rights and
other-process handles and random numbers, buffers and region descriptions. After every
step: no exception but ZxError escaped, a failed syscall changed no state (except
Zircon's documented exceptions), and the invariants hold. At the end, closing every
handle and exiting every process destroys every object and leaves nothing mapped.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from microsim import Kernel, KernelObject, KernelPanic, ZxError, hookimpl, zx
from microsim.core.invariants import collect
from microsim.core.syscall import arg_u32
from microsim.objects.process import Process
from microsim.testing.fuzz import OPEN_ISSUES, Fuzzer
from microsim.testing.fuzz import main as fuzz_main

P = zx.ZX_PAGE_SIZE
INTS = st.one_of(
    st.sampled_from([0, 1, 2, 3, 8, P - 1, P, P + 1, 2 * P, 16 * P, 2**32 - 1, 2**32, 2**63, 2**64 - 1,
                     -1, zx.ZX_RIGHT_SAME_RIGHTS, zx.ZX_TIME_INFINITE_PAST, 0x33, 0x03, 0x11, 0x88]),
    st.integers(min_value=0, max_value=2**16),
)
# Zircon's documented exceptions to "a failed syscall changes nothing": replace and
# channel writes consume handles on failure, close_many closes the valid ones, a read with
# ZX_CHANNEL_READ_MAY_DISCARD drops a message too large for the buffers, and an ID
# allocation that finds a corrupt index slot has already advanced the header.
CONSUMING = {"zx_handle_replace", "zx_channel_write", "zx_channel_write_etc", "zx_handle_close_many",
             "zx_channel_read", "zx_channel_read_etc", "zx_iob_allocate_id", "zx_process_exit"}
# zx_vmo_replace_as_executable consumes its source handle on failure, like replace.
CONSUMING.add("zx_vmo_replace_as_executable")


def region_strategy(shared: list[int]) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda t, a, s, d, o, h: _region(t, a, s, d, o, h),
        st.sampled_from([0, 0, 0, 1, 7]), st.sampled_from([0x33, 0x03, 0x11, 0x08, 0x88, 0x0B, 0, 0xFF]),
        st.sampled_from([0, 1, P, 2 * P, 2**64 - 1]), st.sampled_from([0, 0, 1, 2, 9]),
        st.sampled_from([0, 0, 2, 0xFFF]), st.sampled_from(shared or [0]),
    )


def _region(t: int, a: int, s: int, d: int, o: int, h: int) -> zx.zx_iob_region_t:
    r = zx.zx_iob_region_t(type=t, access=a, size=0 if t == 1 else s)
    r.discipline.type = d
    r.private_region.options = o
    if t == 1:
        r.shared_region.shared_region = h
    return r


def snapshot(k: Kernel) -> Any:
    """Everything a failed syscall must leave alone."""
    procs = tuple((p.koid, tuple(sorted((v, h.obj.koid, h.rights) for v, h in p.handles.items())))
                  for p in k.processes)
    objs = tuple(sorted((o.koid, o.signals, o.handle_count, o.kernel_refs) for o in k.objects.values()))
    maps = []
    for p in k.processes:
        if p.root_vmar is not None:
            maps += [(d, getattr(n, "base", 0), getattr(n, "size", 0)) for d, n in p.root_vmar.walk(0)]
    return procs, objs, tuple(maps), k.mem.pages_used


class SyscallMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # A bounded memory: a random COMMIT of 2**32 bytes must fail, not eat the host.
        self.k = Kernel(seed=1, capture=False, memory=64 << 20)
        self.procs = [self.k.create_process(f"p{i}") for i in range(3)]
        self.stale: list[int] = []
        self.calls = 0
        names = sorted(self.k.syscalls.specs)
        self.names = [n for n in names if n not in ("zx_process_exit", "zx_nanosleep", "zx_object_wait_one",
                                                    "zx_object_wait_many", "zx_port_wait")]

    def teardown(self) -> None:
        self.k.close()

    def handles(self, i: int) -> list[int]:
        return sorted(self.procs[i].handles)

    def shared_regions(self, i: int) -> list[int]:
        return [v for v, h in self.procs[i].handles.items() if h.obj.type_name == "iob_shared_region"]

    @rule(data=st.data())
    def create_something(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, 2))
        p = self.procs[i]
        choice = data.draw(st.sampled_from(["vmo", "channel", "port", "iob", "shared"]))
        try:
            if choice == "vmo":
                p.zx.vmo_create(data.draw(st.sampled_from([0, P, 3 * P])), data.draw(st.sampled_from([0, 2])))
            elif choice == "channel":
                p.zx.channel_create(0)
            elif choice == "port":
                p.zx.port_create(0)
            elif choice == "shared":
                p.zx.iob_create_shared_region(0, 2 * P)
            else:
                regions = data.draw(st.lists(region_strategy(self.shared_regions(i)), min_size=1, max_size=3))
                p.zx.iob_create(0, regions)
        except ZxError:
            pass

    @rule(data=st.data())
    def random_syscall(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, 2))
        p = self.procs[i]
        name = data.draw(st.sampled_from(self.names))
        spec = self.k.syscalls.specs[name]
        own = self.handles(i)
        others = [h for j in range(3) if j != i for h in self.handles(j)]
        handle_values = st.sampled_from(own + others + self.stale + [0, 0xBADC0FFE]) if own else INTS
        args: list[Any] = []
        for param in spec.params:
            if param in ("regions",):
                args.append(data.draw(st.lists(region_strategy(self.shared_regions(i)), max_size=3)))
            elif param in ("data", "blob", "value"):
                args.append(data.draw(st.one_of(st.binary(max_size=64), st.none(), INTS)))
            elif param in ("handles", "vectors", "items"):
                args.append(data.draw(st.lists(st.one_of(handle_values, st.binary(max_size=8)), max_size=4)))
            elif "handle" in param or param in ("vmar", "vmo", "iob", "port", "source", "parent_vmar"):
                args.append(data.draw(st.one_of(handle_values, handle_values, INTS)))
            else:
                args.append(data.draw(INTS))
        before = snapshot(self.k)
        self.calls += 1
        try:
            result = getattr(p.zx, spec.method)(*args)
        except ZxError:
            may_discard = name.startswith("zx_channel_read") and len(args) > 1 and \
                isinstance(args[1], int) and args[1] & zx.ZX_CHANNEL_READ_MAY_DISCARD
            consuming = name in CONSUMING and (not name.startswith("zx_channel_read") or may_discard)
            if not consuming:
                assert snapshot(self.k)[:3] == before[:3], f"{name}{tuple(args)!r:.200} failed but changed state"
            return
        except KernelPanic as exc:
            raise AssertionError(f"kernel panic in {name}{tuple(args)!r:.200}: {exc}") from exc
        if name in ("zx_handle_close",) and isinstance(args[0], int) and args[0]:
            self.stale.append(args[0])
        del result

    @precondition(lambda self: any(self.handles(i) for i in range(3)))
    @rule(data=st.data())
    def close_one(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, 2))
        hs = self.handles(i)
        if not hs:
            return
        h = data.draw(st.sampled_from(hs))
        if h in (self.procs[i].self_handle, self.procs[i].root_vmar_handle):
            return
        self.procs[i].zx.handle_close(h)
        self.stale.append(h)

    @rule(data=st.data())
    def move_handle(self, data: st.DataObject) -> None:
        i, j = data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))
        hs = [h for h in self.handles(i) if h not in (self.procs[i].self_handle, self.procs[i].root_vmar_handle)]
        chans = [v for v, h in self.procs[i].handles.items() if h.obj.type_name == "channel"]
        if not hs or not chans:
            return
        with contextlib.suppress(ZxError):
            self.procs[i].zx.channel_write(data.draw(st.sampled_from(chans)), 0, b"m", [data.draw(st.sampled_from(hs))])
        del j

    @invariant()
    def invariants_hold(self) -> None:
        problems = collect(self.k)
        assert not problems, problems

    def check_cleanup(self) -> None:
        for p in self.procs:
            self.k.exit_process(p)
        # Zircon lets a channel end travel into its own queue (only the writing end is
        # refused); such a message can never be read, so what it holds stays alive, as in
        # Zircon. Everything else must be gone.
        from collections import Counter

        in_flight: Counter[int] = Counter()
        for obj in self.k.objects.values():
            for _, handles in getattr(obj, "messages", ()):
                for h in handles:
                    in_flight[h.obj.koid] += 1
        live = [o for o in self.k.objects.values()
                if o.type_name not in ("process", "thread", "job") and o.handle_count != in_flight[o.koid]]
        assert not live, live


class CleanupMachine(SyscallMachine):
    """The same machine, checking at the end that process exit releases everything."""

    def teardown(self) -> None:
        try:
            self.check_cleanup()
        finally:
            self.k.close()


TestSyscallFuzz = CleanupMachine.TestCase


@pytest.mark.fuzz
def test_long_campaign() -> None:
    """A long campaign (run with: pytest -m fuzz --hypothesis-profile=long)."""
    from hypothesis import settings as hs
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(CleanupMachine, settings=hs())




# --------------------------------------------------------------------------- the table-driven fuzzer


def test_short_campaign_is_clean_and_reaches_every_syscall() -> None:
    # About 110 syscalls now: 4,000 calls reach each several times (about 2.5 s).
    rep = Fuzzer(seed=11, episode=300, known=OPEN_ISSUES).run(4000)
    assert rep.syscalls == 4000 and rep.episodes >= 5
    assert rep.clean, rep.render()
    with Kernel() as k:
        names = set(k.syscalls.specs)
    assert set(rep.per_syscall) == names
    # Deep enough to matter: most syscalls succeed now and then.
    assert len([n for n in names if rep.ok[n]]) >= len(names) * 0.5, rep.render()
    assert rep.trace_digest and rep.memory_probes > 0


def _cli(args: list[str], hashseed: str, tmp: Path) -> dict[str, Any]:
    out = tmp / f"r{hashseed}.json"
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    r = subprocess.run([sys.executable, "-m", "microsim.testing.fuzz", *args, "--json", str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode in (0, 1), r.stderr
    assert "syscalls" in r.stdout and "RESULT:" in r.stdout
    data: dict[str, Any] = json.loads(out.read_text())
    data.pop("duration_s")
    return data


def test_same_seed_same_calls_and_trace_across_hash_seeds(tmp_path: Path) -> None:
    args = ["--syscalls", "400", "--seed", "4", "--episode", "200", "--skip", "bigints"]
    a, b = _cli(args, "1", tmp_path), _cli(args, "2", tmp_path)
    assert a == b and a["trace_bytes"] > 30_000
    other = Fuzzer(seed=5, episode=200, skip=["bigints"]).run(400)
    assert other.trace_digest != a["trace_digest"]


def test_cli_rejects_what_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        fuzz_main(["--skip", "nonsense", "--syscalls", "1"])
    with pytest.raises(SystemExit):
        fuzz_main(["--known", "escaped-only", "--syscalls", "1"])
    assert fuzz_main(["--syscalls", "50", "--only", "zx_handle_*,vmo_*", "--skip", "bigints"]) in (0, 1)
    out = capsys.readouterr().out
    assert "zx_vmo_create" in out and "zx_port_create" not in out


# A plugin with planted bugs: the fuzzer finds each through the syscall table alone.
class Widget(KernelObject):
    obj_type = zx.MICROSIM_OBJ_TYPE_FIRST + 1  # a plugin type number
    type_name = "widget"
    default_rights = zx.ZX_DEFAULT_VMO_RIGHTS

    __slots__ = ("level",)

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(kernel)
        self.level = 0


def sys_widget_create(p: Process, options: int) -> int:
    """zx_widget_create: a widget."""
    arg_u32(options)
    w = Widget(p.kernel)
    w.publish()
    return p.kernel.new_handle(p, w, Widget.default_rights)


def sys_widget_leak(p: Process, handle: int, rights: int) -> None:
    """zx_widget_leak: takes the handle out of the table, then validates `rights` (item 3's bug)."""
    h = p.take_handle(handle, "transfer")
    if type(rights) is not int:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS)
    p.kernel.close_handle(h)


def sys_widget_set_level(p: Process, handle: int, level: int) -> None:
    """zx_widget_set_level: stores `level` before checking it (a failed call changes state)."""
    w = p.obj(handle, Widget, zx.ZX_RIGHT_WRITE)
    w.level = level if type(level) is int else -1
    arg_u32(level)


def sys_widget_crash(p: Process, size: int) -> int:
    """zx_widget_crash: an internal error for sizes beyond 32 bits."""
    if type(size) is not int:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS)
    return [0][1 if size > 2**32 else 0]


class WidgetPlugin:
    @staticmethod
    @hookimpl
    def register_object_types(register: Any) -> None:
        register(Widget)

    @staticmethod
    @hookimpl
    def register_syscalls(register: Any) -> None:
        for name, fn in (("zx_widget_create", sys_widget_create), ("zx_widget_leak", sys_widget_leak),
                         ("zx_widget_set_level", sys_widget_set_level), ("zx_widget_crash", sys_widget_crash)):
            register(name, fn)


def test_fuzzer_finds_planted_bugs_in_a_new_plugin() -> None:
    rep = Fuzzer(seed=2, plugins=[WidgetPlugin()], syscalls=["zx_widget_*", "zx_handle_close"],
                 episode=300, skip=["memory", "bigints", "exited-process", "threads"]).run(1500)
    assert rep.counts["invariant"] >= 1, rep.render()  # the leak: handle count above the handles
    assert rep.counts["changed"] >= 1, rep.render()
    assert rep.counts["escaped"] >= 1, rep.render()
    kinds = {(f.kind, f.syscall) for f in rep.findings}
    assert ("invariant", "zx_widget_leak") in kinds
    assert ("changed", "zx_widget_set_level") in kinds
    assert ("escaped", "zx_widget_crash") in kinds
    assert any("IndexError" in f.detail for f in rep.findings if f.syscall == "zx_widget_crash")


def test_a_leak_at_teardown_is_found() -> None:
    # Objects kept alive by a kernel reference nobody drops outlive every process.
    def setup(p: Process) -> None:
        p.kernel.objects[p.handles[p.zx.vmo_create(P, 0)].obj.koid].retain()

    rep = Fuzzer(seed=2, plugins=["vmo"], syscalls=["zx_vmo_get_size"], episode=50, setup=setup,
                 skip=["memory", "bigints"]).run(50)
    assert rep.counts["leak"] >= 1 and set(rep.counts) == {"leak"}, rep.render()
    assert "outlive every process" in rep.findings[0].detail


def test_deadlocked_waits_are_allowed_and_change_nothing() -> None:
    rep = Fuzzer(seed=3, plugins=["channel", "port"], syscalls=["zx_*wait*", "zx_*create"], episode=250,
                 skip=["memory", "bigints", "exited-process"]).run(500)
    assert rep.deadlocks > 0 and rep.clean, rep.render()


def test_fuzzer_finds_the_deadlock_leftovers_if_the_fix_is_reverted(monkeypatch: pytest.MonkeyPatch) -> None:
    from microsim.core.sched import Scheduler, Wait

    def block_without_cleanup(self: Scheduler, wait: Wait, deadline: int) -> int:
        # The direct-call path as it was: a Deadlock left the wait registered.
        self.run(until=lambda: wait.done)
        return wait.status

    monkeypatch.setattr(Scheduler, "block", block_without_cleanup)
    rep = Fuzzer(seed=0, plugins=["channel", "port"], syscalls=["zx_*wait*", "zx_*create", "zx_port_queue"],
                 skip=["bigints", "exited-process", "threads"], episode=500).run(500)
    found = {(f.kind, f.syscall) for f in rep.findings}
    assert ("changed", "zx_port_wait") in found  # the ghost waiter
    assert ("invariant", "zx_object_wait_one") in found  # the orphaned observer


def test_one_episode_replays_alone() -> None:
    def run(**kw: Any) -> list[str]:
        rep = Fuzzer(seed=4, plugins=[WidgetPlugin()], syscalls=["zx_widget_*", "zx_handle_close"], episode=150,
                     keep=50, skip=["bigints", "exited-process"]).run(450, **kw)
        return [f.line() for f in rep.findings if " episode 2 " in f.where + " "]

    whole = run()
    assert whole and run(first_episode=2, episodes=1) == whole
