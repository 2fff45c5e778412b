"""The grid sweeper: the configs it composes before launching cover every swept value."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
from hydra.core.plugins import Plugins
from omegaconf import OmegaConf

from descentlab.cli import compose_config
from hydra_plugins.descentlab_sweeper import grid_sweeper
from hydra_plugins.descentlab_sweeper.grid_sweeper import covering

GRID = [[f"optimizer.lr={lr}", f"init.value={w0}"] for lr in range(8) for w0 in range(8)]


def overrides(jobs: list) -> set[str]:
    return {override for job in jobs for override in job}


def test_covering_an_8_by_8_grid_takes_8_of_its_jobs():
    chosen = covering(GRID)
    assert len(chosen) == 8
    assert all(job in GRID for job in chosen)
    assert overrides(chosen) == overrides(GRID)


def test_covering_keeps_overrides_that_only_some_jobs_have():
    batch = [["a=1"], ["a=1", "b=2"], ["c=3"], ["a=2", "c=3"]]
    chosen = covering(batch)
    assert overrides(chosen) == {"a=1", "a=2", "b=2", "c=3"}
    assert len(chosen) == 2  # ["a=1", "b=2"] and ["a=2", "c=3"]


def test_the_sweeper_composes_the_covering_jobs_only():
    composed = []
    loader = SimpleNamespace(
        load_sweep_config=lambda master_config, sweep_overrides: composed.append(sweep_overrides)
    )
    Plugins.instance()  # Hydra's plugin scan re-imports the sweeper modules: build it after
    sweeper = grid_sweeper.GridSweeper(max_batch_size=None)
    sweeper.hydra_context = SimpleNamespace(config_loader=loader)
    sweeper.config = OmegaConf.create()
    sweeper.validate_batch_is_legal(GRID)
    assert len(composed) == 8  # Hydra's BasicSweeper composes all 64
    assert overrides(composed) == overrides(GRID)


def test_sweeps_use_it_and_experiments_can_still_pick_another_sweeper():
    assert compose_config([]).hydra.sweeper._target_.endswith("GridSweeper")
    assert "optuna" in compose_config(["experiment=search"]).hydra.sweeper._target_


@pytest.mark.slow
def test_a_bad_swept_value_stops_the_sweep_before_any_job_runs(tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "descentlab", "-m"),
            *("optimizer.lr=0.1,0.2,0.3", "model=linear,nosuch", f"hydra.sweep.dir={out}"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "nosuch" in proc.stderr
    assert [p.name for p in out.iterdir()] == ["multirun.yaml"]  # no job dir
