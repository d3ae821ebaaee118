"""Trace analysis: the Python API, `microsim trace ...`, the Perfetto and FXT exports, SQL.

Every trace here is produced by running a program on a real Kernel; malformed inputs are
derived from real traces (cut, a field dropped, garbage appended, the version changed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from microsim import Kernel, zx
from microsim.cli import main as cli_main
from microsim.runner import run_program
from microsim.trace import TraceError, load, records
from microsim.trace.analysis import diff, leaks, object_life, read_all, rights_str, signals_str
from microsim.trace.summary import render_text, summarize

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PROGRAMS = Path(__file__).resolve().parent / "programs"


def _write(path: Path, recs: list[dict[str, Any]]) -> str:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    return str(path)


def _recs(path: str) -> list[dict[str, Any]]:
    return [r for _, r in records(path)]


@pytest.fixture(scope="module")
def demo_trace(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("t") / "demo.jsonl"
    assert run_program(EXAMPLES / "demo.py", seed=1, trace=str(path)).ok
    return str(path)


@pytest.fixture(scope="module")
def deadlock_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    path = tmp_path_factory.mktemp("t") / "deadlock.jsonl"
    r = run_program(PROGRAMS / "deadlock.py", seed=0, trace=str(path))
    return str(path), r


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    path = tmp_path_factory.mktemp("t") / "leak.jsonl"
    r = run_program(PROGRAMS / "leak.py", seed=0, trace=str(path))
    return str(path), r


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
    assert events[0].kind == "trace_start"
    assert events[-1].kind == "trace_end"
    iob = list(load(demo_trace, syscall="iob_*"))
    assert [e.name for e in iob] == ["zx_iob_create"]
    maps = list(load(demo_trace, syscall="zx_vmar_map_iob"))
    assert len(maps) == 2 and len({e.pid for e in maps}) == 2
    vmos = list(load(demo_trace, kind="object_created", type="vmo"))
    assert vmos and all(e.type == "vmo" for e in vmos)


# --------------------------------------------------------------------------- deadlock


def test_deadlock_is_an_event_and_stuck_calls_are_not_ok(deadlock_run: tuple[str, Any]) -> None:
    path, run = deadlock_run
    assert not run.ok and "deadlock" in run.error
    _, recs = read_all(path)
    dl = [r for r in recs if r["kind"] == "deadlock"]
    assert len(dl) == 1
    blocked = dl[0]["blocked"]
    assert sorted(b["thread"] for b in blocked) == ["main", "waiter0", "waiter1"]
    assert all(b["process"] == "deadlock" and b["wait"].startswith("wait_one") for b in blocked)
    # The three waits never returned: no reader may count them as ZX_OK.
    waits = [r for r in recs if r["kind"] == "syscall" and r["name"] == "zx_object_wait_one"]
    assert len(waits) == 3 and all(w["status"] is None for w in waits)
    assert all("unwound" in w["result"] for w in waits)
    s = summarize(path)
    assert s["syscalls_by_status"]["zx_object_wait_one"] == {"did not return": 3}
    assert s["did_not_return"] == {"zx_object_wait_one": 3}
    assert s["errors"] == {}
    exits = s["process_exits"]
    assert [(e["process"], e["reason"]) for e in exits] == [("deadlock [1024]", "deadlock")]
    text = render_text(s)
    assert "DEADLOCK" in text and "deadlock/waiter0" in text
    # grep --status ok does not find them; --status did-not-return does.
    assert cli_main(["trace", "grep", path, "--syscall", "object_wait_one", "--status", "ok"]) == 1
    assert cli_main(["trace", "grep", path, "--status", "did-not-return", "--json"]) == 0


def test_null_status_from_the_writer_means_did_not_return(demo_trace: str, tmp_path: Path) -> None:
    """The format's own marker (status null, result.unwound) is honoured everywhere."""
    recs = _recs(demo_trace)
    i = next(i for i, r in enumerate(recs) if r["kind"] == "syscall" and r["name"] == "zx_vmar_map_iob")
    recs[i] = {**recs[i], "status": None, "result": {"unwound": "killed"}}
    path = _write(tmp_path / "null.jsonl", recs)
    s = summarize(path)
    assert s["syscalls_by_status"]["zx_vmar_map_iob"] == {"did not return": 1, "ZX_OK": 1}
    assert "zx_vmar_map_iob" not in s["errors"]
    rows = []
    for status in ("ok", "error", "did-not-return"):
        assert cli_main(["trace", "grep", path, "--syscall", "vmar_map_iob", "--status", status, "--json"]) in (0, 1)
        rows.append(status)
    assert rows


def test_process_end_reasons(tmp_path: Path) -> None:
    path = tmp_path / "exc.jsonl"

    def crash(ctx: Any) -> None:
        ctx.zx.vmo_create(4096, 0)
        raise RuntimeError("boom")

    def quits(ctx: Any) -> None:
        ctx.zx.process_exit(3)

    with Kernel(seed=1, trace=str(path)) as k:
        from microsim.runner import spawn

        spawn(k, crash, name="crasher")
        spawn(k, quits, name="quitter")
        k.run()
    s = summarize(str(path))
    ends = {e["process"].split()[0]: (e["code"], e["reason"]) for e in s["process_exits"]}
    assert ends["crasher"][1] == "exception"
    assert ends["quitter"] == (3, "exit")


# --------------------------------------------------------------------------- names


def test_names_reach_the_trace_and_the_tools(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "names.jsonl"
    with Kernel(seed=1, trace=str(path)) as k:
        p = k.create_process("server")
        v = p.zx.vmo_create(4096, 0)
        p.zx.object_set_property(v, zx.ZX_PROP_NAME, b"frame-buffer")
        koid = p.zx.object_get_info(v, zx.ZX_INFO_HANDLE_BASIC).koid
    recs = _recs(str(path))
    names = {r["koid"]: r["name"] for r in recs if r["kind"] == "name"}
    assert names[koid] == "frame-buffer" and "server" in names.values()
    assert cli_main(["trace", "object", str(path), str(koid)]) == 0
    out = capsys.readouterr().out
    assert "vmo frame-buffer" in out and "server [" in out


# --------------------------------------------------------------------------- leaks


def test_leaks_agree_with_microsim_run(leak_run: tuple[str, Any], deadlock_run: tuple[str, Any],
                                       demo_trace: str) -> None:
    path, run = leak_run
    found = leaks(path)
    assert run.leaked_handles == len(found["handles"]) == 2
    assert sorted(h["created_by"] for h in found["handles"]) == ["zx_channel_create", "zx_vmo_create"]
    assert all(h["closed"] == "process exit" for h in found["handles"])
    assert found["closed_by_program"] == 1 and found["closed_by_exit"] == 2
    path, run = deadlock_run
    assert run.leaked_handles == len(leaks(path)["handles"]) == 8
    assert leaks(demo_trace)["handles"] == []
    assert run_program(EXAMPLES / "demo.py", seed=1).leaked_handles == 0


def test_leaks_still_open_and_objects_alive(leaky_trace: tuple[str, int, int],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path, koid, handle = leaky_trace
    found = leaks(path)
    vmo_handles = [h for h in found["handles"] if h["koid"] == koid]
    assert len(vmo_handles) == 2
    created = next(h for h in vmo_handles if h["handle"] == handle)
    assert created["created_by"] == "zx_vmo_create" and created["type"] == "vmo"
    assert created["closed"] == "still open"
    assert any(o["koid"] == koid and o["created_by"] == "zx_vmo_create" for o in found["objects"])
    assert not [o for o in found["objects"] if o["type"] == "channel"]
    assert cli_main(["trace", "leaks", path]) == 0
    out = capsys.readouterr().out
    assert f"{handle:#010x}" in out and "zx_vmo_create" in out and "ZX_DEFAULT_VMO_RIGHTS" in out


def test_object_life(leaky_trace: tuple[str, int, int]) -> None:
    path, koid, _ = leaky_trace
    life = object_life(path, koid)
    kinds = [e["kind"] for e in life]
    assert kinds[0] == "object_created" and kinds.count("handle_created") == 2
    assert life[0]["syscall"] == "zx_vmo_create"


# --------------------------------------------------------------------------- diff


@pytest.fixture(scope="module")
def race_traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("race")
    out: dict[str, str] = {}
    ok_seed = bad_seed = None
    for seed in range(40):
        r = run_program(EXAMPLES / "race.py", seed=seed)
        if r.ok and ok_seed is None:
            ok_seed = seed
        if not r.ok and bad_seed is None:
            bad_seed = seed
        if ok_seed is not None and bad_seed is not None:
            break
    assert ok_seed is not None and bad_seed is not None
    for name, seed in (("ok", ok_seed), ("ok2", ok_seed), ("bad", bad_seed)):
        out[name] = str(d / f"{name}.jsonl")
        run_program(EXAMPLES / "race.py", seed=seed, trace=out[name])
    return out


def test_diff_two_seeds_of_a_racy_program(race_traces: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert diff(race_traces["ok"], race_traces["ok2"]) is None
    d = diff(race_traces["ok"], race_traces["bad"])
    assert d is not None
    # The schedules diverge: a different thread makes some syscall.
    s = d["schedule"]
    assert s is not None and s["a"]["thread"] != s["b"]["thread"]
    # Behaviour diverges where the lost update shows: a vmo_read returns a different count
    # or the program fails; never at a handle value or koid (those are seed-drawn).
    b = d["behaviour"]
    assert b is not None
    assert set(b["fields"]) & {"result", "status", "args", "name", "(missing)"}
    assert b["thread"].startswith("race/")
    assert cli_main(["trace", "diff", race_traces["ok"], race_traces["bad"]]) == 1
    out = capsys.readouterr().out
    assert "schedules diverge at syscall" in out and "behaviour diverges in thread race/" in out
    assert cli_main(["trace", "diff", race_traces["ok"], race_traces["bad"], "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["schedule"]["syscall_index"] == s["syscall_index"]


def test_diff_ignores_seed_drawn_values_only(tmp_path: Path) -> None:
    """Same behaviour under two seeds (one thread): equal; a changed byte count: found."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_program(PROGRAMS / "leak.py", seed=1, trace=str(a))
    run_program(PROGRAMS / "leak.py", seed=2, trace=str(b))
    assert a.read_bytes() != b.read_bytes()  # handle values differ
    assert diff(str(a), str(b)) is None
    recs = _recs(str(b))
    i = next(i for i, r in enumerate(recs) if r.get("name") == "zx_channel_write")
    recs[i]["args"]["data"] = {"bytes": 3}
    c = _write(tmp_path / "c.jsonl", recs)
    d = diff(str(a), c)
    assert d is not None and d["schedule"] is None
    assert d["behaviour"]["fields"] == ["args"] and d["behaviour"]["a"]["name"] == "zx_channel_write"
    assert diff(str(a), c, ignore=["data"]) is None


# --------------------------------------------------------------------------- decoding


def test_human_output_decodes_numbers(deadlock_run: tuple[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert signals_str(zx.ZX_CHANNEL_READABLE | zx.ZX_CHANNEL_PEER_CLOSED, "channel") == \
        "ZX_CHANNEL_READABLE|ZX_CHANNEL_PEER_CLOSED"
    assert signals_str(zx.ZX_THREAD_TERMINATED, "thread") == "ZX_THREAD_TERMINATED"
    assert signals_str(zx.ZX_USER_SIGNAL_1, "vmo") == "ZX_USER_SIGNAL_1"
    assert rights_str(zx.ZX_RIGHT_READ | zx.ZX_RIGHT_MAP) == "READ|MAP"
    assert rights_str(zx.ZX_DEFAULT_VMO_RIGHTS, "vmo") == "ZX_DEFAULT_VMO_RIGHTS"
    path, _ = deadlock_run
    assert cli_main(["trace", "grep", path, "--syscall", "object_wait_one"]) == 0
    out = capsys.readouterr().out
    assert "deadline=infinite" in out and "signals=ZX_OBJECT_READABLE" in out
    assert str(zx.ZX_TIME_INFINITE) not in out
    assert "did not return" in out and "deadlock/waiter0 [" in out


# --------------------------------------------------------------------------- bad input


def _bad_inputs(demo_trace: str, tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name -> (path, what the one-line error must mention)."""
    lines = Path(demo_trace).read_bytes().splitlines(keepends=True)
    recs = _recs(demo_trace)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"".join(lines) + b"\x00\x01 not json\n")
    cut_mid = tmp_path / "cut_mid.jsonl"
    cut_mid.write_bytes(b"".join(lines[:10]) + lines[10][:15])
    dropped = [dict(r) for r in recs]
    i = next(i for i, r in enumerate(dropped) if r["kind"] == "handle_created")
    del dropped[i]["koid"]
    version = [dict(r) for r in recs]
    version[0]["version"] = 999
    not_trace = tmp_path / "notes.jsonl"
    not_trace.write_bytes(b'{"kind": "hello"}\n')
    return {
        "missing": (str(tmp_path / "nope.jsonl"), "cannot open"),
        "empty": (str(empty), "empty trace"),
        "garbage": (str(garbage), f"line {len(lines) + 1}"),
        "cut mid-record": (str(cut_mid), "line 11"),
        "field dropped": (_write(tmp_path / "dropped.jsonl", dropped), f"line {i + 1}"),
        "unknown version": (_write(tmp_path / "version.jsonl", version), "version 999"),
        "not a trace": (str(not_trace), "not a microsim trace"),
    }


SUBCOMMANDS = [["summary"], ["leaks"], ["object", "{f}", "1024"], ["grep"], ["diff", "{f}", "{f}"],
               ["export", "-o", "{out}"]]


def _argv(sub: list[str], f: str, out: str) -> list[str]:
    argv = [a.format(f=f, out=out) for a in sub]
    if "{f}" not in sub:
        argv.insert(1, f)
    return ["trace", *[a for a in argv if a]]


def test_every_subcommand_treats_bad_input_the_same(demo_trace: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    for name, (path, expect) in _bad_inputs(demo_trace, tmp_path).items():
        for sub in SUBCOMMANDS:
            argv = _argv(sub, path, str(tmp_path / "out.bin"))
            code = cli_main(argv)
            err = capsys.readouterr().err
            assert code == 2, (name, argv, err)
            assert err.startswith("microsim: error:") and len(err.strip().splitlines()) == 1, (name, argv, err)
            assert expect in err, (name, argv, err)


def test_truncated_trace_warns_and_gives_partial_results(demo_trace: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    lines = Path(demo_trace).read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines[: len(lines) // 2]))
    for sub in SUBCOMMANDS:
        argv = _argv(sub, str(cut), str(tmp_path / "out.bin"))
        code = cli_main(argv)
        captured = capsys.readouterr()
        assert code in (0, 1), (argv, captured.err)
        assert "no trace_end record" in captured.err and "partial" in captured.err, argv
    assert summarize(str(cut))["complete"] is False


def test_bad_input_from_a_shell_is_one_line_exit_2(demo_trace: str, tmp_path: Path) -> None:
    path, _ = _bad_inputs(demo_trace, tmp_path)["field dropped"]
    r = subprocess.run([sys.executable, "-m", "microsim", "trace", "leaks", path], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("microsim: error:") and len(r.stderr.strip().splitlines()) == 1
    with pytest.raises(TraceError, match="no 'koid' field"):
        leaks(path)


def test_json_on_every_subcommand(demo_trace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for sub in SUBCOMMANDS:
        argv = [*_argv(sub, demo_trace, str(tmp_path / "out.bin")), "--json"]
        if sub[0] == "object":
            argv[3] = "1024"
        code = cli_main(argv)
        out = capsys.readouterr().out
        assert code in (0, 1), argv
        if sub[0] == "grep":
            assert all(json.loads(x) for x in out.splitlines())
        else:
            json.loads(out)


def test_summary_counts_plugin_events(demo_trace: str) -> None:
    s = summarize(demo_trace)
    assert s["plugin_events"].get("iob.region_mapped", 0) >= 2
    assert "plugin event" in render_text(s)


def test_every_event_kind_is_documented() -> None:
    from microsim.core.eventlog import CORE_EVENT_KINDS

    doc = (ROOT / "docs" / "trace-format.md").read_text()
    for kind in CORE_EVENT_KINDS:
        assert f"`{kind}`" in doc, kind
    with Kernel(capture=True) as k:
        for rec in k.plugins.values():
            for kind in rec.event_kinds:
                assert f"`{kind}`" in doc, kind
    examples = [line for line in doc.splitlines() if line.startswith('{"kind"')]
    assert len(examples) >= len(CORE_EVENT_KINDS)
    for line in examples:
        assert "kind" in json.loads(line)
