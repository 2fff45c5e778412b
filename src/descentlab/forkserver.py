"""A joblib sweep's workers, forked from one process that has imported what a job imports.

loky, joblib's default, starts each worker as a fresh Python that imports torch and Lightning
in its first job: 2.1 s of CPU per worker, which two workers on two cores pay side by side, and
a copy of them in each worker's memory. Here the command, once it has checked the settings of
such a sweep, starts Python's fork server, which imports them (`descentlab.preload`) while the
command goes on to check the jobs and launch the sweep; loky then forks each worker from that
server, its imports done and their memory shared until written. The server ends with the
command.

Importing this module stays light (no torch, no joblib).
"""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the server imports this module before it asks for its parent-death signal
    from omegaconf import DictConfig

JOBLIB_LAUNCHERS = (  # descentlab's, and Hydra's that it builds on
    "hydra_plugins.descentlab_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
)
PARENT = "DESCENTLAB_FORKSERVER_PARENT"  # the command's pid, in the server's environment
# what joblib limits in each of its workers to cpu_count() // workers threads (unless already
# set), and the server too: its workers inherit its libraries as it loaded them
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def start(sweep: "DictConfig") -> None:
    """The server for a sweep on joblib, given its config; on Linux only (macOS's
    system libraries are not safe to fork, Windows has no fork). Other launchers start their
    workers as they do, and joblib with one worker runs the jobs in the command itself."""
    launcher = sweep.hydra.launcher
    if launcher._target_ not in JOBLIB_LAUNCHERS or sys.platform != "linux":
        return
    import multiprocessing.forkserver

    from joblib import cpu_count
    from joblib.externals.loky.backend.context import set_start_method

    cores = cpu_count()  # loky's: the cores this process may use, CPU quotas counted
    if workers(launcher.n_jobs, cores) == 1:
        return
    multiprocessing.set_forkserver_preload(["descentlab.preload"])
    with environment({**worker_env(launcher.n_jobs, cores), PARENT: str(os.getpid())}):
        multiprocessing.forkserver.ensure_running()
    set_start_method("forkserver", force=True)  # for the workers of the launcher's loky pool


def workers(n_jobs: int, cores: int) -> int:
    """joblib's number of workers for `n_jobs`: -1 one per core, -2 all but one…"""
    return n_jobs if n_jobs > 0 else max(cores + 1 + n_jobs, 1)


def worker_env(n_jobs: int, cores: int) -> dict[str, str]:
    """The environment joblib gives each of its workers, for the server they are forked from."""
    threads = str(max(cores // workers(n_jobs, cores), 1))
    env = {var: os.environ.get(var, threads) for var in THREAD_VARS}
    if "ENABLE_IPC" not in os.environ:
        env["ENABLE_IPC"] = "1"  # TBB's pools share the cores
    return env


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`os.environ` with `values` set, for a process started inside; as it was after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
