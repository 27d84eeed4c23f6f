"""Human play: the same game under a person's keys, in its own window.

    python qlearn.py -m Play    # space, up or a click flaps; Q quits

No agent here: Play is the game and a person.
"""

from functools import cache

import pygame

from game import wrapped_flappy_bird as game

TEXT, DIM = (235, 235, 235), (120, 120, 120)
PLAY_KEYS = ("space, up or a click: flap", "Q: quit")
FLAP_KEYS = (pygame.K_SPACE, pygame.K_UP)


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


def quits(event: pygame.event.Event) -> bool:
    """Closing the window, Q or Escape."""
    return event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and
                                         event.key in (pygame.K_q, pygame.K_ESCAPE))


class Play:
    """A person plays: space, up or a click flaps; after a crash, a key starts the next game.

    `step(events)` plays one frame on those events; run() feeds it the window's at 30 fps.
    Opens the game's window, or draws `headless` on a surface of the same size (tests).
    """

    def __init__(self, seed: int | None = None, headless: bool = False):
        if headless:
            self.surface = pygame.Surface((game.SCREENWIDTH, game.SCREENHEIGHT))
        elif game.open_window():
            self.surface = pygame.display.get_surface()
        else:
            raise game.NoDisplay("no display here to open a window on")
        self.game_state = game.GameState(seed=seed)
        self.best = 0
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
            _, _, terminal = self.game_state.frame_step(game.INPUT_ACTIONS[int(flap)])
            self.over = terminal  # a pipe may be passed on the frame of the crash: both count
            self.best = max(self.best, self.game_state.score, self.game_state.final_score)
        self.draw()

    def draw(self) -> None:
        """The game, its score, the best score and the keys; after a crash, how to go on."""
        self.surface.blit(self.game_state.screen, (0, 0))
        game.draw_score(self.surface, self.game_state.score)
        draw_text(self.surface, [f"best {self.best}"], 10, 10)
        draw_text(self.surface, PLAY_KEYS, 10, game.SCREENHEIGHT - 40, DIM)
        if self.over:
            draw_text(self.surface, [f"crashed at {self.game_state.final_score}",
                                     "press a key to play again"],
                      40, game.SCREENHEIGHT // 2 - 60, size=28)

    def run(self) -> None:
        """Play in the window until it closes or Q."""
        clock = pygame.time.Clock()
        while not self.closed:
            self.step(pygame.event.get())
            pygame.display.update()
            clock.tick(game.FPS)
