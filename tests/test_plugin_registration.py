"""Registration rules: number ranges, one shape for topics and properties, collisions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from microsim import Kernel, KernelObject, PluginError, ZxError, hookimpl, zx


def plugin(name: str, **hooks: Callable[..., None]) -> Any:
    """A plugin object named `name` implementing the given registration hooks."""
    ns = SimpleNamespace(name=name)
    for hook, fn in hooks.items():
        def impl(register: Any, fn: Callable[..., None] = fn) -> None:
            fn(register)
        impl.__name__ = hook
        setattr(ns, hook, hookimpl(impl))
    return ns


def obj_class(obj_type: Any, type_name: str = "thing") -> type[KernelObject]:
    return type("Thing", (KernelObject,), {"obj_type": obj_type, "type_name": type_name,
                                           "default_rights": zx.ZX_RIGHTS_BASIC | zx.ZX_RIGHTS_PROPERTY | zx.ZX_RIGHTS_IO,
                                           "__slots__": ()})


Thing = obj_class(zx.MICROSIM_OBJ_TYPE_FIRST)


@dataclass(slots=True)
class thing_info_t(zx.Struct):
    FORMAT: ClassVar[str] = "<Q"
    value: int = 0


def types(*classes: type) -> Callable[[Any], None]:
    return lambda register: [register(c) for c in classes]


@pytest.mark.parametrize("obj_type", [0x1000, zx.ZX_OBJ_TYPE_UPPER_BOUND, 0, -1, 40, "5", None])
def test_object_type_numbers_outside_the_ranges_are_refused(obj_type: Any) -> None:
    with pytest.raises(PluginError, match=r"plugin 'p'.*MICROSIM_OBJ_TYPE_FIRST"):
        Kernel(plugins=[plugin("p", register_object_types=types(obj_class(obj_type)))])


@pytest.mark.parametrize("obj_type", [zx.ZX_OBJ_TYPE_EVENT, zx.MICROSIM_OBJ_TYPE_FIRST, zx.MICROSIM_OBJ_TYPE_LAST])
def test_zircon_and_plugin_object_types_are_accepted(obj_type: int) -> None:
    with Kernel(plugins=[plugin("p", register_object_types=types(obj_class(obj_type)))]) as k:
        assert k.object_types["thing"].obj_type == obj_type


def test_object_type_clashes_name_both_plugins() -> None:
    a = plugin("a", register_object_types=types(obj_class(50, "one")))
    b = plugin("b", register_object_types=types(obj_class(50, "two")))
    with pytest.raises(PluginError, match=r"plugin 'b'.*already registered by plugin 'a'"):
        Kernel(plugins=[a, b])
    c = plugin("c", register_object_types=types(obj_class(51, "one")))
    with pytest.raises(PluginError, match=r"plugin 'c'.*'one'.*already registered by plugin 'a'"):
        Kernel(plugins=[a, c])
    d = plugin("d", register_object_types=types(obj_class(zx.ZX_OBJ_TYPE_PROCESS, "proc2")))
    with pytest.raises(PluginError, match="already registered by plugin 'core'"):
        Kernel(plugins=[d])


@pytest.mark.parametrize("topic", [0, 0x500, 0x2000, 2**32, -3, "x"])
def test_info_topic_numbers_outside_the_ranges_are_refused(topic: Any) -> None:
    p = plugin("p", register_info_topics=lambda r: r(topic, lambda *a: None, name="T"))
    with pytest.raises(PluginError, match=r"plugin 'p'.*MICROSIM_INFO_TOPIC_FIRST"):
        Kernel(plugins=[p])


def test_info_topic_clash_and_bad_arguments() -> None:
    a = plugin("a", register_info_topics=lambda r: r(0x1001, lambda *a: None, name="A"))
    b = plugin("b", register_info_topics=lambda r: r(0x1001, lambda *a: None, name="B"))
    with pytest.raises(PluginError, match=r"plugin 'b'.*already registered by plugin 'a'"):
        Kernel(plugins=[a, b])
    core = plugin("c", register_info_topics=lambda r: r(zx.ZX_INFO_HANDLE_BASIC, lambda *a: None))
    with pytest.raises(PluginError, match="already registered by plugin 'core'"):
        Kernel(plugins=[core])
    bad_cls = plugin("d", register_info_topics=lambda r: r(0x1002, lambda *a: None, cls=int))
    with pytest.raises(PluginError, match="cls must be"):
        Kernel(plugins=[bad_cls])
    versioned = plugin("e", register_info_topics=lambda r: r(0x1003 | (1 << 28), lambda *a: None))
    Kernel(plugins=[versioned]).close()


@pytest.mark.parametrize("prop", [0, zx.ZX_PROP_NAME, 0x500, 0x2000, "x"])
def test_property_numbers_outside_the_ranges_are_refused(prop: Any) -> None:
    p = plugin("p", register_properties=lambda r: r(prop, get=lambda *a: 0))
    with pytest.raises(PluginError, match=r"plugin 'p'.*MICROSIM_PROP_FIRST"):
        Kernel(plugins=[p])


def test_property_clash_names_both_plugins() -> None:
    a = plugin("a", register_properties=lambda r: r(0x1000, get=lambda *a: 0))
    b = plugin("b", register_properties=lambda r: r(0x1000, set=lambda *a: None))
    with pytest.raises(PluginError, match=r"plugin 'b'.*already registered by plugin 'a'"):
        Kernel(plugins=[a, b])
    neither = plugin("n", register_properties=lambda r: r(0x1001))
    with pytest.raises(PluginError, match="get=, set="):
        Kernel(plugins=[neither])


def _status(fn: Callable[..., Any], *args: Any) -> int:
    try:
        fn(*args)
    except ZxError as e:
        return e.status
    return zx.ZX_OK


def test_topics_and_properties_share_one_shape() -> None:
    calls: list[tuple[str, Any, Any]] = []

    def info(p: Any, h: Any, buffer_size: int | None) -> thing_info_t:
        thing_info_t.check_buffer(buffer_size)
        calls.append(("info", type(h.obj), buffer_size))
        return thing_info_t(h.obj.koid)

    def get(p: Any, h: Any, value_size: int | None) -> int:
        zx.check_buffer(8, value_size)
        calls.append(("get", type(h.obj), value_size))
        return 7

    def set_(p: Any, h: Any, value: Any) -> None:
        calls.append(("set", type(h.obj), value))

    def create(p: Any) -> int:
        t = Thing(p.kernel)
        p.kernel.publish(t, p.koid)
        return p.kernel.new_handle(p, t, Thing.default_rights)  # type: ignore[no-any-return]

    pl = plugin(
        "thing",
        register_object_types=types(Thing),
        register_syscalls=lambda r: r("zx_thing_create", create),
        register_info_topics=lambda r: r(0x1000, info, name="THING_INFO", cls=Thing, rights=zx.ZX_RIGHT_INSPECT),
        register_properties=lambda r: r(0x1000, name="THING_PROP", get=get, set=set_, cls=Thing,
                                        rights=zx.ZX_RIGHT_INSPECT, set_rights=zx.ZX_RIGHT_WRITE),
    )
    with Kernel(plugins=[pl]) as k:
        p = k.create_process("p")
        t = p.zx.thing_create()
        assert p.zx.object_get_info(t, 0x1000).value == p.zx.object_get_info(t, zx.ZX_INFO_HANDLE_BASIC).koid
        assert p.zx.object_get_property(t, 0x1000) == 7
        assert _status(p.zx.object_get_property, t, 0x1000, 4) == zx.ZX_ERR_BUFFER_TOO_SMALL
        assert _status(p.zx.object_get_info, t, 0x1000, 7) == zx.ZX_ERR_BUFFER_TOO_SMALL
        p.zx.object_set_property(t, 0x1000, 9)
        assert calls[-1] == ("set", Thing, 9)
        # Wrong type: the kernel refuses before the handler runs, for both.
        n = len(calls)
        assert _status(p.zx.object_get_info, p.self_handle, 0x1000) == zx.ZX_ERR_WRONG_TYPE
        assert _status(p.zx.object_get_property, p.self_handle, 0x1000) == zx.ZX_ERR_WRONG_TYPE
        assert _status(p.zx.object_set_property, p.self_handle, 0x1000, 1) == zx.ZX_ERR_WRONG_TYPE
        # Rights: INSPECT for both, WRITE for set only.
        no_inspect = p.zx.handle_duplicate(t, Thing.default_rights & ~zx.ZX_RIGHT_INSPECT)
        assert _status(p.zx.object_get_info, no_inspect, 0x1000) == zx.ZX_ERR_ACCESS_DENIED
        assert _status(p.zx.object_get_property, no_inspect, 0x1000) == zx.ZX_ERR_ACCESS_DENIED
        no_write = p.zx.handle_duplicate(t, Thing.default_rights & ~zx.ZX_RIGHT_WRITE)
        assert p.zx.object_get_property(no_write, 0x1000) == 7
        assert _status(p.zx.object_set_property, no_write, 0x1000, 1) == zx.ZX_ERR_ACCESS_DENIED
        assert len(calls) == n + 1
        assert _status(p.zx.object_get_property, t, 0x1001) == zx.ZX_ERR_INVALID_ARGS


@pytest.mark.parametrize("trace", [False, True])
def test_event_kind_clashes_name_both_plugins(trace: bool) -> None:
    a = plugin("a", register_event_kinds=lambda r: r("thing.made", ("koid",), objects=("koid",)))
    b = plugin("b", register_event_kinds=lambda r: r("thing.made", ("other", "fields")))
    with pytest.raises(PluginError, match=r"plugin 'b'.*'thing.made'.*already registered by plugin 'a'"):
        Kernel(plugins=[a, b], capture=trace)
    core = plugin("c", register_event_kinds=lambda r: r("signal", ("koid",)))
    with pytest.raises(PluginError, match="already registered by plugin 'core'"):
        Kernel(plugins=[core], capture=trace)
    with Kernel(plugins=[a], capture=trace) as k:
        assert k.event_kinds["thing.made"] == (("koid",), ("koid",))


def test_event_kind_objects_must_be_fields() -> None:
    a = plugin("a", register_event_kinds=lambda r: r("thing.made", ("thing",), objects=("koid",)))
    with pytest.raises(PluginError, match="objects \\['koid'\\] are not among its fields"):
        Kernel(plugins=[a])


def test_syscall_clash_names_both_plugins() -> None:
    a = plugin("a", register_syscalls=lambda r: r("zx_thing_x", lambda p: None))
    b = plugin("b", register_syscalls=lambda r: r("zx_thing_x", lambda p: None))
    with pytest.raises(PluginError, match=r"plugin 'b'.*already registered by 'a'"):
        Kernel(plugins=[a, b])


def test_property_size_is_checked_before_the_type_as_zircon_does() -> None:
    pl = plugin("sized", register_properties=lambda r: r(0x1000, get=lambda p, h, n: 5, cls=Thing, size=8))
    with Kernel(plugins=[pl]) as k:
        p = k.create_process("p")
        assert _status(p.zx.object_get_property, p.self_handle, 0x1000, 4) == zx.ZX_ERR_BUFFER_TOO_SMALL
        assert _status(p.zx.object_get_property, p.self_handle, 0x1000, 8) == zx.ZX_ERR_WRONG_TYPE
        assert _status(p.zx.object_get_property, p.self_handle, 0x1000) == zx.ZX_ERR_WRONG_TYPE
    bad = plugin("bad", register_properties=lambda r: r(0x1000, get=lambda *a: 0, size=-1))
    with pytest.raises(PluginError, match="size must be"):
        Kernel(plugins=[bad])
