"""Print a run's per-step scalars as a table, straight from its TensorBoard event files.

    python scripts/scalars.py outputs/2026-11-25/21-02-17-123456
    python scripts/scalars.py RUN_DIR --tags param/w grad/w lr --first 10

Useful where no browser is at hand, and to check by hand that w[k+1] = w[k] − lr[k]·grad[k].
"""

import argparse
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

DEFAULT_TAGS = ["train/loss", "param/w", "grad/w", "lr"]


def read(run_dir: Path) -> dict[str, dict[int, float]]:
    """tag → {step: value} for every scalar in the run dir's event files."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


def table(logged: dict[str, dict[int, float]], tags: list[str], first: int) -> str:
    steps = sorted({step for tag in tags for step in logged[tag]})[:first]
    rows = ["step  " + "  ".join(f"{tag:>14}" for tag in tags)]
    for step in steps:
        cells = (logged[tag].get(step) for tag in tags)
        rows.append(
            f"{step:>4}  " + "  ".join(f"{'':>14}" if v is None else f"{v:>14.7g}" for v in cells)
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--tags", nargs="+", default=None, help="default: " + " ".join(DEFAULT_TAGS)
    )
    parser.add_argument("--first", type=int, default=20, help="how many steps to show (20)")
    args = parser.parse_args()
    if not args.run_dir.is_dir():
        sys.exit(f"scalars: {args.run_dir}: no such dir; give a run dir")
    if not any(args.run_dir.glob("events.out.tfevents.*")):
        sys.exit(f"scalars: {args.run_dir}: no TensorBoard event files here; give a run dir")
    logged = read(args.run_dir)
    tags = args.tags or [tag for tag in DEFAULT_TAGS if tag in logged]
    missing = [tag for tag in tags if tag not in logged]
    if missing:
        known = ", ".join(sorted(logged))
        sys.exit(f"scalars: --tags {' '.join(missing)}: not logged here; logged: {known}")
    print(table(logged, tags, args.first))


if __name__ == "__main__":
    main()
