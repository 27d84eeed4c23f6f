"""Speed of one training frame, ours against the original's work on the same libraries.

Run: python tests/benchmark.py      (takes about two minutes; run nothing else meanwhile)

Prints ms per frame for the game step, preprocessing, action choice and storing; ms per
learning update; training frames per second; then the original's per-frame work (scikit-image
preprocessing, model.predict for the action, model.predict twice on the minibatch,
train_on_batch) and the ratio; last, the peak memory of a Train run past a full replay memory.
"""

import random
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import qlearn  # noqa: E402, I001  (first: it sets numpy's threads before numpy loads)
import numpy as np  # noqa: E402
from game import wrapped_flappy_bird as game  # noqa: E402


def per_call_ms(function, repeats: int) -> float:
    """Mean milliseconds of `function()` over `repeats` calls, after one warm-up call."""
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1000


def original_preprocess(image):
    """The original's scikit-image calls, as in its qlearn.py."""
    from skimage import color, exposure, transform
    x = color.rgb2gray(image)
    x = transform.resize(x, (80, 80))
    x = exposure.rescale_intensity(x, out_range=(0, 255))
    return x / 255.0


def training_fps(game_state, q_values, train_on_minibatch, replay_memory, count: int) -> float:
    """Frames per second of Train's loop: act, step, preprocess, store, learn every few."""
    frames, recent = qlearn.new_game_frames(game_state.draw()), []
    start = time.perf_counter()
    for t in range(count):
        a_t = qlearn.choose_action(q_values, frames, 0.01)
        image, r_t, terminal = game_state.frame_step(qlearn.one_hot(a_t))
        x_t1 = qlearn.preprocess_bytes(image)
        frames = qlearn.remember(replay_memory, recent, frames, a_t, r_t, x_t1, terminal,
                                 terminal)
        if t % qlearn.TRAIN_EVERY == 0:
            train_on_minibatch(*qlearn.sample_minibatch(replay_memory))
    return count / (time.perf_counter() - start)


def original_fps(game_state, model, replay_memory, count: int) -> float:
    """Frames per second of the original's loop: the same work, the way it did it."""
    frames = np.stack([original_preprocess(game_state.draw())] * 4, axis=-1)[None]
    start = time.perf_counter()
    for _ in range(count):
        action = int(np.argmax(model.predict(frames, verbose=0)))
        image, _, _ = game_state.frame_step(qlearn.one_hot(action))
        x_t1 = original_preprocess(image).reshape(1, 80, 80, 1)
        frames = np.append(x_t1, frames[:, :, :, :3], axis=3)
        s_t1, s_t = (stacks.transpose(0, 2, 3, 1) / 255.0  # (BATCH, 80, 80, 4)
                     for stacks in qlearn.sample_minibatch(replay_memory)[:2])
        targets = model.predict(s_t, verbose=0)
        q_t1 = model.predict(s_t1, verbose=0)
        targets[:, 0] = 0.1 + qlearn.GAMMA * q_t1.max(axis=1)
        model.train_on_batch(s_t, targets)
    return count / (time.perf_counter() - start)


def main() -> None:
    qlearn.configure_tensorflow()
    game_state = game.GameState(seed=0)
    images = [game_state.frame_step(qlearn.one_hot(int(random.random() < 0.08)))[0]
              for _ in range(2000)]
    model, target_model = qlearn.buildmodel(), qlearn.buildmodel()
    q_values = qlearn.q_function(model)
    train_on_minibatch = qlearn.learning_step(model, target_model)
    frames = qlearn.new_game_frames(images[0])
    replay_memory, recent = deque(maxlen=qlearn.REPLAY_MEMORY), []
    for image in images:
        qlearn.remember(replay_memory, recent, frames, 0, 0.1, qlearn.preprocess_bytes(image),
                        False, False)

    ms = {}
    ms["game step"] = per_call_ms(lambda: game_state.frame_step(qlearn.one_hot(0)), 3000)
    it = iter(images * 3)
    ms["preprocessing"] = per_call_ms(lambda: qlearn.preprocess_bytes(next(it)), 3000)
    ms["action choice"] = per_call_ms(lambda: qlearn.choose_action(q_values, frames, 0), 2000)
    x = frames[0]
    ms["storing"] = per_call_ms(
        lambda: qlearn.remember(replay_memory, recent, frames, 0, 0.1, x, False, False), 3000)
    update = per_call_ms(lambda: train_on_minibatch(*qlearn.sample_minibatch(replay_memory)),
                         200)
    per_frame = sum(ms.values())
    ours = training_fps(game_state, q_values, train_on_minibatch, replay_memory, 2000)
    for name, value in ms.items():
        print(f"{name:<28}{value:8.3f} ms per frame")
    print(f"{'all per-frame work':<28}{per_frame:8.3f} ms per frame (outside learning updates)")
    print(f"{'learning update':<28}{update:8.3f} ms (one every {qlearn.TRAIN_EVERY} frames)")
    print(f"{'training (the whole loop)':<28}{ours:8.1f} frames per second")

    # the original's work per frame: it learned on every frame, with predict() three times
    stack = np.stack([qlearn.preprocess(images[0])] * 4, axis=-1)[None]
    batch = np.repeat(stack, qlearn.BATCH, axis=0)
    targets = np.zeros((qlearn.BATCH, qlearn.ACTIONS), np.float32)
    original = {
        "scikit-image preprocessing": per_call_ms(lambda: original_preprocess(images[7]), 200),
        "model.predict (action)": per_call_ms(lambda: model.predict(stack, verbose=0), 100),
        "model.predict x2 (minibatch)": 2 * per_call_ms(
            lambda: model.predict(batch, verbose=0), 50),
        "train_on_batch": per_call_ms(lambda: model.train_on_batch(batch, targets), 50),
    }
    print()
    for name, value in original.items():
        print(f"original {name:<28}{value:8.3f} ms per frame")
    theirs = original_fps(game_state, model, replay_memory, 150)
    print(f"original training (its loop) {theirs:8.1f} frames per second")
    print(f"ratio                        {ours / theirs:8.1f} x")

    print(f"\npeak memory of a Train run past a full replay memory: {train_peak_mb():.0f} MB")


def train_peak_mb() -> float:
    """Peak RSS of `qlearn.py -m Train` that fills the replay memory, then learns 4,000 frames.

    Read as the child's own VmHWM at exit (Linux): getrusage's maxrss of a child would also
    count this process's memory, which the child shares between fork and exec.
    """
    full = qlearn.REPLAY_MEMORY
    report_peak = ("import atexit, runpy, sys\n"
                   "atexit.register(lambda: print(*[line for line in open('/proc/self/status')\n"
                   "                                if line.startswith('VmHWM')]))\n"
                   "sys.argv = sys.argv[1:]\n"
                   "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    with tempfile.TemporaryDirectory() as folder:
        train = subprocess.run([sys.executable, "-c", report_peak, str(Path(qlearn.__file__)),
                                "-m", "Train", "--steps", str(full + 4000), "--observe",
                                str(full), "--model", str(Path(folder) / "model.h5")],
                               capture_output=True, text=True, check=True)
    return int(train.stdout.split()[-2]) / 1024  # "VmHWM:  1147000 kB"


if __name__ == "__main__":
    main()
