"""The `descentlab` command: a Hydra app whose bad input ends in one line, before any output.

Importing this module stays light (no torch), so `descentlab --help` and `--cfg job` are quick.
"""

import gc
import os
import re
import sys
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import ConfigCompositionException, HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from descentlab.devices import job_devices
from descentlab.errors import ConfigError
from descentlab.validate import (
    PLUGIN_EXTRAS,
    check_fresh_run_dir,
    check_plugins,
    plugin_missing,
    validate,
)

# conf/hydra/launcher/*.yaml keep the launchers' own names and are checked against the plugins'
# schemas of the same name; Hydra warns that matching by name is deprecated, on every run.
warnings.filterwarnings("ignore", message=r"(?s).*is validated against ConfigStore schema")

# Registered on import, so Hydra ships it to joblib, submitit and Ray workers too.
OmegaConf.register_new_resolver("descentlab.job_devices", job_devices, replace=True)

PACKAGED_CONF = Path(__file__).parent / "conf"  # where a wheel puts conf/
CONF_DIR = PACKAGED_CONF if PACKAGED_CONF.is_dir() else Path(__file__).parents[2] / "conf"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def app(cfg: DictConfig) -> float:
    value = job()(cfg).get("final_val_loss")  # what a sweeper such as Optuna minimises
    return value if isinstance(value, float) and value == value else float("inf")


@cache
def job() -> Callable[[DictConfig], dict[str, Any]]:
    """`descentlab.job.run`, imported once per process (each joblib, Ray or SLURM worker too).

    Importing it imports torch and Lightning: ~400 000 objects that live as long as the
    process. Each full garbage collection during the import would walk all those made so far
    (0.5 s in all), and each one after it all of them (0.15 s): full collections wait until the
    import is done (young objects are still collected), and then what it brought is frozen out
    of every later one.
    """
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, 2**30)
    try:
        from descentlab.job import run
    finally:
        gc.freeze()
        gc.set_threshold(young, middle, full)
    return run


def main() -> None:
    """Check a single run's config, then hand over to Hydra.

    Bad input is reported as `descentlab: error: …` with exit status 2, before Hydra creates
    the run dir; HYDRA_FULL_ERROR=1 shows the traceback instead.
    """
    try:
        precheck(sys.argv[1:])
    except (HydraException, OmegaConfBaseException) as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"descentlab: error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
    app()


def precheck(argv: list[str]) -> None:
    """Compose and validate the config of a single run, as Hydra is about to run it.

    A sweep (-m) composes what its jobs share (every override that sweeps nothing), as Hydra
    does first, and checks that its launcher and sweeper plugins are installed; the sweeper
    checks the swept values, and each job is validated when it starts.
    Hydra's informational flags go straight to Hydra.
    """
    args = get_args_parser().parse_args(argv)
    informational = args.help or args.hydra_help or args.cfg or args.info or args.shell_completion
    custom = args.config_path or args.config_name or args.config_dir or args.experimental_rerun
    if informational or custom:
        return
    if args.multirun:
        parsed = OverridesParser.create().parse_overrides(args.overrides)
        check_plugins(compose_config([o.input_line for o in parsed if not o.is_sweep_override()]))
        return

    cfg = compose_config(args.overrides)
    check_fresh_run_dir(Path(cfg.hydra.run.dir))
    validate(cfg)


def compose_config(overrides: list[str]) -> DictConfig:
    """The config Hydra will run; overriding a key that does not exist names the keys that do."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            return compose("config", overrides=overrides, return_hydra_config=True)
        except ConfigCompositionException as error:
            unknown = re.match(r"Could not override '([^']+)'", str(error))
            if unknown is None:
                raise
            key = unknown.group(1)
            parent = key.rpartition(".")[0]
            others = [o for o in overrides if o.split("=", 1)[0] != key]
            valid = compose("config", overrides=others)
            node = OmegaConf.select(valid, parent) if parent else valid
            known = ", ".join(k for k in node if not k.startswith("_")) if node else "no keys"
            raise ConfigError(
                f"{key}: no such key; {parent or 'the config'} has {known} "
                f"(+{key}=… adds a new one)"
            ) from error


def one_line(error: Exception) -> str:
    if isinstance(error, MissingConfigException) and error.options is not None:
        group = Path(error.missing_cfg_file).parent.as_posix()
        option = Path(error.missing_cfg_file).name
        if group in ("hydra/launcher", "hydra/sweeper") and option in PLUGIN_EXTRAS:
            return str(plugin_missing(group, option))  # its plugin brings the option's config
        return f"{group}={option}: no such option; choose one of {', '.join(error.options)}"
    if isinstance(error, ConfigError):
        return str(error)
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text.split(" Config search path:")[0]
