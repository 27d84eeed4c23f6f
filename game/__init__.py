"""FlappyBird, the game the agent learns on, and its ways in:

    from game import wrapped_flappy_bird as game   # the game: frame_step(one_hot) per frame
    from game.play import Play                     # a person plays it, in a window
    import game.env                                # the same game as a Gymnasium environment

Importing the package does nothing: no pygame.init, no window, no assets loaded, no gymnasium.
No agent here: the network, its inputs and its window live in qlearn.py and harness/.
"""

import os

# pygame greets on import; a library imported by a training script should stay quiet.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
