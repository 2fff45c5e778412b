"""Matplotlib drawings of the loss surfaces in `descentlab.surface` (Agg: no display needed).

Importing it imports no torch, so a sweep's summary can be drawn in a light process.
"""

import io
from functools import cache
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator
from mpl_toolkits.axes_grid1 import make_axes_locatable
from PIL import Image

if TYPE_CHECKING:
    import torch

    from descentlab.surface import Contour, Curve, Slices, Trajectory


def render(fig: Figure) -> np.ndarray:
    """The figure's pixels (height × width × RGB), and a pyplot figure closed (the kept loss
    curve's is not pyplot's): drawing is the slow part, so a figure that goes both to a PNG
    file and to TensorBoard is drawn once."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def png(image: np.ndarray) -> bytes:
    """The image as PNG bytes: encoded once for both its file and TensorBoard."""
    buffer = io.BytesIO()
    # zlib's fastest level: a third of the default's time, for files ~15 % larger
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def encode(fig: Figure) -> tuple[bytes, int, int]:
    """The figure as PNG bytes, with its height and width; drawn and encoded once, for both a
    PNG file and TensorBoard, and closed."""
    image = render(fig)
    height, width, _ = image.shape
    return png(image), height, width


def contours(
    fig: Figure,
    ax: plt.Axes,
    a: "np.ndarray | torch.Tensor",
    b: "np.ndarray | torch.Tensor",
    loss: np.ndarray,
) -> None:
    """Contour lines of `loss` at round levels over the grid (a, b), with a colour bar; where L
    is the same all over the plane (an MLP whose units all start alike), a note saying so."""
    finite = loss[np.isfinite(loss)]
    low, high = max(float(finite.min(initial=np.inf)), 1e-8), float(finite.max(initial=0.0))
    if not high > low * (1 + 1e-6):  # no levels to draw between
        text = f"L = {high:.4g} all over this plane" if finite.size else "L is not finite here"
        ax.set_xlim(float(a.min()), float(a.max()))
        ax.set_ylim(float(b.min()), float(b.max()))
        ax.text(0.5, 0.8, text, transform=ax.transAxes, ha="center", va="center")
        return
    lines = ax.contour(a, b, loss, levels=round_levels(low, high), cmap="viridis", linewidths=0.8)
    # beside the axes and as tall as they are, also where equal scale makes them short
    bar = make_axes_locatable(ax).append_axes("right", size="4%", pad=0.1)
    fig.colorbar(lines, cax=bar, label="loss", format="{x:g}")  # 0.7, not 0.700


def round_levels(low: float, high: float) -> np.ndarray:
    """About 10 to 20 contour levels between `low` and `high`, at round numbers (0.015, 0.02,
    0.03, …) so that the colour bar reads at a glance; spaced by ratio, so that the lines keep
    coming as the bowl flattens towards its minimum, unless the range spans under 10^0.7 (5×)."""
    decades = np.log10(high / low)
    if decades < 0.7:
        levels = MaxNLocator(nbins=16, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    else:  # fewer round numbers per decade the more decades there are
        if decades < 2:
            subs: tuple[float, ...] = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8)
        elif decades < 4:
            subs = (1, 1.5, 2, 3, 5, 7)
        elif decades < 8:
            subs = (1, 2, 5)
        else:
            subs = (1,)
        # numticks: at most that many, skipping decades where there are more
        levels = LogLocator(subs=subs, numticks=20 if len(subs) == 1 else 1000).tick_values(
            low, high
        )
    return levels[(levels >= low) & (levels <= high)]


TITLE_CHARS = 95  # what one line of a 9-point title holds across the curve's 7-inch figure


@cache
def curve_axes() -> plt.Axes:
    """The loss curve's axes, one per process and cleared for each run's curve: every job of a
    sweep draws one, and building the axes with their ticks costs 40 % of drawing them."""
    fig = Figure(figsize=(7, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    # Fixed margins (room for six-digit tick labels and an offset such as 1e−5 above the axis)
    # instead of tight_layout, which measures every text once more before the draw.
    fig.subplots_adjust(left=0.15, right=0.98, bottom=0.13, top=0.89)
    return fig.add_subplot()


def draw_curve(
    c: "Curve",
    lr: float | None = None,
    rule: str | None = None,
    note: str | None = None,
    w_star: float | None = None,
) -> Figure:
    """L(w) with the visited points numbered by their step, 0, 1, …, the tangent at each (its
    slope is the logged gradient dL/dw) and an arrow for each step; `rule` says how the
    optimizer made the step (theory.step_rule), plain SGD's lr·dL/dw if not given."""
    ax = curve_axes()
    for artist in [*ax.lines, *ax.collections, *ax.texts]:  # the last run's curve
        artist.remove()
    ax.plot(c.w, c.loss, color="0.25", lw=1.5, label=f"L({c.name})")
    span = float(c.w[-1] - c.w[0]) * 0.08
    top = float(c.loss.max())
    tangents, points_w, points_loss, steps = [], [], [], []
    for k, (w, loss, slope) in enumerate(zip(c.visited, c.visited_loss, c.slopes, strict=True)):
        if not (np.isfinite(w) and np.isfinite(loss)):
            continue
        ts = np.array([w - span, w + span])
        tangents.append(np.stack([ts, loss + slope * (ts - w)], axis=1))  # slope: dL/dw
        points_w.append(w)
        points_loss.append(loss)
        steps.append(k)
    # one artist each for all tangents and all points: fewer to build and draw
    ax.add_collection(LineCollection(tangents, colors="tab:orange", linewidths=2, zorder=2.5))
    ax.plot(points_w, points_loss, "o", color="tab:blue", ms=6, zorder=3)
    for (w0, l0), (w1, l1) in zip(
        zip(c.visited, c.visited_loss, strict=True),
        zip(c.visited[1:], c.visited_loss[1:], strict=True),
        strict=False,
    ):
        if np.isfinite([w0, l0, w1, l1]).all():
            ax.annotate(
                "",
                (w1, l1),
                (w0, l0),
                arrowprops={"arrowstyle": "->", "color": "tab:blue", "lw": 1.3},
                annotation_clip=False,
                zorder=2.8,  # opaque, over the tangents (2.5) and under the points (3)
            )
    if w_star is not None:  # where the theory puts the minimum
        ax.axvline(w_star, color="0.55", ls=":", lw=1)
        ax.annotate(f"{c.name}*", (w_star, top), xytext=(3, -10), textcoords="offset points")
    ax.relim()  # x: the new curve's range
    ax.autoscale_view(scaley=False)
    ax.set_ylim(bottom=min(0.0, float(c.loss.min())), top=top * 1.05)
    number_steps(ax, steps, points_w, points_loss)  # where the limits place them
    # with mini-batches: L is the whole training set's, each step's slope its batch's
    ax.set_xlabel(c.name if note is None else f"{c.name}    ({note}; the curve is all samples' L)")
    ax.set_ylabel("loss")
    step = rule or f"step = lr·dL/d{c.name}"
    step += "" if lr is None else f", lr = {lr:g}"
    title = f"L({c.name}): tangent slope = dL/d{c.name}; {step}"
    if len(title) > TITLE_CHARS:  # Adam's rule, a long name: the step on a line of its own
        title = f"L({c.name}): tangent slope = dL/d{c.name}\n{step}"
    # y=1.0: the title's height is fixed, not measured against the axis's texts at every draw
    ax.set_title(title, fontsize=9, y=1.0)
    return ax.figure


# a step number's size, in points, at matplotlib's default 10-point font
DIGIT_WIDTH, LINE_HEIGHT = 6.4, 11.0


def number_steps(ax: plt.Axes, steps: list[int], w: list[float], loss: list[float]) -> None:
    """Each point's step number above it, as the table, the logs and TensorBoard count steps;
    a number that would overlap one already placed is left out. Near the minimum the points
    crowd (an overshooting run's steps 4, 5 and 6 fall on one spot), and their numbers would
    print over each other; the earlier steps, which the explain table follows, keep theirs."""
    points = ax.transData.transform(np.column_stack([w, loss])) * 72 / ax.figure.dpi
    placed: list[tuple[float, float, int]] = []  # where each number shown sits, its digits
    for k, wk, lk, (x, y) in zip(steps, w, loss, points, strict=True):
        digits = len(str(k))
        if any(
            abs(x - x0) < DIGIT_WIDTH * (digits + d0) / 2 + 2 and abs(y - y0) < LINE_HEIGHT
            for x0, y0, d0 in placed
        ):
            continue
        placed.append((x, y, digits))
        ax.annotate(
            str(k),
            (wk, lk),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            annotation_clip=False,  # inside the axes by construction: skip the check
        )


def draw_contour(c: "Contour", best: tuple[float, float] | None = None) -> Figure:
    """The exact contours of L over two scalars, with the run's path and the minimum: `best`,
    where the theory gives it, else the lowest point on the grid."""
    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    loss = c.loss.numpy()
    contours(fig, ax, c.a, c.b, loss)
    path = c.path.numpy()
    ax.plot(path[:, 0], path[:, 1], ".-", color="tab:red", ms=3, lw=1, label="the run's path")
    ax.plot(*path[0], "o", color="tab:red", label="start", zorder=4)  # over the minimum's star
    if best is not None:
        ax.plot(*best, "*", color="k", ms=10, label=f"minimum ({c.names[0]}*, {c.names[1]}*)")
    else:
        i, j = np.unravel_index(np.argmin(loss), loss.shape)
        ax.plot(c.a[j], c.b[i], "*", color="k", ms=10, label="lowest point on the grid")
    ax.set_aspect("equal")  # a round bowl looks round; the path meets the contours at right angles
    ax.set_xlabel(c.names[0])
    ax.set_ylabel(c.names[1])
    # the bowl where the theory gives the minimum (the built-in linear model); any other
    # model's surface is exact on the grid, whatever its shape
    shape = "an exact bowl for a linear model" if best is not None else "exact on the grid"
    ax.set_title(f"L({c.names[0]}, {c.names[1]}): {shape}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_slices(s: "Slices") -> Figure:
    """1-D and 2-D slices along filter-normalised random directions around the final weights."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    left.plot(s.alphas, s.line, color="tab:blue")
    left.axvline(0, color="0.6", lw=0.8)
    left.set_xlabel("α  (θ_final + α·d₁)")
    left.set_ylabel("loss")
    left.set_title("1-D slice, random filter-normalised d₁", fontsize=9)
    contours(fig, right, s.alphas, s.alphas, s.plane.numpy())
    right.plot(0, 0, "*", color="k", ms=10)
    right.set_xlabel("α (d₁)")
    right.set_ylabel("β (d₂)")
    right.set_title("2-D slice around the final weights (★)", fontsize=9)
    fig.tight_layout()
    return fig


def draw_trajectory(t: "Trajectory") -> Figure:
    """The run's path projected on the top-2 principal directions, over L on that plane."""
    # drawn to equal scale: the figure's height follows the plane's, with room for the labels
    height = float(t.b.max() - t.b.min()) / float(t.a.max() - t.a.min())
    fig, ax = plt.subplots(figsize=(6.5, min(7.0, max(3.0, 1.4 + 4.6 * height))), dpi=110)
    contours(fig, ax, t.a, t.b, t.loss.numpy())
    path = t.path.numpy()
    ax.plot(path[:, 0], path[:, 1], ".-", color="tab:red", ms=3, lw=1)
    ax.plot(*path[0], "o", color="tab:red", label="start")
    ax.plot(0, 0, "*", color="k", ms=10, label="final weights")
    ax.set_aspect("equal")  # both directions are distances in weight space: the path's shape
    ax.set_xlabel(f"PC1 ({100 * t.explained[0]:.1f}% of the variance)")
    ax.set_ylabel(f"PC2 ({100 * t.explained[1]:.1f}%)")
    ax.set_title("the path on its top-2 principal directions", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
