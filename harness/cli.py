"""The command line: `python qlearn.py -m MODE [flags]`, checked before anything is touched.

Every refusal is one line on stderr and a non-zero exit: 2 for words argparse cannot read, 1 for
values or files that will not do. Ctrl-C ends a mode with 130, SIGTERM with 143 and SIGHUP with
129, as shells expect, and a closed output pipe (`| head`) with 141, as SIGPIPE would; Train
saves its checkpoint first.
"""

import argparse
import os
import signal
import sys
import warnings
from pathlib import Path

from game import wrapped_flappy_bird as game
from harness import UsageError, bookkeeping, evaluation, files, speed
from harness.checkpoints import MAX_EVAL_GAMES, MAX_EVAL_SCORE, MAX_STEPS
from harness.classroom import SALIENCY_MAX_FRAME
from harness.logbook import discard_stdout

MODES = ("Train", "Run", "Eval", "Play", "Plot")
MAX_EPISODES = 100_000  # games in one Eval or Run: more would take months
MODEL_PATH = Path(__file__).resolve().parent.parent / "model.h5"  # beside qlearn.py
FLAG_MODES = {  # the modes each flag belongs to
    "model": ("Train", "Run", "Eval", "Plot"), "steps": ("Train",), "observe": ("Train",),
    "resume": ("Train",), "seed": ("Train", "Run", "Eval", "Play"),
    "episodes": ("Train", "Run", "Eval"), "max_score": ("Train", "Eval"), "record": ("Run",),
    "run": ("Plot",), "saliency_at": ("Run",), "out": ("Run", "Plot"),
}


class Parser(argparse.ArgumentParser):
    def error(self, message):
        """A usage error is one line naming the modes, and exit 2."""
        self.exit(2, f"qlearn.py: {message} (modes: {', '.join(MODES)}; see -h)\n")


def mode_name(text: str) -> str:
    """A mode in any case: 'train', 'TRAIN' -> 'Train'."""
    for mode in MODES:
        if text.lower() == mode.lower():
            return mode
    raise argparse.ArgumentTypeError(f"unknown mode {text!r}")


def parser(steps: int, observe: int) -> Parser:
    """The flags, with the lesson's defaults for a Train run's length and observation."""
    p = Parser(prog="qlearn.py", description="Deep Q-learning for FlappyBird.")
    p.add_argument("-m", "--mode", type=mode_name, required=True,
                   help=f"{', '.join(MODES)} (any case)")
    p.add_argument("--model", type=Path, help="weights file (default: model.h5 beside qlearn.py)")
    games = bookkeeping.EVAL_EPISODES
    wins = f"{bookkeeping.wins_that_stop(games)} in {games}"
    p.add_argument("--steps", type=int, help=f"Train: frames in all (default: at most {steps:,}, "
                   f"stopping once {wins} evaluation games are won)")
    p.add_argument("--observe", type=int,
                   help=f"Train: frames of random play first (default {observe:,})")
    p.add_argument("--resume", action="store_true",
                   help="Train: go on from the latest checkpoint beside --model, with the "
                        "run's own settings")
    p.add_argument("--seed", type=int, help="Train, Eval (default 0), Run, Play: the seed")
    p.add_argument("--episodes", type=int,
                   help=f"Run: games to play (default: until closed); Eval: default "
                        f"{evaluation.EVAL_MODE_EPISODES}; Train: games per evaluation "
                        f"(default {bookkeeping.EVAL_EPISODES})")
    p.add_argument("--max-score", type=int,
                   help=f"Eval: a game ends at this many pipes (default "
                        f"{evaluation.EVAL_MODE_MAX_SCORE:,}); Train: the same in evaluations "
                        f"(default {bookkeeping.EVAL_MAX_SCORE})")
    p.add_argument("--record", type=Path, help="Run: also write the first 30 s to a GIF file")
    p.add_argument("--run", type=Path,
                   help="Plot: the run folder (default: the newest in runs/ beside --model)")
    p.add_argument("--saliency-at", type=int, metavar="FRAME",
                   help="Run: write FRAME of the game with its saliency to --out, headless")
    p.add_argument("--out", type=Path,
                   help="Plot, Run --saliency-at: the PNG to write (Run: saliency.png)")
    return p


def option(flag: str) -> str:
    """A flag's name as typed: max_score -> --max-score."""
    return "--" + flag.replace("_", "-")


def check(args, given: set, batch: int, replay_memory: int) -> None:
    """Refuse, in one line, what the mode cannot use or cannot do."""
    for flag in sorted(given):
        if args.mode not in FLAG_MODES[flag]:
            raise UsageError(f"{option(flag)} is not a flag of {args.mode} "
                             f"(it belongs to {', '.join(FLAG_MODES[flag])})")
    train = args.mode == "Train"
    most = {"steps": MAX_STEPS, "episodes": MAX_EVAL_GAMES if train else MAX_EPISODES,
            "max_score": MAX_EVAL_SCORE if train else None, "saliency_at": SALIENCY_MAX_FRAME}
    for flag, limit in most.items():  # a run that would take weeks, or never end, is a typo
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise UsageError(f"{option(flag)} must be a positive number, not {value}")
        if value is not None and limit is not None and value > limit:
            raise UsageError(f"{option(flag)} goes up to {limit:,}{' in Train' if train else ''}, "
                             f"not {value:,}")
    if not batch <= args.observe <= replay_memory:
        raise UsageError(f"--observe must be from the batch size {batch} to the replay "
                         f"memory's {replay_memory:,}, not {args.observe:,}")
    if train and not args.resume and args.observe >= args.steps:
        default = "" if "observe" in given else " (the default)"
        raise UsageError(f"--observe {args.observe:,}{default} must be below --steps "
                         f"{args.steps:,}: the run would end before it learns")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed must be from 0 to 2**32 - 1, not {args.seed}")
    if args.resume and given & {"observe", "seed"}:
        raise UsageError("--observe and --seed are the run's own on --resume")
    if args.mode == "Run" and "saliency_at" in given and "record" in given:
        raise UsageError("--record and --saliency-at do not go together")
    if args.mode == "Run" and "out" in given and "saliency_at" not in given:
        raise UsageError("--out goes with --saliency-at in Run")
    for flag in ("model", "record", "out"):
        path = getattr(args, flag)
        if path is not None and path.is_dir():
            raise UsageError(f"--{flag} {path} is a folder; it takes a file")
    for flag, suffix in (("record", ".gif"), ("out", ".png")):
        path = getattr(args, flag)
        if path is None:
            continue
        if path.suffix.lower() != suffix:
            raise UsageError(f"--{flag} writes a {suffix} file, not {path.name}")
        if not path.parent.is_dir():
            raise UsageError(f"--{flag} {path}: no folder {path.parent} to write it in")
        if not os.access(path.parent, os.W_OK):  # known now, not after the games it records
            raise UsageError(f"--{flag} {path}: cannot write in {path.parent}")
        files.check_writable(path)


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop a mode as Ctrl-C does, with their own exit codes."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)


def main(argv: list[str] | None, modes: dict, *, steps: int, observe: int, batch: int,
         replay_memory: int) -> int:
    """Parse and check the flags, then run the mode: `modes` maps Train, Run and Eval to the
    lesson's functions, each called with the checked flags. The lesson's constants: a Train
    run's frames and observation by default, and the bounds of --observe (from the minibatch's
    size to the replay memory's)."""
    args = parser(steps, observe).parse_args(argv)
    given = {flag for flag, value in vars(args).items()
             if flag != "mode" and value is not None and value is not False}
    args.model = args.model or MODEL_PATH
    args.steps_given, args.observe_range = args.steps is not None, (batch, replay_memory)
    args.steps = steps if args.steps is None else args.steps
    args.observe = observe if args.observe is None else args.observe
    if args.mode == "Run" and args.saliency_at is not None:
        args.seed, args.out = args.seed or 0, args.out or Path("saliency.png")
    if args.mode in ("Train", "Eval"):
        args.seed = args.seed or 0
    if args.mode == "Eval":  # Train's evaluations: the run's own, or bookkeeping's defaults
        if args.episodes is None:
            args.episodes = evaluation.EVAL_MODE_EPISODES
        if args.max_score is None:
            args.max_score = evaluation.EVAL_MODE_MAX_SCORE
    warnings.simplefilter("ignore")  # a library's warning is not a user's business
    stop_on_signals()
    try:
        check(args, given, batch, replay_memory)
        if args.mode == "Plot":
            from harness.plot import plot
            plot(args.model.parent / "runs", args.run, args.out)
        elif args.mode == "Play":
            from game.play import Play
            Play(args.seed).run()
        else:
            speed.configure_tensorflow()
            modes[args.mode](args)
    except BrokenPipeError:  # the reader of our output has gone: nothing more to say to it
        discard_stdout()
        return 141
    except (UsageError, OSError, game.NoDisplay) as error:
        print(f"qlearn.py: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped and saved: one more Ctrl-C
        print("qlearn.py: stopped", file=sys.stderr)  # must not kill the exit with a signal
        return 130
    return 0
