"""Xiao et al. 2018's very deep vanilla CNN: one stacked layer applied in a loop."""

import math

import keras
import numpy as np
import pytest

from initializers import DeltaOrthogonal, VarianceScaling
from models import StackedConvolution, VanillaCNN


def _numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


def test_graph_does_not_grow_with_depth():
    shallow = VanillaCNN(10, channels=8, input_shape=(16, 16, 1), seed=0)
    deep = VanillaCNN(1000, channels=8, input_shape=(16, 16, 1), seed=0)
    assert [type(layer) for layer in shallow.layers] == [type(layer) for layer in deep.layers]
    assert deep.get_layer("identical_layers").kernel.shape == (1000, 3, 3, 8, 8)


@pytest.mark.parametrize("padding", ["circular", "same"])
def test_loop_equals_an_explicit_stack_of_convolutions(padding):
    layer = StackedConvolution(3, kernel_size=3, activation="tanh", kernel_initializer="he_normal",
                               bias_initializer=keras.initializers.RandomNormal(stddev=0.1), padding=padding, seed=1)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 4)).astype("float32")
    looped = _numpy(layer(x))
    kernel, bias = _numpy(layer.kernel), _numpy(layer.bias)
    expected = x
    for index in range(3):
        if padding == "circular":
            padded = np.pad(expected, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="wrap")
            conv = keras.ops.conv(padded, kernel[index], padding="valid")
        else:
            conv = keras.ops.conv(expected, kernel[index], padding="same")
        expected = np.tanh(_numpy(conv) + bias[index])
    np.testing.assert_allclose(looped, expected, rtol=1e-5, atol=1e-5)


def test_each_slice_is_its_own_draw_with_one_slice_fans():
    layer = StackedConvolution(50, kernel_initializer=DeltaOrthogonal(gain=1.5), seed=3)
    layer.build((None, 8, 8, 16))
    kernel = _numpy(layer.kernel)
    centres = kernel[:, 1, 1]
    for centre in centres[:5]:
        np.testing.assert_allclose(centre @ centre.T, 2.25 * np.eye(16), atol=1e-4)
    assert not np.allclose(centres[0], centres[1])
    assert np.all(kernel[:, 0] == 0)
    gaussian = StackedConvolution(50, kernel_initializer=VarianceScaling(scale=1.05), seed=3)
    gaussian.build((None, 8, 8, 16))
    std = float(np.std(_numpy(gaussian.kernel)))
    assert std == pytest.approx(math.sqrt(1.05 / (9 * 16)), rel=0.02)  # fan_in of one slice: 3 x 3 x 16


def test_delta_orthogonal_with_circular_padding_is_an_isometry_at_any_depth():
    # Xiao et al. 2018: with circular padding a delta-orthogonal convolution is an exact
    # isometry, so a linear net of 500 of them keeps every input's norm.
    layer = StackedConvolution(500, activation="linear", kernel_initializer="delta_orthogonal", seed=0)
    x = np.random.default_rng(1).standard_normal((3, 5, 5, 8)).astype("float32")
    y = _numpy(layer(x))
    np.testing.assert_allclose(np.linalg.norm(y.reshape(3, -1), axis=1), np.linalg.norm(x.reshape(3, -1), axis=1),
                               rtol=1e-3)


def test_a_deep_net_trains_one_step_and_round_trips():
    model = VanillaCNN(20, channels=8, input_shape=(12, 12, 1), num_classes=3, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1e-2, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).standard_normal((8, 12, 12, 1)).astype("float32")
    loss = model.train_on_batch(x, np.arange(8) % 3)
    assert np.isfinite(loss)
    config = model.get_layer("identical_layers").get_config()
    rebuilt = StackedConvolution.from_config(config)
    assert rebuilt.depth == 20 and rebuilt.padding == "circular"


def test_saved_and_loaded(tmp_path):
    import initializers

    model = VanillaCNN(5, channels=4, input_shape=(8, 8, 1), num_classes=2, seed=0)
    model.save(tmp_path / "deep.keras")
    loaded = initializers.load_model(tmp_path / "deep.keras")
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(_numpy(loaded(x)), _numpy(model(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [({"depth": 0}, "depth"), ({"depth": 3, "kernel_size": 2}, "odd"),
                                              ({"depth": 3, "padding": "reflect"}, "padding")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StackedConvolution(**kwargs)


def test_initialize_weights_and_the_doctor_know_the_stacked_layer():
    from initializers import initialize_weights
    from initializers.doctor import examine

    model = VanillaCNN(30, channels=8, input_shape=(12, 12, 1), seed=0)
    records = {r.layer: r for r in initialize_weights(model, "orthogonal", seed=0)}
    stacked = records["identical_layers"]
    assert stacked.shape == (30, 3, 3, 8, 8) and stacked.fan_in == 72  # one slice's fans
    kernel = _numpy(model.get_layer("identical_layers").kernel).reshape(30, 72, 8)
    assert not np.allclose(kernel[0], kernel[1])  # each slice its own draw
    np.testing.assert_allclose(kernel[7].T @ kernel[7], np.eye(8), atol=1e-5)  # orthogonal per slice
    auto = {r.layer: r for r in initialize_weights(model, "auto", seed=0)}["identical_layers"]
    assert auto.activation == "tanh" and auto.method == "LecunNormal"  # tanh's critical point
    report = examine(model, methods=("current", "he"))
    assert [row.layer for row in report.results["current"].layers][1:3] == ["downsample_1", "identical_layers"]


@pytest.mark.parametrize("padding", ["circular", "same"])
def test_stacked_jacobian_spectra_equal_autodiff(padding):
    import tensorflow as tf

    from initializers.diagnostics.jacobian import stacked_jacobian_spectra

    layer = StackedConvolution(4, 3, "tanh", kernel_initializer="he_normal",
                               bias_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=1),
                               padding=padding, seed=0)
    x = np.random.default_rng(0).normal(size=(1, 4, 5, 3)).astype("float32")
    layer(x)
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs)
    by_autodiff = np.linalg.svd(tape.jacobian(outputs, inputs).numpy().reshape(60, 60), compute_uv=False)
    spectra = stacked_jacobian_spectra(layer.kernel.numpy(), layer.bias.numpy(), x[0], [2, 4], "tanh", padding)
    assert set(spectra) == {2, 4}
    np.testing.assert_allclose(spectra[4], by_autodiff, atol=2e-6)


def test_stacked_jacobian_spectra_of_a_linear_delta_orthogonal_stack_are_all_one():
    from initializers.diagnostics.jacobian import stacked_jacobian_spectra

    layer = StackedConvolution(300, 3, "linear", kernel_initializer="delta_orthogonal", seed=0)
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 8)).astype("float32")
    layer(x)
    spectra = stacked_jacobian_spectra(layer.kernel.numpy(), layer.bias.numpy(), x[0], [1, 300], "linear")
    for values in spectra.values():
        np.testing.assert_allclose(values, 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="must lie in 1..300"):
        stacked_jacobian_spectra(layer.kernel.numpy(), layer.bias.numpy(), x[0], [301])
    with pytest.raises(ValueError, match="No derivative rule for activation 'gelu'"):
        stacked_jacobian_spectra(layer.kernel.numpy(), layer.bias.numpy(), x[0], [1], "gelu")


def test_flatten_readout_and_bias_initializers_by_any_name():
    model = VanillaCNN(4, channels=4, input_shape=(8, 8, 1), num_classes=3, downsampling=1, readout="flatten",
                       bias_initializer=0.25, seed=0)
    assert model.get_layer("flatten").output.shape == (None, 4 * 4 * 4)
    assert np.all(_numpy(model.get_layer("downsample_0").bias) == 0.25)
    assert np.all(_numpy(model.get_layer("identical_layers").bias) == 0.25)
    model = VanillaCNN(4, channels=4, input_shape=(8, 8, 1), num_classes=3, downsampling=2, seed=0,
                       bias_initializer={"class_name": "keras.RandomNormal", "config": {"stddev": 0.1}})
    first, second = (_numpy(model.get_layer(f"downsample_{i}").bias) for i in (0, 1))
    assert not np.allclose(first, second) and 0 < np.std(_numpy(model.get_layer("identical_layers").bias)) < 0.3
    assert np.all(_numpy(VanillaCNN(2, channels=4, input_shape=(8, 8, 1), bias_initializer="zeros")
                         .get_layer("identical_layers").bias) == 0)
    with pytest.raises(ValueError, match="readout"):
        VanillaCNN(2, channels=4, input_shape=(8, 8, 1), readout="max")
