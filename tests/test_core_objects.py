"""Signals, waiting, properties, peered objects and the plugin system (core).

A tiny plugin defined here (a peered "pair" object, like an eventpair) exercises the
registration hooks the way a third-party plugin would.
"""

from __future__ import annotations

import types
from typing import Any

import pytest

from microsim import Kernel, KernelObject, PeeredObject, PluginError, ZxError, hookimpl, zx
from microsim.objects.process import Process

PAIR_TYPE = 60  # an obj_type no Zircon type uses below ZX_OBJ_TYPE_UPPER_BOUND


class Pair(PeeredObject):
    obj_type = PAIR_TYPE
    type_name = "testpair"
    default_rights = zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHTS_PROPERTY | zx.ZX_RIGHT_SIGNAL | zx.ZX_RIGHT_SIGNAL_PEER
    signal_mask = zx.ZX_USER_SIGNAL_ALL | zx.ZX_EVENTPAIR_SIGNALED
    __slots__ = ()


def sys_testpair_create(p: Process, options: int) -> tuple[int, int]:
    """Create a pair; options must be 0."""
    if options != 0:
        raise ZxError(zx.ZX_ERR_INVALID_ARGS)
    k = p.kernel
    a, b = Pair(k), Pair(k)
    PeeredObject.link(a, b)
    k.publish(a, p.koid)
    k.publish(b, p.koid)
    return (
        k.new_handle(p, a, Pair.default_rights),
        k.new_handle(p, b, Pair.default_rights),
    )


def make_plugin(**extra: Any) -> types.SimpleNamespace:
    class Plugin:
        name = "testpair"

        @hookimpl
        def register_object_types(self, register: Any) -> None:
            register(Pair)

        @hookimpl
        def register_syscalls(self, register: Any) -> None:
            register("zx_testpair_create", sys_testpair_create)

    plugin = Plugin()
    for key, value in extra.items():
        setattr(plugin, key, value)
    return plugin  # type: ignore[return-value]


@pytest.fixture
def kernel() -> Kernel:
    with Kernel(seed=3, plugins=[make_plugin()], capture=True) as k:
        yield k


def test_peers_related_koids_and_peer_closed(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    a, b = p.zx.testpair_create(0)
    ia = p.zx.object_get_info(a, zx.ZX_INFO_HANDLE_BASIC)
    ib = p.zx.object_get_info(b, zx.ZX_INFO_HANDLE_BASIC)
    assert ia.type == ib.type == PAIR_TYPE
    assert ia.koid != ib.koid and ia.related_koid == ib.koid and ib.related_koid == ia.koid
    with pytest.raises(ZxError) as e:
        p.zx.object_wait_one(b, zx.ZX_OBJECT_PEER_CLOSED, zx.ZX_TIME_INFINITE_PAST)
    assert e.value.status == zx.ZX_ERR_TIMED_OUT and e.value.observed == 0
    p.zx.handle_close(a)
    assert p.zx.object_wait_one(b, zx.ZX_OBJECT_PEER_CLOSED, 0) == zx.ZX_OBJECT_PEER_CLOSED
    # The related koid stays fixed after the peer is gone.
    assert p.zx.object_get_info(b, zx.ZX_INFO_HANDLE_BASIC).related_koid == ia.koid
    with pytest.raises(ZxError) as e:
        p.zx.object_signal_peer(b, 0, zx.ZX_USER_SIGNAL_0)
    assert e.value.status == zx.ZX_ERR_PEER_CLOSED
    # Mask check precedes the peer check.
    with pytest.raises(ZxError) as e:
        p.zx.object_signal_peer(b, 0, zx.ZX_OBJECT_PEER_CLOSED)
    assert e.value.status == zx.ZX_ERR_INVALID_ARGS


def test_signal_and_signal_peer(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    a, b = p.zx.testpair_create(0)
    u0, u1, u2 = zx.ZX_USER_SIGNAL_0, zx.ZX_USER_SIGNAL_1, zx.ZX_USER_SIGNAL_2
    p.zx.object_signal(a, 0, u0 | u1)
    assert p.zx.object_wait_one(a, u0, 0) == u0 | u1
    with pytest.raises(ZxError) as e:
        p.zx.object_wait_one(b, u0, 0)
    assert e.value.status == zx.ZX_ERR_TIMED_OUT
    p.zx.object_signal(a, u0, 0)
    assert p.zx.object_wait_one(a, u1, 0) == u1
    p.zx.object_signal_peer(a, 0, u2)
    assert p.zx.object_wait_one(b, u2, 0) == u2
    p.zx.object_signal_peer(a, u2, 0)
    with pytest.raises(ZxError):
        p.zx.object_wait_one(b, u2, 0)
    no_sig = p.zx.handle_duplicate(a, zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHT_SIGNAL_PEER)
    with pytest.raises(ZxError) as e:
        p.zx.object_signal(no_sig, 0, u0)
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED
    no_peer = p.zx.handle_duplicate(a, zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHT_SIGNAL)
    with pytest.raises(ZxError) as e:
        p.zx.object_signal_peer(no_peer, 0, u0)
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED
    with pytest.raises(ZxError) as e:
        p.zx.object_signal(a, 0, zx.ZX_OBJECT_PEER_CLOSED)
    assert e.value.status == zx.ZX_ERR_INVALID_ARGS
    # A process handle has no ZX_RIGHT_SIGNAL_PEER (the right is checked first).
    with pytest.raises(ZxError) as e:
        p.zx.object_signal_peer(p.self_handle, 0, u0)
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED
    no_wait = p.zx.handle_duplicate(a, zx.ZX_RIGHT_DUPLICATE)
    with pytest.raises(ZxError) as e:
        p.zx.object_wait_one(no_wait, u1, 0)
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED


def test_wait_many_poll(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    a, b = p.zx.testpair_create(0)
    p.zx.object_signal(b, 0, zx.ZX_USER_SIGNAL_3)
    pending = p.zx.object_wait_many([(a, zx.ZX_USER_SIGNAL_3), (b, zx.ZX_USER_SIGNAL_3)], 0)
    assert pending == [0, zx.ZX_USER_SIGNAL_3]
    with pytest.raises(ZxError) as e:
        p.zx.object_wait_many([(a, zx.ZX_USER_SIGNAL_3)], 0)
    assert e.value.status == zx.ZX_ERR_TIMED_OUT and e.value.pending == [0]
    with pytest.raises(ZxError) as e:
        p.zx.object_wait_many([(a, 1)] * 65, 0)
    assert e.value.status == zx.ZX_ERR_OUT_OF_RANGE


def test_finite_wait_advances_virtual_time(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    a, _ = p.zx.testpair_create(0)
    start = p.zx.clock_get_monotonic()
    deadline = start + 5_000_000
    with pytest.raises(ZxError) as e:
        p.zx.object_wait_one(a, zx.ZX_USER_SIGNAL_0, deadline)
    assert e.value.status == zx.ZX_ERR_TIMED_OUT
    assert p.zx.clock_get_monotonic() >= deadline
    p.zx.nanosleep(p.zx.deadline_after(1000))
    assert p.zx.clock_get_monotonic() > deadline


def test_name_property(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    a, _ = p.zx.testpair_create(0)
    p.zx.object_set_property(a, zx.ZX_PROP_NAME, b"hello")
    assert p.zx.object_get_property(a, zx.ZX_PROP_NAME) == b"hello"
    p.zx.object_set_property(a, zx.ZX_PROP_NAME, b"x" * 40)
    assert p.zx.object_get_property(a, zx.ZX_PROP_NAME) == b"x" * 31
    p.zx.object_set_property(a, zx.ZX_PROP_NAME, b"")
    assert p.zx.object_get_property(a, zx.ZX_PROP_NAME) == b""
    with pytest.raises(ZxError) as e:
        p.zx.object_get_property(a, zx.ZX_PROP_NAME, 31)
    assert e.value.status == zx.ZX_ERR_BUFFER_TOO_SMALL
    ro = p.zx.handle_duplicate(a, zx.ZX_RIGHTS_BASIC)
    with pytest.raises(ZxError) as e:
        p.zx.object_set_property(ro, zx.ZX_PROP_NAME, b"n")
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED
    with pytest.raises(ZxError) as e:
        p.zx.object_get_property(ro, zx.ZX_PROP_NAME)
    assert e.value.status == zx.ZX_ERR_ACCESS_DENIED
    with pytest.raises(ZxError) as e:
        p.zx.object_get_property(p.self_handle, 0x7777)
    assert e.value.status == zx.ZX_ERR_INVALID_ARGS


def test_destruction_on_last_handle_and_trace(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    a, _b = p.zx.testpair_create(0)
    koid = p.zx.object_get_info(a, zx.ZX_INFO_HANDLE_BASIC).koid
    dup = p.zx.handle_duplicate(a, zx.ZX_RIGHT_SAME_RIGHTS)
    p.zx.handle_close(a)
    assert koid in kernel.objects
    p.zx.handle_close(dup)
    assert koid not in kernel.objects
    kernel.trace.flush()
    kinds = [(r["kind"], r.get("koid")) for r in kernel.trace.records]
    assert ("object_created", koid) in kinds
    assert ("object_destroyed", koid) in kinds
    assert kinds.index(("object_created", koid)) < kinds.index(("object_destroyed", koid))
    syscalls = [r for r in kernel.trace.records if r["kind"] == "syscall"]
    names = [r["name"] for r in syscalls]
    assert names[:2] == ["zx_testpair_create", "zx_object_get_info"]
    assert syscalls[0]["args"] == {"options": 0} and syscalls[0]["status"] == 0
    assert [r["sc"] for r in syscalls] == sorted(r["sc"] for r in syscalls)
    closed = [r for r in kernel.trace.records if r["kind"] == "handle_closed"]
    assert {r["handle"] for r in closed} >= {a, dup}


def test_failed_syscall_is_traced_with_status(kernel: Kernel) -> None:
    p = kernel.create_process("a")
    with pytest.raises(ZxError):
        p.zx.testpair_create(1)
    kernel.trace.flush()
    last = [r for r in kernel.trace.records if r["kind"] == "syscall"][-1]
    assert last["name"] == "zx_testpair_create" and last["status"] == zx.ZX_ERR_INVALID_ARGS
    assert not [r for r in kernel.trace.records if r["kind"] == "object_created" and r["type"] == "testpair"]


def test_plugin_listing_and_missing_dependency() -> None:
    with Kernel(plugins=[make_plugin()]) as k:
        rec = k.plugins["testpair"]
        assert rec.object_types == ["testpair"] and rec.syscalls == ["zx_testpair_create"]
        assert "core" in k.plugins and "zx_handle_duplicate" in k.plugins["core"].syscalls
    with pytest.raises(PluginError, match="'testpair' requires plugin 'nothere'"):
        Kernel(plugins=[make_plugin(requires=("nothere",))])


def test_misspelt_hookimpl_is_an_error() -> None:
    class Typo:
        name = "typo"

        @hookimpl
        def register_syscals(self, register: Any) -> None:  # misspelt on purpose
            pass

    with pytest.raises(PluginError, match="register_syscals"):
        Kernel(plugins=[Typo()])


def test_duplicate_syscall_name_is_an_error() -> None:
    class Clash:
        name = "clash"

        @hookimpl
        def register_syscalls(self, register: Any) -> None:
            register("zx_handle_close", lambda p, h: None)

    with pytest.raises(PluginError, match="zx_handle_close"):
        Kernel(plugins=[Clash()])


def test_syscall_observers_enter_exit_replace() -> None:
    seen: list[tuple[str, str, Any]] = []

    class Watch:
        name = "watch"

        @hookimpl
        def register_syscall_hooks(self, register: Any) -> None:
            register("handle_*", enter=lambda c: seen.append(("enter", c.name, c.args)),
                     exit=lambda c: seen.append(("exit", c.name, c.status)))
            register("zx_clock_get_monotonic", replace=lambda c: 42)

    with Kernel(plugins=[make_plugin(), Watch()]) as k:
        p = k.create_process("a")
        assert p.zx.clock_get_monotonic() == 42
        h = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
        with pytest.raises(ZxError):
            p.zx.handle_close(0xBADC0FFE)
        p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_VALID)  # not selected
    assert seen == [
        ("enter", "zx_handle_duplicate", (p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)),
        ("exit", "zx_handle_duplicate", 0),
        ("enter", "zx_handle_close", (0xBADC0FFE,)),
        ("exit", "zx_handle_close", zx.ZX_ERR_BAD_HANDLE),
    ]


def test_object_observer_hooks() -> None:
    events: list[tuple[str, int]] = []

    class Obs:
        name = "obs"

        @hookimpl
        def object_created(self, obj: KernelObject) -> None:
            events.append(("created", obj.obj_type))

        @hookimpl
        def object_destroyed(self, obj: KernelObject) -> None:
            events.append(("destroyed", obj.obj_type))

    with Kernel(plugins=[make_plugin(), Obs()]) as k:
        p = k.create_process("a")
        a, b = p.zx.testpair_create(0)
        p.zx.handle_close_many([a, b])
    assert events[-4:] == [("created", PAIR_TYPE)] * 2 + [("destroyed", PAIR_TYPE)] * 2
    with Kernel(plugins=[make_plugin()]) as k:
        assert k.obs_object_created is None  # no implementation: no call at all


def test_trace_file_is_json_lines(tmp_path: Any) -> None:
    import json

    path = tmp_path / "t.jsonl"
    with Kernel(seed=5, plugins=[make_plugin()], trace=str(path)) as k:
        p = k.create_process("a")
        p.zx.testpair_create(0)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0]["kind"] == "trace_start" and lines[0]["version"] == 2
    assert lines[-1][0] == "trace_end"
    assert any(r[0] == "syscall" and r[5] == "zx_testpair_create" for r in lines[1:])


def test_trace_is_deterministic(tmp_path: Any) -> None:
    def run(path: Any) -> bytes:
        with Kernel(seed=11, plugins=[make_plugin()], trace=str(path)) as k:
            p = k.create_process("a")
            a, b = p.zx.testpair_create(0)
            p.zx.object_signal(a, 0, zx.ZX_USER_SIGNAL_0)
            p.zx.handle_close(b)
        return path.read_bytes()

    assert run(tmp_path / "1.jsonl") == run(tmp_path / "2.jsonl")


def test_kernel_panic_is_not_a_zx_error() -> None:
    from microsim import KernelPanic

    class Buggy:
        name = "buggy"

        @hookimpl
        def register_syscalls(self, register: Any) -> None:
            register("zx_buggy", lambda p: {}["missing"])

    with Kernel(plugins=[Buggy()]) as k:
        p = k.create_process("a")
        with pytest.raises(KernelPanic, match="zx_buggy"):
            p.zx.buggy()
