"""Loss-surface figures at the end of a run (and every `every_n_steps` steps, if set), as
TensorBoard images under `surface/` and PNG files in the run dir.

  one trainable scalar (w)      surface/curve    loss_curve.png: L(w), the first `points` steps
                                                 numbered, the tangent at each, the step arrows
  two trainable scalars (w, b)  surface/contour  loss_contour.png: exact contours and the path
  anything larger               surface/slices   loss_slices.png: 1-D and 2-D filter-normalised
                                surface/pca      loss_pca.png: the path on its top-2 principal
                                                 directions, with the explained variance

The cost is bounded: at most `snapshots` copies of a larger model's weights are kept (thinned
as the run goes on; the contour's two scalars are kept at every step), grids have `resolution`
points a side, and at most `max_samples` samples are used.
"""

import copy
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch.optim import Optimizer

from descentlab import events, figures, surface, theory
from descentlab.data.batches import mini_batch
from descentlab.summary import optimum


class LossSurface(Callback):
    def __init__(
        self,
        points: int,
        snapshots: int,
        resolution: int,
        max_samples: int,
        every_n_steps: int,
        seed: int,
    ) -> None:
        self.points, self.snapshots = points, snapshots
        self.resolution, self.max_samples = resolution, max_samples
        self.every_n_steps = every_n_steps  # 0: at the end only
        self.seed = seed  # of the slices' random directions

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        named = [(n, p) for n, p in pl_module.model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        scalars = all(p.numel() == 1 for p in self.params)
        self.kind = {1: "curve", 2: "contour"}.get(len(self.params) if scalars else 0, "slices")
        self.visited: list[torch.Tensor] = []  # flat θ[k], on the device
        self.grads: list[torch.Tensor] = []
        self.record_every = 1
        self.lr: float | None = None

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        step = trainer.global_step
        if self.lr is None:
            self.lr = optimizer.param_groups[0]["lr"]
            self.rule = theory.step_rule(optimizer, self.names[0], short=True)
        if self.kind == "curve":
            if len(self.visited) < self.points:
                self.visited.append(self.params[0].detach().reshape(1).clone())
                grad = self.params[0].grad
                zero = torch.zeros(1, device=pl_module.device)
                self.grads.append(zero if grad is None else grad.reshape(1).clone())
        elif self.kind == "contour" or step % self.record_every == 0:
            self.visited.append(torch.cat([p.detach().flatten() for p in self.params]))
            # larger models: keep every other one, bounded over the whole run; the contour keeps
            # every step (two numbers each): every other step of a zig-zag would be one side
            if self.kind != "contour" and len(self.visited) >= self.snapshots:
                self.visited = self.visited[::2]
                self.record_every *= 2
        if self.every_n_steps and step > 0 and step % self.every_n_steps == 0:
            self.draw(trainer, pl_module, save=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.draw(trainer, pl_module, save=True)

    def data(
        self, trainer: L.Trainer, pl_module: L.LightningModule
    ) -> tuple[torch.Tensor, torch.Tensor]:
        data = trainer.datamodule
        x, y = data.x_train[: self.max_samples], data.y_train[: self.max_samples]
        return x.to(pl_module.device), y.to(pl_module.device)

    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule, save: bool) -> None:
        if not self.visited:
            return
        # on a copy in eval mode, as validation sees the model: every point evaluated would
        # otherwise update BatchNorm's running statistics and draw dropout masks (consuming
        # the random numbers training draws next), and torch.func.functional_call does not
        # restore a submodule that the model holds under two names
        model, criterion = copy.deepcopy(pl_module.model).eval(), pl_module.criterion
        x, y = self.data(trainer, pl_module)
        final = {n: p.detach() for n, p in zip(self.names, self.params, strict=True)}
        best = optimum(pl_module, trainer.datamodule)  # w* (and b*), where the theory gives it
        if self.kind == "curve":
            ws = torch.cat(self.visited).tolist()
            slopes = torch.cat(self.grads).tolist()
            center = ws[-1] if best is None else best["w"]
            self.curve = surface.curve(model, criterion, x, y, self.names[0], ws, slopes, center)
            if not torch.isfinite(self.curve.loss).all():
                return  # L overflows the float range there (data.x_scale=1e30): nothing to draw
            batch = mini_batch(trainer, len(trainer.datamodule.x_train))
            note = None if batch is None else f"batches of {batch}: a tangent has its batch's slope"
            w_star = None if best is None else best["w"]
            drawn = {"curve": figures.draw_curve(self.curve, self.lr, self.rule, note, w_star)}
        elif self.kind == "contour":
            path = torch.stack(self.visited).cpu()
            path = torch.cat([path, torch.cat([p.flatten() for p in final.values()]).cpu()[None]])
            center = (float(path[-1, 0]), float(path[-1, 1]))
            self.contour = surface.contour(model, criterion, x, y, tuple(self.names), path, center)
            if not torch.isfinite(self.contour.loss).all():
                return  # L overflows the float range there: nothing to draw
            exact = None if best is None else (best["w"], best["b"])
            drawn = {"contour": figures.draw_contour(self.contour, exact)}
        else:
            if not all(torch.isfinite(p).all() for p in final.values()):
                return  # a diverged run: there is no surface around non-finite weights
            generator = torch.Generator().manual_seed(self.seed)
            self.slices = surface.slices(model, criterion, x, y, final, generator, self.resolution)
            snapshots = torch.stack(
                [*self.visited, torch.cat([p.flatten() for p in final.values()])]
            )
            self.trajectory = surface.pca_trajectory(
                model, criterion, x, y, final, snapshots, self.resolution
            )
            self.trajectory.path = self.trajectory.path.cpu()
            drawn = {
                "slices": figures.draw_slices(self.slices),
                "pca": figures.draw_trajectory(self.trajectory),
            }
        # what add_image writes through; None on DDP ranks > 0 (their logger is a stand-in)
        writer = trainer.logger.experiment._get_file_writer() if trainer.logger else None
        for name, fig in drawn.items():
            png, height, width = figures.encode(fig)
            if save:
                (Path(trainer.default_root_dir) / f"loss_{name}.png").write_bytes(png)
            if writer is not None:
                summary = events.image(f"surface/{name}", png, height, width)
                writer.add_summary(summary, trainer.global_step)
