"""initialize_weights: per-layer fans, auto choice, seeds, records, errors, signal propagation."""

import math

import keras
import numpy as np
import pytest

from initializers import (
    GlorotUniform,
    HeNormal,
    LecunNormal,
    Orthogonal,
    auto_initializer,
    initialize_weights,
)


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def _deep_relu_mlp(depth, width):
    inputs = keras.Input((width,))
    hidden, outputs = inputs, []
    for _ in range(depth):
        hidden = keras.layers.Dense(width, activation="relu")(hidden)
        outputs.append(hidden)
    return keras.Model(inputs, outputs)


def _second_moments(model, method, seed, batch):
    initialize_weights(model, method, seed=seed)
    return np.array([np.mean(a**2) for a in model.predict(batch, verbose=0)], dtype=np.float64)


def test_signal_propagation_he_preserves_glorot_halves_per_layer():
    # He et al. 2015, Sec. 2.2: with Var = 2 / n a ReLU layer keeps the second
    # moment q in expectation, E[q_{l+1} | q_l] = q_l; with Var = 1 / n (Glorot for
    # square layers) it halves it, so over 49 layers q shrinks by 2^-49.
    # At width 256 one layer's factor q_{l+1}/q_l fluctuates by ~sqrt(5/256) = 14%,
    # so one 50-layer draw's q_50/q_1 spreads over a factor ~2.5 (the finite-width
    # log-normal drift, Hanin & Rolnick 2018); hence 20 draws.
    depth, width, seeds = 50, 256, range(20)
    model = _deep_relu_mlp(depth, width)
    batch = np.random.default_rng(0).standard_normal((256, width)).astype("float32")
    he = np.array([_second_moments(model, "he", s, batch) for s in seeds])
    glorot = np.array([_second_moments(model, "glorot", s, batch) for s in seeds])
    # The per-layer factor, averaged over 49 layers x 20 draws (standard error ~0.4%).
    assert abs(np.mean(he[:, 1:] / he[:, :-1]) - 1.0) < 0.03
    assert abs(np.mean(glorot[:, 1:] / glorot[:, :-1]) - 0.5) < 0.015
    # End to end: last layer vs first, within a factor 2 for He (mean over draws),
    # about 2^-49 for Glorot (mean of log2 over draws).
    he_ratio = np.mean(he[:, -1] / he[:, 0])
    glorot_log2 = np.mean(np.log2(glorot[:, -1] / glorot[:, 0]))
    assert 0.5 < he_ratio < 2.0, f"He: last/first second moment = {he_ratio:.3f}"
    assert abs(glorot_log2 - (-(depth - 1))) < 3.0, f"Glorot: 2^{glorot_log2:.2f}, expected ~2^-49"


def test_depthwise_kernel_gets_fan_in_of_its_window():
    inputs = keras.Input((16, 16, 64))
    x = keras.layers.DepthwiseConv2D(3, activation="relu", name="depthwise")(inputs)
    x = keras.layers.Conv2D(128, 1, name="pointwise")(x)
    model = keras.Model(inputs, x)
    records = initialize_weights(model, "he", seed=0)
    record = next(r for r in records if r.layer == "depthwise")
    assert record.fan_in == 9
    assert record.target_std == pytest.approx(math.sqrt(2 / 9))
    kernel = _numpy(model.get_layer("depthwise").kernel)
    n = kernel.size
    assert abs(kernel.var() / (2 / 9) - 1) < 6 * math.sqrt(2 / n)
    assert record.std == pytest.approx(float(kernel.std()), rel=1e-6)


def test_auto_picks_by_following_activation():
    inputs = keras.Input((8,))
    x = keras.layers.Dense(16, activation="relu", name="relu_dense")(inputs)
    x = keras.layers.Dense(16, name="leaky_dense")(x)
    x = keras.layers.LeakyReLU(negative_slope=0.1)(x)
    x = keras.layers.Dense(16, name="tanh_dense")(x)
    x = keras.layers.Activation("tanh")(x)
    x = keras.layers.Dense(16, activation="selu", name="selu_dense")(x)
    x = keras.layers.Dense(4, activation="softmax", name="head")(x)
    model = keras.Model(inputs, x)
    records = {r.layer: r for r in initialize_weights(model, "auto", seed=0)}
    assert records["relu_dense"].method == "HeNormal"
    assert records["relu_dense"].target_std == pytest.approx(math.sqrt(2 / 8))
    assert records["leaky_dense"].method == "HeNormal"
    assert records["leaky_dense"].activation == "leaky_relu(0.1)"
    assert records["leaky_dense"].target_std == pytest.approx(math.sqrt(2 / (1.01 * 16)))
    # tanh without biases: its critical point sigma_w^2 = 1 (Poole et al. 2016), LeCun.
    assert records["tanh_dense"].method == "LecunNormal" and "critical point" in records["tanh_dense"].rule
    assert records["selu_dense"].method == "LecunNormal"
    assert records["head"].method == "GlorotUniform"


def test_auto_initializer_table_and_unknown_activation():
    assert isinstance(auto_initializer("relu"), HeNormal)
    assert auto_initializer("leaky_relu", 0.3).negative_slope == 0.3
    assert isinstance(auto_initializer("softsign"), LecunNormal)  # odd: critical point 1 / phi'(0)^2
    assert isinstance(auto_initializer("selu"), LecunNormal)
    assert isinstance(auto_initializer("softmax"), GlorotUniform)
    with pytest.raises(ValueError, match="knows no activation 'mish_variant'"):
        auto_initializer("mish_variant")


class UnknownWeights(keras.layers.Layer):
    """A layer with a weight no rule of the package knows."""

    def build(self, input_shape):
        self.table = self.add_weight(shape=(input_shape[-1], input_shape[-1]), name="table")

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.table)


def _two_same_layers():
    return keras.Sequential(
        [keras.Input((32,)), keras.layers.Dense(32, activation="relu"),
         keras.layers.Dense(32, activation="relu")]
    )


@pytest.mark.parametrize("method", ["he", HeNormal(seed=3), "keras.GlorotUniform",
                                    keras.initializers.HeNormal(seed=3), Orthogonal(seed=1)])
def test_distinct_seeds_per_layer_and_reproducible(method):
    model = _two_same_layers()
    initialize_weights(model, method, seed=11)
    first = [_numpy(layer.kernel) for layer in model.layers]
    assert not np.array_equal(first[0], first[1])
    initialize_weights(model, method, seed=11)
    np.testing.assert_array_equal(first[0], _numpy(model.layers[0].kernel))
    initialize_weights(model, method, seed=12)
    assert not np.array_equal(first[0], _numpy(model.layers[0].kernel))


def test_biases_set_and_other_layers_untouched():
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, bias_initializer="ones"),
         keras.layers.BatchNormalization(), keras.layers.Dense(2)]
    )
    gamma_before = _numpy(model.layers[1].gamma).copy()
    initialize_weights(model, "glorot", seed=0, bias=0.25)
    np.testing.assert_array_equal(_numpy(model.layers[0].bias), np.full(8, 0.25, "float32"))
    np.testing.assert_array_equal(_numpy(model.layers[1].gamma), gamma_before)
    initialize_weights(model, "glorot", seed=0, bias="zeros")  # a Keras name without "keras."
    np.testing.assert_array_equal(_numpy(model.layers[0].bias), np.zeros(8, "float32"))


def test_nested_model_layers_are_reinitialized():
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="inner_dense")])
    outer = keras.Sequential([keras.Input((8,)), inner, keras.layers.Dense(2, name="outer_dense")])
    names = [r.layer for r in initialize_weights(outer, "he", seed=0)]
    assert names == ["inner_dense", "outer_dense"]


def test_records_print_as_table():
    model = _two_same_layers()
    text = str(initialize_weights(model, "he", seed=0))
    lines = text.splitlines()
    assert lines[0].split()[:6] == ["layer", "weight", "shape", "fan_in", "fan_out", "activation"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 4 and "(32, 32)" in lines[2] and "HeNormal" in lines[2]


def test_unbuilt_model_raises():
    model = keras.Sequential([keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="not built"):
        initialize_weights(model)


def test_unknown_method_raises_listing_names():
    with pytest.raises(ValueError, match="Valid names: he"):
        initialize_weights(_two_same_layers(), "kaiming")


def test_model_without_kernel_raises():
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="no kernel"):
        initialize_weights(model)


def test_unsupported_weights_raise_unless_skipped():
    model = keras.Sequential([keras.Input((5,)), UnknownWeights(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="table"):
        initialize_weights(model)
    records = initialize_weights(model, skip_unsupported=True, seed=0)
    assert [r.layer for r in records] == [model.layers[-1].name]


def test_bad_seed_raises():
    with pytest.raises(ValueError, match="seed"):
        initialize_weights(_two_same_layers(), seed="zero")


# ---------------------------------------------------------------- "auto" looks through layers


def _block(kind):
    """A weight layer, then a layer that does not decide the nonlinearity, then ReLU."""
    if kind.startswith("conv"):
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, padding="same", name="weight")(inputs)
    else:
        inputs = keras.Input((8,))
        x = keras.layers.Dense(8, name="weight")(inputs)
    middle = {
        "conv_bn": keras.layers.BatchNormalization(),
        "dense_bn": keras.layers.BatchNormalization(),
        "dense_layernorm": keras.layers.LayerNormalization(),
        "dense_dropout": keras.layers.Dropout(0.5),
        "conv_maxpool": keras.layers.MaxPooling2D(2),
        "conv_flatten": keras.layers.Flatten(),
        "dense_reshape": keras.layers.Reshape((2, 4)),
    }[kind]
    x = middle(x)
    if kind == "dense_bn":
        x = keras.layers.Activation("relu", name="nonlinearity")(x)
    else:
        x = keras.layers.ReLU(name="nonlinearity")(x)
    x = keras.layers.Flatten()(x) if len(x.shape) > 2 else x
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


@pytest.mark.parametrize("kind", ["conv_bn", "dense_bn", "dense_layernorm", "dense_dropout",
                                  "conv_maxpool", "conv_flatten", "dense_reshape"])
def test_auto_looks_through_normalization_dropout_pooling_and_reshapes(kind):
    # Conv2D -> BatchNormalization -> ReLU is a ReLU layer (He et al. 2015, Sec. 2.2):
    # "auto" gives it He, and the record names the ReLU as the layer that decided.
    records = {r.layer: r for r in initialize_weights(_block(kind), "auto", seed=0)}
    assert records["weight"].activation == "relu"
    assert records["weight"].decided_by == "nonlinearity"
    assert records["weight"].method == "HeNormal"
    assert records["head"].decided_by == "head" and records["head"].method == "LecunNormal"  # linear


def test_auto_stops_at_layers_that_mix_signals():
    inputs = keras.Input((8,))
    a = keras.layers.Dense(8, name="branch")(inputs)
    x = keras.layers.Add()([a, inputs])
    x = keras.layers.ReLU()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    record = next(r for r in initialize_weights(model, "auto", seed=0) if r.layer == "branch")
    assert record.activation == "linear" and record.decided_by == "branch"


def test_activation_lookup_ignores_calls_outside_the_model():
    # The diagnostics call a copy of the model that shares its layers; those extra
    # calls of a layer must not hide the ReLU that follows it in the model itself.
    from initializers import activation_source
    from initializers.diagnostics import autodiff_gradients

    model = _block("conv_bn")
    batch = np.ones((2, 8, 8, 3), "float32")
    autodiff_gradients(model, batch, [0, 1])
    assert activation_source(model.get_layer("weight"), model).activation == "relu"


# ---------------------------------------------------------------- all or nothing


def _snapshot(model):
    return [np.array(_numpy(v)) for v in model.weights]


def _assert_unchanged(model, before):
    for variable, old in zip(model.weights, before):
        np.testing.assert_array_equal(_numpy(variable), old, err_msg=variable.path)


def test_unsupported_layer_leaves_the_model_unchanged():
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Dense(4, bias_initializer="ones"),
                              UnknownWeights(), keras.layers.Dense(2)])
    before = _snapshot(model)
    with pytest.raises(ValueError, match="has not been changed"):
        initialize_weights(model, "he", seed=0)
    _assert_unchanged(model, before)


def test_initializer_failing_on_a_later_layer_leaves_the_model_unchanged():
    # DeltaOrthogonal draws the conv kernel, then cannot draw the Dense kernel.
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    before = _snapshot(model)
    with pytest.raises(ValueError, match="convolution kernel"):
        initialize_weights(model, "delta_orthogonal", seed=0)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("bias", ["x", float("nan"), None, True])
def test_bad_bias_raises_before_anything_changes(bias):
    model = _two_same_layers()
    before = _snapshot(model)
    with pytest.raises(ValueError, match="bias"):
        initialize_weights(model, "he", seed=0, bias=bias)
    _assert_unchanged(model, before)


def test_numpy_scalar_seed_and_bias_are_accepted():
    model = _two_same_layers()
    initialize_weights(model, "he", seed=np.int64(3), bias=np.float32(0.5))
    first = _numpy(model.layers[0].kernel)
    initialize_weights(model, "he", seed=3)
    np.testing.assert_array_equal(first, _numpy(model.layers[0].kernel))
    assert np.all(_numpy(model.layers[0].bias) == 0)


def test_seeded_method_without_seed_derives_per_layer_seeds_from_its_own():
    model = _two_same_layers()
    initialize_weights(model, HeNormal(seed=5))
    first = [_numpy(layer.kernel) for layer in model.layers]
    assert not np.array_equal(first[0], first[1])
    initialize_weights(model, HeNormal(seed=5))
    np.testing.assert_array_equal(first[1], _numpy(model.layers[1].kernel))


def test_biases_drawn_from_an_initializer_with_their_own_seeds():
    # Mean-field theory's biases b ~ N(0, sigma_b^2) (Poole et al. 2016).
    model = _two_same_layers()
    bias = {"class_name": "keras.RandomNormal", "config": {"stddev": 0.5}}
    initialize_weights(model, "he", seed=1, bias=bias)
    first, second = (_numpy(layer.bias) for layer in model.layers)
    assert not np.array_equal(first, second) and 0.2 < first.std() < 0.9
    assert not np.allclose(first, _numpy(model.layers[0].kernel)[0])  # not the kernel's stream
    initialize_weights(model, "he", seed=1, bias=bias)
    np.testing.assert_array_equal(first, _numpy(model.layers[0].bias))
