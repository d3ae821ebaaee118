"""The conformance kit: Zircon's generic object rules, run against any object type.

A plugin's test module gets the whole suite in a few lines:

    from microsim.testing.conformance import Blocking, conformance_suite

    TestConformance = conformance_suite(
        plugins=["semaphore"],
        factories={"semaphore": lambda p: p.zx.semaphore_create(0, 1)},
        blocking={"semaphore_acquire": Blocking(
            "semaphore", lambda p, h, deadline: p.zx.semaphore_acquire(h, deadline))},
    )

Each factory gets a fresh process and returns the handle (or the two handles of a peered
pair) of a new object with its default rights. The suite checks:

- koids (unique, never below ZX_KOID_FIRST, related koids of peers), ZX_INFO_HANDLE_BASIC
  (type, default rights), duplicate / replace / close rules, ZX_PROP_NAME, destruction
  when the last handle closes, the peer-closed signal of peered types;
- every allocation point of each factory failed once (ZX_ERR_NO_MEMORY, nothing changed);
- each info topic the plugins register, on the factories' objects: BAD_HANDLE, WRONG_TYPE
  on another type, ACCESS_DENIED without the registered rights, and the buffer rules
  (a fixed-size topic refuses a buffer one byte short; an array topic with a zero-size
  buffer reports actual 0 and the full avail);
- each property the plugins register: WRONG_TYPE, the rights, a too-small value size,
  garbage values for set;
- each blocking call declared in `blocking`: a deadline that passes (ZX_ERR_TIMED_OUT,
  virtual time advanced), closing the handle under the wait (ZX_ERR_CANCELED, unless
  `cancel_on_close=False`), and a deadlock report naming the thread and its wait;
- that every syscall the plugins register turns garbage arguments into a `ZxError`;
- a short stateful fuzzing run (`microsim.testing.fuzz`) of the plugins' syscalls and the
  generic handle and object syscalls on their objects: nothing but ZxError escapes, a
  failed call changes nothing, the invariants hold after every call, and nothing leaks.

Cases that do not apply (the peer rules for an unpeered type, rights a topic does not
require) are not generated, rather than skipped. The suite probes the plugins once, at
collection time, to learn which apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from microsim import zx
from microsim.core.invariants import collect
from microsim.errors import Deadlock, ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.testing.faults import count_allocations, fail_allocation, kernel_state
from microsim.testing.fuzz import OPEN_ISSUES, Fuzzer
from microsim.zx import InfoList

Factory = Callable[[Process], Any]

_PEER_CLOSED = zx.ZX_OBJECT_PEER_CLOSED

# Argument values that are wrong in every way a caller can be wrong.
GARBAGE: tuple[Any, ...] = (
    None, "x", b"\xff" * 3, -1, 2**64, 2**32 + 3, 1.5, [1, 2], {"a": 1}, object(), 0xBADC0FFE,
)


def _handles(result: Any) -> list[int]:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _status(fn: Callable[..., Any], *args: Any) -> int:
    try:
        fn(*args)
    except ZxError as e:
        return e.status
    return zx.ZX_OK


def garbage_calls(params: int) -> list[tuple[Any, ...]]:
    """Argument tuples of garbage for a syscall with `params` parameters."""
    calls: list[tuple[Any, ...]] = [(), tuple(None for _ in range(params + 2))]
    for g in GARBAGE:
        calls.append(tuple(g for _ in range(params)))
    for i in range(params):
        for g in GARBAGE:
            args = [0] * params
            args[i] = g
            calls.append(tuple(args))
    return calls


@dataclass(frozen=True)
class Blocking:
    """A blocking call for the conformance suite: `call(process, handle, deadline)` on a
    fresh object made by factory `factory` must block (the object starts in the state
    that makes callers wait). `cancel_on_close`: closing the handle under the wait ends
    it with ZX_ERR_CANCELED (Zircon's rule for waits made through a handle)."""

    factory: str
    call: Callable[[Process, int, int], Any]
    cancel_on_close: bool = True


@dataclass
class _Probe:
    """What the plugins register, learnt once at collection time."""

    peered: list[str] = field(default_factory=list)
    allocations: list[tuple[str, int]] = field(default_factory=list)
    topics: list[tuple[str, int, str]] = field(default_factory=list)  # factory, topic, case
    properties: list[tuple[str, int, str]] = field(default_factory=list)


def _other_handle(p: Process, cls: type | None) -> int | None:
    """A handle of `p` to an object that is not a `cls` (None if every object is)."""
    if cls is None:
        return None
    for h in (p.self_handle, p.root_vmar_handle):
        if not isinstance(p.handles[h].obj, cls):
            return h
    return None


def _probe(plugins: Sequence[Any] | None, factories: dict[str, Factory], seed: int) -> _Probe:
    probe = _Probe()
    for name, make in sorted(factories.items()):
        with Kernel(seed=seed, plugins=plugins) as k:
            p = k.create_process("probe")
            n = count_allocations(k, make, p)
        probe.allocations += [(name, i) for i in range(1, n + 1)]
    with Kernel(seed=seed, plugins=plugins) as k:
        own = {rec.name for rec in k.plugins.values() if rec.name != "core"}
        p = k.create_process("probe")
        for name, make in sorted(factories.items()):
            hs = _handles(make(p))
            if len(hs) == 2:
                probe.peered.append(name)
            h = hs[0]
            obj = p.handles[h].obj
            for topic in sorted(k.info_topics):
                spec = k.info_topics[topic]
                if spec.plugin not in own or (spec.cls is not None and not isinstance(obj, spec.cls)):
                    continue
                cases = ["bad-handle"]
                if _other_handle(p, spec.cls) is not None:
                    cases.append("wrong-type")
                if spec.rights:
                    cases.append("rights")
                try:
                    result = p.zx.object_get_info(h, topic)
                except ZxError:
                    result = None
                if isinstance(result, InfoList):
                    cases.append("array-buffer")
                elif getattr(type(result), "SIZE", 0):
                    cases.append("fixed-buffer")
                probe.topics += [(name, topic, c) for c in cases]
            for prop in sorted(k.properties):
                pspec = k.properties[prop]
                if pspec.plugin not in own or (pspec.cls is not None and not isinstance(obj, pspec.cls)):
                    continue
                cases = []
                if _other_handle(p, pspec.cls) is not None:
                    cases.append("wrong-type")
                if pspec.get is not None:
                    try:
                        p.zx.object_get_property(h, prop)
                        cases += ["get-rights", "get-value-size"]
                    except ZxError:
                        pass
                if pspec.set is not None:
                    cases += ["set-rights", "set-garbage"]
                probe.properties += [(name, prop, c) for c in cases]
    return probe


def conformance_suite(
    *,
    plugins: Sequence[Any] | None,
    factories: dict[str, Factory],
    blocking: dict[str, Blocking] | None = None,
    seed: int = 0,
    fuzz_calls: int = 600,
    fuzz_known: Sequence[tuple[str, str, str]] = tuple(OPEN_ISSUES),
) -> type:
    """A pytest test class checking the generic object rules for each factory's type.

    `plugins` are passed to `Kernel(plugins=...)`; the garbage-argument, info-topic and
    property checks cover what those plugins register (not the core's, which microsim
    tests itself). `blocking` names the plugins' blocking calls (see `Blocking`).
    `fuzz_calls`: length of the fuzzing run (0: none); `fuzz_known`: findings to count
    apart as known open issues (default: microsim's own, `fuzz.OPEN_ISSUES`).
    """
    names = sorted(factories)
    blocks = dict(sorted((blocking or {}).items()))
    for bname, b in blocks.items():
        if b.factory not in factories:
            raise ValueError(f"blocking call {bname!r}: no factory named {b.factory!r}")
    probe = _probe(plugins, factories, seed)

    def kernel() -> Kernel:
        return Kernel(seed=seed, plugins=plugins, check_invariants=True)

    def topic_id(v: Any) -> str:
        return hex(v) if isinstance(v, int) else str(v)

    class ConformanceSuite:
        @pytest.mark.parametrize("name", names)
        def test_koids_and_basic_info(self, name: str) -> None:
            with kernel() as k:
                p = k.create_process("conformance")
                hs = _handles(factories[name](p))
                infos = [p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC) for h in hs]
                cls = type(k.objects[infos[0].koid])
                assert cls in k.object_types.values()
                koids = [i.koid for i in infos]
                assert len(set(koids)) == len(koids) and min(koids) >= zx.ZX_KOID_FIRST
                for i in infos:
                    assert i.type == cls.obj_type
                    assert i.rights & ~type(k.objects[i.koid]).default_rights == 0
                    assert i.rights == type(k.objects[i.koid]).default_rights
                if len(infos) == 2:
                    assert infos[0].related_koid == infos[1].koid
                    assert infos[1].related_koid == infos[0].koid
                again = [p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).koid
                         for h in _handles(factories[name](p))]
                assert not set(again) & set(koids)
                assert min(again) > max(koids)  # koids only grow

        @pytest.mark.parametrize("name", names)
        def test_duplicate_replace_close(self, name: str) -> None:
            with kernel() as k:
                p = k.create_process("conformance")
                h = _handles(factories[name](p))[0]
                info = p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC)
                if info.rights & zx.ZX_RIGHT_DUPLICATE:
                    d = p.zx.handle_duplicate(h, zx.ZX_RIGHT_SAME_RIGHTS)
                    di = p.zx.object_get_info(d, zx.ZX_INFO_HANDLE_BASIC)
                    assert (di.koid, di.rights) == (info.koid, info.rights)
                    fewer = p.zx.handle_duplicate(h, zx.ZX_RIGHT_DUPLICATE)
                    assert p.zx.object_get_info(fewer, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_RIGHT_DUPLICATE
                    more = info.rights | zx.ZX_RIGHT_EXECUTE | zx.ZX_RIGHT_MANAGE_JOB
                    if more != info.rights:
                        assert _status(p.zx.handle_duplicate, fewer, more) == zx.ZX_ERR_INVALID_ARGS
                    p.zx.handle_close_many([d, fewer])
                else:
                    assert _status(p.zx.handle_duplicate, h, zx.ZX_RIGHT_SAME_RIGHTS) == zx.ZX_ERR_ACCESS_DENIED
                r = p.zx.handle_replace(h, zx.ZX_RIGHT_NONE)
                assert p.zx.object_get_info(r, zx.ZX_INFO_HANDLE_BASIC).rights == 0
                assert _status(p.zx.handle_close, h) == zx.ZX_ERR_BAD_HANDLE
                p.zx.handle_close(r)
                assert _status(p.zx.handle_close, r) == zx.ZX_ERR_BAD_HANDLE

        @pytest.mark.parametrize("name", names)
        def test_name_property(self, name: str) -> None:
            with kernel() as k:
                p = k.create_process("conformance")
                h = _handles(factories[name](p))[0]
                rights = p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights
                # A type without names (Zircon's streams) answers WRONG_TYPE to ZX_PROP_NAME.
                named = _status(p.zx.object_get_property, h, zx.ZX_PROP_NAME) != zx.ZX_ERR_WRONG_TYPE
                if rights & zx.ZX_RIGHT_SET_PROPERTY and rights & zx.ZX_RIGHT_GET_PROPERTY and named:
                    p.zx.object_set_property(h, zx.ZX_PROP_NAME, b"n" * 40)
                    assert p.zx.object_get_property(h, zx.ZX_PROP_NAME) == b"n" * 31
                    assert _status(p.zx.object_get_property, h, zx.ZX_PROP_NAME, 8) == zx.ZX_ERR_BUFFER_TOO_SMALL
                none = p.zx.handle_duplicate(h, 0) if rights & zx.ZX_RIGHT_DUPLICATE else p.zx.handle_replace(h, 0)
                assert _status(p.zx.object_set_property, none, zx.ZX_PROP_NAME, b"x") == zx.ZX_ERR_ACCESS_DENIED

        @pytest.mark.parametrize("name", names)
        def test_destroyed_when_last_handle_closes(self, name: str) -> None:
            with kernel() as k:
                p = k.create_process("conformance")
                hs = _handles(factories[name](p))
                koids = [p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).koid for h in hs]
                before = set(k.objects)
                extra = []
                for h in hs:
                    if p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights & zx.ZX_RIGHT_DUPLICATE:
                        extra.append(p.zx.handle_duplicate(h, zx.ZX_RIGHT_SAME_RIGHTS))
                p.zx.handle_close_many(hs)
                if extra:
                    assert set(koids) & set(k.objects)  # still alive through the duplicates
                p.zx.handle_close_many(extra)
                assert not set(koids) & set(k.objects)
                # Everything the object held is gone with it (nothing new stays alive).
                assert set(k.objects) <= before

        if probe.peered:
            @pytest.mark.parametrize("name", probe.peered)
            def test_peer_closed(self, name: str) -> None:
                with kernel() as k:
                    p = k.create_process("conformance")
                    a, b = _handles(factories[name](p))
                    assert _status(p.zx.object_wait_one, b, _PEER_CLOSED, 0) == zx.ZX_ERR_TIMED_OUT
                    p.zx.handle_close(a)
                    assert p.zx.object_wait_one(b, _PEER_CLOSED, 0) & _PEER_CLOSED
                    assert _status(p.zx.object_signal_peer, b, 0, zx.ZX_USER_SIGNAL_0) in (
                        zx.ZX_ERR_PEER_CLOSED, zx.ZX_ERR_ACCESS_DENIED)

        if probe.allocations:
            @pytest.mark.parametrize(("name", "n"), probe.allocations,
                                     ids=[f"{f}-alloc{n}" for f, n in probe.allocations])
            def test_allocation_failure(self, name: str, n: int) -> None:
                make = factories[name]
                with kernel() as k:
                    p = k.create_process("conformance")
                    before = kernel_state(k)
                    with fail_allocation(k, n) as mem:
                        assert _status(make, p) == zx.ZX_ERR_NO_MEMORY
                        assert mem.failures == 1
                    assert kernel_state(k) == before, "a failed allocation left state behind"
                    assert not collect(k)
                    _handles(make(p))  # and it works once memory is back

        if probe.topics:
            @pytest.mark.parametrize(
                ("name", "topic", "case"), probe.topics,
                ids=[f"{f}-{topic_id(t)}-{c}" for f, t, c in probe.topics])
            def test_info_topic(self, name: str, topic: int, case: str) -> None:
                with kernel() as k:
                    p = k.create_process("conformance")
                    h = _handles(factories[name](p))[0]
                    spec = k.info_topics[topic]
                    get = p.zx.object_get_info
                    if case == "bad-handle":
                        stale = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
                        p.zx.handle_close(stale)
                        assert _status(get, stale, topic) == zx.ZX_ERR_BAD_HANDLE
                    elif case == "wrong-type":
                        other = _other_handle(p, spec.cls)
                        assert _status(get, other, topic) == zx.ZX_ERR_WRONG_TYPE
                    elif case == "rights":
                        rights = p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights
                        fewer = p.zx.handle_replace(h, rights & ~spec.rights)
                        assert _status(get, fewer, topic) == zx.ZX_ERR_ACCESS_DENIED
                    elif case == "fixed-buffer":
                        size = type(get(h, topic)).SIZE
                        assert get(h, topic, size) is not None
                        with pytest.raises(ZxError) as err:
                            get(h, topic, size - 1)
                        assert err.value.status == zx.ZX_ERR_BUFFER_TOO_SMALL
                        assert _status(get, h, topic, 0) == zx.ZX_ERR_BUFFER_TOO_SMALL
                    elif case == "array-buffer":
                        full = get(h, topic)
                        none = get(h, topic, 0)
                        assert isinstance(none, InfoList) and none.actual == 0 and len(none) == 0
                        assert none.avail == full.avail >= full.actual == len(full)

        if probe.properties:
            @pytest.mark.parametrize(
                ("name", "prop", "case"), probe.properties,
                ids=[f"{f}-{topic_id(t)}-{c}" for f, t, c in probe.properties])
            def test_property(self, name: str, prop: int, case: str) -> None:
                with kernel() as k:
                    p = k.create_process("conformance")
                    h = _handles(factories[name](p))[0]
                    spec = k.properties[prop]
                    rights = p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights
                    if case == "wrong-type":
                        other = _other_handle(p, spec.cls)
                        if spec.get is not None:
                            assert _status(p.zx.object_get_property, other, prop) == zx.ZX_ERR_WRONG_TYPE
                        if spec.set is not None:
                            assert _status(p.zx.object_set_property, other, prop, 0) == zx.ZX_ERR_WRONG_TYPE
                    elif case == "get-rights":
                        for missing in (zx.ZX_RIGHT_GET_PROPERTY, spec.rights):
                            if missing and rights & missing:
                                fewer = p.zx.handle_duplicate(h, rights & ~missing) if rights & zx.ZX_RIGHT_DUPLICATE \
                                    else p.zx.handle_replace(h, rights & ~missing)
                                assert _status(p.zx.object_get_property, fewer, prop) == zx.ZX_ERR_ACCESS_DENIED
                    elif case == "get-value-size":
                        assert _status(p.zx.object_get_property, h, prop, 0) == zx.ZX_ERR_BUFFER_TOO_SMALL
                    elif case == "set-rights":
                        for missing in (zx.ZX_RIGHT_SET_PROPERTY, spec.rights | spec.set_rights):
                            if missing and rights & missing:
                                fewer = p.zx.handle_duplicate(h, rights & ~missing) if rights & zx.ZX_RIGHT_DUPLICATE \
                                    else p.zx.handle_replace(h, rights & ~missing)
                                before = kernel_state(k)
                                assert _status(p.zx.object_set_property, fewer, prop, 1) == zx.ZX_ERR_ACCESS_DENIED
                                assert kernel_state(k) == before
                    elif case == "set-garbage":
                        for value in GARBAGE:
                            try:
                                p.zx.object_set_property(h, prop, value)
                            except ZxError:
                                pass
                            except Exception as exc:
                                pytest.fail(f"set_property({prop:#x}, {value!r:.40}) raised "
                                            f"{type(exc).__name__}: {exc}")

        if blocks:
            @pytest.mark.parametrize("call", list(blocks))
            def test_blocking_deadline(self, call: str) -> None:
                b = blocks[call]
                with kernel() as k:
                    p = k.create_process("conformance")
                    h = _handles(factories[b.factory](p))[0]
                    t0 = k.now
                    assert _status(b.call, p, h, t0 - 1) == zx.ZX_ERR_TIMED_OUT  # passed: at once
                    deadline = k.now + 5_000_000
                    assert _status(b.call, p, h, deadline) == zx.ZX_ERR_TIMED_OUT
                    assert k.now >= deadline
                    out: list[int] = []
                    k.create_thread(p, lambda: out.append(_status(b.call, p, h, k.now + 1_000_000)))
                    k.run()
                    assert out == [zx.ZX_ERR_TIMED_OUT]

            cancelling = [c for c, b in blocks.items() if b.cancel_on_close]
            if cancelling:
                @pytest.mark.parametrize("call", cancelling)
                def test_blocking_cancel_on_close(self, call: str) -> None:
                    b = blocks[call]
                    with kernel() as k:
                        p = k.create_process("conformance")
                        hs = _handles(factories[b.factory](p))
                        h = hs[0]
                        keep = p.zx.handle_duplicate(h, zx.ZX_RIGHT_SAME_RIGHTS)
                        out: list[int] = []

                        def closer() -> None:
                            p.zx.nanosleep(k.now + 1_000_000)
                            p.zx.handle_close(h)

                        k.create_thread(p, lambda: out.append(_status(b.call, p, h, zx.ZX_TIME_INFINITE)))
                        k.create_thread(p, closer)
                        try:
                            k.run()
                        except Deadlock as exc:
                            pytest.fail(f"closing the handle did not end the wait: {exc}")
                        assert out == [zx.ZX_ERR_CANCELED]
                        assert not collect(k)
                        del keep

            @pytest.mark.parametrize("call", list(blocks))
            def test_blocking_deadlock_report(self, call: str) -> None:
                b = blocks[call]
                with kernel() as k:
                    p = k.create_process("conformance")
                    h = _handles(factories[b.factory](p))[0]
                    reasons: list[int] = []

                    def watch() -> None:
                        p.zx.nanosleep(k.now + 1_000_000)
                        waiting = [t for t in k.sched.threads if t.wait is not None]
                        reasons.extend(t.wait.reason for t in waiting if t.wait is not None)

                    k.create_thread(p, lambda: b.call(p, h, zx.ZX_TIME_INFINITE), name="blocker")
                    k.create_thread(p, watch, name="watcher")
                    with pytest.raises(Deadlock) as err:
                        k.run()
                    assert len(err.value.blocked) == 1 and "blocker" in err.value.blocked[0]
                    what = err.value.blocked[0].split(": ", 1)[1]
                    assert what and what != "?", "the wait has no description"
                    assert len(reasons) == 1 and reasons[0] & 0xFF == zx.ZX_THREAD_STATE_BLOCKED, (
                        "the wait's reason is not a ZX_THREAD_STATE_BLOCKED_* value")


        def test_syscalls_turn_garbage_into_statuses(self) -> None:
            with kernel() as k:
                p = k.create_process("conformance")
                other = k.create_process("other")
                own = {n for rec in k.plugins.values() if rec.name != "core" for n in rec.syscalls}
                stale = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
                p.zx.handle_close(stale)
                live = [_handles(f(p))[0] for f in factories.values()]
                for name in sorted(own):
                    spec = k.syscalls.specs[name]
                    method = getattr(p.zx, spec.method)
                    n = len(spec.params)
                    calls = garbage_calls(n)
                    for h in (stale, other.self_handle, p.root_vmar_handle, *live):
                        calls.append(tuple([h] + [0] * (n - 1)))
                    for args in calls:
                        try:
                            method(*args)
                        except ZxError:
                            pass
                        except Exception as exc:
                            pytest.fail(f"{name}{args!r:.120} raised {type(exc).__name__}: {exc}")

        def test_fuzzing_the_plugin_syscalls(self) -> None:
            if not fuzz_calls:
                pytest.skip("fuzz_calls=0")
            with kernel() as k:
                own = sorted(n for rec in k.plugins.values() if rec.name != "core" for n in rec.syscalls)

            def setup(p: Process) -> None:
                for f in factories.values():
                    f(p)

            fuzzer = Fuzzer(seed, plugins=plugins, syscalls=[*own, "zx_handle_*", "zx_object_*"],
                            episode=max(fuzz_calls // 2, 1), setup=setup, known=fuzz_known)
            report = fuzzer.run(fuzz_calls)
            assert report.clean, report.render()

    ConformanceSuite.__name__ = "ConformanceSuite"
    return ConformanceSuite
