"""descentlab's joblib launcher (hydra_plugins/descentlab_launcher): Hydra's, whose workers scan
Hydra's plugins once each, not before every batch of jobs, and run the same jobs."""

from collections import Counter
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import scalars, sweep

HYDRAS = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


@pytest.mark.slow
def test_workers_scan_the_plugins_once_and_run_the_jobs_hydras_launcher_runs(tmp_path: Path):
    # a plugin module that notes each process that executes it: Hydra's scan executes every
    # module under hydra_plugins, this one too (the sweep's dir is on the path)
    scans = tmp_path / "scans"
    (tmp_path / "hydra_plugins").mkdir()
    (tmp_path / "hydra_plugins" / "scan_probe.py").write_text(
        f"import os\nwith open({str(scans)!r}, 'a') as f:\n    f.write(f'{{os.getpid()}}\\n')\n"
    )
    jobs = [str(job) for job in range(6)]
    grid = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.launcher.batch_size=1"]
    grid += [f"seed={','.join(jobs)}", "trainer.max_steps=10"]
    scanned, logged = {}, {}
    for launcher, target in (("descentlab", []), ("hydra", [f"hydra.launcher._target_={HYDRAS}"])):
        scans.unlink(missing_ok=True)
        proc = sweep(tmp_path, *grid, *target, f"hydra.sweep.dir={tmp_path / launcher}")
        assert proc.returncode == 0, proc.stderr
        scanned[launcher] = Counter(scans.read_text().split())
        # Hydra's log lines, less their time and the sweep's dir
        lines = (proc.stdout + proc.stderr).replace(str(tmp_path / launcher), "DIR").splitlines()
        logged[launcher] = [line.partition("[HYDRA]")[2] for line in lines if "[HYDRA]" in line]
    # Hydra's launcher: a worker scans before each of its (one-job) batches
    assert max(scanned["hydra"].values()) >= 2, scanned
    # descentlab's: the command and each worker that ran a job (both, unless one ran them all)
    # scan, once each
    assert len(scanned["descentlab"]) >= 2, scanned
    assert max(scanned["descentlab"].values()) == 1, scanned

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
