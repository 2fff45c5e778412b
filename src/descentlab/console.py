"""What the run prints: its settings at the start, one summary line at the end."""

import sys
from functools import cache
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from descentlab.rules import shown as shown_value  # null, true, false, as typed

# A terminal's own width: lines wider than it would be wrapped by the terminal, box lines and
# all, where Rich wraps a table's text within its cells. A file or a pipe gets 100 columns or
# COLUMNS, if more (stdout itself: Rich also takes FORCE_COLOR for a terminal).
console = Console(highlight=False, width=None if sys.stdout.isatty() else max(100, Console().width))

# per group, the keys worth seeing at a glance
SHOWN = {
    "model": None,  # None: all of the group's own keys
    "optimizer": None,
    "scheduler": ("monitor", "factor", "patience"),
    "init": None,
    "data": ("n", "noise", "w_true", "batch_size"),
    "trainer": ("max_steps", "accelerator", "devices"),
}


def print_settings(cfg: DictConfig, run_dir: Path) -> None:
    choices = HydraConfig.get().runtime.choices
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column()
    table.add_column(overflow="fold")  # a long run dir folds on a narrow terminal, whole
    for group, keys in SHOWN.items():
        node = cfg.get(group) or {}
        shown = [k for k in node if not k.startswith("_") and (keys is None or k in keys)]
        args = " ".join(f"{k}={shown_value(OmegaConf.select(node, k))}" for k in shown)
        table.add_row(group, f"[bold]{built(group, choices.get(group, ''), node)}[/bold] {args}")
    table.add_row("seed", str(cfg.seed))
    if cfg.get("ckpt_path"):
        table.add_row("resume", str(cfg.ckpt_path))
    table.add_row("run dir", str(typed(run_dir)))
    console.print(table)


def built(group: str, choice: str, node: DictConfig | dict) -> str:
    """The option's name, or the class put in place of the option's own on the command line
    (model._target_=torch.nn.Linear keeps model=linear's other keys, not its class)."""
    own, target = own_target(group, choice), node.get("_target_")
    return str(target) if own is not None and target is not None and target != own else choice


@cache  # read once a process: every job of a sweep prints its settings
def own_target(group: str, choice: str) -> str | None:
    """The `_target_` of conf/<group>/<choice>.yaml; None for a user's option or none."""
    from descentlab.cli import CONF_DIR

    option = CONF_DIR / group / f"{choice}.yaml"
    return OmegaConf.load(option).get("_target_") if option.is_file() else None


def print_summary(line: str, logdir: Path | None) -> None:
    """The result, and the command that shows this run (where it has TensorBoard logs)."""
    console.print(f"[bold]done:[/bold] {line}", soft_wrap=True)
    if logdir is not None:
        console.print(f"see it: tensorboard --logdir {typed(logdir)}", soft_wrap=True)


def typed(path: Path) -> Path:
    """The path as one would type it where the command was typed: relative to that working dir
    when inside it (a job with hydra.job.chdir=true runs in its own dir)."""
    here = Path(HydraConfig.get().runtime.cwd) if HydraConfig.initialized() else Path.cwd()
    return path.relative_to(here) if path.is_relative_to(here) else path
