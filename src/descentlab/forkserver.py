"""A joblib sweep's workers, forked from one process that has imported what a job imports.

loky, joblib's default, starts each worker as a fresh Python that imports torch and Lightning
in its first job: 2.1 s of CPU per worker, which two workers on two cores pay side by side, and
a copy of them in each worker's memory. Here the command starts Python's fork server, which
imports them (`descentlab.preload`) while the command composes the config, checks the jobs and
launches the sweep; loky then forks each worker from that server, its imports done and their
memory shared until written. The server starts as the command starts where the command line
asks for joblib (`start_early`), else once the sweep's settings are checked (`start`), which
also stops a server started on a wrong guess. It ends with the command.

Importing this module stays light (no torch, no joblib).
"""

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the server imports this module before it asks for its parent-death signal
    from omegaconf import DictConfig

JOBLIB_LAUNCHERS = (  # descentlab's, and Hydra's that it builds on
    "hydra_plugins.descentlab_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
)
JOBLIB = "hydra/launcher=joblib"  # the override that picks joblib, as `start_early` looks for it
# Hydra's flags with which the command prints rather than runs, or runs a config of the user's
NOT_GUESSED = {"--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i", "--shell-completion"}
NOT_GUESSED |= {"-sc", "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd"}
NOT_GUESSED |= {"--experimental-rerun"}
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
started: dict[str, str] | None = None  # the environment of the server `run` started


def start(sweep: "DictConfig") -> None:
    """The server for a sweep on joblib, given its config; on Linux only (macOS's
    system libraries are not safe to fork, Windows has no fork). Other launchers start their
    workers as they do, and joblib with one worker runs the jobs in the command itself. A server
    `start_early` guessed wrong (another launcher, or other thread limits) is stopped first."""
    launcher = sweep.hydra.launcher
    joblib = launcher._target_ in JOBLIB_LAUNCHERS and sys.platform == "linux"
    wanted = server_env(launcher.n_jobs) if joblib else None
    if started is not None and started != wanted:
        stop()
    if wanted is None:
        return
    from joblib.externals.loky.backend.context import set_start_method

    run(wanted)
    set_start_method("forkserver", force=True)  # for the workers of the launcher's loky pool


def start_early(argv: list[str], defaults: Path) -> None:
    """The server of a joblib sweep, started before its config is composed (its imports then
    done sooner: the first job of a 64-job sweep on 2 cores, 0.3 s) where the command line asks
    for one: `-m` with `hydra/launcher=joblib`, and the workers' count from
    `hydra.launcher.n_jobs=` or the launcher's config (`defaults`). A guess: `start` checks it
    against the config composed, and a sweep refused before it starts ends the server with the
    command."""
    if sys.platform != "linux" or not {"-m", "--multirun"} & set(argv) or JOBLIB not in argv:
        return
    if any(arg.split("=", 1)[0] in NOT_GUESSED for arg in argv):
        return
    import multiprocessing.forkserver

    if not hasattr(multiprocessing.forkserver._forkserver, "_stop"):
        return  # a Python whose server `stop` could not end: the server starts once checked
    import yaml

    given = [arg.split("=", 1)[1] for arg in argv if arg.startswith("hydra.launcher.n_jobs=")]
    try:
        n_jobs = int(given[-1] if given else yaml.safe_load(defaults.read_text())["n_jobs"])
    except (ValueError, TypeError, KeyError, OSError, yaml.YAMLError):
        return  # the checks name what is wrong
    env = server_env(n_jobs)
    if env is not None:
        run(env)


def server_env(n_jobs: int) -> dict[str, str] | None:
    """The environment of the server that `n_jobs` workers fork from; None where joblib runs
    the jobs in the command itself (one worker)."""
    from joblib import cpu_count

    cores = cpu_count()  # loky's: the cores this process may use, CPU quotas counted
    return worker_env(n_jobs, cores) if workers(n_jobs, cores) > 1 else None


def run(env: dict[str, str]) -> None:
    """Python's fork server for this process, importing `descentlab.preload`, with `env` set
    for it (and so for the workers forked from it); where it runs already, nothing."""
    global started
    import multiprocessing.forkserver

    if started is not None:
        return
    multiprocessing.set_forkserver_preload(["descentlab.preload"])
    with environment({**env, PARENT: str(os.getpid())}):
        multiprocessing.forkserver.ensure_running()
    started = env


def stop() -> None:
    """End the server `run` started, mid-import or not: Python's own stop waits for it to read
    its pipe, which it does once its imports are done."""
    global started
    import multiprocessing.forkserver

    server = multiprocessing.forkserver._forkserver
    if server._forkserver_pid is not None:
        os.kill(server._forkserver_pid, signal.SIGKILL)
        server._stop()  # closes its pipe, reaps it, forgets its address
    started = None


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
