"""The gradient monitor: how large each parameter's gradient is, and how far each step moves it.

Tags, with <name> the parameter's own name in the model (`w`, `0.weight`, `encoder.bias`, …):
  grad_norm/<name>     ‖dL/dθ‖₂ of that parameter at step k, as the optimizer used it
  grad_norm/total      ‖dL/dθ‖₂ over all trainable parameters: √(Σ grad_norm²)
  update_ratio/<name>  ‖θ[k+1] − θ[k]‖ / ‖θ[k]‖: the step's size relative to the weights
                       (about 1e-3 is the classic healthy value; 1e-1 is jumping around);
                       θ[k] is the weights as the previous step ended, so a change made to them
                       between steps counts in the next step's update
  hist/param/<name>    histogram of the weights, every `hist_every` steps
  hist/grad/<name>     histogram of the gradients, every `hist_every` steps
Frozen parameters (requires_grad=False) have no gradient: they are left out and listed once
in the text `frozen`. A trainable one that a step's loss does not use has no .grad then (the
optimizer leaves it as it is): no grad_norm point and no gradient histogram at that step; its
update_ratio is the 0 it moved.

Norms are computed on the device without a host sync and written every `flush_every` steps
with one transfer; histograms copy to the host only on their own steps, and are binned in
linear time (`descentlab.histogram`).
"""

from typing import Any

import lightning as L
import torch
from torch.optim import Optimizer

from descentlab.callbacks.buffer import BufferedCallback, StepBuffer, rows
from descentlab.histogram import add_histogram

LARGE = 2**16  # values in a tensor from which a CPU takes √(t·t) rather than the fused norm


def norms(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """‖t‖₂ of each tensor: one fused call for all. A CPU runs that call as vector_norm per
    tensor, at twice the time of a dot product for a large one: there, each tensor of `LARGE`
    values or more is √(t·t), and the small ones (where a call costs more than its sum) share
    one fused call."""
    if tensors[0].is_cuda:
        return torch._foreach_norm(tensors)
    small = [t for t in tensors if t.numel() < LARGE]
    small_norms = iter(torch._foreach_norm(small) if small else [])
    return [
        torch.dot(t.reshape(-1), t.reshape(-1)).sqrt() if t.numel() >= LARGE else next(small_norms)
        for t in tensors
    ]


class GradientMonitor(BufferedCallback):
    def __init__(self, flush_every: int, hist_every: int) -> None:
        self.flush_every = flush_every
        self.hist_every = hist_every  # 0: no histograms

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.logger is None:
            raise ValueError("callbacks.gradients writes to TensorBoard and needs a logger")
        named = [(n.removeprefix("model."), p) for n, p in pl_module.named_parameters()]
        self.names = [n for n, p in named if p.requires_grad]
        self.params = [p for _, p in named if p.requires_grad]
        self.theta = [p.detach() for p in self.params]  # the weights, updated in place by steps
        frozen = [n for n, p in named if not p.requires_grad]
        if frozen:
            text = "requires_grad=False, no gradient: " + ", ".join(f"`{n}`" for n in frozen)
            trainer.logger.experiment.add_text("frozen", text, trainer.global_step)
        # columns, in this order: grad_norm/<name>…, grad_norm/total, update_ratio/<name>…
        tags = [f"grad_norm/{n}" for n in self.names] + ["grad_norm/total"]
        tags += [f"update_ratio/{n}" for n in self.names]
        self.buffer = StepBuffer(
            tags, rows(self.flush_every, trainer), pl_module.device, trainer.global_step
        )
        # θ[k] and ‖θ[k]‖ for the next step's ratio, taken as the previous step ends (or here),
        # while that step has θ in cache: taken before the step, θ must first be read back in
        self.before = [t.clone() for t in self.theta]
        self.weight = norms(self.before)
        self.stepped = False

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.params]
        n, row = len(self.params), self.buffer.row
        torch.stack(norms(grads), out=row[:n])  # ‖dL/dθ‖ per parameter
        torch.linalg.vector_norm(row[:n], out=row[n])  # ‖dL/dθ‖ over everything
        # no .grad (a parameter this step's loss does not use): no point, not a norm of 0
        unused = [i for i, p in enumerate(self.params) if p.grad is None]
        if unused:
            row[unused] = torch.nan
        self.stepped = True
        step = trainer.global_step
        if self.hist_every and step % self.hist_every == 0:
            writer = trainer.logger.experiment
            for name, p, g in zip(self.names, self.params, grads, strict=True):
                add_histogram(writer, f"hist/param/{name}", p, step)
                if p.grad is not None:
                    add_histogram(writer, f"hist/grad/{name}", g, step)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self.stepped:  # a micro-batch that did not step
            return
        torch._foreach_sub_(self.before, self.theta)  # θ[k] − θ[k+1]
        update = norms(self.before)  # ‖θ[k+1] − θ[k]‖
        ratio = torch._foreach_div(update, self.weight)  # ‖θ[k+1] − θ[k]‖ / ‖θ[k]‖
        torch.stack(ratio, out=self.buffer.row[len(self.params) + 1 :])
        torch._foreach_copy_(self.before, self.theta)  # θ[k+1], for the next step
        self.weight = norms(self.before)  # ‖θ[k+1]‖
        self.stepped = False
        if self.buffer.advance():
            self.buffer.flush(trainer.logger.experiment)
