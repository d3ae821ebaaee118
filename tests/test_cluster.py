"""Seed sweeps and PCT batches on a real Dask cluster give the local results."""

from __future__ import annotations

from pathlib import Path

import pytest

from microsim import explore
from microsim.cli import main as cli_main

distributed = pytest.importorskip("distributed")

RACE = str(Path(__file__).parent.parent / "examples" / "race.py")
DEPTH1 = str(Path(__file__).parent / "programs" / "depth1.py")


def _key(report: explore.Report) -> tuple[str, list[tuple[int, int, str, str]]]:
    return report.headline(), [(r.run, r.seed, r.schedule, r.error) for r in report.failed]


def test_cluster_sweep_and_pct_match_local_runs() -> None:
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        runner = explore.DaskRunner(client, batch_size=7)
        remote = explore.sweep(RACE, range(40), runner=runner)
        local = explore.sweep(RACE, range(40))
        assert remote.runs == 40 and remote.results
        assert _key(remote) == _key(local)
        remote = explore.explore_pct(DEPTH1, runs=30, depth=1, runner=runner, max_failures=None)
        local = explore.explore_pct(DEPTH1, runs=30, depth=1, max_failures=None)
        assert remote.results and _key(remote) == _key(local)


def test_cluster_from_the_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert cli_main(["run", RACE, "--seeds", "0..19", "--cluster", cluster.scheduler_address,
                         "--no-shrink"]) == 1
        remote = capsys.readouterr().out
    assert cli_main(["run", RACE, "--seeds", "0..19", "--no-shrink"]) == 1
    assert remote == capsys.readouterr().out
