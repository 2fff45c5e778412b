"""The `descentlab` command: a Hydra app whose bad input ends in one line, before any output.

Importing this module stays light (no torch), so `descentlab --help` and `--cfg job` are quick.
"""

import difflib
import gc
import os
import re
import sys
import warnings
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import hydra
import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.config_loader import ConfigLoader
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from descentlab import ctrl_c, forkserver
from descentlab.devices import job_devices
from descentlab.errors import ConfigError
from descentlab.imports import import_lasting
from descentlab.rules import RULES, check_rules, check_value
from descentlab.validate import (
    PLUGIN_EXTRAS,
    UNSET,
    check_fresh_dir,
    check_job,
    check_plugins,
    check_sweep_subdir,
    options_with,
    plugin_missing,
    validate,
)

# conf/hydra/launcher/*.yaml keep the launchers' own names and are checked against the plugins'
# schemas of the same name; Hydra warns that matching by name is deprecated, on every run.
warnings.filterwarnings("ignore", message=r"(?s).*is validated against ConfigStore schema")

# Registered on import, so Hydra ships it to joblib, submitit and Ray workers too.
OmegaConf.register_new_resolver("descentlab.job_devices", job_devices, replace=True)

# what a sweep's workers need to start once its settings are checked (`forkserver.start`)
StartWorkers = Callable[[DictConfig], None]

PACKAGED_CONF = Path(__file__).parent / "conf"  # where a wheel puts conf/
CONF_DIR = PACKAGED_CONF if PACKAGED_CONF.is_dir() else Path(__file__).parents[2] / "conf"
HYDRA_FILES = ("config", "hydra", "overrides")  # what Hydra saves under a run's .hydra/


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def app(cfg: DictConfig) -> float:
    try:
        value = job()(cfg).get("final_val_loss")  # what a sweeper such as Optuna minimises
    except ConfigError as error:  # found as the run builds: the same line as before it
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"descentlab: error: {error}", file=sys.stderr)
        empty_refused_run_dir()
        sys.exit(2)
    return value if isinstance(value, float) and value == value else float("inf")


def empty_refused_run_dir() -> None:
    """Empty the dir of a single run refused as it built, if it holds only what Hydra wrote as
    the run started (its config under .hydra/, and its log, where a warning may have gone, as
    to the console): the corrected command can then use the same hydra.run.dir, which was new
    or empty. The dirs Hydra made for the run go too (a refused run leaves no dated dir in
    outputs/); one that was there before stays (one the user made, or the working dir), as
    does anything else in it; a sweep's job dirs stay, with the failure recorded."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.RUN:
        return
    run_dir = Path(hydra_cfg.runtime.output_dir)
    saved = run_dir / hydra_cfg.output_subdir if hydra_cfg.output_subdir else None
    if saved is not None and saved.resolve().parent != run_dir.resolve():
        return  # Hydra's config saved elsewhere (hydra.output_subdir=., .., /abs, a/b): left be
    config = [saved / f"{name}.yaml" for name in HYDRA_FILES] if saved else []
    log = run_dir / f"{hydra_cfg.job.name}.log"
    written = {p for p in run_dir.rglob("*") if p.is_file()}
    if not written <= {*config, log}:
        return
    for path in written:
        path.unlink()
    if saved and saved.is_dir():
        saved.rmdir()
    if there_before_the_run is not None:
        for path in (run_dir, *run_dir.parents):
            if path == there_before_the_run or not path.is_relative_to(there_before_the_run):
                break
            try:
                path.rmdir()  # empty dirs only: one another run has written to since stays
            except OSError:
                break


def job() -> Callable[[DictConfig], dict[str, Any]]:
    """`descentlab.job.run`, imported once per process (each joblib, Ray or SLURM worker too);
    a lasting import: it imports torch and Lightning."""
    return import_lasting("descentlab.job").run


def main() -> None:
    """Check a single run's config, then hand over to Hydra.

    Bad input is reported as `descentlab: error: …` with exit status 2, before Hydra creates
    the run dir; HYDRA_FULL_ERROR=1 shows the traceback instead.
    """
    # a Ctrl-C that Hydra's code turns into another error (one inside its plugin scan ends as a
    # RuntimeError) is still a Ctrl-C: remembered, and the check's end is the same
    ctrl_c.remember()
    try:
        forkserver.start_early(sys.argv[1:], CONF_DIR / "hydra" / "launcher" / "joblib.yaml")
        precheck(sys.argv[1:], start_workers=forkserver.start)
    except (HydraException, OmegaConfBaseException, yaml.YAMLError) as error:
        if ctrl_c.pressed:
            sys.exit(130)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"descentlab: error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C before anything ran or was written
        sys.exit(130)
    except Exception:
        if ctrl_c.pressed:
            sys.exit(130)
        raise
    try:
        app()
    except (KeyboardInterrupt, SystemExit) as stop:
        sweep = sys.modules.get("descentlab.sweep")  # imported where a sweep runs
        if sweep is None or sweep.SweepSummary.running is None:
            raise
        sweep.stopped(sweep.SweepSummary.running, stop)
    finally:
        # What is left lives until the exit: frozen, it is skipped by the full collections the
        # interpreter runs as it shuts down (0.24–0.31 s after a joblib sweep, whose process
        # holds Hydra's, joblib's and matplotlib's objects, none of them frozen before).
        gc.freeze()


def parse_args(argv: list[str]) -> Namespace:
    """Hydra's flags; a flag it does not have is one line, not argparse's usage block."""
    parser = get_args_parser()

    def refuse(message: str) -> NoReturn:
        raise ConfigError(f"{message}; descentlab --help lists the flags")

    parser.error = refuse  # type: ignore[method-assign]
    return parser.parse_args(argv)


def precheck(argv: list[str], start_workers: StartWorkers = lambda sweep: None) -> None:
    """Compose and validate the config of a single run, as Hydra is about to run it; a sweep
    (-m, or an experiment that sets hydra.mode=MULTIRUN) gets `check_sweep`, which calls
    `start_workers` once the sweep's settings are checked. With Hydra's informational flags
    (--cfg, --help) the overrides are composed only, and without overrides (the quick
    `descentlab --cfg job`) not at all."""
    args = parse_args(argv)
    modes = {
        "--run": args.run,
        "--multirun": args.multirun,
        "--cfg": args.cfg,
        "--info": args.info,
        "--shell-completion": args.shell_completion,
    }
    given = [flag for flag, value in modes.items() if value]
    if len(given) > 1 and not (args.help or args.hydra_help):  # Hydra's refusal: a traceback
        raise ConfigError(f"{' with '.join(given)}: Hydra runs one of {', '.join(modes)} at a time")
    informational = args.help or args.hydra_help or args.cfg or args.info or args.shell_completion
    custom = args.config_path or args.config_name or args.config_dir or args.experimental_rerun
    if custom:
        return
    overrides = parse(args.overrides)
    swept = [o for o in overrides if o.is_sweep_override()]
    if informational and not overrides:
        return  # `--cfg job` alone: nothing to check, and no second composition to wait for
    check_searchpath(overrides)
    cfg = compose_config([o.input_line for o in overrides if not o.is_sweep_override()])
    if informational and swept and not args.multirun:
        raise ConfigError(
            f"{swept[0].input_line}: several values make a sweep; --cfg shows one config"
        )
    if informational:
        return  # it prints, it does not run: a value out of range may be what one looks at
    if args.multirun or cfg.hydra.mode == RunMode.MULTIRUN:
        check_sweep(cfg, overrides, start_workers)
        return
    if swept:
        raise ConfigError(
            f"{swept[0].input_line}: several values make a sweep; add -m before the overrides"
        )
    for override in overrides:  # Hydra would ignore them: a single run has no jobs to launch
        if re.match(r"hydra[/.](launcher|sweeper)\b", override.key_or_group):
            raise ConfigError(
                f"{override.input_line}: sets how a sweep runs its jobs, and this is a single "
                "run; add -m to sweep"
            )
    global there_before_the_run
    there_before_the_run = check_fresh_dir("hydra.run.dir", Path(cfg.hydra.run.dir))
    validate(cfg)


# The run dir if it is there already, else the nearest dir above it. A run refused as it builds
# removes the empty dirs Hydra made below it: outputs/<date>/<time>, and <date> on the day's
# first run. Not the run dir's own path: Hydra takes the time (${now:…}) again as it starts.
there_before_the_run: Path | None = None


def check_searchpath(overrides: list[Override]) -> None:
    """A dir in hydra.searchpath that is not there: Hydra warns and goes on, and the options
    it was to bring are then "no such option"."""
    for override in overrides:
        if override.key_or_group != "hydra.searchpath" or override.is_sweep_override():
            continue
        entries = override.value()
        if entries is None:  # Hydra's own search path, as ~hydra.searchpath
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            path = str(entry).removeprefix("file://")
            if "://" not in path and not Path(path).is_dir():
                raise ConfigError(
                    f"{override.input_line}: {path} is not a dir; a config dir is added as "
                    "file://<its path>"
                )


def parse(overrides: list[str]) -> list[Override]:
    """Hydra's parse of the overrides; one it cannot parse is named, with why."""
    parser = OverridesParser.create()
    try:
        return parser.parse_overrides(overrides)
    except OverrideParseException:
        for override in overrides:  # which one
            try:
                parser.parse_overrides([override])
            except OverrideParseException as error:
                why = str(error).splitlines()[0]  # the line before Hydra's link
                why = re.sub(r" expecting \{[^}]*\}", "", why)  # the grammar's every token
                raise ConfigError(
                    f"{override}: not an override Hydra can read ({why}); "
                    "see https://hydra.cc/docs/advanced/override_grammar/basic"
                ) from None
        raise


def check_sweep(shared: DictConfig, overrides: list[Override], start_workers: StartWorkers) -> None:
    """What a sweep can check before Hydra starts it, from `shared`, the config composed from
    the overrides that sweep nothing (as Hydra composes it first): its plugins, a new dir and
    one per job, each value set or swept against its key's rules, each swept option, and the
    keys of its first job. Hydra's sweeper then composes each swept value, and each job is
    validated in full when it starts. `start_workers` gets `shared` once Hydra's settings are
    checked (the command's: joblib's fork server, which imports while the jobs are composed
    and checked)."""
    fixed = [o for o in overrides if not o.is_sweep_override()]
    loader = conf_loader()
    searching = "optuna" in str(shared.hydra.sweeper._target_)
    for override in overrides:
        override.config_loader = loader  # glob(…) lists a group's options through it
        if override.is_sweep_override() and override.is_hydra_override():
            raise ConfigError(
                f"{override.input_line}: Hydra's own settings take one value a sweep; "
                "run one sweep for each"
            )
        if override.is_sweep_override() and not override.is_discrete_sweep() and not searching:
            raise ConfigError(
                f"{override.input_line}: an interval is searched, not swept; use "
                "experiment=search (Optuna), or list values: optimizer.lr=0.1,0.5"
            )
        if override.is_discrete_sweep() and not list(override.sweep_string_iterator()):
            # Hydra's sweeper lists a group's options as this loader does: without those a
            # hydra.searchpath adds (the sweep would have no job)
            raise ConfigError(
                f"{override.input_line}: matches no option; glob() picks among the options of a "
                "config group in descentlab's conf/ (init=glob(*), model=glob(*,exclude=cnn)); "
                "name those of your own: model=a,b"
            )
    check_plugins(shared)
    check_fresh_dir("hydra.sweep.dir", Path(shared.hydra.sweep.dir))
    check_sweep_subdir(
        shared,
        {  # each value as a subdir shows it: 0.10 and 1e-1 as 0.1
            o.key_or_group: [str(v) for v in o.sweep_iterator()] if o.is_discrete_sweep() else []
            for o in overrides
            if o.is_sweep_override()
        },
    )
    # Hydra's own settings, which Hydra takes from this config (a sweep cannot sweep them)
    check_rules(
        shared, [o.key_or_group for o in fixed] + [k for k in RULES if k.startswith("hydra.")]
    )
    start_workers(shared)
    swept = [o for o in overrides if o.is_discrete_sweep()]  # not Optuna's intervals
    # options a user's hydra.searchpath brings are not listed here: the sweeper checks those
    options = {} if shared.hydra.searchpath else group_options([o.key_or_group for o in swept])
    for override in swept:
        key = override.key_or_group
        for value in override.sweep_iterator():
            if key in options and value not in options[key]:
                raise ConfigError(
                    f"{key}={value}: no such option; choose one of {', '.join(options[key])}"
                )
            check_value(shared, key, value)
    # the first job, and each other option of a swept config group with the rest as in the
    # first job: an option can lack a key the overrides set (optimizer=sgd,adam with momentum)
    first = {o.get_key_element(): next(o.sweep_string_iterator()) for o in swept}
    jobs = [first] + [
        {**first, o.get_key_element(): value}
        for o in swept
        if o.key_or_group in shared.hydra.runtime.choices
        for value in list(o.sweep_string_iterator())[1:]
    ]
    # the basic launcher runs the jobs in this process, which imports torch and Lightning for
    # them anyway: it checks them in full; others keep those imports out of this process
    in_process = shared.hydra.launcher._target_.endswith(".BasicLauncher")
    composed = []
    for job in jobs:
        values = [f"{key}={value}" for key, value in job.items()]
        try:
            composed.append(compose_config([o.input_line for o in fixed] + values))
            (validate if in_process else check_job)(composed[-1])
        except ConfigError as error:  # say which option: only some may lack the key
            options = [f"{k}={v}" for k, v in job.items() if k in shared.hydra.runtime.choices]
            if not options:
                raise
            raise ConfigError(f"in the job with {' '.join(options)}: {error}") from error
    # each other value of a plain key, put in the first job's config and checked as its job
    # will be: whether it fits the values it goes with (trainer.max_steps=20,5; freeze=[],[c]
    # against the model) does not depend on its place in the list
    cfg = composed[0]
    for override in swept:
        key = override.key_or_group
        if key in shared.hydra.runtime.choices or override.is_delete():
            continue  # an option: composed above
        first_value, *others = override.sweep_iterator()
        for value in others:
            OmegaConf.update(cfg, key, value, merge=False, force_add=True)
            (validate if in_process else check_job)(cfg)
        OmegaConf.update(cfg, key, first_value, merge=False, force_add=True)  # the first job's


def conf_loader() -> ConfigLoader:
    """Hydra's config loader over descentlab's conf/: it lists a config group's options."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return GlobalHydra.instance().config_loader()


def group_options(names: list[str]) -> dict[str, list[str]]:
    """The options of those of `names` that are config groups."""
    loader = conf_loader()
    options = {name: loader.get_group_options(name) for name in names}
    return {name: found for name, found in options.items() if found}


def compose_config(overrides: list[str]) -> DictConfig:
    """The config Hydra will run; overriding a key that does not exist names the keys that do,
    and a config group set to something other than an option names its options."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            return compose("config", overrides=overrides, return_hydra_config=True)
        except ValueError as error:  # Hydra's, for `model=null` or `=0.1`
            if "Config group override must be" not in str(error):
                raise
            raise not_an_option(overrides) from None
        except TypeError:  # Hydra's, for a list of options that are not names: `model=[1]`
            raise not_an_option(overrides) from None
        except ConfigCompositionException as error:
            unknown = re.match(r"Could not override '([^']+)'", str(error))
            if unknown is None:
                raise
            key = unknown.group(1)
            others = [o for o in overrides if o.split("=", 1)[0] != key]
            valid = compose("config", overrides=others, return_hydra_config=True)
            # the first part of the key that is not in the config (optimzer in optimzer.lr)
            parts = key.split(".")
            depth = next(
                (
                    i
                    for i in range(1, len(parts))
                    if OmegaConf.select(valid, ".".join(parts[:i]), default=UNSET) is UNSET
                ),
                len(parts),
            )
            parent, name = ".".join(parts[: depth - 1]), parts[depth - 1]
            node = OmegaConf.select(valid, parent) if parent else valid
            if parent and not OmegaConf.is_dict(node):
                raise ConfigError(
                    f"{key}: no such key; {parent} is a value, not a group of keys"
                ) from error
            chosen = OmegaConf.select(valid, f"hydra.runtime.choices.{parent}", default=None)
            with_key = options_with(parent, name) if parent and depth == len(parts) else []
            if not node and chosen is not None and with_key:  # scheduler=none (an experiment's)
                raise ConfigError(
                    f"{key}: no such key; {parent}={chosen} has no keys; "
                    f"{' and '.join(f'{parent}={o}' for o in with_key)} has it"
                ) from error
            keys = [k for k in node if not k.startswith("_")] if node else []
            known = f"{parent or 'the config'} has {', '.join(keys) if keys else 'no keys'}"
            close = difflib.get_close_matches(name, keys, n=1)
            if close:  # a typo: trainer.max_step, optimzer.lr
                meant = ".".join([*parts[: depth - 1], close[0], *parts[depth:]])
                raise ConfigError(f"{key}: no such key; did you mean {meant}? {known}") from error
            raise ConfigError(f"{key}: no such key; {known} (+{key}=… adds a new one)") from error
        except (AttributeError, AssertionError, KeyError) as error:  # inside OmegaConf's merge
            culprit = next((o for o in overrides if not composes(o)), " ".join(overrides))
            why = (str(error).strip().splitlines() or [""])[0]
            raise ConfigError(
                f"{culprit}: Hydra cannot compose this ({type(error).__name__}: {why})"
            ) from error


def composes(override: str) -> bool:
    """Whether the config composes with this override alone."""
    try:
        compose("config", overrides=[override], return_hydra_config=True)
    except Exception:
        return False
    return True


def not_an_option(overrides: list[str]) -> ConfigError:
    """The override that gives a config group something other than an option's name."""
    loader = GlobalHydra.instance().config_loader()
    for override in OverridesParser.create().parse_overrides(overrides):
        group, value = override.key_or_group, override.value()
        options = loader.get_group_options(group) if group else []
        names = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        if options and not names:
            return ConfigError(
                f"{override.input_line}: must be one of {', '.join(options)} "
                f"(~{group} leaves the group out)"
            )
    return ConfigError(f"{' '.join(overrides)}: every override needs a key: key=value")


# what OmegaConf's "could not be converted to Integer" asks for, in the words of descentlab's rules
TYPED = {"Integer": "an integer", "Float": "a number", "bool": "true or false"}


def one_line(error: Exception) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:  # a conf file
        mark = error.context_mark or error.problem_mark  # where the broken part starts
        why = f"{error.context}: {error.problem}" if error.context else error.problem
        return f"{mark.name}, line {mark.line + 1}: not valid YAML ({why})"
    if isinstance(error, MissingConfigException) and error.options is not None:
        group = Path(error.missing_cfg_file).parent.as_posix()
        option = Path(error.missing_cfg_file).name
        if group in ("hydra/launcher", "hydra/sweeper") and option in PLUGIN_EXTRAS:
            return str(plugin_missing(group, option))  # its plugin brings the option's config
        return f"{group}={option}: no such option; choose one of {', '.join(error.options)}"
    if isinstance(error, ConfigError):
        return str(error)
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    added = re.match(
        r"Multiple values for (\S+)\. To override a value use 'override \1: (.+)'", text
    )
    if added:  # +model=mlp
        group, option = added.groups()
        return f"+{group}={option}: {group} has an option already; {group}={option} picks another"
    there = re.match(
        r"Could not append to config\. An item is already at '([^']+)'\. "
        r"Either remove \+ prefix: '(.*)' Or add",
        text,
    )
    if there:  # +optimizer.momentum=0.9
        key, override = there.groups()
        return f"+{override}: {key} is in the config already; {override} sets it"
    cause = str(error.__cause__ or "").strip().splitlines()
    merging = re.match(r"Error merging override (([^=]+)=.*)", text)
    if merging and cause and cause[0].startswith("Cannot merge DictConfig"):  # a list or value
        override, key = merging.groups()
        return (
            f"{override}: {key} is a group of keys, not a value; set one of its keys: {key}.<key>=…"
        )
    typed = re.match(
        r"Value '.*' (?:of type '\w+' could not be converted to|is not a valid) (\w+)",
        cause[0] if cause else "",
    )
    if merging and typed and typed.group(1) in TYPED:  # a key of a typed (structured) config
        return f"{merging.group(1)}: must be {TYPED[typed.group(1)]}"
    if merging and cause and re.match(r"field '.*' is not Optional", cause[0]):
        return f"{merging.group(1)}: must have a value; null is not one it takes"
    if isinstance(error, ConfigCompositionException) and cause:  # "Error merging override …"
        text += f": {cause[0]}"
    return text.split(" Config search path:")[0]
