"""Greedy evaluation: seeded games played side by side, their scores, and keep-best's rule.

The games of one evaluation share the network's forward passes: a frame of every game in a lane
is one call of the network, and the game's work of one lane overlaps the network's of the
other. At most SIDE_BY_SIDE play at once, the next starting as one ends, so memory does not grow
with the number of games.
"""

import json
import random
import statistics
from concurrent.futures import ThreadPoolExecutor

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

    The games play in two lanes that take turns: while one lane's games step and preprocess
    their frames (Python, one core), the network reads the other lane's states (TensorFlow, in a
    thread of its own, the other core), so a frame of all games costs about the longer of the
    two, not their sum.
    """
    seeds = random.Random(seed)
    game_seeds = ((i, seeds.getrandbits(32)) for i in range(episodes))  # drawn as games start
    lanes = ({}, {})  # per lane: game index -> (its GameState, its s_t)
    scores = [0] * episodes

    def start_next(lane):
        for i, game_seed in game_seeds:
            game_state = game.GameState(seed=game_seed)
            lane[i] = (game_state, next_state(game_state.draw()))
            return

    def read(lane):  # the lane's games in order, and their Q-values to come (a future)
        order = list(lane)
        return order, network.submit(q_of, [lane[i][1] for i in order]) if order else None

    def play_frame(lane, order, q_values):  # each game's frame, the ended games' places refilled
        for i, a_t in zip(order, q_values.result().argmax(axis=1)):
            game_state, s_t = lane.pop(i)
            image, _, terminal = game_state.frame_step(game.INPUT_ACTIONS[a_t])
            if terminal or game_state.score >= max_score:
                scores[i] = game_state.final_score if terminal else game_state.score
                if report:
                    report(i + 1, scores[i])
            else:
                lane[i] = (game_state, next_state(image, s_t))
        for _ in range(SIDE_BY_SIDE // 2 - len(lane)):
            start_next(lane)

    with ThreadPoolExecutor(1) as network:
        for _ in range(SIDE_BY_SIDE // 2):  # games dealt to the lanes in turn
            for lane in lanes:
                start_next(lane)
        reading = [read(lane) for lane in lanes]
        while any(lanes):
            for k, lane in enumerate(lanes):
                if lane:  # its frame plays while the other lane's Q-values are computed
                    play_frame(lane, *reading[k])
                    reading[k] = read(lane)
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
