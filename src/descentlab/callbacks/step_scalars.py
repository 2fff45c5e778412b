"""Every optimizer step's loss, learning rate, scalar weights and their gradients, in TensorBoard.

Tags, at step k (the k-th optimizer step, from 0):
  train/loss      L at the weights of step k (mean over micro-batches when accumulating)
  lr              the learning rate step k used
  param/<name>    the weight before step k's update: w[k]
  grad/<name>     dL/dw as step k's optimizer used it: after backward and accumulation
so that, for plain SGD, w[k+1] = w[k] − lr[k]·grad[k] holds on the logged series. A frozen
parameter (requires_grad=False) has no gradient, so it gets param/<name> and no grad/<name>; one
that a step's loss does not depend on (a user's model that leaves it out of forward) has no
gradient there either (.grad is None, and the optimizer skips it), and no grad/<name> point.

Values are copied into a buffer on the model's device each step (no host sync) and written to
TensorBoard every `flush_every` steps with one transfer. Non-finite values (a diverging run's
last steps) are not written.
"""

import math
from typing import Any

import lightning as L
import torch
from torch.optim import Optimizer

from descentlab.callbacks.buffer import BufferedCallback, StepBuffer, rows


class StepScalars(BufferedCallback):
    def __init__(self, flush_every: int) -> None:
        self.flush_every = flush_every

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.logger is None:
            raise ValueError("callbacks.step_scalars writes to TensorBoard and needs a logger")
        scalars = [(n.removeprefix("model."), p) for n, p in pl_module.named_parameters()]
        scalars = [(name, p) for name, p in scalars if p.numel() == 1]
        self.params = [p for _, p in scalars]
        self.trainable = [p for p in self.params if p.requires_grad]
        # columns, in this order: train/loss, lr, param/<name>…, grad/<trainable name>…
        tags = ["train/loss", "lr"] + [f"param/{name}" for name, _ in scalars]
        tags += [f"grad/{name}" for name, p in scalars if p.requires_grad]
        device = pl_module.device
        self.buffer = StepBuffer(tags, rows(self.flush_every, trainer), device, trainer.global_step)
        self.none = torch.full((), math.nan, device=device)  # no .grad: not written
        self.loss = torch.zeros((), device=device)
        self.stepped = False

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        row, n = self.buffer.row, len(self.params)
        row[1] = optimizer.param_groups[0]["lr"]  # lr[k]
        if n:
            torch.stack([p.detach().reshape(()) for p in self.params], out=row[2 : 2 + n])  # w[k]
        if self.trainable:
            grads = [self.none if p.grad is None else p.grad.reshape(()) for p in self.trainable]
            torch.stack(grads, out=row[2 + n :])  # dL/dw[k]
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
        self.buffer.row[0] = self.loss  # L[k]
        self.loss.zero_()
        self.stepped = False
        if self.buffer.advance():
            self.buffer.flush(trainer.logger.experiment)
