"""A loss that turns non-finite stops the run at that step, and nothing non-finite is logged."""

import json
import math
from functools import partial

import lightning as L
import pytest
import torch
from tensorboard.plugins.hparams import plugin_data_pb2

from conftest import hparams_plugin, scalars
from descentlab.callbacks.divergence import Divergence, run_status, stopped
from descentlab.callbacks.step_scalars import StepScalars
from descentlab.data.linear import LinearData
from descentlab.init import constant, initialize
from descentlab.loggers import TensorBoard
from descentlab.models.linear import Linear
from descentlab.module import DescentModule


def test_a_non_finite_loss_stops_the_run_where_it_happens(tmp_path):
    data = LinearData(3.0, 0.0, 64, 0.1, "normal", 1.0, 0.25, None, seed=0)
    model = Linear(bias=False)
    initialize(model, partial(constant, value=1.0))
    stop = Divergence(factor=math.inf)  # only a non-finite loss can trigger it
    trainer = L.Trainer(
        max_steps=50,
        val_check_interval=10,
        logger=TensorBoard(tmp_path, name="", version="", save_every=1.0),
        callbacks=[StepScalars(flush_every=50), stop],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    module = DescentModule(model, torch.nn.MSELoss(), partial(torch.optim.SGD, lr=1e18))
    trainer.fit(module, datamodule=data)
    assert run_status(trainer, 1.0) == "diverged"  # stopped: whatever the final loss
    step, loss, _ = stopped(trainer)
    assert not math.isfinite(loss)
    assert trainer.global_step == step + 1 < 50
    logged = scalars(tmp_path)
    for tag, points in logged.items():
        assert all(math.isfinite(v) for _, v in points), tag
    loss_steps = [s for s, _ in logged["train/loss"]]
    assert max(loss_steps) < step  # the non-finite step's loss was not written


def test_the_logger_drops_non_finite_values(tmp_path):
    logger = TensorBoard(tmp_path, name="", version="", save_every=1.0)
    logger.log_metrics({"a": 1.0, "b": float("nan"), "c": torch.tensor(float("inf"))}, step=0)
    logger.finalize("success")
    assert set(scalars(tmp_path)) == {"a"}


def test_a_finite_run_is_ok(tmp_path):
    trainer = L.Trainer(callbacks=[Divergence(factor=1e4)], logger=False)
    assert run_status(trainer, 0.5) == "ok"


def test_a_run_without_the_check_that_ends_non_finite_is_diverged(run_app):
    """With callbacks.divergence=null nothing stops the run: it goes on to max_steps, and its
    final loss says how it ended, in results.json and in the HParams table."""
    proc, run_dir, _ = run_app(
        "optimizer.lr=5", "callbacks.divergence=null", "trainer.max_steps=200", "explain=0"
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((run_dir / "results.json").read_text())
    assert (results["steps"], results["final_loss"]) == (200, None)  # not finite: null
    assert results["status"] == "diverged"
    done = next(line for line in proc.stdout.splitlines() if line.startswith("done:"))
    assert done.startswith("done: diverged (the loss at the final weights is not finite): w = ")
    val = [v for _, v in scalars(run_dir)["val/loss"]]  # the finite ones: the others unwritten
    assert results["best_val_loss"] == pytest.approx(min(val), rel=1e-6)  # not NaN's null
    start = hparams_plugin(run_dir)["_hparams_/session_start_info"]
    params = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info.hparams
    assert params["status"].string_value == "diverged"
    # the override as it was typed, in both
    assert results["params"]["callbacks.divergence"] == "null"
    assert params["callbacks.divergence"].string_value == "null"


@pytest.mark.parametrize("bias", ["false", "true"])  # the curve of L(w), the contours of L(w, b)
def test_a_loss_that_overflows_everywhere_is_a_diverged_run_without_a_surface(run_app, bias):
    """x·1e30 squared is past float32's range: L is inf at every w, and there is no surface to
    draw; the run ends diverged, in its one line, not in the figure's traceback."""
    proc, run_dir, _ = run_app(
        "data.x_scale=1e30", f"model.bias={bias}", "trainer.max_steps=10", "explain=0"
    )
    assert proc.returncode == 0, proc.stderr
    assert "done: diverged at step 0: loss non-finite" in proc.stdout
    assert not list(run_dir.glob("loss_*.png"))
