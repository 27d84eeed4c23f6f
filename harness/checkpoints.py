"""A training run's state on disk, beside its model file (model.h5 here):

    model.h5          the best model so far, by greedy evaluation (what Run and Eval load)
    model.latest.h5   the latest weights, for --resume
    model.train.json  the run's settings and its place in the schedule, for --resume
    model.lock        held while a Train runs on these files

Nothing a user made is lost: a model already in model.h5 is renamed, never overwritten, the
first time this run has a better one (model.before-RUN.h5); an unfinished run is resumed or
set aside by hand, never overwritten by a new one.
"""

import json
import re
import time
from pathlib import Path

from harness import UsageError
from harness.files import written_whole

try:
    import fcntl
except ImportError:  # Windows: no lock; two Trains on one file are the user's to avoid
    fcntl = None

RUN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# "kept" is False until the run writes a best model, then that file's stamp (see stamp())
FIELDS = {"run": str, "frame": int, "updates": int, "best_mean": (float, int, type(None)),
          "kept": (list, bool), "minutes": (float, int), "seed": int, "steps": int,
          "observe": int, "eval": list}


def paths(model_path: Path) -> tuple[Path, Path, Path]:
    """The latest weights, the run's state and the lock, beside the model file."""
    stem = model_path.with_suffix("") if model_path.suffix == ".h5" else model_path
    return tuple(stem.with_name(stem.name + ending)
                 for ending in (".latest.h5", ".train.json", ".lock"))


def lock(model_path: Path):
    """Hold the lock of a Train on `model_path`, or refuse: the kernel drops it when the
    process ends, however it ends, so a crashed run leaves none stuck. Returns the open file."""
    lock_path = paths(model_path.resolve())[2]  # a link to the model shares its lock
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        file = open(lock_path, "a+")  # noqa: SIM115  (held open: the lock lasts as long)
    except OSError as error:
        raise UsageError(f"cannot write beside {model_path}: {error.strerror}") from None
    if fcntl:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.close()
            raise UsageError(f"another Train is running on {model_path}; wait for it or "
                             "give this one another --model") from None
    return file


def check_paths(model_path: Path, resume: bool) -> None:
    """Before a Train touches anything: its files' names are free for files, and a run to
    resume is there."""
    latest_path, progress_path, lock_path = paths(model_path)
    for path in (model_path, latest_path, progress_path, lock_path):
        if path.is_dir():
            raise UsageError(f"{path} is a folder where Train keeps a file")
    runs = model_path.parent / "runs"
    if runs.exists() and not runs.is_dir():
        raise UsageError(f"{runs} is a file where Train keeps its logs' folder")
    if resume and not progress_path.is_file():
        raise UsageError(f"nothing to resume: {progress_path} not found")


def load(model_path: Path, observe_range: tuple[int, int]) -> dict:
    """The state of the run to resume, checked field by field."""
    progress_path = paths(model_path)[1]
    try:
        state = json.loads(progress_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
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
    games = state["eval"]
    return (RUN_NAME.fullmatch(state["run"]) is not None and state["run"] not in (".", "..")
            and len(games) == 2 and all(type(n) is int and n > 0 for n in games)
            and 0 <= state["frame"] <= state["steps"] and state["observe"] > 0
            and 0 <= state["seed"] < 2**32)


def start(model_path: Path, seed: int, steps: int, observe: int, eval_games: list) -> dict:
    """A new run's state; refuses to start over an unfinished run's checkpoint."""
    progress_path = paths(model_path)[1]
    if progress_path.exists():
        try:
            old = load(model_path, (0, 2**63))
        except UsageError:
            raise UsageError(f"{progress_path} is not a Train checkpoint: move it away to start "
                             "anew") from None
        if old["frame"] < old["steps"]:
            raise UsageError(f"{progress_path} holds an unfinished run (frame {old['frame']} of "
                             f"{old['steps']}): go on with --resume, or move it away to start "
                             "anew")
    name = f"bird-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    return {"run": name, "frame": 0, "updates": 0, "best_mean": None, "kept": False,
            "minutes": 0.0, "seed": seed, "steps": steps, "observe": observe,
            "eval": list(eval_games)}


def save(model_path: Path, state: dict) -> None:
    """Write the run's state whole."""
    with written_whole(paths(model_path)[1]) as temporary:
        temporary.write_text(json.dumps(state, indent=1))


def stamp(path: Path) -> list:
    """What tells a file this run wrote from one put there since: its size and time."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def set_aside(model_path: Path, state: dict) -> Path | None:
    """Before this run writes its best model: rename a model file it did not make."""
    if not model_path.exists() or state["kept"] == stamp(model_path):
        return None
    name, number = f"{model_path.stem}.before-{state['run']}", 1
    aside = model_path.with_name(name + ".h5")
    while aside.exists():  # a resumed run can meet a second model it did not make
        number += 1
        aside = model_path.with_name(f"{name}-{number}.h5")
    model_path.replace(aside)
    return aside
