"""The MLP and the CNN, the digits and nonlinear data, and sizes that flow from data to model."""

import subprocess
import sys
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from torchmetrics.classification import MulticlassAccuracy

from descentlab.cli import CONF_DIR
from descentlab.data.digits import Digits
from descentlab.data.nonlinear import Nonlinear
from descentlab.models.cnn import CNN
from descentlab.models.mlp import MLP
from descentlab.module import DescentModule


def digits() -> Digits:
    return Digits(64, 10, 0.15, 0.15, 128, seed=0)


def test_digits_split_is_disjoint_deterministic_and_complete():
    a, b = digits(), digits()
    assert torch.equal(a.x_test, b.x_test)
    sizes = (len(a.x_train), len(a.x_val), len(a.x_test))
    assert sum(sizes) == 1797 and sizes[1] == sizes[2] == round(1797 * 0.15)
    assert a.x_train.shape[1] == 64 and a.x_train.min() >= 0 and a.x_train.max() <= 1
    assert set(a.y_train.tolist()) == set(range(10))


def test_digits_are_scikit_learns_and_do_not_import_it():
    from sklearn.datasets import load_digits

    from descentlab.data.split import split

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    ours = Digits(64, 10, 0.15, 0.15, None, seed=3)
    for (x_part, y_part), part in zip(
        split(x, y, [0.15, 0.15], 3), ["train", "val", "test"], strict=True
    ):
        assert torch.equal(getattr(ours, f"x_{part}"), x_part)
        assert torch.equal(getattr(ours, f"y_{part}"), y_part)
    code = (
        "import sys; from descentlab.data.digits import Digits; "
        "Digits(64, 10, 0.15, 0.15, None, seed=0); print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_digits_refuse_a_validation_set_of_one():
    with pytest.raises(ValueError, match=r"data.val_fraction=0.0001: 1 validation sample"):
        Digits(64, 10, 0.0001, 0.15, None, seed=0)
    assert len(Digits(64, 10, 0.001, 0.15, None, seed=0).x_val) == 2


def test_nonlinear_data_follows_its_curve():
    d = Nonlinear(1, 1, 2000, 0.0, 0.25, None, seed=0)
    torch.testing.assert_close(d.y_train, torch.sin(3 * d.x_train) + d.x_train / 2)


@pytest.mark.parametrize(
    "model, data",
    [
        (lambda: MLP(64, 10, [32, 32], "relu", True), digits),
        (lambda: CNN(64, 10, [8, 16]), digits),
        (lambda: MLP(1, 1, [16], "tanh", True), lambda: Nonlinear(1, 1, 256, 0.1, 0.25, None, 0)),
    ],
)
def test_fast_dev_run_of_each_model(model, data):
    data = data()
    classification = data.y_train.dtype == torch.long
    criterion = torch.nn.CrossEntropyLoss() if classification else torch.nn.MSELoss()
    metrics = {"acc": MulticlassAccuracy(num_classes=10)} if classification else {}
    module = DescentModule(model(), criterion, partial(torch.optim.Adam, lr=1e-3), metrics=metrics)
    trainer = L.Trainer(
        fast_dev_run=True, accelerator="cpu", enable_progress_bar=False, logger=False
    )
    trainer.fit(module, datamodule=data)
    assert module.steps.item() == 1
    out = module(data.x_val)
    assert out.shape == ((len(data.x_val), 10) if classification else data.y_val.shape)


def test_parameter_names_are_the_layers():
    assert [n for n, _ in MLP(4, 2, [3], "relu", True).named_parameters()] == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.2.weight",
        "layers.2.bias",
    ]
    names = [n for n, _ in CNN(64, 10, [8, 16]).named_parameters()]
    assert names[0] == "features.0.weight" and names[-1] == "head.bias"


@pytest.mark.parametrize("experiment", ["digits_mlp", "digits_cnn", "nonlinear_mlp"])
def test_sizes_flow_from_the_data_to_the_model(experiment):
    with initialize_config_dir(config_dir=str(Path(CONF_DIR)), version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={experiment}"])
    assert cfg.model.in_features == cfg.data.in_features
    assert cfg.model.out_features == cfg.data.out_features


def test_cnn_refuses_a_non_square_input():
    with pytest.raises(ValueError, match="not a square image"):
        CNN(60, 10, [8])
