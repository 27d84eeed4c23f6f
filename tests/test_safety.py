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
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from conftest import REPO, assert_one_line_error, qlearn_cli

import qlearn
from game import wrapped_flappy_bird as game
from harness import classroom, evaluation, logbook

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


# ---------------------------------------------------------------- models are never destroyed


def test_a_run_that_never_learns_leaves_the_model_alone(tmp_path):
    model = copy_of_shipped(tmp_path)
    for _ in range(2):
        process = qlearn_cli("-m", "Train", "--steps", 30, "--observe", 40, "--model", model)
        assert process.returncode == 0, process.stderr
        assert "no model kept" in process.stdout
    assert model.read_bytes() == SHIPPED.read_bytes()
    assert not list(tmp_path.glob("model.before-*"))


def shipped_checkpoint(folder):
    """A finished 30-frame run whose latest weights are the shipped model's: resumed, it passes
    pipes at once, and so keeps a model."""
    process = qlearn_cli("-m", "Train", "--steps", 30, "--observe", 40,
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
    first = resume(tmp_path, 120, 2)
    (aside,) = tmp_path.glob("model.before-bird-*.h5")
    assert aside.name in first.stdout and aside.read_bytes() == b"a user's own file" * 1000
    qlearn.load_model(tmp_path / "model.h5")
    (tmp_path / "model.h5").write_bytes(SHIPPED.read_bytes())  # the user puts another there
    resume(tmp_path, 180, 3)  # judged anew: a better model than none
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
    again = qlearn_cli("-m", "Train", "--steps", 30, "--observe", 40,
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
    first = qlearn_cli("-m", "Train", "--steps", 30, "--observe", 40,
                       "--model", tmp_path / "model.h5")
    assert first.returncode == 0, first.stderr
    state = json.loads((tmp_path / "model.train.json").read_text())
    (tmp_path / "model.train.json").write_text(json.dumps(state | {"observe": observe,
                                                                   "steps": 100}))
    process = qlearn_cli("-m", "Train", "--resume", "--model", tmp_path / "model.h5")
    assert_one_line_error(process, 1, "not a Train checkpoint")


def test_a_checkpoint_whose_run_name_is_a_path_is_refused(tmp_path):
    first = qlearn_cli("-m", "Train", "--steps", 30, "--observe", 40,
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
                                   "frame,minutes,score\n",
                                   "a,b\n1,2\n3,4\n"])
def test_plot_of_a_bad_games_csv_is_one_line(tmp_path, games):
    write_run(tmp_path, games)
    process = qlearn_cli("-m", "Plot", "--model", tmp_path / "model.h5")
    assert_one_line_error(process, 1, "games.csv")


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
