"""Any nn.Module trains with no change to descentlab: a YAML file with its _target_ in the
user's own config dir, and every view uses the module's own parameter names."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import scalars

pytestmark = pytest.mark.slow


def plug_in(tmp_path, module: str, source: str, config: str, option: str = "") -> None:
    """The user's package (pkg/<module>.py) and config (conf/model/<option or module>.yaml)."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / f"{module}.py").write_text(textwrap.dedent(source))
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / f"{option or module}.yaml").write_text(config)


def descentlab(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    """The app, with the user's config dir searched and their package importable."""
    return subprocess.run(
        [sys.executable, "-m", "descentlab", f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
         *overrides],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path / "pkg")},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_module_defined_only_here_trains_through_its_own_config(tmp_path):
    source = """
        from torch import nn

        class TwoLayer(nn.Module):
            def __init__(self, hidden: int):
                super().__init__()
                self.encoder = nn.Linear(1, hidden)
                self.head = nn.Linear(hidden, 1)

            def forward(self, x):
                return self.head(self.encoder(x).tanh())
    """
    config = "_target_: my_models.TwoLayer\nhidden: 8\n"
    plug_in(tmp_path, "my_models", source, config, option="two_layer")
    run_dir = tmp_path / "run"
    proc = descentlab(
        tmp_path,
        "model=two_layer",
        "init=xavier_uniform",
        "trainer.max_steps=40",
        "optimizer.lr=0.05",
        f"hydra.run.dir={run_dir}",
    )
    assert proc.returncode == 0, proc.stderr
    logged = scalars(run_dir)
    names = ["encoder.weight", "encoder.bias", "head.weight", "head.bias"]
    assert all(f"grad_norm/{name}" in logged for name in names)
    assert all(f"update_ratio/{name}" in logged for name in names)
    loss = [v for _, v in logged["train/loss"]]
    assert loss[-1] < loss[0]
    assert (run_dir / "loss_slices.png").is_file() and (run_dir / "loss_pca.png").is_file()
    bad = descentlab(
        tmp_path, "model=two_layer", "+model.depth=3", f"hydra.run.dir={tmp_path / 'bad'}"
    )
    assert bad.returncode == 2
    assert (
        "model.depth: not an argument of my_models.TwoLayer; allowed: hidden; ~model.depth drops it"
        in bad.stderr
    )


def test_evaluating_the_end_of_run_views_leaves_the_model_as_training_left_it(tmp_path):
    """BatchNorm, dropout and one submodule held under two names: the final metrics and the
    surfaces evaluate in eval mode on what training left, and change nothing of it (the
    running statistics, the shared weights) before the checkpoint is written."""
    import json

    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    source = """
        import torch
        from torch import nn

        class Mixed(nn.Module):
            def __init__(self, hidden: int):
                super().__init__()
                self.inp = nn.Linear(1, hidden)
                self.bn = nn.BatchNorm1d(hidden)
                self.mid = nn.Linear(hidden, hidden)
                self.mid2 = self.mid  # the same layer, twice
                self.drop = nn.Dropout(0.2)
                self.out = nn.Linear(hidden, 1)

            def forward(self, x):
                h = torch.tanh(self.bn(self.inp(x)))
                return self.out(self.drop(torch.tanh(self.mid2(torch.tanh(self.mid(h))))))
    """
    plug_in(tmp_path, "mixed", source, "_target_: mixed.Mixed\nhidden: 16\n")
    run_dir = tmp_path / "run"
    proc = descentlab(
        tmp_path, "data=nonlinear", "model=mixed", "init=none", "scheduler=none",
        "trainer.max_steps=30", "callbacks.surface.resolution=5", f"hydra.run.dir={run_dir}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sys.path.insert(0, str(tmp_path / "pkg"))
    try:
        from mixed import Mixed
    finally:
        sys.path.remove(str(tmp_path / "pkg"))
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert int(saved["model.bn.num_batches_tracked"]) == 30  # one per training step
    model = Mixed(16)
    model.load_state_dict({k[6:]: v for k, v in saved.items() if k.startswith("model.")})
    data = instantiate(OmegaConf.load(run_dir / ".hydra" / "config.yaml").data)
    with torch.no_grad():
        model.eval()
        train_loss = float(torch.nn.functional.mse_loss(model(data.x_train), data.y_train))
        val_loss = float(torch.nn.functional.mse_loss(model(data.x_val), data.y_val))
    logged = scalars(run_dir)
    assert logged["final/train_loss"][-1][1] == pytest.approx(train_loss, rel=1e-5)
    assert logged["final/val_loss"][-1][1] == pytest.approx(val_loss, rel=1e-5)
    assert logged["val/loss"][-1] == (30, pytest.approx(val_loss, rel=1e-5))
    results = json.loads((run_dir / "results.json").read_text())
    assert results["final_loss"] == pytest.approx(train_loss, rel=1e-5)


def test_a_model_that_returns_a_tuple_is_told_so_in_one_line(tmp_path):
    source = """
        from torch import nn

        class Pair(nn.Module):
            def __init__(self):
                super().__init__()
                self.layer = nn.Linear(1, 1)

            def forward(self, x):
                y = self.layer(x)
                return y, y.detach()
    """
    plug_in(tmp_path, "pair", source, "_target_: pair.Pair\n")
    proc = descentlab(
        tmp_path, "data=nonlinear", "model=pair", "init=none", "trainer.max_steps=20",
        f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "descentlab: error: model: its forward returned a tuple; the criterion and the metrics "
        "take the prediction as one tensor: return that alone"
    )


def test_a_model_with_a_complex_parameter_is_told_so_in_one_line(tmp_path):
    source = """
        import torch
        from torch import nn

        class Phase(nn.Module):
            def __init__(self):
                super().__init__()
                self.wc = nn.Parameter(torch.tensor(1.0 + 0j))

            def forward(self, x):
                return (x * self.wc).real
    """
    plug_in(tmp_path, "phase", source, "_target_: phase.Phase\n")
    run_dir = tmp_path / "run"
    proc = descentlab(
        tmp_path, "model=phase", "init=none", "trainer.max_steps=20", f"hydra.run.dir={run_dir}"
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "descentlab: error: model._target_=phase.Phase: its parameter wc is complex; "
        "descentlab's views take real ones: hold its real and imaginary parts as two real "
        "parameters"
    )
    assert not run_dir.exists()  # refused before anything was written: removed again


def test_resuming_a_model_with_dropout_draws_what_the_run_would_have(tmp_path):
    """Dropout draws random numbers every step: the checkpoint keeps where they stand."""
    source = """
        from torch import nn

        class Dropping(nn.Module):
            def __init__(self):
                super().__init__()
                self.inp, self.drop, self.out = nn.Linear(1, 16), nn.Dropout(0.5), nn.Linear(16, 1)

            def forward(self, x):
                return self.out(self.drop(self.inp(x).tanh()))
    """
    plug_in(tmp_path, "dropping", source, "_target_: dropping.Dropping\n")

    def run(name: str, *overrides: str) -> dict:
        proc = descentlab(
            tmp_path, "data=nonlinear", "model=dropping", "init=none", "scheduler=none",
            "callbacks.surface=null", f"hydra.run.dir={tmp_path / name}", *overrides,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return dict(scalars(tmp_path / name)["train/loss"])

    straight = run("straight", "trainer.max_steps=40")
    run("first", "trainer.max_steps=20")
    resumed = run(
        "resumed", "trainer.max_steps=40", f"ckpt_path={tmp_path / 'first/checkpoints/last.ckpt'}"
    )
    assert sorted(resumed) == list(range(20, 40))
    assert [resumed[k] for k in range(20, 40)] == [straight[k] for k in range(20, 40)]


@pytest.mark.parametrize(
    "source, expected",
    [
        (
            "class Model:\n    def __init__(self):\n        self.w = 1.0\n",
            "model._target_=mine.Model: built a Model, not a torch.nn.Module",
        ),
        (
            "class Model(:\n    pass\n",
            "model._target_=mine.Model: cannot import it (SyntaxError: ",  # then Python's words
        ),
    ],
)
def test_a_model_that_is_not_an_nn_module_or_does_not_load_is_one_line(tmp_path, source, expected):
    plug_in(tmp_path, "mine", source, "_target_: mine.Model\n")
    proc = descentlab(
        tmp_path, "model=mine", "init=none", "trainer.max_steps=20",
        f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"descentlab: error: {expected}")


def test_a_function_that_builds_a_module_is_a_model_too(tmp_path):
    """Put in model=linear's place on the command line; the settings name it, not linear."""
    source = "from torch import nn\n\ndef Model():\n    return nn.Linear(1, 1)\n"
    plug_in(tmp_path, "mine", source, "_target_: mine.Model\n")
    proc = descentlab(
        tmp_path, "model._target_=mine.Model", "~model.bias", "init=none", "trainer.max_steps=20",
        "explain=0", f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^model +mine\.Model *$", proc.stdout, re.MULTILINE), proc.stdout
    assert (tmp_path / "run" / "loss_contour.png").is_file()  # weight and bias: the contour
