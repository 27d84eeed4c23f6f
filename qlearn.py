"""A Deep Q-Network learns FlappyBird from raw pixels: Keras-FlappyBird (2016) on today's Keras.

    python qlearn.py -m Train     # learn from scratch: 5 to 11 minutes on 2 CPU cores
    python qlearn.py -m Run       # watch model.h5 play, what it sees and thinks beside it

Read it top to bottom next to the blog post: the hyperparameters, image preprocessing, the
network, the Bellman targets, experience replay, epsilon-greedy, then the training loop and Run.
Beyond the original: the 2015 Nature paper's target network and Huber loss, then Double DQN,
three-step returns, random shifts of replayed images (DrQ), and the network's Polyak average.
The rest (speed, files, evaluation, logs, window, command line, Eval, Plot): harness/; Play: game/.
"""

import random  # noqa: I001  (harness is imported before keras and numpy, on purpose)
import sys
from collections import deque

# harness first: it loads TensorFlow without its start-up log, and keeps numpy to one thread
from harness import bookkeeping, classroom, cli, evaluation, files, speed

import keras
import numpy as np
import tensorflow as tf

from game import wrapped_flappy_bird as game

ACTIONS = 2  # number of valid actions: do nothing, flap
GAMMA = 0.99  # decay rate of future rewards
OBSERVATION = 5_000  # frames of random play filling the replay memory first (original 3,200)
EXPLORE = 20_000  # frames over which epsilon anneals (original 3,000,000: days on a CPU)
INITIAL_EPSILON = 0.01  # chance of a random action once learning starts (original 0.1)
FINAL_EPSILON = 0.0001  # chance of a random action after EXPLORE frames
REPLAY_MEMORY = 30_000  # transitions remembered: about 200 MB, frames shared (original 50,000)
BATCH = 32  # transitions per learning update
FRAME_PER_ACTION = 1  # frames per action choice in training: every frame, as in play (original 1)
OBSERVE_FRAME_PER_ACTION = 2  # ... in the random play while observing, 'do nothing' between (ours)
LEARNING_RATE = 5e-4  # Adam's step size while epsilon anneals (original 1e-4) ...
FINAL_LEARNING_RATE = 2.5e-5  # ... falling to this by the last frame: keeps a good policy
TRAIN_EVERY = 4  # frames per learning update (original 1): each frame is replayed ~8 times
TARGET_SYNC = 25  # learning updates between copies of the network into the target network
POLYAK = 0.95  # share of the average network kept at each sync: the last ~20 syncs' mean
N_STEP = 3  # frames of rewards summed in a target before Q's estimate (original 1; not --steps)
SHIFT = 4  # pixels by which a replayed image may move at random (original 0: no augmentation)
TRAIN_SCORE_CAP = 50  # pipes at which a training game stops, so game starts stay in memory
TOTAL_FRAMES = 50_000  # frames in a Train run
IMG_ROWS, IMG_COLS = 80, 80  # the network sees 80 x 80 gray images, [x, y]: rows run along x
IMG_CHANNELS = 4  # ... the last four frames' images, stacked, newest first

# ---------------------------------------------------------------- image preprocessing


def preprocess(image: np.ndarray) -> np.ndarray:
    """The blog's three steps on the game's image: uint8 (288, 512, 3) -> uint8 (80, 80), [x, y]
    as pygame draws, bytes for the replay memory; speed.py's scikit-image calls, within 0.6/255."""
    x_t = speed.grayscale(image)  # skimage.color.rgb2gray(image)
    x_t = speed.resize(x_t, (IMG_ROWS, IMG_COLS))  # skimage.transform.resize(x_t, (80, 80))
    return speed.rescale_intensity(x_t, 0, 255)  # exposure.rescale_intensity(out_range=...)


def next_state(image: np.ndarray, s_t: tuple | None = None) -> tuple:
    """The state after a frame: its image in front of the last three of s_t, newest first, shared
    with the states before and after it; a new game's state (no s_t) is its first image 4 times."""
    x_t1 = preprocess(image)
    return (x_t1,) * IMG_CHANNELS if s_t is None else (x_t1,) + s_t[:IMG_CHANNELS - 1]


def network_input(states) -> np.ndarray:
    """States -> the network's input layout: uint8 (n, 80, 80, 4), images on the last axis."""
    return np.stack([np.stack(s_t, axis=-1) for s_t in states])

# ---------------------------------------------------------------- the network


def buildmodel() -> keras.Model:
    """The original's CNN: three convolutions and two dense layers, a Q-value per action.
    Its input: preprocess()'s images as they are, four stacked newest first on the last axis."""
    model = keras.Sequential([
        keras.Input((IMG_ROWS, IMG_COLS, IMG_CHANNELS)),  # 0..255, as preprocess() gives them
        # to 0..1, here alone (the original's last commit, "normalize"); no weights to load
        keras.layers.Lambda(lambda x: keras.ops.cast(x, "float32") / 255, name="divide_by_255"),
        keras.layers.Conv2D(32, 8, strides=4, padding="same", activation="relu"),  # 20x20x32
        keras.layers.Conv2D(64, 4, strides=2, padding="same", activation="relu"),  # 10x10x64
        keras.layers.Conv2D(64, 3, strides=1, padding="same", activation="relu"),  # 10x10x64
        keras.layers.Flatten(),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(ACTIONS),
    ])
    # Huber loss: squared for small errors, linear for large ones, so no outlier jolts it.
    # FusedAdam is Keras's Adam, its step in one TensorFlow kernel: within a rounding, faster.
    model.compile(optimizer=speed.FusedAdam(LEARNING_RATE), loss=keras.losses.Huber())
    return model


def load_model(path) -> keras.Model:
    """buildmodel() with the weights of a saved model (numbers only: nothing is executed)."""
    return files.load_weights(buildmodel(), path)


def q_function(model: keras.Model):
    """Q-values of states, (n, ACTIONS), by one compiled call: model.predict's work, faster."""
    spec = tf.TensorSpec([None, IMG_ROWS, IMG_COLS, IMG_CHANNELS], tf.uint8)
    q_graph = tf.function(lambda stacks: model(stacks, training=False),
                          input_signature=[spec]).get_concrete_function()
    return lambda states: q_graph(network_input(states)).numpy()

# ---------------------------------------------------------------- Q-learning: the Bellman targets


def bellman_targets(return_t, discount, q_tn_online, q_tn_target):
    """What Q(s_t, a_t) should be, for a minibatch of transitions; numpy arrays or tensors.
    N-step targets: a transition holds up to N_STEP frames of rewards, so Q learns N_STEP frames
    further per target sync. Double DQN: the online network picks the next action, the target
    network (a copy, synced now and then) values it: one doing both overrates Q."""
    a_tn = keras.ops.argmax(q_tn_online, axis=1)
    q_tn = keras.ops.take_along_axis(q_tn_target, a_tn[:, None], axis=1)[:, 0]
    # Bellman, the blog's y = r_t + GAMMA max_a Q(s_t1, a), over N_STEP frames (discount 0 after
    # a crash): y = r_t + GAMMA r_t+1 + ... + GAMMA^N_STEP q_tn = R_t + discount * q_tn
    return return_t + discount * q_tn


def learning_step(model: keras.Model, target_model: keras.Model):
    """One compiled call that learns from a minibatch: targets (outside the tape), loss, Adam."""
    model.optimizer.build(model.trainable_variables)

    @tf.function
    def train_on_minibatch(s_t, a_t, return_t, s_tn, discount):
        y = bellman_targets(return_t, discount, model(s_tn), target_model(s_tn))
        with tf.GradientTape() as tape:
            q_t = model(s_t, training=True)
            q_sa = tf.reduce_sum(q_t * tf.one_hot(a_t, ACTIONS), axis=1)  # Q(s_t, a_t)
            loss = model.loss(y, q_sa)
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss, tf.reduce_max(q_t)

    return train_on_minibatch


# ---------------------------------------------------------------- experience replay


def n_step_transition(transitions) -> tuple:
    """Up to N_STEP transitions in a row, each (s_t, a_t, r_t, s_t1, terminal), as one from the
    first: (s_t, a_t, R_t, s_tn, discount), R_t their rewards discounted, discount GAMMA^n or 0."""
    s_t, a_t = transitions[0][:2]
    return_t = sum(GAMMA ** k * r_t for k, (_, _, r_t, _, _) in enumerate(transitions))
    _, _, _, s_tn, terminal = transitions[-1]
    return s_t, a_t, return_t, s_tn, 0.0 if terminal else GAMMA ** len(transitions)


def remember(replay_memory: deque, recent: deque, transition: tuple, game_over: bool) -> None:
    """Queue a frame's transition (s_t, a_t, r_t, s_t1, terminal); N_STEP frames later, its
    rewards known, store it as (s_t, a_t, R_t, s_tn, discount); at a game's end, all that wait."""
    recent.append(transition)
    while len(recent) == N_STEP or (game_over and recent):
        replay_memory.append(n_step_transition(recent))
        recent.popleft()


def random_shift(stacks: np.ndarray) -> np.ndarray:
    """DrQ's augmentation: each stack moved at random by up to SHIFT pixels, its edges repeated."""
    padded = np.pad(stacks, ((0, 0), (SHIFT, SHIFT), (SHIFT, SHIFT), (0, 0)), mode="edge")
    x, y = np.random.randint(0, 2 * SHIFT + 1, (2, len(stacks)))
    return np.stack([image[i:i + IMG_ROWS, j:j + IMG_COLS] for image, i, j in zip(padded, x, y)])


def sample_minibatch(replay_memory: deque) -> tuple:
    """BATCH random transitions, shifted: s_t (BATCH, 80, 80, 4), a_t, R_t, s_tn, discount."""
    s_t, a_t, return_t, s_tn, discount = zip(*random.sample(replay_memory, BATCH))
    return (random_shift(network_input(s_t)), np.array(a_t, np.int32),
            np.array(return_t, np.float32), random_shift(network_input(s_tn)),
            np.array(discount, np.float32))

# ---------------------------------------------------------------- exploration vs. exploitation


def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """From `start` at t = 0 to `end` at t = duration, then `end`."""
    return start + (end - start) * min(max(t / duration, 0.0), 1.0)


def epsilon_at(t: int, observe: int) -> float:
    """Random play while observing, then from INITIAL_EPSILON to FINAL_EPSILON over EXPLORE."""
    if t < observe:
        return 1.0
    return linear_schedule(INITIAL_EPSILON, FINAL_EPSILON, EXPLORE, t - observe)


def learning_rate_at(t: int, observe: int, steps: int) -> float:
    """LEARNING_RATE while epsilon anneals, then down to FINAL_LEARNING_RATE at the last frame."""
    return linear_schedule(LEARNING_RATE, FINAL_LEARNING_RATE, max(steps - observe - EXPLORE, 1),
                           t - observe - EXPLORE)


def choose_action(q_of, s_t: tuple, epsilon: float) -> int:
    """Epsilon-greedy: a random action with probability epsilon, else the best Q-value's."""
    if random.random() < epsilon:
        return random.randrange(ACTIONS)
    return int(q_of([s_t])[0].argmax())


def one_hot(a_t: int) -> np.ndarray:
    """The game's input: [1, 0] does nothing, [0, 1] flaps."""
    return np.eye(ACTIONS, dtype=int)[a_t]

# ---------------------------------------------------------------- the training loop


def train(args) -> None:
    """Learn to play: observe, explore, train; keep the best average network in args.model."""
    keras.utils.set_random_seed(args.seed)  # one seed, one run: the first weights, and
    tf.config.experimental.enable_op_determinism()  # TensorFlow's ops done in one order
    model, target_model, average_model = buildmodel(), buildmodel(), buildmodel()
    q_of, train_on_minibatch = q_function(model), learning_step(model, target_model)
    books = bookkeeping.Bookkeeping(args, model, average_model, q_function(average_model),
                                    next_state, EXPLORE)  # or resumes
    # the run's frame count, its length (TOTAL_FRAMES or --steps) and OBSERVATION (or --observe)
    t, updates, observe, steps = books.frame, books.updates, books.observe, books.steps
    keras.utils.set_random_seed((books.seed + t) % 2**32)  # python, numpy and TensorFlow
    target_model.set_weights(model.get_weights())  # the target network: a copy, for now
    average_model.set_weights(model.get_weights())  # the one evaluated and kept: its average
    replay_memory, recent = deque(maxlen=REPLAY_MEMORY), deque()
    game_state = game.GameState(seed=books.seed + t)
    s_t, loss, max_q = next_state(game_state.draw()), 0.0, 0.0
    with books:  # however the loop ends (its last frame, a signal, an error): a checkpoint
        while t < steps and not books.learned:  # to the last frame, or until the bird has learned
            # act: epsilon-greedy on the state s_t every FRAME_PER_ACTION frames, else do nothing
            epsilon = epsilon_at(t, observe)  # 1 while observing: random play
            every = FRAME_PER_ACTION if t >= observe else OBSERVE_FRAME_PER_ACTION
            a_t = choose_action(q_of, s_t, epsilon) if t % every == 0 else 0

            # step the game (a crash starts the next game at once, its score kept)
            image, r_t, terminal = game_state.frame_step(one_hot(a_t))
            capped = game_state.score >= TRAIN_SCORE_CAP  # no crash: Q(s_t1) still counts

            # preprocess, store, and move on: s_t1 is the next s_t (the step easy to forget)
            s_t1 = next_state(image, s_t)
            remember(replay_memory, recent, (s_t, a_t, r_t, s_t1, terminal), terminal or capped)
            s_t, t = s_t1, t + 1
            if terminal or capped:  # a new game: its first frame four times
                if capped:  # ended as a crash ends it: its score kept, the next game drawn
                    game_state.reset()
                    image = game_state.draw()
                books.game_over(t, game_state.final_score)
                s_t = next_state(image)

            # learn from a random minibatch, every TRAIN_EVERY frames once the memory is full enough
            learning = len(replay_memory) >= observe
            if learning and t % TRAIN_EVERY == 0:
                model.optimizer.learning_rate = learning_rate_at(t, observe, steps)
                loss, max_q = train_on_minibatch(*sample_minibatch(replay_memory))
                updates += 1
                if updates % TARGET_SYNC == 0:  # the target network: a fresh copy, fixed again
                    target_model.set_weights(model.get_weights())
                    # the average network: 1 - POLYAK of the way to the network (Polyak averaging)
                    pairs = zip(average_model.get_weights(), model.get_weights())
                    average_model.set_weights([POLYAK * a + (1 - POLYAK) * w for a, w in pairs])

            # boring book-keeping: checkpoints, evaluations, the progress bar and the logs
            books.after_frame(t, updates, learning, epsilon, loss, max_q)

# ---------------------------------------------------------------- watching it play


def play_game(q_of, game_state, watch) -> int:
    """One greedy game, to a crash or until `watch` stops it; returns its score."""
    s_t = next_state(game_state.draw())
    while not watch.stopped:
        q_values = q_of([s_t])[0]
        a_t = int(q_values.argmax())
        watch.show(game_state, s_t, q_values, a_t)
        image, _, terminal = game_state.frame_step(one_hot(a_t))
        if terminal:  # the next game has started: the game tells the finished one's score
            return game_state.final_score
        s_t = next_state(image, s_t)
    return game_state.score


def run(args) -> None:
    """Watch the network play greedily: the classroom window beside the game (or headless)."""
    model = load_model(args.model)
    q_of, game_state = q_function(model), game.GameState(seed=args.seed)
    with classroom.Watch(args, model, network_input) as watch:  # at the end, --record's GIF
        while not watch.stopped:
            watch.game_over(play_game(q_of, game_state, watch))


def evaluate(args) -> None:
    """Eval: greedy games side by side, headless, scored (harness/evaluation.py)."""
    evaluation.eval_mode(q_function(load_model(args.model)), next_state, args.episodes,
                         args.seed, args.max_score)


def main(argv: list[str] | None = None) -> int:
    """python qlearn.py -m Train|Run|Eval|Play|Plot [flags], checked by harness/cli.py."""
    return cli.main(argv, {"Train": train, "Run": run, "Eval": evaluate}, steps=TOTAL_FRAMES,
                    observe=OBSERVATION, batch=BATCH, replay_memory=REPLAY_MEMORY)


if __name__ == "__main__":
    sys.exit(main())
