"""The Gymnasium environment of game/env.py: Gymnasium's rules, and the game's rules unchanged."""

import copy
import pickle
import random
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.wrappers import (
    FrameStackObservation,
    GrayscaleObservation,
    TransformObservation,
)

from game import env as flappy_env
from game import wrapped_flappy_bird as game
from game.env import FlappyBirdEnv

REPO = Path(__file__).resolve().parent.parent
NOTHING, FLAP = 0, 1
BIRD_X = slice(57, 57 + 34)  # the bird's columns, in every frame


def hover(env: FlappyBirdEnv) -> int:
    """A scripted pilot: flap when the bird sinks near the next gap's lower edge."""
    state = env.game
    lower = next(p for p in state.lowerPipes if p["x"] + 52 > state.playerx)
    return FLAP if state.playery > lower["y"] - 40 else NOTHING


def random_actions(count: int, seed: int = 0) -> list[int]:
    """Mostly nothing, a flap one frame in ten: games of a few dozen frames."""
    rng = random.Random(seed)
    return [int(rng.random() < 0.1) for _ in range(count)]


def test_check_env_passes_with_no_warning_but_the_missing_spec():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(FlappyBirdEnv(render_mode="rgb_array"))
    # without gymnasium.make there is no spec to make the other render modes from
    assert [str(w.message) for w in caught if "spec" not in str(w.message)] == []


def test_spaces_are_two_actions_and_a_512_by_288_rgb_screen():
    env = FlappyBirdEnv()
    obs, info = env.reset(seed=0)
    assert env.action_space == spaces.Discrete(2)
    assert env.observation_space == spaces.Box(0, 255, (512, 288, 3), np.uint8)
    assert obs.shape == (512, 288, 3) and obs.dtype == np.uint8 and info == {"score": 0}
    assert obs[244:244 + 24, BIRD_X].any()  # the bird, at [y, x]
    assert obs[405:].all(axis=2).mean() > 0.9  # the ground fills the bottom rows


def test_same_seed_and_actions_give_what_frame_step_gives():
    state, env = game.GameState(seed=7), FlappyBirdEnv()
    obs, _ = env.reset(seed=7)
    assert np.array_equal(obs, state.draw().transpose(1, 0, 2))
    crashes = 0
    for action in random_actions(400):
        image, reward, terminal = state.frame_step(game.INPUT_ACTIONS[action])
        obs, r_t, terminated, truncated, info = env.step(action)
        assert (r_t, terminated, truncated) == (reward, terminal, False)
        if terminated:
            crashes += 1
            obs, info = env.reset()  # frame_step's image at a crash is the next game's first
        assert np.array_equal(obs, image.transpose(1, 0, 2))
        assert info["score"] == state.score
    assert crashes >= 3


def test_a_crash_terminates_with_reward_minus_one():
    env = FlappyBirdEnv()
    env.reset(seed=0)
    steps = [env.step(NOTHING)[1:4] for _ in range(19)]
    # the bird falls onto the ground on the 19th frame, as in the game
    assert steps[:18] == [(0.1, False, False)] * 18
    assert steps[18] == (-1.0, True, False)


def test_the_observation_at_a_crash_shows_the_crash_and_reset_the_next_game():
    env = FlappyBirdEnv()
    env.reset(seed=0)
    for _ in range(19):
        obs, _, terminated, _, _ = env.step(NOTHING)
    assert terminated
    assert obs[380:404, BIRD_X].any() and not obs[244:268, BIRD_X].any()  # on the ground
    obs, _ = env.reset()
    assert obs[244:268, BIRD_X].any() and not obs[380:404, BIRD_X].any()  # mid-screen again


def test_a_step_after_a_crash_without_reset_is_an_error():
    env = FlappyBirdEnv()
    env.reset(seed=0)
    for _ in range(19):
        env.step(NOTHING)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(FLAP)
    env.reset()
    assert env.step(FLAP)[1:3] == (0.1, False)


def test_info_at_a_crash_holds_the_finished_games_score():
    env = FlappyBirdEnv()
    env.reset(seed=3)
    for _ in range(200):  # the pilot passes two pipes within 200 frames
        env.step(hover(env))
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(NOTHING)
    assert reward == -1.0 and info["score"] >= 2


def test_the_pipe_limit_truncates_on_the_frame_that_reaches_it():
    env = FlappyBirdEnv(max_score=3)
    env.reset(seed=3)
    rewards, ends = [], []
    for _ in range(1000):
        _, reward, terminated, truncated, info = env.step(hover(env))
        rewards.append(reward)
        ends.append((terminated, truncated))
        if terminated or truncated:
            break
    assert ends[-1] == (False, True) and not any(any(end) for end in ends[:-1])
    assert info["score"] == 3 and rewards[-1] == 1.0 and rewards.count(1.0) == 3


def test_no_pipe_limit_never_truncates():
    env = FlappyBirdEnv()
    env.reset(seed=3)
    truncations = [env.step(hover(env))[3] for _ in range(1000)]
    assert env.game.score >= 20 and not any(truncations)


def run(env: FlappyBirdEnv, seed: int, actions: list[int]) -> list:
    """Frames, rewards and ends of a run from reset(seed), with reset() after each end."""
    obs, _ = env.reset(seed=seed)
    seen = [obs.copy()]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        seen.append((obs.copy(), reward, terminated, truncated))
        if terminated:
            seen.append(env.reset()[0].copy())
    return seen


def same(run_1: list, run_2: list) -> bool:
    """Two runs alike frame for frame."""
    return len(run_1) == len(run_2) and all(
        gymnasium.utils.env_checker.data_equivalence(a, b, exact=True)
        for a, b in zip(run_1, run_2))


def test_reset_with_the_same_seed_repeats_the_games_and_another_seed_does_not():
    env, actions = FlappyBirdEnv(), random_actions(300)
    first = run(env, 5, actions)
    assert same(run(env, 5, actions), first)
    assert same(run(FlappyBirdEnv(), 5, actions), first)
    assert not same(run(env, 6, actions), first)


def test_an_action_other_than_0_or_1_is_a_value_error():
    env = FlappyBirdEnv()
    env.reset(seed=0)
    for action in (2, -1, np.int64(2), 1.0, np.array([1]), "1", None):
        with pytest.raises(ValueError, match="0 .nothing. or 1 .flap."):
            env.step(action)
    assert env.step(np.int64(1))[1] == 0.1  # numpy integers, as action_space.sample() gives


def resize_80_by_80(env: gymnasium.Env) -> gymnasium.Env:
    """Gymnasium's TransformObservation with scikit-image's resize: Gymnasium's own
    ResizeObservation does the same with opencv, which requirements.txt does not have."""
    from skimage import transform

    def resize(obs):
        return transform.resize(obs, (80, 80), preserve_range=True).astype(np.uint8)
    return TransformObservation(env, resize, spaces.Box(0, 255, (80, 80), np.uint8))


def test_gymnasium_wrappers_make_the_networks_four_80_by_80_gray_frames():
    env = FrameStackObservation(resize_80_by_80(GrayscaleObservation(FlappyBirdEnv())), 4)
    stack, _ = env.reset(seed=0)
    assert env.observation_space.shape == stack.shape == (4, 80, 80)
    assert stack.dtype == np.uint8
    assert all(np.array_equal(frame, stack[0]) for frame in stack)  # a new game: four alike
    # 80 / 512 and 80 / 288 of the screen: the bird near rows 38-42, columns 16-25, in a black
    # sky; the ground from row 64 (y 404) down
    above_ground = np.argwhere(stack[-1][:62] > 0)
    assert above_ground.min(axis=0).tolist() >= [36, 15]
    assert above_ground.max(axis=0).tolist() <= [43, 26] and len(above_ground) > 20
    assert stack[-1][65:].min() > 100
    newer, *_ = env.step(NOTHING)
    assert np.array_equal(newer[:3], stack[1:])  # oldest dropped, newest last
    assert not np.array_equal(newer[3], stack[3])  # the bird fell a pixel


def test_a_sync_vector_env_steps_three_games_and_restarts_them_itself():
    envs = gymnasium.vector.SyncVectorEnv([FlappyBirdEnv] * 3)
    obs, infos = envs.reset(seed=0)  # seeds 0, 1, 2
    assert obs.shape == (3, 512, 288, 3) and infos["score"].tolist() == [0, 0, 0]
    for _ in range(18):
        _, rewards, terminations, _, _ = envs.step(np.zeros(3, np.int64))
        assert rewards.tolist() == [0.1] * 3 and not terminations.any()
    _, rewards, terminations, _, _ = envs.step(np.zeros(3, np.int64))
    assert rewards.tolist() == [-1.0] * 3 and terminations.all()  # all fall onto the ground
    # Gymnasium's next-step autoreset: the step after an end is the new game's reset
    obs, rewards, terminations, _, _ = envs.step(np.ones(3, np.int64))
    assert rewards.tolist() == [0.0] * 3 and not terminations.any()
    assert obs[:, 244:268, BIRD_X].any(axis=(1, 2, 3)).all()
    envs.close()


def test_rgb_array_render_equals_the_observation():
    env = FlappyBirdEnv(render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert np.array_equal(env.render(), obs)
    crashes = 0
    for action in random_actions(100):
        obs, _, terminated, _, _ = env.step(action)
        frame = env.render()  # at a crash too: the crash
        assert np.array_equal(frame, obs) and not np.shares_memory(frame, obs)
        if terminated:
            crashes += 1
            obs, _ = env.reset()
            assert np.array_equal(env.render(), obs)
    assert crashes >= 1


def test_without_a_render_mode_render_returns_none():
    env = FlappyBirdEnv()
    env.reset(seed=0)
    assert env.render() is None


@pytest.fixture
def no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


def test_human_mode_without_a_display_warns_and_plays_headless(no_display):
    with pytest.warns(UserWarning, match="no display here: render_mode 'human' shows nothing"):
        env = FlappyBirdEnv(render_mode="human")
    obs, _ = env.reset(seed=0)
    assert env.step(FLAP)[1] == 0.1 and env.render() is None
    env.close()


def test_check_env_of_a_made_env_passes_without_a_display(no_display):
    env = gymnasium.make("game.env:FlappyBirdPixels-v0").unwrapped
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)  # it makes the env anew in each render mode, "human" too
    assert [str(w.message) for w in caught] == [
        "no display here: render_mode 'human' shows nothing"]


@pytest.mark.parametrize("make", [FlappyBirdEnv, lambda **kwargs: gymnasium.make(
    flappy_env.ENV_ID, **kwargs)])
def test_an_unknown_render_mode_is_our_value_error_without_gymnasiums_warning(make):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="render_mode must be None, 'human' or 'rgb_array'"):
            make(render_mode="ansi")


def test_rgb_array_list_collects_the_frames_as_gymnasium_does():
    env = gymnasium.make(flappy_env.ENV_ID, render_mode="rgb_array_list")
    obs, _ = env.reset(seed=0)
    env.step(NOTHING)
    frames = env.render()
    assert len(frames) == 2 and np.array_equal(frames[0], obs)


@pytest.mark.parametrize("max_score", ["5", 0, -3, 2.5, True])
def test_a_pipe_limit_that_is_not_a_positive_whole_number_is_a_value_error(max_score):
    with pytest.raises(ValueError, match="max_score must be None or a positive whole number"):
        FlappyBirdEnv(max_score=max_score)


@pytest.mark.parametrize("duplicate", [lambda env: pickle.loads(pickle.dumps(env)),
                                       copy.deepcopy], ids=["pickle", "deepcopy"])
def test_a_pickled_env_plays_on_as_the_original(duplicate):
    env = FlappyBirdEnv(max_score=5)
    env.reset(seed=4)
    for action in random_actions(10):
        env.step(action)
    twin = duplicate(env)
    assert np.array_equal(twin.frame, env.frame)
    for action in random_actions(300, seed=1):
        ours, theirs = env.step(action), twin.step(action)
        assert np.array_equal(ours[0], theirs[0]) and ours[1:] == theirs[1:]
        if ours[2] or ours[3]:
            assert np.array_equal(env.reset()[0], twin.reset()[0])


def test_gymnasium_make_with_the_id_builds_the_env_with_its_arguments():
    env = gymnasium.make(flappy_env.ENV_ID, max_score=2, render_mode="rgb_array")
    assert env.spec.id == "FlappyBirdPixels-v0" == flappy_env.ENV_ID
    assert isinstance(env.unwrapped, FlappyBirdEnv) and env.unwrapped.max_score == 2
    obs, _ = env.reset(seed=0)
    assert obs.shape == (512, 288, 3) and env.render().shape == (512, 288, 3)
    assert env.step(FLAP)[1] == 0.1


def test_a_second_import_does_not_register_again():
    # Gymnasium warns "Overriding environment" when an id is registered twice
    code = ("import importlib, gymnasium, game.env; importlib.reload(game.env);"
            "print(gymnasium.spec('FlappyBirdPixels-v0').entry_point)")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=REPO,
                         capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "game.env:make", out.stderr


def test_importing_the_game_package_does_not_import_gymnasium():
    code = ("import sys, game, game.wrapped_flappy_bird;"
            "print('gymnasium' in sys.modules, 'game.env' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=False)
    assert out.stdout.split() == ["False", "False"], out.stderr
