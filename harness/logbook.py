"""What Train shows and records while it runs.

On a terminal, one live progress bar (phase, frame, epsilon, recent scores, frames per second,
time left) and a line per evaluation; elsewhere (a file, a pipe) a plain line every LOG_EVERY
frames instead of the bar. Every game goes to games.csv, every evaluation to evals.csv, and
loss, max Q, epsilon and speed to TensorBoard, all in the run's folder under runs/.
"""

import csv
import os
import shutil
import sys
import time
from collections import deque
from pathlib import Path

import tensorflow as tf

LOG_EVERY = 5_000  # frames between plain lines and TensorBoard scalars
REDRAW_SECONDS = 0.5  # the bar's refresh
BAR_WIDTH = 20


def clock(seconds: float) -> str:
    """Seconds as H:MM:SS, hours past 24 included."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02}:{seconds % 60:02}"


def discard_stdout() -> None:
    """Once stdout is a closed pipe (`| head`, a quit `less`, a `tee` stopped by the same
    Ctrl-C): what is still printed there goes nowhere, not into an error at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def last_line(line: str) -> None:
    """Train's last line, where its files are and how to go on: on stdout, or on stderr once
    stdout is a closed pipe."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        discard_stdout()
        print(line, file=sys.stderr, flush=True)


def open_csv(path: Path, header: list[str]):
    """A file and CSV writer appending to `path`, a header first if new; rows land at once."""
    new = not path.exists()
    file = open(path, "a", newline="", buffering=1)  # noqa: SIM115  (line-buffered, kept open)
    writer = csv.writer(file)
    if new:
        writer.writerow(header)
    return file, writer


class Logbook:
    """Train's terminal output, CSV files and TensorBoard scalars for one run."""

    def __init__(self, run_dir: Path, start_frame: int, steps: int, minutes_before: float,
                 out=None):
        self.out = out or sys.stdout
        self.live = self.out.isatty()  # a terminal: a bar redrawn in place
        self.steps, self.minutes_before = steps, minutes_before
        self.started = self.redrawn = time.perf_counter()
        self.speed_from = (self.started, start_frame)  # for frames per second
        self.fps = 0.0
        self.scores = deque(maxlen=5)
        self.bar_shown = False
        run_dir.mkdir(parents=True, exist_ok=True)
        self.games_file, self.games_csv = open_csv(run_dir / "games.csv",
                                                   ["frame", "minutes", "score"])
        self.evals_file, self.evals_csv = open_csv(
            run_dir / "evals.csv", ["frame", "minutes", "median", "mean", "scores"])
        self.summary_writer = tf.summary.create_file_writer(str(run_dir))

    def minutes(self) -> float:
        """Minutes of training in all, earlier sessions of a resumed run included."""
        return self.minutes_before + (time.perf_counter() - self.started) / 60

    def game(self, t: int, score: int) -> None:
        self.scores.append(score)
        self.games_csv.writerow([t, f"{self.minutes():.2f}", score])

    def frame(self, t: int, phase: str, epsilon: float, loss, max_q) -> None:
        """Called every frame: redraws the bar now and then, writes a line every LOG_EVERY."""
        now = time.perf_counter()
        if t % LOG_EVERY == 0:
            self.measure_speed(now, t)
            if not self.live:
                self.print(f"{phase:<8}{self.status(t, epsilon)}  loss {float(loss):.4f}  "
                           f"max Q {float(max_q):.2f}")
            with self.summary_writer.as_default(step=t):
                tf.summary.scalar("train/loss", float(loss))
                tf.summary.scalar("train/max_q", float(max_q))
                tf.summary.scalar("train/epsilon", epsilon)
                tf.summary.scalar("train/frames_per_second", self.fps)
        if self.live and now - self.redrawn >= REDRAW_SECONDS:
            if now - self.speed_from[0] >= 5:
                self.measure_speed(now, t)
            self.redrawn = now
            done = t / self.steps
            bar = "#" * int(BAR_WIDTH * done) + "." * (BAR_WIDTH - int(BAR_WIDTH * done))
            line = f"{phase:<8}[{bar}] {done:4.0%}  {self.status(t, epsilon)}"
            width = shutil.get_terminal_size().columns - 1  # a wrapped line would not redraw
            self.out.write(f"\r{line[:width]}\033[K")
            self.out.flush()
            self.bar_shown = True

    def measure_speed(self, now: float, t: int) -> None:
        since, frame = self.speed_from
        if t > frame and now > since:
            self.fps = (t - frame) / (now - since)
        self.speed_from = (now, t)

    def status(self, t: int, epsilon: float) -> str:
        eta = clock((self.steps - t) / self.fps) if self.fps else "-"
        scores = " ".join(map(str, self.scores)) or "-"
        return (f"frame {t:,}/{self.steps:,}  epsilon {epsilon:.4f}  {self.fps:.0f} frames/s  "
                f"ETA {eta}  last scores {scores}")

    def evaluation(self, t: int, result: dict, best_mean, saved: str | None) -> None:
        self.evals_csv.writerow([t, f"{self.minutes():.2f}", result["median"], result["mean"],
                                 " ".join(map(str, result["scores"]))])
        with self.summary_writer.as_default(step=t):
            tf.summary.scalar("eval/median", result["median"])
            tf.summary.scalar("eval/mean", result["mean"])
        self.print(f"eval    frame {t:,}  scores {' '.join(map(str, result['scores']))}  "
                   f"median {result['median']}  mean {result['mean']}  best mean {best_mean}"
                   + (f"  -> saved {saved}" if saved else ""))

    def print(self, line: str) -> None:
        """A line of its own, above the bar."""
        if self.bar_shown:
            self.out.write("\r\033[K")
            self.bar_shown = False
        print(line, file=self.out, flush=True)

    def close(self) -> None:
        if self.bar_shown:
            self.out.write("\n")
        self.games_file.close()
        self.evals_file.close()
        self.summary_writer.close()
