"""The gradient monitor against norms computed directly, on a small MLP with its own names."""

import itertools
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from conftest import scalars
from descentlab.callbacks.gradients import GradientMonitor
from descentlab.data.linear import LinearData
from descentlab.module import DescentModule


class Record(Callback):
    """Keeps each step's gradients and weights, before and after the update."""

    def __init__(self) -> None:
        self.grads, self.before, self.after = [], [], []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        named = pl_module.model.named_parameters()
        self.grads.append({n: p.grad.clone() for n, p in named if p.grad is not None})
        self.before.append({n: p.detach().clone() for n, p in pl_module.model.named_parameters()})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.after.append({n: p.detach().clone() for n, p in pl_module.model.named_parameters()})


def fit(tmp: Path, model: nn.Module, *callbacks: Callback, **trainer_args: Any) -> None:
    """Fits `model` to the seed example's data with SGD (lr 0.05) on the CPU, logging to `tmp`."""
    data = LinearData(3.0, 0.0, 64, 0.1, "normal", 1.0, 0.25, None, seed=0)
    trainer = L.Trainer(
        logger=TensorBoardLogger(tmp, name="", version=""),
        callbacks=list(callbacks),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        **trainer_args,
    )
    module = DescentModule(model, torch.nn.MSELoss(), partial(torch.optim.SGD, lr=0.05))
    trainer.fit(module, datamodule=data)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))


@pytest.fixture(scope="module")
def monitored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monitor")
    model = mlp()
    model[2].bias.requires_grad_(False)  # frozen: no gradient, left out
    record = Record()
    monitor = GradientMonitor(flush_every=4, hist_every=3)
    fit(tmp, model, record, monitor, max_steps=10, val_check_interval=5)
    return tmp, record


def test_per_parameter_and_total_grad_norms(monitored):
    run_dir, record = monitored
    logged = scalars(run_dir)
    names = ["0.weight", "0.bias", "2.weight"]
    for name in names:
        values = [v for _, v in logged[f"grad_norm/{name}"]]
        direct = [float(torch.linalg.vector_norm(g[name])) for g in record.grads]
        assert values == pytest.approx(direct, rel=1e-5), name
    total = [v for _, v in logged["grad_norm/total"]]
    direct = [
        float(torch.linalg.vector_norm(torch.cat([g[n].flatten() for n in names])))
        for g in record.grads
    ]
    assert total == pytest.approx(direct, rel=1e-5)
    assert [s for s, _ in logged["grad_norm/total"]] == list(range(10))


def test_update_ratio_is_step_size_over_weight_size(monitored):
    run_dir, record = monitored
    logged = scalars(run_dir)
    values = [v for _, v in logged["update_ratio/0.weight"]]
    direct = [
        float(
            torch.linalg.vector_norm(a["0.weight"] - b["0.weight"])
            / torch.linalg.vector_norm(b["0.weight"])
        )
        for a, b in zip(record.after, record.before, strict=True)
    ]
    assert values == pytest.approx(direct, rel=1e-4)
    # plain SGD: the step is lr·grad
    assert values[0] == pytest.approx(
        0.05
        * float(torch.linalg.vector_norm(record.grads[0]["0.weight"]))
        / float(torch.linalg.vector_norm(record.before[0]["0.weight"])),
        rel=1e-4,
    )


def test_with_accumulated_gradients_the_ratio_is_each_optimizer_steps(tmp_path):
    """accumulate_grad_batches=2: one ratio per optimizer step, from the weights before it to
    the weights after it, not one per micro-batch."""
    record = Record()
    monitor = GradientMonitor(flush_every=3, hist_every=0)
    fit(tmp_path, mlp(), record, monitor, max_steps=4, accumulate_grad_batches=2)
    logged = scalars(tmp_path)["update_ratio/2.weight"]
    assert [s for s, _ in logged] == [0, 1, 2, 3]
    after = record.after[1::2]  # each step's second micro-batch ends it
    direct = [
        float(torch.linalg.vector_norm(a["2.weight"] - b["2.weight"]) / b["2.weight"].norm())
        for a, b in zip(after, record.before, strict=True)
    ]
    assert [v for _, v in logged] == pytest.approx(direct, rel=1e-4)
    assert min(direct) > 0


class Shrink(Callback):
    """Scales every weight by 0.9 as each batch starts: a change made between steps."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        with torch.no_grad():
            for p in pl_module.parameters():
                p.mul_(0.9)


def test_a_change_to_the_weights_between_steps_counts_in_the_next_update(tmp_path):
    """θ[k] is the weights as the previous step ended (the module docstring): the ratio is the
    whole move from there, the change between steps included."""
    model, record = mlp(), Record()
    start = model[0].weight.detach().clone()
    fit(tmp_path, model, Shrink(), record, GradientMonitor(3, 0), max_steps=4, val_check_interval=2)
    logged = [v for _, v in scalars(tmp_path)["update_ratio/0.weight"]]
    ended = [start] + [a["0.weight"] for a in record.after]  # θ[0], θ[1], …
    direct = [float((b - a).norm() / a.norm()) for a, b in itertools.pairwise(ended)]
    assert logged == pytest.approx(direct, rel=1e-4)
    # from the weights just before each optimizer step, the shrinking would be left out
    before_step = [
        float((a["0.weight"] - b["0.weight"]).norm() / b["0.weight"].norm())
        for a, b in zip(record.after, record.before, strict=True)
    ]
    assert logged != pytest.approx(before_step, rel=1e-2)


def test_frozen_parameters_are_left_out_and_named(monitored):
    run_dir, _ = monitored
    logged = scalars(run_dir)
    assert "grad_norm/2.bias" not in logged and "update_ratio/2.bias" not in logged
    events = EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    events.Reload()
    text = events.Tensors("frozen/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "`2.bias`" in text


def test_a_parameter_the_loss_does_not_use_gets_no_gradient_views(tmp_path):
    """An extra layer that forward never calls has no .grad, and SGD leaves it as it is: no
    grad_norm point and no gradient histogram (not a norm of 0), its update ratio the 0 it
    moved, and the total the norm of the gradients there are."""

    class WithUnused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used, self.extra = mlp(), nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    record = Record()
    fit(
        tmp_path, WithUnused(), record, GradientMonitor(flush_every=4, hist_every=3),
        max_steps=6, val_check_interval=3,
    )  # fmt: skip
    logged = scalars(tmp_path)
    assert "grad_norm/extra.weight" not in logged and "grad_norm/extra.bias" not in logged
    assert [v for _, v in logged["update_ratio/extra.weight"]] == [0.0] * 6
    assert [s for s, _ in logged["grad_norm/used.0.weight"]] == list(range(6))
    total = [float(torch.cat([g.flatten() for g in step.values()]).norm()) for step in record.grads]
    assert [v for _, v in logged["grad_norm/total"]] == pytest.approx(total, rel=1e-5)
    events = EventAccumulator(str(tmp_path), size_guidance={"histograms": 0})
    events.Reload()
    assert "hist/param/extra.weight" in events.Tags()["histograms"]
    assert "hist/grad/extra.weight" not in events.Tags()["histograms"]


def test_histograms_use_the_models_names_every_hist_every_steps(monitored):
    run_dir, record = monitored
    events = EventAccumulator(str(run_dir), size_guidance={"histograms": 0})
    events.Reload()
    tags = set(events.Tags()["histograms"])
    assert {"hist/param/0.weight", "hist/grad/0.weight", "hist/param/2.weight"} <= tags
    steps = [e.step for e in events.Histograms("hist/grad/0.weight")]
    assert steps == [0, 3, 6, 9]
    histogram = events.Histograms("hist/param/0.bias")[1].histogram_value  # step 3
    bias = record.before[3]["0.bias"]
    assert histogram.num == 8
    assert histogram.sum == pytest.approx(float(bias.sum()), rel=1e-5)
    assert histogram.min == pytest.approx(float(bias.min()))


def test_a_flush_every_far_above_the_runs_steps_keeps_a_buffer_of_the_runs_length(tmp_path):
    # 10**12 rows of 9 norms and ratios would be 36 TB: the buffer holds the run's 10 steps
    monitor = GradientMonitor(flush_every=10**12, hist_every=0)
    fit(tmp_path, mlp(), monitor, max_steps=10, val_check_interval=5)
    assert [s for s, _ in scalars(tmp_path)["grad_norm/total"]] == list(range(10))
