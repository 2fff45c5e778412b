"""The console progress bar."""

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """Rich progress bar that counts steps: a run here is one long epoch, bounded by max_steps,
    and has its own dir rather than a version number (`v_num`)."""

    def _get_train_description(self, current_epoch: int) -> str:
        return "steps"

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics
