"""`microsim run` as a command line tool: exit statuses, errors, reports, traces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from microsim import __version__
from microsim.cli import main as cli_main

ROOT = Path(__file__).parent.parent
PROGRAMS = Path(__file__).parent / "programs"
RACE = str(ROOT / "examples" / "race.py")

LOST_UPDATE = '''
from microsim import zx

def bump(ctx, s):
    v = s["n"]
    ctx.zx.clock_get_monotonic()
    s["n"] = v + 1

def main(ctx):
    s = {"n": 0}
    print("starting")
    ts = [ctx.thread(bump, ctx, s) for _ in range(2)]
    for t in ts:
        ctx.zx.object_wait_one(t, zx.ZX_THREAD_TERMINATED, zx.ZX_TIME_INFINITE)
    print("total", s["n"])
    assert s["n"] == 2, "lost update"
'''


@pytest.fixture
def lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "lost.py"
    path.write_text(LOST_UPDATE)
    return str(path)


def _microsim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "microsim", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_version_and_exit_statuses(capsys: pytest.CaptureFixture[str], lost: str) -> None:
    assert cli_main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"microsim {__version__}"
    assert cli_main(["run", str(PROGRAMS / "locked.py")]) == 0
    assert cli_main(["run", lost, "--seeds", "0..20"]) == 1
    capsys.readouterr()
    assert cli_main(["run", "nowhere.py"]) == 2
    assert "no program file 'nowhere.py'" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--seeds", "5..1"], "reversed"),
    (["--seeds", ""], "empty"),
    (["--seeds", "1..x"], "expected a range"),
    (["--seeds", "1,,2"], "expected a range"),
    (["--seeds=-3..2"], "non-negative"),
    (["--seeds", "0..3", "--seed", "1"], "exclude each other"),
    (["--seeds", "0..3", "--jobs", "0"], "--jobs must be at least 1"),
    (["--jobs", "two"], "--jobs needs an integer"),
    (["--explore", "bfs"], "invalid choice"),
    (["--explore", "dfs", "--seeds", "0..3"], "--seeds is for the random strategy"),
    (["--explore", "dfs", "--cluster", "tcp://x:1"], "runs locally"),
    (["--explore", "dfs", "--jobs", "2"], "drop --jobs"),
    (["--explore", "pct", "--max-runs", "9"], "--max-runs goes with --explore dfs"),
    (["--seeds", "0..3", "--cluster", "tcp://x:1", "--jobs", "2"], "--jobs is for local workers"),
    (["--cluster", "tcp://x:1"], "--cluster needs --seeds or --explore"),
    (["--schedule", "garbage"], "malformed schedule"),
    (["--schedule", "v1-s0-r0:", "--seeds", "1..2"], "excludes --seeds"),
    (["--runs", "5"], "--runs goes with"),
    (["--seeds", "0..3", "--max-failures", "0"], "at least 1"),
])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], lost: str, argv: list[str],
                             message: str) -> None:
    assert cli_main(["run", lost, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_program_that_cannot_load_gets_a_short_message(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "syn.py").write_text("def main(ctx):\n    x = (1,\n    return 0\n")
    assert cli_main(["run", str(tmp_path / "syn.py")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "syn.py, line 2" in err and "x = (1," in err
    (tmp_path / "imp.py").write_text("import no_such_helper_mod\n\ndef main(ctx):\n    pass\n")
    assert cli_main(["run", str(tmp_path / "imp.py"), "--seeds", "0..3"]) == 2
    err = capsys.readouterr().err
    assert "import no_such_helper_mod" in err and 'imp.py", line 1' in err
    assert "No module named 'no_such_helper_mod'" in err and "microsim/" not in err


def test_failures_show_the_programs_frames_not_microsims(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.py").write_text(
        "def helper(ctx):\n    ctx.zx.handle_close(12345)\n\ndef main(ctx):\n    helper(ctx)\n")
    assert cli_main(["run", str(tmp_path / "bad.py")]) == 1
    err = capsys.readouterr().err
    assert 'bad.py", line 5, in main' in err and 'line 2, in helper' in err
    assert "ZX_ERR_BAD_HANDLE" in err
    assert "microsim/core" not in err and "runner.py" not in err
    assert "--schedule v1-s0-r0:" in err


def test_non_zero_return_is_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "three.py").write_text("def main(ctx):\n    return 3\n")
    # One run exits with the main process's return code; a sweep counts it as a failure.
    assert cli_main(["run", str(tmp_path / "three.py")]) == 3
    assert "exited with code 3" in capsys.readouterr().err
    assert cli_main(["run", str(tmp_path / "three.py"), "--seeds", "0..2"]) == 1
    assert "3 failed" in capsys.readouterr().out


def test_helpers_and_spawned_programs_are_found_beside_the_program(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "helper_mod_17.py").write_text("VALUE = 42\n")
    (sub / "child.py").write_text("def main(ctx):\n    print('child', ctx.args)\n")
    (sub / "parent.py").write_text(
        "import helper_mod_17\n\ndef main(ctx):\n    print('value', helper_mod_17.VALUE)\n"
        "    ctx.spawn('child.py', args=['a'])\n    ctx.spawn('child', args=['b'])\n")
    r = _microsim("run", "sub/parent.py", cwd=tmp_path)  # a fresh process: a clean sys.path
    assert r.returncode == 0, r.stderr
    assert "value 42" in r.stdout and "child ['a']" in r.stdout and "child ['b']" in r.stdout


def test_sweep_report_output_and_limits(capsys: pytest.CaptureFixture[str], lost: str) -> None:
    assert cli_main(["run", lost, "--seeds", "0..49"]) == 1
    out = capsys.readouterr().out
    head, _, _ = out.partition("\n")
    failing = int(head.split(", ")[1].split()[0])
    assert head.startswith("50 seeds run, ") and failing > 5
    # The first three failures in full, with their output labelled; the rest counted.
    assert out.count(": FAILED ---") == 3 and out.count("output of seed") == 3
    assert "  | starting\n  | total 1" in out and "total 2" not in out
    assert f"{failing - 3} more failing runs:" in out and f"{failing - 3}  AssertionError: lost update" in out
    assert "shortest failing schedule (1 preemption, 7 steps)" in out
    assert Path("lost.shortest.jsonl").is_file()
    assert cli_main(["run", lost, "--seeds", "0..49", "--fail-fast", "--no-shrink"]) == 1
    out = capsys.readouterr().out
    assert ", 1 failed" in out and "stopped after 1 failing run" in out
    assert cli_main(["run", lost, "--seeds", "0..49", "--max-failures", "2", "--no-shrink"]) == 1
    assert ", 2 failed" in capsys.readouterr().out


def test_many_runs_write_one_trace_per_failing_run(capsys: pytest.CaptureFixture[str], lost: str,
                                                   tmp_path: Path) -> None:
    assert cli_main(["run", lost, "--seeds", "0..9", "--trace", "traces/out.jsonl"]) == 1
    out = capsys.readouterr().out
    failed = [line.split()[2].rstrip(":") for line in out.splitlines() if line.startswith("--- seed")]
    files = sorted(p.name for p in (tmp_path / "traces").iterdir())
    assert "out.shortest.jsonl" in files
    assert {f"out.seed{s}.jsonl" for s in failed} <= set(files)
    assert len(files) == int(out.split(", ")[1].split()[0]) + 1


def test_replay_with_schedule_is_independent_of_seed(capsys: pytest.CaptureFixture[str], lost: str) -> None:
    assert cli_main(["run", lost, "--explore", "dfs", "--bound", "1", "--no-shrink"]) == 1
    out = capsys.readouterr().out
    schedule = next(line.split("--schedule ")[1] for line in out.splitlines() if "--schedule" in line)
    assert cli_main(["run", lost, "--schedule", schedule]) == 1
    assert "lost update" in capsys.readouterr().err


def test_explore_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["run", str(PROGRAMS / "two_preemptions.py"), "--explore", "dfs", "--bound", "1"]) == 0
    assert "explored all 19 schedules with at most 1 preemption: no failure" in capsys.readouterr().out
    assert cli_main(["run", str(PROGRAMS / "depth1.py"), "--explore", "pct", "--depth", "1",
                     "--runs", "300", "--no-shrink"]) == 1
    assert "PCT run, 1 failed" in capsys.readouterr().out


def test_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    (tmp_path / "chatty.py").write_text("def main(ctx):\n    for i in range(200000):\n        print(i)\n")
    r = subprocess.run(f"{sys.executable} -m microsim run chatty.py | head -2", shell=True,
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout == "0\n1\n" and r.stderr == ""


def test_ctrl_c_reports_what_finished(tmp_path: Path) -> None:
    (tmp_path / "stop.py").write_text(
        "import os, signal\nfrom pathlib import Path\n\n"
        "def main(ctx):\n    p = Path('count')\n    n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "    p.write_text(str(n))\n    if n == 6:\n        os.kill(os.getpid(), signal.SIGINT)\n")
    r = _microsim("run", "stop.py", "--seeds", "0..99", cwd=tmp_path)
    assert r.returncode == 130
    assert r.stdout.startswith("5 seeds run, 0 failed (interrupted)")
    assert "Traceback" not in r.stderr


def test_run_help_documents_what_users_need(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for needle in ('"--"', "default 0", "exit status", "examples:", "out.seed17.jsonl",
                   "--cluster", "(count)"):
        assert needle in text, needle
