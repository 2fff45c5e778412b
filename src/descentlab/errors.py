"""The one kind of error a user can fix by changing the command line."""

from hydra.errors import CompactHydraException


class ConfigError(CompactHydraException, ValueError):
    """A config value that cannot work; the message names the key and what is allowed.

    A CompactHydraException, so that Hydra reports it as its message alone, without a traceback.
    """
