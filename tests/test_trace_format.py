"""Trace format v2: round trips through the file and `microsim trace cat`, odd values,
unwound syscalls, bounded memory, compact capture, version errors, the strace view."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog

from microsim import Kernel, ZxError, trace, zx
from microsim.cli import main as cli_main
from microsim.core.eventlog import CORE_EVENT_KINDS, Schema
from microsim.errors import Deadlock, MemoryFault
from microsim.kernel import BOOT_TIME_NS
from microsim.objects.vmar import write_memory
from microsim.runner import run_program
from microsim.testing.capture import TraceCapture
from microsim.trace import TraceError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _every_kind_run(out: Any, batch: int = 4096, **kw: Any) -> None:
    """A run that makes every core kind and the plugin kinds of vmo and iob."""
    with Kernel(seed=3, trace=out, **kw) as k:
        assert k.trace is not None
        k.trace.batch = batch
        p = k.create_process("app")
        v = p.zx.vmo_create(4096, 0)
        p.zx.vmo_write(v, b"committed", 0)  # a `pages` event
        addr = p.zx.vmar_map(p.root_vmar_handle, zx.ZX_VM_PERM_READ | zx.ZX_VM_PERM_WRITE, 0, v, 0, 4096)
        p.zx.vmar_protect(p.root_vmar_handle, zx.ZX_VM_PERM_READ, addr, 4096)
        with pytest.raises(MemoryFault):
            write_memory(p, addr, b"x")
        p.zx.vmar_unmap(p.root_vmar_handle, addr, 4096)
        child = p.zx.vmo_create_child(v, zx.ZX_VMO_CHILD_SNAPSHOT, 0, 4096)
        p.zx.handle_close(child)
        p.zx.object_signal(v, 0, zx.ZX_USER_SIGNAL_0)
        with pytest.raises(ZxError):
            p.zx.handle_close(0x1234)
        assert k.trace is not None
        k.trace.flush()
        k.trace.add_kind("test.late", ("koid", "note"), objects=("koid",))
        k.emit("test.late", v and 1026, "declared after the header")
        k.create_thread(p, lambda: None, name="t")
        k.run()
        k.exit_process(p, 3)


def test_every_record_kind_round_trips_through_the_file_and_cat(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    _every_kind_run(str(path))
    raw = path.read_bytes().splitlines()
    first = json.loads(raw[0])
    assert first["kind"] == "trace_start" and first["version"] == trace.FORMAT_VERSION == 2
    assert first["kinds"]["object_created"] == {
        "fields": ["koid", "type", "obj_type", "related_koid", "owner"], "objects": ["koid", "related_koid", "owner"]}
    assert first["syscalls"]["zx_handle_duplicate"] == ["handle", "rights"]
    # Every other line is a self-contained JSON value: an array, or a self-describing object.
    for line in raw[1:]:
        value = json.loads(line)
        assert isinstance(value, list) or value["kind"] == "trace_kinds"
    recs = [r for _, r in trace.records(str(path))]
    kinds = {r["kind"] for r in recs}
    # Strobes need an IOB ring; a deadlock ends a run (tests/test_trace_tools.py has one);
    # startup handles are adopted by a spawned program's runtime (ctx.spawn).
    assert set(CORE_EVENT_KINDS) - {"signal_strobe", "deadlock", "startup_handles"} <= kinds
    assert {"vmo.child_created", "test.late"} <= kinds
    late = next(r for r in recs if r["kind"] == "test.late")
    assert late["note"] == "declared after the header" and late["koid"] == 1026
    bad = next(r for r in recs if r["kind"] == "syscall" and r["status"] == zx.ZX_ERR_BAD_HANDLE)
    assert bad["args"] == {"handle": 0x1234} and bad["name"] == "zx_handle_close"
    # `trace cat`: the same records, one JSON object per line.
    out = io.BytesIO()
    assert trace.cat(str(path), out) == len(recs)
    assert [orjson.loads(x) for x in out.getvalue().splitlines()] == recs
    r = subprocess.run([sys.executable, "-m", "microsim", "trace", "cat", str(path)], capture_output=True)
    assert r.returncode == 0 and [json.loads(x) for x in r.stdout.splitlines()] == recs
    # ... and cat's output is itself a readable (version-1 style) trace.
    again = tmp_path / "cat.jsonl"
    again.write_bytes(r.stdout)
    assert [rec for _, rec in trace.records(str(again))] == recs
    # Koid fields come from the header: `load(koid=...)` finds a plugin-declared kind.
    assert any(e.kind == "test.late" for e in trace.load(str(path), koid=1026))


def test_capture_matches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    _every_kind_run(str(path))
    buf = io.BytesIO()
    _every_kind_run(buf, capture=True)
    assert buf.getvalue() == path.read_bytes()  # a stream sink writes the same bytes


def test_capture_records_are_the_decoded_file() -> None:
    with Kernel(seed=2, capture=True) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(4096, 0)
        h = p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
        cap = TraceCapture(k)
        mark = cap.mark()
        p.zx.handle_close(h)
        assert [r["kind"] for r in cap.since(mark)] == ["handle_closed", "syscall"]
        rec = cap.syscalls("handle_duplicate")[0]
        assert rec["args"] == {"handle": v, "rights": zx.ZX_RIGHT_READ} and rec["result"] == h
        assert cap.records[-1] == cap.records[len(cap.records) - 1]
        assert cap.records[1:3] == list(cap.records)[1:3]


def test_odd_argument_values_never_break_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"

    class Odd:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    loop: list[Any] = []
    loop.append(loop)
    huge = list(range(100_000))
    with Kernel(seed=1, trace=str(path)) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(4096, 0)
        for bad in (1 << 70, -(1 << 80), Odd(), object(), "x\udc80", loop, huge, {1 << 65: b"buf"}):
            with pytest.raises(ZxError):
                p.zx.handle_close(bad)
            with pytest.raises(ZxError):
                p.zx.handle_close_many([bad, 5])
        with pytest.raises(ZxError):
            p.zx.vmo_write(v, b"abc", 1 << 64)
        p.zx.handle_close(p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS))  # a valid call after
    recs = [r for _, r in trace.records(str(path))]
    assert recs[0]["kind"] == "trace_start" and recs[-1]["kind"] == "trace_end"
    calls = [r for r in recs if r["kind"] == "syscall"]
    args = [c["args"] for c in calls if c["name"] == "zx_handle_close"]
    assert args[0] == {"handle": str(1 << 70)} and args[1] == {"handle": str(-(1 << 80))}
    assert args[2] == {"handle": "<Odd>"} and args[3] == {"handle": "<object>"}
    assert args[4] == {"handle": "x\\udc80"}
    assert args[6] == {"handle": {"list": 100_000, "head": list(range(16))}}
    assert calls[-1]["status"] == 0 and calls[-2]["status"] == 0  # the last dup + close
    assert "0x" not in path.read_text()  # no object addresses: deterministic


def test_syscall_that_never_returns_is_unwound_not_ok(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with Kernel(seed=1, trace=str(path)) as k:
        p = k.create_process("a")
        a, _ = p.zx.channel_create(0)
        q = k.create_process("b")
        qa, _ = q.zx.channel_create(0)

        def blocked() -> None:
            p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)

        def victim() -> None:
            q.zx.object_wait_one(qa, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)

        def killer() -> None:
            q.zx.nanosleep(q.zx.deadline_after(100_000))
            k.exit_process(q, 1)

        k.create_thread(p, blocked, name="blocked")
        k.create_thread(q, victim, name="victim")
        k.create_thread(q, killer, name="killer")
        with pytest.raises(Deadlock):
            k.run()
        # A direct call from Python that can never be satisfied: deadlock.
        with pytest.raises(Deadlock):
            p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE)
    waits = [r for _, r in trace.records(str(path)) if r["kind"] == "syscall" and r["name"] == "zx_object_wait_one"]
    why = sorted(w["result"]["unwound"] for w in waits)
    # The thread stuck in the deadlocked run unwinds at close: its reason is the deadlock.
    assert why == ["deadlock", "deadlock", "thread killed"]
    assert all(w["status"] is None for w in waits)
    assert cli_main(["trace", "summary", str(path)]) == 0


def test_summary_of_calls_that_returned_and_unwound(tmp_path: Path) -> None:
    from microsim.trace.summary import summarize

    path = tmp_path / "t.jsonl"
    with Kernel(seed=1, trace=str(path)) as k:
        p = k.create_process("a")
        a, _ = p.zx.channel_create(0)
        p.zx.object_wait_one(a, zx.ZX_CHANNEL_WRITABLE, 0)
        k.create_thread(p, lambda: p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE))
        with pytest.raises(Deadlock):
            k.run()
    s = summarize(str(path))
    assert s["syscalls_by_status"]["zx_object_wait_one"] == {"ZX_OK": 1, "did not return": 1}


def test_events_outside_syscalls_are_flushed_by_batch(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with Kernel(seed=1, trace=str(path)) as k:
        assert k.trace is not None
        k.trace.batch = 256
        peak = 0
        p = k.create_process("a")
        for _ in range(300):
            k.create_process("x")  # object and handle events, no syscall
            peak = max(peak, len(k.trace.buffer))
        for _ in range(2000):
            k.close_handle(p.take_handle(k.new_handle(p, p, zx.ZX_RIGHT_READ), "close"))
            peak = max(peak, len(k.trace.buffer))
        assert peak < 256 and k.trace.count > 4000
    recs = [r for _, r in trace.records(str(path))]
    assert recs[-1]["events"] == len(recs)


def test_capture_is_compact() -> None:
    n = 5000
    with Kernel(seed=1, capture=True) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(4096, 0)
        assert k.trace is not None and k.trace.records is not None
        k.trace.flush()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            p.zx.handle_close(p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS))
        k.trace.flush()
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert held / (4 * n) < 120, held / (4 * n)  # was ~440 bytes per event as dicts
        assert 4 * n < len(k.trace.records) < 4 * n + 20


def test_user_processors_add_and_drop_fields(tmp_path: Path) -> None:
    def tag(logger: Any, method: str, rec: dict[str, Any]) -> dict[str, Any]:
        rec["run"] = "r1"
        if rec["kind"] == "signal":
            del rec["old"]
        return rec

    path = tmp_path / "t.jsonl"
    with Kernel(seed=1, trace=str(path), trace_processors=[tag]) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(4096, 0)
        p.zx.object_signal(v, 0, zx.ZX_USER_SIGNAL_1)
        vmo_koid = p.obj(v).koid
    recs = [r for _, r in trace.records(str(path))]
    assert all(r["run"] == "r1" for r in recs)
    sig = next(r for r in recs if r["kind"] == "signal" and r["koid"] == vmo_koid)
    assert sig["old"] is None and sig["new"] & zx.ZX_USER_SIGNAL_1
    call = next(r for r in recs if r["kind"] == "syscall")
    assert call["args"] == {"size": 4096, "options": 0}

    def drop_all(logger: Any, method: str, rec: dict[str, Any]) -> dict[str, Any]:
        raise structlog.DropEvent

    for procs in ([drop_all], [structlog.processors.JSONRenderer()]):
        with Kernel(seed=1, trace=str(path), trace_processors=procs) as k:
            k.create_process("a").zx.vmo_create(4096, 0)
        recs = [r for _, r in trace.records(str(path))]
        assert recs[0]["kind"] == "trace_start"  # the header is never dropped
        assert len(recs) == 1 if procs == [drop_all] else len(recs) > 5


def test_versions(tmp_path: Path) -> None:
    v1 = tmp_path / "v1.jsonl"
    v1.write_text('{"kind":"trace_start","t":0,"sc":0,"pid":0,"tid":0,"version":1,"seed":1}\n'
                  '{"kind":"syscall","t":0,"sc":1,"pid":1,"tid":0,"name":"zx_handle_close","args":{"handle":5},'
                  '"status":-11,"result":null,"dur":1000}\n')
    assert [r["kind"] for _, r in trace.records(str(v1))] == ["trace_start", "syscall"]
    v9 = tmp_path / "v9.jsonl"
    v9.write_text('{"kind":"trace_start","t":0,"sc":0,"pid":0,"tid":0,"version":9}\n["syscall",0]\n')
    with pytest.raises(TraceError, match="version 9"):
        list(trace.records(str(v9)))
    r = subprocess.run([sys.executable, "-m", "microsim", "trace", "cat", str(v9)], capture_output=True, text=True)
    assert r.returncode == 2 and "version 9" in r.stderr and "Traceback" not in r.stderr
    # A reader of version 1 (it checks the first record's version) stops at our header.
    path = tmp_path / "v2.jsonl"
    with Kernel(seed=1, trace=str(path)):
        pass
    header = json.loads(path.read_text().splitlines()[0])
    assert header["kind"] == "trace_start" and header["version"] not in (1,)
    no_header = tmp_path / "bare.jsonl"
    no_header.write_text('["syscall",0,1,1,0,"zx_handle_close",[5],0,null,1000]\n')
    with pytest.raises(TraceError, match="line 1"):
        list(trace.records(str(no_header)))


def test_trace_is_deterministic_and_independent_of_batch_size(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _every_kind_run(str(a))
    _every_kind_run(str(b), batch=7)
    assert b.read_bytes() == a.read_bytes()


def test_doc_examples_are_real_records() -> None:
    """Each example in docs/trace-format.md: the line as written decodes to the record below it."""
    doc = (ROOT / "docs" / "trace-format.md").read_text()
    with Kernel(capture=True) as k:
        assert k.trace is not None and k.trace.records is not None
        k.trace.flush()
        header = k.trace.records[0]
    schema = Schema()
    schema.update(header)
    schema.add_kind("demo.late", ("koid", "note"), ("koid",))
    blocks = re.findall(r"```json\n(.*?)```", doc, re.S)
    pairs = 0
    for block in blocks:
        lines = block.strip().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("["):
                assert schema.decode(json.loads(line)) == json.loads(lines[i + 1]), line
                pairs += 1
    assert pairs >= len(CORE_EVENT_KINDS) - 2


def test_strace_view(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    with Kernel(seed=1, strace=out) as k:
        p = k.create_process("app")
        v = p.zx.vmo_create(4096, 0)
        p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ | zx.ZX_RIGHT_DUPLICATE)
        with pytest.raises(ZxError):
            p.zx.object_signal(v, 0, zx.ZX_USER_SIGNAL_0 | 1 << 40)
        k.create_thread(p, lambda: p.zx.nanosleep(p.zx.deadline_after(5000)), name="sleeper")
        k.run()
    with Kernel(seed=1, strace=out, trace=str(tmp_path / "t.jsonl")) as k:  # both at once
        p = k.create_process("app")
        a, _ = p.zx.channel_create(0)
        k.create_thread(p, lambda: p.zx.object_wait_one(a, zx.ZX_CHANNEL_READABLE, zx.ZX_TIME_INFINITE),
                        name="stuck")
        with pytest.raises(Deadlock):
            k.run()
    assert len(list(trace.records(str(tmp_path / "t.jsonl")))) > 5
    lines = out.getvalue().splitlines()
    stuck = next(x for x in lines if "zx_object_wait_one" in x)
    assert "= ? <unwound: deadlock>" in stuck and "signals=READABLE" in stuck
    assert "\x1b[" not in out.getvalue()  # no colour off a terminal
    dup = next(x for x in lines if "zx_handle_duplicate" in x)
    assert "rights=DUPLICATE|READ" in dup and "[ZX_OK]" in dup and "proc=app" in dup
    assert "ZX_ERR_INVALID_ARGS" in next(x for x in lines if "zx_object_signal" in x)
    sleep = next(x for x in lines if "zx_nanosleep" in x)
    assert "thread=sleeper" in sleep and "dur=5µs" in sleep
    # The CLI flag (one run; with many runs it is a usage error).
    assert cli_main(["run", str(EXAMPLES / "demo.py"), "--seed", "1", "--strace"]) == 0
    err = capsys.readouterr().err
    assert "zx_iob_create(" in err and "zx_vmar_map_iob(" in err


def test_run_program_trace_still_summarises(tmp_path: Path) -> None:
    path = tmp_path / "demo.jsonl"
    assert run_program(EXAMPLES / "demo.py", seed=1, trace=str(path)).ok
    assert trace.header(str(path))["kinds"]["iob.region_mapped"]["fields"][0] == "iob"


@pytest.mark.parametrize("traced", [False, True])
def test_facade_argument_mismatches_are_invalid_args(traced: bool) -> None:
    with Kernel(seed=1, capture=traced) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(4096, 0)
        for call in (lambda: p.zx.handle_duplicate(v), lambda: p.zx.handle_duplicate(),
                     lambda: p.zx.handle_duplicate(v, 0, 1), lambda: p.zx.handle_close(),
                     lambda: p.zx.handle_duplicate(rights=zx.ZX_RIGHT_READ)):
            with pytest.raises(ZxError) as err:
                call()
            assert err.value.status == zx.ZX_ERR_INVALID_ARGS
        h = p.zx.handle_duplicate(rights=zx.ZX_RIGHT_READ, handle=v)  # keywords still work
        assert p.zx.object_get_info(h, zx.ZX_INFO_HANDLE_BASIC).rights == zx.ZX_RIGHT_READ
        info = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC)  # a defaulted parameter
        assert info.rights
    if traced:
        assert k.trace is not None and k.trace.records is not None
        calls = [r for r in k.trace.records if r["kind"] == "syscall" and r["name"] == "zx_handle_duplicate"]
        assert [c["status"] for c in calls] == [zx.ZX_ERR_INVALID_ARGS] * 4 + [0]
        assert calls[3]["args"] == {"rights": zx.ZX_RIGHT_READ}
        assert calls[2]["args"] == {"handle": v, "rights": 0, "*extra": [1]}


def test_header_is_first_even_if_events_come_before_it() -> None:
    from microsim.core.eventlog import EventLog

    out = io.BytesIO()
    log = EventLog(out)
    log.add(("signal", 0, 0, 0, 0, 1024, 0, 1))
    log.add(("trace_start", 0, 0, 0, 0, 2, 7, ["core"], 1000))
    log.close()
    recs = [r for _, r in trace.records(io.BytesIO(out.getvalue()))]
    assert [r["kind"] for r in recs] == ["trace_start", "signal"] and recs[0]["seed"] == 7
    out = io.BytesIO()
    log = EventLog(out)
    log.add(("signal", 0, 0, 0, 0, 1024, 0, 1))
    log.close()
    assert [r["kind"] for _, r in trace.records(io.BytesIO(out.getvalue()))] == ["trace_start", "signal"]


def test_project_reads_chosen_fields_of_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with Kernel(seed=1, trace=str(path)) as k:
        p = k.create_process("a")
        v = p.zx.vmo_create(4096, 0)
        p.zx.handle_close(v)
    wanted: dict[str, tuple[str, ...] | None] = {
        "syscall": ("name", "status"), "object_created": ("type", "nope"), "trace_start": None}
    got = list(trace.project(str(path), wanted))
    assert got[0][0] == "trace_start" and got[0][2]["version"] == 2
    boot = BOOT_TIME_NS
    assert got[0][1] == boot  # the trace starts when the kernel boots
    assert ("syscall", boot, ("zx_vmo_create", 0)) in got
    assert ("object_created", boot, ("vmo", None)) in got
    assert all(vals is None for kind, _, vals in got if kind not in wanted)
    # The same through `trace cat` output (objects, read like version 1).
    cat = tmp_path / "cat.jsonl"
    with open(cat, "wb") as f:
        trace.cat(str(path), f)
    assert list(trace.project(str(cat), wanted))[1:] == got[1:]


def test_a_trace_cut_short_reads_up_to_the_cut(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    _every_kind_run(str(path))
    data = path.read_bytes()
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(data[: len(data) * 3 // 4])  # past the header, in the middle of a line
    whole = [r for _, r in trace.records(str(path))]
    part = [r for _, r in trace.records(str(cut))]
    assert 5 < len(part) < len(whole) and part == whole[: len(part)]
    assert len(list(trace.project(str(cut), {}))) == len(part)
    assert cli_main(["trace", "summary", str(cut)]) == 0
