"""qlearn.py, the lesson: preprocessing, the network, the targets, the replay memory, the loop."""

import json
import os
import random
import subprocess
import sys
import tracemalloc
from collections import deque

import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, qlearn_cli

import qlearn
from game import wrapped_flappy_bird as game
from harness import bookkeeping, evaluation, files, speed


def game_frames(count: int, seed: int = 0) -> list:
    """Real frames of a game in which the bird flaps now and then."""
    state = game.GameState(seed=seed)
    return [state.frame_step([0, 1] if i % 9 == 0 else [1, 0])[0] for i in range(count)]


def original_preprocess(image):
    """The original's scikit-image pipeline."""
    from skimage import color, exposure, transform
    x = transform.resize(color.rgb2gray(image), (80, 80))
    return exposure.rescale_intensity(x, out_range=(0, 255)) / 255.0


def test_preprocess_gives_uint8_80_by_80_from_0_to_255():
    x = qlearn.preprocess(game_frames(1)[0])
    assert x.shape == (80, 80) and x.dtype == np.uint8
    assert x.min() == 0 and x.max() == 255


def test_preprocess_stays_close_to_the_original_pipeline():
    for image in game_frames(60)[::6]:
        ours, theirs = qlearn.preprocess(image) / 255, original_preprocess(image)
        # rounding to 0..255 (0.5 / 255) and rgb2gray's weights as whole numbers (0.06 / 255)
        assert np.abs(ours - theirs).max() <= 0.6 / 255
        assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99999


def test_preprocess_keeps_the_x_y_orientation():
    state = game.GameState(seed=0)
    image = state.frame_step([1, 0])[0]
    x = qlearn.preprocess(image) / 255
    bird_x, bird_y = int((57 + 17) * 80 / 288), int((state.playery + 12) * 80 / 512)
    assert x[bird_x, bird_y] > 0.2  # the bird, at [x, y]
    assert x[:, 70:].mean() > 0.3 and x[:, :60].mean() < x[:, 70:].mean()  # ground at high y


def test_next_state_puts_the_new_frame_first_and_shares_the_rest():
    images = game_frames(3)
    s_0 = qlearn.next_state(images[0])
    assert len(s_0) == 4 and all(frame is s_0[0] for frame in s_0)  # a new game: four times
    s_1 = qlearn.next_state(images[2], s_0)
    np.testing.assert_array_equal(s_1[0], qlearn.preprocess(images[2]))
    assert s_1[1:] == s_0[:3]


def test_network_input_puts_the_newest_frame_first_on_the_last_axis():
    s_t = tuple(np.full((80, 80), value, np.uint8) for value in (4, 3, 2, 1))
    stacks = qlearn.network_input([s_t, s_t[::-1]])
    assert stacks.shape == (2, 80, 80, 4) and stacks.dtype == np.uint8
    assert list(stacks[0, 0, 0]) == [4, 3, 2, 1] and list(stacks[1, 5, 7]) == [1, 2, 3, 4]


def test_buildmodel_is_the_originals_network():
    model = qlearn.buildmodel()
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers]
    assert shapes == [(80, 80, 4), (20, 20, 32), (10, 10, 64), (10, 10, 64), (6400,), (512,),
                      (2,)]
    assert model.input_shape == (None, 80, 80, 4)
    assert model.count_params() == 3_356_322  # 8,224 + 32,832 + 36,928 + 3,277,312 + 1,026


def shipped_states(count: int, seed: int = 0) -> list:
    """States of a real game, as next_state() makes them: preprocess()'s frames, newest first."""
    s_t, states = None, []
    for image in game_frames(count, seed):
        s_t = qlearn.next_state(image, s_t)
        states.append(s_t)
    return states


def test_the_shipped_model_loads_into_buildmodel_both_ways():
    ours = qlearn.load_model(qlearn.cli.MODEL_PATH)
    keras_own = qlearn.buildmodel()
    keras_own.load_weights(qlearn.cli.MODEL_PATH)  # Keras's H5 reader: the division has no weights
    for a, b in zip(ours.get_weights(), keras_own.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(ours.get_weights()) == 10 and np.abs(ours.get_weights()[0]).max() > 0.05


def test_the_network_divides_by_255_once_giving_the_numbers_it_did_before():
    import keras
    import tensorflow as tf
    model = qlearn.load_model(qlearn.cli.MODEL_PATH)
    after_division = keras.Sequential(model.layers[1:])  # the same layers, the same weights
    # q_function as it was: the division its own, outside the network
    q_graph = tf.function(lambda stacks: after_division(tf.cast(stacks, tf.float32) / 255,
                                                        training=False))
    states = shipped_states(40)[::4]
    before = q_graph(qlearn.network_input(states)).numpy()
    np.testing.assert_array_equal(qlearn.q_function(model)(states), before)


def test_a_students_own_loop_on_preprocess_frames_plays_as_the_shipped_bird():
    model = qlearn.buildmodel()
    model.load_weights(qlearn.cli.MODEL_PATH)
    q_of = qlearn.q_function(model)
    game_state = game.GameState(seed=2024)
    frames = [qlearn.preprocess(game_state.draw())] * 4  # newest first, as the blog stacks
    while game_state.score < 20:
        q_values = model(np.stack(frames, axis=-1)[None]).numpy()[0]  # as a student would
        np.testing.assert_allclose(q_values, q_of([tuple(frames)])[0], rtol=1e-5, atol=1e-5)
        image, _, terminal = game_state.frame_step(qlearn.one_hot(int(q_values.argmax())))
        assert not terminal, f"crashed at {game_state.final_score}"
        frames = [qlearn.preprocess(image)] + frames[:3]


def test_bellman_targets_on_a_hand_made_minibatch():
    # three steps alive; a pipe then two steps; a crash; one step of a game stopped at the cap
    return_t = np.array([0.1 + 0.099 + 0.0981, 1 + 0.099 + 0.0981, -1.0, 0.1], np.float32)
    discount = np.array([0.99 ** 3, 0.99 ** 3, 0.0, 0.99], np.float32)
    q_tn_online = np.array([[1, 2], [3, 0], [5, 9], [0, 1]], np.float32)  # picks the action
    q_tn_target = np.array([[10, 20], [30, 40], [50, 90], [7, 8]], np.float32)  # values it
    y = np.asarray(qlearn.bellman_targets(return_t, discount, q_tn_online, q_tn_target))
    expected = [0.2971 + 0.99 ** 3 * 20, 1.1971 + 0.99 ** 3 * 30, -1.0, 0.1 + 0.99 * 8]
    np.testing.assert_allclose(y, expected, rtol=1e-5)


def play_into(replay_memory, recent, steps, frames=None) -> tuple:
    """Remember (r_t, terminal, capped) steps of a made-up game; each frame's pixels are its
    number. Returns the states, s_0 first."""
    states = [(frames or np.zeros((80, 80), np.uint8),) * 4]
    for i, (r_t, terminal, capped) in enumerate(steps, start=1):
        s_t1 = (np.full((80, 80), i % 256, np.uint8),) + states[-1][:3]
        qlearn.remember(replay_memory, recent, (states[-1], i % 2, r_t, s_t1, terminal),
                        terminal or capped)
        states.append(s_t1)
    return states


def test_remember_stores_n_step_returns_and_flushes_at_a_crash(monkeypatch):
    monkeypatch.setattr(qlearn, "N_STEP", 3)  # the worked numbers below are three-step returns
    replay_memory, recent = deque(), deque()
    states = play_into(replay_memory, recent, [(0.1, False, False), (0.1, False, False),
                                               (1, False, False), (0.1, False, False),
                                               (-1, True, False)])
    assert not recent and len(replay_memory) == 5
    returns = [transition[2] for transition in replay_memory]
    discounts = [transition[4] for transition in replay_memory]
    np.testing.assert_allclose(returns, [0.1 + 0.099 + 0.99 ** 2, 0.1 + 0.99 + 0.99 ** 2 * 0.1,
                                         1 + 0.099 - 0.99 ** 2, 0.1 - 0.99, -1.0])
    np.testing.assert_allclose(discounts, [0.99 ** 3, 0.99 ** 3, 0, 0, 0])
    s_t, a_t, _, s_tn, _ = replay_memory[0]
    assert s_t is states[0] and s_tn is states[3] and a_t == 1


def test_remember_at_the_training_cap_stores_what_is_left_with_q_to_come():
    assert qlearn.N_STEP > 2
    replay_memory, recent = deque(), deque()
    play_into(replay_memory, recent, [(0.1, False, False)])
    assert len(replay_memory) == 0 and len(recent) == 1  # waits for N_STEP frames
    replay_memory, recent = deque(), deque()
    states = play_into(replay_memory, recent, [(0.1, False, False), (1.0, False, True)])
    assert not recent and len(replay_memory) == 2
    (s_t, a_t, return_t, s_tn, discount), second = replay_memory
    assert s_tn is states[2] and s_t is states[0] and a_t == 1
    assert return_t == pytest.approx(0.1 + 0.99 * 1.0) and discount == pytest.approx(0.99 ** 2)
    assert second[3] is states[2] and second[2:5:2] == (1.0, pytest.approx(0.99))


def test_target_network_stays_fixed_until_synced():
    model, target_model = qlearn.buildmodel(), qlearn.buildmodel()
    target_model.set_weights(model.get_weights())
    for w, t in zip(model.get_weights(), target_model.get_weights()):
        np.testing.assert_array_equal(w, t)
    train_on_minibatch = qlearn.learning_step(model, target_model)
    s_t, s_tn = np.random.default_rng(0).integers(0, 256, (2, 32, 80, 80, 4), dtype=np.uint8)
    before = target_model.get_weights()
    train_on_minibatch(s_t, np.zeros(32, np.int32), np.ones(32, np.float32), s_tn,
                       np.full(32, 0.97, np.float32))
    assert all(np.array_equal(a, b) for a, b in zip(before, target_model.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    target_model.set_weights(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(),
                                                      target_model.get_weights()))


def test_learning_step_moves_q_towards_the_target():
    model, target_model = qlearn.buildmodel(), qlearn.buildmodel()
    train_on_minibatch = qlearn.learning_step(model, target_model)
    s_t, s_tn = np.random.default_rng(1).integers(0, 256, (2, 32, 80, 80, 4), dtype=np.uint8)
    a_t, crash = np.ones(32, np.int32), np.full(32, -1.0, np.float32)
    discount = np.zeros(32, np.float32)
    losses = [float(train_on_minibatch(s_t, a_t, crash, s_tn, discount)[0]) for _ in range(30)]
    assert losses[-1] < losses[0] / 4  # a crash's target is -1 whatever comes next


def test_replay_memory_is_bounded_and_shares_frames():
    replay_memory, recent = deque(maxlen=100), deque()
    play_into(replay_memory, recent, [(0.1, False, False)] * 150)
    assert len(replay_memory) == 100
    older, newer = replay_memory[-2][0], replay_memory[-1][0]  # their s_t
    assert all(a is b for a, b in zip(older[:3], newer[1:]))  # three frames shared
    s_tn = replay_memory[-1 - qlearn.N_STEP][3]  # the s_t of N_STEP later
    assert s_tn is replay_memory[-1][0]
    assert newer[0].dtype == np.uint8 and newer[0].shape == (80, 80)


def test_a_full_replay_memory_fits_in_250_mb():
    tracemalloc.start()
    replay_memory, recent = deque(maxlen=qlearn.REPLAY_MEMORY), deque()
    play_into(replay_memory, recent, [(0.1, False, False)] * 5_000)
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert used * qlearn.REPLAY_MEMORY / 5_000 < 250e6


def test_sample_minibatch_gives_the_learning_steps_arrays():
    replay_memory, recent = deque(), deque()
    play_into(replay_memory, recent, [(0.1, False, False)] * 39 + [(-1, True, False)])
    s_t, a_t, return_t, s_tn, discount = qlearn.sample_minibatch(replay_memory)
    assert s_tn.shape == s_t.shape == (32, 80, 80, 4) and s_t.dtype == np.uint8
    assert set(a_t) <= {0, 1} and return_t.dtype == discount.dtype == np.float32
    assert set(discount) <= {np.float32(0.99 ** qlearn.N_STEP), 0}


def test_random_shift_moves_each_stack_by_at_most_shift_pixels_its_edges_repeated():
    assert qlearn.SHIFT == 4
    stacks = np.zeros((200, 80, 80, 4), np.uint8)
    stacks[:, 40, 30] = [10, 20, 30, 40]  # one bright pixel per image, each image its own value
    shifted = qlearn.random_shift(stacks)
    assert shifted.shape == stacks.shape and shifted.dtype == np.uint8
    moves = set()
    for image in shifted:
        x, y = np.argwhere(image[..., 0] == 10)[0]
        assert abs(x - 40) <= 4 and abs(y - 30) <= 4
        assert all(image[x, y, c] == 10 * (c + 1) for c in range(4))  # the stack moves as one
        moves.add((x - 40, y - 30))
    assert len(moves) > 40  # of the 81 possible moves
    edge = np.arange(80, dtype=np.uint8)[None, :, None, None].repeat(80, 2).repeat(4, 3)
    shifted = qlearn.random_shift(edge)  # rows 0..79: moved, the first or last row repeats
    for image in shifted:
        rows = image[:, 0, 0].astype(int)
        assert set(np.diff(rows)) <= {0, 1} and rows.max() - rows.min() >= 75


def test_epsilon_and_learning_rate_schedules():
    assert qlearn.epsilon_at(0, 100) == 1.0
    assert qlearn.epsilon_at(100, 100) == qlearn.INITIAL_EPSILON
    assert qlearn.epsilon_at(100 + qlearn.EXPLORE, 100) == pytest.approx(qlearn.FINAL_EPSILON)
    assert qlearn.epsilon_at(10**9, 100) == pytest.approx(qlearn.FINAL_EPSILON)
    end = 100 + qlearn.EXPLORE
    assert qlearn.learning_rate_at(end, 100, end + 1000) == qlearn.LEARNING_RATE
    assert qlearn.learning_rate_at(end + 1000, 100, end + 1000) == pytest.approx(
        qlearn.FINAL_LEARNING_RATE)


def play_alone(q_of, game_state, max_score: int) -> int:
    """One greedy game on its own: frames preprocessed and stacked newest first, by hand."""
    frames = [qlearn.preprocess(game_state.draw())] * 4
    while game_state.score < max_score:
        q = q_of([tuple(frames)])[0]
        image, _, terminal = game_state.frame_step([0, 1] if q[1] > q[0] else [1, 0])
        if terminal:
            return game_state.final_score
        frames = [qlearn.preprocess(image)] + frames[:3]
    return game_state.score


def test_evaluate_plays_each_game_as_if_alone(monkeypatch):
    shipped = qlearn.q_function(qlearn.load_model(qlearn.cli.MODEL_PATH))

    def q_of(states):  # the shipped bird made to flap too often: its games end apart
        return shipped(states) + np.array([0.0, 0.6], np.float32)

    monkeypatch.setattr(evaluation, "SIDE_BY_SIDE", 4)  # two lanes of two: games wait, too
    scores = evaluation.greedy_scores(q_of, qlearn.next_state, 8, 7, 30)
    seeds = random.Random(7)  # evaluate's games and their seeds, one at a time
    alone = [play_alone(q_of, game.GameState(seed=seeds.getrandbits(32)), 30)
             for _ in range(8)]
    assert scores == alone
    assert len(set(scores)) >= 3 and 30 in scores  # ends at different frames, and at the cap


def test_importing_qlearn_does_nothing():
    code = ("import os, qlearn, pygame; print(pygame.display.get_init(), "
            "qlearn.speed.resize_matrix.cache_info().currsize, sorted(os.listdir('.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    before = sorted(os.listdir(REPO))
    display, matrices, listing = out.stdout.split(" ", 2)
    assert (display, matrices) == ("False", "0"), out.stderr
    assert eval(listing) == before


def test_a_bare_pytest_from_the_repository_finds_its_packages():
    # `pytest` alone puts no working directory on sys.path; nor does `python -P -c`; a test
    # module that imports nothing from conftest still finds game (and qlearn, harness)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    test = "tests/test_game.py::test_gravity_adds_one_per_frame_up_to_ten"
    code = f"import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', {test!r}]))"
    process = subprocess.run([sys.executable, "-P", "-c", code], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0 and "1 passed" in process.stdout, process.stdout


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short Train run: 400 frames, learning after 100."""
    folder = tmp_path_factory.mktemp("train")
    process = qlearn_cli("-m", "train", "--steps", 400, "--observe", 100,
                         "--model", folder / "model.h5")
    return folder, process


def test_a_short_train_writes_a_checkpoint_and_no_model_that_has_not_learned(trained):
    folder, process = trained
    assert process.returncode == 0, process.stderr
    assert not (folder / "model.h5").exists()  # it passed no pipe: nothing to keep
    assert "no model kept: no evaluation passed a pipe" in process.stdout
    model = qlearn.buildmodel()
    model.load_weights(folder / "model.latest.h5")  # Keras reads our files too
    progress = json.loads((folder / "model.train.json").read_text())
    update_frames = [t for t in range(100, 401) if t % qlearn.TRAIN_EVERY == 0]  # --observe 100
    assert progress["frame"] == 400 and progress["updates"] == len(update_frames)
    (run,) = (folder / "runs").iterdir()
    games = (run / "games.csv").read_text().splitlines()
    assert games[0] == "frame,minutes,score" and len(games) > 2
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(run))


def test_train_output_off_a_terminal_is_a_few_plain_lines_not_one_per_game(trained):
    folder, process = trained
    lines = process.stdout.splitlines()
    (run,) = (folder / "runs").iterdir()
    games = len((run / "games.csv").read_text().splitlines()) - 1
    assert games > 5 and not any(line.startswith("game") for line in lines)
    assert len(lines) <= 6 and "\r" not in process.stdout  # no bar drawn into a file
    assert sum(line.startswith("eval") for line in lines) == 1
    assert lines[-1].startswith("Train: done at frame 400")


def test_one_seed_repeats_a_run(trained, tmp_path):
    folder, _ = trained  # the same flags, the same (default) seed 0
    again = qlearn_cli("-m", "train", "--steps", 400, "--observe", 100,
                       "--model", tmp_path / "model.h5")
    assert again.returncode == 0, again.stderr
    first, second = (qlearn.load_model(where / "model.latest.h5") for where in (folder, tmp_path))
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)

    def games(where):  # frame and score of each training game, without the minutes
        (run,) = (where / "runs").iterdir()
        return [line.split(",")[::2] for line in (run / "games.csv").read_text().splitlines()]
    assert games(folder) == games(tmp_path) and len(games(folder)) > 5


def test_the_mean_not_the_median_picks_the_model_to_keep():
    # two evaluations of one run (seed 25, 125k and 200k frames); the first had the median
    six_of_ten = evaluation.summarize([200, 200, 87, 200, 50, 200, 200, 24, 1, 200])
    steadier = evaluation.summarize([168, 63, 200, 200, 200, 200, 153, 200, 45, 9])
    assert six_of_ten["median"] == 200 > steadier["median"]
    assert evaluation.beats(six_of_ten, None)
    assert evaluation.beats(steadier, six_of_ten["mean"])
    assert not evaluation.beats(six_of_ten, steadier["mean"])


def test_train_resume_goes_on_from_the_saved_frame_judged_anew(trained, tmp_path):
    folder, _ = trained
    for name in ("model.latest.h5", "model.train.json"):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    process = qlearn_cli("-m", "Train", "--resume", "--steps", 600, "--episodes", 2,
                         "--max-score", 3, "--model", tmp_path / "model.h5")
    assert process.returncode == 0, process.stderr
    assert "resuming" in process.stdout and "judged anew" in process.stdout
    progress = json.loads((tmp_path / "model.train.json").read_text())
    assert progress["frame"] == 600 and progress["eval"] == [2, 3]
    assert progress["observe"] == 100  # the run's own, not the default
    (evaluation_line,) = [line for line in process.stdout.splitlines() if line.startswith("eval")]
    scores = evaluation_line.split("scores")[1].split("median")[0].split()
    assert len(scores) == 2 and all(0 <= int(score) <= 3 for score in scores)


def test_train_stops_at_a_perfect_evaluation_and_a_new_run_may_start(tmp_path, monkeypatch,
                                                                       capsys):
    # the evaluation games are faked, every one at the cap: no later model could beat it
    monkeypatch.setattr(speed, "configure_tensorflow", lambda: None)  # TensorFlow runs already
    monkeypatch.setattr(bookkeeping, "EVAL_EVERY", 100)
    monkeypatch.setattr(bookkeeping, "greedy_scores",
                        lambda q_of, next_state, episodes, seed, max_score: [max_score] * episodes)
    flags = ["-m", "Train", "--steps", "1000", "--observe", "100", "--episodes", "2",
             "--max-score", "3", "--model", str(tmp_path / "model.h5")]
    assert qlearn.main(flags) == 0
    progress = json.loads((tmp_path / "model.train.json").read_text())
    (run,) = (tmp_path / "runs").iterdir()
    evaluations = (run / "evals.csv").read_text().splitlines()[1:]
    assert len(evaluations) == 1 and evaluations[0].startswith(f"{progress['frame']},")
    assert progress["steps"] == progress["frame"] < 1000 and progress["best_mean"] == 3
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"Train: done at frame {progress['frame']:,} of 1,000 (every "
                           "evaluation game reached 3 pipes")
    assert (tmp_path / "model.h5").exists()
    assert qlearn.main(flags) == 0  # the stopped run is finished: a new one starts


def test_train_keeps_the_average_network_which_polyak_moves_from_first_to_latest_weights(
        tmp_path, monkeypatch):
    """POLYAK 1 keeps the first weights, whatever is learned; POLYAK 0, the latest."""
    monkeypatch.setattr(speed, "configure_tensorflow", lambda: None)  # TensorFlow runs already
    monkeypatch.setattr(bookkeeping, "greedy_scores", lambda q_of, *rest: [1])  # a pipe: kept
    monkeypatch.setattr(qlearn, "TARGET_SYNC", 1)  # a sync, and a step of the average, each update
    qlearn.keras.utils.set_random_seed(0)
    first = qlearn.buildmodel().get_weights()  # seed 0's network before it learns

    def same(weights, others) -> bool:
        return all(np.array_equal(a, b) for a, b in zip(weights, others))

    for polyak in (1.0, 0.0):
        monkeypatch.setattr(qlearn, "POLYAK", polyak)
        folder = tmp_path / str(polyak)
        flags = ["-m", "Train", "--steps", "300", "--observe", "100", "--episodes", "1"]
        assert qlearn.main([*flags, "--seed", "0", "--model", str(folder / "model.h5")]) == 0
        kept, latest = (qlearn.load_model(folder / name).get_weights()
                        for name in ("model.h5", "model.latest.h5"))
        assert not same(latest, first)  # it learned
        assert same(kept, first if polyak == 1.0 else latest)


def test_train_chooses_every_frame_per_action_frames_and_does_nothing_between(
        tmp_path, monkeypatch):
    monkeypatch.setattr(speed, "configure_tensorflow", lambda: None)  # TensorFlow runs already
    monkeypatch.setattr(qlearn, "OBSERVE_FRAME_PER_ACTION", 2)
    monkeypatch.setattr(qlearn, "FRAME_PER_ACTION", 5)
    monkeypatch.setattr(qlearn, "choose_action", lambda q_of, s_t, epsilon: 1)  # a flap
    sent, one_hot = [], qlearn.one_hot  # the actions the game is given, frame by frame
    monkeypatch.setattr(qlearn, "one_hot", lambda a_t: sent.append(a_t) or one_hot(a_t))
    flags = ["-m", "Train", "--steps", "160", "--observe", "100", "--episodes", "1"]
    assert qlearn.main([*flags, "--model", str(tmp_path / "model.h5")]) == 0
    assert sent == [1, 0] * 50 + [1, 0, 0, 0, 0] * 12  # observing, then learning


def test_a_default_length_train_stops_once_eval_wins_of_the_games_reach_the_cap(
        tmp_path, monkeypatch, capsys):
    # faked evaluations of ten games to 3 pipes: eight at the cap (not enough: 0.8 would stop),
    # then nine (EVAL_WINS, 0.9, of ten), never all ten
    monkeypatch.setattr(speed, "configure_tensorflow", lambda: None)  # TensorFlow runs already
    monkeypatch.setattr(bookkeeping, "EVAL_EVERY", 100)
    monkeypatch.setattr(qlearn, "TOTAL_FRAMES", 400)  # the default length, short
    evaluations = iter([[3] * 8 + [0, 1], [3] * 9 + [0]] * 3)
    monkeypatch.setattr(bookkeeping, "greedy_scores",
                        lambda q_of, next_state, episodes, seed, max_score: next(evaluations))
    flags = ["-m", "Train", "--observe", "100", "--episodes", "10", "--max-score", "3"]
    assert qlearn.main([*flags, "--model", str(tmp_path / "default" / "model.h5")]) == 0
    progress = json.loads((tmp_path / "default" / "model.train.json").read_text())
    assert progress["steps"] == progress["frame"] == 200 and progress["best_mean"] == 2.7
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("Train: done at frame 200 of 400 (9 or more of 10 "
                           "evaluation games reached 3 pipes: the bird has learned)")
    # a length given with --steps is trained to its end
    assert qlearn.main([*flags, "--steps", "300", "--model", str(tmp_path / "model.h5")]) == 0
    progress = json.loads((tmp_path / "model.train.json").read_text())
    assert progress["steps"] == progress["frame"] == 300


def test_eval_is_repeatable_and_ends_with_json(trained):
    folder, _ = trained
    runs = [qlearn_cli("-m", "Eval", "--model", folder / "model.latest.h5", "--episodes", 3,
                       "--seed", 5, "--max-score", 10) for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stderr
    result = json.loads(runs[0].stdout.splitlines()[-1])
    assert result["episodes"] == 3 and len(result["scores"]) == 3
    assert set(result) == {"episodes", "scores", "median", "mean", "min", "max"}
    assert runs[0].stdout == runs[1].stdout
    assert sum(line.startswith("game") for line in runs[0].stdout.splitlines()) == 3


def test_run_headless_plays_one_game_and_leaves_the_model_untouched(trained, tmp_path):
    folder, _ = trained
    model_file = folder / "model.latest.h5"
    before = (model_file.read_bytes(), model_file.stat().st_mtime_ns)
    process = qlearn_cli("-m", "RUN", "--model", model_file, "--episodes", 1,
                         "--record", tmp_path / "bird.gif")
    assert process.returncode == 0, process.stderr
    assert "no display" in process.stdout
    assert sum(line.startswith("game 1: score") for line in process.stdout.splitlines()) == 1
    assert (model_file.read_bytes(), model_file.stat().st_mtime_ns) == before
    from PIL import Image
    with Image.open(tmp_path / "bird.gif") as gif:
        assert gif.size == (144, 256) and gif.n_frames >= 10


def test_unknown_mode_is_a_usage_error_naming_the_modes(tmp_path):
    process = qlearn_cli("-m", "Fly", cwd=tmp_path)
    assert_one_line_error(process, 2, "Fly", "Train", "Run", "Eval")
    assert os.listdir(tmp_path) == []


def test_a_missing_package_is_one_line_saying_how_to_install():
    code = ("import runpy, sys; sys.modules['keras'] = None; sys.argv = ['qlearn.py', '-m', 'Eval']"
            "; runpy.run_path('qlearn.py', run_name='__main__')")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                             text=True, timeout=300)
    assert_one_line_error(process, 1, "keras", "pip install -r requirements.txt")


def test_another_python_is_told_which_pythons_work_as_the_readme_says():
    import harness
    error = ModuleNotFoundError("No module named 'tensorflow'")
    line = harness.missing_package(error, (3, 14))
    assert line.startswith("qlearn.py needs Python 3.11 to 3.13, not 3.14") and "\n" not in line
    assert harness.missing_package(error, (3, 10)).startswith("qlearn.py needs Python 3.11 to")
    assert harness.missing_package(error, (3, 13)).endswith(": pip install -r requirements.txt")
    assert harness.PYTHONS == ((3, 11), (3, 13))
    for name in ("README.md", "requirements.txt"):
        assert "Python 3.11, 3.12 or 3.13" in " ".join((REPO / name).read_text().split())


def test_on_the_cpu_beside_an_nvidia_gpu_train_says_what_tensorflow_lacks(monkeypatch, tmp_path):
    import tensorflow as tf

    from harness import speed
    cuda = f'pip install "tensorflow[and-cuda]=={tf.__version__}"'
    monkeypatch.setattr(speed, "NVIDIA_DRIVER", tmp_path / "none")
    assert speed.device_line([]) == f"TensorFlow {tf.__version__} runs on CPU"
    (tmp_path / "version").write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module 550\n")
    monkeypatch.setattr(speed, "NVIDIA_DRIVER", tmp_path / "version")
    assert speed.device_line([]).startswith(f"TensorFlow {tf.__version__} runs on CPU (")
    assert cuda in speed.device_line([]) or sys.platform != "linux"
    for name in ("README.md", "requirements.txt"):  # the same command, where a newcomer reads
        assert cuda in (REPO / name).read_text()


def test_help_names_every_mode(capsys):
    with pytest.raises(SystemExit) as exit:
        qlearn.main(["-h"])
    assert exit.value.code == 0
    assert "Train, Run, Eval, Play, Plot (any case)" in " ".join(capsys.readouterr().out.split())


def test_help_states_the_stop_rule_in_use(capsys, monkeypatch):
    monkeypatch.setattr(bookkeeping, "EVAL_WINS", 0.5)  # the rule's number lives there alone
    with pytest.raises(SystemExit):
        qlearn.main(["-h"])
    assert "stopping once 5 in 10 evaluation games are won" in " ".join(
        capsys.readouterr().out.split())


def test_missing_model_file(tmp_path):
    process = qlearn_cli("-m", "Eval", "--model", tmp_path / "none.h5")
    assert_one_line_error(process, 1, "not found", "none.h5")


def test_corrupt_model_file(tmp_path):
    corrupt = tmp_path / "model.h5"
    corrupt.write_bytes(b"not an HDF5 file at all" * 100)
    process = qlearn_cli("-m", "Run", "--model", corrupt, "--episodes", 1)
    assert_one_line_error(process, 1, "cannot load weights", "model.h5")
    assert corrupt.read_bytes() == b"not an HDF5 file at all" * 100


def test_model_file_of_another_network(tmp_path):
    import keras
    other = keras.Sequential([keras.Input((80, 80, 4)), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    files.save_weights(other, tmp_path / "other.h5")
    process = qlearn_cli("-m", "Eval", "--model", tmp_path / "other.h5")
    assert_one_line_error(process, 1, "cannot load weights", "other.h5")


@pytest.mark.parametrize("flags, word", [
    (["-m", "Train", "--steps", "0"], "--steps"),
    (["-m", "Eval", "--episodes", "-3"], "--episodes"),
    (["-m", "Eval", "--max-score", "0"], "--max-score"),
    (["-m", "Run", "--episodes", "0"], "--episodes"),
    (["-m", "Run", "--saliency-at", "-1"], "--saliency-at"),
])
def test_zero_or_negative_counts(tmp_path, flags, word):
    process = qlearn_cli(*flags, "--model", tmp_path / "model.h5")
    assert_one_line_error(process, 1, word, "positive")
    assert os.listdir(tmp_path) == []


def test_nonsense_flags_are_usage_errors(tmp_path):
    process = qlearn_cli("-m", "Train", "--steps", "many", cwd=tmp_path)
    assert_one_line_error(process, 2, "--steps", "many")
    process = qlearn_cli("-m", "Train", "--fly", cwd=tmp_path)
    assert_one_line_error(process, 2, "--fly")


def test_resume_without_a_checkpoint(tmp_path):
    process = qlearn_cli("-m", "Train", "--resume", "--model", tmp_path / "model.h5")
    assert_one_line_error(process, 1, "nothing to resume")
