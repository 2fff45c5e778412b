"""Divergence is a result, not a crash: stop the run where the loss blows up, and say so."""

import math
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from torch.optim import Optimizer


class Divergence(Callback):
    """Stops training at the first optimizer step whose loss (summed over its micro-batches, as
    `train/loss`) is non-finite or above `factor` × the loss of the run's first step, and records
    that step, its loss and lr (read them with `stopped`).

    Reading the loss costs one host sync per step (free on the CPU); it is what lets the run
    stop at the step it diverged rather than some steps later.
    """

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.bound = math.inf  # factor × the first finite loss

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.bound = math.inf
        self.loss = 0.0  # the step's loss: its micro-batches', each divided by their number
        self.stepped = False

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        self.stepped = True

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.loss += float(outputs["loss"])  # Lightning divides it by the accumulation count
        if not self.stepped:  # a micro-batch that did not step
            return
        loss, self.loss, self.stepped = self.loss, 0.0, False
        if self.bound == math.inf and math.isfinite(loss):
            self.bound = self.factor * loss
        if not math.isfinite(loss) or loss > self.bound:
            trainer.should_stop = True
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            # also as callback metrics: what ddp_spawn carries back from its worker processes,
            # where this callback runs, to the main process that reports the run
            stop = {
                "divergence/step": float(trainer.global_step - 1),  # the step just taken
                "divergence/loss": loss,
                "divergence/lr": lr,
            }
            pl_module.log_dict(stop, logger=False)


def stopped(trainer: L.Trainer) -> tuple[int, float, float] | None:
    """(step, loss, lr) where a Divergence callback stopped the run, else None; read from the
    trainer's callback metrics, so also in the main process of a ddp_spawn run."""
    metrics = trainer.callback_metrics
    if "divergence/step" not in metrics:
        return None
    step, loss, lr = (metrics[f"divergence/{k}"] for k in ("step", "loss", "lr"))
    return int(step), float(loss), float(lr)


def run_status(trainer: L.Trainer, final_loss: float) -> str:
    """ "diverged" if a Divergence callback stopped the run, or if the loss at the final weights
    is not finite (a run with `callbacks.divergence=null` goes on to its last step), else "ok"."""
    return "diverged" if stopped(trainer) or not math.isfinite(final_loss) else "ok"
