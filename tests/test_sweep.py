"""Sweeps end to end: every launcher that runs here, the summary's numbers against the theory,
failures, and sweep dirs that never collide."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

from conftest import ROOT, hparams_plugin, scalars, sweep

pytestmark = pytest.mark.slow


def rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def seed_theory() -> tuple[float, float]:
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    x, y = d.x_train.double(), d.y_train.double()
    return float(2 * (x * x).mean()), float((x * y).mean() / (x * x).mean())  # h, w*


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory):
    """lr ∈ {0.1, 1.5} × w0 ∈ {0, 5}, 30 steps at a constant lr, with the basic launcher."""
    tmp = tmp_path_factory.mktemp("basic")
    out = tmp / "sweep"
    proc = sweep(
        tmp,
        "optimizer.lr=0.1,1.5",
        "init.value=0,5",
        "scheduler=none",
        "trainer.max_steps=30",
        f"hydra.sweep.dir={out}",
    )
    return proc, out


def test_basic_sweep_over_lr_and_init_matches_the_closed_form(basic_sweep):
    proc, out = basic_sweep
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir() if p.name.isdigit()) == ["0", "1", "2", "3"]
    h, w_star = seed_theory()
    table = rows(out)
    assert len(table) == 4
    for row in table:
        lr, w0 = float(row["optimizer.lr"]), float(row["init.value"])
        if lr < 2 / h:
            assert row["status"] == "ok"
            # e[k] = (1 − lr·h)^k · e[0], e = w − w*
            expected = w_star + (1 - lr * h) ** 30 * (w0 - w_star)
            assert float(row["final_w"]) == pytest.approx(expected, abs=1e-4)
            assert int(row["steps"]) == 30
        else:
            assert row["status"] == "diverged"
            assert int(row["steps"]) < 30
    assert (out / "summary.md").read_text().count("| diverged |") == 2
    assert (out / "sweep.png").stat().st_size > 10_000
    summary = scalars(out / "summary")  # the summary run holds no scalars, only the figure
    assert summary == {}
    for job in range(4):
        assert (out / str(job) / "results.json").is_file()
        assert "train/loss" in scalars(out / str(job))
    assert "see it: tensorboard --logdir sweep\n" in proc.stdout  # as typed in its cwd, tmp_path


def test_joblib_sweep_records_a_failing_job_and_fails_at_the_end(tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        # freezing w, the only parameter, leaves nothing to train: a check of the built model,
        # which joblib's main process leaves to the job
        "freeze=[],[w],[]",
        "trainer.max_steps=30",
        f"hydra.sweep.dir={out}",
    )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("descentlab: 1 of 3 jobs failed: job 1 (")
    assert "freeze=['w']" in last and "nothing would train" in last
    table = {row["job"]: row for row in rows(out)}
    assert table["1"]["status"] == "failed" and "nothing would train" in table["1"]["error"]
    assert table["0"]["status"] == table["2"]["status"] == "ok"  # the others finished
    assert float(table["2"]["final_loss"]) < 0.02
    # the HParams table lists it too: its settings, status failed, a session ended in failure
    sessions = {}
    for job in "012":
        plugin = hparams_plugin(out / job)
        start = plugin_data_pb2.HParamsPluginData.FromString(
            plugin["_hparams_/session_start_info"]
        ).session_start_info.hparams
        end = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/session_end_info"])
        cells = {name: getattr(value, value.WhichOneof("kind")) for name, value in start.items()}
        sessions[job] = cells, end.session_end_info.status
    (failed, failed_end), (ok, ok_end) = sessions["1"], sessions["0"]
    assert failed["status"] == "failed" and failed["freeze"] == "['w']"
    assert (failed_end, ok_end) == (api_pb2.STATUS_FAILURE, api_pb2.STATUS_SUCCESS)
    assert failed.keys() == ok.keys() and failed["optimizer.lr"] == ok["optimizer.lr"]
    assert json.loads((out / "1" / "results.json").read_text())["hparams"]["status"] == "failed"


# `python -m descentlab` as a shell starts it: SIGINT neither blocked nor ignored, whatever the
# test process (a pytest-xdist worker) hands down.
CTRL_C_AS_FROM_A_SHELL = """
import runpy, signal, sys
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.argv = ["descentlab", *sys.argv[1:]]
runpy.run_module("descentlab", run_name="__main__")
"""


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_sweep_stopped_with_ctrl_c_summarizes_the_jobs_that_finished(tmp_path, launcher):
    """Ctrl-C during a job (Lightning then exits) or between jobs: the finished jobs' summary,
    one line saying so, no traceback. With joblib, Ctrl-C reaches the workers too, as a
    terminal sends it to the command's process group."""
    import signal
    import time

    out = tmp_path / "sweep"
    lrs = ",".join(str(0.1 * k) for k in range(1, 9))
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    args = ["-m", "explain=0", f"hydra/launcher={launcher}", f"optimizer.lr={lrs}"]
    args += ["trainer.max_steps=3000"] + (
        ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_AS_FROM_A_SHELL, *args, f"hydra.sweep.dir={out}"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a shell gives a command
    )
    deadline = time.monotonic() + 300
    while not list(out.glob("*/results.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = Path(f"/proc/{proc.pid}/status")
    signals = [line for line in status.read_text().splitlines() if line.startswith("Sig")]
    if launcher == "joblib":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    finished = sorted(p.parent.name for p in out.rglob("results.json"))
    why = f"{signals} as it was sent; {len(finished)} jobs finished\n{stdout[-2000:]}\n{stderr}"
    assert proc.returncode in (1, 130) and "Traceback" not in stderr, why
    assert 1 <= len(finished) < 8, why  # stopped before its end
    # a worker's bar, stopped mid-line, may precede it on the same line
    assert stdout.rstrip().endswith(
        f"sweep: stopped after {len(finished)} job{'s' * (len(finished) > 1)}, "
        "summary in sweep/summary.md"
    ), why
    assert [row["job"] for row in rows(out)] == finished


# A callback that gets a real Ctrl-C in the job with lr 0.2, inside code whose cleanup then
# fails on what the interrupt left half done, as OmegaConf's did when a Ctrl-C came as a job
# built its trainer (an AttributeError raised as the KeyboardInterrupt went through).
INTERRUPTED_CLEANUP = """
import signal
from lightning.pytorch.callbacks import Callback

class CtrlC(Callback):
    def on_train_start(self, trainer, pl_module):
        if trainer.optimizers[0].param_groups[0]["lr"] == 0.2:
            half_built = None
            try:
                signal.raise_signal(signal.SIGINT)
            finally:
                half_built.flags  # AttributeError, in place of the KeyboardInterrupt
"""


# A callback that gets a real Ctrl-C in the job with lr 0.2, inside a finalizer as the job
# ends: Python drops the KeyboardInterrupt there ("Exception ignored in …").
DROPPED = """
import signal
from lightning.pytorch.callbacks import Callback

class Finalized:
    def __del__(self):
        signal.raise_signal(signal.SIGINT)

class CtrlC(Callback):
    def on_train_end(self, trainer, pl_module):
        if trainer.optimizers[0].param_groups[0]["lr"] == 0.2:
            Finalized()  # collected at once
"""


@pytest.mark.parametrize(
    "callback, said, finished",
    [
        (INTERRUPTED_CLEANUP, "job 1: stopped by Ctrl-C", ["0.1"]),  # stops as it is
        (DROPPED, "Exception ignored", ["0.1", "0.2"]),  # stops as the next job starts
    ],
    ids=["turned-into-another-error", "dropped-in-a-finalizer"],
)
def test_a_ctrl_c_that_does_not_get_through_still_stops_the_sweep(
    tmp_path, callback, said, finished
):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "interrupting.py").write_text(callback)
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path,
        "optimizer.lr=0.1,0.2,0.3",
        "trainer.max_steps=20",
        "+callbacks.ctrl_c._target_=interrupting.CtrlC",
        f"hydra.sweep.dir={out}",
        env={"PYTHONPATH": str(tmp_path / "pkg")},
    )
    assert said in proc.stdout + proc.stderr
    assert proc.returncode == 130, proc.stdout + proc.stderr
    n = len(finished)
    assert proc.stdout.rstrip().endswith(
        f"sweep: stopped after {n} job{'s' * (n > 1)}, summary in sweep/summary.md"
    )
    assert [row["optimizer.lr"] for row in rows(out)] == finished  # the last job never ran


def test_joblib_sends_jobs_in_batches_each_with_its_own_config(tmp_path):
    """16 jobs on 2 workers: joblib sends the first four two at a time, then jobs 4–11 four at
    a time (hydra.launcher.batch_size: 4), each batch run by one worker from one pickled copy of
    the sweep's config and Hydra's state, and the last four one at a time: each job still runs
    its own values."""
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "optimizer.lr=0.1,0.5",
        "init.value=-2,0,1,2,4,5,6,8",
        "scheduler=none",
        "trainer.max_steps=20",
        f"hydra.sweep.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr
    h, w_star = seed_theory()
    table = rows(out)
    inits = (-2, 0, 1, 2, 4, 5, 6, 8)
    pairs = {(float(r["optimizer.lr"]), float(r["init.value"])) for r in table}
    assert pairs == {(lr, w0) for lr in (0.1, 0.5) for w0 in inits}
    for row in table:
        lr, w0 = float(row["optimizer.lr"]), float(row["init.value"])
        expected = w_star + (1 - lr * h) ** 20 * (w0 - w_star)  # e[k] = (1 − lr·h)^k · e[0]
        assert float(row["final_w"]) == pytest.approx(expected, abs=1e-4), row
        job_overrides = (out / row["job"] / ".hydra" / "overrides.yaml").read_text()
        assert f"optimizer.lr={row['optimizer.lr']}" in job_overrides
        assert f"init.value={row['init.value']}" in job_overrides
    # TensorBoard names an event file after the process that wrote it: …tfevents.T.host.PID.N
    pid = {
        int(row["job"]): next((out / row["job"]).glob("events.out.tfevents.*")).name.split(".")[-2]
        for row in table
    }
    assert pid[4] == pid[5] == pid[6] == pid[7] and pid[8] == pid[9] == pid[10] == pid[11]


def test_jobs_that_submitit_runs_side_by_side_take_one_thread_each(monkeypatch):
    import torch

    from descentlab.job import share_cores

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.delenv("SUBMITIT_LOCAL_JOB_ID", raising=False)
        share_cores()  # a run of its own: torch's threads as they are
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("SUBMITIT_LOCAL_JOB_ID", "7")  # what submitit_local sets in a job
        share_cores()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_submitit_local_sweep(tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path,
        "hydra/launcher=submitit_local",
        "optimizer.lr=0.1,1",
        "trainer.max_steps=20",
        f"hydra.sweep.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr
    assert [row["status"] for row in rows(out)] == ["ok", "ok"]
    assert (out / ".submitit").is_dir()


def test_jobs_write_their_hparams_row_and_the_summary_the_columns(basic_sweep):
    """TensorBoard takes the HParams table's columns from the one experiment record in the
    sweep dir, the summary's; each job writes its row (settings, then status and metrics)."""
    _, out = basic_sweep
    for num in "0123":
        plugin = hparams_plugin(out / num)
        assert "_hparams_/experiment" not in plugin
        start = plugin_data_pb2.HParamsPluginData.FromString(
            plugin["_hparams_/session_start_info"]
        ).session_start_info
        result = json.loads((out / num / "results.json").read_text())
        assert start.hparams["optimizer.lr"].number_value == result["params"]["optimizer.lr"]
        assert start.hparams["status"].string_value == result["status"]
        assert "final/train_loss" in result["metrics"] and "final/w" in result["metrics"]
    record = plugin_data_pb2.HParamsPluginData.FromString(
        hparams_plugin(out / "summary")["_hparams_/experiment"]
    ).experiment
    assert {"optimizer.lr", "init.value", "status", "model"} <= {
        i.name for i in record.hparam_infos
    }
    assert {"final/train_loss", "final/val_loss", "final/w"} <= {
        i.name.tag for i in record.metric_infos
    }


def test_a_sweep_of_fast_dev_runs_writes_no_table_and_fails_no_job(tmp_path):
    """trainer.fast_dev_run swaps the logger for a stand-in that writes nothing: its jobs have
    no HParams row to write, and end ok."""
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path, "optimizer.lr=0.1,0.2", "+trainer.fast_dev_run=true", f"hydra.sweep.dir={out}"
    )
    assert proc.returncode == 0, proc.stderr
    assert [row["status"] for row in rows(out)] == ["ok", "ok"]


def test_a_list_or_mapping_among_the_tables_params_is_a_cell_of_text(tmp_path):
    """callbacks.hparams.params may hold any value: a list is written as text, a mapping's keys
    as columns of their own (nested.a), in each job's row and results.json."""
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path, "optimizer.lr=0.1,0.2", "trainer.max_steps=20",
        "+callbacks.hparams.params.w=[1,2]", "+callbacks.hparams.params.nested={a: 1, b: null}",
        f"hydra.sweep.dir={out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [row["status"] for row in rows(out)] == ["ok", "ok"]
    for num in "01":
        row = json.loads((out / num / "results.json").read_text())["hparams"]
        assert (row["w"], row["nested.a"], row["nested.b"]) == ("[1, 2]", 1, "null")
        start = plugin_data_pb2.HParamsPluginData.FromString(
            hparams_plugin(out / num)["_hparams_/session_start_info"]
        ).session_start_info
        assert start.hparams["w"].string_value == "[1, 2]"


def test_a_swept_boolean_reads_as_typed_in_the_table_and_the_summary(tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path, "model.bias=false,true", "trainer.max_steps=20", f"hydra.sweep.dir={out}"
    )
    assert proc.returncode == 0, proc.stderr
    assert [row["model.bias"] for row in rows(out)] == ["false", "true"]  # not False, True
    for num, typed in (("0", "false"), ("1", "true")):
        start = plugin_data_pb2.HParamsPluginData.FromString(
            hparams_plugin(out / num)["_hparams_/session_start_info"]
        ).session_start_info
        assert start.hparams["model.bias"].string_value == typed  # not the number 0 or 1


def test_the_summary_script_rebuilds_the_summary_from_the_jobs(basic_sweep, tmp_path):
    _, original = basic_sweep
    out = tmp_path / "copy"
    shutil.copytree(original, out)
    before = (out / "summary.csv").read_text()
    for name in ("summary.csv", "summary.md", "sweep.png"):
        (out / name).unlink()
    script = ROOT / "scripts" / "summarize.py"
    subprocess.run([sys.executable, script, out], check=True, capture_output=True)
    assert (out / "summary.csv").read_text() == before
    assert (out / "sweep.png").is_file()


def test_the_summary_script_refuses_a_runs_dir_and_writes_nothing_there(basic_sweep, tmp_path):
    _, original = basic_sweep
    run = tmp_path / "run"
    shutil.copytree(original / "0", run)  # a job's dir: one run's, with its results.json
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    script = ROOT / "scripts" / "summarize.py"
    done = subprocess.run([sys.executable, script, run], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"summarize: {run}: a run's dir (its results.json is at the top), not a sweep's; "
        "give the dir that holds the jobs' dirs"
    )
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


@pytest.mark.parametrize("script", ["summarize", "scalars"])
def test_the_scripts_name_a_dir_that_is_not_there(tmp_path, script):
    missing = tmp_path / "nosuch"
    done = subprocess.run(
        [sys.executable, ROOT / "scripts" / f"{script}.py", missing], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith(f"{script}: {missing}: no such dir; give a ")
    assert not missing.exists()


def test_two_sweeps_started_together_get_two_dirs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    command = [sys.executable, "-m", "descentlab", "-m", "explain=0", "trainer.max_steps=10"]
    first = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    second = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0
    dirs = [p for day in (tmp_path / "multirun").iterdir() for p in day.iterdir()]
    assert len(dirs) == 2
    assert all((d / "0" / "results.json").is_file() for d in dirs)


def closed_form_w(lr: float, steps: int, w0: float = 1.0) -> float:
    h, w_star = seed_theory()
    return w_star + (1 - lr * h) ** steps * (w0 - w_star)  # e[k] = (1 − lr·h)^k · e[0]


def test_ddp_in_one_run_with_two_cpu_processes(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "descentlab",
            "trainer=ddp",
            "trainer.accelerator=cpu",
            "scheduler=none",
            "trainer.max_steps=30",
            "explain=0",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr  # Lightning's lines come through Hydra's console handler
    assert "strategy=ddp" in out or "distributed_backend=gloo" in out
    result = json.loads((run_dir / "results.json").read_text())
    # every rank sees the full batch, so the averaged gradient is the single-process one
    assert result["final_w"] == pytest.approx(closed_form_w(0.1, 30), abs=1e-5)
    assert result["steps"] == 30


def test_ddp_spawn_inside_a_sweep_makes_exactly_its_jobs(tmp_path):
    """…and reports a job that diverged in its worker processes as diverged."""
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path,
        "optimizer.lr=0.1,0.5,5",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.strategy=ddp_spawn",
        "scheduler=none",
        "trainer.max_steps=20",
        "explain=10",  # as a run's default: the table is left out of sweeps
        f"hydra.sweep.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "0",
        "1",
        "2",
        "multirun.yaml",
        "summary",
        "summary.csv",
        "summary.md",
        "sweep.png",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["sweep"]  # nothing stray in the cwd
    converging, diverging = rows(out)[:2], rows(out)[2]
    for row in converging:
        assert row["status"] == "ok"
        assert int(row["steps"]) == 20
        assert float(row["final_w"]) == pytest.approx(
            closed_form_w(float(row["optimizer.lr"]), 20), abs=1e-5
        )
    assert diverging["status"] == "diverged"  # lr 5 > 2/h ≈ 1.23
    assert int(diverging["steps"]) < 20
    assert "diverged at step" in proc.stdout and "> critical lr 1.23" in proc.stdout
    # the worker processes, which have no Hydra config, know they run a sweep's job: no
    # first-steps table; nor do Lightning's messages that the command leaves out show there
    output = proc.stdout + proc.stderr
    assert "the first steps" not in output
    for left_out in ("LeafSpec", "logging interval", "`Trainer.fit` stopped"):
        assert left_out not in output
    # the HParams table, written in the worker processes, has every key set on the command line
    for job in ("0", "1", "2"):
        start = hparams_plugin(out / job)["_hparams_/session_start_info"]
        params = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
        assert params["trainer.strategy"].string_value == "ddp_spawn"
        assert params["trainer.max_steps"].number_value == 20


def test_optuna_search_finds_the_best_of_its_trials(tmp_path):
    import yaml

    out = tmp_path / "sweep"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "descentlab",
            "experiment=search",
            "hydra.sweeper.n_trials=4",
            "trainer.max_steps=20",
            f"hydra.sweep.dir={out}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    table = rows(out)
    assert len(table) == 4
    lrs = [float(row["optimizer.lr"]) for row in table]
    assert all(0.001 <= lr <= 2.0 for lr in lrs) and len(set(lrs)) == 4
    best = yaml.safe_load((out / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(min(float(row["final_val_loss"]) for row in table))


def test_ray_local_sweep(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason='needs pip install -e ".[ray]"')
    out = tmp_path / "sweep"
    proc = sweep(
        tmp_path,
        "hydra/launcher=ray",
        "optimizer.lr=0.1,0.5",
        "scheduler=none",
        "trainer.max_steps=20",
        f"hydra.sweep.dir={out}",
    )
    assert proc.returncode == 0, proc.stderr
    table = rows(out)
    assert [row["status"] for row in table] == ["ok", "ok"]
    for row in table:
        assert float(row["final_w"]) == pytest.approx(
            closed_form_w(float(row["optimizer.lr"]), 20), abs=1e-5
        )
    assert [p.name for p in tmp_path.iterdir()] == ["sweep"]


# A fresh interpreter, as a sweep's process or worker starts: counts the full garbage
# collections while `job()` imports torch and Lightning, then runs it twice more.
IMPORT_JOB = """
import gc, json
full = []
gc.callbacks.append(lambda phase, info: phase == "start" and full.append(info["generation"] == 2))
from descentlab.cli import job
before = gc.get_threshold()
run = job()
during = sum(full)
frozen = gc.get_freeze_count()
again = job() is run and job() is run and gc.get_freeze_count() == frozen
print(json.dumps([during, frozen, before == gc.get_threshold(), again, run.__module__]))
"""


def test_importing_a_job_runs_no_full_collection_and_freezes_what_it_imported_once():
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_JOB], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    during, frozen, thresholds_restored, once, module = json.loads(proc.stdout)
    assert during == 0  # without the pause: several, each walking ever more objects
    assert frozen > 100_000  # torch and Lightning, out of every later collection
    assert thresholds_restored and once
    assert module == "descentlab.job"


# A fresh interpreter, as `descentlab` starts: counts the full garbage collections while the
# command's check of a run or a sweep imports the classes its config names (torch, Lightning).
PRECHECK = """
import gc, json, sys
from descentlab.cli import precheck
gc.collect()  # counts from zero: only what precheck itself allocates could start a full one
full = []  # the function running as each full collection starts

def started(phase, info):
    if phase == "start" and info["generation"] == 2:
        full.append(sys._getframe(1).f_code.co_name)

gc.callbacks.append(started)
precheck(sys.argv[1:])
# import_lasting's own gc.collect() before a later import walks only what is not frozen yet
walked = [name for name in full if name != "import_lasting"]
print(json.dumps([len(walked), "torch" in sys.modules, gc.get_freeze_count()]))
"""


@pytest.mark.parametrize("sweep", [False, True])
def test_checking_a_run_imports_torch_with_no_full_collection(tmp_path, sweep):
    out = tmp_path / "out"
    args = (
        ["-m", "optimizer.lr=0.1,0.2", f"hydra.sweep.dir={out}"]
        if sweep
        else [f"hydra.run.dir={out}"]
    )
    proc = subprocess.run(
        [sys.executable, "-c", PRECHECK, *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    during, imported_torch, frozen = json.loads(proc.stdout)
    assert imported_torch  # validate imports the data's and the model's classes
    assert during == 0  # without the pause: six or seven, 0.7 s of a run's start
    assert frozen > 100_000


# A sweep run in this interpreter by `descentlab`'s entry point, then what the interpreter's
# exit would walk in its full collections: the objects they still track.
SWEEP_THEN_EXIT = """
import gc, sys
from descentlab.cli import main
sys.argv = ["descentlab", "-m", "explain=0", "optimizer.lr=0.1,0.2", "trainer.max_steps=10",
            f"hydra.sweep.dir={sys.argv[1]}"]
main()
print(len(gc.get_objects()))
"""


def test_what_a_sweep_leaves_is_frozen_out_of_the_exits_collections(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SWEEP_THEN_EXIT, str(tmp_path / "sweep")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sweep" / "summary.csv").is_file()
    # without the freeze: 20 000 objects here, over 100 000 where joblib's workers ran the jobs
    assert int(proc.stdout.split()[-1]) < 1_000
