"""What every test module shares: the repository on sys.path, so that a bare `pytest` from the
repository imports qlearn, game and harness as `python -m pytest` does; and the helpers that run
`python qlearn.py` and check its one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def qlearn_cli(*args, cwd=REPO):
    """Run `python qlearn.py ARGS` headless; return the finished process."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, str(REPO / "qlearn.py"), *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def assert_one_line_error(process, code, *words):
    """The process ended with `code` and one line on stderr naming all `words`, no traceback."""
    assert process.returncode == code
    assert "Traceback" not in process.stderr
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and all(word in lines[0] for word in words), process.stderr
