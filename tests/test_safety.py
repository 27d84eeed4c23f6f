"""Nothing a user made is lost: models, checkpoints and files under bad input, signals, a second
run, a full disk; memory that does not grow with the work. Headless."""

import json
import os
import resource
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, qlearn_cli

import qlearn
from game import wrapped_flappy_bird as game
from harness import (
    UsageError,
    bookkeeping,
    checkpoints,
    classroom,
    cli,
    evaluation,
    files,
    logbook,
    plot,
)

SHIPPED = qlearn.cli.MODEL_PATH


def copy_of_shipped(folder, name="model.h5"):
    (folder / name).write_bytes(SHIPPED.read_bytes())
    return folder / name


def headless_unbuffered() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return env | {"PYTHONUNBUFFERED": "1"}


def ctrl_c_as_on_a_terminal():
    """In a child before it starts: SIGINT as a terminal's Ctrl-C gives it, even where these
    tests run as a background job, which a shell starts with SIGINT ignored (and that the
    program then rightly keeps ignoring)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_train(folder, *flags):
    """A long Train in the background, returned once its loop runs."""
    env = headless_unbuffered()
    process = subprocess.Popen([sys.executable, str(REPO / "qlearn.py"), "-m", "Train",
                                "--steps", "100000", "--model", str(folder / "model.h5"),
                                *flags], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=ctrl_c_as_on_a_terminal)
    for line in process.stdout:
        if line.startswith("Train: 100,000 frames"):
            break
    time.sleep(3)  # into the loop
    return process


def train_args(folder, **flags) -> SimpleNamespace:
    """Train's checked flags: a 60-frame run, evaluated on one game to one pipe."""
    return SimpleNamespace(**{
        "model": folder / "model.h5", "resume": False, "seed": 0, "steps": 60, "observe": 40,
        "episodes": 1, "max_score": 1, "steps_given": False, "observe_range": (32, 30_000),
    } | flags)


def new_books(folder, **flags) -> bookkeeping.Bookkeeping:
    """A Train's bookkeeping, in this process, around a network that has not learned."""
    model = qlearn.buildmodel()
    return bookkeeping.Bookkeeping(train_args(folder, **flags), model, model,
                                   qlearn.q_function(model), qlearn.next_state, qlearn.EXPLORE)


def same_weights(path, data: bytes) -> bool:
    """Whether the model file at `path` holds the weights of the file bytes `data`."""
    other = path.with_name("other.h5")
    other.write_bytes(data)
    pairs = zip(qlearn.load_model(path).get_weights(), qlearn.load_model(other).get_weights())
    other.unlink()
    return all(np.array_equal(a, b) for a, b in pairs)


def state_of(folder) -> dict:
    return json.loads((folder / "model.train.json").read_text())


def leftovers(folder) -> list:
    return sorted(path.name for path in folder.iterdir() if path.suffix in (".lock", ".tmp"))


@pytest.fixture
def sigterm_stops():
    """SIGTERM as the command line has it (exit 143), for a test to send itself."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    yield
    signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- models are never destroyed


def test_a_run_that_passes_no_pipe_leaves_the_model_alone(tmp_path, monkeypatch, capsys):
    model = copy_of_shipped(tmp_path)

    def no_pipe(q_of, next_state, episodes, *rest):
        return [0] * episodes

    monkeypatch.setattr(bookkeeping, "greedy_scores", no_pipe)
    for _ in range(2):  # the second over the first, finished
        with new_books(tmp_path) as books:
            books.after_frame(60, 4, True, 0.1, 0.0, 0.0)
        assert "no model kept: no evaluation passed a pipe" in capsys.readouterr().out
    assert model.read_bytes() == SHIPPED.read_bytes()
    assert [path.name for path in tmp_path.glob("model.before-*.h5")
            if not path.name.endswith(".latest.h5")] == []


def test_train_says_what_happens_to_a_model_it_did_not_make_and_which_one_it_left(
        tmp_path, monkeypatch, capsys):
    copy_of_shipped(tmp_path)

    def every_game_to_the_cap(q_of, next_state, episodes, seed, max_score):
        return [max_score] * episodes

    monkeypatch.setattr(bookkeeping, "greedy_scores", every_game_to_the_cap)
    with new_books(tmp_path) as books:
        start = capsys.readouterr().out
        books.after_frame(60, 4, True, 0.1, 0.0, 0.0)
    run = books.state["run"]
    assert (f"model.h5 holds a model this run did not make: it stays there until an evaluation "
            f"of this run passes a pipe, then moves to model.before-{run}.h5") in start
    *_, models, last = capsys.readouterr().out.splitlines()
    assert models == (f"Train: model.h5 holds this run's best model (an evaluation mean of 1.0 "
                      f"pipes, games to 1); the model it replaced is model.before-{run}.h5, to "
                      f"watch: python qlearn.py -m Run --model "
                      f"{os.path.relpath(tmp_path / f'model.before-{run}.h5')}")
    assert last.startswith("Train: done at frame 60")
    assert (tmp_path / f"model.before-{run}.h5").read_bytes() == SHIPPED.read_bytes()


def test_the_kept_model_is_the_played_one_and_the_checkpoint_the_learning_one(
        tmp_path, monkeypatch):
    model, played = qlearn.buildmodel(), qlearn.buildmodel()  # two different first weights
    monkeypatch.setattr(bookkeeping, "greedy_scores", lambda q_of, *rest: [1])
    with bookkeeping.Bookkeeping(train_args(tmp_path), model, played, qlearn.q_function(played),
                                 qlearn.next_state, qlearn.EXPLORE) as books:
        books.after_frame(60, 4, True, 0.1, 0.0, 0.0)
    kept = qlearn.load_model(tmp_path / "model.h5").get_weights()
    latest = qlearn.load_model(tmp_path / "model.latest.h5").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(kept, played.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(latest, model.get_weights()))
    assert not np.array_equal(kept[0], latest[0])


def test_a_run_that_keeps_no_model_says_the_model_file_is_as_it_was(tmp_path, capsys):
    copy_of_shipped(tmp_path)
    with new_books(tmp_path):
        pass
    assert "Train: model.h5 is as it was: this run kept no model" in capsys.readouterr().out


def test_a_train_over_a_finished_run_sets_its_files_aside(tmp_path):
    first = qlearn_cli("-m", "Train", "--steps", 45, "--observe", 40,
                       "--model", tmp_path / "model.h5")
    assert first.returncode == 0, first.stderr
    latest = (tmp_path / "model.latest.h5").read_bytes()
    state = (tmp_path / "model.train.json").read_text()
    second = qlearn_cli("-m", "Train", "--steps", 45, "--observe", 40,
                        "--model", tmp_path / "model.h5")
    assert second.returncode == 0, second.stderr
    (aside,) = tmp_path.glob("model.before-bird-*.latest.h5")  # the first run's, kept
    stem = aside.name[:-len(".latest.h5")]
    assert aside.read_bytes() == latest and (tmp_path / f"{stem}.train.json").read_text() == state
    assert f"extend it with --model {stem}.h5 --resume" in second.stdout
    assert leftovers(tmp_path) == []


def shipped_checkpoint(folder):
    """A finished 45-frame run whose latest weights are the shipped model's: resumed, it passes
    pipes at once, and so keeps a model."""
    process = qlearn_cli("-m", "Train", "--steps", 45, "--observe", 40,
                         "--model", folder / "model.h5")
    assert process.returncode == 0, process.stderr
    (folder / "model.latest.h5").write_bytes(SHIPPED.read_bytes())


def resume(folder, steps: int, max_score: int):
    process = qlearn_cli("-m", "Train", "--resume", "--steps", steps, "--episodes", 1,
                         "--max-score", max_score, "--model", folder / "model.h5")
    assert process.returncode == 0, process.stderr
    return process


def test_a_run_sets_aside_a_model_it_did_not_make_each_time_it_meets_one(tmp_path):
    shipped_checkpoint(tmp_path)
    (tmp_path / "model.h5").write_bytes(b"a user's own file" * 1000)
    first = resume(tmp_path, 85, 2)  # 40 frames refill the memory, no update: the shipped bird
    (aside,) = tmp_path.glob("model.before-bird-*.h5")
    assert aside.name in first.stdout and aside.read_bytes() == b"a user's own file" * 1000
    qlearn.load_model(tmp_path / "model.h5")
    (tmp_path / "model.h5").write_bytes(SHIPPED.read_bytes())  # the user puts another there
    resume(tmp_path, 125, 3)  # the same: judged anew, a better model than none
    kept = {path.read_bytes() for path in tmp_path.glob("model*.h5")}
    assert {b"a user's own file" * 1000, SHIPPED.read_bytes()} <= kept
    assert len(list(tmp_path.glob("model.before-*.h5"))) == 2


def test_a_train_over_an_unfinished_run_refuses_and_says_resume(tmp_path):
    model = copy_of_shipped(tmp_path)
    process = start_train(tmp_path, "--observe", "100")
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    again = qlearn_cli("-m", "Train", "--model", model)
    assert_one_line_error(again, 1, "unfinished run", "--resume")


# ---------------------------------------------------------------- signals, locks, resume


def test_sigterm_saves_a_checkpoint_and_exits_143_and_a_second_train_waits(tmp_path):
    process = start_train(tmp_path, "--observe", "100")
    second = qlearn_cli("-m", "Train", "--model", tmp_path / "model.h5", cwd=tmp_path)
    assert_one_line_error(second, 1, "another Train is running")
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 143
    state = json.loads((tmp_path / "model.train.json").read_text())
    assert state["frame"] > 0 and f"stopped at frame {state['frame']:,};" in out
    assert "model.latest.h5" in out and "--resume" in out
    qlearn.load_model(tmp_path / "model.latest.h5")


def test_sighup_saves_a_checkpoint_and_exits_129(tmp_path):
    process = start_train(tmp_path, "--observe", "100")
    process.send_signal(signal.SIGHUP)  # the terminal it ran in was closed
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 129
    state = json.loads((tmp_path / "model.train.json").read_text())
    assert f"stopped at frame {state['frame']:,};" in out
    qlearn.load_model(tmp_path / "model.latest.h5")


def test_ctrl_c_while_tensorflow_loads_exits_130_without_a_traceback():
    process = subprocess.Popen([sys.executable, str(REPO / "qlearn.py"), "-m", "Eval"],
                               env=headless_unbuffered(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=ctrl_c_as_on_a_terminal)
    time.sleep(1)  # Python is up; TensorFlow takes seconds to load
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert out == ""  # stopped before Eval began: its first line is TensorFlow's device
    assert process.returncode == 130 and err == ""


def test_ctrl_c_in_eval_exits_130():
    env = headless_unbuffered()
    process = subprocess.Popen([sys.executable, str(REPO / "qlearn.py"), "-m", "Eval",
                                "--episodes", "500"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=ctrl_c_as_on_a_terminal)
    process.stdout.readline()  # TensorFlow's device line: the mode has started
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err


def test_a_killed_train_leaves_no_lock_stuck(tmp_path):
    process = start_train(tmp_path)
    process.kill()
    process.wait()
    again = qlearn_cli("-m", "Train", "--steps", 45, "--observe", 40,
                       "--model", tmp_path / "model.h5")
    assert again.returncode == 0, again.stderr


def test_resume_keeps_the_runs_observe_and_steps(tmp_path):
    first = qlearn_cli("-m", "Train", "--steps", 60, "--observe", 50,
                       "--model", tmp_path / "model.h5")
    assert first.returncode == 0, first.stderr
    state = json.loads((tmp_path / "model.train.json").read_text())
    state["frame"] = 40  # as if stopped there
    (tmp_path / "model.train.json").write_text(json.dumps(state))
    process = qlearn_cli("-m", "Train", "--resume", "--model", tmp_path / "model.h5")
    assert process.returncode == 0, process.stderr
    state = json.loads((tmp_path / "model.train.json").read_text())
    assert (state["frame"], state["steps"], state["observe"]) == (60, 60, 50)


@pytest.mark.parametrize("content", [
    '{"run": "x"}', "[1, 2]", "not json", '{"frame": "10"}', "\x00\xff\x12",
])
def test_a_checkpoint_of_another_shape_is_one_line(tmp_path, content):
    (tmp_path / "model.train.json").write_text(content, errors="surrogateescape")
    process = qlearn_cli("-m", "Train", "--resume", "--model", tmp_path / "model.h5")
    assert_one_line_error(process, 1, "not a Train checkpoint")


@pytest.mark.parametrize("observe", [5, 10_000_000])
def test_a_checkpoint_with_an_observation_the_command_line_refuses_is_refused(tmp_path,
                                                                             observe):
    first = qlearn_cli("-m", "Train", "--steps", 45, "--observe", 40,
                       "--model", tmp_path / "model.h5")
    assert first.returncode == 0, first.stderr
    state = json.loads((tmp_path / "model.train.json").read_text())
    (tmp_path / "model.train.json").write_text(json.dumps(state | {"observe": observe,
                                                                   "steps": 100}))
    process = qlearn_cli("-m", "Train", "--resume", "--model", tmp_path / "model.h5")
    assert_one_line_error(process, 1, "not a Train checkpoint")


def test_a_checkpoint_whose_run_name_is_a_path_is_refused(tmp_path):
    first = qlearn_cli("-m", "Train", "--steps", 45, "--observe", 40,
                       "--model", tmp_path / "model.h5")
    assert first.returncode == 0, first.stderr
    state = json.loads((tmp_path / "model.train.json").read_text())
    state["run"] = "../../outside"
    (tmp_path / "model.train.json").write_text(json.dumps(state))
    process = qlearn_cli("-m", "Train", "--resume", "--model", tmp_path / "model.h5")
    assert_one_line_error(process, 1, "not a Train checkpoint")
    assert not (tmp_path.parent / "outside").exists()


# ---------------------------------------------------------------- a full disk


def small_files():
    """For the child: files may grow to 2 MB only (a full disk, as a write sees it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))


def test_a_full_disk_is_one_line_and_leaves_the_old_files(tmp_path):
    model = copy_of_shipped(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    process = subprocess.run([sys.executable, str(REPO / "qlearn.py"), "-m", "Train", "--steps",
                              "45", "--observe", "40", "--episodes", "1", "--max-score", "1",
                              "--model", str(model)], env=env, capture_output=True, text=True,
                             preexec_fn=small_files, timeout=600)
    assert_one_line_error(process, 1, "cannot write", "File too large")
    assert not list(tmp_path.glob("*.tmp"))
    assert model.read_bytes() == SHIPPED.read_bytes()


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("seed", ["-1", "4294967296", "1180591620717411303424"])
def test_a_seed_out_of_range_is_refused_before_anything_moves(tmp_path, seed):
    model = copy_of_shipped(tmp_path)
    process = qlearn_cli("-m", "Train", "--seed", seed, "--model", model)
    assert_one_line_error(process, 1, "--seed", seed)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.h5"]


@pytest.mark.parametrize("flags, modes", [
    (["-m", "Eval", "--record", "x.gif"], "Run"),
    (["-m", "Run", "--steps", "10"], "Train"),
    (["-m", "Eval", "--resume"], "Train"),
    (["-m", "Plot", "--seed", "3"], "Train, Run, Eval, Play"),
    (["-m", "Run", "--max-score", "3"], "Train, Eval"),
])
def test_a_flag_of_another_mode_is_refused_naming_its_modes(tmp_path, flags, modes):
    process = qlearn_cli(*flags, cwd=tmp_path)
    assert_one_line_error(process, 1, "not a flag of", modes)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flags, words", [
    (["-m", "Run", "--saliency-at", "3", "--out", "model.h5"], ("--out", ".png")),
    (["-m", "Run", "--record", "model.h5"], ("--record", ".gif")),
    (["-m", "Run", "--record", "clip.mp4"], ("--record", ".gif")),
    (["-m", "Plot", "--out", "curve.jpg"], ("--out", ".png")),
    (["-m", "Eval", "--episodes", "20000000"], ("--episodes", "100,000")),
])
def test_a_picture_never_goes_under_a_models_or_another_formats_name(tmp_path, flags, words):
    model = copy_of_shipped(tmp_path)
    process = qlearn_cli(*flags, "--model", model, cwd=tmp_path)
    assert_one_line_error(process, 1, *words)
    assert model.read_bytes() == SHIPPED.read_bytes()


def test_saliency_far_beyond_any_game_is_refused(tmp_path):
    process = qlearn_cli("-m", "Run", "--saliency-at", 1_000_000_000, cwd=tmp_path)
    assert_one_line_error(process, 1, "--saliency-at", "30,000")


@pytest.mark.parametrize("flags", [["-m", "Train", "--model", "."],
                                   ["-m", "Eval", "--model", "folder"],
                                   ["-m", "Run", "--saliency-at", "5", "--out", "folder"],
                                   ["-m", "Plot", "--out", "folder"]])
def test_a_folder_where_a_file_goes_is_refused_and_left_alone(tmp_path, flags):
    (tmp_path / "folder").mkdir()
    process = qlearn_cli(*flags, cwd=tmp_path)
    assert_one_line_error(process, 1, "is a folder")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder"]
    assert os.listdir(tmp_path / "folder") == []


def test_a_folder_where_train_keeps_a_file_is_refused_before_it_trains(tmp_path):
    (tmp_path / "model.latest.h5").mkdir()
    process = qlearn_cli("-m", "Train", "--model", tmp_path / "model.h5")
    assert_one_line_error(process, 1, "model.latest.h5", "folder")


def test_a_model_file_of_numbers_that_are_not_numbers_is_one_line(tmp_path):
    import h5py
    model = copy_of_shipped(tmp_path)
    with h5py.File(model, "r+") as f:
        name = f["dense_1"].attrs["weight_names"][1]
        del f["dense_1"][name]
        f["dense_1"][name] = np.array(["x", "y"], dtype="S1")
    process = qlearn_cli("-m", "Eval", "--model", model)
    assert_one_line_error(process, 1, "cannot load weights")


def test_a_model_file_of_any_name_loads(tmp_path):
    model = copy_of_shipped(tmp_path, "model.h5.bak")
    process = qlearn_cli("-m", "Eval", "--episodes", 1, "--max-score", 5, "--model", model)
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout.splitlines()[-1])["scores"] == [5]


@pytest.mark.parametrize("name", ["other.weights.h5", "other.keras"])
def test_a_keras_file_of_another_kind_is_one_line_without_warnings(tmp_path, name):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    if name.endswith(".keras"):
        other.save(tmp_path / name)
    else:
        other.save_weights(tmp_path / name)
    process = qlearn_cli("-m", "Eval", "--model", tmp_path / name)
    assert_one_line_error(process, 1, "cannot load weights", name)


def write_run(folder, games: str, evals: str | None = None):
    run = folder / "runs" / "bird-1"
    run.mkdir(parents=True)
    (run / "games.csv").write_bytes(games.encode("latin-1"))
    if evals is not None:
        (run / "evals.csv").write_text(evals)
    return run


@pytest.mark.parametrize("games", ["frame,minutes,score\n1,0.1,x\n2,0.2,3\n",
                                   "\x00\xff\xfe\x80binary",
                                   "frame,minutes,score\n1,0.1,\n",
                                   "a,b\n1,2\n3,4\n"])
def test_plot_of_a_bad_games_csv_is_one_line(tmp_path, games):
    run = write_run(tmp_path, games)
    with pytest.raises(UsageError, match="games.csv: not a CSV file of a training run"):
        plot.read_csv(run / "games.csv", ("frame", "minutes", "score"))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_plot_of_a_games_csv_with_a_non_number_names_its_line(tmp_path, value):
    run = write_run(tmp_path, f"frame,minutes,score\r\n1,0.1,0\r\n2,0.2,{value}\r\n3,0.3,1\r\n")
    with pytest.raises(UsageError, match=f"games.csv: line 3 has score {value}"):
        plot.read_csv(run / "games.csv", ("frame", "minutes", "score"))


def test_plot_leaves_out_a_last_line_cut_off(tmp_path):
    run = write_run(tmp_path, "frame,minutes,score\r\n1,0.1,0\r\n2,0.2,3\r\n3,0.")
    games = plot.read_csv(run / "games.csv", ("frame", "minutes", "score"))
    assert games["score"].tolist() == [0, 3] and games["frame"].tolist() == [1, 2]


def test_plot_says_matplotlib_is_missing_before_it_reads_the_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    write_run(tmp_path, "not read")
    with pytest.raises(UsageError, match="Plot needs matplotlib"):
        plot.plot(tmp_path / "runs", None, None)


@pytest.mark.parametrize("out", ["curve.xyz", "curve"])
def test_plot_writes_only_png(tmp_path, out):
    write_run(tmp_path, "frame,minutes,score\n1,0.1,0\n2,0.2,3\n")
    process = qlearn_cli("-m", "Plot", "--model", tmp_path / "model.h5", "--out",
                         tmp_path / out)
    assert_one_line_error(process, 1, ".png")
    assert not (tmp_path / out).exists()


# ---------------------------------------------------------------- memory and small things


def test_eval_plays_at_most_side_by_side_games_at_once(monkeypatch):
    alive, most = set(), [0]
    real = game.GameState

    class Counted(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            alive.add(id(self))
            most[0] = max(most[0], len(alive))

        def __del__(self):
            alive.discard(id(self))

    monkeypatch.setattr(game, "GameState", Counted)

    def q_of(states):  # always nothing: each game ends at its first pipe's height
        return np.tile([1.0, 0.0], (len(states), 1))

    scores = evaluation.greedy_scores(q_of, qlearn.next_state, 60, 0, 10)
    assert scores == [0] * 60
    assert most[0] <= evaluation.SIDE_BY_SIDE + 1  # and the one whose game has just ended


def test_recording_keeps_small_half_size_frames_only(tmp_path):
    args = SimpleNamespace(episodes=None, saliency_at=None, out=None, record=tmp_path / "x.gif")
    watch = classroom.Watch(args, qlearn.buildmodel(), qlearn.network_input)
    state = game.GameState(seed=0)
    tracemalloc.start()
    while not watch.stopped:
        watch.show(state, None, (0.0, 0.0), 0)
        state.frame_step([1, 0])
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(watch.pictures) == classroom.RECORD_FRAMES // 2
    assert held < 60e6  # 900 full frames held 400 MB
    watch.__exit__(None, None, None)
    assert (tmp_path / "x.gif").stat().st_size > 10_000


def test_time_left_is_shown_past_24_hours():
    assert logbook.clock(90_061) == "25:01:01" and logbook.clock(59) == "0:00:59"


# ---------------------------------------------------------------- however a Train ends


@pytest.mark.parametrize("error", [BrokenPipeError(32, "Broken pipe"), KeyboardInterrupt(),
                                   SystemExit(143), UsageError("cannot write model.h5"),
                                   ValueError("a bug in the logging")])
def test_however_the_loop_stops_the_checkpoint_is_saved_and_the_last_line_says_where(
        tmp_path, capsys, error):
    books = new_books(tmp_path)
    with pytest.raises(type(error)), books:
        books.after_frame(50, 2, True, 0.1, 0.0, 0.0)
        raise error
    assert (state_of(tmp_path)["frame"], state_of(tmp_path)["updates"]) == (50, 2)
    assert state_of(tmp_path)["evaluated"] is None  # nothing was evaluated, nothing says so
    qlearn.load_model(tmp_path / "model.latest.h5")
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Train: stopped at frame 50; checkpoint in model.latest.h5, go on with --resume")
    assert leftovers(tmp_path) == []


def test_a_signal_in_the_last_evaluation_keeps_the_checkpoint_and_resume_evaluates(
        tmp_path, capsys, monkeypatch):
    def sigterm(*args):
        raise SystemExit(143)  # what SIGTERM raises, in the middle of the games

    monkeypatch.setattr(bookkeeping, "greedy_scores", sigterm)
    books = new_books(tmp_path)
    with pytest.raises(SystemExit), books:
        books.after_frame(60, 4, True, 0.1, 0.0, 0.0)  # the last frame: the loop ends
    assert (state_of(tmp_path)["frame"], state_of(tmp_path)["evaluated"]) == (60, None)
    assert "stopped at frame 60; checkpoint in" in capsys.readouterr().out
    with pytest.raises(UsageError, match="unfinished run .its last evaluation cut short"):
        new_books(tmp_path)  # a new run does not start over it
    monkeypatch.undo()
    with new_books(tmp_path, resume=True):
        pass  # no frame left to play: the evaluation owed, then the end
    out = capsys.readouterr().out.splitlines()
    assert [line.split("  scores")[0] for line in out if line.startswith("eval")] == [
        "eval    frame 60"]
    assert out[-1].startswith("Train: done at frame 60") and "never learned" not in out[-1]
    assert state_of(tmp_path)["evaluated"] == 60 and leftovers(tmp_path) == []


def test_a_run_that_never_learned_says_so_not_that_evaluations_failed(tmp_path, capsys):
    with new_books(tmp_path, steps=41) as books:
        books.after_frame(41, 0, True, 1.0, 0.0, 0.0)
    last = capsys.readouterr().out.splitlines()[-1]
    assert "no model kept: it never learned (learning starts after 40 frames)" in last
    assert state_of(tmp_path)["evaluated"] is None


def test_a_signal_during_a_checkpoint_waits_until_both_files_are_whole(tmp_path, monkeypatch,
                                                                      sigterm_stops):
    model, state = qlearn.buildmodel(), checkpoints.start(tmp_path / "model.h5", 0, 60, 40,
                                                         [1, 1])
    checkpoints.save(tmp_path / "model.h5", state, model)
    write_weights = checkpoints.write_weights

    def cut(model, path):  # a kill in the middle of the weights
        write_weights(model, path)
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(checkpoints, "write_weights", cut)
    model.layers[-1].bias.assign([5.0, 7.0])
    with pytest.raises(SystemExit):
        checkpoints.save(tmp_path / "model.h5", state | {"frame": 50}, model)
    assert state_of(tmp_path)["frame"] == 50  # both written, then the signal acted
    saved = qlearn.load_model(tmp_path / "model.latest.h5")
    assert saved.layers[-1].bias.numpy().tolist() == [5.0, 7.0]
    assert leftovers(tmp_path) == []


def test_a_full_disk_on_the_state_keeps_the_previous_pair(tmp_path, monkeypatch):
    model, state = qlearn.buildmodel(), checkpoints.start(tmp_path / "model.h5", 0, 60, 40,
                                                         [1, 1])
    checkpoints.save(tmp_path / "model.h5", state, model)
    before = (tmp_path / "model.latest.h5").read_bytes()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.json, "dumps", full)
    model.layers[-1].bias.assign([5.0, 7.0])
    with pytest.raises(UsageError, match="cannot write .*model.train.json: No space left"):
        checkpoints.save(tmp_path / "model.h5", state | {"frame": 50}, model)
    monkeypatch.undo()
    assert (tmp_path / "model.latest.h5").read_bytes() == before
    assert state_of(tmp_path)["frame"] == 0 and leftovers(tmp_path) == []


def test_sigterm_during_the_last_evaluation_in_a_real_run_then_resume_keeps_the_model(
        tmp_path):
    shipped_checkpoint(tmp_path)  # the shipped bird plays 100 games to 1,000 pipes: long
    kept = {path.name: path.read_bytes() for path in tmp_path.glob("*.h5")}
    process = subprocess.Popen([sys.executable, str(REPO / "qlearn.py"), "-m", "Train",
                                "--resume", "--episodes", "100", "--max-score", "1000",
                                "--model", str(tmp_path / "model.h5")],
                               env=headless_unbuffered(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if line.startswith("Train: 45 frames"):
            break
    time.sleep(3)  # into the evaluation
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert out.splitlines()[-1].startswith("Train: stopped at frame 45; checkpoint in")
    assert state_of(tmp_path)["evaluated"] is None
    latest = kept.pop("model.latest.h5")  # saved again at the stop: the same weights
    assert {path.name: path.read_bytes() for path in tmp_path.glob("*.h5")
            if path.name != "model.latest.h5"} == kept
    assert same_weights(tmp_path / "model.latest.h5", latest)
    done = resume(tmp_path, 45, 2)  # the evaluation owed, and nothing else
    assert "best model in model.h5" in done.stdout.splitlines()[-1]
    assert state_of(tmp_path)["evaluated"] == 45 and leftovers(tmp_path) == []


def test_two_ctrl_cs_50_ms_apart_leave_a_whole_checkpoint_and_the_line(tmp_path):
    process = start_train(tmp_path, "--observe", "100")
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)  # into the save of the first
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err
    frame = state_of(tmp_path)["frame"]
    assert f"Train: stopped at frame {frame:,}; checkpoint in model.latest.h5" in out
    qlearn.load_model(tmp_path / "model.latest.h5")
    assert leftovers(tmp_path) == []


def test_train_whose_output_pipe_closes_saves_says_where_on_stderr_and_exits_141(tmp_path):
    process = subprocess.Popen([sys.executable, str(REPO / "qlearn.py"), "-m", "Train",
                                "--steps", "300", "--observe", "200", "--model",
                                str(tmp_path / "model.h5")], env=headless_unbuffered(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:  # as `| head -2` reads
        if line.startswith("Train: 300 frames"):
            break
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert err.splitlines() == [
        "Train: stopped at frame 300; checkpoint in model.latest.h5, go on with --resume"]
    assert state_of(tmp_path)["frame"] == 300 and leftovers(tmp_path) == []


def test_eval_whose_output_pipe_closes_exits_141_without_a_word():
    process = subprocess.Popen([sys.executable, str(REPO / "qlearn.py"), "-m", "Eval",
                                "--episodes", "60", "--max-score", "100"],
                               env=headless_unbuffered(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    process.stdout.readline()  # `| head -1`
    process.stdout.close()
    assert process.wait(timeout=120) == 141 and process.stderr.read() == ""


# ---------------------------------------------------------------- a run's files, before it runs


def test_a_finished_runs_files_are_set_aside_and_it_can_be_extended(tmp_path, capsys):
    with new_books(tmp_path, steps=41) as books:
        books.after_frame(41, 0, True, 1.0, 0.0, 0.0)
    first = state_of(tmp_path)
    new_books(tmp_path).__exit__(KeyboardInterrupt, None, None)  # a new run, stopped at once
    aside = capsys.readouterr().out.split("extend it with --model ")[1].split()[0]
    assert aside.startswith("model.before-bird-") and aside.endswith(".h5")
    resumed = new_books(tmp_path, model=tmp_path / aside, resume=True, steps=90,
                        steps_given=True)
    assert resumed.state["run"] == first["run"] and resumed.frame == 41
    resumed.__exit__(KeyboardInterrupt, None, None)


def test_a_train_leaves_no_lock_and_a_refused_one_none_either(tmp_path):
    with new_books(tmp_path, steps=41) as books:
        books.after_frame(41, 0, True, 1.0, 0.0, 0.0)
    assert leftovers(tmp_path) == []
    books = new_books(tmp_path)  # over a finished run: it starts
    books.__exit__(KeyboardInterrupt, None, None)  # and stops at frame 0: unfinished now
    with pytest.raises(UsageError, match="unfinished run"):
        new_books(tmp_path)
    assert leftovers(tmp_path) == []


def test_a_train_removes_the_temporaries_a_killed_train_left(tmp_path):
    for name in ("model.latest.h5.tmp", "model.train.json.tmp", "model.h5.tmp"):
        (tmp_path / name).write_bytes(b"half written")
    (tmp_path / "other.h5.tmp").write_bytes(b"not ours")
    lock = checkpoints.Lock(tmp_path / "model.h5")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.lock", "other.h5.tmp"]
    lock.release()
    assert [path.name for path in tmp_path.iterdir()] == ["other.h5.tmp"]


def test_a_model_name_too_long_for_its_files_is_refused_before_the_run(tmp_path):
    model = tmp_path / ("m" * 242 + ".h5")  # 245 bytes: model.latest.h5.tmp would be 256
    with pytest.raises(UsageError, match="too long for a file"):
        new_books(tmp_path, model=model)
    assert list(tmp_path.iterdir()) == []


def state_with(**fields) -> str:
    state = {"run": "bird-1", "frame": 1_000, "updates": 100, "best_mean": None, "kept": False,
             "minutes": 1.0, "seed": 0, "steps": 200_000, "observe": 5_000, "eval": [10, 200],
             "evaluated": None}
    return json.dumps(state | fields)


@pytest.mark.parametrize("text", [
    state_with(eval=[1_000_000_000_000, 1]),
    state_with(frame=9223372036854775800, steps=9223372036854775800),
    state_with(best_mean=float("nan")), state_with(minutes=float("inf")),
    state_with(kept=True), state_with(evaluated=-1),
], ids=["eval games", "frame", "best mean", "minutes", "kept", "evaluated"])
def test_a_hand_edited_checkpoint_out_of_range_is_refused(tmp_path, text):
    (tmp_path / "model.train.json").write_text(text)
    with pytest.raises(UsageError, match="not a Train checkpoint"):
        checkpoints.load(tmp_path / "model.h5", (32, 30_000))


def test_a_checkpoint_from_before_evaluated_was_kept_still_resumes(tmp_path):
    state = json.loads(state_with())
    del state["evaluated"]
    (tmp_path / "model.train.json").write_text(json.dumps(state))
    assert checkpoints.load(tmp_path / "model.h5", (32, 30_000))["evaluated"] == 1_000


@pytest.mark.parametrize("steps", [1_500, 500])
def test_resume_steps_that_cannot_learn_are_refused(tmp_path, steps):
    with new_books(tmp_path, steps=1_000, observe=600) as books:
        books.after_frame(1_000, 0, True, 0.1, 0.0, 0.0)
    with pytest.raises(UsageError, match="give 1,000 to end it there, or 1,600 or more"):
        new_books(tmp_path, resume=True, steps=steps, steps_given=True)
    assert leftovers(tmp_path) == []


@pytest.fixture
def main_here(tmp_path, monkeypatch):
    """qlearn.main in this process, for refusals made before any mode runs: returns its exit
    code and stderr; the signal handlers and warning filters it sets are undone."""
    def main(*argv):
        handlers = {number: signal.getsignal(number) for number in files.HELD}
        with warnings.catch_warnings():
            code = qlearn.main([str(arg) for arg in argv])
        for number, handler in handlers.items():
            signal.signal(number, handler)
        return code

    monkeypatch.chdir(tmp_path)
    return main


@pytest.mark.parametrize("flags, words", [
    (["--steps", "300", "--observe", "300"], "--observe 300 must be below --steps 300"),
    (["--steps", "3000"], "--observe 5,000 (the default) must be below --steps 3,000"),
    (["--steps", str(2**62)], "--steps goes up to 100,000,000 in Train"),
    (["--episodes", "100000"], "--episodes goes up to 100 in Train"),
    (["--max-score", "5000"], "--max-score goes up to 1,000 in Train"),
])
def test_a_train_that_cannot_learn_or_end_is_refused_up_front(main_here, capsys, flags,
                                                                words):
    assert main_here("-m", "Train", *flags) == 1
    err = capsys.readouterr().err
    assert words in err and len(err.splitlines()) == 1
    assert os.listdir() == []


def test_play_refuses_model_even_when_it_names_the_default(main_here, capsys):
    assert main_here("-m", "Play", "--model", cli.MODEL_PATH) == 1
    assert "--model is not a flag of Play" in capsys.readouterr().err


def test_a_folder_where_the_gifs_temporary_goes_is_refused_before_recording(main_here, capsys):
    os.mkdir("x.gif.tmp")
    assert main_here("-m", "Run", "--record", "x.gif") == 1
    assert capsys.readouterr().err == "qlearn.py: x.gif.tmp is a folder where a file goes\n"


def test_a_device_is_not_a_model_file_nor_a_place_for_one():
    with pytest.raises(UsageError, match="/dev/null is not a file, so not a model file"):
        files.load_weights(qlearn.buildmodel(), Path("/dev/null"))
    with pytest.raises(UsageError, match="/dev/null is not a file"):
        files.check_writable(Path("/dev/null"))


def test_h5pys_reason_is_given_whole(tmp_path):
    (tmp_path / "cut.h5").write_bytes(SHIPPED.read_bytes()[:100_000])  # a copy cut short
    with pytest.raises(UsageError) as refusal:
        files.load_weights(qlearn.buildmodel(), tmp_path / "cut.h5")
    reason = str(refusal.value).split("network (", 1)[1]
    assert reason.endswith(")") and reason.count("(") + 1 == reason.count(")")


def test_building_the_model_prints_nothing_on_stderr():
    out = subprocess.run([sys.executable, "-c", "import qlearn; qlearn.buildmodel()"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stderr == ""


# ---------------------------------------------------------------- Run's picture and GIF


def test_saliency_past_the_birds_crash_is_one_line_not_silence():
    args = SimpleNamespace(episodes=None, saliency_at=5000, out=None, record=None)
    watch = classroom.Watch(args, qlearn.buildmodel(), qlearn.network_input)
    state = game.GameState(seed=0)
    for _ in range(19):  # it does nothing and falls onto the ground
        watch.show(state, None, (0.0, 0.0), 0)
        state.frame_step([1, 0])
    with pytest.raises(UsageError, match="crashed at frame 19 .score 0., before --saliency-at"):
        watch.game_over(0)


def test_a_signal_while_the_gif_is_written_waits_for_it(tmp_path, capsys, monkeypatch,
                                                         sigterm_stops):
    from PIL import Image
    frombytes = Image.frombytes

    def interrupted(*args):  # the first frame converted: a kill
        monkeypatch.setattr(Image, "frombytes", frombytes)
        signal.raise_signal(signal.SIGTERM)
        return frombytes(*args)

    monkeypatch.setattr(Image, "frombytes", interrupted)
    pictures = [bytes([i]) * (144 * 256 * 3) for i in range(0, 200, 10)]
    with pytest.raises(SystemExit):
        classroom.save_gif(pictures, tmp_path / "bird.gif")
    assert capsys.readouterr().out.startswith(f"Run: writing {tmp_path / 'bird.gif'} (20 frames)")
    with Image.open(tmp_path / "bird.gif") as gif:
        assert gif.n_frames == 20
