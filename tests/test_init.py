import math
from functools import partial

import pytest
import torch
from torch import nn

from descentlab import init
from descentlab.models.linear import Linear


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(50, 40), nn.LayerNorm(40), nn.Linear(40, 30))


def test_constant_sets_every_parameter():
    model = Linear(bias=True)
    init.initialize(model, lambda p: init.constant(p, value=1.0))
    assert model.w.item() == 1.0 and model.b.item() == 1.0


def test_zeros():
    model = mlp()
    init.initialize(model, init.zeros)
    assert all((p == 0).all() for p in model.parameters())


def test_normal_matches_its_mean_and_std():
    torch.manual_seed(0)
    p = torch.empty(200_000)
    init.normal(p, mean=2.0, std=0.5)
    assert abs(p.mean().item() - 2.0) < 0.01
    assert abs(p.std().item() - 0.5) < 0.01


def test_uniform_stays_in_its_bounds():
    p = torch.empty(100_000)
    init.uniform(p, a=-3.0, b=-1.0)
    assert p.min() >= -3.0 and p.max() <= -1.0
    assert abs(p.mean().item() + 2.0) < 0.02


def test_xavier_uniform_bound_on_a_weight_matrix():
    torch.manual_seed(0)
    model = mlp()
    init.initialize(model, lambda p: init.xavier_uniform(p, gain=1.0))
    w = model[0].weight  # fan_in 50, fan_out 40
    bound = math.sqrt(6 / (50 + 40))
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.95 * bound


def test_fan_based_inits_leave_1d_parameters_as_the_module_made_them():
    torch.manual_seed(0)
    model = mlp()
    before = {n: p.clone() for n, p in model.named_parameters() if p.dim() == 1}
    init.initialize(
        model, lambda p: init.kaiming_normal(p, a=0.0, mode="fan_in", nonlinearity="relu")
    )
    for name, p in model.named_parameters():
        if p.dim() == 1:
            assert torch.equal(p, before[name]), name
    assert torch.equal(model[1].weight, torch.ones(40))  # LayerNorm scale still 1


def test_kaiming_normal_std_on_a_weight_matrix():
    torch.manual_seed(0)
    w = torch.empty(400, 300)
    init.kaiming_normal(w, a=0.0, mode="fan_in", nonlinearity="relu")
    assert abs(w.std().item() - math.sqrt(2 / 300)) < 0.002


@pytest.mark.parametrize("draw", ["xavier", "kaiming"])
def test_a_scalar_weight_counts_as_1x1(draw):
    torch.manual_seed(0)
    samples = torch.empty(20_000)
    for i in range(len(samples)):
        p = torch.empty(())
        if draw == "xavier":
            init.xavier_uniform(p, gain=1.0)  # U(±√3): std 1
        else:
            init.kaiming_normal(p, a=0.0, mode="fan_in", nonlinearity="relu")  # N(0, 2)
        samples[i] = p
    expected_std = 1.0 if draw == "xavier" else math.sqrt(2)
    assert abs(samples.std().item() - expected_std) < 0.03
    if draw == "xavier":
        assert samples.abs().max() <= math.sqrt(3)


class PartlyPretrained(nn.Module):
    """A trainable head on a frozen layer, and a parameter of integers."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(3, 3).requires_grad_(False)
        nn.init.constant_(self.body.weight, 0.5)  # equal values, frozen: nothing to come apart
        self.head = nn.Linear(3, 1)
        self.k = nn.Parameter(torch.tensor([2, 5]), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@pytest.mark.parametrize(
    "scheme", [partial(init.constant, value=1.0), partial(init.normal, mean=0.0, std=1.0)]
)
def test_what_does_not_train_keeps_the_models_own_values(scheme):
    model = PartlyPretrained()
    body, head = model.body.weight.clone(), model.head.weight.clone()
    init.initialize(model, scheme)  # normal_ on integers raised NotImplementedError
    assert torch.equal(model.body.weight, body)
    assert model.k.tolist() == [2, 5]
    assert not torch.equal(model.head.weight, head)  # what trains is set
    if scheme.func is init.constant:
        assert (model.head.weight == 1.0).all()
        assert init.symmetric(model) == ["head.weight"]  # not the frozen body
