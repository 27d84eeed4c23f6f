"""The FlappyBird game the agent learns on: `from game import wrapped_flappy_bird as game`.

Importing the package does nothing: no pygame.init, no window, no assets loaded.
"""

import os

# pygame greets on import; a library imported by a training script should stay quiet.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
