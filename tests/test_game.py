"""The game's rules, the original wrapper's, one test each, on the headless game."""

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


def next_lower_pipe(game_state):
    """The lower pipe the bird still has to pass."""
    return next(p for p in game_state.lowerPipes if p["x"] + 52 > game_state.playerx)


def hover(game_state):
    """A scripted pilot: flap when the bird sinks near the next gap's lower edge."""
    return FLAP if game_state.playery > next_lower_pipe(game_state)["y"] - 40 else NOTHING


def test_gravity_adds_one_per_frame_up_to_ten():
    game_state = game.GameState(seed=0)
    speeds, heights = [], []
    for _ in range(14):
        game_state.frame_step(NOTHING)
        speeds.append(game_state.playerVelY)
        heights.append(game_state.playery)
    assert speeds == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10, 10]
    assert heights[0] == 245 and heights[9] == 244 + 55 and heights[13] == 244 + 95


def test_flap_sets_speed_to_minus_nine_for_one_frame():
    game_state = game.GameState(seed=0)
    game_state.frame_step(FLAP)
    assert game_state.playerVelY == -9 and game_state.playery == 244 - 9
    game_state.frame_step(NOTHING)  # gravity resumes on the next frame
    assert game_state.playerVelY == -8 and game_state.playery == 244 - 17


def test_ceiling_clamps_the_bird_at_zero():
    game_state = game.GameState(seed=0)
    heights = []
    for _ in range(40):
        game_state.frame_step(FLAP)
        heights.append(game_state.playery)
    assert min(heights) == 0 and heights[-1] == 0


def test_no_flap_when_the_bird_is_above_minus_twice_its_height():
    game_state = game.GameState(seed=0)
    game_state.playery = -2 * 24  # not strictly above the limit: a flap is ignored
    game_state.frame_step(FLAP)
    assert game_state.playerVelY == 1 and not game_state.playerFlapped
    game_state.playery = -2 * 24 + 1
    game_state.frame_step(FLAP)
    assert game_state.playerVelY == -9


def test_ground_crash_ends_the_game_with_reward_minus_one():
    game_state = game.GameState(seed=0)
    results = [game_state.frame_step(NOTHING)[1:] for _ in range(19)]
    # falls 1, 2, ..., 10 then 10 a frame to y = 379; the next frame lands it at 380.48
    assert results[:18] == [(0.1, False)] * 18
    assert results[18] == (-1, True)


def test_pipe_crash_needs_solid_pixels_to_overlap():
    game_state = game.GameState(seed=0)
    game_state.playery = 200
    lower = game_state.lowerPipes[0]
    # the pipe's solid top-left corner on the bird's transparent bottom-right corner
    lower["x"], lower["y"] = game_state.playerx + 33, 200 + 23
    assert not game_state.crashed()
    # the same corner on the bird's body
    lower["x"], lower["y"] = game_state.playerx + 15, 200 + 12
    assert game_state.crashed()


def test_pipe_crash_in_frame_step_restarts_the_game():
    game_state = game.GameState(seed=0)
    game_state.frame_step(NOTHING)
    upper = game_state.upperPipes[0]
    upper["x"], upper["y"] = game_state.playerx + 4, game_state.playery - 310  # moves onto the bird
    _, reward, terminal = game_state.frame_step(NOTHING)
    assert (reward, terminal) == (-1, True)
    assert game_state.playery == 244 and game_state.upperPipes[0]["x"] == 288


def test_safe_passage_through_the_gap():
    game_state = game.GameState(seed=3)
    terminals = [game_state.frame_step(hover(game_state))[2] for _ in range(1000)]
    assert not any(terminals)
    assert game_state.score >= 20


def test_each_pipe_scores_exactly_once_with_reward_one():
    game_state = game.GameState(seed=5)
    passed = []  # the pipes themselves, kept alive so that no id is reused
    for _ in range(800):
        before = [(pipe, pipe["x"]) for pipe in game_state.upperPipes]
        _, reward, terminal = game_state.frame_step(hover(game_state))
        assert not terminal
        # the pipe whose middle (x + 26) reached the bird's middle (74) this frame
        crossing = [pipe for pipe, x in before if x + 26 <= 74 < x + 30]
        assert reward == (1 if crossing else 0.1)
        assert not any(pipe is seen for pipe in crossing for seen in passed)
        passed.extend(crossing)
    assert game_state.score == len(passed) >= 15


def test_pipes_spawn_at_298_and_leave_past_minus_52():
    game_state = game.GameState(seed=1)
    spawned = removed = 0
    for _ in range(400):
        count, first = len(game_state.upperPipes), game_state.upperPipes[0]
        game_state.frame_step(hover(game_state))
        if 0 < first["x"] < 5:
            spawned += 1
            assert game_state.upperPipes[-1]["x"] == 298 and game_state.lowerPipes[-1]["x"] == 298
            assert len(game_state.upperPipes) == count + 1
        elif first["x"] < -52:
            removed += 1
            assert game_state.upperPipes[0] is not first and len(game_state.upperPipes) == count - 1
        else:
            assert len(game_state.upperPipes) == count
    assert spawned >= 8 and removed >= 8


def test_pipe_gaps_come_from_the_seeded_generator():
    game_state = game.GameState(seed=11)
    rng = random.Random(11)
    for upper, lower in zip(game_state.upperPipes, game_state.lowerPipes):
        gap_y = [20, 30, 40, 50, 60, 70, 80, 90][rng.randint(0, 7)] + 80
        assert (upper["y"], lower["y"]) == (gap_y - 320, gap_y + 100)
    assert [p["x"] for p in game_state.upperPipes] == [288, 432]


def test_wing_animation_and_ground_scroll():
    game_state = game.GameState(seed=0)
    indexes, bases = [], []
    for _ in range(18):
        game_state.frame_step(NOTHING)
        indexes.append(game_state.playerIndex)
        bases.append(game_state.basex)
    assert indexes == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 1, 1, 1, 0, 0, 0, 1]
    assert bases[:3] == [-4, -8, -12] and all(-48 < b <= 0 for b in bases)


def test_reset_after_a_crash_returns_the_new_games_first_frame():
    game_state = game.GameState(seed=2)
    rng = random.Random(2)
    gaps = [rng.randint(0, 7) for _ in range(4)]  # two pairs now, two after the crash
    for _ in range(19):
        image, reward, terminal = game_state.frame_step(NOTHING)
    assert terminal and reward == -1
    g = game_state
    assert (g.score, g.playery, g.playerVelY, g.basex) == (0, 244, 0, 0)
    assert [p["x"] for p in game_state.lowerPipes] == [288, 432]
    assert [p["y"] for p in game_state.lowerPipes] == [[20, 30, 40, 50, 60, 70, 80, 90][g] + 180
                                                  for g in gaps[2:]]
    assert np.array_equal(image, game_state.draw())


def test_a_crash_tells_the_finished_games_score_and_the_next_game_starts_at_zero():
    game_state = game.GameState(seed=3)
    assert game_state.final_score == 0  # no game has ended yet
    for _ in range(200):
        game_state.frame_step(hover(game_state))
    passed = game_state.score
    assert passed >= 4
    terminal = False
    while not terminal:  # no more flaps: the bird falls
        _, reward, terminal = game_state.frame_step(NOTHING)
    assert reward == -1 and game_state.final_score == passed and game_state.score == 0


def test_a_pipe_passed_on_the_frame_of_the_crash_counts_in_the_finished_score():
    game_state = game.GameState(seed=0)
    upper = game_state.upperPipes[0]
    upper["x"] = game_state.playerx + 17 - 26  # its middle on the bird's: passed on the next frame
    game_state.playery = 380  # and the bird one frame above the ground
    game_state.playerVelY = 10
    _, reward, terminal = game_state.frame_step(NOTHING)
    assert (reward, terminal) == (-1, True)
    assert (game_state.final_score, game_state.score) == (1, 0)


def test_explicit_reset_ends_the_game_with_its_score():
    game_state = game.GameState(seed=3)
    for _ in range(100):
        game_state.frame_step(hover(game_state))
    passed = game_state.score
    game_state.reset()
    assert passed >= 1 and (game_state.final_score, game_state.score) == (passed, 0)


def test_explicit_reset_starts_a_new_game():
    game_state = game.GameState(seed=2)
    for _ in range(10):
        game_state.frame_step(FLAP)
    game_state.reset()
    g = game_state
    assert (g.score, g.playery, g.playerVelY, g.loopIter) == (0, 244, 0, 0)


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
    game_state = game.GameState(seed=0)
    image, _, _ = game_state.frame_step(NOTHING)
    assert image.shape == (288, 512, 3) and image.dtype == np.uint8
    assert np.array_equal(image, pygame.surfarray.array3d(game_state.screen))
    x, y = game_state.playerx, int(game_state.playery)
    assert image[x:x + 34, y:y + 24].any()  # the bird, at [x, y]
    assert not image[x:x + 34, 100:200].any()  # black sky above it
    assert image[:, 405:].all(axis=2).mean() > 0.9  # the ground fills the bottom rows
    assert image.flags.writeable


@pytest.mark.parametrize("action", [[1, 1], [0, 0], [1], [0.5, 0.5], [2, -1], 1, "ab", None])
def test_an_action_that_is_not_one_hot_raises_value_error(action):
    game_state = game.GameState(seed=0)
    with pytest.raises(ValueError, match="one-hot array of length 2"):
        game_state.frame_step(action)


def test_numpy_one_hot_actions_are_accepted():
    game_state = game.GameState(seed=0)
    game_state.frame_step(np.array([0, 1]))
    assert game_state.playerVelY == -9


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
