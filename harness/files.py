"""Files written whole or not at all, and model files read back by their numbers only.

The layout is Keras's H5 weights layout, so `buildmodel().load_weights("model.h5")` reads our
files too; reading them ourselves, by name and shape, gives one clear line for any other file
(another network, a Keras 3 `.weights.h5`, a `.keras` zip, random bytes) whatever its name.
"""

import os
import re
import signal
import threading
from contextlib import contextmanager, suppress
from pathlib import Path

import h5py
import keras
import numpy as np

from harness import UsageError

NAME_MAX = 255  # bytes in a file's name: Linux, macOS and Windows alike
HELD = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]


@contextmanager
def signals_held():
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done, then act as they would have:
    a file cut halfway is worth nothing, and a second Ctrl-C must not cut the save of the first.
    Blocks may nest; a signal the program ignores stays ignored."""
    if threading.current_thread() is not threading.main_thread():  # only it has handlers
        yield
        return
    caught, previous = [], {}
    for number in HELD:
        if signal.getsignal(number) not in (signal.SIG_IGN, None):
            previous[number] = signal.signal(number, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if caught:
            signal.raise_signal(caught[0])


def temporary_of(path: Path) -> Path:
    """Where written_whole writes `path` before it takes the name."""
    return path.with_name(path.name + ".tmp")


def check_writable(path: Path) -> None:
    """Refuse, before any work, a name written_whole cannot write: too long for the file system,
    or a folder or a device where the file or its temporary goes."""
    size = len(os.fsencode(path.name))
    if size > NAME_MAX - len(".tmp"):
        short = f"{path.name[:12]}...{path.name[-16:]}"
        raise UsageError(f"cannot write {short}: its name is {size} bytes, too long for a file "
                         f"(at most {NAME_MAX - 4}, room left for '.tmp')")
    for place in (path, temporary_of(path)):
        if place.is_dir():
            raise UsageError(f"{place} is a folder where a file goes")
        if place.exists() and not place.is_file():
            raise UsageError(f"{place} is not a file, and would be replaced by one")


@contextmanager
def written_whole(path: Path, before_replace=None):
    """A temporary file beside `path`, renamed to it once written: a crash, a full disk or a
    signal leaves the previous file as it was and no temporary behind (signals wait until the
    file is whole); a kill -9 may leave the temporary, which the next write replaces.
    `before_replace()` runs once the new file is whole, just before it takes the name."""
    temporary = temporary_of(path)
    with signals_held():
        try:
            yield temporary
            if before_replace:
                before_replace()
            os.replace(temporary, path)
        except BaseException as error:
            with suppress(OSError):  # a folder in its place stays
                temporary.unlink(missing_ok=True)
            if isinstance(error, (OSError, RuntimeError)):  # h5py reports a full disk as either
                raise UsageError(f"cannot write {path}: {reason(error)}") from None
            raise


def reason(error: Exception) -> str:
    """Why reading or writing failed, in a few words: h5py buries the system's errno, or its
    own reason in the last parentheses, in a long message."""
    number = re.search(r"errno = (\d+)", str(error))
    if number:
        return os.strerror(int(number[1]))
    if getattr(error, "strerror", None):
        return error.strerror
    line = (str(error).splitlines() or [type(error).__name__])[0]
    inner = re.search(r"\(([^()]+)\)\s*$", line)
    return inner[1] if inner else line


def write_weights(model: keras.Model, path: Path) -> None:
    """Write the weights only into `path`, in Keras's H5 layout (not whole: see save_weights)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            names = [weight.path.encode() for weight in layer.weights]
            group = f.create_group(layer.name)
            group.attrs["weight_names"] = names
            for name, weight in zip(names, layer.weights):
                group[name] = weight.numpy()


def save_weights(model: keras.Model, path: Path, before_replace=None) -> None:
    """Write the weights whole (`before_replace`: see written_whole)."""
    with written_whole(path, before_replace) as temporary:
        write_weights(model, temporary)


def load_weights(model: keras.Model, path: Path) -> keras.Model:
    """Read `path`'s weights into `model`, layer by layer; nothing in the file is executed."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a model file")
    if not path.exists():
        raise UsageError(f"model file not found: {path}")
    if not path.is_file():
        raise UsageError(f"{path} is not a file, so not a model file")
    layers = [layer for layer in model.layers if layer.weights]
    not_ours = f"cannot load weights from {path}: not a model file of this network"
    try:
        with h5py.File(path, "r") as f:
            groups = [f[name] for name in f.attrs["layer_names"]]
            arrays = [[group[name][()] for name in group.attrs["weight_names"]]
                      for group in groups if len(group.attrs["weight_names"])]
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as error:  # h5py's ways
        raise UsageError(f"{not_ours} ({reason(error)})") from None
    shapes = [[tuple(weight.shape) for weight in layer.weights] for layer in layers]
    if [[array.shape for array in layer] for layer in arrays] != shapes:
        raise UsageError(f"{not_ours} (its layers have other shapes)")
    try:
        for layer, values in zip(layers, arrays):
            layer.set_weights([np.asarray(value, np.float32) for value in values])
    except (TypeError, ValueError):
        raise UsageError(f"{not_ours} (its numbers are not numbers)") from None
    return model
