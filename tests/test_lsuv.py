"""LSUV (Mishkin & Matas 2016): unit output variance per layer, determinism, a numpy
reference, constant outputs, BatchNorm, bounds, and runs from a RunConfig."""

import math

import keras
import numpy as np
import pytest

import models
from initializers import Orthogonal, initialize_weights, lsuv, lsuv_options, weight_layers


def _numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)


def _relu_mlp(depth=20, width=64, input_dim=32):
    return models.DeepMLP(input_dim, 10, depth=depth, width=width, activation="relu")


def _batch(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _mlp_pre_activation_variances(model, batch):
    """Variance of W h + b of every Dense layer, by a numpy forward pass."""
    h, variances = batch.astype(np.float64), []
    for layer in weight_layers(model):
        z = h @ _numpy(layer.kernel) + _numpy(layer.bias)
        variances.append(z.var())
        h = np.maximum(z, 0) if layer.activation.__name__ == "relu" else z
    return variances


def test_every_layer_of_a_20_layer_relu_mlp_gets_unit_output_variance():
    model, batch = _relu_mlp(), _batch((128, 32))
    records = lsuv(model, batch, seed=0, tol=0.1)
    variances = _mlp_pre_activation_variances(model, batch)
    assert len(variances) == 21 and all(abs(v - 1) < 0.1 for v in variances), variances
    assert [r.layer for r in records] == [layer.name for layer in weight_layers(model)]
    assert all(r.status == "converged" and r.iterations <= 10 for r in records)
    assert all(r.variance == pytest.approx(v, rel=1e-4) for r, v in zip(records, variances))


def _small_cnn():
    inputs = keras.Input((12, 12, 3))
    x = inputs
    for index, filters in enumerate((8, 16, 16)):
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"conv{index}")(x)
        x = keras.layers.ReLU()(x)
        if index == 1:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(32, name="fc")(x)
    x = keras.layers.ReLU()(x)
    return keras.Model(inputs, keras.layers.Dense(5, name="logits")(x))


def test_every_layer_of_a_small_cnn_gets_unit_output_variance():
    model, batch = _small_cnn(), _batch((32, 12, 12, 3))
    lsuv(model, batch, seed=1, tol=0.05)
    layers = weight_layers(model)  # their outputs are pre-activation (separate ReLU layers)
    outputs = keras.Model(model.inputs[0], [layer.output for layer in layers])(batch)
    variances = [float(_numpy(o).var()) for o in outputs]
    assert all(abs(v - 1) < 0.05 for v in variances), variances


def test_same_seed_same_kernels_other_seed_other_kernels():
    batch = _batch((64, 32))
    first, second, other = _relu_mlp(6), _relu_mlp(6), _relu_mlp(6)
    lsuv(first, batch, seed=3)
    lsuv(second, batch, seed=3)
    lsuv(other, batch, seed=4)
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(_numpy(a), _numpy(b))
    assert not np.array_equal(_numpy(first.weights[0]), _numpy(other.weights[0]))


def test_matches_a_numpy_reference_of_algorithm_1():
    batch, tol, cap = _batch((50, 32), seed=5), 0.02, 10
    model = _relu_mlp(depth=4, width=24)
    lsuv(model, batch, seed=7, tol=tol, max_iterations=cap)
    # Reference: the same orthonormal start, then Algorithm 1 written in numpy.
    reference = _relu_mlp(depth=4, width=24)
    initialize_weights(reference, Orthogonal(), seed=7)
    h = batch.astype(np.float64)
    for layer in weight_layers(reference):
        kernel = _numpy(layer.kernel)
        for _ in range(cap):
            variance = (h @ kernel).var()
            if abs(variance - 1) < tol:
                break
            kernel = kernel / math.sqrt(variance)
        z = h @ kernel
        h = np.maximum(z, 0) if layer.activation.__name__ == "relu" else z
        np.testing.assert_allclose(_numpy(model.get_layer(layer.name).kernel), kernel, rtol=2e-5, atol=1e-7)
    assert all(np.all(_numpy(layer.bias) == 0) for layer in weight_layers(model))


def test_constant_output_raises_and_leaves_the_model_unchanged_or_is_skipped():
    model = _relu_mlp(3, 16, input_dim=8)
    before = [_numpy(v) for v in model.weights]
    zeros = np.zeros((16, 8), "float32")  # every layer's output is 0: nothing to rescale
    with pytest.raises(ValueError, match="outputs a constant"):
        lsuv(model, zeros, seed=0)
    for variable, value in zip(model.weights, before):
        np.testing.assert_array_equal(_numpy(variable), value)
    records = lsuv(model, zeros, seed=0, on_constant_output="skip")
    assert {r.status for r in records} == {"skipped: constant output"}
    assert all(np.isfinite(_numpy(v)).all() for v in model.weights)


def test_batchnorm_model_and_bounded_iterations():
    inputs = keras.Input((16,))
    x = keras.layers.Dense(32, name="dense")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="head")(x))
    records = lsuv(model, _batch((64, 16)) * 10, seed=0, max_iterations=1)
    # One forward pass allowed: the first measurement only, far from 1, never rescaled.
    assert all(r.iterations == 1 and r.status == "max_iterations" for r in records)
    records = lsuv(model, _batch((64, 16)) * 10, seed=0)
    assert all(r.status == "converged" for r in records)


@pytest.mark.parametrize("kwargs, message", [(dict(tol=0), "tol"), (dict(tol=float("inf")), "tol"),
                                             (dict(max_iterations=0), "max_iterations"),
                                             (dict(on_constant_output="ignore"), "on_constant_output"),
                                             (dict(seed=-1), "seed")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lsuv(_relu_mlp(2, 8, 8), _batch((4, 8)), **kwargs)


def test_lsuv_is_named_in_configs_but_is_not_a_kernel_initializer():
    import initializers

    assert lsuv_options("lsuv") == {} and lsuv_options({"class_name": "lsuv", "config": {"tol": 0.05}}) == {
        "tol": 0.05}
    assert lsuv_options("he") is None
    with pytest.raises(ValueError, match=r"initializers.lsuv\(model, batch\)"):
        initializers.get("lsuv")


def test_harness_runs_lsuv_from_a_run_config(tmp_path):
    from initializers.jsonio import read_json
    from reproductions import harness
    from reproductions.run_config import RunConfig

    config = RunConfig(name="lsuv", model="plain_net", initializer={"class_name": "lsuv",
                                                                     "config": {"tol": 0.05}},
                       model_kwargs=dict(depth=22, width_multiplier=1 / 32, input_shape=[32, 32, 1],
                                         num_classes=9),
                       dataset="shapeset_location", batch_size=16, steps=4, eval_every=2,
                       eval_examples=32)
    final = harness.run(config, tmp_path, verbose=0)
    assert final["status"] == "completed"
    init = read_json(tmp_path / "runs/lsuv-seed0/init.json")
    assert len(init) == 22 and all(abs(r["variance"] - 1) < 0.05 for r in init)
