"""Stateful fuzzing: random syscall sequences from several processes.

Every registered syscall is driven with live, stale, wrong-type, wrong-rights and
other-process handles and random numbers, buffers and region descriptions. After every
step: no exception but ZxError escaped, a failed syscall changed no state (except
Zircon's documented exceptions), and the invariants hold. At the end, closing every
handle and exiting every process destroys every object and leaves nothing mapped.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from microsim import Kernel, KernelPanic, ZxError, zx
from microsim.core.invariants import collect

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


del settings
