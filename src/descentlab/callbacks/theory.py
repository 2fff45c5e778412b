"""The theory panel: what the closed forms predict for this run, next to what it did.

For the linear model with an MSE loss: the curvature h, w* and the optimal lr 1/h; with SGD
as the closed forms assume it (momentum allowed; no weight decay, dampening or Nesterov), the
critical lr 2/h (2·(1 + μ)/h), the predicted contraction of |w − w*| per step, and the
contraction the run measured on its first `steps` steps. Written to TensorBoard as text
(`theory`) and printed at the end.
"""

import itertools
import math
import re

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from rich.table import Table
from torch.optim import Optimizer

from descentlab import summary, theory
from descentlab.console import console
from descentlab.data.batches import mini_batch
from descentlab.models.linear import Linear
from descentlab.summary import problem


def markdown(cell: str) -> str:
    """A table cell as markdown shows it as typed: |w − w*| would end the cell, and the * of
    (w*, b*) start emphasis."""
    return re.sub(r"([\\|*_])", r"\\\1", cell)


class Theory(Callback):
    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.reset()  # an empty record also where training never starts

    def applies(self, pl_module: L.LightningModule, trainer: L.Trainer) -> bool:
        return (
            hasattr(trainer.datamodule, "x_train")
            and problem(pl_module, trainer.datamodule) is not None
        )

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.reset()

    def reset(self) -> None:
        self.theta: list[torch.Tensor] = []  # the trained (w) or (w, b) of the first steps
        self.lrs: list[float] = []

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        model = pl_module.model
        if len(self.theta) <= self.steps and isinstance(model, Linear):
            trained = [p.detach().reshape(1) for p in (model.w, model.b) if p is not None]
            self.theta.append(torch.cat(trained))  # frozen ones are dropped in `rows`
            self.lrs.append(optimizer.param_groups[0]["lr"])

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.applies(pl_module, trainer) or not trainer.is_global_zero:
            return
        rows = self.rows(trainer, pl_module)
        table = "| | predicted | measured |\n|---|---|---|\n"
        table += "\n".join("| " + " | ".join(map(markdown, row)) + " |" for row in rows)
        if trainer.logger is not None:
            trainer.logger.experiment.add_text("theory", table, trainer.global_step)
        panel = Table(title="theory vs this run", title_justify="left")
        for column in ("", "predicted", "measured"):
            panel.add_column(column, overflow="fold")  # words wrap, and none is cut
        for row in rows:
            panel.add_row(*row)
        console.print(panel)

    def rows(self, trainer: L.Trainer, pl_module: L.LightningModule) -> list[tuple[str, str, str]]:
        x, y, bias = problem(pl_module, trainer.datamodule)
        curvatures = summary.curvatures(pl_module, trainer.datamodule)
        h, h_min = max(curvatures), min(curvatures)
        best = theory.least_squares(x, y, bias)
        optimizer = trainer.optimizers[0]
        momentum = theory.heavy_ball(optimizer)
        lr = self.lrs[0] if self.lrs else optimizer.param_groups[0]["lr"]
        reduction = pl_module.criterion.reduction  # mean, or sum: n times the curvature
        rows = [
            (
                "λ_max, λ_min of the Hessian" if bias else f"h = 2·{reduction}(x²)",
                f"{h:.4g}, {h_min:.4g}" if bias else f"{h:.4g}",
                "",
            ),
            ("w*", f"{best['w']:.5g}", f"{pl_module.model.w.item():.5g} (final w)"),
            (
                "optimal lr " + ("2/(λ_max + λ_min)" if bias else "1/h"),
                f"{2 / (h + h_min):.4g}",
                "",
            ),
        ]
        if momentum is None:
            why = (
                "SGD with weight decay, dampening or Nesterov"
                if isinstance(optimizer, torch.optim.SGD)
                else f"{type(optimizer).__name__} rescales steps"
            )
            rows.append(("critical lr, contraction per step", f"n/a: {why}", f"lr = {lr:.4g}"))
            return rows
        rows.append(
            (
                "critical lr " + ("2·(1+μ)/" if momentum else "2/") + ("λ_max" if bias else "h"),
                f"{theory.critical_lr(h, momentum):.4g}",
                f"lr = {lr:.4g}",
            )
        )
        errors = self.errors(lr, best, bias)
        # what overshoots: the error along the Hessian's steepest direction (w's, for w alone)
        steepest = torch.linalg.eigh(theory.hessian(x, bias)).eigenvectors[:, -1]
        error = "the error along λ_max's eigenvector" if bias else "w − w*"
        measured = theory.measured_contraction(errors, momentum=bool(momentum))
        flips, flip_steps = theory.sign_flips(errors @ steepest.to(errors))
        flips = f"sign of {error} flipped {flips} times in {flip_steps} steps"
        if flip_steps < len(errors) - 1:
            flips += f" (then within {theory.ROUNDING:g} of 0)"
        if len(errors) and not len(theory.above_rounding(errors)):  # started at θ* (resumed)
            flips = f"n/a: {error} was within {theory.ROUNDING:g} of 0 from the start"
        batch = mini_batch(trainer, len(x))
        if batch is not None:
            why = f"n/a: batches of {batch} have curvatures of their own"
            predicted, behaviour, rate = why, why, measured
        else:
            rate = max(theory.contraction(lr, c, momentum) for c in curvatures)
            predicted = f"{rate:.4g}"
            behaviour = theory.regime(lr, h, momentum, error)
        change = "grows" if rate > 1 else "shrinks"  # by a factor above 1: past the critical lr
        rows.append(
            (
                ("‖(w, b) − (w*, b*)‖" if bias else "|w − w*|") + f" {change} by, per step",
                predicted,
                "" if math.isnan(measured) else f"{measured:.4g}",
            )
        )
        rows.append(("behaviour at this lr", behaviour, flips))
        return rows

    def errors(self, lr: float, best: dict[str, float], bias: bool) -> torch.Tensor:
        """θ − θ* at each of the first steps, while lr is still the starting `lr`: one row per
        step, of w − w* and, where b trains, b − b*."""
        steps = len(list(itertools.takewhile(lambda rate: rate == lr, self.lrs)))
        star = torch.tensor([best["w"], best["b"]] if bias else [best["w"]], dtype=torch.float64)
        if not steps:
            return torch.zeros(0, len(star), dtype=torch.float64)
        theta = torch.stack(self.theta[:steps]).cpu().double()
        return theta[:, : len(star)] - star  # a frozen b is left out
