"""Fixup, SkipInit and ReZero in the library: `initialize_weights(model, "fixup")` on a user's
own functional residual model and on the scanned `models.ResidualStack`, the residual scalar
layers, the stack's blocks against the same blocks written layer by layer, and the doctor on
a residual net without normalization (Zhang, Dauphin & Ma 2019)."""

import math

import keras
import numpy as np
import pytest

import models
from initializers import (
    ScalarBias,
    ScalarMultiplier,
    UnknownInitializerError,
    UnsupportedModelError,
    get,
    initialize_weights,
    residual_branches,
)
from initializers.doctor import examine


def hand_built_resnet(blocks=3, width=32, multiplier=None, name="hand_resnet"):
    """A user's functional residual MLP without normalization: stem, blocks x (x + W2 relu(W1 x)),
    with a projection shortcut in the first block, a ReLU and a readout."""
    inputs = keras.Input((16,))
    x = keras.layers.Dense(width // 2, name="stem")(inputs)
    for block in range(blocks):
        branch = keras.layers.Dense(width, activation="relu", name=f"b{block}_in")(x)
        branch = keras.layers.Dense(width, name=f"b{block}_out")(branch)
        if multiplier is not None:
            branch = ScalarMultiplier(multiplier, name=f"b{block}_scale")(branch)
        skip = keras.layers.Dense(width, name="projection")(x) if block == 0 else x
        x = keras.layers.Add(name=f"b{block}_add")([skip, branch])
    x = keras.layers.ReLU()(x)
    return keras.Model(inputs, keras.layers.Dense(5, name="logits")(x), name=name)


def test_fixup_on_a_hand_built_functional_resnet():
    model = hand_built_resnet(blocks=4, multiplier=0.5)
    branches = residual_branches(model)
    assert [(b.merge, [layer.name for layer in b.layers]) for b in branches] == [
        (f"b{i}_add", [f"b{i}_in", f"b{i}_out"]) for i in range(4)]  # the projection is the skip
    records = initialize_weights(model, "fixup", seed=0)
    weights = {layer.name: keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")}
    for block in range(4):
        assert not np.any(weights[f"b{block}_out"])  # each branch's last layer: 0
        # the first: He (std sqrt(2 / fan_in)) x L^(-1/(2m-2)) = 4^(-1/2)
        assert np.std(weights[f"b{block}_in"]) == pytest.approx(math.sqrt(2 / 32) / 2 if block else math.sqrt(2 / 16) / 2,
                                                                 rel=0.15)
    assert not np.any(weights["logits"])  # the classifier: 0
    assert np.std(weights["stem"]) == pytest.approx(math.sqrt(2 / 16), rel=0.15)  # other layers: He
    assert np.std(weights["projection"]) == pytest.approx(math.sqrt(2 / 16), rel=0.15)
    for block in range(4):
        assert float(keras.ops.convert_to_numpy(model.get_layer(f"b{block}_scale").multiplier)) == 1.0
    rules = {(r.layer, r.weight): r.rule for r in records}
    assert "4^(-1/2)" in rules[("b2_in", "kernel")] and "classifier" in rules[("logits", "kernel")]
    assert rules[("b0_scale", "multiplier")] == "Fixup: scalar multiplier 1"
    # At initialization every branch adds 0: the net is its stem, projection and readout.
    x = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    stream = keras.Model(model.inputs[0], model.get_layer("b3_add").output)(x)
    first = keras.Model(model.inputs[0], model.get_layer("b0_add").output)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stream), keras.ops.convert_to_numpy(first), atol=1e-6)


def test_fixup_raises_and_changes_nothing_where_it_cannot_read_branches():
    plain = models.SimpleMLP(10, 8, 3)
    before = [keras.ops.convert_to_numpy(v) for v in plain.weights]
    with pytest.raises(UnsupportedModelError, match="Fixup needs residual branches"):
        initialize_weights(plain, "fixup")
    for value, variable in zip(before, plain.weights):
        np.testing.assert_array_equal(value, keras.ops.convert_to_numpy(variable))
    inputs = keras.Input((8,))  # two branches of one layer each: which is the skip?
    both = keras.layers.Add(name="merge")([keras.layers.Dense(8)(inputs), keras.layers.Dense(8)(inputs)])
    with pytest.raises(UnsupportedModelError, match="cannot tell which input of 'merge'"):
        initialize_weights(keras.Model(inputs, keras.layers.Dense(2)(both)), "fixup")
    with pytest.raises(ValueError, match="depth_scaled_residuals must be False"):
        initialize_weights(hand_built_resnet(), "fixup", depth_scaled_residuals=True)
    with pytest.raises(UnknownInitializerError, match="initialize_weights\\(model, 'fixup'\\)"):
        get("fixup")


def test_residual_scalars_are_saved_and_left_alone_by_other_methods(tmp_path):
    inputs = keras.Input((4,))
    x = ScalarBias(0.25, name="bias")(inputs)
    x = ScalarMultiplier(0.0, name="scale")(keras.layers.Dense(4, name="dense")(x))
    model = keras.Model(inputs, keras.layers.Add()([inputs, x]))
    initialize_weights(model, "he", seed=0)  # SkipInit / ReZero scalars stay as built
    assert float(keras.ops.convert_to_numpy(model.get_layer("scale").multiplier)) == 0.0
    assert float(keras.ops.convert_to_numpy(model.get_layer("bias").offset)) == 0.25
    model.get_layer("scale").multiplier.assign(0.75)
    path = tmp_path / "scalars.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert float(keras.ops.convert_to_numpy(loaded.get_layer("scale").multiplier)) == 0.75
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))


def _unrolled(stack_model, normalization, multiplier):
    """The same blocks as `stack_model`'s ResidualStack, one Keras layer per operation, with
    the stack's weights copied in."""
    stack = stack_model.get_layer("blocks")
    inputs = keras.Input(stack.input.shape[1:])
    x = inputs
    for block in range(stack.blocks):
        h = x
        for which in ("in", "out"):
            conv = keras.layers.Conv2D(x.shape[-1], 3, padding="same", use_bias=False)
            h = conv(h)
            conv.kernel.assign(getattr(stack, f"kernel_{which}")[block])
            if normalization:
                norm = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
                h = norm(h)
            if which == "in":
                h = keras.layers.ReLU()(h)
        if multiplier is not None:
            scale = ScalarMultiplier(multiplier)
            h = scale(h)
        x = keras.layers.ReLU()(keras.layers.Add()([x, h]))
    return keras.Model(inputs, x)


@pytest.mark.parametrize("normalization, scalars, multiplier", [(None, "multiplier", 0.3), ("batch", None, None)])
def test_scanned_blocks_equal_the_same_blocks_layer_by_layer(normalization, scalars, multiplier):
    model = models.ResidualCNN(3, channels=4, input_shape=(8, 8, 1), num_classes=3, downsampling=1,
                               normalization=normalization, scalars=scalars,
                               multiplier_initial=multiplier if multiplier is not None else 1.0, seed=0)
    stack = model.get_layer("blocks")
    unrolled = _unrolled(model, normalization, multiplier)
    x = np.random.default_rng(1).normal(size=(6, 4, 4, 4)).astype("float32")
    for training in (True, False):  # with BatchNorm: batch statistics, then the moving averages they updated
        np.testing.assert_allclose(keras.ops.convert_to_numpy(stack(x, training=training)),
                                   keras.ops.convert_to_numpy(unrolled(x, training=training)), rtol=2e-4, atol=2e-5)
    if normalization:
        norms = [layer for layer in unrolled.layers if isinstance(layer, keras.layers.BatchNormalization)]
        np.testing.assert_allclose(keras.ops.convert_to_numpy(stack.norm_weights["moving_mean_out"][2]),
                                   keras.ops.convert_to_numpy(norms[-1].moving_mean), rtol=1e-4, atol=1e-6)


def test_fixup_on_the_scanned_stack_starts_as_the_identity():
    model = models.ResidualCNN(20, channels=4, input_shape=(8, 8, 1), num_classes=3, downsampling=1, scalars="fixup")
    stack = model.get_layer("blocks")
    stack.multiplier.assign(np.full((20,), 3.0, "float32"))  # Fixup resets its scalars
    records = initialize_weights(model, "fixup", seed=0)
    assert not np.any(keras.ops.convert_to_numpy(stack.kernel_out)) and not np.any(
        keras.ops.convert_to_numpy(model.get_layer("logits").kernel))
    assert np.std(keras.ops.convert_to_numpy(stack.kernel_in)) == pytest.approx(math.sqrt(2 / 36) / math.sqrt(20),
                                                                                 rel=0.1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(stack.multiplier), np.ones(20))
    assert {r.weight for r in records} >= {"kernel_in", "kernel_out", "multiplier"}
    x = np.abs(np.random.default_rng(0).normal(size=(2, 4, 4, 4))).astype("float32")  # a stream after a ReLU
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stack(x)), x, atol=1e-6)


def test_doctor_flags_he_on_a_residual_net_without_normalization_and_offers_fixup():
    model = hand_built_resnet(blocks=16, width=32, name="user_resnet")
    initialize_weights(model, "he", seed=0)
    batch = np.random.default_rng(0).normal(size=(16, 16)).astype("float32")
    report = examine(model, batch, methods=("current", "fixup"), seed=0)
    current = report.results["current"]
    assert "exploding_stream" in [flag["kind"] for flag in current.warnings]
    assert current.stream.forward_gain > 100  # He: the stream doubles its variance per block
    fixup = report.results["fixup"]
    assert fixup.warnings == [] and fixup.stream.forward_gain == pytest.approx(1.0)
    assert fixup.stream.backward_gain is None  # a zero readout: no gradient reaches the stream at init
    assert report.recommended == "fixup"
    default = examine(hand_built_resnet(blocks=2, width=8), batch, seed=0)
    assert "fixup" in default.results  # offered by default on a residual net without normalization


def test_summed_embeddings_are_not_a_residual_branch():
    tokens = keras.Input((8,), dtype="int32")
    x = keras.layers.Add(name="embeddings")([keras.layers.Embedding(50, 16)(tokens),
                                            keras.layers.Embedding(50, 16)(tokens)])
    branch = keras.layers.Dense(16)(keras.layers.Dense(16, activation="relu")(x))
    x = keras.layers.Add(name="block")([x, branch])
    model = keras.Model(tokens, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(x)))
    assert [b.merge for b in residual_branches(model)] == ["block"]
