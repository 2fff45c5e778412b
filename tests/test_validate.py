"""Bad input is refused before anything is built, with the key and what it allows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from descentlab.cli import one_line, precheck


@pytest.fixture
def check(tmp_path: Path):
    def run(*overrides: str) -> None:
        precheck([f"hydra.run.dir={tmp_path / 'run'}", *overrides])

    return run


def error_of(check, *overrides: str) -> str:
    with pytest.raises(Exception) as caught:
        check(*overrides)
    return one_line(caught.value)


def test_the_defaults_pass(check):
    check()
    check(
        "optimizer=adam", "init=normal", "scheduler=none", "model.bias=true", "data.batch_size=32"
    )


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optimizer.lr=0", "optimizer.lr=0: must be a number > 0"),
        ("optimizer.lr=-0.1", "optimizer.lr=-0.1: must be a number > 0"),
        ("optimizer.lr=fast", "optimizer.lr=fast: must be a number > 0"),
        ("data.n=0", "data.n=0: must be an integer ≥ 2"),
        ("data.n=12.5", "data.n=12.5: must be an integer"),
        ("data.noise=-1", "data.noise=-1: must be a number ≥ 0"),
        ("data.x_dist=cauchy", "data.x_dist=cauchy: must be one of normal, uniform"),
        ("trainer.max_steps=-2", "trainer.max_steps=-2: must be an integer ≥ -1"),
        ("trainer.max_steps=5", "trainer.val_check_interval=10: must be ≤ trainer.max_steps=5"),
        ("seed=-3", "seed=-3: must be an integer in [0, 2**32)"),
        ("scheduler.factor=2", "scheduler.factor=2: must be a number in (0, 1)"),
        ("scheduler.monitor=val/los", "scheduler.monitor=val/los: must be one of val/loss"),
        ("init=uniform init.a=1 init.b=0", "init.a=1, init.b=0: must satisfy init.a < init.b"),
        ("optimizer=sgd_fast", "optimizer=sgd_fast: no such option; choose one of adam, sgd"),
        (
            "init=he",
            "init=he: no such option; choose one of constant, kaiming_normal, none, normal",
        ),
        ("scheduler=cosine", "scheduler=cosine: no such option; choose one of none, plateau"),
        ("model=mlp9", "model=mlp9: no such option; choose one of cnn, linear, mlp"),
        ("data.nn=3", "data.nn: no such key; data has w_true, b_true, n, noise"),
        ("+trainer.max_step=3", "trainer.max_step: not an argument of lightning.pytorch.Trainer"),
        ("+optimizer.beta=3", "optimizer.beta: not an argument of torch.optim.SGD"),
        ("ckpt_path=/no/such/last.ckpt", "ckpt_path=/no/such/last.ckpt: no such file"),
        ("model._target_=no.such.Model", "model._target_=no.such.Model: cannot import it"),
        ("freeze=[c]", "freeze=['c']: the model has no parameter c; it has w"),
        ("freeze=[w]", "freeze=['w']: that is every parameter; nothing would train"),
        ("explain=-1", "explain=-1: must be an integer ≥ 0"),
        ("logger.max_queue=0", "logger.max_queue=0: must be an integer ≥ 1"),
        (
            "callbacks.progress_bar.refresh_rate=0.5",
            "callbacks.progress_bar.refresh_rate=0.5: must be an integer ≥ 0",
        ),
        (
            "data=digits",
            "model=linear: f(x) = w·x takes one input and this data has data.in_features=64",
        ),
        ("~logger", "callbacks.step_scalars: writes to TensorBoard and needs a logger"),
    ],
)
def test_bad_input_names_the_key_and_what_is_allowed(check, override, expected):
    message = error_of(check, *override.split())
    assert expected in message
    assert "\n" not in message


def test_a_run_dir_that_holds_a_run_is_refused(tmp_path: Path):
    (tmp_path / "old" / ".hydra").mkdir(parents=True)
    with pytest.raises(Exception) as caught:
        precheck([f"hydra.run.dir={tmp_path / 'old'}"])
    assert "already holds a run" in one_line(caught.value)


def test_informational_flags_and_swept_values_go_straight_to_hydra():
    precheck(["--cfg", "job", "optimizer.lr=-1"])  # printing a config is not running it
    precheck(["-m", "optimizer.lr=0.1,1"])
    precheck(["-m", "optimizer.lr=-1,1"])  # each job's values are validated when it starts
    precheck(["-m", "model=linear,nosuch"])  # swept options: the sweeper's check


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optimizer.lrr=1", "optimizer.lrr: no such key; optimizer has lr, momentum"),
        ("optimizer=rmsprop", "optimizer=rmsprop: no such option; choose one of adam, sgd"),
        ("model=mlp,linear model.widths=[8]", "model.widths: no such key; model has bias"),
    ],
)
def test_a_sweep_composes_what_its_jobs_share_first(tmp_path: Path, override, expected):
    """Hydra composes the sweep's config from the overrides that sweep nothing before it
    launches; composed here first, a bad one ends in one line as a single run's does."""
    with pytest.raises(Exception) as caught:
        precheck(["-m", f"hydra.sweep.dir={tmp_path}", "init.value=1,2", *override.split()])
    message = one_line(caught.value)
    assert expected in message
    assert "\n" not in message


def test_gpu_without_a_gpu_is_refused(check):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert "no GPU is visible here" in error_of(check, "trainer.accelerator=gpu")


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local", "submitit_slurm"])
def test_a_sweep_whose_launcher_is_installed_passes(tmp_path: Path, launcher):
    precheck(["-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}"])  # [test] has them


@pytest.mark.parametrize(
    "launcher, module, extra",
    [
        ("ray", "hydra_plugins.hydra_ray_launcher.ray_launcher", "ray"),
        ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher", "joblib"),
        ("submitit_slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher", "submitit"),
    ],
)
def test_a_sweep_whose_launcher_is_not_installed_names_the_extra(
    monkeypatch, tmp_path: Path, launcher, module, extra
):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(Exception) as caught:
        precheck(["-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}"])
    assert one_line(caught.value) == (
        f'hydra/launcher={launcher}: its plugin is not installed; pip install -e ".[{extra}]"'
    )


@pytest.mark.slow
def test_a_search_without_the_optuna_plugin_names_the_extra(tmp_path: Path):
    """The optuna sweeper's config comes with its plugin: without it, composing fails first."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nsys.modules['hydra_plugins.hydra_optuna_sweeper'] = None\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.run(
        [sys.executable, "-m", "descentlab", "-m", "experiment=search"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "descentlab: error: hydra/sweeper=optuna: its plugin is not installed; "
        'pip install -e ".[optuna]"'
    )
    assert not (tmp_path / "multirun").exists()
