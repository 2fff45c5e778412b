"""descentlab's joblib launcher (hydra_plugins/descentlab_launcher): Hydra's, whose workers
unpickle the sweep and scan Hydra's plugins once each, not before every batch of jobs, and run
the same jobs."""

import pickle
from collections import Counter
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import scalars, sweep
from descentlab import joblib_job

HYDRAS = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


@pytest.mark.slow
def test_workers_unpickle_the_sweep_and_scan_the_plugins_once_and_run_hydras_jobs(tmp_path: Path):
    # a plugin module that notes each process that executes it: Hydra's scan executes every
    # module under hydra_plugins, this one too (the sweep's dir is on the path)
    scans, unpickles = tmp_path / "scans", tmp_path / "unpickles"
    (tmp_path / "hydra_plugins").mkdir()
    (tmp_path / "hydra_plugins" / "scan_probe.py").write_text(
        f"import os\nwith open({str(scans)!r}, 'a') as f:\n    f.write(f'{{os.getpid()}}\\n')\n"
    )
    # a Hydra callback that notes each process that unpickles it, with the sweep's context (an
    # attribute of its own, since pickle calls __setstate__ only for an object with some state)
    (tmp_path / "unpickle_probe.py").write_text(
        "import os\nfrom hydra.experimental.callback import Callback\n\n"
        "class Probe(Callback):\n    def __init__(self):\n        self.state = 1\n\n"
        "    def __setstate__(self, state):\n"
        f"        with open({str(unpickles)!r}, 'a') as f:\n"
        "            f.write(f'{os.getpid()}\\n')\n"
    )
    jobs = [str(job) for job in range(6)]
    grid = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.launcher.batch_size=1"]
    grid += [f"seed={','.join(jobs)}", "trainer.max_steps=10"]
    grid += ["+hydra.callbacks.probe._target_=unpickle_probe.Probe"]
    scanned, unpickled, logged = {}, {}, {}
    for launcher, target in (("descentlab", []), ("hydra", [f"hydra.launcher._target_={HYDRAS}"])):
        scans.unlink(missing_ok=True)
        unpickles.unlink(missing_ok=True)
        proc = sweep(tmp_path, *grid, *target, f"hydra.sweep.dir={tmp_path / launcher}")
        assert proc.returncode == 0, proc.stderr
        scanned[launcher] = Counter(scans.read_text().split())
        unpickled[launcher] = Counter(unpickles.read_text().split())
        # Hydra's log lines, less their time and the sweep's dir
        lines = (proc.stdout + proc.stderr).replace(str(tmp_path / launcher), "DIR").splitlines()
        logged[launcher] = [line.partition("[HYDRA]")[2] for line in lines if "[HYDRA]" in line]
    # Hydra's launcher: a worker scans before each of its (one-job) batches
    assert max(scanned["hydra"].values()) >= 2, scanned
    # descentlab's: the command and each worker that ran a job (both, unless one ran them all)
    # scan, once each
    assert len(scanned["descentlab"]) >= 2, scanned
    assert max(scanned["descentlab"].values()) == 1, scanned
    # and unpickles the sweep before each batch; descentlab's, once in each worker
    assert max(unpickled["hydra"].values()) >= 2, unpickled
    assert max(unpickled["descentlab"].values()) == 1, unpickled
    assert set(unpickled["descentlab"]) < set(scanned["descentlab"])  # not the command

    # the same log lines, and the same jobs: each one's config, overrides, Hydra's job settings
    # and logged scalars
    assert len(logged["hydra"]) == 2 + len(jobs)  # Joblib.Parallel(…), the dir, each job
    assert logged["descentlab"] == logged["hydra"]
    for job in jobs:
        ours, hydras = tmp_path / "descentlab" / job, tmp_path / "hydra" / job
        for name in ("config.yaml", "overrides.yaml"):
            assert (ours / ".hydra" / name).read_text() == (hydras / ".hydra" / name).read_text()
        ours_hydra = OmegaConf.load(ours / ".hydra" / "hydra.yaml").hydra.job
        assert ours_hydra == OmegaConf.load(hydras / ".hydra" / "hydra.yaml").hydra.job
        assert ours_hydra.num == int(job)
        assert scalars(ours) == scalars(hydras)


def test_a_worker_keeps_a_launchs_sweep_for_its_jobs_and_takes_the_next_launchs(monkeypatch):
    """The Optuna sweeper launches a batch of trials at a time: each launch's jobs get its own."""
    hydras = []  # the arguments of Hydra's execute_job, which runs the job
    monkeypatch.setattr(
        "hydra_plugins.hydra_joblib_launcher._core.execute_job", lambda *args: hydras.append(args)
    )
    monkeypatch.setattr(joblib_job, "unpickled", None)
    first = ("1", pickle.dumps(("context", {"lr": 0.1}, print, {"instances": {}})))
    second = ("2", pickle.dumps(("context", {"lr": 0.2}, print, {"instances": {}})))
    for idx, launch in enumerate((first, first, second, second)):
        joblib_job.execute_job(idx, [f"seed={idx}"], launch)
    assert [(idx, overrides) for idx, overrides, *_ in hydras] == [
        (idx, [f"seed={idx}"]) for idx in range(4)
    ]
    configs = [config for _, _, _, config, _, _ in hydras]
    assert configs == [{"lr": 0.1}, {"lr": 0.1}, {"lr": 0.2}, {"lr": 0.2}]
    assert configs[0] is configs[1] and configs[2] is configs[3]  # unpickled once a launch
