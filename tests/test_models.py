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
