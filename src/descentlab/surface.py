"""Loss surfaces: L evaluated around the weights a run visited.

One or two trainable scalars (the seed example's w, or w and b) get the exact curve or
contour. Any larger model gets slices: 1-D and 2-D along random directions, each filter
(a Linear layer's output row, a conv's output channel) rescaled to the norm of the same filter
in the final weights, biases and other 1-D parameters left out (Li et al., NeurIPS 2018,
"Visualizing the Loss Landscape of Neural Nets"); and the trajectory on the top-2 principal
directions of the recorded weights minus the final ones, where random directions would miss it.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

Params = dict[str, torch.Tensor]


def loss_at(
    model: nn.Module, criterion: nn.Module, x: torch.Tensor, y: torch.Tensor, params: Params
) -> float:
    """L at the given parameter values (the others as they are), without touching the model."""
    with torch.no_grad():
        return float(criterion(functional_call(model, params, (x,)), y))


def losses_at(
    model: nn.Module, criterion: nn.Module, x: torch.Tensor, y: torch.Tensor, params: Params
) -> torch.Tensor:
    """L at each of N settings of the given parameters (each with a leading dimension N), the
    others as they are: one batched call (torch.vmap) instead of N, in chunks of 1024.

    A forward that draws random numbers draws the same for every setting, from a copy of the
    random state: the surface is one draw's, and training goes on with the numbers it would
    have drawn next."""
    shapes = {name: p.shape for name, p in model.named_parameters()}

    def loss(setting: Params) -> torch.Tensor:
        # a one-element parameter of any shape (nn.Linear(1, 1)'s weight is 1 × 1) is a scalar
        # on the grid: each value goes in with the parameter's own shape
        setting = {name: value.reshape(shapes[name]) for name, value in setting.items()}
        return criterion(functional_call(model, setting, (x,)), y)

    devices = [x.device] if x.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        return torch.vmap(loss, chunk_size=1024, randomness="same")(params)


@dataclass
class Curve:
    """L(w) for the one trainable scalar, and the first steps on it."""

    name: str
    w: torch.Tensor  # grid of w values
    loss: torch.Tensor  # L at each
    visited: list[float]  # w[0], w[1], … (numbered 0, 1, … in the figure)
    visited_loss: list[float]
    slopes: list[float]  # dL/dw at each visited w: the logged gradient, the tangent's slope


def curve(
    model: nn.Module,
    criterion: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    name: str,
    visited: list[float],
    slopes: list[float],
    center: float,
    points: int = 200,
) -> Curve:
    at = losses_at(model, criterion, x, y, {name: torch.tensor(visited).to(x.device)}).tolist()
    # the range spans the visited w whose loss is finite: a step far out (lr = 1e30) would
    # stretch it where L overflows everywhere but at one end
    finite = [w for w, loss in zip(visited, at, strict=True) if math.isfinite(loss)]
    low, high = min([*finite, center]), max([*finite, center])
    margin = 0.15 * (high - low) + 0.5
    grid = torch.linspace(low - margin, high + margin, points)
    losses = losses_at(model, criterion, x, y, {name: grid.to(x.device)}).cpu()  # L(w) at each
    return Curve(name, grid, losses, visited, at, slopes)


@dataclass
class Contour:
    """L(a, b) on a grid over two trainable scalars, and the path the run took."""

    names: tuple[str, str]
    a: torch.Tensor
    b: torch.Tensor
    loss: torch.Tensor  # loss[i, j] at (a[j], b[i])
    path: torch.Tensor  # (steps, 2)


def contour(
    model: nn.Module,
    criterion: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    names: tuple[str, str],
    path: torch.Tensor,
    center: tuple[float, float],
    points: int = 80,
) -> Contour:
    finite = path[torch.isfinite(path).all(dim=1)]
    ranges = []
    for i in range(2):
        values = torch.cat([finite[:, i], finite.new_tensor([center[i]])])  # on path's device
        ranges.append((float(values.min()), float(values.max())))
    # a square, drawn to equal scale: the bowl's true shape (its curvatures' ratio) shows
    half = max(0.65 * (high - low) + 0.5 for low, high in ranges)
    a, b = (torch.linspace((low + high) / 2 - half, (low + high) / 2 + half, points)
            for low, high in ranges)  # fmt: skip
    bb, aa = torch.meshgrid(b, a, indexing="ij")  # [i, j] = (b[i], a[j])
    grid = {names[0]: aa.flatten().to(x.device), names[1]: bb.flatten().to(x.device)}
    loss = losses_at(model, criterion, x, y, grid).cpu().reshape(points, points)
    return Contour(names, a, b, loss, path)


def filter_normalized(params: Params, generator: torch.Generator) -> Params:
    """A random direction d with ‖d_filter‖ = ‖θ_filter‖ for each filter of each ≥ 2-D weight;
    zero for 1-D parameters (biases, norm scales); scaled to |θ| for a scalar."""
    direction = {}
    for name, theta in params.items():
        d = torch.randn(theta.shape, generator=generator, dtype=theta.dtype).to(theta.device)
        if theta.dim() == 1:
            d.zero_()
        elif theta.dim() == 0:
            d = d / d.abs().clamp_min(1e-12) * theta.abs()
        else:
            rows, theta_rows = d.flatten(1), theta.flatten(1)
            scale = theta_rows.norm(dim=1, keepdim=True) / rows.norm(dim=1, keepdim=True).clamp_min(
                1e-12
            )
            d = (rows * scale).reshape(theta.shape)
        direction[name] = d
    return direction


def along(params: Params, directions: list[tuple[float, Params]]) -> Params:
    """θ + Σ αᵢ·dᵢ."""
    return {n: p + sum(alpha * d[n] for alpha, d in directions) for n, p in params.items()}


@dataclass
class Slices:
    """L along one random direction and on the plane of two, around the final weights."""

    alphas: torch.Tensor
    line: torch.Tensor  # L(θ + α·d1)
    plane: torch.Tensor  # plane[i, j] = L(θ + α_j·d1 + α_i·d2)


def slices(
    model: nn.Module,
    criterion: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    params: Params,
    generator: torch.Generator,
    points: int,
    span: float = 1.0,
) -> Slices:
    d1, d2 = filter_normalized(params, generator), filter_normalized(params, generator)
    alphas = torch.linspace(-span, span, points)
    line = torch.tensor(
        [loss_at(model, criterion, x, y, along(params, [(a, d1)])) for a in alphas.tolist()]
    )
    plane = torch.tensor(
        [
            [
                loss_at(model, criterion, x, y, along(params, [(a, d1), (b, d2)]))
                for a in alphas.tolist()
            ]
            for b in alphas.tolist()
        ]
    )
    return Slices(alphas, line, plane)


@dataclass
class Trajectory:
    """The recorded weights on the top-2 principal directions of (θ_k − θ_final)."""

    path: torch.Tensor  # (snapshots, 2): coordinates of each θ_k
    explained: tuple[float, float]  # fraction of the variance along each direction
    a: torch.Tensor
    b: torch.Tensor
    loss: torch.Tensor  # L on the plane through θ_final spanned by the two directions


def flatten(params: Params) -> torch.Tensor:
    return torch.cat([p.flatten() for p in params.values()])


def unflatten(vector: torch.Tensor, like: Params) -> Params:
    """`vector` cut into the shapes and dtypes of `like` (flatten promotes mixed ones)."""
    out, start = {}, 0
    for name, p in like.items():
        out[name] = vector[start : start + p.numel()].reshape(p.shape).to(p.dtype)
        start += p.numel()
    return out


def pca_trajectory(
    model: nn.Module,
    criterion: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    params: Params,
    snapshots: torch.Tensor,
    points: int,
) -> Trajectory:
    final = flatten(params)
    offsets = snapshots - final  # (K, P): where each recorded θ was, seen from the end
    # in float64 on the host: not every device has float64 (or this decomposition)
    _, s, vh = torch.linalg.svd(offsets.cpu().double(), full_matrices=False)
    variance = s**2 / (s**2).sum()
    directions = vh[:2].to(offsets)
    if len(directions) < 2:  # a single snapshot: pad with a zero direction
        directions = torch.cat([directions, torch.zeros_like(final).unsqueeze(0)])
    path = offsets @ directions.T  # (K, 2)
    spans = []
    for i in range(2):
        low, high = float(path[:, i].min()), float(path[:, i].max())
        margin = 0.2 * (high - low) + 1e-3
        spans.append(torch.linspace(low - margin, high + margin, points))
    a, b = spans
    grid = torch.empty(points, points)
    for i, bi in enumerate(b.tolist()):
        for j, aj in enumerate(a.tolist()):
            theta = final + aj * directions[0] + bi * directions[1]
            grid[i, j] = loss_at(model, criterion, x, y, unflatten(theta, params))
    explained = (float(variance[0]), float(variance[1]) if len(variance) > 1 else 0.0)
    return Trajectory(path, explained, a, b, grid)
