"""What each config key allows: one rule per key, for the classes conf/ builds (descentlab's,
torch's and Lightning's).

A rule is a test and the words for what it allows; `check_value` turns a failed test into one
line naming the key (`optimizer.lr=-1: must be a number > 0`).
"""

import ast
import math
from collections.abc import Callable, Iterable
from pathlib import PurePath
from typing import Any

from omegaconf import DictConfig, OmegaConf

from descentlab.errors import ConfigError


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def is_list(v: Any) -> bool:
    """A list from a config, or one a sweep hands over (`model.widths=[16],[32,32]`)."""
    return OmegaConf.is_list(v) or isinstance(v, list)


def is_widths(v: Any) -> bool:
    return is_list(v) and len(v) > 0 and all(is_int(w) and w >= 1 for w in v)


def is_inside(v: Any) -> bool:
    """A relative path that stays below where it starts, or null (Lightning's default)."""
    return v is None or (
        isinstance(v, str) and not PurePath(v).is_absolute() and ".." not in PurePath(v).parts
    )


def is_pre_dispatch(v: Any) -> bool:
    """joblib's: all, or arithmetic in n_jobs (+ − × ÷, up to 30 characters) that comes to
    between 1 and a million, at n_jobs 1."""
    if v == "all":
        return True
    if len(str(v)) > 30:
        return False
    try:
        tree = ast.parse(str(v).replace("n_jobs", "1"), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant)
    operators = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.USub, ast.UAdd)
    for node in ast.walk(tree):
        if isinstance(node, ast.operator | ast.unaryop):
            if not isinstance(node, operators):
                return False
        elif not isinstance(node, allowed) or (
            isinstance(node, ast.Constant) and not is_number(node.value)
        ):
            return False
    try:
        return 1 <= eval(compile(tree, "pre_dispatch", "eval"), {"__builtins__": {}}) <= 1e6
    except (ArithmeticError, ValueError, RecursionError, MemoryError):
        return False


def one_of(*options: Any) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in options), "one of " + ", ".join(map(str, options))


def shown(value: Any) -> str:
    """A value as one would type it in an override: null, true, false, and quotes on a string
    that would otherwise read as a number or one of those ('0.1')."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str) and (value.lower() in ("null", "true", "false") or is_float(value)):
        return repr(value)
    return str(value)


def is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# key → (test, what is allowed). A key the composed config does not have is not checked:
# other models and data modules bring other keys.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (lambda v: is_int(v) and 0 <= v < 2**32, "an integer in [0, 2**32)"),
    # `${seed}` unless set apart: the data's draw, the surface's random directions
    "data.seed": (lambda v: is_int(v) and 0 <= v < 2**32, "an integer in [0, 2**32)"),
    "callbacks.surface.seed": (lambda v: is_int(v) and 0 <= v < 2**32, "an integer in [0, 2**32)"),
    "optimizer.lr": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "optimizer.momentum": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "optimizer.weight_decay": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "optimizer.dampening": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "optimizer.nesterov": (is_bool, "true or false"),
    "optimizer.betas": (
        lambda v: is_list(v) and len(v) == 2 and all(is_number(b) and 0 <= b < 1 for b in v),
        "two numbers in [0, 1), e.g. [0.9,0.999]",
    ),
    "optimizer.eps": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "optimizer.amsgrad": (is_bool, "true or false"),
    "optimizer.maximize": (is_bool, "true or false"),
    "optimizer.foreach": (lambda v: v is None or is_bool(v), "null, true or false"),
    "optimizer.fused": (lambda v: v is None or is_bool(v), "null, true or false"),
    "optimizer.capturable": (is_bool, "true or false"),
    "optimizer.differentiable": (is_bool, "true or false"),
    "criterion.reduction": one_of("mean", "sum"),
    "scheduler.mode": one_of("min", "max"),
    "scheduler.factor": (lambda v: is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "scheduler.patience": (lambda v: is_int(v) and v >= 0, "an integer ≥ 0"),
    "scheduler.interval": one_of("step", "epoch"),
    "scheduler.frequency": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "scheduler.threshold": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "scheduler.threshold_mode": one_of("rel", "abs"),
    "scheduler.cooldown": (lambda v: is_int(v) and v >= 0, "an integer ≥ 0"),
    "scheduler.min_lr": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "init.value": (is_number, "a number"),
    "init.std": (lambda v: is_number(v) and v >= 0, "a number ≥ 0"),
    "init.mean": (is_number, "a number"),
    "init.a": (is_number, "a number"),
    "init.b": (is_number, "a number"),
    "init.gain": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "init.mode": one_of("fan_in", "fan_out"),
    "init.nonlinearity": one_of(  # torch.nn.init.calculate_gain's
        *("linear", "conv1d", "conv2d", "conv3d"),
        *("conv_transpose1d", "conv_transpose2d", "conv_transpose3d"),
        *("sigmoid", "tanh", "relu", "leaky_relu", "selu"),
    ),
    "model.bias": (is_bool, "true or false"),
    "model.widths": (is_widths, "a non-empty list of integers ≥ 1, e.g. [256,256]"),
    "model.channels": (is_widths, "a non-empty list of integers ≥ 1, e.g. [16,32]"),
    # models.mlp.ACTIVATIONS' names, not imported from there: composing must not import torch
    "model.activation": one_of("relu", "tanh", "gelu", "silu", "sigmoid"),
    "data.n": (
        lambda v: is_int(v) and v >= 3,
        "an integer ≥ 3 (≥ 2 samples for validation, as data.val_fraction takes them, and ≥ 1 "
        "for training)",
    ),
    "data.noise": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (the noise's std)"),
    "data.w_true": (is_number, "a number"),
    "data.b_true": (is_number, "a number"),
    "data.x_dist": one_of("normal", "uniform"),
    "data.x_scale": (lambda v: is_number(v) and v > 0, "a number > 0"),
    "data.val_fraction": (lambda v: is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "data.test_fraction": (lambda v: is_number(v) and 0 < v < 1, "a number in (0, 1)"),
    "data.batch_size": (
        lambda v: v is None or (is_int(v) and v >= 1),
        "null (full batch) or an integer ≥ 1",
    ),
    # a run is one pass over `max_steps` batches: it needs a number of them
    "trainer.max_steps": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "trainer.val_check_interval": (
        lambda v: is_int(v) and v >= 1,
        "an integer ≥ 1 (steps between validations)",
    ),
    "trainer.deterministic": (lambda v: is_bool(v) or v == "warn", "true, false or warn"),
    "trainer.log_every_n_steps": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "trainer.num_sanity_val_steps": (lambda v: is_int(v) and v >= -1, "an integer ≥ -1"),
    "trainer.num_nodes": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "trainer.max_epochs": (
        lambda v: v is None or (is_int(v) and (v >= 1 or v == -1)),
        "null, -1 or an integer ≥ 1 (trainer.max_steps ends a run)",
    ),
    "trainer.accumulate_grad_batches": (
        lambda v: is_int(v) and v >= 1,
        "an integer ≥ 1 (batches whose gradients make one step)",
    ),
    "trainer.limit_train_batches": (
        lambda v: v is None or v == 1.0,
        "null or 1.0: a run is one epoch of trainer.max_steps batches; set that instead",
    ),
    "trainer.overfit_batches": (
        lambda v: is_number(v) and v == 0,
        "0: a run is one epoch of trainer.max_steps batches of the data; make the data smaller "
        "to overfit it",
    ),
    "trainer.limit_val_batches": (
        lambda v: v is None or (is_int(v) and v >= 0) or (is_number(v) and 0 <= v <= 1),
        "null, an integer ≥ 0 (batches) or a number in [0, 1] (a fraction)",
    ),
    "trainer.limit_test_batches": (
        lambda v: v is None or (is_int(v) and v >= 0) or (is_number(v) and 0 <= v <= 1),
        "null, an integer ≥ 0 (batches) or a number in [0, 1] (a fraction)",
    ),
    # the sweepers' and launchers' own (experiment=search's Optuna, joblib, submitit)
    "hydra.sweeper.direction": (
        lambda v: getattr(v, "name", v) in ("minimize", "maximize"),  # the plugin's enum too
        "minimize or maximize (a run returns one number: its final validation loss)",
    ),
    "hydra.sweeper.n_trials": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "hydra.sweeper.n_jobs": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1 (trials at once)"),
    "hydra.sweeper.max_failure_rate": (
        lambda v: is_number(v) and 0 <= v <= 1,
        "a number in [0, 1]",
    ),
    "hydra.sweeper.max_batch_size": (
        lambda v: v is None or (is_int(v) and v >= 1),
        "null or an integer ≥ 1 (jobs handed to the launcher at once)",
    ),
    "hydra.sweeper.sampler.seed": (
        lambda v: v is None or (is_int(v) and 0 <= v < 2**32),
        "null or an integer in [0, 2**32)",
    ),
    "hydra.launcher.batch_size": (  # text in the plugin's schema: '4'
        lambda v: v == "auto" or (str(v).isdigit() and int(v) >= 1),
        "auto or an integer ≥ 1 (jobs sent to a worker at a time)",
    ),
    "hydra.launcher.pre_dispatch": (  # text in the plugin's schema: '2*n_jobs'
        is_pre_dispatch,
        "all, or a number ≥ 1 of jobs queued for the workers at once, in n_jobs or not (2*n_jobs)",
    ),
    "hydra.launcher.prefer": (  # Hydra's joblib launcher names loky, so joblib ignores threads
        lambda v: v == "processes",
        "processes (Hydra's joblib launcher always runs jobs in loky's processes)",
    ),
    "hydra.launcher.backend": (  # Hydra's joblib launcher sets it to loky, whatever it says
        lambda v: v in (None, "loky"),
        "null or loky (Hydra's joblib launcher always runs jobs in loky's processes)",
    ),
    "hydra.launcher.timeout_min": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1 (minutes)"),
    "hydra.launcher.n_jobs": (
        lambda v: is_int(v) and v != 0,
        "an integer ≥ 1 (jobs at once), or -1 for one per core (-2: all but one, …)",
    ),
    "explain": (lambda v: is_int(v) and v >= 0, "an integer ≥ 0 (0: off)"),
    "callbacks.explain.steps": (lambda v: is_int(v) and v >= 0, "an integer ≥ 0 (0: off)"),
    "ckpt_path": (lambda v: v is None or isinstance(v, str), "null or a checkpoint's path"),
    "freeze": (
        lambda v: is_list(v) and all(isinstance(n, str) for n in v),
        "a list of parameter names, e.g. freeze=[b] ([]: none)",
    ),
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
    "logger.save_dir": (lambda v: isinstance(v, str) and v != "", "a dir's path"),
    # the event files go to save_dir/name/version: a name that climbs out of save_dir would
    # send them into another run's dir, unchecked
    "logger.name": (is_inside, "a name or relative path inside logger.save_dir (no ..)"),
    "logger.version": (
        lambda v: is_int(v) or is_inside(v),
        "an integer, or a name or relative path inside logger.save_dir (no ..)",
    ),
    "logger.max_queue": (lambda v: is_int(v) and v >= 1, "an integer ≥ 1"),
    "logger.save_every": (lambda v: is_number(v) and v >= 0, "a number ≥ 0 (seconds)"),
    # Lightning's TensorBoardLogger and its SummaryWriter, which take these too (+logger.…=)
    "logger.flush_secs": (lambda v: is_number(v) and v > 0, "a number > 0 (seconds)"),
    "logger.purge_step": (lambda v: v is None or (is_int(v) and v >= 0), "an integer ≥ 0 or null"),
    "logger.filename_suffix": (lambda v: isinstance(v, str), "a string"),
    "logger.prefix": (lambda v: isinstance(v, str), "a string"),
    "logger.log_graph": (is_bool, "true or false"),
    "logger.default_hp_metric": (is_bool, "true or false"),
    "callbacks.progress_bar.refresh_rate": (
        lambda v: is_int(v) and v >= 0,
        "an integer ≥ 0 (redraws a second; 0: no bar)",
    ),
}


def check_rules(cfg: DictConfig, keys: Iterable[str] = RULES) -> None:
    """RULES, for those of `keys` that `cfg` sets; one taken from another key
    (`scheduler.frequency: ${trainer.val_check_interval}`) is that key's to check."""
    nodes: dict[str, tuple[Any, set[str]]] = {}  # parent → its node and keys, looked up once
    for key in keys:
        parent, _, leaf = key.rpartition(".")
        if parent not in nodes:
            node = OmegaConf.select(cfg, parent) if parent else cfg
            nodes[parent] = (node, set(node.keys()) if OmegaConf.is_dict(node) else set())
        node, present = nodes[parent]
        if (
            leaf in present
            and not OmegaConf.is_missing(node, leaf)  # ???: for check_interpolations to name
            and not OmegaConf.is_interpolation(node, leaf)
        ):
            check_value(cfg, key, node[leaf])


# the constructors RULES describe
RULED = ("descentlab.", "torch.", "lightning.", "hydra_plugins.", "optuna.samplers.")


def check_value(cfg: DictConfig, key: str, value: Any) -> None:
    """`value` for `key` against its rule, unless the key belongs to a class of the user's own
    (`model=two_layer`): there `activation: elu` may mean something else, for its constructor
    to check."""
    parent = key.rpartition(".")[0]
    target = OmegaConf.select(cfg, f"{parent}._target_", default=None) if parent else None
    if key in RULES and (not isinstance(target, str) or target.startswith(RULED)):
        ok, allowed = RULES[key]
        if not ok(value):
            raise ConfigError(f"{key}={shown(value)}: must be {allowed}")
