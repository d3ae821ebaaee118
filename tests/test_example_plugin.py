"""The worked third-party plugin (examples/plugins/microsim-semaphore): installed as an
outside author's distribution, found through its entry point, its own tests pass with
the kit, and microsim's own suite still passes with it installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugins" / "microsim-semaphore"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH", "")]))
    return env


def test_microsim_plugins_lists_it(installed: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-m", "microsim", "plugins"], capture_output=True,
                       text=True, env=installed)
    assert r.returncode == 0, r.stderr
    assert "semaphore [microsim-semaphore]" in r.stdout
    assert "zx_semaphore_acquire" in r.stdout and "object types: semaphore" in r.stdout


def test_its_own_tests_pass_with_the_kit(installed: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
                        str(EXAMPLE / "tests")], capture_output=True, text=True, env=installed,
                       cwd=str(EXAMPLE))
    assert r.returncode == 0, r.stdout + r.stderr
    assert " passed" in r.stdout


def test_listed_only_when_installed() -> None:
    # Without the temporary install (PYTHONPATH dropped), the plugin is listed exactly
    # when the environment itself has it installed.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-m", "microsim", "plugins"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u; print(u.find_spec('microsim_semaphore') is not None)"],
        capture_output=True, text=True, env=env)
    assert ("semaphore [microsim-semaphore]" in r.stdout) == (probe.stdout.strip() == "True")


def test_microsims_doc_tests_pass_with_it_installed(installed: dict[str, str]) -> None:
    # microsim documents its built-in plugins only; a third-party plugin's events and
    # syscalls must not make microsim's own doc tests fail.
    root = Path(__file__).resolve().parent
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
                        str(root / "test_docs.py") + "::test_hook_reference_matches_the_hookspecs",
                        str(root / "test_trace_tools.py") + "::test_every_event_kind_is_documented"],
                       capture_output=True, text=True, env=installed, cwd=str(root.parent))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_guide_quotes_the_example_verbatim() -> None:
    # Every line of docs/plugins.md's code about the semaphore is in the example's sources,
    # so the guide cannot drift from code that is installed and tested above.
    doc = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text()
    sources = {line.strip() for f in sorted(EXAMPLE.rglob("*.py")) if "build" not in f.parts
               for line in f.read_text().splitlines()}
    blocks = [b.split("\n```", 1)[0] for b in doc.split("```python\n")[1:]]
    quoted = [b for b in blocks if "semaphore" in b.lower()]
    assert len(quoted) >= 8
    for block in quoted:
        for line in block.splitlines():
            assert not line.strip() or line.strip() in sources, line
