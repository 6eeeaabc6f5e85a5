"""μP (initializers.mup): width axes, the per-weight rules of Tensor Programs V, the optimizers
with per-weight learning rates, attention scaling, and the coordinate check."""

import math

import keras
import numpy as np
import pytest

import models
from initializers import mup
from initializers.diagnostics import coordinates
from initializers.reinit import initialize_weights
from reproductions.data import shapeset


def mlp(width, activation="relu", input_dim=32, num_classes=5):
    return models.DeepMLP(input_dim, num_classes, depth=2, width=width, activation=activation)


@pytest.fixture(scope="module")
def base_shapes():
    return mup.BaseShapes.from_builder(mlp, base_width=16)


# (role, m_in, m_out, SGD factor, Adam factor) of DeepMLP(depth=2) at width 64 over base 16.
EXPECTED = {
    "hidden1/kernel": ("input", 1, 4, 4, 1),
    "hidden1/bias": ("vector", 1, 4, 4, 1),
    "hidden2/kernel": ("hidden", 4, 4, 1, 0.25),
    "hidden2/bias": ("vector", 1, 4, 4, 1),
    "logits/kernel": ("output", 4, 1, 0.25, 0.25),
    "logits/bias": ("fixed", 1, 1, 1, 1),
}


def test_rules_of_an_mlp_follow_the_table(base_shapes):
    scheme = mup.MuP(mlp(64), base_shapes)
    for rule in scheme.rules:
        role, m_in, m_out, sgd, adam = EXPECTED[rule.path]
        assert (rule.role, rule.fan_in_multiplier, rule.fan_out_multiplier) == (role, m_in, m_out), rule
        assert rule.lr_multiplier("sgd") == sgd and rule.lr_multiplier("adam") == adam, rule
    assert scheme.lr_multipliers("adam") == {path: row[4] for path, row in EXPECTED.items()}
    assert "hidden2/kernel" in scheme.describe("adam")
    # At the base width μP's factors are all 1 (μP = SP there, but for the readout).
    at_base = mup.MuP(mlp(16), base_shapes)
    assert set(at_base.lr_multipliers("sgd").values()) == {1.0}


def test_initialization_zero_and_scaled_readout(base_shapes):
    model, twin = mlp(64), mlp(64)
    mup.MuP(model, base_shapes, readout="zero").initialize("he_normal", seed=3)
    kernel = keras.ops.convert_to_numpy(model.get_layer("logits").kernel)
    assert not kernel.any()
    scaled = mup.MuP(model, base_shapes, readout="scaled")
    scaled.initialize("he_normal", seed=3)
    initialize_weights(twin, "he_normal", seed=3)  # the SP draw of the same seed
    for layer in ("hidden1", "hidden2"):
        np.testing.assert_array_equal(model.get_layer(layer).kernel.numpy(), twin.get_layer(layer).kernel.numpy())
    np.testing.assert_allclose(model.get_layer("logits").kernel.numpy(),
                               twin.get_layer("logits").kernel.numpy() / math.sqrt(4), rtol=1e-6)


def test_bad_inputs_are_named(base_shapes):
    with pytest.raises(ValueError, match="valid methods: lecun_normal"):
        mup.MuP(mlp(64), base_shapes).initialize("glorot_uniform")
    with pytest.raises(ValueError, match="valid: zero, scaled"):
        mup.MuP(mlp(64), base_shapes, readout="ones")
    deeper = models.DeepMLP(32, 5, depth=3, width=64)
    with pytest.raises(ValueError, match="has 8 weights, its base shapes 6"):
        mup.MuP(deeper, base_shapes)
    with pytest.raises(ValueError, match="build them at two different widths"):
        mup.BaseShapes.from_models(mlp(16), mlp(16))
    with pytest.raises(ValueError, match="No μP rule for this optimizer; valid: SGD"):
        mup.optimizer_kind(keras.optimizers.Ftrl())


def test_base_shapes_round_trip_json(base_shapes):
    assert mup.BaseShapes.from_json(base_shapes.to_json()) == base_shapes


def _one_step(model, optimizer, x, y):
    before = [v.numpy().copy() for v in model.trainable_weights]
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(x, y)
    return [v.numpy() - b for v, b in zip(model.trainable_weights, before)]


@pytest.mark.parametrize("make", [lambda: keras.optimizers.SGD(0.05, momentum=0.9),
                                  lambda: keras.optimizers.Adam(1e-3),
                                  lambda: keras.optimizers.AdamW(1e-3, weight_decay=0.0),
                                  lambda: keras.optimizers.RMSprop(1e-3)],
                         ids=["sgd", "adam", "adamw", "rmsprop"])
def test_multipliers_scale_each_weights_update_exactly(make):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 32)).astype("float32"), rng.integers(0, 5, 16)
    factors = {"hidden1/kernel": 4.0, "hidden2/kernel": 0.25, "logits/bias": 2.0}
    updates = []
    for optimizer in (make(), mup.with_lr_multipliers(make(), factors)):
        model = mlp(24)
        initialize_weights(model, "he_normal", seed=1)
        updates.append(_one_step(model, optimizer, x, y))
    for variable, plain, scaled in zip(mlp(24).trainable_weights, *updates):
        factor = factors.get(variable.path, 1.0)
        np.testing.assert_allclose(scaled, factor * plain, rtol=2e-4, atol=3e-7, err_msg=variable.path)  # atol: float32 steps of weights ~0.3


def test_registered_optimizers_save_and_load(tmp_path, base_shapes):
    model = mlp(64)
    scheme = mup.MuP(model, base_shapes)
    scheme.initialize(seed=0)
    model.compile(optimizer=scheme.optimizer(keras.optimizers.Adam(1e-3)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert type(model.optimizer) is mup.MuAdam
    model.train_on_batch(np.ones((4, 32), "float32"), np.arange(4))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is mup.MuAdam
    assert loaded.optimizer.lr_multipliers == scheme.lr_multipliers("adam")


def test_optimizer_errors():
    with pytest.raises(ValueError, match="must be positive"):
        mup.with_lr_multipliers(keras.optimizers.SGD(), {"hidden1/kernel": 0.0})
    model = mlp(8)
    model.compile(optimizer=mup.with_lr_multipliers(keras.optimizers.SGD(), {"hiden1/kernel": 2.0}), loss="mse")
    with pytest.raises(ValueError, match="does not train: hiden1/kernel; trainable: hidden1/kernel"):
        model.optimizer.build(model.trainable_weights)
    used = keras.optimizers.SGD()
    used.build(model.trainable_weights)
    with pytest.raises(ValueError, match="already been built"):
        mup.with_lr_multipliers(used, {})


def test_attention_logits_scale_as_one_over_d():
    build = lambda width: models.TransformerClassifier(vocabulary_size=50, sequence_length=8, width=width,
                                                       heads=2, blocks=1, classes=3)
    scheme = mup.MuP(build(64), mup.BaseShapes.from_builder(build, base_width=16))
    assert scheme.initialize("lecun_normal", seed=0) is not None
    attention = next(layer for layer in scheme.model._flatten_layers()
                     if isinstance(layer, keras.layers.MultiHeadAttention))
    assert attention._inverse_sqrt_key_dim == pytest.approx(math.sqrt(8) / 32)  # sqrt(d_base) / d
    roles = {rule.path.split("/", 1)[-1]: rule.role for rule in scheme.rules}
    assert roles.get("attention/query/kernel", "hidden") == "hidden"
    assert {"input", "hidden", "output", "vector"} <= set(roles.values())


def _location_batches(count, batch=64):
    images, labels = shapeset.generate_location(batch * count, seed=7)[:2]
    images = images.reshape(len(images), -1).astype("float32")
    return [(images[i * batch:(i + 1) * batch], labels[i * batch:(i + 1) * batch]) for i in range(count)]


def test_coordinate_check_flat_under_mup_and_growing_under_sp():
    """The issue's check: at initialization and after one step, from width 128 to 2,048, μP's
    layer output sizes stay within 1.5x while SP's (same rate) change by more than 3x."""
    build = lambda width: models.DeepMLP(1024, 9, depth=2, width=width, activation="relu")
    records = coordinates.coord_check(build, [128, 2048], _location_batches(2), base_width=128, steps=1,
                                      seeds=(0, 1), learning_rate=0.1)
    mup_factors = coordinates.growth(records, "mup")
    sp_factors = coordinates.growth(records, "sp")
    assert all(1 / 1.5 <= ratio <= 1.5 for ratio, _ in mup_factors.values()), mup_factors
    assert max(ratio for ratio, _ in sp_factors.values()) > 3, sp_factors
    assert sp_factors["logits"][1] == 1  # SP's logits grow with width after the first update
    assert {r["step"] for r in records} == {0, 1} and {r["width"] for r in records} == {128, 2048}


def test_coordinate_check_plot_and_errors(tmp_path):
    batches = [(np.ones((8, 32), "float32"), np.arange(8) % 5)]
    records = coordinates.coord_check(mlp, [8, 16], batches, steps=1, seeds=(0,), parametrizations=("mup",))
    figure = coordinates.plot_coord_check(records, path=tmp_path / "c.png")
    assert figure is not None and (tmp_path / "c.png").stat().st_size > 0
    with pytest.raises(ValueError, match="at least two positive widths"):
        coordinates.coord_check(mlp, [8], [], steps=1)
    with pytest.raises(ValueError, match="valid: mup, sp"):
        coordinates.parametrized_model(mlp, 8, "ntk")
