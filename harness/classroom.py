"""Run's window, the classroom: what the network sees and thinks, drawn beside the game.

    python qlearn.py -m Run                    # the network plays; its eyes and Q-values beside
    python qlearn.py -m Run --record bird.gif  # also the first 30 seconds as a GIF
    python qlearn.py -m Run --seed 3 --saliency-at 120 --out saliency.png   # one frame, headless

Beside the game: the network's four input images (newest first), its Q-values as bars with the
chosen action marked, and the keys: P pause, N one frame while paused, T panels, S saliency
(where max Q is most sensitive, in red), Q quit. Where no display exists, the games are played
headless and only their scores printed.
"""

from pathlib import Path

import numpy as np
import pygame
import tensorflow as tf

from game import wrapped_flappy_bird as game
from game.play import DIM, draw_text, quits
from harness import UsageError, quiet_stderr
from harness.files import written_whole

PANEL_WIDTH = 200  # the panel beside the 288-pixel game
INPUT_SIZE = 80  # the network's images, drawn at their own size, two by two
# The bars' scale: a crash is -1; a bird that passes pipes forever gets 0.1 a frame and 0.9
# more at each pipe (one every 36 frames), Q up to 0.1 / (1 - 0.99) + 0.9 / (1 - 0.99 ** 36) = 13
Q_RANGE = (-1.0, 13.0)
BAR_X, BAR_WIDTH, BAR_HEIGHT = 70, 120, 14  # in the panel
INPUTS_Y, BARS_Y, KEYS_Y = 30, 272, 350  # where the panel's three parts start
ACTION_NAMES = ("nothing", "flap")  # by action index
CHOSEN, BACKGROUND = (250, 200, 40), (24, 24, 32)
SALIENCY_RED = (255, 40, 40)
KEYS = ("P  pause", "N  next frame (paused)", "T  panels on/off", "S  saliency on/off", "Q  quit")
RECORD_FRAMES = 900  # frames Run --record records (30 seconds), then it stops
SALIENCY_MAX_FRAME = 30_000  # --saliency-at plays up to this frame (over 16 minutes of game)


def saliency_function(model, network_input):
    """A compiled call: where the network looks. A state (four (80, 80) images) -> (80, 80).

    The gradient of the greedy action's Q-value with respect to the input, times the input:
    how much max Q would change if a pixel went dark, summed over the four images in size and
    scaled to a maximum of 1. The gradient alone is spread over the empty sky (beside the bird
    as much as on it); times the input, it marks the bird, pipes and ground that count.
    """
    @tf.function(input_signature=[tf.TensorSpec([1, INPUT_SIZE, INPUT_SIZE, 4], tf.uint8)])
    def saliency(stacks):
        x = tf.cast(stacks, tf.float32)  # the network's input as it is: it divides by 255
        with tf.GradientTape() as tape:
            tape.watch(x)
            best_q = tf.reduce_max(model(x, training=False))
        size = tf.reduce_sum(tf.abs(tape.gradient(best_q, x) * x)[0], axis=-1)  # (80, 80)
        return size / tf.maximum(tf.reduce_max(size), 1e-12)
    return lambda s_t: saliency(network_input([s_t])).numpy()


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


def bar_end(q_value: float) -> int:
    """The x in the panel where a Q-value's bar ends; bars start at the Q-value 0."""
    low, high = Q_RANGE
    return BAR_X + round(BAR_WIDTH * (min(max(q_value, low), high) - low) / (high - low))


class Classroom:
    """The game and, beside it, the network's input images, its Q-values and the keys.

    Opens a window, or draws `headless` on a surface of the same size (tests, the saliency
    PNG). `saliency_of(s_t)` returns the (80, 80) map that the S key overlays.
    """

    def __init__(self, saliency_of=None, headless: bool = False):
        self.window, width = not headless, game.SCREENWIDTH + PANEL_WIDTH
        if headless:
            self.surface = pygame.Surface((width, game.SCREENHEIGHT))
        elif game.open_window((width, game.SCREENHEIGHT)):
            self.surface = pygame.display.get_surface()
        else:
            raise game.NoDisplay("no display here to open a window on")
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

    def show(self, game_state, s_t: tuple, q_values, action: int) -> None:
        """Draw a frame before it is played; in a window, wait while paused, then 30 fps."""
        while True:
            if self.window:
                self.handle(pygame.event.get())
            self.draw(game_state, s_t, q_values, action)
            if not self.window:
                return
            pygame.display.update()
            self.clock.tick(game.FPS)
            if self.closed or not self.paused or self.next_frame:
                self.next_frame = False
                return

    def draw(self, game_state, s_t: tuple, q_values, action: int) -> None:
        """The game (with the saliency layer if on) and the panel, on the surface."""
        self.surface.fill(BACKGROUND)
        self.surface.blit(game_state.screen, (0, 0))
        if self.saliency:
            self.surface.blit(saliency_overlay(self.saliency_of(s_t)), (0, 0))
        game.draw_score(self.surface, game_state.score)
        panel = self.surface.subsurface((game.SCREENWIDTH, 0, PANEL_WIDTH, game.SCREENHEIGHT))
        if self.panels:
            self.draw_inputs(panel, s_t)
            self.draw_q_values(panel, q_values, action)
        state = "paused" if self.paused else "saliency on" if self.saliency else ""
        draw_text(panel, KEYS + ("", state), 10, KEYS_Y, DIM)

    def save(self, path: Path) -> None:
        """What is drawn, as a PNG. libpng reports a full disk on stderr itself: kept quiet,
        as the error that follows says it in one line."""
        with quiet_stderr(), written_whole(path) as temporary, open(temporary, "wb") as file:
            pygame.image.save(self.surface, file, "png")

    @staticmethod
    def draw_inputs(panel: pygame.Surface, s_t: tuple) -> None:
        """The four 80 x 80 images the network gets, newest first, two by two."""
        draw_text(panel, ["what the network sees"], 10, 8)
        for i, x_t in enumerate(s_t):
            x, y = 10 + (i % 2) * (INPUT_SIZE + 10), INPUTS_Y + (i // 2) * (INPUT_SIZE + 24)
            panel.blit(pygame.surfarray.make_surface(np.stack([x_t] * 3, axis=-1)), (x, y))
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


class Watch:
    """What Run does around each frame the network plays: the window (or headless play),
    --episodes, --record's GIF and --saliency-at's picture. `stopped` ends the games."""

    def __init__(self, args, model, network_input):
        self.episodes, self.played, self.frame = args.episodes, 0, 0  # frame: a time, from 0
        self.saliency_at, self.out = args.saliency_at, args.out
        self.record, self.pictures = args.record, []
        saliency_of = saliency_function(model, network_input)
        self.classroom = None
        if self.saliency_at is None:
            try:
                self.classroom = Classroom(saliency_of)
            except game.NoDisplay:
                print("Run: no display here, so the games are played headless")
        else:
            self.picture = Classroom(saliency_of, headless=True)
            self.picture.saliency = True
        self.stopped = False

    def show(self, game_state, s_t: tuple, q_values, action: int) -> None:
        """Before each frame is played: draw it, record it, or take the saliency picture."""
        if self.classroom:
            self.classroom.show(game_state, s_t, q_values, action)
            self.stopped |= self.classroom.closed
        if self.record and self.frame % 2 == 0:  # every second frame, at half size: 15 fps
            half = pygame.transform.scale(game_state.screen, (game.SCREENWIDTH // 2,
                                                              game.SCREENHEIGHT // 2))
            self.pictures.append(pygame.image.tobytes(half, "RGB"))
            self.stopped |= self.frame + 2 >= RECORD_FRAMES
        if self.frame == self.saliency_at:
            self.picture.draw(game_state, s_t, q_values, action)
            self.picture.save(self.out)
            print(f"Run: wrote {self.out}: frame {self.frame} of the game, saliency in red")
            self.stopped = True
        self.frame += 1

    def game_over(self, score: int) -> None:
        if self.saliency_at is not None and self.frame <= self.saliency_at:  # of the first game
            raise UsageError(f"the bird crashed at frame {self.frame:,} (score {score}), before "
                             f"--saliency-at {self.saliency_at:,}: no picture; give an earlier "
                             "frame or another --seed")
        self.played += 1
        if self.saliency_at is None:
            print(f"game {self.played}: score {score}", flush=True)
        self.stopped |= self.episodes is not None and self.played >= self.episodes

    def __enter__(self):
        return self

    def __exit__(self, *error) -> None:
        """Write the GIF of what was recorded, even after Ctrl-C."""
        if self.record and self.pictures:
            save_gif(self.pictures, self.record)


def save_gif(pictures: list[bytes], path: Path) -> None:
    """An animated GIF of half-size RGB frames, 15 a second; seconds to write, so said first
    (and Ctrl-C waits for it: see written_whole)."""
    from PIL import Image  # Pillow comes with scikit-image; only recording needs it

    print(f"Run: writing {path} ({len(pictures)} frames)", flush=True)
    size = (game.SCREENWIDTH // 2, game.SCREENHEIGHT // 2)
    try:
        with written_whole(path) as temporary:
            images = [Image.frombytes("RGB", size, picture) for picture in pictures]
            images[0].save(temporary, format="GIF", save_all=True, append_images=images[1:],
                           duration=1000 * 2 // game.FPS, loop=0)
    except (ValueError, KeyError) as error:  # Pillow on a name it cannot write
        raise UsageError(f"cannot write {path}: {error}") from None
    print(f"Run: wrote {path}", flush=True)
