"""The training loop's boring book-keeping, one call per frame: checkpoints, evaluations and
keep-best, the progress bar and the logs. Also where a run starts or resumes, and ends.

    books = Bookkeeping(args, model, played, q_of, next_state, EXPLORE)   # starts or resumes
    with books:                      # however the loop ends, the checkpoint is saved
        while t < books.steps and not books.learned:
            ...                                  # the lesson
            books.after_frame(t, updates, learning, epsilon, loss, max_q)
"""

import math
import os

from harness import UsageError, checkpoints, files, speed
from harness.evaluation import beats, greedy_scores, summarize
from harness.logbook import Logbook, last_line

SAVE_EVERY = 10_000  # frames between checkpoints
EVAL_EVERY = 5_000  # frames between greedy evaluations, once learning has started
EVAL_EPISODES = 10  # games per evaluation; a model kept for its scores is less often lucky
EVAL_MAX_SCORE = 100  # pipes at which an evaluation game ends, won (150: the same birds, slower)
EVAL_SEED = 2016  # the evaluation games' seed
EVAL_WINS = 0.9  # share of an evaluation's games at the cap that ends a default run (0.8: weaker)


def wins_that_stop(episodes: int) -> int:
    """How many of an evaluation's games must reach the cap to end a default-length run."""
    return math.ceil(EVAL_WINS * episodes)


class Bookkeeping:
    """A training run's files and output around the loop."""

    def __init__(self, args, model, played, q_of, next_state, explore: int):
        """`model` learns: the checkpoints hold its latest weights. `played` plays the
        evaluations (`q_of` gives its Q-values) and is the model kept: Train's average."""
        self.model, self.played, self.model_path, self.explore = model, played, args.model, explore
        self.q_of, self.next_state = q_of, next_state
        self.latest_path = checkpoints.paths(args.model)[0]
        self.lock = checkpoints.Lock(args.model)
        try:  # a refusal leaves no lock file behind
            if args.resume:
                state = self.resume(args)
            else:
                eval_games = [args.episodes or EVAL_EPISODES, args.max_score or EVAL_MAX_SCORE]
                state = checkpoints.start(args.model, args.seed, args.steps, args.observe,
                                          eval_games, until_learned=not args.steps_given)
            checkpoints.check_paths(args.model, state["run"])
            aside = None if args.resume else checkpoints.set_aside_run(args.model, state["run"])
            if aside:
                print(f"Train: the finished run's latest weights and state are kept as "
                      f"{' and '.join(path.name for path in checkpoints.paths(aside)[:2])}; "
                      f"extend it with --model {aside.name} --resume")
            if args.model.exists() and state["kept"] != checkpoints.stamp(args.model):
                print(f"Train: {args.model.name} holds a model this run did not make: it stays "
                      f"there until an evaluation of this run passes a pipe, then moves to "
                      f"{checkpoints.aside(args.model, state['run']).name}")
            run_dir = args.model.parent / "runs" / state["run"]
            self.logbook = Logbook(run_dir, state["frame"], state["steps"], state["minutes"])
            print(f"Train: {state['steps']:,} frames, seed {state['seed']}, observe "
                  f"{state['observe']:,}, model {args.model}, logs in {run_dir}", flush=True)
        except BaseException:
            self.lock.release()
            raise
        self.state, self.steps, self.seed = state, state["steps"], state["seed"]
        self.frame, self.updates, self.observe = state["frame"], state["updates"], state["observe"]
        self.learning = False
        self.learned = False  # an evaluation says the bird plays: the run may stop early

    def resume(self, args) -> dict:
        """The run's own state and latest weights; --steps and the evaluations may change."""
        state = checkpoints.load(args.model, args.observe_range)
        files.load_weights(self.model, self.latest_path)
        frame, observe = state["frame"], state["observe"]
        if args.steps_given:
            # the replay memory starts empty: the first `observe` frames only refill it
            if args.steps < frame or 0 < args.steps - frame < observe:
                raise UsageError(f"--steps {args.steps:,} on a run at frame {frame:,}: give "
                                 f"{frame:,} to end it there, or {frame + observe:,} or more "
                                 f"(a resumed run refills its replay memory for {observe:,} "
                                 "frames before it learns)")
            state["steps"], state["until_learned"] = args.steps, False  # all those frames
        print(f"Train: resuming {state['run']} at frame {frame:,}")
        eval_games = [args.episodes or state["eval"][0], args.max_score or state["eval"][1]]
        if eval_games != state["eval"]:
            print(f"Train: evaluations change to {eval_games[0]} games to {eval_games[1]} "
                  "pipes: the best so far is judged anew")
            state.update(eval=eval_games, best_mean=None, evaluated=None)
        return state

    def __enter__(self):
        return self

    def game_over(self, t: int, score: int) -> None:
        self.logbook.game(t, score)

    def after_frame(self, t: int, updates: int, learning: bool, epsilon: float, loss,
                    max_q) -> None:
        self.frame, self.updates, self.learning = t, updates, learning
        if t % SAVE_EVERY == 0:
            self.save_checkpoint()
        if learning and t % EVAL_EVERY == 0:
            self.evaluate_and_keep_best()
        phase = ("observe" if not learning else
                 "explore" if t < self.observe + self.explore else "train")
        self.logbook.frame(t, phase, epsilon, loss, max_q)

    def evaluate_and_keep_best(self) -> None:
        """Play the evaluation games greedily; keep the model if its mean is the best yet and
        above 0: a model that passes no pipe has not learned, and replaces nothing. Counted as
        evaluated once its model is kept. The run stops there, finished, once the best mean is
        every game's cap (no later model could be kept) or, in a run of the default length
        (no --steps), once EVAL_WINS of its games reach the cap: the bird has learned. (Half,
        the median, stopped runs at birds that lost half their games to another seed.)"""
        episodes, max_score = self.state["eval"]
        result = summarize(greedy_scores(self.q_of, self.next_state, episodes, EVAL_SEED,
                                         max_score))
        saved = None
        if result["mean"] > 0 and beats(result, self.state["best_mean"]):
            files.save_weights(self.played, self.model_path, self.set_aside)
            self.state.update(best_mean=result["mean"], kept=checkpoints.stamp(self.model_path))
            saved = self.model_path.name
        self.state["evaluated"] = self.frame
        wins = sum(score >= max_score for score in result["scores"])
        learned = wins >= wins_that_stop(episodes) and self.state["until_learned"]
        if self.state["best_mean"] == max_score or learned:  # done: a new run may start
            self.learned, self.state["steps"] = True, self.frame
        self.logbook.evaluation(self.frame, result, self.state["best_mean"], saved)

    def set_aside(self) -> None:
        """Once this run's first best model is written whole: rename the one it replaces."""
        aside = checkpoints.set_aside(self.model_path, self.state)
        if aside:
            self.logbook.print(f"Train: the model that was in {self.model_path.name} is kept "
                               f"as {aside.name}")

    def save_checkpoint(self) -> None:
        self.state.update(frame=self.frame, updates=self.updates,
                          minutes=round(self.logbook.minutes(), 2))
        checkpoints.save(self.model_path, self.state, self.model)
        speed.release_free_memory()

    def __exit__(self, kind, error, traceback) -> None:
        """However the loop ended (its last frame, Ctrl-C, SIGTERM, SIGHUP, a closed pipe, an
        error), save the checkpoint first; at the last frame, then evaluate the latest weights
        (unless that frame was) and save again. A signal or an error in that work stops it, the
        checkpoint kept. The last lines say which model the model file holds, where the
        checkpoint is and how to go on."""
        saved, stop = False, error
        try:
            with files.signals_held():  # a second Ctrl-C waits until the first is saved
                self.save_checkpoint()
                saved = True
            if kind is None and checkpoints.evaluation_owed(self.state):
                self.evaluate_and_keep_best()
                self.save_checkpoint()
        except BaseException as late:
            stop = late
        finally:
            with files.signals_held():
                self.lock.release()
                self.logbook.close()
                for line in (self.models(), self.stopped() if stop else self.done()):
                    if saved and line:
                        last_line(line)
        if stop is not error:
            raise stop

    def models(self) -> str | None:
        """Which model the model file holds now, and where the one it replaced went."""
        name = self.model_path.name
        if not self.state["kept"]:
            return f"Train: {name} is as it was: this run kept no model" if (
                self.model_path.exists()) else None
        line = (f"Train: {name} holds this run's best model (an evaluation mean of "
                f"{self.state['best_mean']} pipes, games to {self.state['eval'][1]})")
        replaced = checkpoints.aside_name(self.model_path, self.state["run"])
        if replaced.exists():
            line += (f"; the model it replaced is {replaced.name}, to watch: python qlearn.py "
                     f"-m Run --model {os.path.relpath(replaced)}")
        return line

    def stopped(self) -> str:
        return (f"Train: stopped at frame {self.frame:,}; checkpoint in {self.latest_path.name}, "
                "go on with --resume")

    def done(self) -> str:
        evaluated = self.state["evaluated"] is not None
        kept = (f"best model in {self.model_path.name}" if self.state["kept"] else
                "no model kept: no evaluation passed a pipe" if evaluated else
                f"no model kept: it never learned (learning starts after {self.observe:,} "
                "frames)")
        stop = f"frame {self.frame:,}"
        if self.learned and self.frame < self.steps:  # stopped early by an evaluation
            episodes, max_score = self.state["eval"]
            why = (f"every evaluation game reached {max_score} pipes: no later model could "
                   "replace this one" if self.state["best_mean"] == max_score else
                   f"{wins_that_stop(episodes)} or more of {episodes} evaluation games "
                   f"reached {max_score} pipes: the bird has learned")
            stop += f" of {self.steps:,} ({why})"
        return (f"Train: done at {stop} in {self.logbook.minutes():.1f} minutes; "
                f"{kept}; latest in {self.latest_path.name} (more frames: --resume --steps)")
