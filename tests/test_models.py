"""Demo model builders."""

import keras
import numpy as np
import pytest

from initializers import GlorotUniform, HeNormal
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


@pytest.mark.parametrize("initializer", [GlorotUniform(seed=1), keras.initializers.GlorotUniform(seed=1),
                                         "glorot_uniform", keras.initializers.GlorotUniform()],
                         ids=["ours_seeded", "keras_seeded", "ours_unseeded", "keras_unseeded"])
def test_builders_give_every_layer_its_own_draw(initializer):
    from models import DeepMLP

    model = DeepMLP(16, 3, depth=3, width=16, kernel_initializer=initializer)
    kernels = [keras.ops.convert_to_numpy(model.get_layer(f"hidden{i}").kernel) for i in (2, 3)]
    assert not np.array_equal(kernels[0], kernels[1])  # same shape (16, 16), own draw


def test_seeded_builders_are_reproducible():
    from models import DeepMLP, PlainNet, weight_layers

    first = DeepMLP(16, 3, depth=2, width=16, kernel_initializer=GlorotUniform(seed=1))
    second = DeepMLP(16, 3, depth=2, width=16, kernel_initializer=GlorotUniform(seed=1))
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    plain = PlainNet(22, 1 / 32, (32, 32, 1), 9, kernel_initializer=HeNormal(seed=2))
    convs = [l for l in weight_layers(plain) if l.name.startswith("stage2_conv")]
    assert not np.array_equal(keras.ops.convert_to_numpy(convs[1].kernel),
                              keras.ops.convert_to_numpy(convs[2].kernel))


def test_residual_mlp_merges_and_normalizations():
    from models import ResidualMLP

    model = ResidualMLP(12, 3, blocks=3, width=8, normalization="layer")
    assert [layer.name for layer in model.layers if layer.name.endswith("_merge")] == [
        "block0_merge", "block1_merge", "block2_merge"]
    assert model(np.ones((2, 12), "float32")).shape == (2, 3)
    with pytest.raises(ValueError, match="normalization.*Received: normalization='group'"):
        ResidualMLP(12, 3, normalization="group")


def test_transformer_pre_and_post_layer_norm():
    from models import TransformerClassifier

    kwargs = dict(vocabulary_size=20, sequence_length=6, width=8, heads=2, blocks=2, classes=3)
    pre, post = TransformerClassifier(**kwargs, normalization="pre"), TransformerClassifier(**kwargs)
    names = lambda model: [layer.name for layer in model.layers]
    assert "final_norm" in names(pre) and "final_norm" not in names(post)
    # Pre-LN: the norm feeds the branch and the stream skips it; post-LN: the sum feeds the norm.
    assert pre.get_layer("block0_attention_norm").output is not pre.get_layer("block0_attention_merge").input[0]
    assert post.get_layer("block0_attention_norm").input is post.get_layer("block0_attention_merge").output
    tokens = np.arange(12).reshape(2, 6).astype("int32")
    assert pre(tokens).shape == post(tokens).shape == (2, 3)
    with pytest.raises(ValueError, match="Received: normalization='mid'"):
        TransformerClassifier(**kwargs, normalization="mid")


def test_keras_application_on_grey_images_and_hub_classifier():
    from models import HubClassifier, KerasApplication

    model = KerasApplication("MobileNetV3Small", (32, 32, 1), 9, minimalistic=True, include_preprocessing=False)
    assert model.output_shape == (None, 9) and model.get_layer("to_rgb").output.shape[-1] == 3
    with pytest.raises(ValueError, match="Received: application='ResNet5'"):
        KerasApplication("ResNet5")
    bert = HubClassifier("bert", vocabulary_size=50, sequence_length=8, num_classes=4, num_layers=1, hidden_dim=16,
                         num_heads=2, intermediate_dim=32)
    assert bert(np.ones((2, 8), "int32")).shape == (2, 4)
    with pytest.raises(ValueError, match="Received: backbone='t5'"):
        HubClassifier("t5")
