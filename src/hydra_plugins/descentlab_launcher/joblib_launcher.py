"""Hydra's joblib launcher, whose workers unpickle the sweep and scan Hydra's plugins once, not
before every batch.

Hydra's launcher pickles the sweep's context, config and singletons into each batch of jobs
(250 kB, about 11 ms to pickle in the command and 8 ms to unpickle in the worker), and the
worker rebuilds the singletons' plugins by scanning what is installed (`Singleton.set_state`):
that executes every module under `hydra_plugins` afresh, about 18 ms a batch. Here the command
pickles the four once a launch and sends the same bytes with every batch; a worker unpickles
them once, and keeps them and the plugins it scanned first for its later batches
(`descentlab.joblib_job`; a plugin installed while a sweep runs reaches only the workers that
start after it). All else is Hydra's (`hydra_joblib_launcher._core`): the same jobs, configs,
log lines and results. joblib itself is imported on first use, as in Hydra's:
Hydra imports this module in every command, as it looks for plugins; without Hydra's joblib
launcher (the joblib extra) it defines no launcher, and a sweep that asks for one is refused
(`descentlab.validate.check_plugins`).
"""

import uuid
from collections.abc import Sequence
from pathlib import Path

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals

from descentlab.joblib_job import execute_job

try:
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import (
        JoblibLauncher as HydraJoblibLauncher,
    )
except ImportError:  # not installed: a warning in every command, were it raised
    HydraJoblibLauncher = None

if HydraJoblibLauncher is not None:

    class JoblibLauncher(HydraJoblibLauncher):
        def launch(
            self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
        ) -> Sequence[JobReturn]:
            """Hydra's `_core.launch`, whose workers run `descentlab.joblib_job.execute_job`."""
            from hydra_plugins.hydra_joblib_launcher._core import log, process_joblib_cfg
            from joblib import Parallel, delayed

            # pickled as loky pickles what it sends: with the cloudpickle that joblib brings
            # (its own copy before 1.6, the cloudpickle package since), or LOKY_PICKLER's
            from joblib.externals.loky.backend.reduction import dumps

            assert self.config is not None
            assert self.task_function is not None
            assert self.hydra_context is not None
            setup_globals()
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            self.joblib["backend"] = "loky"  # as Hydra's: its jobs cannot run in threads
            process_joblib_cfg(self.joblib)
            settings = ",".join(f"{key}={value}" for key, value in self.joblib.items())
            log.info(f"Joblib.Parallel({settings}) is launching {len(job_overrides)} jobs")
            log.info(f"Launching jobs, sweep output dir : {sweep_dir}")
            for idx, overrides in enumerate(job_overrides):
                log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            sweep = (self.hydra_context, self.config, self.task_function, Singleton.get_state())
            # pickled once; the key tells it from an earlier launch's, which a worker may hold
            pickled = (uuid.uuid4().hex, bytes(dumps(sweep)))
            runs = Parallel(**self.joblib)(
                delayed(execute_job)(initial_job_idx + idx, overrides, pickled)
                for idx, overrides in enumerate(job_overrides)
            )
            assert all(isinstance(run, JobReturn) for run in runs)
            return runs
