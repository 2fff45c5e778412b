"""Batches straight from in-memory tensors: no DataLoader, no workers, no per-sample collate."""

import math
from collections.abc import Iterator

import lightning as L
import torch


class Batches:
    """`steps` batches of (x, y), drawn pass after pass over the data, from batch number `start`.

    Full batch (`batch_size=None`) yields the same tensors every step: plain gradient descent.
    Mini-batches come from a fresh permutation each pass, seeded by (`seed`, pass number), so the
    order is the same run after run, and a run resumed at batch `start` draws what an
    uninterrupted run would have drawn next. `len()` tells Lightning how many steps make one
    epoch; making one epoch hold many steps avoids paying Lightning's per-epoch cost on every
    step.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int | None,
        steps: int,
        seed: int,
        start: int = 0,
    ) -> None:
        self.x, self.y = x, y
        self.batch_size = batch_size if batch_size and batch_size < len(x) else None
        self.steps, self.seed, self.start = steps, seed, start

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.batch_size is None:
            for _ in range(self.steps):
                yield self.x, self.y
            return
        n = len(self.x)
        epoch_pass, first = divmod(self.start, math.ceil(n / self.batch_size))
        yielded = 0
        while yielded < self.steps:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch_pass)
            # drawn on the host, so that every device draws the same batches; on a GPU, copied
            # from pinned memory without the host waiting (elsewhere, the copy waits)
            pinned = self.x.is_cuda
            order = torch.randperm(n, generator=generator, pin_memory=pinned)
            order = order.to(self.x.device, non_blocking=pinned)
            for i in range(first * self.batch_size, n, self.batch_size):
                if yielded == self.steps:
                    return
                idx = order[i : i + self.batch_size]
                yield self.x[idx], self.y[idx]
                yielded += 1
            epoch_pass, first = epoch_pass + 1, 0


def training_batches(
    trainer: L.Trainer | None, x: torch.Tensor, y: torch.Tensor, batch_size: int | None, seed: int
) -> Batches:
    """The training batches of one epoch, continuing from those a resumed run already drew."""
    drawn = 0 if trainer is None else trainer.global_step * trainer.accumulate_grad_batches
    steps = batches_left(trainer, len(x), batch_size)
    return Batches(*on_run_device(trainer, x, y), batch_size, steps, seed, drawn)


def evaluation_batches(trainer: L.Trainer | None, x: torch.Tensor, y: torch.Tensor) -> Batches:
    """One batch of the whole validation or test set."""
    return Batches(*on_run_device(trainer, x, y), None, 1, seed=0)


def on_run_device(
    trainer: L.Trainer | None, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y on the device the run trains on, copied there once a run.

    Lightning would otherwise copy each batch there as its step begins; on a GPU, a copy from
    pageable host memory, as a batch drawn on the host is, first waits for the step before.
    """
    if trainer is None:
        return x, y
    device = trainer.strategy.root_device
    return x.to(device), y.to(device)


def batches_left(trainer: L.Trainer | None, n: int, batch_size: int | None) -> int:
    """The batches one epoch holds: all those still to run up to `trainer.max_steps`.

    Lightning pays a cost at each epoch's end; one epoch per run pays it once. Counting from
    the current step keeps a resumed run's epoch aligned with its checkpoint. With no step
    limit (max_steps = -1), an epoch is one pass over the `n` training samples.
    """
    if trainer is not None and trainer.max_steps > 0:
        steps = max(1, trainer.max_steps - trainer.global_step)
        return steps * trainer.accumulate_grad_batches  # batches: one per micro-batch
    return 1 if batch_size is None else math.ceil(n / batch_size)


def mini_batch(trainer: L.Trainer, n: int) -> int | None:
    """The size of the training batches where they are smaller than the `n` training samples
    (mini-batches: each has a loss, a gradient and a curvature of its own), else None."""
    size = getattr(trainer.train_dataloader, "batch_size", None)  # Batches' or a DataLoader's
    return size if size is not None and size < n else None
