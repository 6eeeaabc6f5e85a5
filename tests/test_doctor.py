"""The init doctor on our plain nets and on architectures Keras ships (weights=None, offline)."""

import json
import pathlib
import sys

import keras
import numpy as np
import pytest

import initializers
import models
from initializers.doctor import examine
from initializers.doctor.cli import main as doctor_main

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLAIN30_XAVIER = json.dumps({"depth": 30, "width_multiplier": 0.03125, "input_shape": [32, 32, 1],
                             "num_classes": 9, "kernel_initializer": "lecun_normal"})
MLP30_XAVIER = json.dumps({"input_dim": 256, "num_classes": 10, "depth": 30, "width": 256,
                           "activation": "relu", "kernel_initializer": "lecun_normal"})


def _plain30(kernel_initializer):
    return models.PlainNet(30, 1 / 32, (32, 32, 1), 9, kernel_initializer=kernel_initializer)


def test_xavier_plain30_is_flagged_vanishing_and_padding_explains_why_he_is_not_enough():
    # Xavier (Var = 1/n): the signal halves per ReLU layer (He et al. 2015, Sec. 2.2). He
    # restores orders of magnitude, but on 32x32 inputs the last stage's convolutions run
    # on 2x2 maps, where 'same' padding hides 44-56% of each kernel: every fan-in rule
    # over-counts there, and only LSUV, which measures, compensates it.
    model = _plain30("lecun_normal")
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
    batch = np.random.default_rng(0).standard_normal((8, 32, 32, 1)).astype("float32")
    report = examine(model, batch, methods=("current", "he", "glorot", "lsuv"))
    kinds = {f["kind"] for f in report.flags}
    assert {"vanishing_signal", "vanishing_gradient", "padding_loss"} <= kinds
    current, he, lsuv = (report.results[m] for m in ("current", "he", "lsuv"))
    assert he.forward_gain > 1000 * current.forward_gain
    assert report.recommended == "lsuv" and 0.5 < lsuv.forward_gain < 2.0
    assert report.recommended_data_free == "he"  # the best rule that needs no data
    padded = {f["layer"] for f in report.flags if f["kind"] == "padding_loss"}
    assert {l for l in padded if l.startswith("stage3")} == {f"stage3_conv{i}_{k}x{k}" for i, k in
                                                               [(1, 3), (2, 3), (3, 3), (4, 2), (5, 2), (6, 2),
                                                                (7, 2), (8, 2)]}
    for variable, value in zip(model.weights, before):  # the model itself is never changed
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    text = report.to_markdown()
    assert "vanishing_signal" in text and "Thresholds" in text and "cannot judge" in text
    assert "Best rule without data:** `he`" in text
    assert "Narrow layers (the narrowest hidden weight layer has 3 units or channels" in text  # the stem
    assert json.loads(report.to_json())["recommended"] == "lsuv"


def test_cli_plain30_xavier_flags_vanishing(tmp_path):
    out = tmp_path / "report"
    assert doctor_main(["models:PlainNet", "--kwargs", PLAIN30_XAVIER, "--out", str(out), "--quiet"]) == 1
    report = json.loads((out / "report.json").read_text())
    assert report["flagged"] and {"vanishing_signal", "vanishing_gradient"} <= {
        f["kind"] for f in report["methods"]["current"]["flags"]}
    assert (out / "report.md").stat().st_size > 0 and (out / "doctor.png").stat().st_size > 10_000


def test_cli_deep_mlp_xavier_flagged_then_he_applied_passes(tmp_path):
    # Where He's assumptions hold (a wide fully connected ReLU net), He is recommended and
    # keeps the signal: after --apply he the forward gain is within a factor 2 of 1.
    out, fixed = tmp_path / "report", tmp_path / "fixed.keras"
    code = doctor_main(["models:DeepMLP", "--kwargs", MLP30_XAVIER, "--out", str(out), "--quiet",
                        "--apply", "he", "--output", str(fixed)])
    report = json.loads((out / "report.json").read_text())
    assert code == 1 and report["recommended"] == "he"
    code = doctor_main([str(fixed), "--out", str(tmp_path / "after"), "--quiet", "--methods", "current"])
    after = json.loads((tmp_path / "after" / "report.json").read_text())
    assert 0.5 < after["methods"]["current"]["forward_gain"] < 2.0
    assert code == 0 and not after["flagged"]


@pytest.mark.parametrize("argv, reason", [
    (["missing.keras"], "no such file"),
    (["models:NoSuchBuilder"], "cannot import"),
    (["models:PlainNet", "--kwargs", "{not json"], "not JSON"),
    (["models:PlainNet", "--kwargs", PLAIN30_XAVIER, "--methods", "current", "kaiming"], "unknown method"),
    (["models:PlainNet", "--kwargs", PLAIN30_XAVIER, "--data", "mnist.npz"], "--data must be"),
    (["models:PlainNet", "--kwargs", PLAIN30_XAVIER, "--apply", "he", "--output", "fixed.h5"],
     "must name a .keras file"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, reason, capsys, tmp_path):
    assert doctor_main(argv + ["--out", str(tmp_path), "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and reason in error and "\n" not in error


def test_cli_data_from_a_generator_module(tmp_path):
    # --data module:function: any (batch_size, seed) -> (images, labels) generator, here the
    # offline Shapeset-location data the He 2015 reproduction trains on (labels used).
    out = tmp_path / "report"
    code = doctor_main(["models:PlainNet", "--kwargs", PLAIN30_XAVIER, "--methods", "current", "he",
                        "--data", "reproductions.data.shapeset:generate_location", "--out", str(out),
                        "--quiet"])
    report = json.loads((out / "report.json").read_text())
    assert code == 1 and report["batch_shape"] == [8, 32, 32, 1]
    assert report["methods"]["he"]["forward_gain"] > 100 * report["methods"]["current"]["forward_gain"]


def test_cli_data_generator_of_the_wrong_shape_exits_2(tmp_path, capsys):
    code = doctor_main(["models:DeepMLP", "--kwargs", MLP30_XAVIER, "--data",
                        "reproductions.data.shapeset:generate", "--out", str(tmp_path), "--quiet"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error
    assert "Input 'features' of model 'deep_mlp' takes arrays of shape (None, 256)" in error and "(8, 32, 32, 1)" in error


def test_errors_are_typed_and_carry_their_reason():
    # The command line prints `reason`: no parsing of message texts.
    with pytest.raises(initializers.UnknownInitializerError) as info:
        initializers.get("kaiming")
    assert info.value.identifier == "kaiming" and "Valid names" in info.value.reason
    assert str(info.value) == f"{info.value.reason} Received: identifier='kaiming'"
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(initializers.UnsupportedModelError, match="not built"):
        examine(unbuilt, np.zeros((2, 4), "float32"))
    with pytest.raises(initializers.UnsupportedModelError, match="cannot draw"):
        initializers.initialize_weights(_plain30("he"), "delta_orthogonal")  # the fc layers are Dense
    dead = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
    with pytest.raises(initializers.LayerOutputError) as info:
        initializers.lsuv(dead, np.zeros((8, 4), "float32"))
    assert info.value.layer == dead.layers[0].name and "constant" in info.value.reason


def test_cli_unbuilt_model_and_unsupported_layer_exit_2(tmp_path, capsys):
    unbuilt = tmp_path / "unbuilt.py"
    unbuilt.write_text("import keras\n\ndef Net():\n    return keras.Sequential([keras.layers.Dense(3)])\n\n"
                       "class Table(keras.layers.Layer):\n"
                       "    def build(self, shape):\n        self.table = self.add_weight(shape=(4, 4))\n"
                       "    def call(self, x):\n        return keras.ops.matmul(x, self.table)\n\n"
                       "def Unknown():\n    inputs = keras.Input((4,))\n"
                       "    return keras.Model(inputs, keras.layers.Dense(3)(Table()(inputs)))\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert doctor_main(["unbuilt:Net", "--out", str(tmp_path / "a"), "--quiet"]) == 2
        assert "not built" in capsys.readouterr().err
        assert doctor_main(["unbuilt:Unknown", "--out", str(tmp_path / "b"), "--quiet"]) == 2
        error = capsys.readouterr().err
        assert "unsupported layer" in error and "Table" in error and "\n" not in error.strip()
    finally:
        sys.path.remove(str(tmp_path))


def test_cli_apply_that_cannot_be_done_exits_2_and_saves_nothing(tmp_path, capsys):
    # An all-zero batch: the first layer's output is constant, so LSUV cannot scale it.
    data, fixed = tmp_path / "zeros.npz", tmp_path / "fixed.keras"
    np.savez(data, x=np.zeros((8, 256), "float32"))
    code = doctor_main(["models:DeepMLP", "--kwargs", MLP30_XAVIER, "--data", str(data), "--quiet",
                        "--methods", "current", "--out", str(tmp_path / "r"), "--apply", "lsuv",
                        "--output", str(fixed)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "constant" in error and "\n" not in error and not fixed.exists()


@pytest.mark.parametrize("builder, kwargs", [
    ("VGG16", {"input_shape": (64, 64, 3), "classes": 10}),
    ("ResNet50", {"input_shape": (64, 64, 3), "classes": 10}),
    ("MobileNetV2", {"input_shape": (64, 64, 3), "classes": 10}),
])
def test_keras_applications_offline(builder, kwargs):
    model = getattr(keras.applications, builder)(weights=None, **kwargs)
    batch = np.random.default_rng(0).standard_normal((4, 64, 64, 3)).astype("float32")
    report = examine(model, batch, methods=("current", "he"))
    layers = report.results["current"].layers
    assert len(layers) == len(models.weight_layers(model))
    kinds = {f["kind"] for f in report.flags}
    # VGG16 and ResNet50 have at least 64 channels everywhere; MobileNetV2 goes down to 16.
    assert any("Narrow layers" in note for note in report.cannot_judge) == (builder == "MobileNetV2")
    if builder == "MobileNetV2":  # depthwise kernels: Keras's shape-based fans are wrong
        assert "fan_mismatch" in kinds
        assert {row.activation for row in layers} >= {"relu6"}  # ReLU(max_value=6) read as relu6
    if builder == "ResNet50":
        assert any("BatchNormalization" in note for note in report.cannot_judge)
        # Every residual merge reported: branch RMS over shortcut RMS, the branch told by the
        # graph in the 12 identity blocks (the shortcut is no weight layer's output).
        merges = report.results["current"].merges
        assert len(merges) == 16 and all(0 < m["ratio"] < float("inf") for m in merges)
        assert sum(m["branch_from"] == "graph" for m in merges) == 12
        assert "## Residual merges" in report.to_markdown()
    if builder == "VGG16":  # deep plain ReLU net with Keras's default Glorot: no BN to rescue it
        assert report.results["current"].forward_gain < report.results["he"].forward_gain


def _dense_net(hidden, units, outputs, width=128, activation="relu"):
    inputs = keras.Input((width,))
    x = inputs
    for _ in range(hidden):
        x = keras.layers.Dense(units, activation=activation, kernel_initializer="glorot_uniform")(x)
    return keras.Model(inputs, keras.layers.Dense(outputs)(x))


def test_one_output_regressor_gets_a_squared_output_surrogate_not_a_zero_gradient():
    # Regression: a 1-unit output was measured as a 1-class cross-entropy, whose gradient is
    # exactly 0, so the doctor reported a backward gain of 0 and flagged a vanishing gradient.
    model = _dense_net(hidden=6, units=256, outputs=1)
    batch = np.random.default_rng(0).standard_normal((32, 128)).astype("float32")
    report = examine(model, batch, methods=("current", "he"))
    he = report.results["he"]
    assert 0.3 < he.backward_gain < 3.0 and 0.5 < he.forward_gain < 2.0
    assert not any(flag["kind"].startswith("vanishing") for flag in he.flags)
    assert any("regressor" in note for note in report.notes)


def test_squared_output_surrogate_gradient_is_the_output():
    from initializers.diagnostics.gradients import autodiff_gradients

    model = _dense_net(hidden=2, units=16, outputs=3, width=8)
    batch = np.random.default_rng(1).standard_normal((5, 8)).astype("float32")
    activation_gradients, _ = autodiff_gradients(model, batch, None, loss="squared_output")
    np.testing.assert_allclose(activation_gradients[-1], keras.ops.convert_to_numpy(model(batch)), rtol=1e-5)
    with pytest.raises(ValueError, match="Received: loss='mse'"):
        autodiff_gradients(model, batch, None, loss="mse")


def test_one_hidden_layer_has_unit_gains_not_a_hidden_vs_output_ratio():
    # Regression: with two weight layers the "last hidden" layer was the output layer, so
    # the backward gain compared a hidden layer with the softmax output: a false flag.
    model = _dense_net(hidden=1, units=64, outputs=10)
    batch = np.random.default_rng(0).standard_normal((16, 128)).astype("float32")
    report = examine(model, batch, methods=("current", "he"))
    for result in report.results.values():
        assert result.forward_gain == 1.0 and result.backward_gain == 1.0
        assert not any(flag["kind"].startswith(("vanishing", "exploding")) for flag in result.flags)


def test_dynamic_spatial_shapes_are_measured_not_a_crash():
    # Regression: the gradient taps took their shapes from the graph, so a model built on
    # Input((None, None, 3)) (e.g. keras.applications.MobileNetV3Small) crashed with
    # "Shapes used to initialize variables must be fully-defined".
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    batch = np.random.default_rng(0).standard_normal((4, 16, 16, 3)).astype("float32")
    he = examine(model, batch, methods=("current", "he")).results["he"]
    assert 0.5 < he.forward_gain < 2.0 and he.backward_gain > 0
    mobile = keras.applications.MobileNetV3Small(weights=None)  # input (None, None, 3)
    report = examine(mobile, np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32"),
                     methods=("current",))
    assert len(report.results["current"].layers) == len(models.weight_layers(mobile))
