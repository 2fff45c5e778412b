"""One training run, top to bottom: check the config, build each piece from it, fit, report."""

import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate, to_absolute_path
from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from torch import nn

from descentlab.callbacks.divergence import Divergence, run_status, stopped
from descentlab.callbacks.hparams import HParams
from descentlab.console import print_settings, print_summary
from descentlab.errors import ConfigError, refused
from descentlab.init import freeze, initialize, symmetric
from descentlab.memory import keep_freed_memory
from descentlab.module import DescentModule
from descentlab.summary import (
    critical,
    curvature,
    diverged_line,
    final_metrics,
    optimum,
    summary_line,
)
from descentlab.validate import active_metrics, check_model, validate

log = logging.getLogger(__name__)

# Hydra's logging prints to the console and the run's log file. Lightning gives its loggers
# console handlers of their own when imported before Hydra's logging is set up (as the config
# check does), and stops them passing lines on: its lines would miss the log file.
for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
    logging.getLogger(name).handlers.clear()
    logging.getLogger(name).propagate = True


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit one run; returns its final metrics, status, steps, best val loss, curvature and its
    HParams row."""
    validate(cfg)
    keep_freed_memory()  # each step reuses what the last one freed, rather than fresh pages
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    L.seed_everything(cfg.seed, workers=True, verbose=False)

    try:  # a constructor that refuses its arguments ends in one line naming the key
        data = instantiate(cfg.data)
        model = instantiate(cfg.model)
        if not isinstance(model, nn.Module):  # a function or class of a user's that is not one
            raise ConfigError(
                f"model._target_={cfg.model._target_}: built a {type(model).__name__}, "
                "not a torch.nn.Module"
            )
        if cfg.get("init"):  # init=none keeps the module's own initialisation
            initialize(model, instantiate(cfg.init))
            if same := symmetric(model):  # the seed example's init=constant, on an MLP
                log.warning(
                    "init=%s made every value of %s equal: the units of such a layer get "
                    "equal gradients and never come apart; init=none keeps the module's own "
                    "initialisation",
                    HydraConfig.get().runtime.choices.get("init"),
                    ", ".join(same),
                )
        freeze(model, cfg.freeze)
        module = DescentModule(
            model=model,
            criterion=instantiate(cfg.criterion),
            optimizer=instantiate(cfg.optimizer, _convert_="all"),
            scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
            metrics={name: instantiate(metric) for name, metric in active_metrics(cfg).items()},
        )
        logger = instantiate(cfg.logger) if cfg.get("logger") else False
        callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values() if c is not None]
        trainer = instantiate(
            cfg.trainer,
            logger=logger,
            callbacks=callbacks,
            # callbacks.checkpoint=null, callbacks.progress_bar=null: none, not Lightning's own
            enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
            enable_progress_bar=any(isinstance(c, ProgressBar) for c in callbacks),
        )
    except InstantiationException as error:
        raise refused(error, cfg) from error
    check_model(cfg, module, data)

    if rank_zero_only.rank == 0:
        print_settings(cfg, run_dir)
    # a relative ckpt_path is from where the command was typed, also with hydra.job.chdir=true
    ckpt_path = to_absolute_path(cfg.ckpt_path) if cfg.ckpt_path else None
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    stop = stopped(trainer)  # read before test(), which replaces the metrics it is read from
    tested = {}
    if stop is None and getattr(data, "x_test", None) is not None:
        trainer.test(module, datamodule=data, verbose=False)  # test/loss, test/<metric>
        tested = {
            name.removeprefix("test/"): float(value)
            for name, value in trainer.callback_metrics.items()
            if name.startswith("test/") and name != "test/loss"
        }
    if not trainer.is_global_zero:
        return {}

    # the HParams table's, where it computed them in this process (not in ddp_spawn's workers):
    # the same weights, and a pass over the data sets less
    table = next((c for c in trainer.callbacks if isinstance(c, HParams)), None)
    metrics = table.metrics if table and table.metrics else final_metrics(module, data)
    final: dict[str, Any] = {
        **metrics,
        "status": run_status(trainer, metrics["final/train_loss"]),
        "steps": int(module.steps),  # = trainer.global_step, also after ddp_spawn
        "best_val_loss": float(module.best_val_loss),
        "h": curvature(module, data),  # the theory's curvature, where it applies
    }
    # the HParams table's row, for a sweep's summary to write the columns of all its jobs
    final["hparams"] = None if table is None else table.row(str(final["status"]))
    line = summary_line(final, optimum(module, data), int(module.steps), tested)
    if stop is None and final["status"] == "diverged":  # callbacks.divergence=null: no stop
        line = f"diverged (the loss at the final weights is not finite): {line}"
    if stop is not None:
        step, loss, lr = stop
        factor = next(c.factor for c in trainer.callbacks if isinstance(c, Divergence))
        # ddp_spawn's main process holds no optimizer: build one as its workers did
        optimizer = (
            trainer.optimizers[0] if trainer.optimizers else module.optimizer(module.parameters())
        )
        line = diverged_line(step, loss, factor, lr, critical(module, data, optimizer))
    # trainer.fast_dev_run swaps the logger for a stand-in that writes nothing
    logged = logger and not trainer.fast_dev_run
    print_summary(line, Path(logger.log_dir).absolute() if logged else None)
    return final
