"""Plot: a training run's learning curve, from its CSV files, into a PNG.

    python qlearn.py -m Plot                       # the newest run under runs/
    python qlearn.py -m Plot --run runs/NAME --out curve.png

Needs matplotlib (pip install matplotlib), which nothing else here uses.
"""

import csv
from pathlib import Path

import numpy as np

from harness import UsageError
from harness.files import written_whole


def read_csv(path: Path, columns: tuple[str, ...]) -> dict:
    """The named numeric columns of a CSV file as numpy arrays; a bad file is a UsageError.
    A last line cut off (what kill -9 or a full disk leaves) is left out."""
    try:
        with open(path, newline="", encoding="utf-8") as file:
            text = file.read()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines.pop()
        rows = list(csv.DictReader(lines))
        table = {key: np.array([float(row[key]) for row in rows]) for key in columns}
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as error:
        raise UsageError(f"cannot plot {path}: not a CSV file of a training run "
                         f"({type(error).__name__})") from None
    for key, values in table.items():
        if not np.isfinite(values).all():
            line = 2 + int(np.argmin(np.isfinite(values)))  # after the header, from 1
            raise UsageError(f"cannot plot {path}: line {line} has {key} "
                             f"{values[line - 2]}, not a number of a training run")
    return table


def plot(runs: Path, run_dir: Path | None, out: Path | None) -> None:
    """Draw a training run's learning curve (the newest in `runs` by default) into a PNG."""
    try:  # first: a large run read for nothing is minutes lost
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("Plot needs matplotlib: pip install matplotlib") from None
    newest = sorted(runs.glob("*/games.csv"))  # run names begin with their start time
    run_dir = run_dir or (newest[-1].parent if newest else runs)
    if not (run_dir / "games.csv").is_file():
        raise UsageError(f"no training run to plot: {run_dir} has no games.csv")
    out = out or run_dir / "learning_curve.png"  # a given --out is a .png: cli.check
    games = read_csv(run_dir / "games.csv", ("frame", "minutes", "score"))
    evals = (read_csv(run_dir / "evals.csv", ("frame", "median"))
             if (run_dir / "evals.csv").is_file() else {"frame": [], "median": []})
    if len(games["frame"]) < 2:
        raise UsageError(f"nothing to plot yet: {run_dir / 'games.csv'} has fewer than two games")
    figure, axis = plt.subplots(figsize=(8, 4.5), dpi=80)
    axis.plot(games["frame"], games["score"], ".", markersize=2, alpha=0.3,
              label="training games (epsilon-greedy)")
    axis.plot(evals["frame"], evals["median"], "o-", label="greedy evaluation, median")
    axis.set(xlabel="frames", ylabel="pipes passed", yscale="symlog",
             title=f"Learning curve of {run_dir.name}")
    minutes_axis = axis.secondary_xaxis("top", functions=(
        lambda f: np.interp(f, games["frame"], games["minutes"]),
        lambda m: np.interp(m, games["minutes"], games["frame"])))
    minutes_axis.set_xlabel("minutes")
    axis.legend(loc="upper left")
    figure.tight_layout()
    with written_whole(out) as temporary:
        figure.savefig(temporary, format="png")
    print(f"Plot: wrote {out}")
