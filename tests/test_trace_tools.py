"""Trace analysis: the Python API, `microsim trace ...`, the Perfetto and FXT exports, SQL.

Every trace here is produced by running a program on a real Kernel; malformed inputs are
derived from real traces (cut, a field dropped, garbage appended, the version changed).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from microsim import Kernel, ZxError, zx
from microsim.cli import main as cli_main
from microsim.core.plugins import builtin_plugins
from microsim.errors import Deadlock
from microsim.runner import run_program
from microsim.testing.workloads import ping_pong
from microsim.trace import TraceError, load, records
from microsim.trace.analysis import (
    NotFast,
    TraceInfo,
    diff,
    fast_chunks,
    leaks,
    no_gc,
    object_life,
    read_all,
    rights_str,
    signals_str,
)
from microsim.trace.export import STATE_TID, ThreadStates, build_timeline, to_perfetto, validate
from microsim.trace.fxt import MAGIC_RECORD
from microsim.trace.sql import SCHEMA, query
from microsim.trace.sql import load as sql_load
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
    assert events[0].kind == "trace_start" and events[0].version == 2
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
    assert all("unwound" in w["result"] and w["result"]["waiting_on"].startswith("wait_one(koid ")
               for w in waits)
    s = summarize(path)
    assert s["syscalls_by_status"]["zx_object_wait_one"] == {"did not return": 3}
    assert s["did_not_return"] == {"zx_object_wait_one": 3}
    assert s["errors"] == {}
    exits = s["process_exits"]
    assert [(e["process"], e["reason"]) for e in exits] == [("deadlock [1025]", "deadlock")]
    text = render_text(s)
    assert "DEADLOCK" in text and "deadlock/waiter0" in text
    assert "wait_one(channel [" in text and "for ZX_CHANNEL_READABLE)" in text  # the wait, named
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
    assert run.live_objects == len(found["objects"])
    path, run = deadlock_run
    assert run.leaked_handles == len(leaks(path)["handles"]) == 8
    # Objects alive at the end and syscalls made agree too, for a run that deadlocked.
    assert run.live_objects == len(leaks(path)["objects"]) == 0
    s = summarize(path)
    assert run.syscalls == sum(s["syscalls"].values()) == 12
    assert run.unreturned == sum(s["did_not_return"].values()) == 3
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
    # The lost update shows where it does: the main thread's exit (an AssertionError).
    assert b["thread"] == "race/main" and "lost an increment" in (b["b"] or b["a"]).get("detail", "")
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
    # Two processes passing handles and mapping memory: two seeds, other handle values,
    # koids and addresses, another schedule; the same behaviour.
    run_program(EXAMPLES / "demo.py", seed=1, trace=str(a))
    run_program(EXAMPLES / "demo.py", seed=2, trace=str(b))
    d = diff(str(a), str(b))
    assert d is not None and d["schedule"] is not None and d["behaviour"] is None


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
    dropped = [dict(r) for r in recs]
    i = next(i for i, r in enumerate(dropped) if r["kind"] == "handle_created")
    del dropped[i]["koid"]
    typed = [dict(r) for r in recs]
    j = next(j for j, r in enumerate(typed) if r["kind"] == "signal")
    typed[j]["new"] = "lots"
    k = next(k for k, r in enumerate(typed) if r["kind"] == "syscall")
    typed[k]["args"] = 7
    version = [dict(r) for r in recs]
    version[0]["version"] = 999
    not_trace = tmp_path / "notes.jsonl"
    not_trace.write_bytes(b'{"kind": "hello"}\n')
    return {
        "missing": (str(tmp_path / "nope.jsonl"), "cannot open"),
        "empty": (str(empty), "empty trace"),
        "garbage": (str(garbage), f"line {len(lines) + 1}"),
        "field dropped": (_write(tmp_path / "dropped.jsonl", dropped), f"line {i + 1}"),
        "wrong field types": (_write(tmp_path / "typed.jsonl", typed), f"line {min(j, k) + 1}"),
        "unknown version": (_write(tmp_path / "version.jsonl", version), "version 999"),
        "not a trace": (str(not_trace), "not a microsim trace"),
    }


SUBCOMMANDS = [["summary"], ["cat"], ["leaks"], ["object", "{f}", "1024"], ["grep"], ["diff", "{f}", "{f}"],
               ["export", "-o", "{out}"], ["export", "--format", "fxt", "-o", "{out}"],
               ["sql", "{f}", "SELECT count(*) FROM syscalls"], ["sqlite", "-o", "{out}"]]


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
    # Cut in the middle of a record: the same warning, naming the cut line.
    cut.write_bytes(b"".join(lines[:10]) + lines[10][:15])
    for sub in SUBCOMMANDS:
        argv = _argv(sub, str(cut), str(tmp_path / "out.bin"))
        assert cli_main(argv) in (0, 1), argv
        assert "no trace_end record" in capsys.readouterr().err, argv
    assert summarize(str(cut))["events"] == 10


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
        if sub[0] in ("grep", "cat"):
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
    # microsim documents its own plugins' events, not those of third-party plugins installed.
    with Kernel(capture=True, plugins=builtin_plugins()) as k:
        for rec in k.plugins.values():
            for kind in rec.event_kinds:
                assert f"`{kind}`" in doc, kind
    examples = [line for line in doc.splitlines() if line.startswith('{"kind"')]
    assert len(examples) >= len(CORE_EVENT_KINDS)
    for line in examples:
        assert "kind" in json.loads(line)


# --------------------------------------------------------------------------- Perfetto


ALL_PROGRAMS = sorted(EXAMPLES.glob("*.py")) + sorted(PROGRAMS.glob("*.py"))


@pytest.fixture(scope="module")
def every_program(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("all")
    out = {}
    for prog in ALL_PROGRAMS:
        out[prog.stem] = str(d / f"{prog.stem}.jsonl")
        run_program(prog, seed=3, trace=out[prog.stem])
    return out


def test_perfetto_export_is_valid_on_every_program(every_program: dict[str, str]) -> None:
    for name, path in every_program.items():
        doc = to_perfetto(path)
        assert validate(doc) == [], name


def test_perfetto_export_content(every_program: dict[str, str]) -> None:
    doc = to_perfetto(every_program["producer_consumer"])
    evs = doc["traceEvents"]
    meta = {(e["pid"], e["tid"]): e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    procs = {e["pid"]: e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "process_name"}
    assert any(n.startswith("producer_consumer [") for n in procs.values())
    assert any(n.startswith("consumer [") for n in meta.values())
    assert any(n.endswith("state") for n in meta.values())
    states = {e["name"] for e in evs if e.get("cat") == "state"}
    assert "running" in states and any(s.startswith("blocked: ") for s in states)
    assert any("ZX_THREAD_TERMINATED" in s and "consumer [" in s for s in states)  # waits named
    flows = [e for e in evs if e["ph"] in ("s", "f") and e["cat"] == "channel"]
    assert len(flows) == 2 * 10  # ten messages, each write -> the read that took it
    xs = [e for e in evs if e["ph"] == "X" and e["cat"] == "syscall"]
    assert all("status" in e["args"] for e in xs)
    counters = {e["name"] for e in evs if e["ph"] == "C"}
    assert {"live handles", "live objects"} <= counters
    assert any(e["ph"] == "i" and e["cat"] == "signal" and "ZX_THREAD_TERMINATED" in e["name"] for e in evs)
    demo = to_perfetto(every_program["demo"])["traceEvents"]
    cats = {e["cat"] for e in demo if e["ph"] in ("s", "f")}
    assert {"channel", "handle"} <= cats
    assert any(e["ph"] == "i" and e["name"] == "iob.region_mapped" and "iob" in e["args"]
               and "iob [" in e["args"]["iob"] for e in demo)
    assert any(e["ph"] == "C" and e["name"] == "mapped bytes" for e in demo)
    assert any(e["ph"] == "C" and e["name"] == "committed pages" and e["args"]["value"] > 0 for e in demo)
    assert summarize(every_program["demo"])["peak_committed_pages"] > 0
    dl = to_perfetto(every_program["deadlock"])["traceEvents"]
    assert any(e["ph"] == "i" and e["name"] == "DEADLOCK" and e["s"] == "g" for e in dl)
    assert any(e["ph"] == "X" and e["args"].get("status") == "did not return" for e in dl)


def test_validator_is_not_a_rubber_stamp(demo_trace: str) -> None:
    doc = to_perfetto(demo_trace)
    evs = doc["traceEvents"]
    x = next(e for e in evs if e["ph"] == "X")
    bad_docs = {
        "phase": [*evs, {**x, "ph": "Q"}],
        "missing": [*evs, {"ph": "X", "name": "x", "ts": 0, "pid": x["pid"]}],
        "unnamed pid": [*evs, {**x, "pid": 99999}],
        "overlap": [*evs, {**x, "ts": x["ts"] + x["dur"] / 2, "dur": x["dur"] * 5}],
        "negative": [*evs, {**x, "dur": -1}],
        "E without B": [*evs, {"ph": "E", "ts": 0, "pid": x["pid"], "tid": x["tid"]}],
        "open B": [*evs, {"ph": "B", "name": "b", "ts": 0, "pid": x["pid"], "tid": x["tid"]}],
        "async": [*evs, {"ph": "b", "name": "o", "cat": "c", "id": 1, "ts": 0, "pid": x["pid"]}],
        "flow": [*evs, {"ph": "s", "name": "f", "cat": "c", "id": 77, "ts": x["ts"], "pid": x["pid"], "tid": x["tid"]}],
        "metadata": [*evs, {"ph": "M", "name": "bogus", "pid": 0, "args": {}}],
        "scope": [*evs, {"ph": "i", "name": "i", "ts": 0, "pid": x["pid"], "tid": x["tid"], "s": "z"}],
        "counter": [*evs, {"ph": "C", "name": "c", "ts": 0, "pid": x["pid"], "args": {"v": "high"}}],
    }
    for what, bad in bad_docs.items():
        assert validate({"traceEvents": bad}), what


def test_export_cli_and_no_chrome_format(demo_trace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert cli_main(["trace", "export", demo_trace, "-o", str(out)]) == 0
    assert validate(json.loads(out.read_text())) == []
    try:
        code = cli_main(["trace", "export", demo_trace, "--format", "chrome", "-o", str(out)])
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    assert code == 2 and "invalid choice: 'chrome'" in capsys.readouterr().err


# --------------------------------------------------------------------------- FXT


def _fxt_decode(data: bytes) -> dict[str, Any]:
    """A small FXT reader written from the specification, independent of the writer."""
    import struct

    assert len(data) % 8 == 0
    words = struct.unpack(f"<{len(data) // 8}Q", data)
    strings: dict[int, str] = {}
    threads: dict[int, tuple[int, int]] = {}
    out: dict[str, Any] = {"kobjs": {}, "events": [], "init": None}
    pos = 0

    def stream(p: int, n: int) -> tuple[str, int]:
        raw = data[p * 8: p * 8 + n]
        return raw.decode(), p + (n + 7) // 8

    def sref(ref: int, p: int) -> tuple[str, int]:
        if ref == 0:
            return "", p
        if ref & 0x8000:
            return stream(p, ref & 0x7FFF)
        return strings[ref], p

    def args(n: int, p: int) -> tuple[dict[str, Any], int]:
        res: dict[str, Any] = {}
        for _ in range(n):
            h = words[p]
            atype, asize = h & 0xF, h >> 4 & 0xFFF
            end = p + asize
            name, q = sref(h >> 16 & 0xFFFF, p + 1)
            if atype == 1:
                v: Any = struct.unpack("<i", struct.pack("<I", h >> 32))[0]
            elif atype == 2:
                v = h >> 32
            elif atype in (3,):
                v = struct.unpack("<q", struct.pack("<Q", words[q]))[0]
            elif atype in (4, 7, 8):
                v = ("koid", words[q]) if atype == 8 else words[q]
            elif atype == 5:
                v = struct.unpack("<d", struct.pack("<Q", words[q]))[0]
            elif atype == 6:
                v, _ = sref(h >> 32 & 0xFFFF, q)
            elif atype == 9:
                v = bool(h >> 32 & 1)
            else:
                raise AssertionError(f"unknown argument type {atype}")
            res[name] = v
            p = end
        return res, p

    assert words[0] == 0x0016547846040010, "magic record first"
    pos = 1
    while pos < len(words):
        h = words[pos]
        rtype, size = h & 0xF, h >> 4 & 0xFFF
        assert size >= 1, f"record at word {pos} has size 0"
        body = pos + 1
        if rtype == 1:
            out["init"] = words[body]
        elif rtype == 2:
            idx, length = h >> 16 & 0x7FFF, h >> 32 & 0x7FFF
            assert h >> 31 & 1 == 0 and h >> 47 & 1 == 0 and h >> 48 == 0
            strings[idx], _ = stream(body, length)
        elif rtype == 3:
            threads[h >> 16 & 0xFF] = (words[body], words[body + 1])
        elif rtype == 7:
            obj_type, nref, nargs = h >> 16 & 0xFF, h >> 24 & 0xFFFF, h >> 40 & 0xF
            koid = words[body]
            name, q = sref(nref, body + 1)
            a, q = args(nargs, q)
            out["kobjs"][koid] = (obj_type, name, a)
            assert q == pos + size
        elif rtype == 4:
            etype, nargs, tref = h >> 16 & 0xF, h >> 20 & 0xF, h >> 24 & 0xFF
            cref, nref = h >> 32 & 0xFFFF, h >> 48 & 0xFFFF
            ts = words[body]
            q = body + 1
            if tref:
                pid, tid = threads[tref]
            else:
                pid, tid = words[q], words[q + 1]
                q += 2
            cat, q = sref(cref, q)
            name, q = sref(nref, q)
            a, q = args(nargs, q)
            extra = words[q:pos + size]
            out["events"].append({"type": etype, "ts": ts, "pid": pid, "tid": tid, "cat": cat, "name": name,
                                  "args": a, "extra": list(extra)})
        else:
            raise AssertionError(f"unexpected record type {rtype}")
        pos += size
    assert pos == len(words)
    return out


def test_fxt_export_decodes_against_the_spec(every_program: dict[str, str], tmp_path: Path) -> None:
    assert MAGIC_RECORD == 0x0016547846040010
    for name in ("demo", "producer_consumer", "deadlock"):
        path = every_program[name]
        out = tmp_path / f"{name}.fxt"
        assert cli_main(["trace", "export", path, "--format", "fxt", "-o", str(out)]) == 0
        dec = _fxt_decode(out.read_bytes())
        tl = build_timeline(path)
        assert dec["init"] == 1_000_000_000
        # Kernel objects: every koid, processes and threads named, threads know their process.
        for koid, (typ, _, owner) in tl.objects.items():
            assert koid in dec["kobjs"], koid
            obj_type, label, args = dec["kobjs"][koid]
            if typ == "process":
                assert obj_type == zx.ZX_OBJ_TYPE_PROCESS and label == tl.processes[koid]
            if typ == "thread":
                assert obj_type == zx.ZX_OBJ_TYPE_THREAD and args["process"] == ("koid", owner)
                assert label == tl.threads[owner, koid]
        evs = dec["events"]
        complete = [e for e in evs if e["type"] == 4]
        assert len(complete) == len(tl.slices)
        syscalls = sorted((e["ts"], e["extra"][0] - e["ts"], e["name"]) for e in complete if e["cat"] == "syscall")
        assert syscalls == sorted((s.ts, s.dur, s.name) for s in tl.slices if s.cat == "syscall")
        assert len([e for e in evs if e["type"] == 0]) == len(tl.instants)
        assert len([e for e in evs if e["type"] == 1]) == len(tl.counters)
        begins = {e["extra"][0]: e for e in evs if e["type"] == 8}
        ends = {e["extra"][0]: e for e in evs if e["type"] == 10}
        assert set(begins) == set(ends) == {f.id for f in tl.flows}
        for fid, b in begins.items():
            assert ends[fid]["ts"] >= b["ts"]
            # Each flow point lies inside a complete event on its thread.
            for p in (b, ends[fid]):
                assert any(c["pid"] == p["pid"] and c["tid"] == p["tid"] and c["ts"] <= p["ts"] <= c["extra"][0]
                           for c in complete)
        ab = [e for e in evs if e["type"] == 5]
        ae = [e for e in evs if e["type"] == 7]
        assert sorted(e["extra"][0] for e in ab) == sorted(e["extra"][0] for e in ae) == sorted(
            s.koid for s in tl.spans)
        if name == "producer_consumer":
            assert len(begins) == 10
            assert any(e["tid"] >= STATE_TID and e["name"].startswith("blocked: ") for e in complete)


# --------------------------------------------------------------------------- SQL


def test_sql_tables_and_worked_queries(every_program: dict[str, str], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    path = every_program["producer_consumer"]
    db_path = tmp_path / "pc.db"
    assert cli_main(["trace", "sqlite", path, "-o", str(db_path)]) == 0
    assert "syscalls" in capsys.readouterr().out
    db = sqlite3.connect(db_path)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"processes", "threads", "syscalls", "objects", "handles", "signals", "thread_states",
                      "thread_slices", "deadlocks", "events"}
    assert all(f"CREATE TABLE {t} " in SCHEMA for t in tables)
    # Names, and the consumer's state slices.
    assert {r[0] for r in db.execute("SELECT name FROM threads")} == {"main", "consumer"}
    assert db.execute("SELECT name FROM processes").fetchone()[0] == "producer_consumer"
    n_sys = db.execute("SELECT count(*) FROM syscalls").fetchone()[0]
    assert n_sys == len([r for r in _recs(path) if r["kind"] == "syscall"])
    # Who signalled the object a thread waited on (the docs' worked query).
    rows = db.execute(WHO_SIGNALLED).fetchall()
    assert rows and all(r[-1] in ("main", "consumer") for r in rows)
    # Handles alive per process over time, and the slowest syscalls.
    assert db.execute(HANDLES_OVER_TIME).fetchall()
    slow = db.execute(SLOWEST).fetchall()
    assert slow[0][0] == "zx_object_wait_one"
    db.close()
    # `trace sql` prints a table, or JSON rows.
    assert cli_main(["trace", "sql", path, "SELECT name, count(*) AS n FROM syscalls GROUP BY name ORDER BY name",
                     "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert {"name": "zx_channel_write", "n": 10} in got
    _, rows2 = query(every_program["deadlock"], "SELECT count(*) FROM syscalls WHERE returned = 0")
    assert rows2 == [(3,)]
    assert query(every_program["deadlock"], "SELECT count(*) FROM deadlocks")[1] == [(3,)]
    assert cli_main(["trace", "sql", path, "SELECT nope FROM nowhere"]) == 1
    assert "SQL error" in capsys.readouterr().err


SLOWEST = "SELECT name, dur, status_name FROM syscalls ORDER BY dur DESC LIMIT 5"
HANDLES_OVER_TIME = """
SELECT p.name, t.ts,
       (SELECT count(*) FROM handles h WHERE h.pid = p.pid AND h.created_ts <= t.ts
          AND (h.closed_ts IS NULL OR h.closed_ts > t.ts)) AS live
FROM processes p, (SELECT DISTINCT ts FROM syscalls) t ORDER BY p.pid, t.ts
"""
WHO_SIGNALLED = """
SELECT w.sc, wt.name AS waiter, o.type, s.ts, st.name AS signaller
FROM syscalls w
JOIN threads wt ON wt.tid = w.tid
JOIN objects o ON o.koid = w.koid
JOIN signals s ON s.koid = w.koid AND s.ts BETWEEN w.ts AND w.ts + w.dur
              AND (s.raised & json_extract(w.args, '$.signals')) != 0
JOIN threads st ON st.tid = s.tid
WHERE w.name = 'zx_object_wait_one'
"""


# --------------------------------------------------------------------------- docs


@pytest.fixture(scope="module")
def doc_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("doc")
    for prog, seed, out in ((PROGRAMS / "deadlock.py", 0, "deadlock.jsonl"), (PROGRAMS / "leak.py", 0, "leak.jsonl"),
                            (EXAMPLES / "race.py", 1, "race1.jsonl"), (EXAMPLES / "race.py", 0, "race0.jsonl"),
                            (EXAMPLES / "producer_consumer.py", 0, "pc.jsonl")):
        run_program(prog, seed=seed, trace=str(d / out))
    return d


@pytest.mark.parametrize("doc", ["docs/trace-format.md", "README.md"])
def test_documented_outputs_are_real(doc: str, doc_traces: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import re
    import shlex

    text = (ROOT / doc).read_text()
    blocks = re.findall(r"```console\n\$ (microsim trace [^\n]*)\n(.*?)\n```", text, re.S)
    subcommands = {shlex.split(cmd)[2] for cmd, _ in blocks}
    assert {"summary", "leaks", "object", "grep", "diff", "export", "sql", "sqlite"} <= subcommands
    monkeypatch.chdir(doc_traces)
    capsys.readouterr()
    for cmd, expected in blocks:
        cli_main(shlex.split(cmd)[1:])
        assert capsys.readouterr().out.rstrip() == expected.rstrip(), cmd


def test_documented_sql_queries_run(doc_traces: Path) -> None:
    import re
    import sqlite3

    text = (ROOT / "docs" / "trace-format.md").read_text()
    pairs = re.findall(r"```sql\n(.*?)\n```\n\n```text\n(.*?)\n```", text, re.S)
    assert len(pairs) >= 3
    db_path = doc_traces / "pc-test.db"
    assert cli_main(["trace", "sqlite", str(doc_traces / "pc.jsonl"), "-o", str(db_path)]) == 0
    db = sqlite3.connect(db_path)
    for sql, expected in pairs:
        got = "\n".join("|".join(str(v) for v in row) for row in db.execute(sql))
        assert got == expected, sql
    db.close()


def _ports(ctx: Any) -> None:
    """A thread queues user packets and a channel signal arms a wait_async packet."""
    port = ctx.zx.port_create(0)
    a, b = ctx.zx.channel_create(0)
    ctx.zx.object_wait_async(b, port, 7, zx.ZX_CHANNEL_READABLE, 0)

    def producer(ctx: Any, port: int, a: int) -> None:
        for key in (1, 2):
            ctx.zx.port_queue(port, zx.zx_port_packet_t(key=key, type=zx.ZX_PKT_TYPE_USER))
        ctx.zx.channel_write(a, 0, b"x", [])

    t = ctx.thread(producer, ctx, port, a, name="producer")
    keys = [ctx.zx.port_wait(port, zx.ZX_TIME_INFINITE).key for _ in range(3)]
    assert sorted(keys) == [1, 2, 7]
    ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
    for h in (t, a, b, port):
        ctx.zx.handle_close(h)


def test_port_packet_flows(tmp_path: Path) -> None:
    path = str(tmp_path / "ports.jsonl")
    for seed in range(3):
        assert run_program(_ports, seed=seed, trace=path).ok
        tl = build_timeline(path)
        doc = to_perfetto(path)
        assert validate(doc) == []
        port_flows = [f for f in tl.flows if f.cat == "port"]
        assert len(port_flows) == 3
        names = {s.name for s in tl.slices if s.cat == "syscall"}
        assert {"zx_port_queue", "zx_object_wait_async", "zx_port_wait"} <= names
        by_point = {(s.pid, s.tid, s.ts + s.dur // 2): s.name for s in tl.slices if s.cat == "syscall"}
        assert sorted(by_point[f.src] for f in port_flows) == ["zx_object_wait_async", "zx_port_queue",
                                                               "zx_port_queue"]
        assert {by_point[f.dst] for f in port_flows} == {"zx_port_wait"}
        assert [f for f in tl.flows if f.cat == "channel"] == []  # the message was never read


def test_header_kinds_and_objects_are_honoured(leak_run: tuple[str, Any], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A self-describing header (`kinds` with `objects`) decides which fields are koids,
    for plugin events too: grep --koid, trace object and the export use it."""
    path, _ = leak_run
    recs = _recs(path)
    vmo = next(r["koid"] for r in recs if r["kind"] == "object_created" and r["type"] == "vmo")
    common = ("kind", "t", "sc", "pid", "tid")
    kinds: dict[str, Any] = {}
    for r in recs:
        kinds.setdefault(r["kind"], {"fields": [k for k in r if k not in common], "objects": []})
    kinds["object_created"]["objects"] = ["koid", "related_koid", "owner"]
    kinds["x.poked"] = {"fields": ["target", "how"], "objects": ["target"]}
    recs[0] = {**recs[0], "kinds": kinds}
    end = recs.pop()
    recs.append({"kind": "x.poked", "t": end["t"], "sc": 0, "pid": 0, "tid": 0, "target": vmo, "how": "gently"})
    recs.append(end)
    p = _write(tmp_path / "v2ish.jsonl", recs)
    assert cli_main(["trace", "grep", p, "--koid", str(vmo), "--kind", "x.*", "--json"]) == 0
    assert [json.loads(x)["how"] for x in capsys.readouterr().out.splitlines()] == ["gently"]
    assert any(e["kind"] == "x.poked" for e in object_life(p, vmo))
    inst = [i for i in build_timeline(p).instants if i.name == "x.poked"]
    assert inst and inst[0].args["target"] == f"vmo [{vmo}]"
    assert summarize(p)["plugin_events"] == {"x.poked": 1}
    # A declared koid field that is not an integer is a malformed record.
    recs[-2]["target"] = "the vmo"
    bad = _write(tmp_path / "v2bad.jsonl", recs)
    assert cli_main(["trace", "summary", bad]) == 2
    assert f"line {len(recs) - 1}: malformed x.poked record: target is str" in capsys.readouterr().err


def test_v1_trace_without_exit_reason_still_reads(leak_run: tuple[str, Any], tmp_path: Path) -> None:
    path, _ = leak_run
    recs = _recs(path)
    # A version-1 header: no kinds map, so the core kinds are those this reader knows.
    recs[0] = {k: v for k, v in recs[0].items() if k not in ("kinds", "syscalls")} | {"version": 1}
    for r in recs:
        if r["kind"] == "process_exit":
            del r["reason"]
    p = _write(tmp_path / "old.jsonl", recs)
    assert [e["reason"] for e in summarize(p)["process_exits"]] == ["exit"]


def test_exit_reasons_inferred_when_not_recorded(deadlock_run: tuple[str, Any], tmp_path: Path) -> None:
    """A process_exit without `reason` (another writer) is explained by what came before:
    the deadlock event, a task_kill with Zircon's return code, an exception."""
    path, _ = deadlock_run
    recs = _recs(path)
    for r in recs:
        if r["kind"] == "process_exit":
            del r["reason"]
    recs[0] = {k: v for k, v in recs[0].items() if k not in ("kinds", "syscalls")} | {"version": 1}
    assert [e["reason"] for e in summarize(_write(tmp_path / "a.jsonl", recs))["process_exits"]] == ["deadlock"]
    no_dl = [r for r in recs if r["kind"] != "deadlock"]
    i = next(i for i, r in enumerate(no_dl) if r["kind"] == "process_exit")
    pid = no_dl[i]["process"]
    for code, why in ((-1024, "kill"), (-1028, "exception")):
        killed = [*no_dl[:i], {"kind": "task_kill", "t": 0, "sc": 0, "pid": pid, "tid": 0, "koid": pid,
                               "code": code}, *no_dl[i:]]
        s = summarize(_write(tmp_path / "b.jsonl", killed))
        assert [e["reason"] for e in s["process_exits"]] == [why]


def test_kinds_declared_late_are_checked_and_used(leak_run: tuple[str, Any], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A `trace_kinds` record declares kinds after the header (a plugin loaded late)."""
    path, _ = leak_run
    recs = _recs(path)
    vmo = next(r["koid"] for r in recs if r["kind"] == "object_created" and r["type"] == "vmo")
    end = recs.pop()
    recs.append({"kind": "trace_kinds", "t": 0, "sc": 0, "pid": 0, "tid": 0,
                 "kinds": {"y.seen": {"fields": ["what"], "objects": ["what"]}}, "syscalls": {}})
    recs.append({"kind": "y.seen", "t": end["t"], "sc": 0, "pid": 0, "tid": 0, "what": vmo})
    recs.append(end)
    p = _write(tmp_path / "late.jsonl", recs)
    assert cli_main(["trace", "grep", p, "--koid", str(vmo), "--kind", "y.*", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert object_life(p, vmo)[-1]["kind"] == "y.seen"
    recs[-2]["what"] = "not a koid"
    assert cli_main(["trace", "leaks", _write(tmp_path / "late_bad.jsonl", recs)]) == 2
    assert "malformed y.seen record: what is str" in capsys.readouterr().err


def _long_deadlock(path: Path) -> None:
    """A thread blocks forever early; another makes a few thousand syscalls (many read
    chunks later) and then blocks too: the first call that never returned is recorded
    chunks after its thread blocked."""
    with Kernel(seed=5, plugins=["vmo", "event"], trace=str(path)) as k:
        p = k.create_process("late")
        e = p.zx.event_create(0)
        inf = zx.ZX_TIME_INFINITE

        def sleeper() -> None:
            p.zx.object_wait_one(e, zx.ZX_EVENT_SIGNALED, inf)

        def worker() -> None:
            v = p.zx.vmo_create(4096, 0)
            for _ in range(3000):
                p.zx.handle_close(p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS))
            p.zx.object_wait_one(e, zx.ZX_EVENT_SIGNALED, inf)

        k.create_thread(p, sleeper, name="sleeper")
        k.create_thread(p, worker, name="worker")
        with pytest.raises(Deadlock):
            k.run()


def _both_ways(path: Path) -> tuple[Any, Any]:
    """(summary, every table's rows) of the trace, read from the file (the fast reader, or
    `scan` if it gives up) and from an open stream (always `scan`); or the errors."""
    out = []
    for stream in (False, True):
        info = TraceInfo()
        try:
            with path.open("rb") as f:
                summary = summarize(f if stream else str(path), info=info)
            summary["info"] = (info.records, info.last_t, info.complete, info.unreturned, info.cut_line,
                               info.warnings)
            db = sqlite3.connect(":memory:")
            with path.open("rb") as f:
                sql_load(f if stream else str(path), db)
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            out.append((summary, {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}))
        except TraceError as exc:
            out.append(("error", str(exc)))
    return out[0], out[1]


def _fast(path: Path) -> bool:
    """Whether the fast reader takes the whole file (rather than leave it to `scan`)."""
    try:
        with no_gc():
            for _ in fast_chunks(str(path), TraceInfo()):
                pass
    except NotFast:
        return False
    return True


def test_fast_readers_agree_with_the_careful_one(tmp_path: Path) -> None:
    # `summary` and the SQLite load read a trace file through a fast columnar path; an open
    # stream goes through the careful record-by-record reader. Both must give the same.
    threads = tmp_path / "threads.jsonl"
    run_program(str(EXAMPLES / "producer_consumer.py"), seed=3, trace=str(threads))
    calls = tmp_path / "calls.jsonl"  # syscalls only, with errors
    with Kernel(seed=2, trace=str(calls)) as k:
        p = k.create_process("calls")
        for i in range(3000):
            v = p.zx.vmo_create(4096 * (i % 3), 0)
            p.zx.handle_close(p.zx.handle_duplicate(v, zx.ZX_RIGHT_SAME_RIGHTS))
            if i % 100 == 0:
                p.zx.object_signal(v, 0, zx.ZX_USER_SIGNAL_0)
                with pytest.raises(ZxError):
                    p.zx.handle_close(0x1234)
            p.zx.handle_close(v)
    pingpong = tmp_path / "pingpong.jsonl"  # two threads over many chunks
    ping_pong(str(pingpong), rounds=3000, seed=4)
    deadlock = tmp_path / "deadlock.jsonl"  # calls that never returned
    run_program(PROGRAMS / "deadlock.py", seed=0, trace=str(deadlock))
    late = tmp_path / "late.jsonl"  # ... one of them recorded chunks after it blocked
    _long_deadlock(late)
    for path in (threads, calls, pingpong, late, deadlock):
        assert _fast(path), path  # the fast path takes these whole...
        fast, careful = _both_ways(path)
        assert fast == careful and careful[0]["syscalls"]  # ...and agrees
    assert careful[0]["deadlocks"] and careful[0]["did_not_return"]
    assert any(r[6] is None for r in careful[1]["syscalls"])  # status NULL: did not return


def _variants(tmp_path: Path) -> dict[str, bytes]:
    """Traces the fast reader must read as `scan` does: cut short, late kinds, old
    records; and bad ones, whose errors must be the same."""
    good = tmp_path / "good.jsonl"
    ping_pong(str(good), rounds=400, seed=4)
    data = good.read_bytes()
    lines = data.splitlines(keepends=True)
    mid = len(lines) // 2
    out = {
        "cut mid-line": data[: len(data) // 2],
        "cut at a line's end": b"".join(lines[:mid]),
        "no records": lines[0],
        "blank line": b"".join([*lines[:mid], b"\n", *lines[mid:]]),
        "not JSON": b"".join([*lines[:mid], b"[\"syscall\",1,\n", *lines[mid:]]),
        "two records on a line": b"".join([*lines[:mid], lines[mid].rstrip(b"\n") + b"," + lines[mid + 1],
                                           *lines[mid + 2:]]),
        "unknown kind": b"".join([*lines[:mid], b'["nosuch",1,2,3,4,5]\n', *lines[mid:]]),
        "empty": b"",
    }
    # A field of the wrong type, in each of the kinds the fast reader checks.
    for kind, field, value in (("syscall", 1, "1"), ("syscall", 1, True), ("syscall", 7, 1.5),
                               ("syscall", 6, "x"), ("signal", 6, None), ("thread_state", 5, False),
                               ("handle_created", 8, 3), ("signal", 4, 2.0)):
        at = next(i for i in range(mid, len(lines)) if lines[i].startswith(b'["' + kind.encode()))
        row = orjson.loads(lines[at])
        row[field] = value
        out[f"{kind} field {field} = {value!r}"] = b"".join([*lines[:at], orjson.dumps(row) + b"\n", *lines[at + 1:]])
    # A record with one field too many (a processor's extras) and one too few.
    at = next(i for i in range(mid, len(lines)) if lines[i].startswith(b'["signal"'))
    row = orjson.loads(lines[at])
    out["extra fields"] = b"".join([*lines[:at], orjson.dumps([*row, {"who": 1}]) + b"\n", *lines[at + 1:]])
    out["missing field"] = b"".join([*lines[:at], orjson.dumps(row[:-1]) + b"\n", *lines[at + 1:]])
    # A kind declared late (trace_kinds), then used, in the middle of a chunk.
    late = {"kind": "trace_kinds", "t": 0, "sc": 0, "pid": 0, "tid": 0,
            "kinds": {"demo.late": {"fields": ["koid", "note"], "objects": ["koid"]}},
            "syscalls": {"zx_demo_late": ["handle", "n"]}}
    out["late kinds"] = b"".join([*lines[:mid], orjson.dumps(late) + b"\n",
                                  b'["demo.late",5,0,1,2,1027,"hello"]\n',
                                  b'["syscall",5,99999,1025,0,"zx_demo_late",[1,2],0,null,1000]\n', *lines[mid:]])
    # A syscall of a thread that blocked and was never woken, written (as before the
    # format said so) with a status, under a header that does not say `did_not_return`:
    # the readers mark it as not returned. (With the header's word, a status is taken as
    # written, and the two readers agree on that too.)
    deadlock = tmp_path / "deadlock.jsonl"
    run_program(PROGRAMS / "deadlock.py", seed=0, trace=str(deadlock))
    dl = deadlock.read_bytes().splitlines(keepends=True)
    old = []
    for line in dl:
        row = orjson.loads(line)
        if type(row) is list and row[0] == "syscall" and row[7] is None:
            row[7], row[8] = 0, 3
            line = orjson.dumps(row) + b"\n"
        elif type(row) is dict and row.get("kind") == "trace_start":
            assert row.pop("did_not_return") == "status null"
            line = orjson.dumps(row) + b"\n"
        old.append(line)
    out["status of a call never woken"] = b"".join(old)
    out["status of a call never woken, new header"] = b"".join([dl[0], *old[1:]])
    return out


def test_fast_readers_agree_on_odd_and_bad_traces(tmp_path: Path) -> None:
    for name, data in _variants(tmp_path).items():
        path = tmp_path / "variant.jsonl"
        path.write_bytes(data)
        fast, careful = _both_ways(path)
        assert fast == careful, name
    # The ones the fast reader takes whole (it gives the others to `scan`).
    for name in ("cut mid-line", "cut at a line's end", "late kinds", "status of a call never woken"):
        path = tmp_path / "variant.jsonl"
        path.write_bytes(_variants(tmp_path)[name])
        assert _fast(path), name


def test_thread_state_columns_are_its_intervals(tmp_path: Path, deadlock_run: tuple[str, Any]) -> None:
    # The SQLite load takes the thread slices a column at a time; the export, one by one.
    pc = tmp_path / "pc.jsonl"
    run_program(str(EXAMPLES / "producer_consumer.py"), seed=3, trace=str(pc))
    for path in (str(pc), deadlock_run[0]):
        states = ThreadStates()
        for rec in read_all(path)[1]:
            if rec["kind"] == "syscall" and rec["tid"]:
                states.syscall(rec)
            elif rec["kind"] == "thread_state":
                states.thread_state(rec)
        assert list(zip(*states.columns(10**9))) == list(states.intervals(10**9)) != []
    # Spans that overlap, nest, touch, or start before the thread: clipped the same way.
    states = ThreadStates()
    states.life = {1: [100, -1], 2: [0, 50]}
    states.states = {1: [(50, 150, "running"), (120, 130, "running"), (130, 200, "blocked: x"), (300, 310, "running"),
                         (305, 400, "running")], 2: [(10, 20, "running"), (20, 30, "running")]}
    assert list(zip(*states.columns(1000))) == list(states.intervals(1000))
    assert list(zip(*states.columns(1000))) == [
        (1, 100, 50, "running"), (1, 150, 50, "blocked: x"), (1, 200, 100, "ready"), (1, 300, 10, "running"),
        (1, 310, 90, "running"), (1, 400, 600, "ready"), (2, 0, 10, "ready"), (2, 10, 10, "running"),
        (2, 20, 10, "running"), (2, 30, 20, "ready")]


def test_ping_pong_workload_runs_to_a_number_of_events_or_rounds(tmp_path: Path) -> None:
    path = tmp_path / "pp.jsonl"
    lines = ping_pong(str(path), events=5000)
    assert 5000 <= lines < 5100  # whole rounds, then the threads wind down
    assert summarize(str(path))["deadlocks"] == []
    with pytest.raises(ValueError):
        ping_pong(str(path))
