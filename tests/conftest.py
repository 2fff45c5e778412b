"""Helpers shared by the tests: run the app, read what it wrote to TensorBoard."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

ROOT = Path(__file__).resolve().parents[1]

# xdist starts one worker per core: each worker, and each run it starts, on one thread. Two
# workers of two threads each on two cores spin against each other (the suite took 15 % longer).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def run_app(tmp_path: Path):
    """Run `python -m descentlab` in an empty working dir; returns (process, run_dir, cwd)."""

    def run(*overrides: str, name: str = "run") -> tuple[subprocess.CompletedProcess, Path, Path]:
        cwd = tmp_path / f"cwd-{name}"
        cwd.mkdir()
        run_dir = tmp_path / name
        env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
        proc = subprocess.run(
            [sys.executable, "-m", "descentlab", f"hydra.run.dir={run_dir}", *overrides],
            cwd=cwd,
            env={**env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        return proc, run_dir, cwd

    return run


def sweep(
    cwd: Path, *overrides: str, unset: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`descentlab -m` with the explain table off, run in `cwd` without the environment
    variables in `unset`, with those in `env`."""
    kept = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", *unset)}
    return subprocess.run(
        [sys.executable, "-m", "descentlab", "-m", "explain=0", *overrides],
        cwd=cwd,
        env={**kept, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def edges(tmp_path_factory) -> list[float]:
    """TensorBoard's histogram bucket edges, as a SummaryWriter has them."""
    writer = SummaryWriter(tmp_path_factory.mktemp("edges"))
    writer.close()
    return writer.default_bins


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag → [(step, value), …] from every event file in `run_dir`."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def hparams_plugin(run_dir: Path) -> dict[str, bytes]:
    """The HParams plugin's records (experiment, session start, session end) in `run_dir`."""
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return events.PluginTagToContent("hparams")
