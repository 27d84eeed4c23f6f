"""FlappyBird as the original Keras-FlappyBird's wrapper played it, rule for rule, headless.

    from game import wrapped_flappy_bird as game
    game_state = game.GameState(seed=0)
    image, reward, terminal = game_state.frame_step([0, 1])   # [1, 0] nothing, [0, 1] flaps

`image` is the screen as uint8 (288, 512, 3), indexed [x, y, rgb]; rewards are 0.1 alive,
1 for a pipe passed, -1 for a crash, after which the game starts anew by itself: `score` is
then the new game's (0) and `final_score` the finished game's.
Frames are uncapped and drawn off-screen; GameState(display=True) also shows them in a
30 fps window with the score. The attribute names (playery, upperPipes, ...) are the
original's public API, camelCase kept on purpose.
"""

import os
import random
import sys
from functools import cache
from itertools import cycle
from pathlib import Path

import numpy as np
import pygame

FPS = 30  # frames per second, only when a person watches
SCREENWIDTH = 288
SCREENHEIGHT = 512
PIPEGAPSIZE = 100  # pixels between the upper and the lower pipe
BASEY = SCREENHEIGHT * 0.79  # top of the ground, 404.48
PIPE_GAP_YS = [20, 30, 40, 50, 60, 70, 80, 90]  # a gap's top, above int(BASEY * 0.2)
PIPE_VEL_X = -4  # pixels per frame
PLAYER_MAX_VEL_Y = 10  # fastest fall, pixels per frame
PLAYER_ACC_Y = 1  # gravity, pixels per frame per frame
PLAYER_FLAP_ACC = -9  # vertical speed right after a flap
PLAYER_X = int(SCREENWIDTH * 0.2)  # 57: the bird never moves sideways
WING_CYCLE = [0, 1, 2, 1]  # animation index: wing up, mid, down, mid
SCORE_Y = SCREENHEIGHT * 0.1  # where the window draws the score

SCREEN_MASKS = (0xFF, 0xFF00, 0xFF0000, 0)  # 32-bit pixels whose bytes are R, G, B, unused
SPRITES = Path(__file__).resolve().parent.parent / "assets" / "sprites"
INPUT_ACTIONS = ((1, 0), (0, 1))  # frame_step's one-hot input_actions: do nothing, flap


class NoDisplay(RuntimeError):
    """A window was asked for where none can open (no screen, or SDL's dummy drivers)."""


@cache
def load_images() -> dict:
    """The sprites, loaded once on first use, and their collision masks (alpha > 0 is solid)."""
    def load(name):
        return pygame.image.load(str(SPRITES / name))

    # the opaque background, copied once into the screen's pixel format so it blits fast
    background = pygame.Surface((SCREENWIDTH, SCREENHEIGHT), 0, 32, SCREEN_MASKS)
    background.blit(load("background-black.png"), (0, 0))
    pipe = load("pipe-green.png")
    images = {
        "background": background,
        "base": load("base.png"),
        "player": [load(f"redbird-{wing}flap.png") for wing in ("up", "mid", "down")],
        "pipe": [pygame.transform.rotate(pipe, 180), pipe],  # upper, lower
        "numbers": [load(f"{digit}.png") for digit in range(10)],
    }
    images["player_masks"] = [pygame.mask.from_surface(s, 0) for s in images["player"]]
    images["pipe_masks"] = [pygame.mask.from_surface(s, 0) for s in images["pipe"]]
    return images


class GameState:
    """One FlappyBird game after another; `frame_step` plays a frame."""

    def __init__(self, seed: int | None = None, display: bool = False):
        self.random = random.Random(seed)  # a seed fixes the whole pipe sequence
        self.images = load_images()
        self.display = display
        self.events = []  # the window's events of the last frame, for a caller to read
        self.closed = False  # True once a person has closed the window
        if display:
            if not open_window():
                raise NoDisplay("no display available to open a window on")
            self.clock = pygame.time.Clock()
        self.screen = pygame.Surface((SCREENWIDTH, SCREENHEIGHT), 0, 32, SCREEN_MASKS)
        self.player_height = self.images["player"][0].get_height()
        self.player_width = self.images["player"][0].get_width()
        self.pipe_width = self.images["pipe"][0].get_width()
        self.pipe_height = self.images["pipe"][0].get_height()
        self.score = 0  # pipes passed in this game
        self.reset()

    def reset(self) -> None:
        """End the game (its score becomes final_score) and start a new one: score 0, the bird
        mid-screen, two new pipe pairs. A crash calls it; so may a caller, to stop a game."""
        self.final_score = self.score  # the last finished game's score (0 before any)
        self.score = self.playerIndex = self.loopIter = 0
        self.wing = cycle(WING_CYCLE)  # each game's own, so a seed alone fixes a game
        self.playerx = PLAYER_X
        self.playery = int((SCREENHEIGHT - self.player_height) / 2)
        self.playerVelY = 0
        self.playerFlapped = False
        self.basex = 0
        self.baseShift = self.images["base"].get_width() - self.images["background"].get_width()
        upper1, lower1 = self.random_pipe()
        upper2, lower2 = self.random_pipe()
        upper1["x"] = lower1["x"] = SCREENWIDTH
        upper2["x"] = lower2["x"] = SCREENWIDTH + SCREENWIDTH // 2
        self.upperPipes = [upper1, upper2]
        self.lowerPipes = [lower1, lower2]

    def random_pipe(self) -> tuple[dict, dict]:
        """A new pipe pair just off the right edge, its gap at one of eight heights."""
        gap_y = PIPE_GAP_YS[self.random.randint(0, len(PIPE_GAP_YS) - 1)] + int(BASEY * 0.2)
        x = SCREENWIDTH + 10
        return {"x": x, "y": gap_y - self.pipe_height}, {"x": x, "y": gap_y + PIPEGAPSIZE}

    def frame_step(self, input_actions) -> tuple:
        """Play one frame. Returns (image, reward, terminal); image is uint8 (288, 512, 3)."""
        flap = action_index(input_actions) == 1
        if self.display:
            self.events = pygame.event.get()
            self.closed |= any(event.type == pygame.QUIT for event in self.events)
        reward = 0.1
        terminal = False

        if flap and self.playery > -2 * self.player_height:
            self.playerVelY = PLAYER_FLAP_ACC
            self.playerFlapped = True

        # a pipe is passed when its middle reaches the bird's middle
        player_mid = self.playerx + self.player_width / 2
        for pipe in self.upperPipes:
            pipe_mid = pipe["x"] + self.pipe_width / 2
            if pipe_mid <= player_mid < pipe_mid + 4:
                self.score += 1
                reward = 1

        # wing animation and the ground's scroll
        if (self.loopIter + 1) % 3 == 0:
            self.playerIndex = next(self.wing)
        self.loopIter = (self.loopIter + 1) % 30
        self.basex = -((-self.basex + 100) % self.baseShift)

        # gravity, unless the bird has just flapped; the ground and the ceiling stop it
        if self.playerVelY < PLAYER_MAX_VEL_Y and not self.playerFlapped:
            self.playerVelY += PLAYER_ACC_Y
        self.playerFlapped = False
        self.playery += min(self.playerVelY, BASEY - self.playery - self.player_height)
        self.playery = max(self.playery, 0)

        # pipes move left; a new pair comes as the first nears the left edge, leaves past it
        for upper, lower in zip(self.upperPipes, self.lowerPipes):
            upper["x"] += PIPE_VEL_X
            lower["x"] += PIPE_VEL_X
        if 0 < self.upperPipes[0]["x"] < 5:
            upper, lower = self.random_pipe()
            self.upperPipes.append(upper)
            self.lowerPipes.append(lower)
        if self.upperPipes[0]["x"] < -self.pipe_width:
            self.upperPipes.pop(0)
            self.lowerPipes.pop(0)

        if self.crashed():
            terminal = True
            self.reset()
            reward = -1

        image = self.draw()
        return image, reward, terminal

    def crashed(self) -> bool:
        """True when the bird touches the ground or a pipe's solid pixels touch its own."""
        if self.playery + self.player_height >= BASEY - 1:
            return True
        bird = self.images["player_masks"][self.playerIndex]
        upper_mask, lower_mask = self.images["pipe_masks"]
        for upper, lower in zip(self.upperPipes, self.lowerPipes):
            for pipe, mask in ((upper, upper_mask), (lower, lower_mask)):
                offset = (int(pipe["x"]) - self.playerx, int(pipe["y"]) - int(self.playery))
                if bird.overlap(mask, offset):
                    return True
        return False

    def draw(self):
        """Draw the frame and return it as the network sees it: no score, [x, y, rgb]."""
        images = self.images
        self.screen.blit(images["background"], (0, 0))
        upper_sprite, lower_sprite = images["pipe"]
        for upper, lower in zip(self.upperPipes, self.lowerPipes):
            self.screen.blit(upper_sprite, (upper["x"], upper["y"]))
            self.screen.blit(lower_sprite, (lower["x"], lower["y"]))
        self.screen.blit(images["base"], (self.basex, BASEY))
        self.screen.blit(images["player"][self.playerIndex], (self.playerx, self.playery))
        if self.display:
            self.show()
        # the same as pygame.surfarray.array3d(self.screen), a copy, but 20 times faster
        rows = np.frombuffer(bytearray(self.screen.get_buffer()), np.uint8)
        rows = rows.reshape(SCREENHEIGHT, self.screen.get_pitch() // 4, 4)
        return rows[:, :SCREENWIDTH, :3].transpose(1, 0, 2)

    def show(self) -> None:
        """Show the frame in the window with the score on top, at most FPS frames a second."""
        window = pygame.display.get_surface()
        window.blit(self.screen, (0, 0))
        draw_score(window, self.score)
        pygame.display.update()
        self.clock.tick(FPS)


def draw_score(surface: pygame.Surface, score: int) -> None:
    """The score in the digit sprites, centred at the top of the game."""
    digits = [load_images()["numbers"][int(d)] for d in str(score)]
    x = (SCREENWIDTH - sum(digit.get_width() for digit in digits)) / 2
    for digit in digits:
        surface.blit(digit, (x, SCORE_Y))
        x += digit.get_width()


def action_index(input_actions) -> int:
    """0 for [1, 0] (do nothing), 1 for [0, 1] (flap); anything else is a ValueError."""
    try:
        return INPUT_ACTIONS.index(tuple(input_actions))
    except (TypeError, ValueError):
        raise ValueError(
            "input_actions must be a one-hot array of length 2: [1, 0] to do nothing "
            f"or [0, 1] to flap, not {input_actions!r}"
        ) from None


def open_window(size: tuple[int, int] = (SCREENWIDTH, SCREENHEIGHT)) -> bool:
    """Open the game window (288 x 512, or `size`); False where no display exists."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    # Draw the window in software: SDL would otherwise probe OpenGL, and Mesa's LLVM clashes
    # with TensorFlow's in the same process (a segmentation fault on Linux).
    os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")
    try:
        pygame.display.init()
        # SDL falls back to drivers that draw nowhere; a person would see nothing
        if pygame.display.get_driver() in ("offscreen", "dummy"):
            raise pygame.error("no screen")
        pygame.display.set_mode(size)
    except pygame.error:
        pygame.display.quit()
        return False
    pygame.display.set_caption("Flappy Bird")
    return True
