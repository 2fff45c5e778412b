"""The one kind of error a user can fix by changing the command line."""

import re
from typing import Any

from hydra.errors import CompactHydraException, InstantiationException
from omegaconf import OmegaConf


class ConfigError(CompactHydraException, ValueError):
    """A config value that cannot work; the message names the key and what is allowed.

    A CompactHydraException, so that Hydra reports it as its message alone, without a traceback.
    """


def refused(error: InstantiationException, cfg: Any = None) -> ConfigError:
    """Hydra's "Error in call to target …" block as one line: the key it built, and the first
    line of what the constructor said (as it is where that names the key or one below it).
    Where that quotes the value of one of the node's keys in `cfg` (Lightning's "Precision
    'bad' is invalid"), the line names that key and value; so too where it names one of them
    `in backticks` (Lightning's "`devices` selected with `CPUAccelerator` should be an int > 0")."""
    key = re.search(r"full_key: (\S+)", str(error))
    cause = error.__cause__
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    name = key.group(1) if key else "config"
    if reason.startswith((f"{name}:", f"{name}.")):
        return ConfigError(reason)
    node = OmegaConf.select(cfg, name, default=None) if key and cfg is not None else None
    if OmegaConf.is_dict(node):
        quoted = set(re.findall(r"'([^']*)'", reason))
        values = OmegaConf.to_container(node, resolve=False)  # as typed; no resolver runs here
        named = [
            k for k, v in values.items() if isinstance(v, str | int | float) and str(v) in quoted
        ]
        if len(named) != 1:
            named = [k for k in set(re.findall(r"`(\w+)`", reason)) if k in values]
        if len(named) == 1:
            return ConfigError(f"{name}.{named[0]}={values[named[0]]}: {reason}")
    return ConfigError(f"{name}: {reason}")
