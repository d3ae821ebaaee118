"""The pytest kit itself: fixture overriding rules, failure injection, and that the
conformance suite fails a plugin that breaks the rules."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from microsim import Kernel, KernelObject, Wait, ZxError, hookimpl, zx
from microsim.objects.process import Process
from microsim.testing import TraceCapture, check_allocation_failures, fail_allocation, kernel_state
from microsim.testing.conformance import Blocking, conformance_suite


class TestOverridingProc:
    @pytest.fixture
    def proc(self, make_kernel: Callable[..., Kernel]) -> Process:
        return make_kernel(plugins=["channel"], seed=5).create_process("mine")

    def test_trace_follows_the_overridden_proc(self, proc: Process, trace: TraceCapture) -> None:
        assert trace.kernel is proc.kernel
        proc.zx.channel_create(0)
        trace.assert_event("syscall", name="zx_channel_create", status=0)


class TestOverridingKernelArgs:
    @pytest.fixture
    def kernel_args(self) -> dict[str, Any]:
        return {"plugins": ["port"], "seed": 9}

    def test_kernel_proc_and_trace_follow(self, kernel: Kernel, proc: Process, trace: TraceCapture) -> None:
        assert set(kernel.plugins) == {"core", "port"} and kernel.seed == 9
        assert proc.kernel is kernel and trace.kernel is kernel


class TestOverridingKernel:
    @pytest.fixture
    def kernel(self, make_kernel: Callable[..., Kernel]) -> Kernel:
        return make_kernel(plugins=["vmo"])

    def test_trace_follows_the_overridden_kernel(self, kernel: Kernel, trace: TraceCapture) -> None:
        assert trace.kernel is kernel


class TestUncapturedKernel:
    @pytest.fixture
    def proc(self, make_kernel: Callable[..., Kernel]) -> Process:
        return make_kernel(capture=False).create_process("untraced")

    def test_trace_of_an_uncaptured_kernel_is_an_error(self, proc: Process, request: pytest.FixtureRequest) -> None:
        with pytest.raises(pytest.fail.Exception, match="capture=True"):
            request.getfixturevalue("trace")


def test_fail_allocation(proc: Process) -> None:
    with fail_allocation(proc.kernel) as mem, pytest.raises(ZxError) as err:
        proc.zx.channel_create(0)
    assert err.value.status == zx.ZX_ERR_NO_MEMORY and mem.failures == 1
    assert not proc.kernel.mem.armed
    with fail_allocation(proc.kernel, 2, kinds={"handle"}) as mem, pytest.raises(ZxError):
        proc.zx.channel_create(0)  # its second handle entry fails
    assert mem.counts["handle"] == 2 and mem.failures == 1


# --------------------------------------------------------------------------- a broken plugin
class Leaky(KernelObject):
    obj_type = zx.MICROSIM_OBJ_TYPE_FIRST + 3
    type_name = "leaky"
    default_rights = zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHTS_PROPERTY
    __slots__ = ()


LEAKED: list[Leaky] = []


def sys_leaky_create(p: Process) -> int:
    """Breaks the rule: publishes its object before its handle allocation point."""
    k = p.kernel
    obj = Leaky(k)
    obj.retain()
    LEAKED.append(obj)
    k.publish(obj, p.koid)
    return k.new_handle(p, obj, Leaky.default_rights)


def sys_leaky_wait(p: Process, handle: int, deadline: int) -> None:
    """Breaks the rule: blocks through a bare Wait, so closing the handle does not cancel."""
    p.lookup(handle, Leaky, zx.ZX_RIGHT_WAIT)
    status = p.kernel.sched.block(Wait("leaky"), deadline) if deadline > p.kernel.now else zx.ZX_ERR_TIMED_OUT
    if status != zx.ZX_OK:
        raise ZxError(status)


def leaky_get(p: Process, h: Any, value_size: int | None) -> int:
    return 1  # breaks the rule: ignores value_size


def _leaky_plugin() -> Any:
    @hookimpl
    def register_object_types(register: Callable[..., None]) -> None:
        register(Leaky)

    @hookimpl
    def register_syscalls(register: Callable[..., None]) -> None:
        register("zx_leaky_create", sys_leaky_create)
        register("zx_leaky_wait", sys_leaky_wait)

    @hookimpl
    def register_properties(register: Callable[..., None]) -> None:
        register(zx.MICROSIM_PROP_FIRST, name="LEAKY", get=leaky_get, cls=Leaky)

    return SimpleNamespace(name="leaky", register_object_types=register_object_types,
                           register_syscalls=register_syscalls, register_properties=register_properties)


def test_the_conformance_suite_catches_a_broken_plugin() -> None:
    plugin = _leaky_plugin()
    Suite = conformance_suite(
        plugins=[plugin], factories={"leaky": lambda p: p.zx.leaky_create()},
        blocking={"leaky_wait": Blocking("leaky", lambda p, h, d: p.zx.leaky_wait(h, d))},
    )
    suite = Suite()
    assert not hasattr(suite, "test_peer_closed")  # not generated for an unpeered type
    with pytest.raises(AssertionError):
        suite.test_allocation_failure("leaky", 1)
    with pytest.raises(AssertionError):
        suite.test_property("leaky", zx.MICROSIM_PROP_FIRST, "get-value-size")
    with pytest.raises(pytest.fail.Exception, match="did not end the wait"):
        suite.test_blocking_cancel_on_close("leaky_wait")
    suite.test_property("leaky", zx.MICROSIM_PROP_FIRST, "wrong-type")  # the kernel's check


def test_check_allocation_failures_reports_the_leak() -> None:
    plugin = _leaky_plugin()
    with pytest.raises(AssertionError, match="allocation 1 of 1"):
        check_allocation_failures(
            lambda: Kernel(plugins=[plugin]),
            setup=lambda k: (k.create_process("p"),),
            action=lambda p: p.zx.leaky_create(),
        )
    n = check_allocation_failures(
        lambda: Kernel(plugins=["channel"], check_invariants=True),
        setup=lambda k: (k.create_process("p"),),
        action=lambda p: p.zx.channel_create(0),
    )
    assert n == 3


def test_kernel_state_sees_a_new_handle(proc: Process) -> None:
    before = kernel_state(proc.kernel)
    proc.zx.port_create(0)
    assert kernel_state(proc.kernel) != before
