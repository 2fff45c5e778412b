"""What differs on a GPU, checked against the same run on the CPU; skipped without a GPU."""

import json
import math
import sys
from functools import partial

import lightning as L
import pytest
import torch

from conftest import sweep
from descentlab import surface
from descentlab.callbacks.divergence import Divergence, stopped
from descentlab.data.batches import Batches
from descentlab.data.linear import LinearData
from descentlab.init import constant, initialize
from descentlab.models.linear import Linear
from descentlab.module import DescentModule

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU is visible")


def test_mini_batches_on_a_gpu_are_those_drawn_on_the_cpu():
    """The permutation is drawn on the host either way and copied over from pinned memory."""
    x = torch.arange(1000.0).unsqueeze(1)
    on_cpu = list(Batches(x, x, batch_size=96, steps=25, seed=3, start=2))
    on_gpu = list(Batches(x.to(0), x.to(0), batch_size=96, steps=25, seed=3, start=2))
    assert all(g.is_cuda for g, _ in on_gpu)
    assert all(torch.equal(c, g.cpu()) for (c, _), (g, _) in zip(on_cpu, on_gpu, strict=True))


def fit(accelerator: str, lr: float, max_steps: int, factor: float) -> L.Trainer:
    data = LinearData(3.0, 0.0, 64, 0.1, "normal", 1.0, 0.25, 16, seed=0)
    model = Linear(bias=False)
    initialize(model, partial(constant, value=1.0))
    trainer = L.Trainer(
        max_steps=max_steps,
        val_check_interval=1,
        logger=False,
        callbacks=[Divergence(factor=factor)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator=accelerator,
        devices=1,
    )
    module = DescentModule(model, torch.nn.MSELoss(), partial(torch.optim.SGD, lr=lr))
    trainer.fit(module, datamodule=data)
    return trainer


@pytest.mark.parametrize("factor", [math.inf, 1e6])  # a non-finite loss; a loss past a bound
def test_a_gpu_run_stops_at_the_step_a_cpu_run_stops(factor):
    cpu = fit("cpu", lr=5.0, max_steps=200, factor=factor)
    gpu = fit("gpu", lr=5.0, max_steps=200, factor=factor)
    step, loss, lr = stopped(cpu)
    assert cpu.global_step == gpu.global_step == step + 1 < 200
    assert stopped(gpu)[0] == step and stopped(gpu)[2] == lr
    assert math.isfinite(stopped(gpu)[1]) == math.isfinite(loss)


def test_the_w_b_contour_of_a_gpu_run_is_drawn_from_its_path():
    """The path comes from the host and the losses from the GPU."""
    x = torch.linspace(-2, 2, 64).unsqueeze(1)
    model = torch.nn.Linear(1, 1)
    path = torch.tensor([[1.0, 0.0], [2.5, 0.5]])
    on_cpu = surface.contour(model, torch.nn.MSELoss(), x, 3 * x, ("weight", "bias"), path, (3, 0))
    model, x = model.to(0), x.to(0)
    for where in (path, path.to(0)):
        on_gpu = surface.contour(
            model, torch.nn.MSELoss(), x, 3 * x, ("weight", "bias"), where, (3, 0)
        )
        assert torch.allclose(on_gpu.loss, on_cpu.loss, rtol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="the fork server runs on Linux only")
def test_joblib_workers_forked_from_the_server_train_on_the_gpu(tmp_path):
    """The server imported torch and Lightning without touching CUDA: its workers can use it
    (two workers, which share the GPU where there is one)."""
    out = tmp_path / "sweep"
    overrides = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "trainer=gpu", "seed=0,1"]
    proc = sweep(tmp_path, *overrides, "trainer.max_steps=20", f"hydra.sweep.dir={out}")
    assert proc.returncode == 0, proc.stderr
    for job in "01":
        assert json.loads((out / job / "results.json").read_text())["status"] == "ok"
