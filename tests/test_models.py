"""Demo model builders."""

import keras
import numpy as np
import pytest

from initializers import HeNormal
from models import CustomNet, SimpleMLP


def test_simple_mlp_shapes_and_initializer():
    model = SimpleMLP(20, 64, 3, kernel_initializer="standard_uniform")
    assert model.output_shape == (None, 3)
    assert [tuple(w.shape) for w in model.weights] == [(20, 64), (64,), (64, 3), (3,)]
    kernel = keras.ops.convert_to_numpy(model.get_layer("hidden").kernel)
    assert np.abs(kernel).max() <= 1 / np.sqrt(20) + 1e-7
    assert model(np.zeros((2, 20), "float32")).shape == (2, 3)


def test_custom_net_shapes_and_keras_builtin_initializer():
    model = CustomNet((32, 32, 3), 10, kernel_initializer="keras.GlorotUniform")
    assert model.output_shape == (None, 10)
    assert type(model.get_layer("conv1").kernel_initializer) is keras.initializers.GlorotUniform
    assert model(np.zeros((2, 32, 32, 3), "float32")).shape == (2, 10)


def test_builders_give_each_layer_its_own_initializer_instance():
    model = SimpleMLP(16, 16, 16, kernel_initializer=HeNormal(seed=1))
    assert model.get_layer("hidden").kernel_initializer is not model.get_layer("logits").kernel_initializer


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: SimpleMLP(0, 4, 2), "input_dim"),
        (lambda: SimpleMLP(4, 4.0, 2), "hidden_dim"),
        (lambda: SimpleMLP(4, 4, 2, kernel_initializer="nope"), "Valid names"),
        (lambda: CustomNet((32, 32), 10), "input_shape"),
        (lambda: CustomNet(num_classes=0), "num_classes"),
    ],
)
def test_builder_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_deep_mlp_layout_and_standard_init_bound():
    from models import BUILDERS, DeepMLP

    model = DeepMLP(1024, 9, depth=5, width=40, activation="softsign", kernel_initializer="standard_uniform")
    assert BUILDERS["deep_mlp"] is DeepMLP
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["hidden1", "hidden2", "hidden3", "hidden4", "hidden5", "logits"]
    assert [layer.units for layer in model.layers[1:]] == [40] * 5 + [9]
    assert all(layer.activation.__name__ == "softsign" for layer in model.layers[1:-1])
    assert model.get_layer("logits").activation.__name__ == "linear"
    kernel = keras.ops.convert_to_numpy(model.get_layer("hidden2").kernel)
    assert np.abs(kernel).max() <= 1 / np.sqrt(40) + 1e-7
    assert np.abs(kernel).max() > 0.9 / np.sqrt(40)  # U(-1/sqrt(n), 1/sqrt(n)) fills its range
    assert all(np.all(keras.ops.convert_to_numpy(layer.bias) == 0) for layer in model.layers[1:])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=0), "depth"),
        (dict(width=2.5), "width"),
        (dict(activation="swish"), "softsign"),
        (dict(kernel_initializer="nope"), "Valid names"),
    ],
)
def test_deep_mlp_errors(kwargs, message):
    from models import DeepMLP

    with pytest.raises(ValueError, match=message):
        DeepMLP(16, 3, **kwargs)
