"""The event log: processors, sinks, flushing on errors, and cost when off."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from microsim import Kernel, ZxError, trace, zx


def test_structlog_processors_run_on_records(tmp_path: Any) -> None:
    seen: list[str] = []

    def tag(logger: Any, method: str, record: dict[str, Any]) -> dict[str, Any]:
        seen.append(record["kind"])
        record["run"] = "r1"
        return record

    def drop_signals(logger: Any, method: str, record: dict[str, Any]) -> dict[str, Any]:
        if record["kind"] == "handle_closed":
            raise structlog.DropEvent
        return record

    path = tmp_path / "t.jsonl"
    with Kernel(plugins=[], trace=str(path), trace_processors=[tag, drop_signals]) as k:
        p = k.create_process("a")
        p.zx.handle_close(p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS))
    records = [r for _, r in trace.records(str(path))]
    assert all(r["run"] == "r1" for r in records)
    assert "handle_closed" in seen and not [r for r in records if r["kind"] == "handle_closed"]


def test_trace_is_flushed_when_the_program_raises(tmp_path: Any) -> None:
    path = tmp_path / "t.jsonl"
    with pytest.raises(RuntimeError), Kernel(plugins=[], trace=str(path)) as k:
        p = k.create_process("a")
        p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
        raise RuntimeError("program bug")
    kinds = [r["kind"] for _, r in trace.records(str(path))]
    assert "syscall" in kinds and kinds[-1] == "trace_end"


def test_capture_sink_and_record_schema() -> None:
    with Kernel(seed=2, plugins=[], capture=True) as k:
        p = k.create_process("a")
        h = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_INSPECT)
        with pytest.raises(ZxError):
            p.zx.handle_duplicate(h, zx.ZX_RIGHT_SAME_RIGHTS)
        assert k.trace is not None
        k.trace.flush()
        recs = k.trace.records
        assert recs is not None
        sc = [r for r in recs if r["kind"] == "syscall"]
        assert [list(r)[:5] for r in sc] == [["kind", "t", "sc", "pid", "tid"]] * 2
        ok, bad = sc
        assert ok["args"] == {"handle": p.self_handle, "rights": zx.ZX_RIGHT_INSPECT}
        assert ok["result"] == h and ok["status"] == 0 and ok["pid"] == p.koid
        assert bad["status"] == zx.ZX_ERR_ACCESS_DENIED and bad["sc"] == ok["sc"] + 1
        created = [r for r in recs if r["kind"] == "handle_created" and r["handle"] == h]
        assert created[0]["sc"] == ok["sc"] and created[0]["reason"] == "duplicate"
        assert bad["t"] > ok["t"]  # virtual time advances per syscall


def test_tracing_off_builds_no_events() -> None:
    with Kernel(plugins=[]) as k:
        p = k.create_process("a")
        p.zx.handle_close(p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS))
        assert k.trace is None


def test_runtime_syscall_observer_sees_every_selected_call() -> None:
    calls: list[tuple[str, int]] = []
    with Kernel(plugins=[]) as k:
        p = k.create_process("a")
        k.observe_syscalls("object_*", exit=lambda c: calls.append((c.name, c.status)))
        p.zx.object_get_info(p.self_handle, zx.ZX_INFO_HANDLE_VALID)
        with pytest.raises(ZxError):
            p.zx.object_get_info(0xBADC0FFE, zx.ZX_INFO_HANDLE_VALID)
        p.zx.handle_duplicate(p.self_handle, 0)
    assert calls == [
        ("zx_object_get_info", 0),
        ("zx_object_get_info", zx.ZX_ERR_BAD_HANDLE),
    ]


def test_exit_observer_can_replace_result_and_enter_can_rewrite_args() -> None:
    with Kernel(plugins=[]) as k:
        p = k.create_process("a")

        def enter(call: Any) -> None:
            call.args = (call.args[0], zx.ZX_RIGHT_INSPECT)  # force fewer rights

        k.observe_syscalls("handle_duplicate", enter=enter)
        h = p.zx.handle_duplicate(p.self_handle, zx.ZX_RIGHT_SAME_RIGHTS)
        assert p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_RIGHT_INSPECT
