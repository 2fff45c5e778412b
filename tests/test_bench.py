"""The benchmark's plain loop does the seed example's math (so the comparison is fair)."""

import importlib.util

import pytest

from conftest import ROOT, scalars


def bench():
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_plain_loop_follows_gradient_descent_and_logs_the_same_tags(tmp_path):
    from descentlab.data.linear import LinearData

    d = LinearData(3.0, 0.0, 256, 0.1, "normal", 1.0, 0.25, None, seed=0)
    x, y = d.x_train.double(), d.y_train.double()
    h, w_star = float(2 * (x * x).mean()), float((x * y).mean() / (x * x).mean())
    w = bench().plain_seed_example(20, tmp_path, lr=0.1, w0=1.0)
    assert w == pytest.approx(w_star + (1 - 0.1 * h) ** 20 * (1.0 - w_star), abs=1e-5)
    logged = scalars(tmp_path)
    assert {"train/loss", "param/w", "grad/w", "lr", "val/loss"} <= set(logged)
    assert [s for s, _ in logged["param/w"]] == list(range(20))
