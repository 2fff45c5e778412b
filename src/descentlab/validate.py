"""Checks the composed config before anything is built.

Each problem becomes one `ConfigError` that names the key and what it allows, so a typo costs
one line on the console instead of a traceback halfway through training. Each key's own range
is in `descentlab.rules`; here, what the keys need of each other, of the data, of a checkpoint
and of the disk.
"""

import importlib
import inspect
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from descentlab.errors import ConfigError
from descentlab.imports import import_lasting
from descentlab.rules import RULED, check_rules, is_int, is_number

REQUIRED = ("model", "criterion", "optimizer", "data", "trainer")
# conf/config.yaml's groups and keys: what `train` reads
TOP_LEVEL = (
    *("model", "criterion", "metrics", "optimizer", "scheduler", "init", "data", "trainer"),
    *("logger", "callbacks", "seed", "ckpt_path", "freeze", "explain", "hydra"),
)
# keys conf/ sets that the run reads; removing one (~seed) would end in a traceback
REQUIRED_VALUES = (
    *("seed", "ckpt_path", "freeze", "explain"),
    *("trainer.max_steps", "trainer.val_check_interval"),
)
META_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}
UNSET = object()


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for the first problem found in `cfg`."""
    check_groups(cfg)
    check_task(cfg)  # first: it names the mismatch that leaves an interpolation unresolved
    check_values(cfg)
    for path, node in targets(OmegaConf.to_container(cfg, resolve=False)):
        check_arguments(path, node)
    check_modes(cfg)
    check_checkpoint(cfg)
    check_freeze(cfg)
    check_outputs(cfg)


def check_job(cfg: DictConfig) -> None:
    """What a sweep checks of a job's config before it starts: all that `validate` checks
    without importing the classes the config names, so that torch and Lightning stay out of a
    launcher's main process. Constructor arguments, freeze names and what a checkpoint holds
    are checked as each job starts; that the checkpoint is there, here."""
    check_groups(cfg)
    check_values(cfg)
    checkpoint_file(cfg)
    check_outputs(cfg)


def check_values(cfg: DictConfig) -> None:
    """Every value resolves, within its key's rules, and fits the values it goes with."""
    check_interpolations(cfg)
    check_rules(cfg)
    check_relations(cfg)


def check_groups(cfg: DictConfig) -> None:
    """Each group the run builds is there and names what it builds; nothing is set that the run
    does not read, and nothing is removed that it does."""
    for key in REQUIRED:
        if not cfg.get(key):
            choices = ", ".join(f.stem for f in options(key))
            raise ConfigError(f"{key}: required; choose one of {choices} ({key}=<option>)")
    for key in (*REQUIRED, "scheduler", "init", "logger"):  # each builds one thing
        node = cfg.get(key)
        if node and not (OmegaConf.is_dict(node) and "_target_" in node):
            raise ConfigError(
                f"{key}: needs a _target_, the class it builds ({key}._target_=module.Class)"
            )
    check_top_level(cfg)
    for key in REQUIRED_VALUES:
        if OmegaConf.select(cfg, key, default=UNSET) is UNSET:
            raise ConfigError(f"{key}: required (conf/ sets it); set a value instead of ~{key}")


def check_top_level(cfg: DictConfig) -> None:
    """A key added at the top (+foo=1) that nothing reads would be silently ignored."""
    unread = [key for key in cfg if key not in TOP_LEVEL]
    if unread:
        raise ConfigError(
            f"{unread[0]}: nothing reads this key; the config has {', '.join(TOP_LEVEL)}"
        )


def check_interpolations(cfg: DictConfig) -> None:
    """A value taken from a key that is not there (`model=mlp`'s `${data.in_features}` with
    data=linear, or a key removed with ~) names both, instead of failing as the run builds.
    Resolvers (`${hydra:…}`) are theirs to fill when the run starts."""
    for path, value in leaves(OmegaConf.to_container(cfg, resolve=False)):
        for name in re.findall(r"\$\{(\w[\w.]*)\}", str(value)):  # not ${.relative} ones
            if OmegaConf.select(cfg, name, default=UNSET) is UNSET:
                group, _, key = name.partition(".")
                chosen = choice(cfg, group)
                having = options_with(group, key)
                if chosen in having:  # removed with ~
                    raise ConfigError(
                        f"{name}: required ({path} reads it); set a value instead of ~{name}"
                    )
                if having:
                    fix = "choose " + " or ".join(f"{group}={option}" for option in having)
                else:
                    fix = "choose options that go together"
                raise ConfigError(
                    f"{path}={value}: this config has no {name} (with {group}={chosen}); {fix}"
                )


def options(group: str) -> list[Path]:
    """The files of a config group's options in conf/."""
    from descentlab.cli import CONF_DIR

    return sorted((CONF_DIR / group).glob("*.yaml"))


def options_with(group: str, key: str) -> list[str]:
    """The options of a config group in conf/ whose file sets `key` (data=digits, nonlinear
    for in_features)."""
    return [
        f.stem
        for f in options(group)
        if key and OmegaConf.select(OmegaConf.load(f), key, default=UNSET) is not UNSET
    ]


def leaves(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every value below `node` but Hydra's own; a list counts as one."""
    if isinstance(node, dict):
        for key, child in node.items():
            if not (path == "" and key == "hydra"):
                yield from leaves(child, f"{path}.{key}" if path else str(key))
    else:
        yield path, node


SET_BY_GROUPS = {  # Trainer arguments train.py passes from config groups of their own
    "logger": "logger=tensorboard or ~logger",
    "callbacks": "the callbacks group: callbacks.<name>=null turns one off",
    "enable_checkpointing": "callbacks.checkpoint=null",
    "enable_progress_bar": "callbacks.progress_bar=null",
}


def active_metrics(cfg: DictConfig) -> dict[str, Any]:
    """The metrics group's entries; `metrics.<name>=null` leaves one out."""
    return {k: v for k, v in (cfg.get("metrics") or {}).items() if v is not None}


def check_relations(cfg: DictConfig) -> None:
    """Rules that tie two keys together."""
    for argument, instead in SET_BY_GROUPS.items():
        if OmegaConf.select(cfg, f"trainer.{argument}", default=UNSET) is not UNSET:
            raise ConfigError(f"trainer.{argument}: set from its own config group; use {instead}")
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
    sizes = {"model.in_features": "data.in_features", "model.out_features": "data.out_features"}
    metrics = active_metrics(cfg)
    sizes |= {f"metrics.{name}.num_classes": "data.out_features" for name in metrics}
    for key, data_key in sizes.items():  # conf/ makes them follow the data; set, they may not
        value, size = OmegaConf.select(cfg, key), OmegaConf.select(cfg, data_key)
        if is_int(value) and is_int(size) and value != size:
            raise ConfigError(
                f"{key}={value}: data={choice(cfg, 'data')} has {data_key}={size}; "
                f"leave it to follow the data"
            )
    for node, monitor in monitors(cfg):
        # a callback may also watch the step count (ModelCheckpoint keeping the last k)
        logged = ["val/loss", *(f"val/{name}" for name in metrics)]
        logged += [] if node == "scheduler" else ["step", "epoch"]
        if monitor not in logged:
            raise ConfigError(f"{node}.monitor={monitor}: must be one of {', '.join(logged)}")
    frequency = OmegaConf.select(cfg, "scheduler.frequency")
    interval = OmegaConf.select(cfg, "scheduler.interval")
    if interval == "step" and is_int(every) and is_int(frequency) and frequency % every:
        raise ConfigError(
            f"scheduler.frequency={frequency}: must be a multiple of "
            f"trainer.val_check_interval={every}, so the scheduler sees a fresh validation"
        )
    if not cfg.get("logger"):  # all of them in one line: ~logger alone meets three
        writers = [
            f"callbacks.{name}"
            for name in ("step_scalars", "hparams", "gradients")
            if OmegaConf.select(cfg, f"callbacks.{name}")
        ]
        if writers:
            raise ConfigError(
                f"logger: none, but {', '.join(writers)} write to TensorBoard; keep "
                f"logger=tensorboard, or also set {' '.join(f'{w}=null' for w in writers)}"
            )
    accelerator = OmegaConf.select(cfg, "trainer.accelerator")
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"trainer.accelerator={accelerator}: no GPU is visible here; use cpu or auto"
            )
    if accelerator in ("mps", "tpu"):
        from lightning.pytorch.accelerators import AcceleratorRegistry

        if not AcceleratorRegistry[accelerator]["accelerator"].is_available():
            raise ConfigError(
                f"trainer.accelerator={accelerator}: no {accelerator.upper()} is visible here; "
                "use cpu or auto"
            )
    nodes = OmegaConf.select(cfg, "trainer.num_nodes")
    launcher = str(OmegaConf.select(cfg, "hydra.launcher._target_", default=""))
    if is_int(nodes) and nodes > 1 and "Slurm" not in launcher and not started_on_nodes():
        raise ConfigError(
            f"trainer.num_nodes={nodes}: this process was not started as one of {nodes} nodes "
            "(by SLURM, torchrun, LSF or MPI, or with NODE_RANK set) and would wait for the "
            f"others; use 1 here, or hydra/launcher=submitit_slurm hydra.launcher.nodes={nodes}"
        )
    a, b = OmegaConf.select(cfg, "init.a"), OmegaConf.select(cfg, "init.b")
    if is_number(a) and is_number(b) and not a < b:
        raise ConfigError(f"init.a={a}, init.b={b}: must satisfy init.a < init.b")
    momentum = OmegaConf.select(cfg, "optimizer.momentum", default=0)
    dampening = OmegaConf.select(cfg, "optimizer.dampening", default=0)
    nesterov_ok = is_number(momentum) and momentum > 0 and dampening == 0  # torch's SGD's rule
    if OmegaConf.select(cfg, "optimizer.nesterov") is True and not nesterov_ok:
        raise ConfigError(
            f"optimizer.nesterov=true: needs optimizer.momentum > 0 and optimizer.dampening=0 "
            f"(they are {momentum} and {dampening})"
        )
    check_split(cfg)


def monitors(cfg: DictConfig) -> list[tuple[str, str]]:
    """(node, metric) for the scheduler's and each callback's `monitor` (ModelCheckpoint's,
    an added EarlyStopping's) that is set, on a class of torch's, Lightning's or descentlab's."""
    nodes = ["scheduler", *(f"callbacks.{name}" for name in cfg.get("callbacks") or {})]
    return [
        (node, monitor)
        for node in nodes
        if (monitor := OmegaConf.select(cfg, f"{node}.monitor")) is not None
        and str(OmegaConf.select(cfg, f"{node}._target_", default="")).startswith(RULED)
    ]


def check_modes(cfg: DictConfig) -> None:
    """A monitor's mode is the way its metric improves: the scheduler cuts the lr, and a
    checkpoint keeps the best, by it. The metric's class says which way (so this imports it,
    in the job rather than in a launcher's main process)."""
    metrics = active_metrics(cfg)
    for node, monitor in monitors(cfg):
        if monitor == "val/loss":
            better: str | None = "lower"
        elif monitor.startswith("val/") and monitor[4:] in metrics:
            name = monitor[4:]
            better = better_when(imported(f"metrics.{name}", metrics[name]["_target_"]))
        else:
            continue  # the step count: the user's mode
        mode = OmegaConf.select(cfg, f"{node}.mode", default="min")  # Lightning's default
        wanted = {"lower": "min", "higher": "max"}.get(better)  # type: ignore[arg-type]
        if wanted is not None and mode != wanted:
            raise ConfigError(
                f"{node}.mode={mode}: {monitor} is better {better}; set {node}.mode={wanted}"
            )


def better_when(metric: Any) -> str | None:
    """Which way a metric improves, "higher" or "lower", as its torchmetrics class says of
    itself (`higher_is_better`); None where it does not say."""
    higher = getattr(metric, "higher_is_better", None)
    return None if higher is None else "higher" if higher else "lower"


# what SLURM (srun), torchrun, LSF, Open MPI and MPICH set in each process they start, and the
# NODE_RANK of a launch by hand: Lightning's cluster environments read these
STARTED_ON_NODES = ("SLURM_NTASKS", "GROUP_RANK", "LSB_JOBID", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def started_on_nodes() -> bool:
    """Whether a cluster started this process as one of several nodes; otherwise Lightning's
    first collective call waits for nodes that never come (30 minutes)."""
    return any(name in os.environ for name in (*STARTED_ON_NODES, "NODE_RANK"))


# The losses and metrics that need class labels or real-valued targets; a data module says
# which it holds in its `task`.
TASKS = {
    "torch.nn.CrossEntropyLoss": "classification",
    "torch.nn.NLLLoss": "classification",
    "torch.nn.MSELoss": "regression",
    "torch.nn.L1Loss": "regression",
    "torch.nn.HuberLoss": "regression",
    "torchmetrics.classification.": "classification",
    "torchmetrics.MeanSquaredError": "regression",
    "torchmetrics.MeanAbsoluteError": "regression",
    "torchmetrics.R2Score": "regression",
    "torchmetrics.regression.": "regression",
}


def task_of(target: str) -> str | None:
    return next((task for name, task in TASKS.items() if target.startswith(name)), None)


def check_task(cfg: DictConfig) -> None:
    """A loss or metric for classification on regression data (or the other way round) would
    fail at the first step with a shape or dtype error far from the cause."""
    try:
        task = getattr(imported("data", str(OmegaConf.select(cfg, "data._target_"))), "task", None)
    except ConfigError:
        return  # check_arguments names the bad _target_
    if task is None:
        return
    metrics = active_metrics(cfg)
    for name, node in metrics.items():
        if not OmegaConf.is_dict(node) or "_target_" not in node:
            raise ConfigError(
                f"metrics.{name}={node}: must be a metric's config, with its _target_ "
                f"(metrics.{name}=null leaves it out)"
            )
    pieces = {"criterion": cfg.criterion, **{f"metrics.{k}": metrics[k] for k in metrics}}
    for key, node in pieces.items():
        other = task_of(str(OmegaConf.select(node, "_target_")))
        if other not in (None, task):
            group = key.partition(".")[0]
            fits = options_for(group, task)
            raise ConfigError(
                f"{group}={choice(cfg, group)}: for {other}, and data={choice(cfg, 'data')} is "
                f"{task}; choose "
                + (" or ".join(f"{group}={option}" for option in fits) or f"one for {task}")
            )


def options_for(group: str, task: str) -> list[str]:
    """The options of a config group in conf/ whose every `_target_` is for `task`."""
    fits = []
    for f in options(group):
        built = [
            str(node["_target_"]) for _, node in targets(OmegaConf.to_container(OmegaConf.load(f)))
        ]
        if built and all(task_of(target) == task for target in built):
            fits.append(f.stem)
    return fits


def choice(cfg: DictConfig, group: str) -> str:
    """The option picked for a config group (`mlp` for model=mlp)."""
    choices = OmegaConf.select(cfg, "hydra.runtime.choices")  # composed here, before a run
    if choices is None:  # in a job, Hydra holds them
        from hydra.core.hydra_config import HydraConfig

        choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    return str(choices.get(group, "?"))


def check_split(cfg: DictConfig) -> None:
    """The validation set needs two samples (R² and the surfaces' spread need them), the
    training set one batch."""
    fractions = [OmegaConf.select(cfg, f"data.{k}_fraction") for k in ("val", "test")]
    fractions = [f for f in fractions if f is not None]
    if sum(fractions) >= 1:
        raise ConfigError(
            f"data.val_fraction + data.test_fraction = {sum(fractions):g}: must be < 1 "
            "(the rest is the training set)"
        )
    n = OmegaConf.select(cfg, "data.n")
    if not is_int(n):  # a data set of a fixed size (the digits): its module checks the batch
        return
    held_out = [max(1, round(n * f)) for f in fractions]  # as the data modules cut them
    if held_out[0] < 2:
        raise ConfigError(
            f"data.n={n}, data.val_fraction={fractions[0]}: {held_out[0]} validation sample; "
            "must be ≥ 2: raise either"
        )
    train = n - sum(held_out)
    if train < 1:
        raise ConfigError(f"data.n={n}: leaves no training sample after validation; raise it")
    batch_size = OmegaConf.select(cfg, "data.batch_size")
    if is_int(batch_size) and batch_size > train:
        raise ConfigError(
            f"data.batch_size={batch_size}: must be ≤ {train}, the training set's size "
            f"(data.n={n} less validation); null: full batch"
        )


def checkpoint_file(cfg: DictConfig) -> Path | None:
    """The checkpoint a resumed run starts from, which must exist; None for a fresh run."""
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None:
        return None
    from hydra.utils import to_absolute_path

    path = Path(to_absolute_path(ckpt_path))  # from where it was typed (hydra.job.chdir=true)
    if path.is_dir():  # a run's dir, or its checkpoints/: the file in it that resumes
        inside = next(
            (p for p in ("checkpoints/last.ckpt", "last.ckpt") if (path / p).is_file()), None
        )
        hint = (
            f"did you mean ckpt_path={Path(ckpt_path) / inside}?"
            if inside
            else "give a run's checkpoints/last.ckpt"
        )
        raise ConfigError(f"ckpt_path={ckpt_path}: a dir, not a checkpoint file; {hint}")
    if not path.is_file():
        raise ConfigError(
            f"ckpt_path={ckpt_path}: no such file; give a run's checkpoints/last.ckpt"
        )
    return path


def check_checkpoint(cfg: DictConfig) -> None:
    """A resumed run needs the checkpoint, and steps left to run after it."""
    path = checkpoint_file(cfg)
    if path is None:
        return
    ckpt_path = cfg.ckpt_path
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        step, saved = checkpoint["global_step"], checkpoint["state_dict"]
    except Exception:
        raise ConfigError(f"ckpt_path={ckpt_path}: not a Lightning checkpoint") from None
    from hydra.utils import instantiate

    model = instantiate(cfg.model)
    here = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    there = {
        k.removeprefix("model."): tuple(v.shape) for k, v in saved.items() if k[:6] == "model."
    }
    differs = [k for k in sorted(here.keys() | there.keys()) if here.get(k) != there.get(k)]
    if differs:
        name = differs[0]

        def shape(sizes: tuple[int, ...] | None) -> str:
            return "absent" if sizes is None else f"of shape {sizes}" if sizes else "a scalar"

        raise ConfigError(
            f"ckpt_path={ckpt_path}: saved from another model: its {name} is "
            f"{shape(there.get(name))}, with model={choice(cfg, 'model')} here "
            f"{shape(here.get(name))}; resume with the config it was saved with"
        )
    if not checkpoint.get("optimizer_states"):
        raise ConfigError(
            f"ckpt_path={ckpt_path}: holds the weights only (saved with save_weights_only); "
            "resuming needs the optimizer's state too: give a full checkpoint"
        )
    # each optimizer keeps its own settings in its state (Adam's betas, SGD's momentum);
    # schedulers may add theirs (initial_lr)
    settings = set(instantiate(cfg.optimizer)(model.parameters()).defaults)
    if any(settings - set(g) for g in checkpoint["optimizer_states"][0]["param_groups"]):
        raise ConfigError(
            f"ckpt_path={ckpt_path}: saved with another optimizer than "
            f"optimizer={choice(cfg, 'optimizer')}; resume with the one it was saved with"
        )
    restored = {  # what the resumed state sets: not Lightning's monitor, interval, frequency
        "optimizer": set(checkpoint["optimizer_states"][0]["param_groups"][0]),
        "scheduler": set(next(iter(checkpoint.get("lr_schedulers", [])), {})),
    }
    for group, saved in checkpoint.get("arguments", {}).items():
        if not cfg.get(group):  # scheduler=none: nothing of it to restore
            continue
        node = OmegaConf.to_container(cfg[group], resolve=True)
        for key, value in saved.items():
            if key in node and key in restored[group] and node[key] != value:
                raise ConfigError(
                    f"{group}.{key}={node[key]}: the checkpoint was saved with "
                    f"{group}.{key}={value}, and resuming restores the {group}'s state, "
                    f"settings included; resume with {value}, or start a new run"
                )
    # after the settings: an optimizer.lr other than the saved one is named as such above
    lr_now = checkpoint["optimizer_states"][0]["param_groups"][0].get("lr")
    lr_set = checkpoint.get("arguments", {}).get("optimizer", {}).get("lr")  # as configured
    lowered = None not in (lr_now, lr_set) and lr_now != lr_set
    if checkpoint.get("lr_schedulers") and not cfg.get("scheduler") and lowered:
        # the optimizer's state is restored, its lr as the scheduler left it: the run would go
        # on at that lr while its settings, results.json and the HParams table say optimizer.lr
        raise ConfigError(
            f"scheduler=none: the checkpoint's scheduler had taken lr to {lr_now:g}, where "
            f"resuming without it goes on, not at optimizer.lr={lr_set}; resume with the "
            "scheduler it was saved with, or start a new run"
        )
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


def imported(path: str, target: str) -> Any:
    """The class or function `target` names, imported; one that cannot be is named in one line."""
    module_name, _, name = target.rpartition(".")
    if not module_name or module_name.startswith("."):
        raise ConfigError(
            f"{path}._target_={target}: must be a full dotted path, module.Name "
            "(as torch.nn.MSELoss)"
        )
    try:
        return getattr(import_lasting(module_name), name)
    except ModuleNotFoundError as error:
        # the `descentlab` command, unlike `python -m`, does not import from the current dir
        hint = (
            "; a module of your own: put its dir on PYTHONPATH (PYTHONPATH=. for this dir)"
            if error.name == module_name.partition(".")[0]
            else ""
        )
        raise ConfigError(f"{path}._target_={target}: cannot import it ({error}{hint})") from None
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigError(f"{path}._target_={target}: cannot import it ({error})") from None
    except Exception as error:  # a user's module that fails as it loads: SyntaxError, …
        raise ConfigError(
            f"{path}._target_={target}: cannot import it ({type(error).__name__}: {error})"
        ) from None


def check_arguments(path: str, node: dict) -> None:
    """Every key of a node must be an argument of what its `_target_` builds."""
    target = node["_target_"]
    built = imported(path, target)
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
                f"{path}.{key}: not an argument of {target}; allowed: "
                f"{', '.join(allowed) or 'none'}; ~{path}.{key} drops it"
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
    Hydra's traceback ("Unknown plugin class") once the sweep starts. Its module is imported
    (Hydra has imported it already, as it looked for plugins): descentlab's joblib launcher is
    there without Hydra's, which it builds on, but then defines no launcher. One that is there
    but fails to import says why, not "not installed"."""
    for group in ("launcher", "sweeper"):
        module, _, name = cfg.hydra[group]._target_.rpartition(".")
        choice = cfg.hydra.runtime.choices[f"hydra/{group}"]
        try:
            installed = hasattr(importlib.import_module(module), name)
        except ImportError as error:
            if isinstance(error, ModuleNotFoundError) and f"{module}.".startswith(f"{error.name}."):
                installed = False  # the plugin itself is not there
            else:  # there, but a package it needs is not, or does not fit
                raise plugin_missing(f"hydra/{group}", choice, in_one_line(error)) from None
        if not installed:
            raise plugin_missing(f"hydra/{group}", choice)
    if cfg.hydra.launcher._target_.endswith(".RayLauncher"):
        check_ray(cfg.hydra.launcher.ray)
    if cfg.hydra.launcher._target_.endswith(".SlurmLauncher") and not shutil.which("sbatch"):
        raise ConfigError(  # submitit would fail in a traceback once the sweep dir is made
            "hydra/launcher=submitit_slurm: no SLURM here (sbatch is not on the PATH); "
            "run it on the cluster, or use hydra/launcher=submitit_local or joblib here"
        )


def check_ray(ray_cfg: DictConfig) -> None:
    """Hydra's Ray launcher hands `init` to `ray.init` and `remote` to `ray.remote` once the
    sweep dir is made; a key neither takes would end there in Ray's traceback. ray.init's keys
    are checked against its signature, ray.remote's by Ray itself."""
    try:
        import ray
    except ImportError as error:  # the plugin is there (checked first), Ray is not
        raise plugin_missing("hydra/launcher", "ray", in_one_line(error)) from None

    init = inspect.signature(ray.init).parameters.values()
    allowed = [p.name for p in init if p.kind is not p.VAR_KEYWORD]
    for key in ray_cfg.get("init") or {}:
        if key not in allowed and not key.startswith("_"):  # `_temp_dir`: Ray's **kwargs
            raise ConfigError(
                f"hydra.launcher.ray.init.{key}: not an argument of ray.init; allowed: "
                f"{', '.join(allowed)}"
            )
    remote = ray_cfg.get("remote")
    if remote:  # ray.remote() with no options is a decorator's misuse
        try:  # Ray checks a task's options as it wraps a function
            ray.remote(**OmegaConf.to_container(remote, resolve=True))(lambda: None)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"hydra.launcher.ray.remote: {error}") from None


def plugin_missing(group: str, choice: str, why: str = "") -> ConfigError:
    """Not installed, or installed but not importable (`why`): installing the extra again
    fixes both."""
    extra = PLUGIN_EXTRAS.get(choice)
    fix = f'pip install -e ".[{extra}]"' if extra else "install its Hydra plugin"
    if why:
        return ConfigError(f"{group}={choice}: its plugin does not import ({why}); {fix}")
    return ConfigError(f"{group}={choice}: its plugin is not installed; {fix}")


def in_one_line(error: ImportError) -> str:
    return " ".join(str(error).split())


def check_fresh_dir(key: str, path: Path) -> Path | None:
    """A run or a sweep writes only into a new or empty dir: nothing a user produced is
    overwritten or mixed with another run's files. Returns the dir, or the nearest one above
    it, that is there before the run makes its own.

    Lightning's DDP re-launches ranks > 0 into rank 0's run dir on purpose; those pass.
    """
    if int(os.environ.get("LOCAL_RANK", "0")) > 0:
        return None
    full = Path(os.path.abspath(path))  # `new/../x` is `x`, as Hydra makes it, made or not
    if full.exists() and not full.is_dir():
        raise ConfigError(f"{key}={path}: is a file; choose a new dir")
    if full.is_dir() and any(full.iterdir()):
        raise ConfigError(
            f"{key}={path}: already holds files; choose a new dir (nothing is overwritten)"
        )
    existing = next(p for p in [full, *full.parents] if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{key}={path}: cannot be made here ({existing} is a file)")
    if not os.access(existing, os.W_OK):
        raise ConfigError(f"{key}={path}: cannot be made here ({existing} is not writable)")
    return existing


JOB_IDS = ("hydra.job.num", "hydra.job.id", "hydra.job.override_dirname")
# where a run writes, besides its dir: checkpoints, event files, the surface's PNGs
OUTPUTS = ("callbacks.checkpoint.dirpath", "logger.save_dir", "trainer.default_root_dir")


def check_outputs(cfg: DictConfig) -> None:
    """Checkpoints and event files sent out of the run's own dir go to a new or empty dir too,
    as the run dir does: into a dir that holds files they would overwrite or mix with them."""
    for key in OUTPUTS:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent)
        if not OmegaConf.is_dict(node) or leaf not in node:
            continue  # off (callbacks.checkpoint=null, ~logger)
        if str(OmegaConf.to_container(node, resolve=False)[leaf]).startswith(
            "${hydra:runtime.output_dir}"
        ):
            continue  # inside the run dir (the default), which is checked itself
        value = OmegaConf.select(cfg, key, throw_on_resolution_failure=False)
        if value is not None:
            check_fresh_dir(key, Path(value))


def check_sweep_subdir(cfg: DictConfig, swept: dict[str, list[str]]) -> None:
    """Each job of a sweep needs a dir of its own inside the sweep's new dir, or the jobs
    overwrite each other's files, or those of an earlier run: its subdir names the job, or
    every swept key (lr_${optimizer.lr}) with values that read differently, and does not
    climb out of the sweep dir. `swept`: each swept key's values as a subdir shows them."""
    subdir = str(OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"])
    if Path(subdir).is_absolute() or ".." in Path(subdir).parts:
        raise ConfigError(
            f"hydra.sweep.subdir={subdir}: must stay inside hydra.sweep.dir "
            "(no leading / and no ..), whose newness is what keeps earlier runs safe"
        )
    if re.search(r"\$\{(?!now:)[^}]*:", subdir):  # ${oc.env:…} may hold an absolute path
        raise ConfigError(
            f"hydra.sweep.subdir={subdir}: a resolver's value could lead out of "
            "hydra.sweep.dir; name config keys, ${now:…}, or ${hydra.job.num}"
        )
    if any(name in subdir for name in JOB_IDS):
        return
    for key, values in swept.items():
        same = next((v for v in values if values.count(v) > 1), None)  # 0.1,0.10: 0.1 twice
        if f"${{{key}}}" in subdir and same is not None:
            raise ConfigError(
                f"{key}: {values.count(same)} of its values read {same} in "
                f"hydra.sweep.subdir={subdir}; those jobs would share a dir"
            )
    swept = {**swept, **(OmegaConf.select(cfg, "hydra.sweeper.params") or {})}
    unnamed = [key for key in swept if f"${{{key}}}" not in subdir]
    if unnamed or not swept:
        also = (
            f" (it does not name {', '.join(unnamed)}, which the sweep varies)" if unnamed else ""
        )
        raise ConfigError(
            f"hydra.sweep.subdir={subdir}: must differ from job to job{also}; "
            "use ${hydra.job.num} or ${hydra.job.override_dirname} in it"
        )


def check_model(cfg: DictConfig, module: Any, data: Any) -> None:
    """What only the built model can tell, before the run writes anything: that something in
    it trains, and that its output has the shape the loss compares with the targets (MSE
    broadcasts a wrong one with a warning, and the metrics fail later). One forward pass on two
    training samples, in eval mode: no BatchNorm statistics change, no random numbers drawn."""
    import torch

    model = f"model._target_={cfg.model._target_}"  # the class that was built
    if not any(p.requires_grad for p in module.parameters()):
        raise ConfigError(f"{model}: has no trainable parameter; nothing would train")
    # the per-step scalars, histograms and loss surfaces are of real numbers
    complex_ = [n.removeprefix("model.") for n, p in module.named_parameters() if p.is_complex()]
    if complex_:
        raise ConfigError(
            f"{model}: its parameter {complex_[0]} is complex; descentlab's views take real "
            "ones: hold its real and imaginary parts as two real parameters"
        )
    x, y = data.x_train[:2], data.y_train[:2]
    out_features = OmegaConf.select(cfg, "data.out_features")
    classes = y.dtype in (torch.int64, torch.int32)  # labels: one score per class out
    expected = (len(y), out_features) if classes else tuple(y.shape)
    training = module.training
    module.eval()
    try:
        with torch.no_grad():
            shape = tuple(module(x).shape)
    finally:
        module.train(training)
    if shape != expected:
        raise ConfigError(
            f"{model}: returns shape {shape} for {len(y)} samples; data={choice(cfg, 'data')} "
            f"needs {expected}" + (f" (data.out_features={out_features})" if out_features else "")
        )
