"""TensorBoard's HParams table: the run's settings next to its real final metrics."""

from collections.abc import Mapping
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from lightning.pytorch.callbacks import Callback

from descentlab.callbacks.divergence import run_status
from descentlab.summary import final_metrics


class HParams(Callback):
    """At the end of training, writes `params`, every key set on the command line and the run's
    `status` (ok or diverged), with the final metrics (`final/train_loss`, `final/val_loss`,
    `final/val_r2`, `final/<scalar>`).

    Written once, at the end, so the table never shows a placeholder such as hp_metric = -1.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise ValueError(
                f"callbacks.hparams.params={params}: must be a mapping of column → value"
            )
        # read here, where Hydra runs the job: ddp_spawn's worker processes, which write the
        # table, have no Hydra config to read them from
        self.params = {**params, **command_line()}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.logger is None:
            raise ValueError("callbacks.hparams needs a logger; set logger=tensorboard")
        metrics = final_metrics(pl_module, trainer.datamodule)
        params = {**self.params, "status": run_status(trainer, metrics["final/train_loss"])}
        trainer.logger.log_hyperparams(params, metrics=metrics, step=trainer.global_step)


def command_line() -> dict[str, Any]:
    """key → value for each `key=value` override of this run, typed as Hydra parsed it
    (numbers stay numbers, so the table can sort and plot them)."""
    if not HydraConfig.initialized():
        return {}
    overrides = OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task))
    values = {}
    for override in overrides:
        if override.is_delete():
            continue
        value = override.value()
        if value is None:  # as it was typed: the table takes no None, and str() gives "None"
            value = "null"
        values[override.key_or_group] = (
            value if isinstance(value, int | float | str | bool) else str(value)
        )
    return values
