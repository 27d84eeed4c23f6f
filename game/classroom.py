"""The classroom: what the network sees and thinks, drawn beside the game; and human play.

    python qlearn.py -m Run     # the network plays; its eyes, Q-values and saliency beside it
    python qlearn.py -m Play    # you play: space, up or a click flaps

Pure drawing on pygame surfaces: no TensorFlow here. Run's loop in qlearn.py hands each frame's
inputs, Q-values and action to Classroom.show; Play is the game under a person's keys.
"""

from functools import cache
from pathlib import Path

import numpy as np
import pygame

from game import wrapped_flappy_bird as game

PANEL_WIDTH = 200  # the panel beside the 288-pixel game
INPUT_SIZE = 80  # the network's frames, drawn at their own size, two by two
Q_RANGE = (-1.0, 10.0)  # bar scale: a crash is -1, passing pipes forever 0.1 / (1 - 0.99) = 10
BAR_X, BAR_WIDTH, BAR_HEIGHT = 70, 120, 14  # in the panel
INPUTS_Y, BARS_Y, KEYS_Y = 30, 272, 350  # where the panel's three parts start
ACTION_NAMES = ("nothing", "flap")  # by action index, as in qlearn.py
TEXT, DIM, CHOSEN, BACKGROUND = (235, 235, 235), (120, 120, 120), (250, 200, 40), (24, 24, 32)
SALIENCY_RED = (255, 40, 40)
RUN_KEYS = ("P  pause", "N  next frame (paused)", "T  panels on/off", "S  saliency on/off",
            "Q  quit")
PLAY_KEYS = ("space, up or a click: flap", "Q: quit")
FLAP_KEYS = (pygame.K_SPACE, pygame.K_UP)


def open_window(width: int) -> pygame.Surface:
    """A window `width` wide and as tall as the game; game.NoDisplay where none can open."""
    if not game.open_window((width, game.SCREENHEIGHT)):
        raise game.NoDisplay("no display here to open a window on")
    return pygame.display.get_surface()


@cache
def font(size: int = 18) -> pygame.font.Font:
    """pygame's own font, loaded once per size: no system fonts needed."""
    pygame.font.init()
    return pygame.font.Font(None, size)


def draw_text(surface: pygame.Surface, lines, x: int, y: int, color=TEXT, size: int = 18) -> None:
    """Lines of text, one under the other, from (x, y)."""
    writer = font(size)
    for line in lines:
        surface.blit(writer.render(line, True, color), (x, y))
        y += writer.get_linesize()


def saliency_overlay(saliency: np.ndarray) -> pygame.Surface:
    """An (80, 80) [x, y] map in [0, 1] as a layer the size of the screen: the game dimmed,
    the salient pixels in red."""
    strength = np.sqrt(np.clip(saliency, 0, 1))  # the faint parts show too
    layer = pygame.Surface((INPUT_SIZE, INPUT_SIZE), pygame.SRCALPHA)
    color, alpha = pygame.surfarray.pixels3d(layer), pygame.surfarray.pixels_alpha(layer)
    color[:] = (strength[..., None] * SALIENCY_RED).astype(np.uint8)
    alpha[:] = (140 + 115 * strength).astype(np.uint8)
    del color, alpha  # unlock the layer
    return pygame.transform.smoothscale(layer, (game.SCREENWIDTH, game.SCREENHEIGHT))


def quits(event: pygame.event.Event) -> bool:
    """Closing the window, Q or Escape."""
    return event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and
                                         event.key in (pygame.K_q, pygame.K_ESCAPE))


def bar_end(q_value: float) -> int:
    """The x in the panel where a Q-value's bar ends; bars start at the Q-value 0."""
    low, high = Q_RANGE
    return BAR_X + round(BAR_WIDTH * (min(max(q_value, low), high) - low) / (high - low))


class Classroom:
    """Run's window: the game, and beside it the network's four input frames (newest first),
    its Q-values as bars with the chosen action marked, and the keys.

    Opens a window, or draws `headless` on a surface of the same size (tests, the saliency PNG).
    `saliency_of(frames)` returns the (80, 80) map that the S key overlays.
    """

    def __init__(self, saliency_of=None, headless: bool = False):
        self.window, width = not headless, game.SCREENWIDTH + PANEL_WIDTH
        self.surface = (pygame.Surface((width, game.SCREENHEIGHT)) if headless else
                        open_window(width))
        self.saliency_of = saliency_of
        self.clock = pygame.time.Clock()
        self.paused = self.next_frame = False
        self.panels, self.saliency, self.closed = True, False, False

    def handle(self, events) -> None:
        """The keys: P pause, N one frame while paused, T panels, S saliency, Q or closing quit."""
        for event in events:
            if quits(event):
                self.closed = True
            elif event.type == pygame.KEYDOWN:
                self.paused ^= event.key == pygame.K_p
                self.next_frame |= event.key == pygame.K_n
                self.panels ^= event.key == pygame.K_t
                self.saliency ^= event.key == pygame.K_s and self.saliency_of is not None

    def show(self, game_state, frames: tuple, q_values, action: int) -> None:
        """Draw a frame before it is played; in a window, wait while paused, then 30 fps."""
        while True:
            if self.window:
                self.handle(pygame.event.get())
            self.draw(game_state, frames, q_values, action)
            if not self.window:
                return
            pygame.display.update()
            self.clock.tick(game.FPS)
            if self.closed or not self.paused or self.next_frame:
                self.next_frame = False
                return

    def draw(self, game_state, frames: tuple, q_values, action: int) -> None:
        """The game (with the saliency layer if on) and the panel, on the surface."""
        self.surface.fill(BACKGROUND)
        self.surface.blit(game_state.screen, (0, 0))
        if self.saliency:
            self.surface.blit(saliency_overlay(self.saliency_of(frames)), (0, 0))
        game.draw_score(self.surface, game_state.score)
        panel = self.surface.subsurface((game.SCREENWIDTH, 0, PANEL_WIDTH, game.SCREENHEIGHT))
        if self.panels:
            self.draw_inputs(panel, frames)
            self.draw_q_values(panel, q_values, action)
        state = "paused" if self.paused else "saliency on" if self.saliency else ""
        draw_text(panel, RUN_KEYS + ("", state), 10, KEYS_Y, DIM)

    def save(self, path: Path) -> None:
        """What is drawn, as a PNG, whatever the file's name."""
        with open(path, "wb") as file:
            pygame.image.save(self.surface, file, "png")

    @staticmethod
    def draw_inputs(panel: pygame.Surface, frames: tuple) -> None:
        """The four 80 x 80 frames the network gets, newest first, two by two."""
        draw_text(panel, ["what the network sees"], 10, 8)
        for i, frame in enumerate(frames):
            x, y = 10 + (i % 2) * (INPUT_SIZE + 10), INPUTS_Y + (i // 2) * (INPUT_SIZE + 24)
            panel.blit(pygame.surfarray.make_surface(np.stack([frame] * 3, axis=-1)), (x, y))
            draw_text(panel, ["now" if i == 0 else f"{i} before"], x, y + INPUT_SIZE + 4, DIM)

    @staticmethod
    def draw_q_values(panel: pygame.Surface, q_values, action: int) -> None:
        """One bar per action from Q = 0, the chosen one bright and marked."""
        draw_text(panel, ["Q-values"], 10, BARS_Y - 26)
        zero = bar_end(0.0)
        for index, (name, value) in enumerate(zip(ACTION_NAMES, q_values)):
            y = BARS_Y + index * (BAR_HEIGHT + 12)
            color = CHOSEN if index == action else DIM
            end = bar_end(float(value))
            panel.fill(color, (min(zero, end), y, abs(end - zero) or 1, BAR_HEIGHT))
            draw_text(panel, [("> " if index == action else "  ") + name], 4, y, color)
            draw_text(panel, [f"{float(value):.2f}"], BAR_X + BAR_WIDTH - 36, y + BAR_HEIGHT, DIM,
                      14)


class Play:
    """A person plays: space, up or a click flaps; after a crash, a key starts the next game.

    `step(events)` plays one frame on those events; run() feeds it the window's at 30 fps.
    Opens the game's window, or draws `headless` on a surface of the same size (tests).
    """

    def __init__(self, seed: int | None = None, headless: bool = False):
        self.surface = (pygame.Surface((game.SCREENWIDTH, game.SCREENHEIGHT)) if headless else
                        open_window(game.SCREENWIDTH))
        self.game_state = game.GameState(seed=seed)
        self.best = self.last = 0
        self.over = self.closed = False

    def step(self, events) -> None:
        """One frame: read the keys, play (unless the game is over), draw."""
        flap = start = False
        for event in events:
            self.closed |= quits(event)
            flap |= (event.type == pygame.MOUSEBUTTONDOWN or
                     event.type == pygame.KEYDOWN and event.key in FLAP_KEYS)
            start |= event.type in (pygame.KEYDOWN, pygame.MOUSEBUTTONDOWN)
        if self.over:
            self.over = not start  # the game behind is already the next one, waiting
        else:
            score = self.game_state.score  # a crash starts the next game at once: keep this one's
            _, _, terminal = self.game_state.frame_step(game.ACTIONS[int(flap)])
            if terminal:
                self.over, self.last, self.best = True, score, max(self.best, score)
            else:
                self.best = max(self.best, self.game_state.score)
        self.draw()

    def draw(self) -> None:
        """The game, its score, the best score and the keys; after a crash, how to go on."""
        self.surface.blit(self.game_state.screen, (0, 0))
        game.draw_score(self.surface, self.game_state.score)
        draw_text(self.surface, [f"best {self.best}"], 10, 10)
        draw_text(self.surface, PLAY_KEYS, 10, game.SCREENHEIGHT - 40, DIM)
        if self.over:
            draw_text(self.surface, [f"crashed at {self.last}", "press a key to play again"],
                      40, game.SCREENHEIGHT // 2 - 60, size=28)

    def run(self) -> None:
        """Play in the window until it closes or Q."""
        clock = pygame.time.Clock()
        while not self.closed:
            self.step(pygame.event.get())
            pygame.display.update()
            clock.tick(game.FPS)
