"""The LightningModule's training against the same math written as a plain PyTorch loop."""

from functools import partial

import lightning as L
import pytest
import torch

from descentlab.data.batches import Batches
from descentlab.data.linear import LinearData
from descentlab.init import constant, initialize
from descentlab.models.linear import Linear
from descentlab.module import DescentModule


def fit(optimizer, steps: int) -> tuple[float, LinearData]:
    data = LinearData(3.0, 0.0, 128, 0.1, "normal", 1.0, 0.25, None, seed=0)
    model = Linear(bias=False)
    initialize(model, partial(constant, value=1.0))
    module = DescentModule(model, torch.nn.MSELoss(), optimizer)
    trainer = L.Trainer(
        max_steps=steps,
        val_check_interval=min(10, steps),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=data)
    return model.w.item(), data


@pytest.mark.parametrize("lr, mu", [(0.1, 0.0), (0.8, 0.0), (0.05, 0.9)])
def test_sgd_matches_the_update_rule_by_hand(lr, mu):
    w_final, data = fit(partial(torch.optim.SGD, lr=lr, momentum=mu), steps=30)
    x, y = data.x_train.double(), data.y_train.double()
    w, v = 1.0, 0.0
    for _ in range(30):
        g = float(2 * (x * (w * x - y)).mean())  # dL/dw
        v = mu * v + g  # PyTorch's momentum buffer (v = g when mu = 0)
        w = w - lr * v  # w ← w − lr·v
    assert w_final == pytest.approx(w, abs=1e-5)


def test_adam_first_step_is_lr_in_the_downhill_direction():
    w_final, _ = fit(partial(torch.optim.Adam, lr=0.3), steps=1)
    assert w_final == pytest.approx(1.0 + 0.3, abs=1e-6)


def test_configure_optimizers_wires_the_scheduler_dict():
    from descentlab.schedulers import plateau

    module = DescentModule(
        Linear(bias=False),
        torch.nn.MSELoss(),
        partial(torch.optim.SGD, lr=0.1),
        partial(
            plateau,
            monitor="val/loss",
            interval="step",
            frequency=10,
            mode="min",
            factor=0.5,
            patience=2,
            threshold=1e-4,
            threshold_mode="rel",
            cooldown=0,
            min_lr=0.0,
        ),
    )
    config = module.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.SGD)
    scheduler = config["lr_scheduler"]
    assert isinstance(scheduler["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (scheduler["monitor"], scheduler["interval"], scheduler["frequency"]) == (
        "val/loss",
        "step",
        10,
    )
    assert scheduler["scheduler"].factor == 0.5 and scheduler["scheduler"].patience == 2


def test_the_hook_name_lightning_sets_skips_nn_modules_lookups(monkeypatch):
    """Lightning sets `_current_fx_name` around every hook: it is stored as a plain attribute,
    without nn.Module's search of parameters, buffers and submodules; other attributes still
    go through it."""
    module = DescentModule(Linear(bias=False), torch.nn.MSELoss(), torch.optim.SGD)
    looked_up = []
    set_attribute = torch.nn.Module.__setattr__

    def counted(self, name, value):
        looked_up.append(name)
        set_attribute(self, name, value)

    monkeypatch.setattr(torch.nn.Module, "__setattr__", counted)
    module._current_fx_name = "training_step"
    assert module._current_fx_name == "training_step" and looked_up == []
    module._current_fx_name = None
    assert module._current_fx_name is None and looked_up == []
    module.extra = torch.nn.Parameter(torch.zeros(2))
    assert looked_up == ["extra"] and "extra" in dict(module.named_parameters())


class TwoValidationBatches(LinearData):
    """The seed data with its validation set in two unequal batches (48 and 16)."""

    def val_dataloader(self):
        return Batches(self.x_val, self.y_val, 48, 2, self.seed)  # a pass over the set


class SeenAtEpochEnd(L.Callback):
    """val/loss as a callback reads it where validation ends (before the module's own hook)."""

    def __init__(self):
        self.seen = []

    def on_validation_epoch_end(self, trainer, pl_module):
        self.seen.append(trainer.callback_metrics.get("val/loss"))


def test_validation_reports_the_sets_metrics_without_self_log(monkeypatch, tmp_path):
    """Every few steps, val/* reach what monitors them (callback metrics, also in callbacks'
    on_validation_epoch_end), the progress bar and TensorBoard at step k, computed over the
    whole validation set (batches weighted by their size), without Lightning's per-value
    bookkeeping (`self.log`)."""
    from torchmetrics import MeanSquaredError, R2Score

    from conftest import scalars
    from descentlab.loggers import TensorBoard

    logged = []
    log = L.LightningModule.log
    monkeypatch.setattr(L.LightningModule, "log", lambda self, name, *a, **k: logged.append(name))
    data = TwoValidationBatches(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    metrics = {"mse": MeanSquaredError(), "r2": R2Score()}
    module = DescentModule(Linear(bias=False), torch.nn.MSELoss(), torch.optim.SGD, None, metrics)
    seen = SeenAtEpochEnd()
    trainer = L.Trainer(
        max_steps=20,
        val_check_interval=10,
        callbacks=[seen],
        logger=TensorBoard(tmp_path, name="", version="", save_every=0.0),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=data)
    monkeypatch.setattr(L.LightningModule, "log", log)
    assert logged == []

    x, y = data.x_val.double(), data.y_val.double()
    error = module.model.w.item() * x - y  # weights of step 20, the last validation's
    mse = float((error**2).mean())
    r2 = 1 - float((error**2).sum() / ((y - y.mean()) ** 2).sum())
    metrics = trainer.callback_metrics
    assert float(metrics["val/loss"]) == pytest.approx(mse, rel=1e-5)
    assert float(metrics["val/mse"]) == pytest.approx(mse, rel=1e-5)
    assert float(metrics["val/r2"]) == pytest.approx(r2, rel=1e-5)
    assert trainer.progress_bar_metrics["val/loss"] == pytest.approx(mse, rel=1e-5)
    assert len(seen.seen) == 3 and seen.seen[0] is None  # the sanity check's: kept by no one
    assert seen.seen[1] != seen.seen[2] and float(seen.seen[2]) == pytest.approx(mse, rel=1e-5)
    events = scalars(tmp_path)
    for tag, value in (("val/loss", mse), ("val/mse", mse), ("val/r2", r2)):
        assert [step for step, _ in events[tag]] == [10, 20], tag
        assert events[tag][-1][1] == pytest.approx(value, rel=1e-5), tag


def test_trainer_validate_returns_the_validation_metrics():
    from torchmetrics import MeanSquaredError

    data = TwoValidationBatches(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    metrics = {"mse": MeanSquaredError()}
    module = DescentModule(Linear(bias=False), torch.nn.MSELoss(), torch.optim.SGD, None, metrics)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, accelerator="cpu")
    (results,) = trainer.validate(module, datamodule=data)
    mse = float(((module.model.w.item() * data.x_val.double() - data.y_val.double()) ** 2).mean())
    assert results["val/loss"] == pytest.approx(mse, rel=1e-5)
    assert results["val/mse"] == pytest.approx(mse, rel=1e-5)


def test_a_metric_of_several_numbers_is_refused_in_one_line():
    from torchmetrics.classification import MulticlassAccuracy

    from descentlab.errors import ConfigError

    data = TwoValidationBatches(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    data.y_train = torch.arange(len(data.x_train)) % 3  # three classes
    data.y_val = torch.arange(len(data.x_val)) % 3
    per_class = {"acc": MulticlassAccuracy(num_classes=3, average=None)}
    module = DescentModule(
        torch.nn.Linear(1, 3), torch.nn.CrossEntropyLoss(), torch.optim.SGD, None, per_class
    )
    trainer = L.Trainer(max_steps=5, logger=False, enable_progress_bar=False, accelerator="cpu")
    with pytest.raises(ConfigError, match=r"^metrics: val/acc is 3 numbers, where a logged"):
        trainer.fit(module, datamodule=data)
    assert trainer.global_step == 0  # refused in the sanity check, before a step is taken
    with pytest.raises(ConfigError, match=r"^metrics: val/acc is 3 numbers, where a logged"):
        trainer.validate(module, datamodule=data)
