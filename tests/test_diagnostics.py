"""Forward diagnostics against values computed by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from initializers import diagnostics, initialize_weights


def _mlp(widths, activation, input_dim=16):
    inputs = keras.Input((input_dim,))
    hidden = inputs
    for width in widths:
        hidden = keras.layers.Dense(width, activation=activation)(hidden)
    return keras.Model(inputs, hidden)


def _batch(n, dim, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, dim)).astype("float32")


def test_linear_net_jacobian_singular_values_are_the_weights():
    model = _mlp([12, 10], "linear")
    initialize_weights(model, "glorot", seed=0)
    (result,) = diagnostics.jacobian_singular_values(model, _batch(4, 16))
    kernel = keras.ops.convert_to_numpy(model.layers[2].kernel).astype(np.float64)
    assert result["mean_singular_value"] == pytest.approx(np.linalg.svd(kernel, compute_uv=False).mean())
    assert result["std_over_examples"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="reference uses tf.GradientTape")
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softsign", "relu"])
def test_jacobian_matches_autodiff(activation):
    model = _mlp([20, 15], activation)
    initialize_weights(model, "glorot", seed=1)
    batch = _batch(3, 16, seed=2)
    (result,) = diagnostics.jacobian_singular_values(model, batch)
    first, second = model.layers[1], model.layers[2]
    expected = []
    for example in batch:
        hidden = tf.constant(first(example[None]))
        with tf.GradientTape() as tape:
            tape.watch(hidden)
            output = second(hidden)
        jacobian = tape.batch_jacobian(output, hidden)[0].numpy().astype(np.float64)
        expected.append(np.linalg.svd(jacobian, compute_uv=False).mean())
    assert result["mean_singular_value"] == pytest.approx(np.mean(expected), rel=1e-4)


def test_glorot_bengio_jacobian_numbers_standard_vs_normalized():
    # Glorot & Bengio 2010, Sec. 4.2.2: with tanh, the layer-to-layer Jacobians'
    # average singular value is about 0.5 with the standard init and about 0.8
    # with the normalized init.
    model = _mlp([400] * 5, "tanh", input_dim=400)
    batch = _batch(8, 400)
    means = {}
    for method in ("standard_uniform", "glorot_uniform"):
        initialize_weights(model, method, seed=0)
        means[method] = np.mean([r["mean_singular_value"]
                                 for r in diagnostics.jacobian_singular_values(model, batch, 4)])
    assert 0.4 < means["standard_uniform"] < 0.6, means
    assert 0.65 < means["glorot_uniform"] < 0.9, means


def test_activation_statistics_match_numpy_forward_pass():
    model = _mlp([30, 20], "tanh")
    initialize_weights(model, "standard", seed=0, bias=0.1)
    batch = _batch(50, 16)
    stats = diagnostics.activation_statistics(model, batch, bins=10, value_range=(-1, 1))
    weights = [keras.ops.convert_to_numpy(w).astype(np.float64) for w in model.weights]
    hidden = np.tanh(batch @ weights[0] + weights[1])
    output = np.tanh(hidden @ weights[2] + weights[3])
    for row, values in zip(stats, (hidden, output)):
        assert row["activation"] == "tanh"
        assert row["mean"] == pytest.approx(values.mean(), abs=1e-6)
        assert row["std"] == pytest.approx(values.std(), rel=1e-5)
        assert row["p98"] == pytest.approx(np.percentile(values, 98), abs=1e-5)
        assert row["saturation"] == pytest.approx(np.mean(np.abs(values) >= 0.9), abs=1e-6)
        assert sum(row["histogram"]["counts"]) == values.size
    assert "tanh" in diagnostics.format_table(stats)


def test_probes_read_the_consuming_activation_layer_and_relu_zeros():
    inputs = keras.Input((8,))
    x = keras.layers.Dense(16, name="pre")(inputs)
    x = keras.layers.ReLU(name="act")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="head")(x))
    (first, head) = diagnostics.probes(model)
    assert first.output_layer.name == "act" and first.activation == "relu"
    assert head.output_layer.name == "head" and head.activation == "linear"
    stats = diagnostics.activation_statistics(model, _batch(40, 8))
    values = diagnostics.layer_activations(model, _batch(40, 8))[0]
    assert values.min() >= 0
    assert stats[0]["saturation"] == pytest.approx(np.mean(values == 0))
    assert stats[1]["saturation"] is None


def test_errors():
    with pytest.raises(ValueError, match="not built"):
        diagnostics.probes(keras.Sequential([keras.layers.Dense(2)]))
    no_dense = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="no Dense or Conv"):
        diagnostics.probes(no_dense)
    with pytest.raises(ValueError, match="at least two Dense"):
        diagnostics.jacobian_singular_values(_mlp([4], "tanh"), _batch(2, 16))
    with pytest.raises(ValueError, match="No derivative rule"):
        diagnostics.jacobian_singular_values(_mlp([4, 4], "selu"), _batch(2, 16))


def test_recorder_callback_logs_statistics_during_training(tmp_path):
    model = _mlp([12, 3], "tanh")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", steps_per_execution=1)
    x, y = _batch(64, 16), _batch(64, 3, seed=1)
    path = tmp_path / "stats.jsonl"
    probe_batch = x[:20]
    recorder = diagnostics.ActivationStatsRecorder(probe_batch, path, every=4, bins=5)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[recorder])
    records = diagnostics.read_records(path)
    assert [r["step"] for r in records] == [0, 4, 8, 12, 16]
    assert [row["layer"] for row in records[0]["layers"]] == [l.name for l in model.layers[1:]]
    final = diagnostics.activation_statistics(model, probe_batch, bins=5)
    assert records[-1]["layers"][0]["std"] == pytest.approx(final[0]["std"], rel=1e-5)
    assert records[0]["layers"][0]["std"] != pytest.approx(final[0]["std"], rel=1e-3)  # it trained
    with pytest.raises(ValueError, match="every"):
        diagnostics.ActivationStatsRecorder(probe_batch, path, every=0)
