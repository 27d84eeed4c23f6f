"""Model files: written whole or not at all, and read back by their numbers only.

The layout is Keras's H5 weights layout, so `buildmodel().load_weights("model.h5")` reads our
files too; reading them ourselves, by name and shape, gives one clear line for any other file
(another network, a Keras 3 `.weights.h5`, a `.keras` zip, random bytes) whatever its name.
"""

import os
import re
from contextlib import contextmanager
from pathlib import Path

import h5py
import keras
import numpy as np

from harness import UsageError


@contextmanager
def written_whole(path: Path, before_replace=None):
    """A temporary file beside `path`, renamed to it once written: a crash, a full disk or a
    kill leaves the previous file as it was and no temporary behind. `before_replace()` runs
    once the new file is whole, just before it takes the name."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        yield temporary
        if before_replace:
            before_replace()
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, (OSError, RuntimeError)):  # h5py reports a full disk as either
            raise UsageError(f"cannot write {path}: {reason(error)}") from None
        raise


def reason(error: Exception) -> str:
    """Why a write failed, in a few words: h5py buries the system's errno in a long message."""
    number = re.search(r"errno = (\d+)", str(error))
    if number:
        return os.strerror(int(number[1]))
    return getattr(error, "strerror", None) or str(error).splitlines()[0][:100]


def save_weights(model: keras.Model, path: Path, before_replace=None) -> None:
    """Write the weights only, in Keras's H5 layout (`before_replace`: see written_whole)."""
    with written_whole(path, before_replace) as temporary, h5py.File(temporary, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            names = [weight.path.encode() for weight in layer.weights]
            group = f.create_group(layer.name)
            group.attrs["weight_names"] = names
            for name, weight in zip(names, layer.weights):
                group[name] = weight.numpy()


def load_weights(model: keras.Model, path: Path) -> keras.Model:
    """Read `path`'s weights into `model`, layer by layer; nothing in the file is executed."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a model file")
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    layers = [layer for layer in model.layers if layer.weights]
    not_ours = f"cannot load weights from {path}: not a model file of this network"
    try:
        with h5py.File(path, "r") as f:
            groups = [f[name] for name in f.attrs["layer_names"]]
            arrays = [[group[name][()] for name in group.attrs["weight_names"]]
                      for group in groups if len(group.attrs["weight_names"])]
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as error:  # h5py's ways
        raise UsageError(f"{not_ours} ({str(error).splitlines()[0][:100]})") from None
    shapes = [[tuple(weight.shape) for weight in layer.weights] for layer in layers]
    if [[array.shape for array in layer] for layer in arrays] != shapes:
        raise UsageError(f"{not_ours} (its layers have other shapes)")
    try:
        for layer, values in zip(layers, arrays):
            layer.set_weights([np.asarray(value, np.float32) for value in values])
    except (TypeError, ValueError):
        raise UsageError(f"{not_ours} (its numbers are not numbers)") from None
    return model
