"""Draw this project's sprites with pygame and write them to assets/sprites/.

Run: python assets/make_sprites.py

Every sprite is drawn here, pixel by pixel or with pygame.draw, so the art is our own.
File names and sizes are the original game's; every pixel is fully opaque or fully
transparent, so collision masks (alpha > 0 is solid) and blits are exact.
"""

from pathlib import Path

import pygame

SPRITES = Path(__file__).resolve().parent / "sprites"

CLEAR = (0, 0, 0, 0)
OUTLINE = (40, 24, 24, 255)
RED = (214, 58, 44, 255)
DARK_RED = (160, 34, 30, 255)
WHITE = (250, 250, 250, 255)
ORANGE = (250, 150, 30, 255)
PIPE_GREEN = (96, 190, 50, 255)
PIPE_LIGHT = (160, 230, 100, 255)
PIPE_DARK = (50, 120, 30, 255)
SAND = (222, 214, 150, 255)
SAND_DARK = (200, 188, 120, 255)
GRASS = (110, 200, 60, 255)
GRASS_DARK = (80, 160, 40, 255)

# Seven-segment layout of the score digits: which of the segments
# top, upper-left, upper-right, middle, lower-left, lower-right, bottom are lit.
SEGMENTS = {
    0: "1110111", 2: "1011101", 3: "1011011", 4: "0111010",
    5: "1101011", 6: "1101111", 7: "1010010", 8: "1111111", 9: "1111011",
}


def new_sprite(width: int, height: int) -> pygame.Surface:
    """A fully transparent surface with an alpha channel."""
    surface = pygame.Surface((width, height), pygame.SRCALPHA, 32)
    surface.fill(CLEAR)
    return surface


def draw_bird(wing: str) -> pygame.Surface:
    """A round red bird facing right, 34 x 24, its wing up, level or down."""
    bird = new_sprite(34, 24)
    pygame.draw.ellipse(bird, OUTLINE, (1, 2, 30, 21))
    pygame.draw.ellipse(bird, RED, (2, 3, 28, 19))
    pygame.draw.ellipse(bird, DARK_RED, (6, 14, 18, 7))
    # eye: white with a black pupil looking ahead
    pygame.draw.circle(bird, OUTLINE, (22, 8), 6)
    pygame.draw.circle(bird, WHITE, (22, 8), 5)
    pygame.draw.rect(bird, OUTLINE, (24, 6, 2, 4))
    # beak
    pygame.draw.polygon(bird, OUTLINE, [(26, 11), (33, 13), (33, 16), (26, 18)])
    pygame.draw.polygon(bird, ORANGE, [(27, 12), (32, 14), (32, 15), (27, 17)])
    # wing: three positions, the animation's index 0, 1, 2
    wing_points = {
        "up": [(3, 11), (10, 2), (15, 4), (14, 12)],
        "mid": [(1, 10), (14, 9), (15, 14), (3, 15)],
        "down": [(3, 12), (14, 12), (12, 21), (6, 22)],
    }[wing]
    pygame.draw.polygon(bird, WHITE, wing_points)
    pygame.draw.polygon(bird, OUTLINE, wing_points, 1)
    return bird


def draw_pipe() -> pygame.Surface:
    """A green pipe, 52 x 320, opening upwards: a rim on a narrower body."""
    pipe = new_sprite(52, 320)
    pygame.draw.rect(pipe, OUTLINE, (2, 20, 48, 300))
    pygame.draw.rect(pipe, PIPE_GREEN, (3, 20, 46, 300))
    pygame.draw.rect(pipe, PIPE_LIGHT, (8, 20, 6, 300))
    pygame.draw.rect(pipe, PIPE_DARK, (40, 20, 7, 300))
    pygame.draw.rect(pipe, OUTLINE, (0, 0, 52, 24))
    pygame.draw.rect(pipe, PIPE_GREEN, (1, 1, 50, 22))
    pygame.draw.rect(pipe, PIPE_LIGHT, (5, 1, 6, 22))
    pygame.draw.rect(pipe, PIPE_DARK, (42, 1, 8, 22))
    return pipe


def draw_base() -> pygame.Surface:
    """The ground, 336 x 112, opaque: striped grass on sand, so scrolling shows."""
    base = new_sprite(336, 112)
    base.fill(SAND)
    pygame.draw.rect(base, OUTLINE, (0, 0, 336, 2))
    pygame.draw.rect(base, GRASS, (0, 2, 336, 12))
    for x in range(-12, 336, 12):
        pygame.draw.polygon(base, GRASS_DARK, [(x, 13), (x + 6, 13), (x + 12, 2), (x + 6, 2)])
    pygame.draw.rect(base, OUTLINE, (0, 14, 336, 2))
    for y in range(28, 112, 18):
        for x in range(0, 336, 24):
            pygame.draw.rect(base, SAND_DARK, (x + (y // 18) % 2 * 12, y, 8, 3))
    return base


def draw_background() -> pygame.Surface:
    """The black background, 288 x 512: the network sees only bird, pipes and ground."""
    background = pygame.Surface((288, 512), 0, 32)
    background.fill((0, 0, 0))
    return background


def draw_digit(digit: int) -> pygame.Surface:
    """A white seven-segment digit with a black outline, 24 x 36 (the 1 is 16 x 36)."""
    if digit == 1:
        sprite = new_sprite(16, 36)
        pygame.draw.rect(sprite, OUTLINE, (4, 0, 10, 36))
        pygame.draw.rect(sprite, WHITE, (6, 2, 6, 32))
        return sprite
    sprite = new_sprite(24, 36)
    top, upper_left, upper_right, middle, lower_left, lower_right, bottom = (
        lit == "1" for lit in SEGMENTS[digit]
    )
    bars = [
        (top, (2, 0, 20, 8)), (middle, (2, 14, 20, 8)), (bottom, (2, 28, 20, 8)),
        (upper_left, (0, 0, 8, 22)), (lower_left, (0, 14, 8, 22)),
        (upper_right, (16, 0, 8, 22)), (lower_right, (16, 14, 8, 22)),
    ]
    for lit, (x, y, w, h) in bars:
        if lit:
            pygame.draw.rect(sprite, OUTLINE, (x, y, w, h))
    for lit, (x, y, w, h) in bars:
        if lit:
            pygame.draw.rect(sprite, WHITE, (x + 2, y + 2, w - 4, h - 4))
    return sprite


def main() -> None:
    SPRITES.mkdir(parents=True, exist_ok=True)
    sprites = {
        "redbird-upflap.png": draw_bird("up"),
        "redbird-midflap.png": draw_bird("mid"),
        "redbird-downflap.png": draw_bird("down"),
        "pipe-green.png": draw_pipe(),
        "base.png": draw_base(),
        "background-black.png": draw_background(),
    }
    sprites.update({f"{digit}.png": draw_digit(digit) for digit in range(10)})
    for name, surface in sprites.items():
        pygame.image.save(surface, str(SPRITES / name))
        print(f"wrote {SPRITES / name} ({surface.get_width()} x {surface.get_height()})")


if __name__ == "__main__":
    main()
