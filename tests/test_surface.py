"""Loss surfaces: the numbers the figures are drawn from, against closed forms and direct
evaluation; and the callback's bounded recording."""

import math
from functools import partial

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from descentlab import figures, surface
from descentlab.callbacks.surface import LossSurface
from descentlab.data.linear import LinearData
from descentlab.init import constant, initialize
from descentlab.models.linear import Linear
from descentlab.module import DescentModule


class Record(Callback):
    def __init__(self) -> None:
        self.w, self.grad = [], []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.w.append(pl_module.model.w.item())
        self.grad.append(pl_module.model.w.grad.item())


def fit(tmp_path, model, steps=30, lr=0.1, **surface_args):
    data = LinearData(3.0, -1.0, 128, 0.1, "normal", 1.0, 0.25, None, seed=0)
    args = {"points": 8, "snapshots": 40, "resolution": 11, "max_samples": 2048, "every_n_steps": 0}
    args["seed"] = 0
    callback = LossSurface(**{**args, **surface_args})
    record = Record() if isinstance(model, Linear) else Callback()
    trainer = L.Trainer(
        max_steps=steps,
        val_check_interval=10,
        default_root_dir=tmp_path,
        logger=TensorBoardLogger(tmp_path, name="", version=""),
        callbacks=[record, callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    module = DescentModule(model, nn.MSELoss(), partial(torch.optim.SGD, lr=lr))
    trainer.fit(module, datamodule=data)
    return callback, record, data


def toy(bias: bool) -> Linear:
    model = Linear(bias=bias)
    initialize(model, partial(constant, value=1.0))
    return model


def test_curve_points_tangents_and_curve_are_the_runs(tmp_path):
    callback, record, data = fit(tmp_path, toy(bias=False), lr=0.3)
    c = callback.curve
    x, y = data.x_train.double(), data.y_train.double() + 0.0
    assert c.visited == pytest.approx(record.w[:8])  # points 0..7 are w[0..7]
    assert c.slopes == pytest.approx(record.grad[:8])  # tangent slopes are the logged dL/dw
    for w, loss in list(zip(c.w.tolist(), c.loss.tolist(), strict=True))[::20]:
        assert loss == pytest.approx(float(((w * x - y) ** 2).mean()), rel=1e-4)  # L(w), exact
    for w, slope in zip(c.visited, c.slopes, strict=True):  # each tangent touches the curve
        eps = 1e-3
        numeric = (
            float(((w + eps) * x - y).pow(2).mean()) - float(((w - eps) * x - y).pow(2).mean())
        ) / (2 * eps)
        assert slope == pytest.approx(numeric, rel=1e-3, abs=1e-4)
    assert (tmp_path / "loss_curve.png").stat().st_size > 10_000
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    assert "surface/curve" in events.Tags()["images"]


def test_a_step_where_the_loss_overflows_leaves_the_curve_drawable():
    """lr = 1e30: w[1] ≈ 3e30, where L overflows float32; the curve spans the steps whose loss
    is finite and is drawn with those."""
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    y = 3 * x
    model = Linear(bias=False)
    c = surface.curve(model, nn.MSELoss(), x, y, "w", [1.0, 3e30], [-4.0, 1e31], center=3.0)
    assert torch.isfinite(c.loss).all() and float(c.w.max()) < 10
    assert math.isfinite(c.visited_loss[0]) and not math.isfinite(c.visited_loss[1])
    figures.draw_curve(c, lr=1e30)  # raised "Axis limits cannot be NaN or Inf"


def test_contour_is_the_exact_bowl_and_the_path_is_the_runs(tmp_path):
    callback, _, data = fit(tmp_path, toy(bias=True))
    c = callback.contour
    x, y = data.x_train.double(), data.y_train.double()
    for i, j in [(0, 0), (5, 70), (40, 40), (79, 3)]:
        w, b = float(c.a[j]), float(c.b[i])
        assert float(c.loss[i, j]) == pytest.approx(float(((w * x + b - y) ** 2).mean()), rel=1e-4)
    assert c.path[0].tolist() == [1.0, 1.0]  # init constant 1
    assert len(c.path) == 31  # 30 steps and the final point
    assert (tmp_path / "loss_contour.png").is_file()


def test_torchs_own_linear_1_to_1_gets_the_exact_curve_and_contour(tmp_path):
    """nn.Linear(1, 1): a weight of shape 1 × 1 and a bias of shape (1,), one number each;
    L on the grid is L with each number put back in its parameter's shape."""
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    y = 3 * x - 1
    model = nn.Linear(1, 1)
    c = surface.contour(model, nn.MSELoss(), x, y, ("weight", "bias"), torch.zeros(1, 2), (3, -1))
    xd, yd = x.double(), y.double()
    for i, j in [(0, 0), (5, 70), (40, 40), (79, 3)]:
        w, b = float(c.a[j]), float(c.b[i])
        assert float(c.loss[i, j]) == pytest.approx(
            float(((w * xd + b - yd) ** 2).mean()), rel=1e-4
        )
    model = nn.Linear(1, 1, bias=False)
    c = surface.curve(model, nn.MSELoss(), x, 3 * x, "weight", [1.0, 2.0], [-4.0, -2.0], center=3.0)
    for w, loss in list(zip(c.w.tolist(), c.loss.tolist(), strict=True))[::20]:
        assert loss == pytest.approx(float(((w * xd - 3 * xd) ** 2).mean()), rel=1e-4)
    assert c.visited_loss == pytest.approx([float(((w - 3) * xd).pow(2).mean()) for w in (1, 2)])


def test_only_the_theorys_linear_model_is_called_a_bowl():
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    c = surface.contour(
        nn.Linear(1, 1), nn.MSELoss(), x, 3 * x, ("weight", "bias"), torch.zeros(1, 2), (3, 0)
    )
    assert "bowl" in figures.draw_contour(c, best=(3.0, 0.0)).axes[0].get_title()
    assert figures.draw_contour(c).axes[0].get_title() == "L(weight, bias): exact on the grid"


class Noisy(nn.Module):
    """A forward that draws random numbers: w·x plus noise."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x + 0.01 * torch.randn_like(x)


def test_a_forward_that_draws_random_numbers_gets_one_draws_curve_and_leaves_the_rng_as_it_was():
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    state = torch.get_rng_state()
    c = surface.curve(Noisy(), nn.MSELoss(), x, 3 * x, "w", [1.0], [-4.0], center=3.0)
    assert torch.equal(torch.get_rng_state(), state)  # training draws what it would have drawn
    # one draw of noise for every w: L(w) is a smooth parabola, its second difference constant
    second = c.loss[2:] - 2 * c.loss[1:-1] + c.loss[:-2]
    assert torch.allclose(second, second.mean().expand_as(second), atol=1e-5)


class RecordWB(Callback):
    def __init__(self) -> None:
        self.path = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.path.append([pl_module.model.w.item(), pl_module.model.b.item()])


def test_the_contour_path_is_every_step_also_past_the_snapshot_bound(tmp_path):
    """An overshooting run zig-zags across the minimum: every other step (thinning) would show
    one side only. 60 steps, more than `snapshots` (40): all of them, in order."""
    record = RecordWB()
    data = LinearData(3.0, -1.0, 128, 0.1, "normal", 1.0, 0.25, None, seed=0)
    callback = LossSurface(8, 40, 11, 2048, 0, seed=0)
    trainer = L.Trainer(
        max_steps=60, val_check_interval=10, default_root_dir=tmp_path, logger=False,
        callbacks=[record, callback], enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    module = DescentModule(toy(bias=True), nn.MSELoss(), partial(torch.optim.SGD, lr=0.9))
    trainer.fit(module, datamodule=data)
    path = callback.contour.path
    assert torch.equal(path[:-1], torch.tensor(record.path))  # then the final point
    w = path[:10, 0] - 3  # w − w* ≈ w − 3: it zig-zags, each step on the other side
    assert (w[1:] * w[:-1] < 0).all()


def test_the_curves_title_gives_the_optimizers_step_and_mini_batches_are_named():
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    c = surface.curve(
        Linear(bias=False), nn.MSELoss(), x, 3 * x, "w", [1.0, 1.5], [-2.0, -1.0], 3.0
    )
    rule = "w ← w − lr·v, v ← 0.9·v + dL/dw"
    ax = figures.draw_curve(c, lr=0.05, rule=rule, note="batches of 8").axes[0]
    assert ax.get_title() == f"L(w): tangent slope = dL/dw; {rule}, lr = 0.05"
    assert "batches of 8" in ax.get_xlabel()
    assert [t.get_text() for t in ax.texts if t.get_text()] == ["0", "1"]  # steps, from 0


@pytest.mark.parametrize("name", ["w", "theta", "layer.weight"])
def test_the_curves_title_fits_its_figure_with_any_name_and_rule(name):
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    c = surface.curve(Linear(bias=False), nn.MSELoss(), x, 3 * x, "w", [1.0], [-2.0], 3.0)
    c.name = name
    adam = f"Adam makes its own step of dL/d{name}, not −lr·dL/d{name}"
    for rule in (None, adam):
        fig = figures.draw_curve(c, lr=0.001, rule=rule)
        fig.canvas.draw()
        box = fig.axes[0].title.get_window_extent()
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height, rule
        assert fig.axes[0].get_title().endswith("lr = 0.001")


def test_step_numbers_never_print_over_each_other():
    """Steps that crowd near the minimum (here 2 to 12) keep a number only where it clears the
    numbers already drawn: checked against the rendered text boxes, not the rule's sizes."""
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    visited = [1.0, 5.0, *(3 + 0.01 * (-1) ** k / (k + 1) for k in range(11))]
    c = surface.curve(Linear(bias=False), nn.MSELoss(), x, 3 * x, "w", visited, [0.0] * 13, 3.0)
    fig = figures.draw_curve(c, lr=0.9)
    fig.canvas.draw()
    labels = [t for t in fig.axes[0].texts if t.get_text()]
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in labels]
    shown = [t.get_text() for t in labels]
    assert shown[:3] == ["0", "1", "2"]  # apart from each other: each numbered
    assert len(shown) < len(visited)  # the crowd near w* = 3: some left out
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b) for b in boxes[i + 1 :]), shown


def test_filter_normalised_direction_matches_each_filters_norm():
    torch.manual_seed(0)
    layer = nn.Linear(5, 3)
    params = {"weight": layer.weight.detach(), "bias": layer.bias.detach(), "s": torch.tensor(-2.0)}
    d = surface.filter_normalized(params, torch.Generator().manual_seed(1))
    torch.testing.assert_close(d["weight"].norm(dim=1), params["weight"].norm(dim=1))
    assert torch.equal(d["bias"], torch.zeros(3))
    assert d["s"].abs().item() == pytest.approx(2.0)


def test_slices_pass_through_the_final_loss(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    callback, _, data = fit(tmp_path, model, steps=40, lr=0.05, resolution=11)
    with torch.no_grad():
        final = float(nn.MSELoss()(model(data.x_train), data.y_train))
    s = callback.slices
    assert s.line[5].item() == pytest.approx(final, rel=1e-5)  # α = 0
    assert s.plane[5, 5].item() == pytest.approx(final, rel=1e-5)
    t = callback.trajectory
    assert t.path[-1].abs().max().item() < 1e-5  # the final weights are the origin
    assert 0 < t.explained[1] <= t.explained[0] <= 1
    assert {p.name for p in tmp_path.glob("loss_*.png")} == {"loss_slices.png", "loss_pca.png"}


def test_the_slices_directions_follow_the_seed(tmp_path):
    """The same run with seed=1 slices the loss along other random directions; with seed=0
    again, along the same ones."""

    def line(seed: int, name: str) -> torch.Tensor:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
        callback, _, _ = fit(tmp_path / name, model, steps=10, lr=0.05, seed=seed)
        return callback.slices.line

    first = line(0, "a")
    assert torch.equal(line(0, "b"), first)
    assert not torch.allclose(line(1, "c"), first)


def test_a_straight_path_is_one_principal_direction():
    model = nn.Linear(3, 1)
    params = {n: p.detach() for n, p in model.named_parameters()}
    final = surface.flatten(params)
    step = torch.randn(final.shape)
    snapshots = torch.stack([final + k * step for k in (5, 4, 3, 2, 1, 0)])
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    t = surface.pca_trajectory(model, nn.MSELoss(), x, y, params, snapshots, points=5)
    assert t.explained[0] == pytest.approx(1.0, abs=1e-6)
    assert t.path[:, 0].abs().tolist() == pytest.approx(
        [5 * step.norm().item() * k / 5 for k in (5, 4, 3, 2, 1, 0)], rel=1e-4
    )


def test_the_path_view_is_drawn_to_equal_scale_with_round_levels_and_a_bar_as_tall():
    """Both principal directions are distances in weight space, so one unit is as long on each
    axis; the contour levels are round numbers (at most two significant digits, or steps of a
    round size where the range spans less than a decade); the colour bar is as tall as the
    axes, which equal scale makes short."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    params = {n: p.detach() for n, p in model.named_parameters()}
    final = surface.flatten(params)
    along, across = torch.randn(final.shape), torch.randn(final.shape)
    snapshots = torch.stack(
        [final + k * along + 0.2 * k * (k - 4) * across for k in range(4, -1, -1)]
    )
    x, y = torch.randn(64, 2), torch.randn(64, 1)
    t = surface.pca_trajectory(model, nn.MSELoss(), x, y, params, snapshots, points=9)
    fig = figures.draw_trajectory(t)
    fig.canvas.draw()
    ax, bar = fig.axes
    a_to_pixels = ax.transData.transform([[0, 0], [1, 1]])
    assert np.ptp(a_to_pixels[:, 0]) == pytest.approx(np.ptp(a_to_pixels[:, 1]), rel=1e-6)
    assert bar.get_window_extent().height == pytest.approx(ax.get_window_extent().height, abs=1)
    (lines,) = [c for c in ax.collections if hasattr(c, "levels")]
    levels = np.asarray(lines.levels)
    assert len(levels) >= 8
    loss = t.loss.numpy()
    assert (
        loss.min() <= levels.min() and levels.max() <= loss.max() and loss.max() > 10 * loss.min()
    )
    assert levels == pytest.approx([float(f"{v:.2g}") for v in levels], rel=1e-9)


def test_a_range_under_a_decade_gets_evenly_spaced_round_levels():
    levels = figures.round_levels(0.5, 0.6)
    steps = np.diff(levels)
    assert len(levels) >= 8 and steps == pytest.approx(steps[0], rel=1e-6)
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert min(abs(mantissa - m) for m in (1, 2, 2.5, 5)) < 1e-6  # a round step


class Mixed(nn.Module):
    """A float32 layer, then a float64 one."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = nn.Linear(3, 4), nn.Linear(4, 1).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x).tanh().double())


def test_the_principal_plane_of_a_model_with_float32_and_float64_layers():
    """flatten promotes the weights to float64; each layer gets its values back in its own
    dtype (matmul refuses to mix them)."""
    model = Mixed()
    params = {n: p.detach() for n, p in model.named_parameters()}
    final = surface.flatten(params)
    back = surface.unflatten(final, params)
    assert all(back[n].dtype == p.dtype and torch.equal(back[n], p) for n, p in params.items())
    snapshots = torch.stack([final + torch.randn(final.shape) for _ in range(4)] + [final])
    x, y = torch.randn(16, 3), torch.randn(16, 1, dtype=torch.float64)
    t = surface.pca_trajectory(model, nn.MSELoss(), x, y, params, snapshots, points=3)
    assert torch.isfinite(t.loss).all()


def test_snapshots_stay_bounded_and_span_the_run(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1))
    callback, _, _ = fit(tmp_path, model, steps=100, lr=0.05, snapshots=8)
    assert len(callback.visited) < 8
    assert callback.record_every > 1
    assert (len(callback.visited) - 1) * callback.record_every >= 100 // 2  # covers the run


def test_the_loss_curve_figure_kept_for_the_next_run_draws_what_a_fresh_one_draws():
    grid = torch.linspace(-1.0, 1.0, 200, dtype=torch.float64)
    small = surface.Curve(
        "b", grid, 1e-5 * (grid**2 + 0.1), [0.5, -0.4], [3.5e-6, 2.6e-6], [1e-5, -8e-6]
    )
    wide = surface.Curve(
        "w",
        40 * grid,
        900 * grid**2,
        [30.0, -20.0, 10.0],
        [506.0, 225.0, 56.0],
        [45.0, -30.0, 15.0],
    )
    figures.curve_axes.cache_clear()  # a process's first curve: new axes
    fresh = figures.render(figures.draw_curve(small))
    figures.render(figures.draw_curve(wide, lr=0.5))  # another run's curve on the same axes
    again = figures.render(figures.draw_curve(small))
    assert figures.curve_axes.cache_info().currsize == 1
    assert np.array_equal(fresh, again)


def test_a_plane_where_the_loss_is_the_same_everywhere_gets_a_note_not_an_error():
    """An MLP whose units all start alike (init=constant) can have a flat loss around it."""
    import numpy as np
    from matplotlib.figure import Figure

    from descentlab.figures import contours

    fig = Figure()
    ax = fig.add_subplot()
    grid = np.linspace(-1, 1, 5)
    contours(fig, ax, grid, grid, np.full((5, 5), 4.5))
    assert [t.get_text() for t in ax.texts] == ["L = 4.5 all over this plane"]
    assert ax.get_xlim() == (-1.0, 1.0)


def test_the_figures_mark_the_minimum_the_theory_gives():
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    c = surface.curve(
        Linear(bias=False), nn.MSELoss(), x, 3 * x, "w", [1.0, 1.5], [-2.0, -1.0], 3.0
    )
    ax = figures.draw_curve(c, lr=0.1, w_star=2.9).axes[0]
    assert [2.9, 2.9] in [list(line.get_xdata()) for line in ax.get_lines()]  # the w* line
    model = toy(bias=True)
    path = torch.tensor([[1.0, 1.0], [2.0, 0.5], [2.9, 0.1]])
    k = surface.contour(model, nn.MSELoss(), x, 3 * x + 0.1, ("w", "b"), path, (2.9, 0.1))
    ax = figures.draw_contour(k, best=(3.0, 0.1)).axes[0]
    (star,) = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert (list(star.get_xdata()), list(star.get_ydata())) == ([3.0], [0.1])
    assert star.get_label() == "minimum (w*, b*)"
