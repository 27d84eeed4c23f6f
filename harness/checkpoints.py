"""A training run's state on disk, beside its model file (model.h5 here):

    model.h5          the best model so far, by greedy evaluation (what Run and Eval load)
    model.latest.h5   the latest weights, for --resume
    model.train.json  the run's settings and its place in the schedule, for --resume
    model.lock        there while a Train runs on these files

The latest weights and the state are written as a pair, so they are always of the same frame.
Nothing a user made is lost: a model already in model.h5 is renamed, never overwritten, the
first time this run has a better one; a finished run's latest weights and state are renamed
when a new run starts (all three as model.before-RUN.*, so that `--model model.before-RUN.h5
--resume` extends it); an unfinished run is resumed or set aside by hand, never overwritten.
"""

import json
import math
import os
import re
import time
from contextlib import suppress
from pathlib import Path

from harness import UsageError
from harness.files import check_writable, temporary_of, write_weights, written_whole

try:
    import fcntl
except ImportError:  # Windows: no lock; two Trains on one file are the user's to avoid
    fcntl = None

MAX_STEPS = 100_000_000  # frames in a run: over a week on 2 cores
MAX_EVAL_GAMES = 100  # games per evaluation in Train: minutes each, not hours
MAX_EVAL_SCORE = 1_000  # pipes at which an evaluation game in Train ends
RUN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# "kept" is False until the run writes a best model, then that file's stamp (see stamp());
# "evaluated" is the frame of the last evaluation that finished, None before the first;
# "until_learned": the run stops once bookkeeping.EVAL_WINS of an evaluation's games are won
# (no --steps was given)
FIELDS = {"run": str, "frame": int, "updates": int, "best_mean": (float, int, type(None)),
          "kept": (list, bool), "minutes": (float, int), "seed": int, "steps": int,
          "observe": int, "eval": list, "evaluated": (int, type(None)), "until_learned": bool}


def paths(model_path: Path) -> tuple[Path, Path, Path]:
    """The latest weights, the run's state and the lock, beside the model file."""
    stem = model_path.with_suffix("") if model_path.suffix == ".h5" else model_path
    return tuple(stem.with_name(stem.name + ending)
                 for ending in (".latest.h5", ".train.json", ".lock"))


class Lock:
    """Held while a Train runs on `model_path`'s files, or a refusal: the kernel drops it when
    the process ends, however it ends, so a crashed run leaves none stuck."""

    def __init__(self, model_path: Path):
        self.model_path = model_path
        self.path = paths(model_path.resolve())[2]  # a link to the model shares its lock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while not self.acquire():  # the file was removed as we locked it: take the new one
                pass
        except OSError as error:
            raise UsageError(f"cannot write beside {model_path}: {error.strerror}") from None
        # a Train killed while it wrote (kill -9) left its temporaries: no one else writes them
        for path in (model_path, *paths(model_path)[:2]):
            with suppress(OSError):
                if temporary_of(path).is_file():
                    temporary_of(path).unlink()

    def acquire(self) -> bool:
        self.file = open(self.path, "a+")  # noqa: SIM115  (held open: the lock lasts as long)
        if not fcntl:
            return True
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.close()
            raise UsageError(f"another Train is running on {self.model_path}; wait for it or "
                             "give this one another --model") from None
        try:  # the one whose Train has just ended removes the file: locked, it must still be
            same = os.path.samestat(os.fstat(self.file.fileno()), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:
            self.file.close()
        return same

    def release(self) -> None:
        """Remove the lock's file, then let go: a Train leaves no empty .lock behind."""
        with suppress(OSError):
            self.path.unlink()
        self.file.close()


def check_paths(model_path: Path, run: str) -> None:
    """Before a Train writes anything: every name it may write is free for a file and short
    enough, the set-aside names of this run included."""
    aside = aside_name(model_path, run, 99)  # the longest
    for path in (model_path, *paths(model_path), aside, *paths(aside)[:2]):
        check_writable(path)
    runs = model_path.parent / "runs"
    if runs.exists() and not runs.is_dir():
        raise UsageError(f"{runs} is a file where Train keeps its logs' folder")


def load(model_path: Path, observe_range: tuple[int, int]) -> dict:
    """The state of the run to resume, checked field by field."""
    progress_path = paths(model_path)[1]
    if not progress_path.is_file():
        raise UsageError(f"nothing to resume: {progress_path} not found")
    try:
        state = json.loads(progress_path.read_text())
        state.setdefault("evaluated", state["frame"])  # written before it was kept: evaluated
        state.setdefault("until_learned", False)  # written before runs stopped once learned
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError):
        state = None
    if not well_formed(state) or not observe_range[0] <= state["observe"] <= observe_range[1]:
        raise UsageError(f"cannot resume: {progress_path} is not a Train checkpoint of this "
                         "program")
    return state


def well_formed(state) -> bool:
    """Whether a state read from disk has every field, of its type and in its range."""
    if not isinstance(state, dict):
        return False
    for key, kind in FIELDS.items():
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
            return False
    games, best, kept = state["eval"], state["best_mean"], state["kept"]
    return (RUN_NAME.fullmatch(state["run"]) is not None and state["run"] not in (".", "..")
            and len(games) == 2 and all(type(n) is int for n in games)
            and 0 < games[0] <= MAX_EVAL_GAMES and 0 < games[1] <= MAX_EVAL_SCORE
            and 0 <= state["frame"] <= state["steps"] <= MAX_STEPS
            and state["observe"] > 0 and state["updates"] >= 0
            and 0 <= state["seed"] < 2**32
            and math.isfinite(state["minutes"]) and state["minutes"] >= 0
            and (best is None or math.isfinite(best) and best >= 0)
            and (kept is False or type(kept) is list and len(kept) == 2
                 and all(type(n) is int for n in kept))
            and (state["evaluated"] is None or 0 <= state["evaluated"] <= state["steps"]))


def evaluation_owed(state: dict) -> bool:
    """Whether the run has learned since its last finished evaluation: at its last frame, the
    latest weights are then evaluated (again after a signal cut that evaluation short)."""
    return state["updates"] > 0 and state["evaluated"] != state["frame"]


def start(model_path: Path, seed: int, steps: int, observe: int, eval_games: list,
          until_learned: bool = False) -> dict:
    """A new run's state; refuses to start over an unfinished run's checkpoint. A run until
    learned stops at its first evaluation with bookkeeping.EVAL_WINS of its games at the cap."""
    progress_path = paths(model_path)[1]
    if progress_path.exists():
        try:
            old = load(model_path, (0, 2**63))
        except UsageError:
            raise UsageError(f"{progress_path} is not a Train checkpoint: move it away to start "
                             "anew") from None
        if old["frame"] < old["steps"] or evaluation_owed(old):
            where = (f"frame {old['frame']:,} of {old['steps']:,}" if old["frame"] < old["steps"]
                     else "its last evaluation cut short")
            raise UsageError(f"{progress_path} holds an unfinished run ({where}): go on with "
                             "--resume, or move it away to start anew")
    name = f"bird-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    return {"run": name, "frame": 0, "updates": 0, "best_mean": None, "kept": False,
            "minutes": 0.0, "seed": seed, "steps": steps, "observe": observe,
            "eval": list(eval_games), "evaluated": None, "until_learned": until_learned}


def save(model_path: Path, state: dict, model) -> None:
    """Write the latest weights and the run's state whole, as a pair: both files are renamed
    once both are written, so they always hold the same frame."""
    latest_path, progress_path = paths(model_path)[:2]
    with written_whole(latest_path) as weights:
        write_weights(model, weights)
        with written_whole(progress_path) as progress:
            progress.write_text(json.dumps(state, indent=1))


def stamp(path: Path) -> list:
    """What tells a file this run wrote from one put there since: its size and time."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def aside_name(model_path: Path, run: str, number: int = 1) -> Path:
    """model.before-RUN.h5, or with -2, -3 ... where that name was taken."""
    suffix = f"-{number}" if number > 1 else ""
    return model_path.with_name(f"{model_path.stem}.before-{run}{suffix}.h5")


def aside(model_path: Path, run: str, with_run_files: bool = False) -> Path:
    """The first aside_name() that is free (with its latest weights' and state's names too, if
    `with_run_files`)."""
    number = 1
    while True:
        path = aside_name(model_path, run, number)
        taken = [path, *paths(path)[:2]] if with_run_files else [path]
        if not any(other.exists() for other in taken):
            return path
        number += 1


def set_aside(model_path: Path, state: dict) -> Path | None:
    """Before this run writes its best model: rename a model file it did not make."""
    if not model_path.exists() or state["kept"] == stamp(model_path):
        return None
    path = aside(model_path, state["run"])
    model_path.replace(path)
    return path


def set_aside_run(model_path: Path, run: str) -> Path | None:
    """Before a new run writes its first checkpoint: rename the latest weights and state a
    finished run left. Returns the model name that resumes it, if there was one."""
    old = [path for path in paths(model_path)[:2] if path.exists()]
    if not old:
        return None
    path = aside(model_path, run, with_run_files=True)
    for current, new in zip(paths(model_path)[:2], paths(path)[:2]):
        if current in old:
            current.replace(new)
    return path
