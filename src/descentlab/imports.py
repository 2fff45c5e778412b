"""Imports whose objects live as long as the process: torch, Lightning, the classes a config
names.

Importing torch and Lightning makes ~400 000 objects. Each full garbage collection during the
import walks all those made so far (seven of them, 0.7 s in all on a 2-core machine), and each
one after it all of them (0.15 s). So full collections wait until such an import is done (young
objects are still collected), and what it brought is then frozen out of every later one.
"""

import gc
import importlib
import sys
from types import ModuleType

# whether import_lasting has frozen in this process; gc.get_freeze_count() would say too, but it
# counts the frozen objects one by one (40 ms once torch is imported)
froze = False


def import_lasting(name: str) -> ModuleType:
    """`importlib.import_module(name)`, with no full collection while it first imports."""
    global froze
    if (module := sys.modules.get(name)) is not None:
        return module
    if froze:
        # a process that has run a job (a sweep's worker meeting a new _target_): its garbage
        # is collected first, or the freeze would keep that job's trainer and weights for good;
        # the collection walks only what is not frozen yet
        gc.collect()
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, 2**30)
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        froze = True
        gc.set_threshold(young, middle, full)
