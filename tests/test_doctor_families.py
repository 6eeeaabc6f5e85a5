"""A doctor that knows a healthy net: each model read by its family (plain, residual,
normalized), BatchNorm at the batch's statistics, warnings apart from notes, "keep the
current initialization" for a healthy one, and the first updates at the training's learning
rate. The calibration panel itself (results/doctor) is `test_doctor_panel.py`."""

import json
import math

import keras
import keras_hub
import numpy as np
import pytest

import models
from initializers.doctor import examine
from initializers.doctor.architecture import architecture, batch_statistics
from initializers.doctor.cli import main as doctor_main
from initializers.doctor.flags import relative_gradient_trend
from initializers.doctor.measure import MIN_DEAD_SAMPLES

RNG = np.random.default_rng(0)


def _residual_mlp(blocks, width=64, normalization=None):
    inputs = keras.Input((width,))
    x = keras.layers.Dense(width, kernel_initializer="he_normal")(inputs)
    for _ in range(blocks):
        branch = x if normalization is None else normalization()(x)
        branch = keras.layers.Dense(width, activation="relu", kernel_initializer="he_normal")(branch)
        x = keras.layers.Add()([x, keras.layers.Dense(width, kernel_initializer="he_normal")(branch)])
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.ReLU()(x)))


def _bn_resnet(blocks=3, channels=16):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(channels, 3, padding="same")(inputs)
    for _ in range(blocks):
        y = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Conv2D(channels, 3, padding="same")(x)))
        y = keras.layers.BatchNormalization()(keras.layers.Conv2D(channels, 3, padding="same")(y))
        x = keras.layers.ReLU()(x + y)  # the residual sum as a Keras op, as ConvNeXt writes it
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))


def _dense_bn_net():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    for _ in range(3):
        y = keras.layers.Conv2D(8, 3, padding="same")(keras.layers.ReLU()(keras.layers.BatchNormalization()(x)))
        x = keras.layers.Concatenate()([x, y])
    return keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x)))


def _transformer(depth, pre_ln, width=64, length=16):
    tokens = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(1000, width)(tokens)
    for index in range(depth):
        x = keras_hub.layers.TransformerEncoder(4 * width, 4, normalize_first=pre_ln, name=f"block{index}")(x)
    if pre_ln:
        x = keras.layers.LayerNormalization()(x)
    return keras.Model(tokens, keras.layers.Dense(9)(keras.layers.GlobalAveragePooling1D()(x)))


def _hub_backbones():
    small = dict(vocabulary_size=200, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
                 max_sequence_length=16)
    return {"gpt2": keras_hub.models.GPT2Backbone(**small), "bert": keras_hub.models.BertBackbone(**small)}


def test_families_and_where_the_stream_is_read():
    assert architecture(models.DeepMLP(32, 10, depth=4, width=32, activation="relu")).family == "plain"
    assert architecture(models.PlainNet(8, 1 / 32, (32, 32, 1), 9)).family == "plain"
    merges = architecture(_residual_mlp(4))
    assert (merges.family, merges.stream_kind, len(merges.stream), merges.normalization) == (
        "residual", "merges", 4, ())
    ops = architecture(_bn_resnet())  # `x + y` of Keras ops counts as a merge
    assert (ops.family, len(ops.stream), ops.normalization) == ("residual", 3, ("BatchNormalization",))
    for name, backbone in _hub_backbones().items():  # the sums sit inside KerasHub's blocks
        found = architecture(backbone)
        assert (found.family, found.stream_kind, len(found.stream)) == ("residual", "blocks", 2), name
        assert all("transformer_layer" in point.name for point in found.stream)  # not the embedding sum
    assert architecture(_dense_bn_net()).family == "normalized"


def test_batch_norm_is_measured_with_the_batchs_statistics_and_left_as_it_was():
    model = _bn_resnet(blocks=1)
    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    probe = keras.Model(model.inputs[0], norm.output)
    batch = 3.0 + 5.0 * RNG.standard_normal((8, 16, 16, 3)).astype("float32")
    moving = [keras.ops.convert_to_numpy(v).copy() for v in norm.weights]
    inference = keras.ops.convert_to_numpy(probe(batch, training=False))
    with batch_statistics(model):
        normalized = keras.ops.convert_to_numpy(probe(batch, training=False))
    np.testing.assert_allclose(normalized.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)  # per channel, as in training
    np.testing.assert_allclose(normalized.std(axis=(0, 1, 2)), 1.0, atol=1e-2)
    assert not np.allclose(inference.std(axis=(0, 1, 2)), 1.0, atol=0.1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(probe(batch, training=False)), inference)
    examine(model, batch, methods=("current", "he"))
    for variable, value in zip(norm.weights, moving):  # the moving statistics as they were
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


@pytest.mark.parametrize("name", ["he_mlp", "bn_resnet", "pre_ln", "dense_bn", "gpt2", "bert"])
def test_healthy_nets_get_no_warning_and_keep_their_initialization(name):
    builders = {"he_mlp": lambda: models.DeepMLP(64, 10, depth=20, width=128, activation="relu",
                                                 kernel_initializer="he_normal"),
                "bn_resnet": _bn_resnet, "pre_ln": lambda: _transformer(4, True), "dense_bn": _dense_bn_net,
                "gpt2": lambda: _hub_backbones()["gpt2"], "bert": lambda: _hub_backbones()["bert"]}
    keras.utils.set_random_seed(0)
    model = builders[name]()
    report = examine(model, methods=("current", "he"))
    assert report.warnings == [] and report.recommended == "current", report.warnings
    assert "keep the current initialization" in report.to_markdown()
    assert json.loads(report.to_json())["flagged"] is False


@pytest.mark.parametrize("name, expected", [
    ("xavier_mlp", {"vanishing_signal", "vanishing_gradient"}),   # Var = 1/n: halves per ReLU layer
    ("sigmoid_standard", {"vanishing_gradient"}),                  # Glorot & Bengio's standard init
    ("over_scaled_he", {"exploding_signal", "exploding_gradient"}),  # 4x He's variance
    ("residual_he", {"exploding_stream", "exploding_stream_gradient"}),  # He in 30 blocks, no normalization
])
def test_known_bad_nets_get_their_warning(name, expected):
    keras.utils.set_random_seed(0)
    builders = {
        "xavier_mlp": lambda: models.DeepMLP(64, 10, depth=30, width=128, activation="relu",
                                             kernel_initializer="lecun_normal"),
        "sigmoid_standard": lambda: models.DeepMLP(64, 10, depth=10, width=128, activation="sigmoid",
                                                   kernel_initializer="standard_uniform"),
        "over_scaled_he": lambda: models.DeepMLP(64, 10, depth=30, width=128, activation="relu",
                                                 kernel_initializer={"class_name": "VarianceScaling",
                                                                     "config": {"scale": 8.0}}),
        "residual_he": lambda: _residual_mlp(30)}
    report = examine(builders[name](), methods=("current",))
    assert expected <= {flag["kind"] for flag in report.warnings}


def test_normalization_makes_the_stream_gradient_reported_not_judged():
    # The same residual MLP: without normalization its growing stream gradient is a warning;
    # with LayerNorm on every branch input the stream grows polynomially and nothing warns.
    plain = examine(_residual_mlp(30), methods=("current",)).results["current"]
    normed = examine(_residual_mlp(30, normalization=keras.layers.LayerNormalization),
                     methods=("current",)).results["current"]
    assert plain.stream.forward_gain > 1e6
    assert normed.stream.forward_gain < 10 and normed.warnings == []
    assert normed.stream.backward_gain > 1  # reported


@pytest.mark.parametrize("pre_ln, learning_rate, stalls", [(False, 1e-2, True), (True, 1e-2, False),
                                                           (False, 3e-3, False)])
def test_first_updates_catch_a_post_ln_transformer_at_a_rate_that_needs_warmup(pre_ln, learning_rate, stalls):
    # Six Post-LN blocks stall at Adam's 1e-2 without warmup (Xiong et al. 2020); the same
    # blocks Pre-LN, or at 3e-3, fit the batch. Measured at initialization alone, all look alike.
    keras.utils.set_random_seed(0)
    model = _transformer(6, pre_ln)
    tokens = RNG.integers(0, 1000, (32, 16)).astype("int32")
    labels = RNG.integers(0, 9, 32)
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
    report = examine(model, tokens, labels, methods=("current",), optimizer=keras.optimizers.Adam(learning_rate))
    updates = report.results["current"].updates
    assert (updates.steps, len(updates.losses)) == (20, 21)
    assert ("stalls_at_learning_rate" in {f["kind"] for f in report.warnings}) is stalls, updates.ratio
    for variable, value in zip(model.weights, before):  # the model as given, after 20 updates taken on it
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    without = examine(model, tokens, labels, methods=("current",))
    assert without.results["current"].updates is None and any("first updates" in n for n in without.notes)


def test_notes_do_not_set_the_exit_code(tmp_path, capsys):
    # Depthwise kernels: Keras's shape-based fans differ from the layer's (a note), nothing else.
    inputs = keras.Input((16, 16, 8))
    x = keras.layers.DepthwiseConv2D(3, padding="same", depthwise_initializer="he_normal")(inputs)
    x = keras.layers.Conv2D(8, 1, activation="relu", kernel_initializer="he_normal")(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x)))
    model.save(tmp_path / "depthwise.keras")
    code = doctor_main([str(tmp_path / "depthwise.keras"), "--out", str(tmp_path / "r"), "--methods", "current"])
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    line = capsys.readouterr().out
    assert code == 0 and not report["flagged"] and report["recommended"] == "current"
    assert {f["kind"] for f in report["methods"]["current"]["flags"]} == {"fan_mismatch"}
    assert "warnings: none; notes: fan_mismatch; keep the current initialization" in line


def test_cli_exits_0_on_resnet50_at_224_and_on_keras_hub_backbones(tmp_path):
    assert doctor_main(["keras.applications:ResNet50", "--batch-size", "2", "--methods", "current", "--quiet",
                        "--out", str(tmp_path / "resnet50")]) == 0
    report = json.loads((tmp_path / "resnet50" / "report.json").read_text())
    assert report["batch_shape"] == [2, 224, 224, 3] and report["family"] == "residual"
    stream = report["methods"]["current"]["stream"]
    assert len(stream["points"]) == 16 and stream["backward_gain"] > 10  # reported, not judged
    for builder in ("GPT2Backbone", "BertBackbone"):
        kwargs = json.dumps(dict(vocabulary_size=1000, num_layers=4, num_heads=4, hidden_dim=128,
                                 intermediate_dim=512, max_sequence_length=64))
        assert doctor_main([f"keras_hub.models:{builder}", "--kwargs", kwargs, "--methods", "current", "--quiet",
                            "--out", str(tmp_path / builder)]) == 0, builder


def test_cli_first_updates_with_lr_and_bad_values_exit_2(tmp_path, capsys):
    code = doctor_main(["models:DeepMLP", "--kwargs", json.dumps({"input_dim": 64, "num_classes": 10, "depth": 3,
                                                                 "width": 32, "activation": "relu"}),
                        "--methods", "current", "--optimizer", "adam", "--lr", "1e-3", "--out", str(tmp_path / "r"),
                        "--quiet"])
    updates = json.loads((tmp_path / "r" / "report.json").read_text())["methods"]["current"]["updates"]
    assert code == 0 and updates["optimizer"] == "Adam" and updates["steps"] == 20 and len(updates["losses"]) == 21
    assert updates["ratio"] < 0.5
    assert doctor_main(["models:DeepMLP", "--lr", "-1", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "--lr must be positive" in capsys.readouterr().err


def test_relative_gradients_and_the_dead_unit_sample_floor():
    model = models.DeepMLP(64, 10, depth=6, width=64, activation="relu", kernel_initializer="lecun_normal")
    report = examine(model, RNG.standard_normal((16, 64)).astype("float32"), methods=("current",))
    layers = report.results["current"].layers
    kernel = keras.ops.convert_to_numpy(model.layers[1].kernel)
    assert layers[0].kernel_norm == pytest.approx(float(np.linalg.norm(kernel)), rel=1e-5)
    assert layers[0].relative_gradient == pytest.approx(layers[0].weight_gradient_norm / layers[0].kernel_norm)
    # Var = 1/n: each ReLU layer halves the signal, so the first layers' gradients (and
    # relative gradients) are the smallest.
    assert relative_gradient_trend(layers) < 1
    tiny = examine(model, RNG.standard_normal((MIN_DEAD_SAMPLES - 1, 64)).astype("float32"), methods=("current",))
    assert all(row.dead_fraction is None for row in tiny.results["current"].layers)


def test_mini_batch_updates_take_the_gradient_of_their_examples_alone():
    # The first updates' mini-batch loss: the whole batch goes through the model, only the
    # mini-batch's examples carry gradient, at the scale of their own mean loss.
    from initializers.diagnostics.gradients import backend_gradients, summed_loss
    from initializers.doctor.updates import _mini_batch_loss, mini_batches

    assert [m.sum() for m in mini_batches(20, 8)] == [8, 12] and mini_batches(12, 8) == [None]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="tanh"), keras.layers.Dense(3)])
    x = RNG.normal(size=(16, 5)).astype("float32")
    y = RNG.integers(0, 3, 16)
    mean_loss = lambda outputs: summed_loss("cross_entropy", y, True)(outputs) / 16
    mask = mini_batches(16, 8)[1]
    chunk = backend_gradients(model, _mini_batch_loss(mean_loss, mask), x, model.trainable_variables)
    alone = backend_gradients(model, lambda outputs: summed_loss("cross_entropy", y[mask], True)(outputs) / 8,
                              x[mask], model.trainable_variables)
    for a, b in zip(chunk, alone):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("spread_ratio, ratio, smaller, expected", [
    (0.007, 0.04, 0.003, {"collapses_at_learning_rate"}),   # a 12-block Post-LN at Adam 1e-3: fits, collapses
    (0.12, 0.04, 0.003, set()),                               # GPT-2 at Adam 1e-3: keeps its spread
    (1.0, 0.8, 0.9, set()),                                   # slow at the rate, slower at a tenth: no stall
    (1.0, 0.8, 0.1, {"stalls_at_learning_rate"}),             # a tenth of the rate fits the batch, the rate not
    (None, math.inf, 0.1, {"stalls_at_learning_rate"}),       # not finite
])
def test_first_update_findings(spread_ratio, ratio, smaller, expected):
    from initializers.doctor.flags import _update_flags
    from initializers.doctor.updates import UpdatesMeasurement

    updates = UpdatesMeasurement("Adam", 1e-3, 20, [3.0], ratio, [3.0], smaller, 8, spread_ratio)
    found = _update_flags(updates)
    assert {flag["kind"] for flag in found} == expected
    assert all(flag["severity"] == "warning" for flag in found)


def test_no_recommendation_when_no_candidate_has_fewer_warnings():
    # A 10-layer sigmoid MLP at SGD momentum 1e-2: the standard init warns of vanishing
    # gradients, and every candidate also stalls at that rate (results/doctor): recommending
    # one of them would send the user after the wrong cause.
    from types import SimpleNamespace

    from initializers.doctor import recommend

    def result(*kinds, gain_error=0.0):
        return SimpleNamespace(warnings=[{"kind": kind} for kind in kinds], gain_error=lambda: gain_error)

    stalled = {"current": result("vanishing_gradient"), "he": result("vanishing_gradient", "stalls"),
               "lsuv": result("vanishing_gradient", "stalls")}
    assert recommend(stalled) is None and recommend(stalled, data_free=True) is None
    fixed = {**stalled, "he": result()}
    assert recommend(fixed) == "he" and recommend(fixed, data_free=True) == "he"
    assert recommend({"current": result()}) == "current"
    # As many warnings: a candidate whose gains are closer to 1 (He on the Xavier plain net).
    tied = {"current": result("vanishing_signal", gain_error=30.0), "he": result("vanishing_signal", gain_error=9.0)}
    assert recommend(tied) == "he"
    assert recommend({**tied, "he": result("vanishing_signal", gain_error=31.0)}) is None
