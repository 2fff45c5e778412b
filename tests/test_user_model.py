"""Any nn.Module trains with no change to descentlab: a YAML file with its _target_ in the
user's own config dir, and every view uses the module's own parameter names."""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import scalars

pytestmark = pytest.mark.slow


def test_a_module_defined_only_here_trains_through_its_own_config(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "my_models.py").write_text(
        textwrap.dedent("""
        from torch import nn

        class TwoLayer(nn.Module):
            def __init__(self, hidden: int):
                super().__init__()
                self.encoder = nn.Linear(1, hidden)
                self.head = nn.Linear(hidden, 1)

            def forward(self, x):
                return self.head(self.encoder(x).tanh())
    """)
    )
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "two_layer.yaml").write_text(
        "_target_: my_models.TwoLayer\nhidden: 8\n"
    )
    run_dir = tmp_path / "run"

    def descentlab(*overrides: str) -> subprocess.CompletedProcess:
        """The app, with the user's config dir searched and their package importable."""
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "descentlab",
                f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
                "model=two_layer",
                *overrides,
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(tmp_path / "pkg")},
            capture_output=True,
            text=True,
            timeout=300,
        )

    proc = descentlab(
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
    bad = descentlab("+model.depth=3", f"hydra.run.dir={tmp_path / 'bad'}")
    assert bad.returncode == 2
    assert "model.depth: not an argument of my_models.TwoLayer; allowed: hidden" in bad.stderr
