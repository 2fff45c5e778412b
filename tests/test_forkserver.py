"""A joblib sweep's workers forked from one server that imported a job's modules once: that
they are, with joblib's thread limits, that nothing the server imports touches CUDA, and that
only a joblib sweep starts one (once its settings are checked: `descentlab.cli.check_sweep`), which
ends with the command."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import sweep
from descentlab.cli import CONF_DIR
from descentlab.forkserver import worker_env

linux = pytest.mark.skipif(sys.platform != "linux", reason="the fork server runs on Linux only")

# A callback that records the process its job ran in.
PROBE = """
import json, os, sys
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig


class Probe(L.Callback):
    def on_fit_start(self, trainer, pl_module):
        parent = os.getppid()
        record = {
            "preloaded": "descentlab.preload" in sys.modules,
            "parent": parent,
            "parent_cmdline": Path(f"/proc/{parent}/cmdline").read_text().replace("\\0", " "),
            "parent_threads": len(os.listdir(f"/proc/{parent}/task")),
            "threads": torch.get_num_threads(),
        }
        out = Path(HydraConfig.get().runtime.output_dir) / "probe.json"
        out.write_text(json.dumps(record))
"""


@linux
@pytest.mark.slow
def test_joblib_workers_fork_from_a_server_that_imported_the_job(tmp_path: Path):
    from joblib import cpu_count

    (tmp_path / "probe.py").write_text(PROBE)
    out = tmp_path / "sweep"
    overrides = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1,2"]
    overrides += ["trainer.max_steps=10", "+callbacks.probe._target_=probe.Probe"]
    # without a thread limit of its own, as a shell would start it
    proc = sweep(tmp_path, *overrides, f"hydra.sweep.dir={out}", unset=("OMP_NUM_THREADS",))
    assert proc.returncode == 0, proc.stderr
    records = [json.loads((out / job / "probe.json").read_text()) for job in "012"]
    for record in records:
        # loky's own workers are fresh interpreters, children of the command
        assert record["preloaded"], record
        assert "from multiprocessing.forkserver import main" in record["parent_cmdline"]
        assert record["parent_threads"] == 1  # forked from a process with one thread only
        assert record["threads"] == max(cpu_count() // 2, 1)  # as joblib limits its workers
    assert len({r["parent"] for r in records}) == 1  # one server for the sweep


@pytest.mark.parametrize("n_jobs", [1, 2, 3, 64, -1, -2, -64])
@pytest.mark.parametrize("set_by_user", [False, True])
def test_the_workers_environment_is_the_one_joblib_gives_its_own(monkeypatch, n_jobs, set_by_user):
    from joblib import cpu_count
    from joblib._parallel_backends import LokyBackend

    if set_by_user:
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        monkeypatch.setenv("ENABLE_IPC", "0")
    else:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        monkeypatch.delenv("ENABLE_IPC", raising=False)
    backend = LokyBackend()
    expected = backend._prepare_worker_env(backend.effective_n_jobs(n_jobs))
    assert worker_env(n_jobs, cpu_count()) == expected


# Imports what the server imports, with torch.cuda's entry points recording each call.
CUDA_CALLS = """
import json
import torch, torch.cuda

calls = []
for name in ["is_available", "device_count", "init", "_lazy_init", "current_device",
             "get_device_properties", "get_device_name", "set_device", "synchronize"]:
    def record(*args, _name=name, _f=getattr(torch.cuda, name), **kwargs):
        calls.append(_name)
        return _f(*args, **kwargs)
    setattr(torch.cuda, name, record)

import descentlab.preload
print(json.dumps([calls, torch.cuda.is_initialized()]))
"""


def test_nothing_the_server_imports_initializes_cuda():
    proc = subprocess.run([sys.executable, "-c", CUDA_CALLS], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [[], False]


# The fork servers this process has started, waiting up to `wait` s for one; and the command
# lines of all its children.
FIND_SERVERS = """
import json, os, sys, time
import psutil

def servers(wait):
    deadline = time.monotonic() + wait
    while True:  # a process just started may not show its command line yet
        found, seen = [], []
        for p in psutil.Process().children():
            try:
                cmdline = " ".join(p.cmdline())
            except psutil.Error:
                continue
            seen.append(cmdline[:80])
            if "multiprocessing.forkserver import main" in cmdline:
                found.append(p)
        if found or time.monotonic() > deadline:
            return found, seen
        time.sleep(0.05)
"""


def without_thread_limits(script: str, *args: str) -> subprocess.CompletedProcess:
    """`python -c script args` without a thread limit of its own, as a shell would start it."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    command = [sys.executable, "-c", FIND_SERVERS + script, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


# A sweep on the basic launcher and one on joblib, each prechecked in one process: the fork
# servers it has started, and their environment.
SERVERS = """
from descentlab.cli import precheck
from descentlab.forkserver import start

sweep = ["-m", "hydra.sweep.dir=" + sys.argv[1], "seed=0,1"]
precheck(sweep, start)
basic, _ = servers(wait=1)
precheck([*sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=1"], start)
one_worker, _ = servers(wait=1)  # joblib then runs the jobs in this process
precheck([*sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], start)
joblib, seen = servers(wait=30)
assert joblib, seen
server_env = joblib[0].environ()
joblib[0].kill()  # its imports are of no use here
print(json.dumps([[len(basic), len(one_worker), len(joblib)],
                  server_env.get("OMP_NUM_THREADS"), "OMP_NUM_THREADS" in os.environ]))
"""


@linux
def test_only_a_joblib_sweep_starts_a_server_with_joblib_s_thread_limits(tmp_path: Path):
    from joblib import cpu_count

    proc = without_thread_limits(SERVERS, str(tmp_path / "sweep"))
    assert proc.returncode == 0, proc.stderr
    seen, server_threads, left_here = json.loads(proc.stdout)
    assert seen == [0, 0, 1]
    assert server_threads == str(max(cpu_count() // 2, 1))  # two workers: half the cores each
    assert not left_here  # set for the server only


@linux
@pytest.mark.slow
def test_ctrl_c_as_the_server_imports_ends_it_without_a_traceback(tmp_path: Path):
    """Ctrl-C reaches the command's whole process group: the command, still checking the jobs
    (400 of them: seconds), and the server, still importing torch and Lightning, just end."""
    import signal
    import time

    import psutil

    seeds = ",".join(map(str, range(400)))
    command = [
        "-m",
        "explain=0",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"seed={seeds}",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentlab", *command, f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a shell gives a command
    )
    server, deadline = None, time.monotonic() + 60
    while server is None and time.monotonic() < deadline:
        children = psutil.Process(proc.pid).children()
        server = next((p for p in children if "forkserver" in " ".join(p.cmdline())), None)
        time.sleep(0.02)
    assert server is not None, proc.communicate()
    while time.monotonic() < deadline:  # into its imports: torch's library mapped, Lightning next
        if any("libtorch" in m.path for m in server.memory_maps()):
            break
        time.sleep(0.02)
    # the server starts with the command: a second in, the command has composed the config and
    # is checking the jobs (a Ctrl-C inside Hydra's plugin scan may end it otherwise)
    while time.time() - server.create_time() < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server.children()  # no worker forked yet: still importing
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    server.wait(timeout=30)  # ended: psutil.TimeoutExpired otherwise
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert not list(tmp_path.glob("sweep*"))  # stopped as it checked: no job had started


# The command, run by a process that takes in its orphans (Linux's child subreaper): once the
# command has ended, how long after it each process it left behind ended.
REAP_ORPHANS = """
import ctypes, json, os, subprocess, sys, time
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1)
with open(sys.argv[1], "w") as stderr:
    argv = [sys.executable, "-m", "descentlab", *sys.argv[2:]]
    command = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=stderr)
ended, after = time.monotonic(), []
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
    after.append(time.monotonic() - ended)
print(json.dumps([command.returncode, after]))
"""


@linux
@pytest.mark.slow
def test_a_sweep_refused_as_the_server_imports_leaves_no_server(tmp_path: Path):
    """The server starts once a sweep's settings are checked, before its jobs are; a job
    refused then ends the command, and the server, still importing, with it."""
    command = ["-m", "explain=0", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    stderr = tmp_path / "stderr"
    proc = subprocess.run(
        [sys.executable, "-c", REAP_ORPHANS, str(stderr), *command, "optimizer.lr=0.1,-1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    returncode, after = json.loads(proc.stdout)
    assert returncode == 2 and "optimizer.lr=-1" in stderr.read_text(), stderr.read_text()
    # the server (and multiprocessing's resource tracker beside it), started before the
    # refusal, gone with the command, not after the 2 s of imports the server had ahead
    assert after and max(after) < 1, after


# The server started as the command starts, from its command line alone, then checked against
# the config composed: the processes and environments seen at each step.
EARLY = """
from descentlab import forkserver
from descentlab.cli import CONF_DIR, precheck

def running(expected):
    found, _ = servers(wait=30 if expected else 1)
    return [(p.pid, p.environ().get("OMP_NUM_THREADS")) for p in found]

defaults = CONF_DIR / "hydra" / "launcher" / "joblib.yaml"
sweep = ["-m", "hydra.sweep.dir=" + sys.argv[1], "seed=0,1"]
joblib = [*sweep, "hydra/launcher=joblib"]
seen = {}
for name, argv in [("no -m", joblib[1:]), ("basic", sweep), ("--cfg", [*joblib, "--cfg", "job"]),
                   ("one worker", [*joblib, "hydra.launcher.n_jobs=1"])]:
    forkserver.start_early(argv, defaults)
    seen[name] = running(expected=False)
forkserver.start_early(joblib, defaults)
seen["early"] = running(expected=True)
precheck(joblib, forkserver.start)  # the config agrees: the same server
seen["checked"] = running(expected=True)
os.environ["OMP_NUM_THREADS"] = "3"  # the workers' environment is no longer the guessed one
precheck(joblib, forkserver.start)
seen["other environment"] = running(expected=True)
precheck(sweep, forkserver.start)  # the config's launcher is not joblib
seen["other launcher"] = running(expected=False)
print(json.dumps(seen))
"""


@linux
def test_a_server_started_from_the_command_line_is_kept_or_replaced_as_the_config_says(
    tmp_path: Path,
):
    from joblib import cpu_count

    proc = without_thread_limits(EARLY, str(tmp_path / "sweep"))
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    # nothing where the command line does not ask for joblib with more than one worker
    assert seen["no -m"] == seen["basic"] == seen["--cfg"] == seen["one worker"] == []
    # asked for, with the thread limits of the launcher config's n_jobs
    n_jobs = yaml.safe_load((CONF_DIR / "hydra" / "launcher" / "joblib.yaml").read_text())["n_jobs"]
    threads = worker_env(n_jobs, cpu_count())["OMP_NUM_THREADS"]
    [(early, early_threads)] = seen["early"]
    assert early_threads == threads
    assert seen["checked"] == [[early, threads]]  # kept
    [(other, other_threads)] = seen["other environment"]
    assert other != early and other_threads == "3"  # replaced, not added to
    assert seen["other launcher"] == []  # stopped


def test_a_ctrl_c_that_the_check_turns_into_another_error_ends_the_command_as_ctrl_c(
    monkeypatch,
):
    """Hydra's plugin scan, interrupted, raises a RuntimeError (Python's error calling a
    dataclass field's __set_name__) in place of the KeyboardInterrupt."""
    from descentlab import cli, ctrl_c

    def interrupted(argv, start_workers):
        monkeypatch.setattr(ctrl_c, "pressed", True)  # as the handler `ctrl_c.remember` sets
        raise RuntimeError("Error calling __set_name__ on 'Field' instance")

    monkeypatch.setattr(ctrl_c, "remember", lambda: None)  # pytest's own SIGINT handling stays
    monkeypatch.setattr(cli, "precheck", interrupted)
    monkeypatch.setattr(sys, "argv", ["descentlab", "-m", "seed=0,1"])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    assert stop.value.code == 130
