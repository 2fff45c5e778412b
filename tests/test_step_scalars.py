"""StepScalars in-process: what it writes, for a model with w and b, with and without
gradient accumulation, against the update rule and the closed-form gradient."""

from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from conftest import scalars
from descentlab.callbacks.step_scalars import StepScalars
from descentlab.data.linear import LinearData
from descentlab.init import constant, initialize
from descentlab.models.linear import Linear
from descentlab.module import DescentModule


def run(tmp_path: Path, steps: int, lr: float, **trainer_args) -> tuple[dict, LinearData]:
    batch_size = trainer_args.pop("batch_size", None)
    flush_every = trainer_args.pop("flush_every", 7)  # 7 does not divide the steps: a partial flush
    data = LinearData(3.0, -1.0, 96, 0.1, "normal", 1.0, 0.25, batch_size, seed=0)
    model = Linear(bias=True)
    initialize(model, partial(constant, value=1.0))
    module = DescentModule(model, torch.nn.MSELoss(), partial(torch.optim.SGD, lr=lr))
    trainer = L.Trainer(
        max_steps=steps,
        val_check_interval=5,
        logger=TensorBoardLogger(tmp_path, name="", version=""),
        callbacks=[StepScalars(flush_every=flush_every)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        **trainer_args,
    )
    trainer.fit(module, datamodule=data)
    return scalars(tmp_path), data


def values(logged: dict, tag: str) -> list[float]:
    return [v for _, v in logged[tag]]


def test_every_step_logs_w_b_their_gradients_lr_and_loss(tmp_path):
    logged, data = run(tmp_path, steps=20, lr=0.2)
    for tag in ("train/loss", "lr", "param/w", "param/b", "grad/w", "grad/b"):
        assert [s for s, _ in logged[tag]] == list(range(20)), tag
    x, y = data.x_train.double(), data.y_train.double()
    residual = 1.0 * x + 1.0 - y  # w = b = 1 at step 0
    assert values(logged, "grad/w")[0] == pytest.approx(float(2 * (x * residual).mean()), abs=1e-5)
    assert values(logged, "grad/b")[0] == pytest.approx(float(2 * residual.mean()), abs=1e-5)
    assert values(logged, "train/loss")[0] == pytest.approx(float((residual**2).mean()), rel=1e-5)
    for name in ("w", "b"):
        p, g = values(logged, f"param/{name}"), values(logged, f"grad/{name}")
        for k in range(19):
            assert p[k + 1] == pytest.approx(p[k] - 0.2 * g[k], abs=1e-6)


def test_a_flush_every_far_above_the_runs_steps_keeps_a_buffer_of_the_runs_length(tmp_path):
    # 10**12 rows of 6 values would be 24 TB: the buffer holds the 20 steps the run has
    logged, _ = run(tmp_path, steps=20, lr=0.2, flush_every=10**12)
    assert [s for s, _ in logged["param/w"]] == list(range(20))


def test_with_accumulation_grad_is_what_the_optimizer_used(tmp_path):
    """Two mini-batches per step: grad/w is their accumulated gradient, one row per step."""
    logged, _ = run(tmp_path, steps=12, lr=0.1, accumulate_grad_batches=2, batch_size=18)
    w, g = values(logged, "param/w"), values(logged, "grad/w")
    assert [s for s, _ in logged["param/w"]] == list(range(12))
    for k in range(11):
        assert w[k + 1] == pytest.approx(w[k] - 0.1 * g[k], abs=1e-6)


def test_a_frozen_parameter_keeps_its_value_and_logs_no_gradient(tmp_path):
    from descentlab.init import freeze

    data = LinearData(3.0, -1.0, 96, 0.1, "normal", 1.0, 0.25, None, seed=0)
    model = Linear(bias=True)
    initialize(model, partial(constant, value=1.0))
    freeze(model, ["b"])
    module = DescentModule(model, torch.nn.MSELoss(), partial(torch.optim.SGD, lr=0.2))
    trainer = L.Trainer(
        max_steps=10,
        val_check_interval=5,
        logger=TensorBoardLogger(tmp_path, name="", version=""),
        callbacks=[StepScalars(flush_every=50)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=data)
    assert model.b.item() == 1.0 and model.b.grad is None
    assert model.w.item() != 1.0
    logged = scalars(tmp_path)
    assert values(logged, "param/b") == [1.0] * 10
    assert "grad/b" not in logged and "grad/w" in logged


def test_a_parameter_the_loss_does_not_use_gets_no_gradient_point(tmp_path):
    """.grad stays None for a parameter forward leaves out, and SGD skips it: its param/ series
    is flat, and grad/ has no point (a 0 would read as a flat slope of L)."""

    class WithUnused(Linear):
        def __init__(self) -> None:
            super().__init__(bias=False)
            self.unused = torch.nn.Parameter(torch.tensor(0.5))

    data = LinearData(3.0, 0.0, 96, 0.1, "normal", 1.0, 0.25, None, seed=0)
    module = DescentModule(WithUnused(), torch.nn.MSELoss(), partial(torch.optim.SGD, lr=0.1))
    trainer = L.Trainer(
        max_steps=10, val_check_interval=5, logger=TensorBoardLogger(tmp_path, name="", version=""),
        callbacks=[StepScalars(flush_every=4)], enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(module, datamodule=data)
    logged = scalars(tmp_path)
    assert values(logged, "param/unused") == [0.5] * 10
    assert [s for s, _ in logged["grad/w"]] == list(range(10))
    assert "grad/unused" not in logged
