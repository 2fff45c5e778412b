"""The seed example end to end: `python -m descentlab` in a subprocess, read from TensorBoard."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import hparams_plugin, scalars

pytestmark = pytest.mark.slow


def train_data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=seed)
    return d.x_train.double(), d.y_train.double()


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    """One run of the seed example with every default, shared by the tests below."""
    import os
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("seed")
    cwd, run_dir = tmp / "cwd", tmp / "run"
    cwd.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "descentlab", f"hydra.run.dir={run_dir}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc, run_dir, cwd, scalars(run_dir)


def series(logged, tag: str) -> list[float]:
    steps = [step for step, _ in logged[tag]]
    assert steps == list(range(len(steps))), f"{tag} must have one value per step from 0"
    return [value for _, value in logged[tag]]


def test_w_reaches_w_star_within_300_steps(seed_run):
    _, _, _, logged = seed_run
    x, y = train_data()
    w_star = float((x * y).mean() / (x * x).mean())  # least squares, by hand
    w = series(logged, "param/w")
    lr, grad = series(logged, "lr"), series(logged, "grad/w")
    assert len(w) <= 300
    w_final = w[-1] - lr[-1] * grad[-1]  # the last update
    assert abs(w_final - w_star) < 0.01
    assert logged["final/w"][-1][1] == pytest.approx(w_final, abs=1e-6)


def test_grad_w_at_step_0_is_the_closed_form(seed_run):
    _, _, _, logged = seed_run
    x, y = train_data()
    w0 = 1.0
    assert series(logged, "param/w")[0] == w0
    expected = float(2 * (x * (w0 * x - y)).mean())  # dL/dw = 2·mean(x·(w·x − y))
    grad0 = series(logged, "grad/w")[0]
    assert grad0 < 0
    assert grad0 == pytest.approx(expected, abs=1e-5)


def test_train_loss_at_step_k_is_the_loss_at_w_k(seed_run):
    _, _, _, logged = seed_run
    x, y = train_data()
    w, loss = series(logged, "param/w"), series(logged, "train/loss")
    for k in (0, 1, 5, 50):
        assert loss[k] == pytest.approx(float(((w[k] * x - y) ** 2).mean()), rel=1e-5)


def test_logged_series_obey_the_sgd_update_rule(seed_run):
    _, _, _, logged = seed_run
    w, grad, lr = series(logged, "param/w"), series(logged, "grad/w"), series(logged, "lr")
    for k in range(len(w) - 1):
        assert w[k + 1] == pytest.approx(w[k] - lr[k] * grad[k], abs=1e-6), k  # w ← w − lr·dL/dw


def test_plateau_lowers_the_lr_near_the_optimum(seed_run):
    _, _, _, logged = seed_run
    lr = series(logged, "lr")
    assert lr[0] == pytest.approx(0.1)
    assert lr[-1] < lr[0]
    drops = [k for k in range(1, len(lr)) if lr[k] < lr[k - 1]]
    assert all(k % 10 == 0 for k in drops)  # right after a validation, every 10 steps
    assert all(lr[k] == pytest.approx(0.5 * lr[k - 1]) for k in drops)  # factor 0.5


def test_validation_metrics_are_logged_against_the_update_count(seed_run):
    _, _, _, logged = seed_run
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    x_val, y_val = d.x_val.double(), d.y_val.double()
    w = series(logged, "param/w")
    steps = [s for s, _ in logged["val/loss"]]
    assert steps[:3] == [10, 20, 30]
    val10 = logged["val/loss"][0][1]
    assert val10 == pytest.approx(float(((w[10] * x_val - y_val) ** 2).mean()), rel=1e-5)
    assert logged["val/mse"][0][1] == pytest.approx(val10, rel=1e-6)
    r2 = 1 - ((w[10] * x_val - y_val) ** 2).sum() / ((y_val - y_val.mean()) ** 2).sum()
    assert logged["val/r2"][0][1] == pytest.approx(float(r2), abs=1e-5)


def test_hparams_hold_the_settings_and_real_final_metrics(seed_run):
    _, run_dir, _, logged = seed_run
    assert "hp_metric" not in logged
    plugin = hparams_plugin(run_dir)
    start = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/session_start_info"])
    params = start.session_start_info.hparams
    assert params["optimizer"].string_value == "sgd"
    assert params["optimizer.lr"].number_value == pytest.approx(0.1)
    assert params["init"].string_value == "constant"
    assert params["seed"].number_value == 0
    assert params["status"].string_value == "ok"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/experiment"])
    metric_tags = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {"final/train_loss", "final/val_loss", "final/val_r2", "final/w"} <= metric_tags
    x, y = train_data()
    w = logged["final/w"][-1][1]
    assert logged["final/train_loss"][-1][1] == pytest.approx(
        float(((w * x - y) ** 2).mean()), rel=1e-5
    )


# One run in this interpreter, counting the passes over the data sets at the final weights.
FINAL_METRICS_ONCE = """
import json, sys
import descentlab.summary
from descentlab.cli import main
calls = []
original = descentlab.summary.final_metrics
def counted(*args):
    calls.append(1)
    return original(*args)
descentlab.summary.final_metrics = counted
import descentlab.callbacks.hparams, descentlab.train
descentlab.callbacks.hparams.final_metrics = descentlab.train.final_metrics = counted
sys.argv = ["descentlab", "explain=0", "trainer.max_steps=20", f"hydra.run.dir={sys.argv[1]}"]
main()
print(len(calls))
"""


def test_the_final_metrics_are_computed_once_for_the_table_and_the_results(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", FINAL_METRICS_ONCE, str(run_dir)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "1"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["final_loss"] == pytest.approx(scalars(run_dir)["final/train_loss"][-1][1])


def test_everything_goes_into_the_run_dir(seed_run):
    _, run_dir, cwd, _ = seed_run
    assert list(cwd.iterdir()) == []
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert list(run_dir.glob("events.out.tfevents.*"))
    assert (run_dir / "loss_curve.png").is_file()


def test_lightnings_lines_reach_the_log_file_and_the_console_once(seed_run):
    proc, run_dir, _, _ = seed_run
    assert "GPU available: " in (run_dir / "descentlab.log").read_text()
    assert (proc.stdout + proc.stderr).count("GPU available: ") == 1


def test_console_shows_settings_summary_and_the_tensorboard_command(seed_run):
    proc, run_dir, _, logged = seed_run
    out = proc.stdout
    assert "optimizer" in out and "lr=0.1" in out and "seed" in out
    assert "batch_size=null" in out and "bias=false" in out  # as one would type them
    summary = next(line for line in out.splitlines() if line.startswith("done:"))
    w = logged["final/w"][-1][1]
    assert f"w = {w:.5f}" in summary and "w* = " in summary and "300 steps" in summary
    assert f"tensorboard --logdir {run_dir}" in out
    assert (
        "Trainer.fit" not in proc.stdout + proc.stderr
    )  # Lightning's max_steps line: the count is in done:


def test_same_seed_same_scalars_other_seed_other_scalars(seed_run, run_app):
    _, _, _, first = seed_run
    proc, run_dir, _ = run_app(name="again")
    assert proc.returncode == 0, proc.stderr
    again = scalars(run_dir)
    assert again.keys() == first.keys()
    for tag in first:
        assert again[tag] == first[tag], tag
    proc, run_dir, _ = run_app("seed=1", "trainer.max_steps=20", name="seed1")
    assert proc.returncode == 0, proc.stderr
    other = scalars(run_dir)
    assert other["grad/w"][0] != first["grad/w"][0]


@pytest.mark.parametrize("batches", ["full", "mini"])
def test_resume_continues_exactly(run_app, batches):
    settings = ("optimizer=adam", "optimizer.lr=0.05")
    if batches == "mini":  # 192 training samples: 3 batches a pass; 100 steps end mid-pass
        settings += ("data.batch_size=64",)
    proc, straight, _ = run_app(*settings, "trainer.max_steps=200", name="straight")
    assert proc.returncode == 0, proc.stderr
    proc, half, _ = run_app(*settings, "trainer.max_steps=100", name="half")
    assert proc.returncode == 0, proc.stderr
    ckpt = half / "checkpoints" / "last.ckpt"
    proc, resumed, _ = run_app(
        *settings, "trainer.max_steps=200", f"ckpt_path={ckpt}", name="resumed"
    )
    assert proc.returncode == 0, proc.stderr
    assert "dirpath has changed" not in proc.stdout + proc.stderr  # its own dir, by design

    def state(run_dir: Path):
        return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)

    a, h, b = state(straight), state(half), state(resumed)
    assert b["global_step"] == a["global_step"] == 200
    assert h["state_dict"]["model.w"] != a["state_dict"]["model.w"]  # still moving at step 100
    assert b["state_dict"]["model.w"] == a["state_dict"]["model.w"]  # exactly
    assert b["lr_schedulers"][0]["_last_lr"] == a["lr_schedulers"][0]["_last_lr"]
    logged_a, logged_b = scalars(straight), scalars(resumed)
    assert [s for s, _ in logged_b["param/w"]] == list(range(100, 200))
    assert logged_b["param/w"] == logged_a["param/w"][100:]
    assert (half / "checkpoints" / "last.ckpt").stat().st_size > 0  # the first run is untouched


def test_bad_input_is_one_line_exit_2_and_no_run(run_app):
    proc, run_dir, cwd = run_app("optimizer.lr=-1", name="bad")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "descentlab: error: optimizer.lr=-1: must be a number > 0"
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not run_dir.exists() and list(cwd.iterdir()) == []


def test_a_run_refused_as_it_builds_leaves_no_dir_it_made(run_app, tmp_path):
    """The digits' batch size is checked by their constructor, after Hydra made the run dir:
    what Hydra wrote there goes again, the dirs it made too, and the corrected command can use
    the dir."""
    bad, run_dir, _ = run_app("data=digits", "model=mlp", "data.batch_size=2000", name="d")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("descentlab: error: data.batch_size")
    assert not run_dir.exists()
    # a dir the user made stays, emptied of what Hydra wrote; so does the dir above new ones,
    # and the working dir
    mine = tmp_path / "mine"
    mine.mkdir()
    nested = mine / "a" / "b"
    for target in (mine, nested, f"{tmp_path / 'new'}/../mine", "."):
        proc, _, cwd = run_app(
            "data=digits", "model=mlp", "data.batch_size=2000", f"hydra.run.dir={target}",
            name=f"t{len(list(tmp_path.iterdir()))}",
        )  # fmt: skip
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert mine.is_dir() and not any(mine.iterdir())
        assert cwd.is_dir() and not any(cwd.iterdir())
    # the default dated dirs in the working dir (conf/config.yaml's): none is left behind
    dated, _, cwd = run_app(
        "data=digits", "model=mlp", "data.batch_size=2000",
        "hydra.run.dir=outputs/${now:%Y-%m-%d}/${now:%H-%M-%S-%f}", name="dated",
    )  # fmt: skip
    assert dated.returncode == 2 and list(cwd.iterdir()) == []
    # Hydra's config saved in the run dir itself: nothing is removed, the dir least of all
    odd, odd_dir, _ = run_app(
        "data=digits", "model=mlp", "data.batch_size=2000", "hydra.output_subdir=.", name="o"
    )
    assert odd.returncode == 2 and "Traceback" not in odd.stderr
    assert (odd_dir / "config.yaml").is_file()
    fixed = subprocess.run(
        [sys.executable, "-m", "descentlab", f"hydra.run.dir={run_dir}", "data=digits",
         "model=mlp", "data.batch_size=128", "trainer.max_steps=10", "explain=0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert fixed.returncode == 0, fixed.stderr
    assert (run_dir / "results.json").exists()


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (  # 8 outputs for a target of 1: MSE broadcasts it, with a warning only
            "model._target_=torch.nn.Linear +model.in_features=1 +model.out_features=8",
            "model._target_=torch.nn.Linear: returns shape (2, 8) for 2 samples; data=linear "
            "needs (2, 1)",
        ),
        (  # the optimizer's own error: "optimizer got an empty parameter list"
            "model._target_=torch.nn.Identity",
            "model._target_=torch.nn.Identity: has no trainable parameter; nothing would train",
        ),
    ],
)
def test_a_model_that_cannot_train_on_the_data_is_one_line(run_app, overrides, expected):
    proc, run_dir, _ = run_app(*overrides.split())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"descentlab: error: {expected}"
    assert not run_dir.exists()  # refused before anything was written: removed again


def test_unknown_group_option_is_one_line(run_app):
    proc, _, _ = run_app("optimizer=rmsprop", name="unknown")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "descentlab: error: optimizer=rmsprop: no such option; choose one of adam, sgd"
    ]


def test_a_second_run_into_the_same_dir_is_refused(seed_run, run_app):
    _, run_dir, _, _ = seed_run
    before = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    proc, _, _ = run_app(f"hydra.run.dir={run_dir}", name="again-same-dir")
    assert proc.returncode == 2 and "already holds files" in proc.stderr
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == before


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            "model.bias=true",
            "saved from another model: its b is absent, with model=linear here a scalar",
        ),
        ("optimizer=adam", "saved with another optimizer than optimizer=adam"),
    ],
)
def test_resuming_with_another_model_or_optimizer_is_refused(
    seed_run, tmp_path, overrides, expected
):
    """Loading would fail inside Lightning with a state_dict or KeyError traceback."""
    from descentlab.cli import one_line, precheck

    _, run_dir, _, _ = seed_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    args = [f"hydra.run.dir={tmp_path / 'new'}", f"ckpt_path={ckpt}", "trainer.max_steps=400"]
    precheck(args)  # the same config resumes
    with pytest.raises(Exception) as caught:
        precheck([*args, *overrides.split()])
    assert one_line(caught.value) == f"ckpt_path={ckpt}: {expected}" + (
        "; resume with the config it was saved with"
        if "model" in expected
        else "; resume with the one it was saved with"
    )


def test_a_relative_ckpt_path_is_from_where_it_was_typed_also_when_the_job_changes_dir(
    seed_run, tmp_path
):
    """hydra.job.chdir=true runs the job in its run dir; ckpt_path was typed in the cwd."""
    import shutil
    import subprocess
    import sys

    _, run_dir, _, _ = seed_run
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    shutil.copy(run_dir / "checkpoints" / "last.ckpt", cwd / "resume.ckpt")
    proc = subprocess.run(
        [sys.executable, "-m", "descentlab", f"hydra.run.dir={tmp_path / 'run'}",
         "hydra.job.chdir=true", "ckpt_path=resume.ckpt", "trainer.max_steps=320"],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "320 steps" in proc.stdout
    assert [step for step, _ in scalars(tmp_path / "run")["train/loss"]] == list(range(300, 320))


@pytest.mark.parametrize(
    "override, saved",
    [("optimizer.lr=0.9", "optimizer.lr=0.1"), ("scheduler.patience=5", "scheduler.patience=2")],
)
def test_resuming_with_other_optimizer_or_scheduler_settings_is_refused(
    seed_run, tmp_path, override, saved
):
    """Lightning restores the optimizer's and the scheduler's state, their settings included:
    the new lr would be ignored while the banner, results.json and HParams reported it."""
    from descentlab.cli import one_line, precheck

    _, run_dir, _, _ = seed_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    args = [f"hydra.run.dir={tmp_path / 'new'}", f"ckpt_path={ckpt}", "trainer.max_steps=400"]
    precheck([*args, "trainer.val_check_interval=20"])  # not restored: Lightning's own
    with pytest.raises(Exception) as caught:
        precheck([*args, override])
    group = override.split(".")[0]
    assert one_line(caught.value) == (
        f"{override}: the checkpoint was saved with {saved}, and resuming restores the "
        f"{group}'s state, settings included; resume with {saved.split('=')[1]}, or start a "
        "new run"
    )


def test_resuming_without_the_scheduler_that_lowered_lr_is_refused(seed_run, tmp_path):
    """scheduler=none drops the scheduler, not the lr it set: the optimizer's restored state
    would go on at the lowered lr while optimizer.lr said 0.1."""
    import torch

    from descentlab.cli import one_line, precheck

    _, run_dir, _, _ = seed_run
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    # the lr as ReduceLROnPlateau left it: after the last step's (logged) lr, if the last
    # validation lowered it once more
    lr_last = torch.load(ckpt, weights_only=False)["optimizer_states"][0]["param_groups"][0]["lr"]
    logged = scalars(run_dir)["lr"][-1][1]  # float32 in the event file
    assert lr_last == pytest.approx(logged, rel=1e-6) or lr_last == pytest.approx(logged / 2)
    assert lr_last < 0.1
    args = [f"hydra.run.dir={tmp_path / 'new'}", f"ckpt_path={ckpt}", "trainer.max_steps=400"]
    with pytest.raises(Exception) as caught:
        precheck([*args, "scheduler=none"])
    assert one_line(caught.value) == (
        f"scheduler=none: the checkpoint's scheduler had taken lr to {lr_last:g}, where resuming "
        "without it goes on, not at optimizer.lr=0.1; resume with the scheduler it was saved "
        "with, or start a new run"
    )


def test_resuming_without_a_scheduler_that_left_lr_as_it_was_is_allowed(run_app, tmp_path):
    """20 steps, two validations: ReduceLROnPlateau (patience 2) has not lowered lr. Without it
    the run goes on at optimizer.lr; another optimizer.lr is named as such."""
    from descentlab.cli import one_line, precheck

    proc, run_dir, _ = run_app("trainer.max_steps=20", "explain=0", name="short")
    assert proc.returncode == 0, proc.stderr
    assert [v for _, v in scalars(run_dir)["lr"]] == pytest.approx([0.1] * 20)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    args = [f"hydra.run.dir={tmp_path / 'new'}", f"ckpt_path={ckpt}", "trainer.max_steps=40"]
    precheck([*args, "scheduler=none"])
    with pytest.raises(Exception) as caught:
        precheck([*args, "scheduler=none", "optimizer.lr=0.05"])
    assert one_line(caught.value).startswith(
        "optimizer.lr=0.05: the checkpoint was saved with optimizer.lr=0.1,"
    )


def test_resuming_from_a_weights_only_checkpoint_is_refused(seed_run, tmp_path):
    """callbacks.checkpoint.save_weights_only=true keeps no optimizer state to resume."""
    import torch

    from descentlab.cli import one_line, precheck

    _, run_dir, _, _ = seed_run
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    for key in ("optimizer_states", "lr_schedulers"):  # what save_weights_only leaves out
        checkpoint.pop(key)
    ckpt = tmp_path / "weights.ckpt"
    torch.save(checkpoint, ckpt)
    args = [f"hydra.run.dir={tmp_path / 'new'}", f"ckpt_path={ckpt}", "trainer.max_steps=400"]
    with pytest.raises(Exception) as caught:
        precheck(args)
    assert one_line(caught.value) == (
        f"ckpt_path={ckpt}: holds the weights only (saved with save_weights_only); "
        "resuming needs the optimizer's state too: give a full checkpoint"
    )


def test_an_init_that_leaves_a_layers_units_equal_is_pointed_out(run_app):
    """The seed example's init=constant on an MLP: every unit of a layer the same, for good."""
    proc, _, _ = run_app(
        "data=digits", "model=mlp", "trainer.max_steps=10", "callbacks.surface=null", name="sym"
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        "init=constant made every value of layers.0.weight, layers.2.weight, layers.4.weight "
        "equal" in proc.stdout + proc.stderr
    )
    proc, _, _ = run_app("data=digits", "model=mlp", "init=none", "trainer.max_steps=10",
                         "callbacks.surface=null", name="own")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "made every value" not in proc.stdout + proc.stderr


def test_a_metric_set_to_null_is_left_out(run_app):
    proc, run_dir, _ = run_app("metrics.r2=null", "trainer.max_steps=20", name="no-r2")
    assert proc.returncode == 0, proc.stderr
    logged = scalars(run_dir)
    assert "val/mse" in logged and "val/r2" not in logged and "final/val_r2" not in logged


def test_a_constructor_that_refuses_its_arguments_is_one_line(run_app):
    """Lightning's Trainer checks `precision` itself, as the run builds it."""
    proc, _, _ = run_app("trainer.precision=bad", name="precision")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(
        "descentlab: error: trainer.precision=bad: Precision 'bad' is invalid. Allowed"
    )


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("precision", "bad", "trainer.precision=bad: Precision 'bad' is invalid. Allowed"),
        ("devices", "abc", "trainer.devices=abc: `devices` selected with `CPUAccelerator` should"),
    ],
)
def test_a_trainer_argument_refused_by_lightning_is_named_by_its_key(key, value, expected):
    """Lightning names the bad value in quotes, or the argument in backticks."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from descentlab.errors import refused

    cfg = OmegaConf.create(
        {"trainer": {"_target_": "lightning.pytorch.Trainer", "accelerator": "cpu", key: value}}
    )
    with pytest.raises(InstantiationException) as caught:
        instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert str(refused(caught.value, cfg)).startswith(expected)


def test_callbacks_set_to_null_leave_no_checkpoint_and_no_bar(run_app):
    """Lightning adds a checkpoint and a progress bar of its own unless told not to."""
    proc, run_dir, _ = run_app(
        "callbacks.checkpoint=null",
        "callbacks.progress_bar=null",
        "trainer.max_steps=20",
        name="no-callbacks",
    )
    assert proc.returncode == 0, proc.stderr
    assert not (run_dir / "checkpoints").exists()
    assert "20/20" not in proc.stdout + proc.stderr  # a bar's step count
    proc, run_dir, _ = run_app("trainer.max_steps=20", name="with-callbacks")
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert "20/20" in proc.stdout + proc.stderr


def test_a_fast_dev_run_points_to_no_tensorboard_logs(run_app):
    """Lightning's fast_dev_run runs one step with a stand-in logger that writes nothing."""
    proc, run_dir, _ = run_app("+trainer.fast_dev_run=true", "explain=0")
    assert proc.returncode == 0, proc.stderr
    assert not list(run_dir.glob("events.out.tfevents.*"))
    assert ", 1 step\n" in proc.stdout
    assert "tensorboard --logdir" not in proc.stdout


def test_scalars_script_prints_the_logged_series(seed_run):
    import subprocess
    import sys

    from conftest import ROOT

    _, run_dir, _, logged = seed_run
    script = ROOT / "scripts" / "scalars.py"
    proc = subprocess.run(
        [sys.executable, script, run_dir, "--tags", "param/w", "grad/w", "--first", "3"],
        capture_output=True,
        text=True,
        check=True,
    )
    header, *rows = proc.stdout.strip().splitlines()
    assert header.split() == ["step", "param/w", "grad/w"]
    assert len(rows) == 3
    for k, row in enumerate(rows):
        step, w, g = row.split()
        assert int(step) == k
        assert float(w) == pytest.approx(logged["param/w"][k][1], rel=1e-6)
        assert float(g) == pytest.approx(logged["grad/w"][k][1], rel=1e-6)


def test_gradient_monitor_on_the_toy_is_the_size_of_grad_w(seed_run):
    _, _, _, logged = seed_run
    grad, w = series(logged, "grad/w"), series(logged, "param/w")
    lr = series(logged, "lr")
    assert series(logged, "grad_norm/w") == pytest.approx([abs(g) for g in grad], rel=1e-6)
    assert series(logged, "grad_norm/total") == pytest.approx([abs(g) for g in grad], rel=1e-6)
    ratio = series(logged, "update_ratio/w")
    for k in range(5):
        assert ratio[k] == pytest.approx(abs(lr[k] * grad[k]) / abs(w[k]), rel=1e-4)


def test_the_run_dir_prints_as_one_would_type_it_here(tmp_path, monkeypatch):
    """Under the working dir (the default outputs/…) relative, elsewhere absolute."""
    from descentlab.console import typed

    monkeypatch.chdir(tmp_path)
    assert typed(tmp_path / "outputs" / "x") == Path("outputs/x")
    assert typed(Path("/elsewhere/x")) == Path("/elsewhere/x")
