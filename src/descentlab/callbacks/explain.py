"""`explain=K`: the first K steps as a table, the direct answer to "why does .grad look
unrelated to w?": the gradient is the slope of the loss at w, and the step is lr times it.

The step's columns follow the optimizer, so that each row's new w = w − step checks out:
  plain SGD        lr·dL/dw
  momentum μ       v, lr·v             v ← μ·v + dL/dw (PyTorch's momentum buffer)
  others (Adam)    lr·dL/dw, w − new w  the step the optimizer made of its own, beside SGD's
"""

import math
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import Callback
from rich import box
from rich.table import Table
from torch.optim import Optimizer

from descentlab import theory
from descentlab.console import console
from descentlab.models.linear import Linear

COLUMNS = ("step", "w", "loss", "dL/dw autograd", "dL/dw formula", "lr")
STEP_COLUMNS = {0.0: ("lr·dL/dw",), None: ("lr·dL/dw", "w − new w")}  # momentum μ > 0: v, lr·v


class Explain(Callback):
    """Prints the first `steps` optimizer steps of the linear model (0: off). Reads values back
    to the host for those steps only. Off in sweeps, whose jobs may run side by side."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        # known here, in the job's process: ddp_spawn's workers have no Hydra config
        self.in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
        self.rows: list[dict[str, Any]] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.active = (
            self.steps > 0
            and not self.in_sweep
            and trainer.is_global_zero
            and isinstance(pl_module.model, Linear)
            and isinstance(pl_module.criterion, torch.nn.MSELoss)
        )
        self.title = theory.step_rule(trainer.optimizers[0]) if self.active else ""
        self.momentum = theory.heavy_ball(trainer.optimizers[0])  # None: the optimizer's own step
        self.rows = []
        self.batches: list[Any] = []  # the micro-batches of the step being taken
        self.loss = 0.0  # their losses, each divided by their number, as Lightning does
        self.stepped = False

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.active and len(self.rows) < self.steps:
            self.batches.append(batch)

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        if not self.active or len(self.rows) >= self.steps:
            return
        model, reduction = pl_module.model, pl_module.criterion.reduction
        w, b = model.w.item(), 0.0 if model.b is None else model.b.item()
        grad = None if model.w.grad is None else model.w.grad.item()
        # dL/dw = 2·mean(x·(w·x + b − y)) on each micro-batch, averaged as accumulation does;
        # in float64 on the host, which not every device has
        batches = [(x.cpu().double(), y.cpu().double()) for x, y in self.batches]
        formula = sum(theory.dL_dw(w, x, y, b, reduction) for x, y in batches) / len(batches)
        self.rows.append(
            {
                "step": trainer.global_step,
                "w": w,
                "dL/dw autograd": grad,  # None: w is frozen (requires_grad=False)
                "dL/dw formula": formula,
                "lr": optimizer.param_groups[0]["lr"],
            }
        )
        self.batches, self.stepped = [], True

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self.active or not (self.stepped or len(self.rows) < self.steps):
            return
        self.loss += float(outputs["loss"])
        if not self.stepped:  # a micro-batch that did not step
            return
        row = self.rows[-1]
        w = pl_module.model.w
        row["loss"], row["new w"] = self.loss, w.item()
        if self.momentum:  # v after this step: v ← μ·v + dL/dw (none while w is frozen)
            v = trainer.optimizers[0].state.get(w, {}).get("momentum_buffer")
            row["v"] = None if v is None else v.item()
        self.loss, self.stepped = 0.0, False
        if len(self.rows) == self.steps:
            self.print()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active and 0 < len(self.rows) < self.steps:
            self.print()

    def print(self) -> None:
        # no lines between the columns, and "dL/dw" above what gives it: the seed example's
        # table fits an 80-column terminal; in a narrower one a number folds onto a second
        # line of its cell rather than being cut. The title is a line of its own: a table's
        # title would wrap at the table's width.
        console.print(f"the first steps: {self.title}")
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 0, 0, 1),  # with the blank between columns: two spaces before a number
        )
        for column in (*COLUMNS, *STEP_COLUMNS.get(self.momentum, ("v", "lr·v")), "new w"):
            table.add_column(column.replace("dL/dw ", "dL/dw\n"), justify="right", overflow="fold")
        for row in self.rows:
            grad, new_w = row["dL/dw autograd"], row.get("new w", math.nan)
            cells = [
                str(row["step"]),
                f"{row['w']:.6g}",
                f"{row.get('loss', math.nan):.6g}",
                "frozen" if grad is None else f"{grad:.6g}",
                f"{row['dL/dw formula']:.6g}",
                f"{row['lr']:.4g}",
            ]
            if self.momentum:
                v = row.get("v")
                cells += ["frozen", "frozen"] if v is None else [f"{v:.6g}", f"{row['lr'] * v:.6g}"]
            else:
                cells.append("frozen" if grad is None else f"{row['lr'] * grad:.6g}")  # lr·dL/dw
                if self.momentum is None:
                    cells.append(f"{row['w'] - new_w:.6g}")  # the optimizer's own step
            table.add_row(*cells, f"{new_w:.6g}")
        console.print(table)
