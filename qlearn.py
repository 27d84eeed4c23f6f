"""A Deep Q-Network learns FlappyBird from raw pixels: Keras-FlappyBird (2016) on today's Keras.

    python qlearn.py -m Train     # learn from scratch: about 20 minutes on 2 CPU cores
    python qlearn.py -m Run       # watch model.h5 play, what it sees and thinks beside it
    python qlearn.py -m Eval      # score model.h5 on seeded games, headless
    python qlearn.py -m Play      # your turn: space, up or a click flaps
    python qlearn.py -m Plot      # draw a training run's learning curve (needs matplotlib)

Read it next to the blog post: preprocessing, the network, experience replay, then the
epsilon-greedy Q-learning loop. `python qlearn.py -h` lists every flag.
"""

import argparse
import csv
import json
import os
import random
import statistics
import sys
import time
from collections import deque
from contextlib import contextmanager
from functools import cache
from pathlib import Path

# numpy's matrix products here are small: its threads would only fight TensorFlow's for the
# cores (preprocessing went from 0.3 to 12 ms a frame). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from skimage.transform import resize  # noqa: E402

from game import wrapped_flappy_bird as game  # noqa: E402
from game.classroom import Classroom, Play  # noqa: E402


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
def written_whole(path: Path):
    """A temporary file beside `path`, renamed to it once written: a crash leaves no half file."""
    temporary = path.with_name(path.name + ".tmp")
    yield temporary
    os.replace(temporary, path)


with quiet_stderr():
    import keras  # noqa: E402
    import tensorflow as tf  # noqa: E402


GAME = "bird"  # the name of the game, for the logs
ACTIONS = 2  # number of valid actions: do nothing, flap
GAMMA = 0.99  # decay rate of future rewards
OBSERVATION = 5_000  # frames of random play that fill the memory before learning starts
EXPLORE = 150_000  # frames over which epsilon anneals (original 3,000,000: days on a CPU)
FINAL_EPSILON = 0.0001  # final chance of a random action
INITIAL_EPSILON = 0.1  # starting chance of a random action, once learning starts
REPLAY_MEMORY = 50_000  # transitions remembered; uint8 frames, shared: about 330 MB
BATCH = 32  # transitions per learning update
FRAME_PER_ACTION = 1  # frames per action choice
LEARNING_RATE = 1e-4  # Adam's step size at the start
FINAL_LEARNING_RATE = 2.5e-5  # reached at the end of the run: small steps keep a good policy
TRAIN_EVERY = 5  # frames per learning update (original: 1): the update is most of a frame's
# time; each frame is still replayed about 6 times (BATCH / TRAIN_EVERY)
TARGET_SYNC = 250  # updates (1,250 frames) between copies of the network into the target
# network. Q learns N_STEP more frames of the future per copy, and a crash must be foreseen
# some 30 frames ahead: DeepMind's 10,000-frame interval would need 100,000 frames for that.
N_STEP = 3  # frames of rewards in a target before Q's estimate (original: 1): Q sees three
# times as far ahead per copy (max Q at 15,000 frames: 2.3 against 0.75 with one)
TRAIN_SCORE_CAP = 50  # pipes; a training game ends there so that game starts stay in memory
TOTAL_FRAMES = 200_000  # frames of a default Train run (39,000 updates): under 30 minutes
SAVE_EVERY = 10_000  # frames between checkpoints
EVAL_EVERY = 25_000  # frames between greedy evaluations, once learning has started
EVAL_EPISODES = 10  # games per evaluation during training: side by side, ten cost what five
# did one after another, and a model kept for its scores is less often kept for its luck
EVAL_MAX_SCORE = 200  # pipes at which an evaluation game counts as won
EVAL_SEED = 2016  # the evaluation games' seed during training
LOG_EVERY = 5_000  # frames between progress lines
RECORD_FRAMES = 900  # frames Run --record records (30 seconds), then it stops
IMG_ROWS, IMG_COLS = 80, 80  # the network's input: 80 x 80 grayscale frames ...
IMG_CHANNELS = 4  # ... four of them stacked, newest first

DO_NOTHING = 0  # the action index that does not flap
MODEL_PATH = Path(__file__).resolve().parent / "model.h5"
# scikit-image's rgb2gray weights 0.2125, 0.7154, 0.0721 as 44, 148, 15 (/ 207, each within
# 0.0004): whole numbers whose sums fit uint16, half the bytes of float32 to multiply and add
GRAY = np.array([44, 148, 15], np.uint16)


class UsageError(Exception):
    """Bad input from the user: one line on stderr, exit 1, nothing written."""


# ---------------------------------------------------------------- preprocessing


@cache
def resize_matrix(size: int) -> np.ndarray:
    """scikit-image's resize from `size` to 80 pixels along one axis, as a (80, size) matrix.

    resize (anti-aliasing blur, then linear interpolation) is linear and works axis by axis,
    so resizing the identity matrix gives the matrix that does it in one product.
    """
    return resize(np.eye(size, dtype=np.float32), (IMG_ROWS, size)).astype(np.float32)


@cache
def row_band(height: int) -> tuple[np.ndarray, int, int]:
    """The block of resize_matrix(height) that repeats down its diagonal; zeros elsewhere.

    512 rows go to 80, so each 32 input rows make 5 output rows, and blur and interpolation
    are local: output rows 5b..5b+4 read only the 50 input rows from 32b - 9, always with the
    same (5, 50) weights. Returns those weights, the step (32) and the offset (-9).
    """
    matrix = resize_matrix(height)
    group, step = IMG_ROWS // np.gcd(IMG_ROWS, height), height // np.gcd(IMG_ROWS, height)
    inner = range(group, IMG_ROWS - group)  # the first and last 5 read a mirrored edge
    offset = min(np.flatnonzero(matrix[i])[0] - step * (i // group) for i in inner)
    end = max(np.flatnonzero(matrix[i])[-1] - step * (i // group) for i in inner) + 1
    return matrix[group:2 * group, step + offset:step + end], step, offset


def resize_rows(gray: np.ndarray) -> np.ndarray:
    """resize_matrix(height) @ gray for a (height, width) image, without the zeros' work."""
    matrix, (block, step, offset) = resize_matrix(len(gray)), row_band(len(gray))
    (group, band), groups = block.shape, IMG_ROWS // block.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(gray[step + offset:], band, axis=0)
    windows = windows[::step][:groups - 2].transpose(0, 2, 1)  # (14, 50, width)
    rows = np.empty((IMG_ROWS, gray.shape[1]), np.float32)
    rows[group:-group] = (block @ windows).reshape(-1, gray.shape[1])
    top, bottom = offset + band, step * (groups - 1) + offset  # the edge groups' bands, mirrored
    rows[:group] = matrix[:group, :top] @ gray[:top]
    rows[-group:] = matrix[-group:, bottom:] @ gray[bottom:]
    return rows


def preprocess_bytes(image: np.ndarray) -> np.ndarray:
    """The original's preprocessing up to 0..255: uint8 (288, 512, 3) -> uint8 (80, 80).

    rgb2gray, resize((80, 80)) and rescale_intensity(out_range=(0, 255)), as numpy products:
    twelve times faster than scikit-image, and within 0.6/255 of it.
    """
    rows = image.transpose(1, 0, 2)  # [y, x]: the game's pixels in memory order, fast to read
    gray = rows[..., 0] * GRAY[0] + rows[..., 1] * GRAY[1] + rows[..., 2] * GRAY[2]
    small = resize_matrix(image.shape[0]) @ resize_rows(gray.astype(np.float32)).T  # [x, y]
    low, high = small.min(), small.max()
    scale = 255 / (high - low) if high > low else 0
    return ((small - low) * scale + 0.5).astype(np.uint8)


def preprocess(image: np.ndarray) -> np.ndarray:
    """A game frame as the network sees it: float32 (80, 80) in [0, 1]."""
    return preprocess_bytes(image) / np.float32(255)


def stack_frames(frames: tuple) -> np.ndarray:
    """Four (80, 80) frames, newest first, as one network input (80, 80, 4)."""
    return np.stack(frames, axis=-1)


# ---------------------------------------------------------------- the network


class Adam(keras.optimizers.Adam):
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


def buildmodel() -> keras.Model:
    """The original's CNN: three convolutions and two dense layers, Q-value per action."""
    model = keras.Sequential([
        keras.Input((IMG_ROWS, IMG_COLS, IMG_CHANNELS)),
        keras.layers.Conv2D(32, 8, strides=4, padding="same", activation="relu"),  # 20x20x32
        keras.layers.Conv2D(64, 4, strides=2, padding="same", activation="relu"),  # 10x10x64
        keras.layers.Conv2D(64, 3, strides=1, padding="same", activation="relu"),  # 10x10x64
        keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(ACTIONS),
    ])
    # Huber loss: squared for small errors, linear for large ones, so no outlier jolts it
    model.compile(optimizer=Adam(LEARNING_RATE), loss=keras.losses.Huber())
    return model


def save_weights(model: keras.Model, path: Path) -> None:
    """Write the weights only, in Keras's H5 layout."""
    with written_whole(path) as temporary, h5py.File(temporary, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            names = [weight.path.encode() for weight in layer.weights]
            group = f.create_group(layer.name)
            group.attrs["weight_names"] = names
            for name, weight in zip(names, layer.weights):
                group[name] = weight.numpy()


def load_model(path: Path) -> keras.Model:
    """buildmodel() with the weights read from `path`; a bad file is a UsageError."""
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    model = buildmodel()
    try:
        model.load_weights(path)  # numbers only: nothing in the file is executed
    except Exception as error:
        raise UsageError(f"cannot load weights from {path}: not a model.h5 of this network "
                         f"({str(error).splitlines()[0][:120]})") from None
    return model


def q_function(model: keras.Model):
    """A compiled call: uint8 stacks (n, 80, 80, 4) -> Q-values (n, ACTIONS). No predict()."""
    @tf.function(input_signature=[tf.TensorSpec([None, IMG_ROWS, IMG_COLS, IMG_CHANNELS],
                                                tf.uint8)])
    def q_values(stacks):
        return model(tf.cast(stacks, tf.float32) / 255, training=False)
    return q_values.get_concrete_function()  # the traced graph: no argument checks per call


def saliency_function(model: keras.Model):
    """A compiled call: where the network looks. Four (80, 80) frames -> (80, 80) in [0, 1].

    The gradient of the greedy action's Q-value with respect to the input, times the input:
    how much max Q would change if a pixel went dark, summed over the four frames in size and
    scaled to a maximum of 1. The gradient alone is spread over the empty sky (beside the bird
    as much as on it); times the input, it marks the bird, pipes and ground that count.
    """
    @tf.function(input_signature=[tf.TensorSpec([IMG_ROWS, IMG_COLS, IMG_CHANNELS], tf.uint8)])
    def saliency(stack):
        x = tf.cast(stack, tf.float32)[None] / 255
        with tf.GradientTape() as tape:
            tape.watch(x)
            best_q = tf.reduce_max(model(x, training=False))
        size = tf.reduce_sum(tf.abs(tape.gradient(best_q, x) * x)[0], axis=-1)  # (80, 80)
        return size / tf.maximum(tf.reduce_max(size), 1e-12)
    return lambda frames: saliency(stack_frames(frames)).numpy()


def q_of(q_values, frames: tuple) -> np.ndarray:
    """The Q-values of one stack of four frames: (ACTIONS,)."""
    return q_values(stack_frames(frames)[None]).numpy()[0]  # numpy first: no TF slicing


def choose_action(q_values, frames: tuple, epsilon: float) -> int:
    """Epsilon-greedy: a random action with probability epsilon, else the best Q-value's."""
    if random.random() < epsilon:
        return random.randrange(ACTIONS)
    return int(q_of(q_values, frames).argmax())


def remember(replay_memory: deque, recent: list, frames: tuple, a_t: int, r_t: float,
             x_t1: np.ndarray, terminal: bool, game_over: bool) -> tuple:
    """Store transitions (s_tn, s_t, a_t, R_t, discount) N_STEP frames on; return s_t1's frames.

    `recent` holds the steps not yet stored, each [s_t, a_t, R_t, discount]: R_t sums the
    rewards since s_t, discounted; discount, GAMMA to the power of their count, will weigh
    Q(s_tn), or is 0 after a crash. A step is stored with the stack N_STEP frames on, s_tn, or
    sooner when the game is over (`game_over`: a crash, or the training cap). Each frame is
    stored once, as uint8: the stacks share it.
    """
    s_t1 = (x_t1,) + frames[:3]
    recent.append([frames, a_t, 0.0, 1.0])  # s_t, a_t, R_t, discount
    for step in recent:  # r_t joins each waiting step's return, discounted by its age
        step[2] += step[3] * r_t
        step[3] = 0.0 if terminal else step[3] * GAMMA
    while recent and (len(recent) == N_STEP or game_over):  # the oldest step is due
        replay_memory.append((s_t1, *recent.pop(0)))  # s_t1 is its s_tn
    return s_t1


def one_hot(action: int) -> np.ndarray:
    """The game's input: [1, 0] does nothing, [0, 1] flaps."""
    return np.eye(ACTIONS, dtype=int)[action]


# ---------------------------------------------------------------- learning


def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """From `start` at t = 0 to `end` at t = duration, then `end`."""
    return start + (end - start) * min(max(t / duration, 0.0), 1.0)


def bellman_targets(return_t, discount, q_tn_online, q_tn_target):
    """Double DQN targets over N_STEP steps for a minibatch; numpy arrays or tensors.

    The online network picks the next action, the target network values it: picking and
    valuing with one network overestimates Q (van Hasselt et al., 2016).
    """
    a_tn = keras.ops.argmax(q_tn_online, axis=1)
    q_tn = keras.ops.take_along_axis(q_tn_target, a_tn[:, None], axis=1)[:, 0]
    # y = r_t + GAMMA r_t+1 + GAMMA^2 r_t+2 + GAMMA^3 Q_target(s_t+3, argmax_a Q(s_t+3, a))
    # for N_STEP = 3; a crash ends the sum there, without Q (discount 0)
    return return_t + discount * q_tn


def learning_step(model: keras.Model, target_model: keras.Model):
    """One compiled call that learns from a minibatch: its targets, the loss, Adam's step."""
    optimizer, loss_fn = model.optimizer, model.loss
    optimizer.build(model.trainable_variables)

    def network_input(stacks):  # uint8 (BATCH, 4, 80, 80), newest first -> (BATCH, 80, 80, 4)
        return tf.transpose(tf.cast(stacks, tf.float32) / 255, [0, 2, 3, 1])

    @tf.function
    def train_on_minibatch(s_tn, s_t, a_t, return_t, discount):
        s_tn, s_t = network_input(s_tn), network_input(s_t)
        y = bellman_targets(return_t, discount, model(s_tn), target_model(s_tn))
        with tf.GradientTape() as tape:
            q_t = model(s_t, training=True)
            q_sa = tf.reduce_sum(q_t * tf.one_hot(a_t, ACTIONS), axis=1)  # Q(s_t, a_t)
            loss = loss_fn(y, q_sa)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss, tf.reduce_max(q_t)

    return train_on_minibatch


def sample_minibatch(replay_memory: deque) -> tuple:
    """BATCH random transitions as arrays: s_tn and s_t (BATCH, 4, 80, 80), a_t, R_t, discount."""
    s_tn, s_t, a_t, return_t, discount = zip(*random.sample(replay_memory, BATCH))
    return (np.array(s_tn), np.array(s_t), np.array(a_t, np.int32),
            np.array(return_t, np.float32), np.array(discount, np.float32))


def sync_target(model: keras.Model, target_model: keras.Model) -> None:
    """Copy the network into the target network, which then stays fixed for a while."""
    for target_weight, weight in zip(target_model.weights, model.weights):
        target_weight.assign(weight)


# ---------------------------------------------------------------- playing


def new_game_frames(image: np.ndarray) -> tuple:
    """A new game's stack: its first frame four times."""
    return (preprocess_bytes(image),) * IMG_CHANNELS


def play_game(q_values, game_state, images: list | None = None, classroom=None) -> int:
    """Play the game on to a crash or the window's closing, greedily; return its score.

    With a list `images`, each frame is appended to it and the game stops at RECORD_FRAMES.
    A `classroom` (game/classroom.py) is shown each frame's inputs, Q-values and action.
    """
    frames = new_game_frames(game_state.draw())
    while not (classroom and classroom.closed):
        score = game_state.score  # a crash starts the next game at once: keep this one's
        q_t = q_of(q_values, frames)
        a_t = int(q_t.argmax())
        if classroom:
            classroom.show(game_state, frames, q_t, a_t)
        image, _, terminal = game_state.frame_step(one_hot(a_t))
        if images is not None:
            images.append(image)
            if len(images) >= RECORD_FRAMES:
                break
        if terminal:
            return score
        frames = (preprocess_bytes(image),) + frames[:3]
    return game_state.score


def evaluate(q_values, episodes: int, seed: int, max_score: int, report=None) -> list[int]:
    """Greedy scores of `episodes` seeded games, each to a crash or `max_score` pipes.

    The games are played side by side: one forward pass a frame chooses every game's action,
    so ten games take the time of about five played one after another. `report(game, score)`
    hears of each game as it ends.
    """
    seeds = random.Random(seed)  # each game its own seed: its pipes depend on nothing else
    game_states = [game.GameState(seed=seeds.getrandbits(32)) for _ in range(episodes)]
    # the games not yet over: game index -> its last four frames
    playing = {i: new_game_frames(state.draw()) for i, state in enumerate(game_states)}
    scores = [0] * episodes
    while playing:
        q_t = q_values(np.stack([stack_frames(frames) for frames in playing.values()])).numpy()
        # q_t: (games playing, ACTIONS); a copy of the items, as ended games leave `playing`
        for (i, frames), a_t in zip(list(playing.items()), q_t.argmax(axis=1)):
            game_state = game_states[i]
            score = game_state.score  # a crash starts the next game at once: keep this one's
            image, _, terminal = game_state.frame_step(one_hot(a_t))
            if terminal or game_state.score >= max_score:
                scores[i] = score if terminal else game_state.score
                del playing[i]
                if report:
                    report(i + 1, scores[i])
            else:
                playing[i] = (preprocess_bytes(image),) + frames[:3]
    return scores


def summarize(scores: list[int]) -> dict:
    """The numbers an evaluation is judged by."""
    return {"episodes": len(scores), "scores": scores, "median": statistics.median(scores),
            "mean": round(statistics.fmean(scores), 2), "min": min(scores), "max": max(scores)}


def beats(result: dict, best: list | None) -> bool:
    """Whether an evaluation beats the best so far, [median, mean]: the mean decides.

    Not the median: at the cap, 6 games of 10 at 200 make a median of 200 as 10 of 10 do, and
    a model kept for such a median scored 76.5 on 10 other games (seed 25).
    """
    return best is None or result["mean"] > best[1]


# ---------------------------------------------------------------- training


def checkpoint_paths(model_path: Path) -> tuple[Path, Path]:
    """Beside the best model: the latest weights and the schedule position, for --resume."""
    return model_path.with_suffix(".latest.h5"), model_path.with_suffix(".train.json")


def epsilon_at(t: int, observe: int) -> float:
    """Random play while observing, then INITIAL_EPSILON annealed to FINAL over EXPLORE."""
    if t < observe:
        return 1.0
    return linear_schedule(INITIAL_EPSILON, FINAL_EPSILON, EXPLORE, t - observe)


def learning_rate_at(t: int, observe: int, steps: int) -> float:
    """LEARNING_RATE while epsilon anneals, then falling linearly to FINAL at the last frame."""
    explored = observe + EXPLORE
    return linear_schedule(LEARNING_RATE, FINAL_LEARNING_RATE, max(steps - explored, 1),
                           t - explored)


def train(model_path: Path, steps: int | None, seed: int, resume: bool, observe: int,
          eval_games: tuple[int, int] | None = None) -> None:
    """Learn to play: observe, explore, train; keep the best greedy model in `model_path`.

    `eval_games` is (episodes, max_score) of each evaluation, EVAL_EPISODES and EVAL_MAX_SCORE
    unless given; a longer run can judge its models on longer games.
    """
    latest_path, progress_path = checkpoint_paths(model_path)
    model, target_model = buildmodel(), buildmodel()
    if resume:
        if not progress_path.is_file():
            raise UsageError(f"nothing to resume: {progress_path} not found")
        try:
            progress = json.loads(progress_path.read_text())
            print(f"Train: resuming {progress['run']} at frame {progress['frame']}")
            seed = progress["seed"]
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"cannot resume: {progress_path} is not a Train checkpoint") from None
        model.set_weights(load_model(latest_path).get_weights())
    else:
        model_path.parent.mkdir(parents=True, exist_ok=True)
        progress = {"run": f"{GAME}-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}", "frame": 0,
                    "updates": 0, "best": None, "minutes": 0.0, "seed": seed}
        if model_path.exists():
            backup = model_path.with_name(model_path.name + ".bak")
            os.replace(model_path, backup)
            print(f"Train: moved the existing {model_path.name} to {backup.name}")
    steps = steps or progress.get("steps", TOTAL_FRAMES)
    judged_by = list(progress.get("eval", (EVAL_EPISODES, EVAL_MAX_SCORE)))
    eval_games = list(eval_games or judged_by)
    if progress["best"] is not None and eval_games != judged_by:
        print(f"Train: evaluations change to {eval_games[0]} games to {eval_games[1]} pipes: "
              f"the best so far is judged anew")
        progress["best"] = None
    progress.update(steps=steps, observe=observe, eval=eval_games)
    keras.utils.set_random_seed(seed + progress["frame"])  # python, numpy and TensorFlow
    sync_target(model, target_model)
    q_values = q_function(model)
    train_on_minibatch = learning_step(model, target_model)

    run_dir = model_path.parent / "runs" / progress["run"]
    run_dir.mkdir(parents=True, exist_ok=True)
    summary_writer = tf.summary.create_file_writer(str(run_dir))
    games_file, games_csv = open_csv(run_dir / "games.csv", ["frame", "minutes", "score"])
    evals_file, evals_csv = open_csv(run_dir / "evals.csv",
                                     ["frame", "minutes", "median", "mean", "scores"])

    def save_checkpoint():
        save_weights(model, latest_path)
        if not model_path.exists():  # no evaluation yet: the latest is the best there is
            save_weights(model, model_path)
        progress["minutes"] = round(minutes(), 2)
        with written_whole(progress_path) as temporary:
            temporary.write_text(json.dumps(progress, indent=1))

    def evaluate_and_keep_best():
        episodes, max_score = eval_games
        scores = evaluate(q_values, episodes, EVAL_SEED, max_score)
        result = summarize(scores)
        evals_csv.writerow([t, f"{minutes():.2f}", result["median"], result["mean"],
                            " ".join(map(str, scores))])
        better = beats(result, progress["best"])
        if better:
            progress["best"] = [result["median"], result["mean"]]
            save_weights(model, model_path)
        with summary_writer.as_default(step=t):
            tf.summary.scalar("eval/median", result["median"])
        print(f"eval    frame {t:>8}  scores {' '.join(map(str, scores))}  median "
              f"{result['median']}  mean {result['mean']}  best mean {progress['best'][1]}"
              + (f"  -> saved {model_path.name}" if better else ""), flush=True)

    start, minutes_before = time.perf_counter(), progress["minutes"]

    def minutes():
        return minutes_before + (time.perf_counter() - start) / 60

    replay_memory, recent = deque(maxlen=REPLAY_MEMORY), []
    game_state = game.GameState(seed=seed + progress["frame"])
    frames = new_game_frames(game_state.draw())
    t, updates = progress["frame"], progress["updates"]
    recent_scores, loss, max_q = deque(maxlen=5), 0.0, 0.0
    interval_start, interval_frames = time.perf_counter(), 0
    print(f"Train: {steps} frames, seed {seed}, model {model_path}, logs in {run_dir}")
    try:
        while t < steps:
            # act: epsilon-greedy on the current stack s_t, every FRAME_PER_ACTION frames
            epsilon = epsilon_at(t, observe)
            a_t = DO_NOTHING
            if t % FRAME_PER_ACTION == 0:
                a_t = choose_action(q_values, frames, epsilon)
            score = game_state.score  # a crash starts the next game at once: keep this one's
            image, r_t, terminal = game_state.frame_step(one_hot(a_t))
            x_t1 = preprocess_bytes(image)

            # store the transition(s) due; s_t1 becomes the current stack (the easy step to forget)
            capped = game_state.score >= TRAIN_SCORE_CAP
            game_over = terminal or capped
            frames = remember(replay_memory, recent, frames, a_t, r_t, x_t1, terminal, game_over)
            t += 1
            interval_frames += 1
            if game_over:
                score = game_state.score if capped else score
                recent_scores.append(score)
                games_csv.writerow([t, f"{minutes():.2f}", score])
                print(f"game    frame {t:>8}  score {score}", flush=True)
                if capped:  # not a crash: the transition keeps its bootstrapped target
                    game_state.reset()
                frames = new_game_frames(image if terminal else game_state.draw())

            # learn from a random minibatch of remembered transitions
            learning = len(replay_memory) >= observe
            if learning and t % TRAIN_EVERY == 0:
                model.optimizer.learning_rate = learning_rate_at(t, observe, steps)
                loss, max_q = train_on_minibatch(*sample_minibatch(replay_memory))
                updates += 1
                if updates % TARGET_SYNC == 0:
                    sync_target(model, target_model)

            # save, evaluate, log
            progress.update(frame=t, updates=updates)
            if t % SAVE_EVERY == 0:
                save_checkpoint()
            if learning and t % EVAL_EVERY == 0:
                evaluate_and_keep_best()
            if t % LOG_EVERY == 0:
                fps = interval_frames / (time.perf_counter() - interval_start)
                interval_start, interval_frames = time.perf_counter(), 0
                phase = ("observe" if not learning else
                         "explore" if t < observe + EXPLORE else "train")
                eta = time.strftime("%H:%M:%S", time.gmtime((steps - t) / fps))
                print(f"{phase:<8}frame {t:>8}  epsilon {epsilon:.4f}  last scores "
                      f"{' '.join(map(str, recent_scores)) or '-'}  loss {float(loss):.4f}  "
                      f"max Q {float(max_q):.2f}  {fps:.0f} frames/s  ETA {eta}", flush=True)
                with summary_writer.as_default(step=t):
                    tf.summary.scalar("train/loss", float(loss))
                    tf.summary.scalar("train/max_q", float(max_q))
                    tf.summary.scalar("train/epsilon", epsilon)
                    tf.summary.scalar("train/frames_per_second", fps)
        if t % EVAL_EVERY != 0 and len(replay_memory) >= observe:
            evaluate_and_keep_best()
    except KeyboardInterrupt:
        print(f"Train: interrupted at frame {t}; saving")
    finally:
        save_checkpoint()
        games_file.close()
        evals_file.close()
    print(f"Train: done at frame {t} in {minutes():.1f} minutes; best model in {model_path}, "
          f"latest in {latest_path.name}")


def open_csv(path: Path, header: list[str]):
    """A file and CSV writer appending to `path`, a header first if new; rows land at once."""
    new = not path.exists()
    file = open(path, "a", newline="", buffering=1)  # line-buffered
    writer = csv.writer(file)
    if new:
        writer.writerow(header)
    return file, writer


# ---------------------------------------------------------------- watching and scoring


def run(model: keras.Model, episodes: int | None, record: Path | None, seed: int | None) -> None:
    """Watch the network play greedily in the classroom window (headless where none exists)."""
    try:
        classroom = Classroom(saliency_function(model))
    except game.NoDisplay:
        print("Run: no display here, so the games are played headless")
        classroom = None
    game_state = game.GameState(seed=seed)
    q_values = q_function(model)
    images = [] if record else None
    episode = 0
    try:
        while (episodes is None or episode < episodes) and not (classroom and classroom.closed):
            score = play_game(q_values, game_state, images, classroom)
            episode += 1
            print(f"game {episode}: score {score}", flush=True)
            if images is not None and len(images) >= RECORD_FRAMES:
                break  # the recording is full
    finally:
        if record and images:
            save_gif(images, record)


def save_gif(images: list, path: Path) -> None:
    """An animated GIF of game frames: every second one at half size, so 15 frames a second."""
    from PIL import Image  # Pillow comes with scikit-image; only recording needs it

    pictures = [Image.fromarray(np.ascontiguousarray(image[::2, ::2].transpose(1, 0, 2)))
                for image in images[::2]]
    with written_whole(path) as temporary:
        pictures[0].save(temporary, format="GIF", save_all=True, append_images=pictures[1:],
                         duration=1000 * 2 // game.FPS, loop=0)
    print(f"Run: wrote {path} ({len(pictures)} frames)")


def save_saliency(model: keras.Model, seed: int, frame: int, out: Path) -> None:
    """Play the seeded game greedily to `frame`, then draw that frame as Run's window does with
    the saliency layer on, into a PNG. Headless."""
    game_state, q_values = game.GameState(seed=seed), q_function(model)
    frames = new_game_frames(game_state.draw())
    for _ in range(frame):
        image, _, terminal = game_state.frame_step(one_hot(choose_action(q_values, frames, 0)))
        frames = new_game_frames(image) if terminal else (preprocess_bytes(image),) + frames[:3]
    picture = Classroom(saliency_function(model), headless=True)
    picture.saliency = True
    q_t = q_of(q_values, frames)
    picture.draw(game_state, frames, q_t, int(q_t.argmax()))
    with written_whole(out) as temporary:
        picture.save(temporary)
    print(f"Run: wrote {out}: frame {frame} of the game with seed {seed}, saliency in red")


def evaluate_mode(model: keras.Model, episodes: int, seed: int, max_score: int) -> None:
    """Score greedy games headless and uncapped in speed; the last line is JSON."""
    scores = evaluate(q_function(model), episodes, seed, max_score,
                      report=lambda episode, score: print(f"game {episode}: score {score}",
                                                          flush=True))
    print(json.dumps(summarize(scores)))


def plot(runs: Path, run_dir: Path | None, out: Path | None) -> None:
    """Draw a training run's learning curve (the newest in `runs` by default) into a PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("Plot needs matplotlib: pip install matplotlib") from None
    newest = sorted(runs.glob("*/games.csv"))
    run_dir = run_dir or (newest[-1].parent if newest else runs)
    if not (run_dir / "games.csv").is_file():
        raise UsageError(f"no training run to plot: {run_dir} has no games.csv")
    out = out or run_dir / "learning_curve.png"
    games = read_csv(run_dir / "games.csv")
    evals = read_csv(run_dir / "evals.csv")
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
    figure.savefig(out)
    print(f"Plot: wrote {out}")


def read_csv(path: Path) -> dict:
    """A CSV file's numeric columns as numpy arrays, by name."""
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    return {key: np.array([float(row[key]) for row in rows])
            for key in reader.fieldnames if key != "scores"}


# ---------------------------------------------------------------- command line


MODES = ("Train", "Run", "Eval", "Play", "Plot")


class Parser(argparse.ArgumentParser):
    def error(self, message):
        """A usage error is one line naming the modes, and exit 2."""
        self.exit(2, f"qlearn.py: {message} (modes: {', '.join(MODES)}; see -h)\n")


def mode_name(text: str) -> str:
    """A mode in any case: 'train', 'TRAIN' -> 'Train'."""
    for mode in MODES:
        if text.lower() == mode.lower():
            return mode
    raise argparse.ArgumentTypeError(f"unknown mode {text!r}")


def positive(value: int | None, flag: str) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{flag} must be a positive number, not {value}")


def configure_tensorflow() -> None:
    """Let TensorFlow place the work itself; say once which device it uses."""
    # Two ops at a time (the learning step's three forward passes are independent), each on
    # half the cores: TensorFlow's default pools spin on every core and starve the game's
    # Python thread (on 2 cores: 85 instead of 75 frames a second when both are busy).
    tf.config.threading.set_inter_op_parallelism_threads(2)
    tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 2) // 2))
    with quiet_stderr():
        gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)  # the original's allow_growth
    print(f"TensorFlow {tf.__version__} runs on {'GPU: ' + gpus[0].name if gpus else 'CPU'}")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description="Deep Q-learning for FlappyBird.")
    parser.add_argument("-m", "--mode", type=mode_name, required=True,
                        help=f"{', '.join(MODES)} (any case)")
    parser.add_argument("--model", type=Path, default=MODEL_PATH,
                        help="weights file (default: model.h5 beside qlearn.py)")
    parser.add_argument("--steps", type=int, help=f"Train: frames in all (default {TOTAL_FRAMES})")
    parser.add_argument("--observe", type=int, default=OBSERVATION,
                        help=f"Train: frames of random play first (default {OBSERVATION})")
    parser.add_argument("--resume", action="store_true",
                        help="Train: go on from the latest checkpoint beside --model")
    parser.add_argument("--seed", type=int, help="Train, Eval (default 0), Run, Play: the seed")
    parser.add_argument("--episodes", type=int,
                        help="Run: games to play (default: until closed); Eval: default 10; "
                             f"Train: games per evaluation (default {EVAL_EPISODES})")
    parser.add_argument("--max-score", type=int,
                        help="Eval: a game ends at this many pipes (default 1000); "
                             f"Train: the same in evaluations (default {EVAL_MAX_SCORE})")
    parser.add_argument("--record", type=Path, help="Run: also write the games to a GIF file")
    parser.add_argument("--run", type=Path,
                        help="Plot: the run folder (default: the newest in runs/ beside --model)")
    parser.add_argument("--saliency-at", type=int, metavar="FRAME",
                        help="Run: write FRAME of the game with its saliency to --out, headless")
    parser.add_argument("--out", type=Path,
                        help="Plot, Run --saliency-at: the PNG to write (Run: saliency.png)")
    args = parser.parse_args(argv)
    try:
        for flag in ("steps", "episodes", "max_score", "saliency_at"):
            positive(getattr(args, flag), "--" + flag.replace("_", "-"))
        if not BATCH <= args.observe <= REPLAY_MEMORY:
            raise UsageError(f"--observe must be from the batch size {BATCH} to the replay "
                             f"memory's {REPLAY_MEMORY}, not {args.observe}")
        if args.mode == "Plot":
            plot(args.model.parent / "runs", args.run, args.out)
            return 0
        if args.mode == "Play":
            Play(args.seed).run()
            return 0
        configure_tensorflow()
        if args.mode == "Train":
            eval_games = None
            if args.episodes or args.max_score:
                eval_games = (args.episodes or EVAL_EPISODES, args.max_score or EVAL_MAX_SCORE)
            train(args.model, args.steps, args.seed or 0, args.resume, args.observe, eval_games)
        elif args.mode == "Run" and args.saliency_at is not None:
            save_saliency(load_model(args.model), args.seed or 0, args.saliency_at,
                          args.out or Path("saliency.png"))
        elif args.mode == "Run":
            run(load_model(args.model), args.episodes, args.record, args.seed)
        else:
            evaluate_mode(load_model(args.model), args.episodes or 10, args.seed or 0,
                          args.max_score or 1000)
    except (UsageError, OSError, game.NoDisplay) as error:
        print(f"qlearn.py: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
