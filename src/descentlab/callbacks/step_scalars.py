"""Every optimizer step's loss, learning rate, scalar weights and their gradients, in TensorBoard.

Tags, at step k (the k-th optimizer step, from 0):
  train/loss      L at the weights of step k (mean over micro-batches when accumulating)
  lr              the learning rate step k used
  param/<name>    the weight before step k's update: w[k]
  grad/<name>     dL/dw as step k's optimizer used it: after backward and accumulation
so that, for plain SGD, w[k+1] = w[k] − lr[k]·grad[k] holds on the logged series.

Values are copied into a buffer on the model's device each step (no host sync) and written to
TensorBoard every `flush_every` steps with one transfer.
"""

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch.optim import Optimizer


class StepScalars(Callback):
    def __init__(self, flush_every: int) -> None:
        self.flush_every = flush_every

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.logger is None:
            raise ValueError("callbacks.step_scalars needs a logger; set logger=tensorboard")
        named = [(n, p) for n, p in pl_module.named_parameters() if p.numel() == 1]
        self.names = [n.removeprefix("model.") for n, _ in named]
        self.params = [p for _, p in named]
        # columns: loss, then w[k] for each scalar, then dL/dw[k] for each scalar
        self.buffer = torch.zeros(self.flush_every, 1 + 2 * len(named), device=pl_module.device)
        self.no_grad = torch.zeros((), device=pl_module.device)
        self.first_step = trainer.global_step  # buffer row 0 is this step
        self.rows = 0
        self.lrs: list[float] = []
        self.stepped = False
        self.loss = torch.zeros((), device=pl_module.device)

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        n, row = len(self.params), self.buffer[self.rows]
        if n:
            torch.stack([p.detach().reshape(()) for p in self.params], out=row[1 : 1 + n])  # w[k]
            grads = [self.no_grad if p.grad is None else p.grad.reshape(()) for p in self.params]
            torch.stack(grads, out=row[1 + n :])  # dL/dw[k]
        self.lrs.append(optimizer.param_groups[0]["lr"])  # lr[k]
        self.stepped = True

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.loss += outputs["loss"]  # Lightning divides it by the accumulation count
        if not self.stepped:
            return
        self.buffer[self.rows, 0] = self.loss  # L[k]
        self.loss.zero_()
        self.rows, self.stepped = self.rows + 1, False
        if self.rows == self.flush_every:
            self.flush(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.flush(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if hasattr(self, "buffer"):
            self.flush(trainer)

    def flush(self, trainer: L.Trainer) -> None:
        rows = self.buffer[: self.rows].tolist()  # the one host sync per flush
        writer, n = trainer.logger.experiment, len(self.names)
        for i, (row, lr) in enumerate(zip(rows, self.lrs, strict=False)):
            step = self.first_step + i
            writer.add_scalar("train/loss", row[0], step)
            writer.add_scalar("lr", lr, step)
            for j, name in enumerate(self.names):
                writer.add_scalar(f"param/{name}", row[1 + j], step)
                writer.add_scalar(f"grad/{name}", row[1 + n + j], step)
        self.first_step += self.rows
        self.rows = 0
        self.lrs.clear()
