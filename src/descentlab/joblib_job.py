"""What a worker of descentlab's joblib launcher runs for each job
(`hydra_plugins.descentlab_launcher.joblib_launcher`).

Hydra's runs each job with the sweep's context, config and singletons unpickled from its batch,
and with plugins it scans anew. Here the sweep comes pickled once a launch, and a worker unpickles
it in its first job and keeps it, with the plugins it scanned, for its later jobs, as the jobs of
one batch already share one copy. This lives apart from the launcher: Hydra's scan executes every
module under `hydra_plugins` afresh, which would forget what a module there keeps.
"""

import pickle
from collections.abc import Sequence
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

# what every job of a launch gets: its context, the sweep's config, the task, the singletons
Sweep = tuple[HydraContext, DictConfig, TaskFunction, dict[str, Any]]
unpickled: tuple[str, Sweep] | None = None  # the last launch's, by its key


def execute_job(idx: int, overrides: Sequence[str], pickled: tuple[str, bytes]) -> JobReturn:
    """Hydra's `execute_job`, with the sweep this worker has unpickled and the plugins it has
    scanned in an earlier job: Hydra unpickles and scans nothing."""
    from hydra_plugins.hydra_joblib_launcher._core import execute_job as hydras

    global unpickled
    key, sweep = pickled
    if unpickled is None or unpickled[0] != key:  # this launch's first job in this worker
        unpickled = key, pickle.loads(sweep)
    hydra_context, config, task_function, singleton_state = unpickled[1]
    scanned = Singleton._instances.get(Plugins)
    if scanned is not None:
        singleton_state["instances"].setdefault(Plugins, scanned)
    return hydras(idx, overrides, hydra_context, config, task_function, singleton_state)
