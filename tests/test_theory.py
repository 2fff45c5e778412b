"""The closed forms against gradient descent run by hand, and against autograd."""

import itertools
import math

import pytest
import torch

from descentlab import theory


def descend(lr: float, h: float, steps: int, momentum: float = 0.0, e0: float = 2.0) -> list[float]:
    """e = w − w* under gradient descent on L = L* + (h/2)·e², PyTorch's momentum form."""
    e, v, errors = e0, 0.0, [e0]
    for _ in range(steps):
        g = h * e  # dL/dw
        v = momentum * v + g
        e = e - lr * v
        errors.append(e)
    return errors


@pytest.mark.parametrize("lr", [0.1, 0.5, 0.9, 1.4])
def test_contraction_is_the_ratio_of_successive_errors(lr):
    h = 1.6
    errors = descend(lr, h, steps=10)
    for a, b in itertools.pairwise(errors):
        assert abs(b / a) == pytest.approx(theory.contraction(lr, h), rel=1e-9)


def test_regimes_around_1_over_h_and_2_over_h():
    h = 1.6
    below = descend(0.5 / h, h, 20)
    assert all(e > 0 for e in below) and below[-1] < below[0]  # monotone
    between = descend(1.5 / h, h, 20)
    assert all(a * b < 0 for a, b in itertools.pairwise(between))  # alternating
    assert abs(between[-1]) < abs(between[0])  # still converging
    above = descend(2.1 / h, h, 20)
    assert abs(above[-1]) > abs(above[0])
    assert theory.regime(0.5 / h, h).startswith("converges monotonically")
    assert theory.regime(1.5 / h, h).startswith("overshoots")
    assert theory.regime(2.1 / h, h) == "diverges"


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9])
def test_critical_lr_separates_convergence_from_divergence(momentum):
    h = 1.6
    crit = theory.critical_lr(h, momentum)
    assert abs(descend(0.98 * crit, h, 3000, momentum)[-1]) < 1e-3
    assert abs(descend(1.02 * crit, h, 3000, momentum)[-1]) > 1e3


@pytest.mark.parametrize("lr, momentum", [(0.05, 0.9), (0.3, 0.5), (1.0, 0.2)])
def test_momentum_contraction_is_the_long_run_rate(lr, momentum):
    h = 1.6
    errors = descend(lr, h, 400, momentum)
    state = [math.hypot(a, b) for a, b in itertools.pairwise(errors)]
    rate = (state[-1] / state[100]) ** (1 / (len(state) - 1 - 100))
    assert rate == pytest.approx(theory.contraction(lr, h, momentum), rel=0.02)


def test_measured_contraction_recovers_the_rate():
    errors = torch.tensor(descend(0.9, 1.6, 30))
    assert theory.measured_contraction(errors, momentum=False) == pytest.approx(abs(1 - 0.9 * 1.6))
    assert math.isnan(theory.measured_contraction(torch.tensor([1.0, 0.0, 0.0]), momentum=False))


@pytest.mark.parametrize("steps", [20, 50, 63])
def test_measured_contraction_of_a_spiral_is_its_rate_wherever_it_stops(steps):
    """Momentum's error spirals in; the ratio of the first and last states' sizes misses its
    rate by a factor that depends on where on the turn the steps end (0.916 for 0.949 over the
    momentum preset's 50 steps); the fitted map does not."""
    lr, h, mu = 0.05, 1.62, 0.9
    errors = torch.tensor(descend(lr, h, steps, momentum=mu))
    rate = theory.contraction(lr, h, mu)
    assert rate == pytest.approx(mu**0.5)
    assert theory.measured_contraction(errors, momentum=True) == pytest.approx(rate, rel=1e-6)


@pytest.mark.parametrize("lr", [0.1, 0.55, 1.05])
def test_measured_contraction_with_a_bias_is_the_slowest_directions(lr):
    """θ = (w, b) under gradient descent with the Hessian H: e ← (I − lr·H)·e. The rate is
    max |1 − lr·λ| over H's eigenvalues, even where the error starts almost all in the other
    direction (b* ≈ b = 0)."""
    hessian = 2 * torch.tensor([[0.81, 0.02], [0.02, 1.0]], dtype=torch.float64)
    e, errors = torch.tensor([-2.0, 0.006], dtype=torch.float64), []
    for _ in range(50):
        errors.append(e)
        e = e - lr * hessian @ e
    rate = max(abs(1 - lr * float(lam)) for lam in torch.linalg.eigvalsh(hessian))
    measured = theory.measured_contraction(torch.stack(errors), momentum=False)
    assert measured == pytest.approx(rate, rel=1e-6)


def test_sign_flips_stop_counting_within_rounding():
    """Below 1e-5 (40 float32 spacings at w ≈ 3) w − w* is rounding, and its sign noise."""
    converged = descend(0.9, 1.6, 30)  # |e| shrinks by 0.44 a step: below 1e-5 after 15
    noise = [3e-7 * (-1) ** k for k in range(10)]  # then rounding, flipping every step
    flips, steps = theory.sign_flips(torch.tensor([e for e in converged if abs(e) > 1e-5] + noise))
    assert steps == sum(abs(e) > 1e-5 for e in converged) - 1
    assert flips == steps  # every step past w* until then


def test_hessian_and_optimum_match_autograd_and_the_normal_equations():
    torch.manual_seed(0)
    x = torch.randn(50, 1, dtype=torch.float64)
    y = 2.0 * x - 0.5 + 0.1 * torch.randn(50, 1, dtype=torch.float64)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return ((theta[0] * x + theta[1] - y) ** 2).mean()

    autograd_h = torch.autograd.functional.hessian(loss, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(theory.hessian(x, bias=True), autograd_h)
    no_bias = torch.autograd.functional.hessian(
        lambda w: ((w * x - y) ** 2).mean(), torch.zeros((), dtype=torch.float64)
    )
    assert theory.hessian(x, bias=False).item() == pytest.approx(no_bias.item())
    best = theory.least_squares(x, y, bias=True)
    grad = torch.autograd.functional.jacobian(
        loss, torch.tensor([best["w"], best["b"]], dtype=torch.float64)
    )
    assert grad.abs().max() < 1e-10  # the gradient vanishes at (w*, b*)
    w_star = theory.least_squares(x, y, bias=False)["w"]
    assert theory.dL_dw(w_star, x, y) == pytest.approx(0.0, abs=1e-12)


def test_dL_dw_of_a_summed_loss_is_autograds():
    torch.manual_seed(0)
    x, y = torch.randn(20, dtype=torch.float64), torch.randn(20, dtype=torch.float64)
    w = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    for reduction in ("mean", "sum"):
        w.grad = None
        torch.nn.MSELoss(reduction=reduction)(w * x + 0.2, y).backward()
        assert theory.dL_dw(0.7, x, y, 0.2, reduction) == pytest.approx(w.grad.item())


@pytest.mark.parametrize(
    "optimizer, momentum",
    [
        ({"momentum": 0.0}, 0.0),
        ({"momentum": 0.9}, 0.9),
        ({"momentum": 0.0, "dampening": 0.5}, 0.0),  # no momentum buffer to dampen
        ({"momentum": 0.9, "dampening": 0.5}, None),
        ({"momentum": 0.9, "nesterov": True}, None),
        ({"weight_decay": 0.01}, None),
        ("adam", None),
    ],
)
def test_heavy_ball_is_the_sgd_the_closed_forms_describe(optimizer, momentum):
    w = [torch.nn.Parameter(torch.zeros(1))]
    built = torch.optim.Adam(w) if optimizer == "adam" else torch.optim.SGD(w, lr=0.1, **optimizer)
    assert theory.heavy_ball(built) == momentum
