"""Greedy evaluation: seeded games played side by side, their scores, and keep-best's rule.

The games of one evaluation share each forward pass: a frame of every game playing is one call
of the network, so ten games take the time of about five played one after another. At most
SIDE_BY_SIDE play at once, the next starting as one ends, so memory does not grow with the
number of games.
"""

import json
import random
import statistics

from game import wrapped_flappy_bird as game

SIDE_BY_SIDE = 16  # games playing at once
EVAL_MODE_EPISODES = 10  # Eval's games, unless --episodes
EVAL_MODE_MAX_SCORE = 1_000  # pipes at which an Eval game ends, unless --max-score


def greedy_scores(q_of, next_state, episodes: int, seed: int, max_score: int,
                  report=None) -> list[int]:
    """Greedy scores of `episodes` seeded games, each to a crash or `max_score` pipes.

    `q_of(states)` gives the Q-values of a list of states, `next_state(image, s_t)` the state
    after a frame (a new game's with no s_t): the lesson's own. `report(game, score)` hears of
    each game as it ends. A game's pipes depend on its seed alone, drawn in order from `seed`.
    """
    seeds = random.Random(seed)
    game_seeds = ((i, seeds.getrandbits(32)) for i in range(episodes))  # drawn as games start
    playing = {}  # game index -> (its GameState, its s_t)
    scores = [0] * episodes

    def start_next():
        for i, game_seed in game_seeds:
            game_state = game.GameState(seed=game_seed)
            playing[i] = (game_state, next_state(game_state.draw()))
            return

    for _ in range(SIDE_BY_SIDE):
        start_next()
    while playing:
        order = list(playing)  # a copy: ended games leave `playing`
        actions = q_of([playing[i][1] for i in order]).argmax(axis=1)
        for i, a_t in zip(order, actions):
            game_state, s_t = playing.pop(i)
            image, _, terminal = game_state.frame_step(game.INPUT_ACTIONS[a_t])
            if terminal or game_state.score >= max_score:
                scores[i] = game_state.final_score if terminal else game_state.score
                if report:
                    report(i + 1, scores[i])
            else:
                playing[i] = (game_state, next_state(image, s_t))
        for _ in range(SIDE_BY_SIDE - len(playing)):  # the ended games' places
            start_next()
    return scores


def summarize(scores: list[int]) -> dict:
    """The numbers an evaluation is judged by."""
    return {"episodes": len(scores), "scores": scores, "median": statistics.median(scores),
            "mean": round(statistics.fmean(scores), 2), "min": min(scores), "max": max(scores)}


def beats(result: dict, best_mean: float | None) -> bool:
    """Whether an evaluation beats the best so far: the mean decides.

    Not the median: at the cap, 6 games of 10 at 200 make a median of 200 as 10 of 10 do.
    """
    return best_mean is None or result["mean"] > best_mean


def eval_mode(q_of, next_state, episodes: int, seed: int, max_score: int) -> None:
    """Eval: score greedy games headless and uncapped in speed; the last line is JSON."""
    def report(episode, score):
        print(f"game {episode}: score {score}", flush=True)

    scores = greedy_scores(q_of, next_state, episodes, seed, max_score, report)
    print(json.dumps(summarize(scores)))
