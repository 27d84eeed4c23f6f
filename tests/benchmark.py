"""Speed of one training frame, ours against the original's work on the same libraries.

Run: python tests/benchmark.py      (a default Train's time more; run nothing else meanwhile)
     python tests/benchmark.py --no-memory   (the timings only: about three minutes)

Prints ms per frame for the game step (and the Gymnasium env's step beside it, env_step_ms),
preprocessing, action choice and storing; ms per learning update and updates per second;
training frames per second and the cores the loop keeps busy; the minutes a default Train will
take on this machine (its frames, updates and evaluations); then the original's per-frame work
(scikit-image preprocessing, model.predict for the action, model.predict twice on the
minibatch, train_on_batch) and the ratio; last, the memory of a default Train run from its
start to its end, past a full replay memory.
"""

import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import qlearn  # noqa: I001  (first: it sets numpy's threads before numpy loads)
import numpy as np
from game import wrapped_flappy_bird as game
from harness import bookkeeping, cli, evaluation, speed


def per_call_ms(function, repeats: int) -> float:
    """Mean milliseconds of `function()` over `repeats` calls, after one warm-up call."""
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1000


def env_step_ms(steps: int = 10000, block: int = 100) -> tuple[float, float]:
    """ms per frame of the Gymnasium env's step and of GameState.frame_step, same seed and actions.

    Timed in turns of `block` frames, which goes first alternating, so that both meet the same
    load on a shared machine; each is the median over its turns, which a passing spike of load
    does not move. The env's time includes the reset() Gymnasium asks for after a crash.
    """
    from game.env import FlappyBirdEnv  # the one part that needs gymnasium

    rng = random.Random(0)
    actions = [int(rng.random() < 0.08) for _ in range(steps)]
    env, game_state = FlappyBirdEnv(), game.GameState(seed=0)
    env.reset(seed=0)

    def play_env(chunk):
        for a_t in chunk:
            if env.step(a_t)[2]:
                env.reset()

    def play_game(chunk):
        for a_t in chunk:
            game_state.frame_step(game.INPUT_ACTIONS[a_t])

    seconds = {play_env: [], play_game: []}
    for turn, start in enumerate(range(0, steps, block)):
        for play in (play_env, play_game) if turn % 2 else (play_game, play_env):
            begin = time.perf_counter()
            play(actions[start:start + block])
            seconds[play].append(time.perf_counter() - begin)
    return (float(np.median(seconds[play_env])) / block * 1000,
            float(np.median(seconds[play_game])) / block * 1000)


def evaluation_frame_ms(q_of, pipes: int = 20) -> float:
    """ms per frame of an evaluation: EVAL_EPISODES games side by side, as Train plays them
    (evaluation.greedy_scores), by a bird that passes every pipe (`q_of`) to `pipes` pipes."""
    frames = [0]  # the games' frames, all counted

    def counted_next_state(image, s_t=None):
        frames[0] += 1
        return qlearn.next_state(image, s_t)

    start = time.perf_counter()
    evaluation.greedy_scores(q_of, counted_next_state, bookkeeping.EVAL_EPISODES,
                             bookkeeping.EVAL_SEED, pipes)
    return (time.perf_counter() - start) * 1000 / (frames[0] / bookkeeping.EVAL_EPISODES)


def default_run(ms: dict, update_ms: float, evaluation_ms: float) -> str:
    """The minutes of `qlearn.py -m Train` with no flags, from its parts' costs: random play
    while observing, then an action every FRAME_PER_ACTION frames and an update every
    TRAIN_EVERY frames; the evaluations between nothing (no game passes a pipe) and every game
    played to the cap. At most: a Train stops early at its first evaluation with EVAL_WINS of
    its games at the cap."""
    frames, observe = qlearn.TOTAL_FRAMES, qlearn.OBSERVATION
    updates = (frames - observe) // qlearn.TRAIN_EVERY
    evaluations = len(range(-(-observe // bookkeeping.EVAL_EVERY) * bookkeeping.EVAL_EVERY,
                            frames, bookkeeping.EVAL_EVERY)) + 1  # and one at the end
    playing = ms["game step"] + ms["preprocessing"] + ms["storing"]
    seconds = (frames * playing + (frames - observe) * ms["action choice"]
               + updates * update_ms) / 1000
    frames_per_pipe = game.SCREENWIDTH // 2 // -game.PIPE_VEL_X  # pipes 144 px apart, 4 px a frame
    evaluation_frames = evaluations * bookkeeping.EVAL_MAX_SCORE * frames_per_pipe
    at_most = evaluation_frames * evaluation_ms / 1000 * -(
        -bookkeeping.EVAL_EPISODES // evaluation.SIDE_BY_SIDE)
    return (f"{'a default Train':<28}{seconds / 60:8.1f} minutes: {frames:,} frames, "
            f"{updates:,} updates, then {evaluations} evaluations: up to "
            f"{at_most / 60:.1f} minutes more (all {bookkeeping.EVAL_EPISODES} games to "
            f"{bookkeeping.EVAL_MAX_SCORE} pipes)")


def original_preprocess(image):
    """The original's scikit-image calls, as in its qlearn.py (the blog's 0..255: our network
    divides by 255 itself, and the original's later division costs the same)."""
    from skimage import color, exposure, transform
    x = color.rgb2gray(image)
    x = transform.resize(x, (80, 80))
    return exposure.rescale_intensity(x, out_range=(0, 255))


def training_fps(game_state, q_of, train_on_minibatch, replay_memory,
                 count: int) -> tuple[float, float]:
    """Frames per second of Train's loop (act every few frames, step, preprocess, store, learn
    every few), and the cores it keeps busy: the CPU time of all this process's threads per
    second."""
    s_t, recent = qlearn.next_state(game_state.draw()), deque()
    start, cpu = time.perf_counter(), time.process_time()
    for t in range(count):
        a_t = qlearn.choose_action(q_of, s_t, 0.01) if t % qlearn.FRAME_PER_ACTION == 0 else 0
        image, r_t, terminal = game_state.frame_step(qlearn.one_hot(a_t))
        s_t1 = qlearn.next_state(image, s_t)
        qlearn.remember(replay_memory, recent, (s_t, a_t, r_t, s_t1, terminal), terminal)
        s_t = s_t1
        if t % qlearn.TRAIN_EVERY == 0:
            train_on_minibatch(*qlearn.sample_minibatch(replay_memory))
    seconds = time.perf_counter() - start
    return count / seconds, (time.process_time() - cpu) / seconds


def original_fps(game_state, model, replay_memory, count: int) -> float:
    """Frames per second of the original's loop: the same work, the way it did it."""
    frames = np.stack([original_preprocess(game_state.draw())] * 4, axis=-1)[None]
    start = time.perf_counter()
    for _ in range(count):
        action = int(np.argmax(model.predict(frames, verbose=0)))
        image, _, _ = game_state.frame_step(qlearn.one_hot(action))
        x_t1 = original_preprocess(image).reshape(1, 80, 80, 1)
        frames = np.append(x_t1, frames[:, :, :, :3], axis=3)
        minibatch = qlearn.sample_minibatch(replay_memory)
        s_t, s_t1 = minibatch[0].astype(float), minibatch[3].astype(float)  # (BATCH, 80, 80, 4)
        targets = model.predict(s_t, verbose=0)
        q_t1 = model.predict(s_t1, verbose=0)
        targets[:, 0] = 0.1 + qlearn.GAMMA * q_t1.max(axis=1)
        model.train_on_batch(s_t, targets)
    return count / (time.perf_counter() - start)


def main() -> None:
    speed.configure_tensorflow()
    game_state = game.GameState(seed=0)
    images = [game_state.frame_step(qlearn.one_hot(int(random.random() < 0.08)))[0]
              for _ in range(2000)]
    model, target_model = qlearn.buildmodel(), qlearn.buildmodel()
    q_of = qlearn.q_function(model)
    train_on_minibatch = qlearn.learning_step(model, target_model)
    s_t = qlearn.next_state(images[0])
    replay_memory, recent = deque(maxlen=qlearn.REPLAY_MEMORY), deque()
    for image in images:
        s_t1 = qlearn.next_state(image, s_t)
        qlearn.remember(replay_memory, recent, (s_t, 0, 0.1, s_t1, False), False)
        s_t = s_t1

    ms = {}
    ms["game step"] = per_call_ms(lambda: game_state.frame_step(qlearn.one_hot(0)), 3000)
    it = iter(images * 3)
    ms["preprocessing"] = per_call_ms(lambda: qlearn.preprocess(next(it)), 3000)
    ms["action choice"] = per_call_ms(  # one every FRAME_PER_ACTION frames
        lambda: qlearn.choose_action(q_of, s_t, 0), 2000) / qlearn.FRAME_PER_ACTION
    transition = (s_t, 0, 0.1, s_t, False)
    ms["storing"] = per_call_ms(
        lambda: qlearn.remember(replay_memory, recent, transition, False), 3000)
    update = per_call_ms(lambda: train_on_minibatch(*qlearn.sample_minibatch(replay_memory)),
                         200)
    per_frame = sum(ms.values())
    ours, cores = training_fps(game_state, q_of, train_on_minibatch, replay_memory, 2000)
    for name, value in ms.items():
        print(f"{name:<28}{value:8.3f} ms per frame")
        if name == "game step":  # the Gymnasium env over the same game, at most 10% dearer
            env_ms, step_ms = env_step_ms()
            print(f"{'env step (Gymnasium)':<28}{env_ms:8.3f} ms per frame "
                  f"({env_ms / step_ms - 1:+.1%} on frame_step's {step_ms:.3f}, timed in turns)")
    print(f"{'all per-frame work':<28}{per_frame:8.3f} ms per frame (outside learning updates)")
    print(f"{'learning update':<28}{update:8.3f} ms (one every {qlearn.TRAIN_EVERY} frames), "
          f"{1000 / update:.1f} updates per second")
    print(f"{'training (the whole loop)':<28}{ours:8.1f} frames per second, keeping {cores:.1f} "
          f"of {os.cpu_count()} cores busy")
    shipped = qlearn.q_function(qlearn.load_model(cli.MODEL_PATH))  # it plays: games to the cap
    print(default_run(ms, update, evaluation_frame_ms(shipped)))

    # the original's work per frame: it learned on every frame, with predict() three times
    stack = qlearn.network_input([qlearn.next_state(images[0])]).astype(float)
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

    if "--no-memory" in sys.argv:
        return
    peak, private, library = train_peak_mb()
    print(f"\na default Train, {qlearn.TOTAL_FRAMES:,} frames: peak memory {peak:.0f} MB; at the "
          f"end {private:.0f} MB private, {library:.0f} MB of library code")


def train_peak_mb() -> tuple[float, float, float]:
    """Memory of `qlearn.py -m Train` with no flags but the model's place: the replay memory
    fills (at REPLAY_MEMORY frames) while it learns, and its evaluations run. Returns the peak
    RSS from start to end, and at the end its private part and its file-backed part (library code).

    Read as the child's own /proc/self/status at exit (Linux): getrusage's maxrss of a child
    would also count this process's memory, which the child shares between fork and exec.
    """
    report = ("import atexit, runpy, sys\n"
              "atexit.register(lambda: print(*[line for line in open('/proc/self/status')\n"
              "    if line.startswith(('VmHWM', 'RssAnon', 'RssFile'))]))\n"
              "sys.argv = sys.argv[1:]\n"
              "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    with tempfile.TemporaryDirectory() as folder:
        train = subprocess.run([sys.executable, "-c", report, str(Path(qlearn.__file__)),
                                "-m", "Train", "--model",
                                str(Path(folder) / "model.h5")],
                               capture_output=True, text=True, check=True)
    kb = dict(re.findall(r"(VmHWM|RssAnon|RssFile):\s+(\d+) kB", train.stdout))
    return tuple(int(kb[key]) / 1024 for key in ("VmHWM", "RssAnon", "RssFile"))


if __name__ == "__main__":
    main()
