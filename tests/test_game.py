"""The rules of ../shared/GAME_RULES.md, one test each, on the headless game."""

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pygame
import pytest

from game import wrapped_flappy_bird as game

REPO = Path(__file__).resolve().parent.parent
NOTHING, FLAP = [1, 0], [0, 1]


def next_lower_pipe(state):
    """The lower pipe the bird still has to pass."""
    return next(p for p in state.lowerPipes if p["x"] + 52 > state.playerx)


def hover(state):
    """A scripted pilot: flap when the bird sinks near the next gap's lower edge."""
    return FLAP if state.playery > next_lower_pipe(state)["y"] - 40 else NOTHING


def test_gravity_adds_one_per_frame_up_to_ten():
    state = game.GameState(seed=0)
    speeds, heights = [], []
    for _ in range(14):
        state.frame_step(NOTHING)
        speeds.append(state.playerVelY)
        heights.append(state.playery)
    assert speeds == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10, 10]
    assert heights[0] == 245 and heights[9] == 244 + 55 and heights[13] == 244 + 95


def test_flap_sets_speed_to_minus_nine_for_one_frame():
    state = game.GameState(seed=0)
    state.frame_step(FLAP)
    assert state.playerVelY == -9 and state.playery == 244 - 9
    state.frame_step(NOTHING)  # gravity resumes on the next frame
    assert state.playerVelY == -8 and state.playery == 244 - 17


def test_ceiling_clamps_the_bird_at_zero():
    state = game.GameState(seed=0)
    heights = []
    for _ in range(40):
        state.frame_step(FLAP)
        heights.append(state.playery)
    assert min(heights) == 0 and heights[-1] == 0


def test_no_flap_when_the_bird_is_above_minus_twice_its_height():
    state = game.GameState(seed=0)
    state.playery = -2 * 24  # not strictly above the limit: a flap is ignored
    state.frame_step(FLAP)
    assert state.playerVelY == 1 and not state.playerFlapped
    state.playery = -2 * 24 + 1
    state.frame_step(FLAP)
    assert state.playerVelY == -9


def test_ground_crash_ends_the_game_with_reward_minus_one():
    state = game.GameState(seed=0)
    results = [state.frame_step(NOTHING)[1:] for _ in range(19)]
    # falls 1, 2, ..., 10 then 10 a frame to y = 379; the next frame lands it at 380.48
    assert results[:18] == [(0.1, False)] * 18
    assert results[18] == (-1, True)


def test_pipe_crash_needs_solid_pixels_to_overlap():
    state = game.GameState(seed=0)
    state.playery = 200
    lower = state.lowerPipes[0]
    # the pipe's solid top-left corner on the bird's transparent bottom-right corner
    lower["x"], lower["y"] = state.playerx + 33, 200 + 23
    assert not state.crashed()
    # the same corner on the bird's body
    lower["x"], lower["y"] = state.playerx + 15, 200 + 12
    assert state.crashed()


def test_pipe_crash_in_frame_step_restarts_the_game():
    state = game.GameState(seed=0)
    state.frame_step(NOTHING)
    upper = state.upperPipes[0]
    upper["x"], upper["y"] = state.playerx + 4, state.playery - 310  # moves onto the bird
    _, reward, terminal = state.frame_step(NOTHING)
    assert (reward, terminal) == (-1, True)
    assert state.playery == 244 and state.upperPipes[0]["x"] == 288


def test_safe_passage_through_the_gap():
    state = game.GameState(seed=3)
    terminals = [state.frame_step(hover(state))[2] for _ in range(1000)]
    assert not any(terminals)
    assert state.score >= 20


def test_each_pipe_scores_exactly_once_with_reward_one():
    state = game.GameState(seed=5)
    passed = []  # the pipes themselves, kept alive so that no id is reused
    for _ in range(800):
        before = [(pipe, pipe["x"]) for pipe in state.upperPipes]
        _, reward, terminal = state.frame_step(hover(state))
        assert not terminal
        # the pipe whose middle (x + 26) reached the bird's middle (74) this frame
        crossing = [pipe for pipe, x in before if x + 26 <= 74 < x + 30]
        assert reward == (1 if crossing else 0.1)
        assert not any(pipe is seen for pipe in crossing for seen in passed)
        passed.extend(crossing)
    assert state.score == len(passed) >= 15


def test_pipes_spawn_at_298_and_leave_past_minus_52():
    state = game.GameState(seed=1)
    spawned = removed = 0
    for _ in range(400):
        count, first = len(state.upperPipes), state.upperPipes[0]
        state.frame_step(hover(state))
        if 0 < first["x"] < 5:
            spawned += 1
            assert state.upperPipes[-1]["x"] == 298 and state.lowerPipes[-1]["x"] == 298
            assert len(state.upperPipes) == count + 1
        elif first["x"] < -52:
            removed += 1
            assert state.upperPipes[0] is not first and len(state.upperPipes) == count - 1
        else:
            assert len(state.upperPipes) == count
    assert spawned >= 8 and removed >= 8


def test_pipe_gaps_come_from_the_seeded_generator():
    state = game.GameState(seed=11)
    rng = random.Random(11)
    for upper, lower in zip(state.upperPipes, state.lowerPipes):
        gap_y = [20, 30, 40, 50, 60, 70, 80, 90][rng.randint(0, 7)] + 80
        assert (upper["y"], lower["y"]) == (gap_y - 320, gap_y + 100)
    assert [p["x"] for p in state.upperPipes] == [288, 432]


def test_wing_animation_and_ground_scroll():
    state = game.GameState(seed=0)
    indexes, bases = [], []
    for _ in range(18):
        state.frame_step(NOTHING)
        indexes.append(state.playerIndex)
        bases.append(state.basex)
    assert indexes == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 1, 1, 1, 0, 0, 0, 1]
    assert bases[:3] == [-4, -8, -12] and all(-48 < b <= 0 for b in bases)


def test_reset_after_a_crash_returns_the_new_games_first_frame():
    state = game.GameState(seed=2)
    rng = random.Random(2)
    gaps = [rng.randint(0, 7) for _ in range(4)]  # two pairs now, two after the crash
    for _ in range(19):
        image, reward, terminal = state.frame_step(NOTHING)
    assert terminal and reward == -1
    assert (state.score, state.playery, state.playerVelY, state.basex) == (0, 244, 0, 0)
    assert [p["x"] for p in state.lowerPipes] == [288, 432]
    assert [p["y"] for p in state.lowerPipes] == [[20, 30, 40, 50, 60, 70, 80, 90][g] + 180
                                                  for g in gaps[2:]]
    assert np.array_equal(image, state.draw())


def test_explicit_reset_starts_a_new_game():
    state = game.GameState(seed=2)
    for _ in range(10):
        state.frame_step(FLAP)
    state.reset()
    assert (state.score, state.playery, state.playerVelY, state.loopIter) == (0, 244, 0, 0)


def test_same_seed_same_game():
    first, second, other = (game.GameState(seed=s) for s in (7, 7, 8))
    actions = random.Random(0)
    for _ in range(300):
        action = FLAP if actions.random() < 0.1 else NOTHING
        a, b = first.frame_step(action), second.frame_step(action)
        assert np.array_equal(a[0], b[0]) and a[1:] == b[1:]
        other.frame_step(action)
    assert [p["y"] for p in first.upperPipes] != [p["y"] for p in other.upperPipes]


def test_image_is_uint8_288_by_512_rgb_indexed_x_y():
    state = game.GameState(seed=0)
    image, _, _ = state.frame_step(NOTHING)
    assert image.shape == (288, 512, 3) and image.dtype == np.uint8
    assert np.array_equal(image, pygame.surfarray.array3d(state.screen))
    x, y = state.playerx, int(state.playery)
    assert image[x:x + 34, y:y + 24].any()  # the bird, at [x, y]
    assert not image[x:x + 34, 100:200].any()  # black sky above it
    assert image[:, 405:].all(axis=2).mean() > 0.9  # the ground fills the bottom rows
    assert image.flags.writeable


@pytest.mark.parametrize("action", [[1, 1], [0, 0], [1], [0.5, 0.5], [2, -1], 1, "ab", None])
def test_an_action_that_is_not_one_hot_raises_value_error(action):
    state = game.GameState(seed=0)
    with pytest.raises(ValueError, match="one-hot array of length 2"):
        state.frame_step(action)


def test_numpy_one_hot_actions_are_accepted():
    state = game.GameState(seed=0)
    state.frame_step(np.array([0, 1]))
    assert state.playerVelY == -9


def test_no_window_pygame_init_or_assets_at_import():
    code = (
        "from game import wrapped_flappy_bird as game; import pygame;"
        "print(pygame.get_init(), pygame.display.get_init(),"
        " game.load_images.cache_info().currsize)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False", "0"], out.stderr


def test_runs_from_another_directory_without_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "SDL_VIDEODRIVER")}
    env["PYTHONPATH"] = str(REPO)
    code = (
        "from game import wrapped_flappy_bird as game;"
        "s = game.GameState(seed=0); print(s.frame_step([1, 0])[0].shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.stdout.strip() == "(288, 512, 3)", out.stderr


def test_a_window_without_a_display_is_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    code = "from game import wrapped_flappy_bird as game; game.GameState(display=True)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0 and "no display" in out.stderr


SPRITE_SIZES = {
    "redbird-upflap.png": (34, 24), "redbird-midflap.png": (34, 24),
    "redbird-downflap.png": (34, 24), "pipe-green.png": (52, 320), "base.png": (336, 112),
    "background-black.png": (288, 512), "1.png": (16, 36),
    **{f"{d}.png": (24, 36) for d in (0, 2, 3, 4, 5, 6, 7, 8, 9)},
}


@pytest.mark.parametrize("name", sorted(SPRITE_SIZES))
def test_sprites_have_the_originals_sizes_and_binary_alpha(name):
    sprite = pygame.image.load(str(game.SPRITES / name))
    assert sprite.get_size() == SPRITE_SIZES[name]
    if sprite.get_flags() & pygame.SRCALPHA:
        alpha = pygame.surfarray.array_alpha(sprite)
        assert set(np.unique(alpha)) <= {0, 255}
