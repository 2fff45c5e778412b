"""Learning-rate schedulers for the `scheduler` config group, in the dict Lightning expects."""

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau


def plateau(
    optimizer: Optimizer,
    monitor: str,
    interval: str,
    frequency: int,
    mode: str,
    factor: float,
    patience: int,
    threshold: float,
    threshold_mode: str,
    cooldown: int,
    min_lr: float,
) -> dict[str, Any]:
    """ReduceLROnPlateau plus the keys Lightning needs to step it: what it watches and when.

    `strict` is off because Lightning, resuming from a checkpoint saved at the end of a run,
    replays that last step's plateau update before any metric exists; skipping it is what keeps a
    resumed run identical to an uninterrupted one. The config check makes sure `monitor` is a
    metric the module logs, so nothing else can make it missing.
    """
    scheduler = ReduceLROnPlateau(
        optimizer,
        mode=mode,
        factor=factor,
        patience=patience,
        threshold=threshold,
        threshold_mode=threshold_mode,
        cooldown=cooldown,
        min_lr=min_lr,
    )
    return {
        "scheduler": scheduler,
        "monitor": monitor,
        "interval": interval,
        "frequency": frequency,
        "strict": False,
    }
