"""Everything qlearn.py needs that is not the lesson: speed, safety, bookkeeping, the window.

    speed        the fast preprocessing kernel, Adam in one kernel, TensorFlow's threads
    files        model files written whole and read back by their numbers only
    checkpoints  a training run's state on disk: resume, the lock, the models it keeps
    evaluation   greedy games side by side, scored; keep-best's rule; Eval mode
    logbook      Train's progress bar, its CSV files and TensorBoard scalars
    bookkeeping  the training loop's one call per frame that drives the four above
    classroom    Run's window: what the network sees and thinks, saliency, the GIF
    plot         Plot mode: a run's learning curve
    cli          the command line: flags, their checks, one-line errors, exit codes

qlearn.py imports this package; nothing here imports qlearn. Importing it loads the slow
libraries (TensorFlow's seconds) on purpose, before qlearn.py's own `import keras`: without
TensorFlow's start-up log, where Ctrl-C just stops, and where a missing package is one line
(which Pythons have wheels, if the Python is why). Import it before numpy: numpy's matrix
products here are small, and its threads would only fight TensorFlow's for the cores
(preprocessing went from 0.3 to 12 ms a frame), so it is told so before it loads.
"""

import os
import signal
import sys
import threading
from contextlib import contextmanager

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# TensorFlow's C++ logs (its cuInit line on a machine without a GPU, from the first model built
# by `import qlearn; qlearn.buildmodel()` too): errors reach a user as Python exceptions anyway
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


PYTHONS = ((3, 11), (3, 13))  # the Pythons for which every pinned package has wheels


class UsageError(Exception):
    """Bad input or a file that cannot be read or written: one line on stderr, no traceback."""


@contextmanager
def quiet_stderr():
    """Silence what C++ code writes to stderr: TensorFlow logs its start-up there whatever
    TF_CPP_MIN_LOG_LEVEL says, and a bad-input error should be the only line a user sees."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextmanager
def ctrl_c_exits():
    """While the block runs, Ctrl-C ends the program at once, exit code 130, without Python's
    traceback through the modules it was loading: nothing has started, so nothing is lost."""
    def exit_130(signum, frame):
        raise SystemExit(130)

    ours = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if ours:
        signal.signal(signal.SIGINT, exit_130)
    try:
        yield
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def missing_package(error: ImportError, python: tuple = sys.version_info[:2]) -> str:
    """A package that is not there, in one line: on another Python, which Pythons work."""
    (low, high), (major, minor) = PYTHONS, python
    if not low <= (major, minor) <= high:
        return (f"qlearn.py needs Python {low[0]}.{low[1]} to {high[0]}.{high[1]}, not "
                f"{major}.{minor}: requirements.txt's pinned packages have no wheels for it "
                f"({error})")
    return f"qlearn.py: {error}: pip install -r requirements.txt"


# The slow imports (TensorFlow alone takes seconds), once, here, for every module that needs
# them: quietly, and a Ctrl-C during them stops the program without a traceback.
with quiet_stderr(), ctrl_c_exits():
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
        from skimage.transform import resize  # noqa: F401

        from game import wrapped_flappy_bird  # noqa: F401  (and pygame)
    except ImportError as error:
        raise SystemExit(missing_package(error)) from None
