"""The one kind of error a user can fix by changing the command line."""

import re

from hydra.errors import CompactHydraException, InstantiationException


class ConfigError(CompactHydraException, ValueError):
    """A config value that cannot work; the message names the key and what is allowed.

    A CompactHydraException, so that Hydra reports it as its message alone, without a traceback.
    """


def refused(error: InstantiationException) -> ConfigError:
    """Hydra's "Error in call to target …" block as one line: the key it built, and the first
    line of what the constructor said (as it is where that names the key or one below it)."""
    key = re.search(r"full_key: (\S+)", str(error))
    cause = error.__cause__
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    name = key.group(1) if key else "config"
    named = reason.startswith((f"{name}:", f"{name}."))
    return ConfigError(reason if named else f"{name}: {reason}")
