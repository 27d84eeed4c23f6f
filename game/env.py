"""FlappyBird as a Gymnasium environment: the same game, rule for rule, seen as pixels.

    import gymnasium
    import game.env  # registers "FlappyBirdPixels-v0"

    env = gymnasium.make("FlappyBirdPixels-v0")  # or game.env.FlappyBirdEnv(max_score=100);
    # gymnasium.make("game.env:FlappyBirdPixels-v0") imports game.env itself
    obs, info = env.reset(seed=0)
    while True:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            break
    print(info["score"])

Actions are Discrete(2): 0 does nothing, 1 flaps. An observation is the screen as uint8
(512, 288, 3), height x width x RGB, the usual image layout (frame_step's image transposed).
Rewards are the game's: 0.1 alive, 1 for a pipe passed, -1 for a crash. A crash ends the
episode (terminated); reaching `max_score` pipes, if given, cuts it (truncated). An input like
qlearn.py's, four gray 80 x 80 frames, comes from Gymnasium's own wrappers: GrayscaleObservation,
ResizeObservation to (80, 80) (it needs opencv), FrameStackObservation of 4.
Importing this module needs gymnasium; importing the package `game` does not.
"""

import warnings
from typing import ClassVar

import gymnasium
import numpy as np
import pygame
from gymnasium import spaces
from gymnasium.wrappers import RenderCollection

from game import wrapped_flappy_bird as game

ENV_ID = "FlappyBirdPixels-v0"


class _GameHeldAtCrash(game.GameState):
    """The game, except that a crash stays on screen until the env starts the next game.

    GameState.frame_step calls reset() between a crash and drawing, so its image after a crash
    is the next game's first frame. Here reset() does nothing: frame_step draws the crash, and
    `new_game()` starts the next game, from the same generator, when the env is reset. No
    per-frame cost: frame_step itself is GameState's.
    """

    def __init__(self, seed: int | None = None, display: bool = False):
        super().__init__(seed, display)
        self.new_game()  # GameState.__init__'s own reset() call was held

    def reset(self) -> None:
        """Held: a crash leaves the game as it crashed (see the class)."""

    def new_game(self) -> None:
        """Start a new game: what GameState.reset() does."""
        game.GameState.reset(self)

    def __getstate__(self) -> dict:
        """Pickled (copy.deepcopy, a process's pipe) as its numbers: no pygame surfaces."""
        return {key: value for key, value in self.__dict__.items()
                if key not in ("images", "screen", "clock", "events")}

    def __setstate__(self, state: dict) -> None:
        """The same game again, drawn headless: the window stays the original's."""
        self.__dict__.update(state, display=False, events=[], images=game.load_images())
        self.screen = pygame.Surface((game.SCREENWIDTH, game.SCREENHEIGHT), 0, 32,
                                     game.SCREEN_MASKS)
        self.draw()


class FlappyBirdEnv(gymnasium.Env):
    """FlappyBird from pixels: Discrete(2) actions, (512, 288, 3) uint8 RGB observations.

    An episode is one game. At a crash, step() returns terminated=True, reward -1 and the frame
    of the crash itself (the bird on the ground or in the pipe), as Gymnasium users expect of a
    terminal observation; the next game starts only at reset(), whose first frame is the one
    GameState.frame_step would have returned at that crash. With `max_score`, the step that
    passes that many pipes returns truncated=True (a crash on the same frame is terminated).
    A step after a crash without reset() is a RuntimeError, not a crashed bird flying on; an
    action outside the action space, or a `max_score` that is not a positive whole number, is a
    ValueError. info is {"score": pipes passed in this game}; at an end, the finished game's.

    reset(seed=s) gives the game that GameState(seed=s) plays: the seed fixes every pipe;
    reset() without a seed goes on with the same generator, as GameState does after a crash.
    render_mode "rgb_array": render() returns the last observation (a copy). "human": every
    frame is shown in the game's 30 fps window with the score as it is played, and render()
    does nothing more; where no display exists (a server, CI: check_env makes every mode), it
    warns once and plays headless. A pickled or deep-copied env plays on headless.
    """

    metadata: ClassVar[dict] = {"render_modes": ["human", "rgb_array"], "render_fps": game.FPS}

    def __init__(self, render_mode: str | None = None, max_score: int | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None, 'human' or 'rgb_array', "
                             f"not {render_mode!r}")
        if max_score is not None and (not isinstance(max_score, (int, np.integer))
                                      or isinstance(max_score, bool) or max_score <= 0):
            raise ValueError(f"max_score must be None or a positive whole number of pipes, "
                             f"not {max_score!r}")
        self.render_mode = render_mode
        self.max_score = max_score
        self.action_space = spaces.Discrete(len(game.INPUT_ACTIONS))
        self.observation_space = spaces.Box(
            0, 255, (game.SCREENHEIGHT, game.SCREENWIDTH, 3), np.uint8)
        try:
            self.game = _GameHeldAtCrash(display=render_mode == "human")
        except game.NoDisplay:
            warnings.warn("no display here: render_mode 'human' shows nothing", stacklevel=2)
            self.game = _GameHeldAtCrash()
        self.crashed = False  # True from a crash to the next reset()
        self.frame = self.observe(self.game.draw())

    @staticmethod
    def observe(image: np.ndarray) -> np.ndarray:
        """frame_step's [x, y, rgb] image as [y, x, rgb]: a view of the same fresh pixels.

        frame_step's image is itself a transposed view of the screen's rows, so this is their
        natural order again; each frame has pixels of its own, so no two observations share
        memory. A contiguous copy would cost five times the whole frame_step.
        """
        return image.transpose(1, 0, 2)

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        """Start a new game; with a seed, the game GameState(seed=seed) plays."""
        super().reset(seed=seed)
        if seed is not None:
            self.game.random.seed(seed)  # as random.Random(seed) in GameState(seed=seed)
        self.game.new_game()
        self.crashed = False
        self.frame = self.observe(self.game.draw())
        return self.frame, {"score": 0}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Play one frame: 0 does nothing, 1 flaps."""
        if not self.action_space.contains(action):  # numpy integers too, but not 1.0 or [1]
            raise ValueError(f"action must be 0 (nothing) or 1 (flap), not {action!r}")
        if self.crashed:  # the game is held at its crash: a flap would lift the bird off
            raise RuntimeError("the bird has crashed: call reset() to start the next game")
        image, reward, terminated = self.game.frame_step(game.INPUT_ACTIONS[int(action)])
        self.crashed = terminated
        self.frame = self.observe(image)
        score = self.game.score
        truncated = not terminated and self.max_score is not None and score >= self.max_score
        return self.frame, float(reward), terminated, truncated, {"score": score}

    def render(self) -> np.ndarray | None:
        """rgb_array: the last frame, (512, 288, 3) uint8. human: already shown, None."""
        if self.render_mode == "rgb_array":
            return self.frame.copy()
        return None

    def close(self) -> None:
        """Close the window of "human" mode; safe to call twice."""
        if self.game.display:
            pygame.display.quit()


def make(render_mode: str | None = None, max_score: int | None = None) -> gymnasium.Env:
    """gymnasium.make's entry point: a function, so that an unknown render mode is our one
    ValueError and not Gymnasium's warning first; "rgb_array_list" as Gymnasium makes it."""
    if render_mode == "rgb_array_list":
        return RenderCollection(FlappyBirdEnv("rgb_array", max_score))
    return FlappyBirdEnv(render_mode, max_score)


# gymnasium.make("FlappyBirdPixels-v0") once this module is imported; the entry point is a
# string so that subprocess vector envs can import it, and a second import registers nothing
if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="game.env:make")
