"""The training loop's boring book-keeping, one call per frame: checkpoints, evaluations and
keep-best, the progress bar and the logs. Also where a run starts or resumes.

    books = Bookkeeping(args, model, q_of, next_state, EXPLORE)   # starts or resumes
    with books:                                  # saves at the end, at Ctrl-C or a kill
        while t < books.steps:
            ...                                  # the lesson
            books.after_frame(t, updates, learning, epsilon, loss, max_q)
"""

from harness import UsageError, checkpoints, files, speed
from harness.evaluation import beats, greedy_scores, summarize
from harness.logbook import Logbook

SAVE_EVERY = 10_000  # frames between checkpoints
EVAL_EVERY = 25_000  # frames between greedy evaluations, once learning has started
EVAL_EPISODES = 10  # games per evaluation; a model kept for its scores is less often lucky
EVAL_MAX_SCORE = 200  # pipes at which an evaluation game counts as won
EVAL_SEED = 2016  # the evaluation games' seed


class Bookkeeping:
    """A training run's files and output around the loop."""

    def __init__(self, args, model, q_of, next_state, explore: int):
        self.model, self.model_path, self.explore = model, args.model, explore
        self.q_of, self.next_state = q_of, next_state
        self.latest_path = checkpoints.paths(args.model)[0]
        checkpoints.check_paths(args.model, args.resume)
        self.lock = checkpoints.lock(args.model)
        if args.resume:
            state = self.resume(args)
        else:
            eval_games = [args.episodes or EVAL_EPISODES, args.max_score or EVAL_MAX_SCORE]
            state = checkpoints.start(args.model, args.seed, args.steps, args.observe,
                                      eval_games)
        self.state, self.steps, self.seed = state, state["steps"], state["seed"]
        self.frame, self.updates, self.observe = state["frame"], state["updates"], state["observe"]
        self.learning, self.evaluated_at = False, None
        run_dir = args.model.parent / "runs" / state["run"]
        self.logbook = Logbook(run_dir, self.frame, self.steps, state["minutes"])
        print(f"Train: {self.steps:,} frames, seed {self.seed}, observe {self.observe:,}, "
              f"model {args.model}, logs in {run_dir}", flush=True)

    def resume(self, args) -> dict:
        """The run's own state and latest weights; --steps and the evaluations may change."""
        state = checkpoints.load(args.model, args.observe_range)
        files.load_weights(self.model, self.latest_path)
        print(f"Train: resuming {state['run']} at frame {state['frame']:,}")
        if args.steps_given:
            if args.steps < state["frame"]:
                raise UsageError(f"--steps {args.steps:,} ends before the run's frame "
                                 f"{state['frame']:,}")
            state["steps"] = args.steps
        eval_games = [args.episodes or state["eval"][0], args.max_score or state["eval"][1]]
        if eval_games != state["eval"]:
            print(f"Train: evaluations change to {eval_games[0]} games to {eval_games[1]} "
                  "pipes: the best so far is judged anew")
            state.update(eval=eval_games, best_mean=None)
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
        above 0: a model that passes no pipe has not learned, and replaces nothing."""
        episodes, max_score = self.state["eval"]
        result = summarize(greedy_scores(self.q_of, self.next_state, episodes, EVAL_SEED,
                                         max_score))
        self.evaluated_at, saved = self.frame, None
        if result["mean"] > 0 and beats(result, self.state["best_mean"]):
            files.save_weights(self.model, self.model_path, self.set_aside)
            self.state.update(best_mean=result["mean"], kept=checkpoints.stamp(self.model_path))
            saved = self.model_path.name
        self.logbook.evaluation(self.frame, result, self.state["best_mean"], saved)

    def set_aside(self) -> None:
        """Once this run's first best model is written whole: rename the one it replaces."""
        aside = checkpoints.set_aside(self.model_path, self.state)
        if aside:
            self.logbook.print(f"Train: the model that was in {self.model_path.name} is kept "
                               f"as {aside.name}")

    def save_checkpoint(self) -> None:
        files.save_weights(self.model, self.latest_path)
        self.state.update(frame=self.frame, updates=self.updates,
                          minutes=round(self.logbook.minutes(), 2))
        checkpoints.save(self.model_path, self.state)
        speed.release_free_memory()

    def __exit__(self, kind, error, traceback) -> None:
        """At the end: a last evaluation, then the checkpoint. Interrupted: the checkpoint."""
        try:
            if kind is None and self.learning and self.evaluated_at != self.frame:
                self.evaluate_and_keep_best()
            if kind is None or issubclass(kind, (KeyboardInterrupt, SystemExit)):
                self.save_checkpoint()
        finally:
            self.logbook.close()
            self.lock.close()
        if kind is not None:
            if issubclass(kind, (KeyboardInterrupt, SystemExit)):
                print(f"Train: stopped at frame {self.frame:,}; checkpoint in "
                      f"{self.latest_path.name}, go on with --resume", flush=True)
            return
        kept = (f"best model in {self.model_path.name}" if self.state["kept"] else
                f"no model kept: no evaluation passed a pipe (learning starts after "
                f"{self.observe:,} frames)")
        print(f"Train: done at frame {self.frame:,} in {self.logbook.minutes():.1f} minutes; "
              f"{kept}; latest in {self.latest_path.name}", flush=True)
