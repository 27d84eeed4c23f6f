"""Run's classroom (harness/classroom.py) and human play (game/play.py); all headless."""

import subprocess
import sys

import numpy as np
import pygame
import pytest
from conftest import REPO, assert_one_line_error, qlearn_cli

import qlearn
from game import wrapped_flappy_bird as game
from game.play import Play
from harness import classroom

BIRD_COLUMNS = slice(15, 27)  # the bird's x, 57..91 on the screen, on the network's 80 x 80


@pytest.fixture(scope="module")
def saliency_of():
    return classroom.saliency_function(qlearn.load_model(qlearn.cli.MODEL_PATH),
                                       qlearn.network_input)


def frames_with_the_bird_at(game_state, y: int) -> tuple:
    """The network's four frames of a bird falling to height `y`, the pipes where they are."""
    frames = []
    for rise in (0, 3, 6, 9):  # newest first: the older frames had the bird higher
        game_state.playery = y - rise
        frames.append(qlearn.preprocess(game_state.draw()))
    return tuple(frames)


def around_the_bird(saliency: np.ndarray, y: int) -> float:
    row = int((y + 12) * qlearn.IMG_ROWS / game.SCREENHEIGHT)  # the bird's middle, 80 rows
    return saliency[BIRD_COLUMNS, row - 3:row + 4].mean()


def test_saliency_map_is_80_by_80_in_zero_one(saliency_of):
    game_state = game.GameState(seed=0)
    saliency = saliency_of(frames_with_the_bird_at(game_state, 200))
    assert saliency.shape == (80, 80) and saliency.dtype == np.float32
    assert saliency.min() >= 0 and saliency.max() == pytest.approx(1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_saliency_follows_the_bird_when_the_bird_moves(saliency_of, seed):
    game_state = game.GameState(seed=seed)
    for _ in range(40):  # pipes on the screen
        game_state.frame_step([1, 0] if game_state.playery < 250 else [0, 1])
    heights = (80, 200, 320)
    maps = {y: saliency_of(frames_with_the_bird_at(game_state, y)) for y in heights}
    for here in heights:
        for there in heights:
            if here != there:  # where the bird is now, the map is brighter than when it was not
                assert around_the_bird(maps[here], here) > around_the_bird(maps[there], here)


def test_panels_show_the_networks_q_values_and_inputs_for_a_known_input():
    model = qlearn.buildmodel()
    kernel, _ = model.layers[-1].get_weights()
    model.layers[-1].set_weights([np.zeros_like(kernel), np.array([2.0, 7.5], np.float32)])
    game_state = game.GameState(seed=0)
    frames = tuple(np.full((80, 80), value, np.uint8) for value in (200, 150, 100, 50))
    q_t = qlearn.q_function(model)([frames])[0]
    assert list(q_t) == [2.0, 7.5]  # Q = the last layer's bias, whatever the input

    room = classroom.Classroom(headless=True)
    room.draw(game_state, frames, q_t, int(q_t.argmax()))
    screen = room.surface

    def pixel(x, y):
        return tuple(screen.get_at((game.SCREENWIDTH + x, y)))[:3]

    for action, value in enumerate((2.0, 7.5)):
        y = classroom.BARS_Y + action * (classroom.BAR_HEIGHT + 12) + 2
        color = classroom.CHOSEN if action == 1 else classroom.DIM  # flap: the larger, chosen
        end = classroom.bar_end(value)
        assert pixel(classroom.bar_end(0.0) + 1, y) == color
        assert pixel(end - 1, y) == color and pixel(end + 1, y) == classroom.BACKGROUND
    assert classroom.bar_end(7.5) - classroom.bar_end(0.0) == round(120 * 7.5 / 14)
    for i, value in enumerate((200, 150, 100, 50)):  # the four frames, newest first, 2 x 2
        x = 10 + (i % 2) * 90 + 40
        y = classroom.INPUTS_Y + (i // 2) * 104 + 40
        assert pixel(x, y) == (value, value, value)
    assert tuple(screen.get_at((150, 300)))[:3] == tuple(game_state.screen.get_at((150, 300)))[:3]


def test_q_bars_fit_the_q_of_a_bird_that_passes_every_pipe():
    # what Q should be for a bird that never crashes: its discounted rewards, from the game
    game_state, rewards = game.GameState(seed=3), []
    for _ in range(1300):  # a pilot that flaps when the bird sinks near the next gap's bottom
        gap_bottom = next(p["y"] for p in game_state.lowerPipes if p["x"] + 52 > game_state.playerx)
        flap = game_state.playery > gap_bottom - 40
        _, reward, terminal = game_state.frame_step(game.INPUT_ACTIONS[flap])
        assert not terminal
        rewards.append(reward)
    returns = [sum(0.99 ** k * r for k, r in enumerate(rewards[t:])) for t in range(300)]
    low, high = classroom.Q_RANGE
    assert low == -1 and 11.5 < min(returns) and max(returns) <= high < max(returns) + 0.5
    assert classroom.bar_end(max(returns)) < classroom.bar_end(high + 1)  # not cut off


def test_saliency_key_dims_the_game_and_reddens_what_counts(saliency_of):
    game_state = game.GameState(seed=0)
    frames = frames_with_the_bird_at(game_state, 200)
    room = classroom.Classroom(saliency_of, headless=True)
    room.handle([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_s)])
    room.draw(game_state, frames, (1.0, 0.0), 0)
    layer = pygame.surfarray.array3d(room.surface)[:game.SCREENWIDTH].astype(int)
    plain = pygame.surfarray.array3d(game_state.screen).astype(int)
    assert layer.sum() < plain.sum() * 0.6  # dimmed
    redness = layer[..., 0] - layer[..., 1]
    top = np.unravel_index(redness.argmax(), redness.shape)
    assert redness[top] > 60


def test_keys_pause_step_toggle_and_quit():
    room = classroom.Classroom(lambda frames: np.zeros((80, 80)), headless=True)
    assert (room.paused, room.panels, room.saliency, room.closed) == (False, True, False, False)
    for key in (pygame.K_p, pygame.K_n, pygame.K_t, pygame.K_s):
        room.handle([pygame.event.Event(pygame.KEYDOWN, key=key)])
    assert (room.paused, room.next_frame, room.panels, room.saliency) == (True, True, False, True)
    room.handle([pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q)])
    assert room.closed


def scripted_flaps(seed: int, frames: int) -> list[bool]:
    """A flap sequence worked out beforehand on the same seeded game: flap below the gap."""
    game_state, flaps = game.GameState(seed=seed), []
    for _ in range(frames):
        gap_bottom = game_state.lowerPipes[0]["y"] if game_state.lowerPipes[0]["x"] > 20 else \
            game_state.lowerPipes[1]["y"]
        flaps.append(game_state.playery + game_state.player_height > gap_bottom - 30)
        game_state.frame_step(game.INPUT_ACTIONS[flaps[-1]])
    return flaps


def test_play_passes_a_pipe_on_injected_key_presses():
    play = Play(seed=4, headless=True)
    space = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE)
    for flap in scripted_flaps(4, 200):
        play.step([space] if flap else [])
        assert not play.over
    assert play.game_state.score >= 2 and play.best == play.game_state.score


def test_play_after_a_crash_waits_for_a_key_and_keeps_the_best():
    play = Play(seed=4, headless=True)
    space = pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE)
    for flap in scripted_flaps(4, 120):
        play.step([space] if flap else [])
    best = play.best
    while not play.over:  # no more flaps: the bird falls
        play.step([])
    assert play.game_state.final_score == best >= 1
    for _ in range(30):  # the game waits
        play.step([])
    assert play.over and play.game_state.score == 0 and play.game_state.playery == 244
    play.step([pygame.event.Event(pygame.MOUSEBUTTONDOWN, button=1)])
    assert not play.over and play.best == best


def test_play_without_a_display_says_so_in_one_line(tmp_path):
    assert_one_line_error(qlearn_cli("-m", "Play", cwd=tmp_path), 1, "no display")


def test_saliency_png_of_a_seeded_frame_headless(tmp_path):
    process = qlearn_cli("-m", "Run", "--seed", 3, "--saliency-at", 60, "--out",
                         tmp_path / "saliency.png", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    picture = pygame.image.load(str(tmp_path / "saliency.png"))
    assert picture.get_size() == (game.SCREENWIDTH + classroom.PANEL_WIDTH, game.SCREENHEIGHT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saliency.png"]


def test_nothing_of_the_classroom_runs_unless_asked(tmp_path):
    check = ("import sys, pygame, qlearn\n"
             "qlearn.main(['-m', 'Eval', '--episodes', '1', '--max-score', '3'])\n"
             "print(pygame.display.get_init(), pygame.font.get_init())\n")
    process = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True,
                             text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    assert process.stdout.splitlines()[-1] == "False False"  # no window, no text drawn
