"""Trace analysis: the Python API, `microsim trace ...`, and the Perfetto export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from microsim import Kernel, zx
from microsim.cli import main as cli_main
from microsim.core.plugins import builtin_plugins
from microsim.runner import run_program
from microsim.trace import TraceError, load
from microsim.trace.analysis import diff, leaks, object_life
from microsim.trace.export import to_perfetto, validate
from microsim.trace.summary import summarize

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def demo_trace(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("t") / "demo.jsonl"
    assert run_program(EXAMPLES / "demo.py", seed=1, trace=str(path)).ok
    return str(path)


@pytest.fixture
def leaky_trace(tmp_path: Path) -> tuple[str, int, int]:
    path = tmp_path / "leaky.jsonl"
    with Kernel(seed=2, trace=str(path)) as k:
        p = k.create_process("leaky")
        v = p.zx.vmo_create(4096, 0)
        p.zx.handle_duplicate(v, zx.ZX_RIGHT_READ)
        koid = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC).koid
        a, b = p.zx.channel_create(0)
        p.zx.handle_close_many([a, b])
        with pytest.raises(Exception):  # noqa: B017 - any ZxError
            p.zx.vmo_read(v, 8192, 1)
    return str(path), koid, v


def test_load_filters(demo_trace: str) -> None:
    events = list(load(demo_trace))
    assert events[0].kind == "trace_start" and events[0].version == 2
    assert events[-1].kind == "trace_end"
    iob = list(load(demo_trace, syscall="iob_*"))
    assert [e.name for e in iob] == ["zx_iob_create"]
    maps = list(load(demo_trace, syscall="zx_vmar_map_iob"))
    assert len(maps) == 2 and len({e.pid for e in maps}) == 2
    pid = maps[0].pid
    assert all(e.pid == pid for e in load(demo_trace, pid=pid))
    vmos = list(load(demo_trace, kind="object_created", type="vmo"))
    assert vmos and all(e.type == "vmo" for e in vmos)
    koid = vmos[0].koid
    assert all(koid in (e.get("koid"), e.get("child"), e.get("region_koid")) for e in load(demo_trace, koid=koid))
    mid = events[len(events) // 2].t
    assert all(e.t >= mid for e in load(demo_trace, since=mid))
    assert all(e.status == 0 for e in load(demo_trace, status="ok"))


def test_summary(demo_trace: str, leaky_trace: tuple[str, int, int]) -> None:
    s = summarize(demo_trace)
    assert s["syscalls"]["zx_iob_create"] == 1
    assert s["objects"]["iob"] == {"created": 2, "destroyed": 2}
    assert s["peak_live_objects"] > 0 and s["live_handles_at_end"] == 0
    path, _, _ = leaky_trace
    s = summarize(path)
    assert s["errors"] == {"zx_vmo_read": {"ZX_ERR_OUT_OF_RANGE": 1}}


def test_leaks(leaky_trace: tuple[str, int, int]) -> None:
    path, koid, handle = leaky_trace
    found = leaks(path)
    vmo_handles = [h for h in found["handles"] if h["koid"] == koid]
    assert len(vmo_handles) == 2
    created = next(h for h in vmo_handles if h["handle"] == handle)
    assert created["sc"] == 1 and created["type"] == "vmo"
    assert any(o["koid"] == koid and o["sc"] == 1 for o in found["objects"])
    assert not [o for o in found["objects"] if o["type"] == "channel"]


def test_object_life(leaky_trace: tuple[str, int, int]) -> None:
    path, koid, _ = leaky_trace
    life = object_life(path, koid)
    kinds = [e["kind"] for e in life]
    assert kinds[0] == "object_created" and kinds.count("handle_created") == 2
    assert life[0]["syscall"] == "zx_vmo_create"


def test_diff(tmp_path: Path) -> None:
    a, b, c = (str(tmp_path / n) for n in ("a", "b", "c"))
    run_program(EXAMPLES / "race.py", seed=1, trace=a)
    run_program(EXAMPLES / "race.py", seed=1, trace=b)
    assert diff(a, b) is None
    for seed in range(2, 30):
        run_program(EXAMPLES / "race.py", seed=seed, trace=c)
        if Path(c).read_bytes() != Path(a).read_bytes():
            break
    d = diff(a, c)
    assert d is not None and d["line"] > 1 and d["a"] != d["b"]


def test_perfetto_export_is_valid(demo_trace: str) -> None:
    doc = to_perfetto(demo_trace)
    assert validate(doc) == []
    phases = {e["ph"] for e in doc["traceEvents"]}
    assert {"M", "X", "b", "e", "C"} <= phases
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]
    assert {e["name"] for e in xs} >= {"zx_iob_create", "zx_vmar_map_iob"}
    assert all("status" in e["args"] for e in xs)
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M"}
    assert "kernel" in names
    # The validator is not a rubber stamp.
    bad = {"traceEvents": [*doc["traceEvents"], {"ph": "X", "name": "x", "ts": 0, "pid": 99}]}
    assert validate(bad)


def test_cli(demo_trace: str, leaky_trace: tuple[str, int, int], tmp_path: Path,
             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["trace", "summary", demo_trace]) == 0
    out = capsys.readouterr().out
    assert "syscall" in out and "zx_iob_create" in out and "object type" in out
    assert cli_main(["trace", "summary", demo_trace, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["syscalls"]["zx_iob_create"] == 1
    path, koid, _ = leaky_trace
    assert cli_main(["trace", "leaks", path]) == 0
    assert "created by syscall #" in capsys.readouterr().out
    assert cli_main(["trace", "object", path, str(koid)]) == 0
    assert "object_created" in capsys.readouterr().out
    assert cli_main(["trace", "grep", path, "--status", "error", "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["name"] for r in lines] == ["zx_vmo_read"]
    out_json = tmp_path / "out.json"
    assert cli_main(["trace", "export", demo_trace, "--format", "perfetto", "-o", str(out_json)]) == 0
    assert validate(json.loads(out_json.read_text())) == []
    assert cli_main(["trace", "diff", demo_trace, demo_trace]) == 0


def test_bad_traces_give_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind":"trace_start","version":1}\nnot json\n')
    with pytest.raises(TraceError, match="line 2"):
        list(load(str(bad)))
    for args in (["trace", "summary", str(bad)], ["trace", "leaks", str(tmp_path / "nope.jsonl")]):
        r = subprocess.run([sys.executable, "-m", "microsim", *args], capture_output=True, text=True)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert r.stderr.startswith("microsim: error:") and len(r.stderr.strip().splitlines()) == 1


def test_every_event_kind_is_documented() -> None:
    from microsim.core.eventlog import CORE_EVENT_KINDS

    doc = (Path(__file__).resolve().parent.parent / "docs" / "trace-format.md").read_text()
    for kind in CORE_EVENT_KINDS:
        assert f"`{kind}`" in doc, kind
    # microsim documents its own plugins' events, not those of third-party plugins installed.
    with Kernel(capture=True, plugins=builtin_plugins()) as k:
        for rec in k.plugins.values():
            for kind in rec.event_kinds:
                assert f"`{kind}`" in doc, kind
    # Every example line in the doc parses as a record.
    examples = [line for line in doc.splitlines() if line.startswith('{"kind"')]
    assert len(examples) >= len(CORE_EVENT_KINDS)
    for line in examples:
        assert "kind" in json.loads(line)
