"""The conformance kit: Zircon's generic object rules, run against any object type.

A plugin's test module gets the whole suite in a few lines:

    from microsim.testing.conformance import conformance_suite

    def make_event(proc):                     # returns one handle, or a peer pair
        return proc.zx.event_create(0)

    TestConformance = conformance_suite(plugins=["eventpair"], factories={"event": make_event})

Each factory gets a fresh process and returns the handle (or the two handles of a peered
pair) of a new object with its default rights. The suite checks: koids (unique, never
below ZX_KOID_FIRST, related koids of peers), ZX_INFO_HANDLE_BASIC (type, default rights),
duplicate / replace / close rules, ZX_PROP_NAME, destruction when the last handle closes,
the peer-closed signal of peered types, that every syscall the plugins register turns
garbage arguments into a `ZxError` and never another exception, and a short stateful fuzzing
run (`microsim.testing.fuzz`) of the plugins' syscalls and the generic handle and object
syscalls on their objects: nothing but ZxError escapes, a failed call changes nothing, the
invariants hold after every call, and nothing leaks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from microsim import zx
from microsim.errors import ZxError
from microsim.kernel import Kernel
from microsim.objects.process import Process
from microsim.testing.fuzz import OPEN_ISSUES, Fuzzer

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


def conformance_suite(
    *, plugins: Sequence[Any] | None, factories: dict[str, Factory], seed: int = 0,
    fuzz_calls: int = 600, fuzz_known: Sequence[tuple[str, str, str]] = tuple(OPEN_ISSUES),
) -> type:
    """A pytest test class checking the generic object rules for each factory's type.

    `plugins` are passed to `Kernel(plugins=...)`; the garbage-argument check covers
    every syscall those plugins register (not the core's, which microsim tests itself).
    `fuzz_calls`: length of the fuzzing run (0: none); `fuzz_known`: findings to count
    apart as known open issues (default: microsim's own, `fuzz.OPEN_ISSUES`).
    """
    names = sorted(factories)

    def kernel() -> Kernel:
        return Kernel(seed=seed, plugins=plugins, check_invariants=True)

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
                if rights & zx.ZX_RIGHT_SET_PROPERTY and rights & zx.ZX_RIGHT_GET_PROPERTY:
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

        @pytest.mark.parametrize("name", names)
        def test_peer_closed(self, name: str) -> None:
            with kernel() as k:
                p = k.create_process("conformance")
                hs = _handles(factories[name](p))
                if len(hs) != 2:
                    pytest.skip("not a peered type")
                a, b = hs
                assert _status(p.zx.object_wait_one, b, _PEER_CLOSED, 0) == zx.ZX_ERR_TIMED_OUT
                p.zx.handle_close(a)
                assert p.zx.object_wait_one(b, _PEER_CLOSED, 0) & _PEER_CLOSED
                assert _status(p.zx.object_signal_peer, b, 0, zx.ZX_USER_SIGNAL_0) in (
                    zx.ZX_ERR_PEER_CLOSED, zx.ZX_ERR_ACCESS_DENIED)

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
