"""What makes training fast on a CPU, kept out of the lesson's way.

- grayscale, resize and rescale_intensity: scikit-image's preprocessing as numpy products,
  twelve times faster and within 0.6/255 of its numbers (tests/test_speed.py checks both).
- FusedAdam: Keras's Adam with each weight's step in TensorFlow's one Adam kernel.
- configure_tensorflow: thread pools that work every core while the bird learns; malloc
  arenas capped so that memory does not grow with the number of cores.
"""

import ctypes
import os
import sys
from functools import cache
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from skimage.transform import resize as skimage_resize

from harness import quiet_stderr

# scikit-image's rgb2gray weights 0.2125, 0.7154, 0.0721 as 44, 148, 15 (/ 207, each within
# 0.0004): whole numbers whose sums fit uint16, half the bytes of float32 to multiply and add
GRAY = np.array([44, 148, 15], np.uint16)
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")  # there where Linux runs an NVIDIA GPU


def grayscale(image: np.ndarray) -> np.ndarray:
    """skimage.color.rgb2gray times 207 * 255: uint8 (w, h, 3) -> float32 (w, h).

    Computed on the game's rows, the order of its pixels in memory, so the result is a
    transposed view of a row-major (h, w) array: resize reads it row by row.
    """
    rows = image.transpose(1, 0, 2)  # [y, x]: fast to read
    gray = rows[..., 0] * GRAY[0] + rows[..., 1] * GRAY[1] + rows[..., 2] * GRAY[2]
    return gray.astype(np.float32).T


def resize(gray: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """skimage.transform.resize(gray, shape) for a (w, h) image, as two matrix products."""
    rows = resize_rows(gray.T, shape[1])  # (shape[1], w)
    return resize_matrix(gray.shape[0], shape[0]) @ rows.T


def rescale_intensity(image: np.ndarray, low: int, high: int) -> np.ndarray:
    """skimage.exposure.rescale_intensity(image, out_range=(low, high)), rounded to uint8."""
    least, most = image.min(), image.max()
    scale = (high - low) / (most - least) if most > least else 0
    return ((image - least) * scale + low + 0.5).astype(np.uint8)


@cache
def resize_matrix(size: int, new_size: int) -> np.ndarray:
    """scikit-image's resize from `size` to `new_size` pixels on one axis, as a matrix.

    resize (anti-aliasing blur, then linear interpolation) is linear and works axis by axis,
    so resizing the identity matrix gives the matrix that does it in one product.
    """
    identity = np.eye(size, dtype=np.float32)
    return skimage_resize(identity, (new_size, size)).astype(np.float32)


@cache
def row_band(height: int, new_height: int) -> tuple[np.ndarray, int, int]:
    """The block of resize_matrix(height, new_height) that repeats down its diagonal.

    512 rows go to 80, so each 32 input rows make 5 output rows, and blur and interpolation
    are local: output rows 5b..5b+4 read only the 50 input rows from 32b - 9, always with the
    same (5, 50) weights. Returns those weights, the step (32) and the offset (-9).
    """
    matrix = resize_matrix(height, new_height)
    divisor = np.gcd(new_height, height)
    group, step = new_height // divisor, height // divisor
    inner = range(group, new_height - group)  # the first and last groups read a mirrored edge
    offset = min(np.flatnonzero(matrix[i])[0] - step * (i // group) for i in inner)
    end = max(np.flatnonzero(matrix[i])[-1] - step * (i // group) for i in inner) + 1
    return matrix[group:2 * group, step + offset:step + end], step, offset


def resize_rows(gray: np.ndarray, new_height: int) -> np.ndarray:
    """resize_matrix(height, new_height) @ gray for a (height, width) image, skipping zeros."""
    matrix = resize_matrix(len(gray), new_height)
    block, step, offset = row_band(len(gray), new_height)
    (group, band), groups = block.shape, new_height // block.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(gray[step + offset:], band, axis=0)
    windows = windows[::step][:groups - 2].transpose(0, 2, 1)  # (14, 50, width)
    rows = np.empty((new_height, gray.shape[1]), np.float32)
    rows[group:-group] = (block @ windows).reshape(-1, gray.shape[1])
    top, bottom = offset + band, step * (groups - 1) + offset  # the edge groups' bands, mirrored
    rows[:group] = matrix[:group, :top] @ gray[:top]
    rows[-group:] = matrix[-group:, bottom:] @ gray[bottom:]
    return rows


class FusedAdam(keras.optimizers.Adam):
    """Keras's Adam, each weight's step done by TensorFlow's one Adam kernel.

    The same arithmetic (m, v, then the weight: each within a rounding of Keras's), in one pass
    over memory instead of Keras's nine separate array operations: the dense layer's 3.3 million
    weights made those nine passes a third of each learning update (7 of 21 ms).
    """

    def update_step(self, gradient, variable, learning_rate):
        step = tf.cast(self.iterations + 1, variable.dtype)
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle,
            v=self._velocities[index].handle, beta1_power=self.beta_1 ** step,
            beta2_power=self.beta_2 ** step, lr=tf.cast(learning_rate, variable.dtype),
            beta1=self.beta_1, beta2=self.beta_2, epsilon=self.epsilon, grad=gradient)


@cache
def libc():
    """glibc's C library, or None (macOS, Windows, musl): for its malloc's settings."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        library = ctypes.CDLL("libc.so.6")
        return library if hasattr(library, "mallopt") and hasattr(library, "malloc_trim") else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Give back to the system what malloc keeps free for reuse (glibc): called now and then."""
    if libc():
        libc().malloc_trim(0)


def configure_tensorflow() -> None:
    """Let TensorFlow place the work itself; say once which device it uses."""
    if libc():  # before TensorFlow starts its threads: on many cores each would get a malloc
        libc().mallopt(-8, 2)  # arena of its own (M_ARENA_MAX), each holding copies of 13 MB
        libc().mallopt(-3, 1 << 20)  # buffers; big ones mmapped, at a fixed 1 MiB threshold
    # Two ops at a time (the learning step's three forward passes are independent), each on
    # every core: the learning update is most of a frame's cost and the game's thread waits
    # for it (on 2 cores, one core per op made a 9,000-frame Train 1.07 to 1.09 times as long).
    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.threading.set_intra_op_parallelism_threads(os.cpu_count() or 2)
    with quiet_stderr():
        gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # the original's allow_growth
    print(device_line(gpus))


def device_line(gpus: list) -> str:
    """Which device TensorFlow uses; on the CPU beside an NVIDIA GPU, what it lacks to use it."""
    if gpus:
        return f"TensorFlow {tf.__version__} runs on GPU: {gpus[0].name}"
    lacks = ""
    if sys.platform.startswith("linux") and NVIDIA_DRIVER.exists():  # plain tensorflow has
        lacks = (f' (for the NVIDIA GPU here: pip install "tensorflow[and-cuda]=='  # no CUDA
                 f'{tf.__version__}")')
    return f"TensorFlow {tf.__version__} runs on CPU{lacks}"
