"""import_lasting: no full collection during a first import, what it brought frozen, and no
garbage of a job before it frozen with it. Each check runs in a fresh interpreter, as a
process that imports for its first run (the freeze would otherwise hold pytest's objects)."""

import json
import subprocess
import sys

# A process that has frozen once (its first import), then made a cycle that is garbage (a
# job's trainer and weights hold each other), then meets a module it has not imported yet.
GARBAGE_THEN_IMPORT = """
import gc, json, sys, weakref
from descentlab.imports import import_lasting

class Node:
    pass

import_lasting("json")  # in sys.modules already: nothing frozen
before = gc.get_freeze_count()
import_lasting("colorsys")  # a first import: frozen
first = gc.get_freeze_count()
a, b = Node(), Node()
a.other, b.other = b, a
alive = weakref.ref(a)
del a, b  # garbage, held by its cycle until a collection
module = import_lasting("wave")
print(json.dumps([before, first, alive() is None, module.__name__, gc.get_freeze_count() > first]))
"""


def run(script: str) -> list:
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_later_first_import_collects_the_garbage_before_it_freezes():
    before, first, collected, name, frozen_again = run(GARBAGE_THEN_IMPORT)
    assert before == 0 and first > 0  # the first import froze; one already there did not
    assert collected  # without the collection, the freeze keeps the cycle for good
    assert name == "wave" and frozen_again


FAILING_IMPORTS = """
import gc, json, sys
from descentlab.imports import import_lasting

gc.set_threshold(500, 7, 9)
errors = []
sys.modules["blocked"] = None  # what Python does to refuse a module
for name in ("no_such_module_here", "blocked"):
    try:
        import_lasting(name)
    except ImportError as error:
        errors.append(type(error).__name__ + ": " + str(error))
print(json.dumps([gc.get_threshold(), errors]))
"""


def test_a_failing_import_raises_importlibs_error_and_restores_the_thresholds():
    thresholds, errors = run(FAILING_IMPORTS)
    assert thresholds == [500, 7, 9]
    assert errors[0] == "ModuleNotFoundError: No module named 'no_such_module_here'"
    assert errors[1].startswith("ModuleNotFoundError: import of blocked halted")
