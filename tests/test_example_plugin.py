"""The worked third-party plugin (examples/plugins/microsim-eventpair): installed as an
outside author's distribution, found through its entry point, and its own tests pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugins" / "microsim-eventpair"


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
    assert "eventpair [microsim-eventpair]" in r.stdout
    assert "zx_eventpair_create" in r.stdout and "object types: event, eventpair" in r.stdout


def test_its_own_tests_pass_with_the_kit(installed: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
                        str(EXAMPLE / "tests")], capture_output=True, text=True, env=installed,
                       cwd=str(EXAMPLE))
    assert r.returncode == 0, r.stdout + r.stderr
    assert " passed" in r.stdout


def test_not_installed_means_not_loaded() -> None:
    r = subprocess.run([sys.executable, "-m", "microsim", "plugins"], capture_output=True, text=True)
    assert "eventpair" not in r.stdout
