"""Hydra's joblib launcher, whose workers scan Hydra's plugins once, not before every batch.

Hydra's launcher sends each batch of jobs the sweep's singletons less its plugins, and the
worker rebuilds them by scanning what is installed (`Singleton.set_state`): that executes every
module under `hydra_plugins` afresh, about 18 ms a batch. Here a worker keeps the plugins it
scanned first for every later batch (a plugin installed while a sweep runs reaches only the
workers that start after it). All else is Hydra's (`hydra_joblib_launcher._core`): the same
jobs, configs, log lines and results. joblib itself is imported on first use, as in Hydra's:
Hydra imports this module in every command, as it looks for plugins; without Hydra's joblib
launcher (the joblib extra) it defines no launcher, and a sweep that asks for one is refused
(`descentlab.validate.check_plugins`).
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

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
            """Hydra's `_core.launch`, whose workers run `execute_job` below."""
            from hydra_plugins.hydra_joblib_launcher._core import log, process_joblib_cfg
            from joblib import Parallel, delayed

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
            state = Singleton.get_state()
            runs = Parallel(**self.joblib)(
                delayed(execute_job)(
                    initial_job_idx + idx,
                    overrides,
                    self.hydra_context,
                    self.config,
                    self.task_function,
                    state,
                )
                for idx, overrides in enumerate(job_overrides)
            )
            assert all(isinstance(run, JobReturn) for run in runs)
            return runs


def execute_job(
    idx: int,
    overrides: Sequence[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[str, Any],
) -> JobReturn:
    """Hydra's, in a worker: with the plugins this worker has scanned, Hydra scans none."""
    from hydra_plugins.hydra_joblib_launcher._core import execute_job as hydras

    scanned = Singleton._instances.get(Plugins)  # in a batch before this one
    if scanned is not None:
        singleton_state["instances"].setdefault(Plugins, scanned)
    return hydras(idx, overrides, hydra_context, config, task_function, singleton_state)
