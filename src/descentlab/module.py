"""The LightningModule: what is trained (model, loss) and how (optimizer, scheduler).

Where the gradient lives, step by step:
  1. `training_step` returns the loss L.
  2. Lightning calls `L.backward()`: autograd writes dL/dw into `w.grad` for every parameter
     with `requires_grad=True` (all `nn.Parameter`s, unless frozen).
  3. `optimizer.step()` applies it: for SGD, w ← w − lr·w.grad.
The per-step views of w, dL/dw and lr are callbacks (`descentlab.callbacks`), not code here.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn
from torchmetrics import MeanMetric, Metric, MetricCollection

from descentlab.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]


class DescentModule(L.LightningModule):
    def __init__(
        self,
        model: nn.Module,
        criterion: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[[torch.optim.Optimizer], dict[str, Any]] | None = None,
        metrics: dict[str, Metric] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.criterion = criterion
        self.optimizer = optimizer  # partial: still needs the parameters
        self.scheduler = scheduler  # partial: still needs the optimizer
        # torchmetrics from the `metrics` config group, logged as val/<name> and test/<name>
        self.val_metrics = MetricCollection(metrics or {}, prefix="val/")
        # val/loss: the mean of L over the validation set; nan kept (a diverged run's loss)
        self.val_loss = MeanMetric(nan_strategy="disable")
        self.test_metrics = self.val_metrics.clone(prefix="test/")
        # kept in checkpoints, and carried back from ddp_spawn's worker processes with the weights
        self.register_buffer("best_val_loss", torch.tensor(float("inf")))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # optimizer steps taken

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y_hat = self.model(x)
        if not isinstance(y_hat, torch.Tensor):  # a user's model returning (y_hat, extras)
            raise ConfigError(
                f"model: its forward returned a {type(y_hat).__name__}; the criterion and the "
                "metrics take the prediction as one tensor: return that alone"
            )
        return y_hat

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return self.criterion(self(x), y)  # L; Lightning runs L.backward() and the step

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        x, y = batch
        y_hat = self(x)
        # L once per sample, so that batches weigh by their size (`weight=` is dropped when nan
        # is kept, in torchmetrics 1.9)
        self.val_loss.update(self.criterion(y_hat, y).expand(len(y)))
        self.val_metrics.update(y_hat, y)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        x, y = batch
        y_hat = self(x)
        self.log("test/loss", self.criterion(y_hat, y), sync_dist=True)
        self.test_metrics.update(y_hat, y)
        self.log_dict(self.test_metrics)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.steps.add_(1)  # in place: no module attribute set on the hot path

    def on_validation_batch_end(
        self, outputs: Any, batch: Batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        # after the last batch, so that callbacks' on_validation_epoch_end (which Lightning calls
        # before this module's) read this validation's values
        if batch_idx + 1 == self.trainer.num_val_batches[dataloader_idx]:
            self.report_validation()

    def on_validation_epoch_end(self) -> None:
        if self.val_loss.update_called:  # batches of unknown number: not reported yet
            self.report_validation()

    def report_validation(self) -> None:
        """Hands this validation's val/* over directly, not through `self.log`: it validates every
        few steps, and Lightning's bookkeeping of a logged value costs ~0.4 ms (the whole of the
        seed example's step costs 0.5). The test, once a run, uses `self.log`."""
        values = {"val/loss": self.val_loss.compute(), **self.val_metrics.compute()}
        self.val_loss.reset()
        self.val_metrics.reset()  # both synced across processes in compute
        for name, value in values.items():  # also in the sanity check: before training
            if value.numel() != 1:
                raise ConfigError(
                    f"metrics: {name} is {value.numel()} numbers, where a logged metric is one "
                    "(a per-class metric needs its average set)"
                )
        if self.trainer.sanity_checking:
            return  # Lightning keeps nothing of a sanity check's validation either
        if self.trainer.state.fn != TrainerFn.FITTING:
            # trainer.validate() returns what self.log gathers (synced already: no warning)
            self.log_dict(values, sync_dist=True)
            return
        # what the scheduler, ModelCheckpoint and EarlyStopping read (these may also watch the step)
        step = torch.tensor(float(self.global_step))
        self.trainer.callback_metrics.update(values, step=step)
        # x-axis of the val/* points: the number of updates made, so val/loss at step k and
        # param/w at step k describe the same weights; one host sync for all of them
        numbers = torch.stack([v.detach().reshape(()).float() for v in values.values()]).tolist()
        scalars = dict(zip(values, numbers, strict=True))
        self.trainer.progress_bar_metrics["val/loss"] = scalars["val/loss"]  # on the bar
        for logger in self.loggers:
            logger.log_metrics(scalars, step=self.global_step)
            logger.save()

    def on_validation_end(self) -> None:
        loss = self.trainer.callback_metrics.get("val/loss")  # this validation's, on the device
        if loss is not None:
            # fmin: a non-finite validation (a diverging run's last ones) leaves the best as it was
            self.best_val_loss = torch.fmin(self.best_val_loss, loss.to(self.device))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # where the random numbers stand (dropout draws them every step): a resumed run then
        # draws what the run would have drawn next
        checkpoint["rng_states"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_initialized():
            checkpoint["rng_states"]["cuda"] = torch.cuda.get_rng_state_all()
        # the settings the run was configured with: a resume restores the optimizer's and the
        # scheduler's state, settings included, so other settings would be silently ignored
        checkpoint["arguments"] = {
            group: dict(built.keywords)
            for group, built in (("optimizer", self.optimizer), ("scheduler", self.scheduler))
            if isinstance(built, partial)
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get("rng_states", {})
        if "torch" in states:
            torch.set_rng_state(states["torch"])
        if "cuda" in states and torch.cuda.device_count() == len(states["cuda"]):
            torch.cuda.set_rng_state_all(states["cuda"])

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning names the hook it is in before and after each hook it calls, ~50 times a
        # step; nn.Module's __setattr__ first looks for the name among the parameters, buffers
        # and submodules (1 µs each time, 6 % of the seed example's step). That name is a
        # plain attribute, a string or None.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer(self.parameters())
        if self.scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler(optimizer)}
