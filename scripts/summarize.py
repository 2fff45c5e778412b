"""Rebuild a sweep's summary.csv, summary.md, sweep.png and TensorBoard summary from the
results.json its jobs wrote.

    python scripts/summarize.py multirun/2026-11-25/21-02-17-123456
"""

import argparse
import sys
from pathlib import Path

from descentlab.sweep import summarize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args()
    if not args.sweep_dir.is_dir():
        sys.exit(f"summarize: {args.sweep_dir}: no such dir; give a sweep dir")
    if (args.sweep_dir / "results.json").is_file():  # its files would land among the run's own
        sys.exit(
            f"summarize: {args.sweep_dir}: a run's dir (its results.json is at the top), not a "
            "sweep's; give the dir that holds the jobs' dirs"
        )
    results = summarize(args.sweep_dir)
    if not results:
        sys.exit(f"summarize: {args.sweep_dir}: no results.json in it; give a sweep dir")
    failed = sum(r["status"] == "failed" for r in results)
    print(f"{len(results)} jobs ({failed} failed): {args.sweep_dir / 'summary.md'}")


if __name__ == "__main__":
    main()
