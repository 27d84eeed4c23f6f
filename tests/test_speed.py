"""harness/speed.py: the preprocessing kernel is scikit-image's, FusedAdam is Keras's Adam."""

import keras
import numpy as np
from skimage import color, exposure, transform

import qlearn
from game import wrapped_flappy_bird as game
from harness import speed


def game_images(count: int) -> list:
    state = game.GameState(seed=1)
    return [state.frame_step([0, 1] if i % 7 == 0 else [1, 0])[0] for i in range(count)]


def test_grayscale_is_rgb2gray_up_to_a_constant_factor():
    image = game_images(5)[-1]
    ours = speed.grayscale(image)
    assert ours.shape == (288, 512) and ours.dtype == np.float32
    np.testing.assert_allclose(ours / 207 / 255, color.rgb2gray(image), rtol=0, atol=0.0005)


def test_resize_is_scikit_images_resize():
    gray = np.random.default_rng(0).random((288, 512), np.float32)
    np.testing.assert_allclose(speed.resize(gray, (80, 80)), transform.resize(gray, (80, 80)),
                               rtol=0, atol=1e-5)


def test_resize_rows_is_the_whole_matrix_product():
    gray = np.random.default_rng(0).random((512, 288), np.float32) * 255
    dense = speed.resize_matrix(512, 80) @ gray
    assert np.allclose(speed.resize_rows(gray, 80), dense, rtol=0, atol=1e-3)
    block, step, offset = speed.row_band(512, 80)
    assert block.shape == (5, 50) and (step, offset) == (32, -9)


def test_rescale_intensity_spans_0_to_255_like_scikit_image():
    x = np.random.default_rng(2).random((80, 80)) * 7 + 3
    theirs = exposure.rescale_intensity(x, out_range=(0, 255))
    ours = speed.rescale_intensity(x, 0, 255)
    assert ours.dtype == np.uint8 and ours.min() == 0 and ours.max() == 255
    assert np.abs(ours - theirs).max() <= 0.5 + 1e-9
    assert not speed.rescale_intensity(np.full((80, 80), 4.0), 0, 255).any()  # a blank frame


def test_fused_adam_takes_keras_adams_steps():
    weights = qlearn.buildmodel().get_weights()
    rng = np.random.default_rng(2)
    gradients = [[rng.normal(size=w.shape).astype(np.float32) for w in weights]
                 for _ in range(3)]
    models = []
    for optimizer in (speed.FusedAdam(1e-3), keras.optimizers.Adam(1e-3)):
        model = qlearn.buildmodel()
        model.set_weights(weights)
        for step in gradients:  # three steps: Adam's bias correction changes at each
            optimizer.apply_gradients(zip(step, model.trainable_variables))
        models.append(model.get_weights())
    for ours, theirs, before in zip(*models, weights):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7)
        assert np.abs(ours - before).max() > 2e-3  # each step moved the weights by about 1e-3
