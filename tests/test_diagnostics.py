"""Diagnostics against values computed by hand, by numpy and by autodiff."""

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
@pytest.mark.parametrize("activation, widths", [("tanh", [20, 15]), ("sigmoid", [20, 15]),
                                                ("softsign", [20, 15]), ("relu", [20, 15]),
                                                ("tanh", [15, 20])])  # narrowing and widening
def test_jacobian_matches_autodiff(activation, widths):
    model = _mlp(widths, activation)
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


def _classifier(activation, head_activation=None):
    inputs = keras.Input((4, 4))
    x = keras.layers.Flatten()(inputs)
    for width in (12, 10):
        x = keras.layers.Dense(width, activation=activation)(x)
    return keras.Model(inputs, keras.layers.Dense(5, activation=head_activation)(x))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="reference uses tf.GradientTape")
@pytest.mark.parametrize("activation, head", [("tanh", None), ("sigmoid", None), ("softsign", None),
                                              ("relu", None), ("tanh", "softmax")])
def test_backpropagation_matches_autodiff(activation, head):
    model = _classifier(activation, head)
    initialize_weights(model, "glorot", seed=3, bias=0.05)
    x = np.random.default_rng(1).uniform(-1, 1, (6, 4, 4)).astype("float32")
    y = np.array([0, 1, 2, 3, 4, 0])
    activation_grads, weight_grads = diagnostics.backpropagate(model, x, y)
    model_probes = diagnostics.probes(model)
    probe_model = keras.Model(model.inputs[0], [p.output_layer.output for p in model_probes])
    from_logits = head is None
    with tf.GradientTape(persistent=True) as tape:
        outputs = probe_model(x)
        per_example = keras.losses.sparse_categorical_crossentropy(y, outputs[-1], from_logits=from_logits)
        total, mean = tf.reduce_sum(per_example), tf.reduce_mean(per_example)
    expected_activation = tape.gradient(total, outputs[:-1])
    expected_weight = tape.gradient(mean, [p.weight_layer.kernel for p in model_probes])
    for ours, reference in zip(activation_grads[:-1], expected_activation):
        np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-4, atol=1e-6)
    for ours, reference in zip(weight_grads, expected_weight):
        np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-4, atol=1e-6)
    if from_logits:
        logits_grad = tape.gradient(total, outputs[-1]).numpy()
        np.testing.assert_allclose(activation_grads[-1], logits_grad, rtol=1e-4, atol=1e-6)


def test_gradient_statistics_rows_and_errors():
    model = _classifier("tanh")
    initialize_weights(model, "standard", seed=0)
    x = np.random.default_rng(0).uniform(-1, 1, (20, 4, 4)).astype("float32")
    backprop_rows, weight_rows = diagnostics.gradient_statistics(model, x, np.arange(20) % 5)
    assert [r["layer"] for r in backprop_rows] == [r["layer"] for r in weight_rows] == \
        [l.name for l in model.layers if isinstance(l, keras.layers.Dense)]
    assert all(r["std"] > 0 for r in backprop_rows + weight_rows)
    conv = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                             keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="chains of Dense layers"):
        diagnostics.gradient_statistics(conv, np.zeros((2, 8, 8, 1), "float32"), [0, 1], method="numpy")
    sequential_rows, _ = diagnostics.gradient_statistics(conv, np.ones((2, 8, 8, 1), "float32"), [0, 1])
    assert len(sequential_rows) == 2 and len(conv.weights) == 4  # autodiff path, no taps left behind
    with pytest.raises(ValueError, match="logits"):
        diagnostics.gradient_statistics(_mlp([4, 3], "tanh"), _batch(2, 16), [0, 1])


def test_glorot_bengio_init_time_observations_on_shapeset():
    # Glorot & Bengio 2010, tanh, 5 hidden layers, at initialization:
    # Fig. 6: with standard init activations shrink with depth; normalized keeps them alike.
    # Fig. 7: with standard init back-propagated gradients shrink towards the input;
    #         normalized keeps them nearly flat.
    # Fig. 8: weight gradients are similar across layers even with standard init.
    from reproductions.data import shapeset

    x, y = shapeset.generate(200, seed=5)
    inputs = keras.Input((32, 32, 1))
    hidden = keras.layers.Flatten()(inputs)
    for _ in range(5):
        hidden = keras.layers.Dense(300, activation="tanh")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(9)(hidden))
    ratios = {}
    for method in ("standard_uniform", "glorot_uniform"):
        initialize_weights(model, method, seed=0)
        activation_std = [r["std"] for r in diagnostics.activation_statistics(model, x)[:5]]
        backprop, weights = diagnostics.gradient_statistics(model, x, y)
        backprop_std = [r["std"] for r in backprop[:5]]
        weight_std = [r["std"] for r in weights[:5]]
        ratios[method] = (activation_std[4] / activation_std[0], backprop_std[0] / backprop_std[4],
                          max(weight_std) / min(weight_std))
    standard, normalized = ratios["standard_uniform"], ratios["glorot_uniform"]
    assert standard[0] < 0.25 and normalized[0] > 0.5, ratios    # Fig. 6
    assert standard[1] < 0.25 and normalized[1] > 0.5, ratios    # Fig. 7
    assert standard[2] < 1.5, ratios                              # Fig. 8


def test_recorder_with_labels_records_gradients_and_tensorboard_histograms(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    inputs = keras.Input((16,))
    hidden = keras.layers.Dense(10, activation="tanh")(keras.layers.Dense(12, activation="tanh")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _batch(64, 16), np.arange(64) % 3
    path, board = tmp_path / "stats.jsonl", tmp_path / "board"
    recorder = diagnostics.ActivationStatsRecorder(x[:20], path, every=8, bins=7, value_range=(-1, 1),
                                                   labels=y[:20], tensorboard_dir=board)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    records = diagnostics.read_records(path)
    assert [r["step"] for r in records] == [0, 8]
    backprop, weights = diagnostics.gradient_statistics(model, x[:20], y[:20], bins=7)
    assert records[-1]["backprop"][0]["std"] == pytest.approx(backprop[0]["std"], rel=1e-5)
    assert records[-1]["weights"][2]["std"] == pytest.approx(weights[2]["std"], rel=1e-5)
    assert records[-1]["layers"][0]["histogram"]["edges"][0] == -1.0

    events = EventAccumulator(str(board), size_guidance={"histograms": 0}).Reload()
    layer = model.layers[1].name
    assert {f"activations/{layer}", f"backprop/{layer}", f"weight_gradients/{layer}"} <= set(
        events.Tags()["histograms"])
    histogram = events.Histograms(f"activations/{layer}")[-1]
    assert histogram.step == 8
    assert histogram.histogram_value.num == sum(records[-1]["layers"][0]["histogram"]["counts"])
    assert list(histogram.histogram_value.bucket) == records[-1]["layers"][0]["histogram"]["counts"]
    with pytest.raises(ValueError, match="one label per example"):
        diagnostics.ActivationStatsRecorder(x[:20], path, labels=y[:5])


def test_gradient_statistics_shared_histogram_range():
    model = _classifier("tanh")
    x, y = _batch(20, 16).reshape(20, 4, 4), np.arange(20) % 5
    values = diagnostics.backpropagate(model, x, y)
    shared = diagnostics.gradient_statistics(model, x, y, bins=9)
    for rows, gradients in zip(shared, values):
        hidden_bound = max(np.abs(g).max() for g in gradients[:-1])
        bounds = [hidden_bound] * (len(gradients) - 1) + [np.abs(gradients[-1]).max()]
        for row, gradient, bound in zip(rows, gradients, bounds):
            # One symmetric range for the hidden layers, its own for the output; all values counted.
            assert row["histogram"]["edges"][0] == pytest.approx(-bound)
            assert row["histogram"]["edges"][-1] == pytest.approx(bound)
            assert sum(row["histogram"]["counts"]) == gradient.size
    own, _ = diagnostics.gradient_statistics(model, x, y, bins=9, value_range=None)
    assert own[0]["histogram"]["edges"][0] == pytest.approx(values[0][0].min())
    assert own[0]["histogram"]["edges"][-1] == pytest.approx(values[0][0].max())
    with pytest.raises(ValueError, match="value_range"):
        diagnostics.gradient_statistics(model, x, y, value_range="each")


def _small_cnn():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv2")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="reference uses tf.GradientTape")
def test_autodiff_gradients_of_a_cnn_match_a_hand_split_tape():
    model = _small_cnn()
    initialize_weights(model, "he", seed=3)
    x = np.random.default_rng(4).normal(size=(5, 8, 8, 2)).astype("float32")
    y = np.array([0, 1, 2, 1, 0])
    activation_grads, weight_grads = diagnostics.autodiff_gradients(model, x, y)
    # Reference: run the layers by hand, watching each probed output.
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    layers = model.layers[1:]
    with tf.GradientTape(persistent=True) as tape:
        h1 = layers[0](x)
        tape.watch(h1)
        h2 = layers[2](layers[1](h1))
        tape.watch(h2)
        logits = layers[4](layers[3](h2))
        tape.watch(logits)
        loss = loss_fn(y, logits)
    expected = tape.gradient(loss, [h1, h2, logits])
    kernels = tape.gradient(loss, [model.get_layer(n).kernel for n in ("conv1", "conv2", "logits")])
    for ours, reference in zip(activation_grads, expected):
        np.testing.assert_allclose(ours, reference.numpy(), rtol=1e-4, atol=1e-6)
    for ours, reference in zip(weight_grads, kernels):
        np.testing.assert_allclose(ours, reference.numpy() / len(x), rtol=1e-4, atol=1e-7)
    assert len(model.weights) == 6  # the model itself gained no taps


def test_gradient_statistics_methods_agree_and_auto_handles_any_model():
    model = _classifier("tanh")
    initialize_weights(model, "glorot", seed=0)
    x, y = _batch(20, 16).reshape(20, 4, 4), np.arange(20) % 5
    by_numpy = diagnostics.gradient_statistics(model, x, y, method="numpy")
    by_autodiff = diagnostics.gradient_statistics(model, x, y, method="autodiff")
    for rows_numpy, rows_autodiff in zip(by_numpy, by_autodiff):
        for a, b in zip(rows_numpy, rows_autodiff):
            assert a["layer"] == b["layer"]
            assert a["std"] == pytest.approx(b["std"], rel=1e-4)
    cnn = _small_cnn()
    backprop, weights = diagnostics.gradient_statistics(cnn, np.ones((3, 8, 8, 2), "float32"), [0, 1, 2])
    assert [row["layer"] for row in backprop] == ["conv1", "conv2", "logits"]
    with pytest.raises(ValueError, match="chains of Dense"):
        diagnostics.gradient_statistics(cnn, np.ones((3, 8, 8, 2), "float32"), [0, 1, 2], method="numpy")
    with pytest.raises(ValueError, match="method"):
        diagnostics.gradient_statistics(cnn, np.ones((3, 8, 8, 2), "float32"), [0, 1, 2], method="tape")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="reference uses tf.GradientTape")
def test_kernel_gradient_norms_match_a_tape_and_the_recorder_logs_them(tmp_path):
    model = _small_cnn()
    initialize_weights(model, "he", seed=0)
    images = np.random.default_rng(0).normal(size=(6, 8, 8, 2)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 2])
    names, norms = diagnostics.kernel_gradient_norms(model, images, labels)
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, model(images))
    expected = [float(tf.norm(g)) for g in tape.gradient(loss, kernels)]
    assert names == [layer.name for layer in model.layers if hasattr(layer, "kernel")]
    np.testing.assert_allclose(norms, expected, rtol=1e-5)

    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    path = tmp_path / "gradients.jsonl"
    model.fit(images, labels, batch_size=2, epochs=2, verbose=0,
              callbacks=[diagnostics.KernelGradientNormRecorder(images, labels, path, every=3)])
    records = diagnostics.read_records(path)
    assert [r["step"] for r in records] == [0, 3, 6]
    assert records[0]["layers"] == names and records[0]["kernel_grad_norm"] == pytest.approx(norms)


def test_numpy_rules_refuse_an_activation_behind_batch_normalization():
    # Dense -> BatchNormalization -> ReLU: h = relu(BN(W x + b)), not relu(W x + b),
    # so the exact numpy rules would be wrong; autodiff handles it.
    inputs = keras.Input((16,))
    x = keras.layers.Dense(8, activation="tanh", name="first")(inputs)
    x = keras.layers.Dense(8, name="second")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    batch, labels = _batch(5, 16), [0, 1, 2, 0, 1]
    with pytest.raises(ValueError, match="through other layers"):
        diagnostics.backpropagate(model, batch, labels)
    with pytest.raises(ValueError, match="through other layers"):
        diagnostics.jacobian_singular_values(model, batch)
    backprop, _ = diagnostics.gradient_statistics(model, batch, labels)  # method="auto"
    assert [row["layer"] for row in backprop][0] == "first"


def test_recorder_writes_non_finite_values_as_null(tmp_path):
    model = _mlp([4], "tanh")
    model.compile(optimizer="sgd", loss="mse")
    path = tmp_path / "stats.jsonl"
    recorder = diagnostics.ActivationStatsRecorder(np.full((2, 16), np.nan, "float32"), path, every=1)
    model.fit(_batch(2, 16), np.zeros((2, 4), "float32"), epochs=1, verbose=0, callbacks=[recorder])
    text = path.read_text()
    assert "NaN" not in text and '"mean": null' in text and '"nonfinite": 1.0' in text
    # Gradient statistics of a diverged network do not crash either.
    rows, _ = diagnostics.gradient_statistics(_classifier("tanh"), np.full((2, 4, 4), np.nan, "float32"),
                                              [0, 1])
    assert all(row["nonfinite"] == 1.0 and row["std"] is None for row in rows)
