"""Checks the composed config before anything is built.

Each problem becomes one `ConfigError` that names the key and what it allows, so a typo costs
one line on the console instead of a traceback halfway through training.
"""

import importlib
import importlib.util
import inspect
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from descentlab.errors import ConfigError

REQUIRED = ("model", "criterion", "optimizer", "data", "trainer")
META_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}
UNSET = object()


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def one_of(*options: Any) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in options), "one of " + ", ".join(map(str, options))


# key → (test, what is allowed). A key the composed config does not have is not checked:
# other models and data modules bring other keys.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (lambda v: is_int(v) and 0 <= v < 2**32, "an integer in [0, 2**32)"),
    "optimizer.lr": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "optimizer.momentum": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "optimizer.weight_decay": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "scheduler.mode": one_of("min", "max"),
    "scheduler.factor": (lambda v: is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "scheduler.patience": (lambda v: is_int(v) and v >= 0, "an integer ≥ 0"),
    "scheduler.interval": one_of("step", "epoch"),
    "scheduler.frequency": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "init.value": (is_number, "a number"),
    "init.std": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "model.activation": one_of("relu", "tanh", "gelu", "silu", "sigmoid"),
    "data.n": (
        lambda v: is_int(v) and v >= 2,
        "an integer ≥ 2 (≥ 1 sample each for training and validation)",
    ),
    "data.noise": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (the noise's std)"),
    "data.x_dist": one_of("normal", "uniform"),
    "data.x_scale": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "data.val_fraction": (lambda v: is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "data.batch_size": (
        lambda v: v is None or (is_int(v) and v >= 1),
        "null (full batch) or an integer ≥ 1",
    ),
    "trainer.max_steps": (lambda v: is_int(v) and v >= -1, "an integer ≥ -1 (-1: no step limit)"),
    "trainer.val_check_interval": (
        lambda v: (is_int(v) and v >= 1) or (is_number(v) and 0 < v <= 1),
        "an integer ≥ 1 (steps) or a fraction of an epoch in (0, 1]",
    ),
    "explain": (lambda v: is_int(v) and v >= 0, "an integer ≥ 0 (0: off)"),
    "callbacks.divergence.factor": (lambda v: is_number(v) and v > 1, "a number > 1"),
    "callbacks.theory.steps": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "callbacks.gradients.flush_every": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "callbacks.gradients.hist_every": (lambda v: is_int(v) and v >= 0, "an integer ≥ 0 (0: none)"),
    "callbacks.surface.points": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "callbacks.surface.snapshots": (lambda v: is_int(v) and v >= 2, "an integer ≥ 2"),
    "callbacks.surface.resolution": (lambda v: is_int(v) and v >= 3, "an integer ≥ 3"),
    "callbacks.surface.max_samples": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "callbacks.surface.every_n_steps": (
        lambda v: is_int(v) and v >= 0,
        "an integer ≥ 0 (0: at the end)",
    ),
    "callbacks.step_scalars.flush_every": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "logger.max_queue": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "callbacks.progress_bar.refresh_rate": (
        lambda v: is_int(v) and v >= 0,
        "an integer ≥ 0 (redraws a second; 0: no bar)",
    ),
}


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first problem found in `cfg`."""
    for key in REQUIRED:
        if not cfg.get(key):
            raise ConfigError(f"{key}: required; choose one of its config group's options")
    for key, (ok, allowed) in RULES.items():
        value = OmegaConf.select(cfg, key, default=UNSET)
        if value is not UNSET and not ok(value):
            raise ConfigError(f"{key}={value}: must be {allowed}")
    check_relations(cfg)
    for path, node in targets(OmegaConf.to_container(cfg, resolve=False)):
        check_arguments(path, node)
    check_checkpoint(cfg)
    check_freeze(cfg)


def check_relations(cfg: DictConfig) -> None:
    """Rules that tie two keys together."""
    max_steps = OmegaConf.select(cfg, "trainer.max_steps")
    every = OmegaConf.select(cfg, "trainer.val_check_interval")
    if is_int(every) and is_int(max_steps) and max_steps > 0 and every > max_steps:
        raise ConfigError(
            f"trainer.val_check_interval={every}: must be ≤ trainer.max_steps={max_steps} "
            "(validation runs every that many steps)"
        )
    features = OmegaConf.select(cfg, "data.in_features")
    if OmegaConf.select(
        cfg, "model._target_"
    ) == "descentlab.models.linear.Linear" and features not in (None, 1):
        raise ConfigError(
            f"model=linear: f(x) = w·x takes one input and this data has "
            f"data.in_features={features}; choose model=mlp or model=cnn"
        )
    monitor = OmegaConf.select(cfg, "scheduler.monitor")
    logged = ["val/loss"] + [f"val/{name}" for name in (cfg.get("metrics") or {})]
    if monitor is not None and monitor not in logged:
        raise ConfigError(f"scheduler.monitor={monitor}: must be one of {', '.join(logged)}")
    frequency = OmegaConf.select(cfg, "scheduler.frequency")
    interval = OmegaConf.select(cfg, "scheduler.interval")
    if interval == "step" and is_int(every) and is_int(frequency) and frequency % every:
        raise ConfigError(
            f"scheduler.frequency={frequency}: must be a multiple of "
            f"trainer.val_check_interval={every}, so the scheduler sees a fresh validation"
        )
    if not cfg.get("logger"):
        for name in ("step_scalars", "hparams", "gradients"):
            if OmegaConf.select(cfg, f"callbacks.{name}"):
                raise ConfigError(
                    f"callbacks.{name}: writes to TensorBoard and needs a logger; "
                    f"set logger=tensorboard or callbacks.{name}=null"
                )
    accelerator = OmegaConf.select(cfg, "trainer.accelerator")
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.accelerator={accelerator}: no GPU is visible here; use cpu or auto"
            )
    a, b = OmegaConf.select(cfg, "init.a"), OmegaConf.select(cfg, "init.b")
    if is_number(a) and is_number(b) and not a < b:
        raise ConfigError(f"init.a={a}, init.b={b}: must satisfy init.a < init.b")


def check_checkpoint(cfg: DictConfig) -> None:
    """A resumed run needs the checkpoint, and steps left to run after it."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None:
        return
    if not Path(ckpt_path).is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path}: no such file; give a run's checkpoints/last.ckpt"
        )
    import torch

    try:
        step = torch.load(ckpt_path, map_location="cpu", weights_only=False, mmap=True)[
            "global_step"
        ]
    except Exception as error:
        raise ConfigError(f"ckpt_path={ckpt_path}: not a Lightning checkpoint ({error})") from None
    max_steps = OmegaConf.select(cfg, "trainer.max_steps")
    every = OmegaConf.select(cfg, "trainer.val_check_interval")
    if is_int(max_steps) and max_steps > 0 and is_int(every) and max_steps - step < every:
        raise ConfigError(
            f"trainer.max_steps={max_steps}: the checkpoint is at step {step}; must be at least "
            f"{step + every} (its step plus trainer.val_check_interval={every})"
        )


def check_freeze(cfg: DictConfig) -> None:
    """`freeze` names parameters of the model: build it (cheap, no data) to know them."""
    names = cfg.get("freeze") or []
    if not names:
        return
    if not OmegaConf.is_list(names) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"freeze={names}: must be a list of parameter names, e.g. freeze=[b]")
    from hydra.utils import instantiate

    known = [name for name, _ in instantiate(cfg.model).named_parameters()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ConfigError(
            f"freeze={list(names)}: the model has no parameter {', '.join(unknown)}; "
            f"it has {', '.join(known)}"
        )
    if set(known) <= set(names):
        raise ConfigError(f"freeze={list(names)}: that is every parameter; nothing would train")


def targets(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every (dotted key, node) below `node` that names a `_target_` to build."""
    if not isinstance(node, dict):
        return
    if "_target_" in node:
        yield path, node
    for key, child in node.items():
        if key != "hydra" and isinstance(child, dict):
            yield from targets(child, f"{path}.{key}" if path else str(key))
    if path == "callbacks":
        for key, child in node.items():
            if child is not None and not (isinstance(child, dict) and "_target_" in child):
                raise ConfigError(f"callbacks.{key}: needs a _target_ (or null to turn it off)")


def check_arguments(path: str, node: dict) -> None:
    """Every key of a node must be an argument of what its `_target_` builds."""
    target = node["_target_"]
    module_name, _, name = target.rpartition(".")
    try:
        built = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigError(f"{path}._target_={target}: cannot import it ({error})") from None
    try:
        parameters = inspect.signature(built).parameters.values()
    except (TypeError, ValueError):  # no introspectable signature: leave it to the constructor
        return
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return
    allowed = [p.name for p in parameters if p.kind is not p.VAR_POSITIONAL]
    for key in node:
        if key not in META_KEYS and key not in allowed:
            raise ConfigError(
                f"{path}.{key}: not an argument of {target}; allowed: {', '.join(allowed)}"
            )


# The Hydra plugins a sweep may pick (hydra/launcher=…, hydra/sweeper=…) and the extra of this
# project that installs each: pyproject.toml's [project.optional-dependencies]
PLUGIN_EXTRAS = {
    "joblib": "joblib",
    "submitit_local": "submitit",
    "submitit_slurm": "submitit",
    "ray": "ray",
    "optuna": "optuna",
}


def check_plugins(cfg: DictConfig) -> None:
    """A sweep's launcher and sweeper are Hydra plugins: one that is not installed would end in
    Hydra's traceback ("Unknown plugin class") once the sweep starts."""
    for group in ("launcher", "sweeper"):
        module = cfg.hydra[group]._target_.rpartition(".")[0]
        try:
            installed = importlib.util.find_spec(module) is not None
        except ImportError:  # a package above it is missing
            installed = False
        if not installed:
            raise plugin_missing(f"hydra/{group}", cfg.hydra.runtime.choices[f"hydra/{group}"])


def plugin_missing(group: str, choice: str) -> ConfigError:
    extra = PLUGIN_EXTRAS.get(choice)
    fix = f'pip install -e ".[{extra}]"' if extra else "install its Hydra plugin"
    return ConfigError(f"{group}={choice}: its plugin is not installed; {fix}")


def check_fresh_run_dir(run_dir: Path) -> None:
    """A run never writes into a dir another run wrote: nothing a user produced is overwritten.

    Lightning's DDP re-launches ranks > 0 into rank 0's run dir on purpose; those pass.
    """
    if int(os.environ.get("LOCAL_RANK", "0")) > 0:
        return
    if (run_dir / ".hydra").exists() or (run_dir / "checkpoints").exists():
        raise ConfigError(
            f"hydra.run.dir={run_dir}: already holds a run; choose a new dir "
            "(runs are never overwritten)"
        )
