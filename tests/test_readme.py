"""The README's set-up commands and API tour stay true."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tour_runs(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    code = text.split("```python\n", 1)[1].split("\n```", 1)[0]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert (tmp_path / "demo.jsonl").is_file()


def test_setup_commands_match_ci() -> None:
    lines = (ROOT / "README.md").read_text().split("```sh\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("pip install -e . && microsim run examples/demo.py --trace demo.jsonl")
    assert lines[1].endswith("pip install -e '.[test]' && pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]' && pytest" in ci
