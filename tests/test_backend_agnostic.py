"""The library runs on any Keras backend: no TensorFlow import in initializers/ or models/.

(The autodiff diagnostics import the running backend, TensorFlow included, with
`importlib` inside the function, only when it is the backend; the JAX test below
makes TensorFlow unimportable to prove the rest never needs it.)
"""

import ast
import os
import pathlib
import subprocess
import sys


ROOT = pathlib.Path(__file__).resolve().parents[1]

_SCRIPT = """
import sys
sys.modules["tensorflow"] = None  # as on a machine without TensorFlow: importing it fails
import keras, numpy as np
assert keras.backend.backend() == "jax", keras.backend.backend()
import initializers, models
for cls in initializers._registry.INITIALIZER_CLASSES:
    values = keras.ops.convert_to_numpy(cls(seed=0)((3, 3, 8, 16)))
    assert values.shape == (3, 3, 8, 16) and np.isfinite(values).all(), cls
model = models.SimpleMLP(8, 16, 4)
print(initializers.initialize_weights(model, "auto", seed=0))
from initializers import diagnostics
batch = np.ones((4, 8), "float32")
print(diagnostics.format_table(diagnostics.activation_statistics(model, batch)))
assert len(diagnostics.jacobian_singular_values(model, batch)) == 1
# Glorot & Bengio's net, trained a few steps with the recorder (gradients, TensorBoard, plots).
import tempfile
from initializers.diagnostics.plots import plot_layer_histograms, plot_training_statistics
mlp = models.DeepMLP(8, 3, depth=3, width=16, activation="tanh", kernel_initializer="standard_uniform")
mlp.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x, y = np.random.default_rng(0).normal(size=(40, 8)).astype("float32"), np.arange(40) % 3
folder = tempfile.mkdtemp()
recorder = diagnostics.ActivationStatsRecorder(x[:10], folder + "/stats.jsonl", every=2, labels=y[:10],
                                               value_range=(-1, 1), tensorboard_dir=folder + "/board")
mlp.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[recorder])
records = diagnostics.read_records(folder + "/stats.jsonl")
assert [r["step"] for r in records] == [0, 2, 4] and "backprop" in records[-1], records
plot_training_statistics({"tanh": records}, path=folder + "/fig2.png")
plot_layer_histograms({"end": records[-1]["backprop"]}, path=folder + "/fig7.png")
# Autodiff gradients (JAX) agree with the hand-written numpy backpropagation, and work on a CNN.
by_numpy = diagnostics.backpropagate(mlp, x[:10], y[:10])
by_autodiff = diagnostics.autodiff_gradients(mlp, x[:10], y[:10])
for a, b in zip(by_numpy[0] + by_numpy[1], by_autodiff[0] + by_autodiff[1]):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
cnn = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, activation="relu"),
                        keras.layers.Flatten(), keras.layers.Dense(2)])
backprop, weights = diagnostics.gradient_statistics(cnn, np.ones((4, 6, 6, 1), "float32"), [0, 1, 0, 1])
assert len(backprop) == len(weights) == 2
# He 2015's kernel-gradient norms (the He driver's recorder) on JAX.
names, norms = diagnostics.kernel_gradient_norms(mlp, x[:10], y[:10])
assert len(names) == len(norms) == 4 and all(n > 0 for n in norms)
# LSUV and the doctor on JAX.
records = initializers.lsuv(models.DeepMLP(8, 3, depth=3, width=16, activation="relu"), x[:16], seed=0)
assert all(abs(r.variance - 1) < 0.1 for r in records)
from initializers.doctor import examine
report = examine(cnn, np.random.default_rng(0).normal(size=(4, 6, 6, 1)).astype("float32"), methods=("current", "he"))
assert report.recommended == "current", report.recommended  # two healthy layers: keep their init
shrunk = keras.Sequential([keras.Input((6, 6, 1))] + [keras.layers.Conv2D(
    3, 3, padding="same", activation="relu", kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
    for _ in range(3)] + [keras.layers.Flatten(), keras.layers.Dense(2)])
report = examine(shrunk, np.random.default_rng(0).normal(size=(4, 6, 6, 1)).astype("float32"), methods=("current", "he"))
assert report.results["current"].warnings and report.recommended == "he", report.recommended
# The fidelity gauge's gains over draws, on the He reproduction's net with the small-image stem.
from initializers.doctor.gains import initialization_gains
gains = initialization_gains(lambda: models.PlainNet(8, 1 / 64, (16, 16, 1), 4, stem="small_images"), draws=2)
assert len(gains["forward"].per_draw) == 2 and gains["forward"].median > 0
# Models people build today (issue 18), read by the traced route (taps inside the calls).
from initializers.diagnostics.tracing import random_inputs
from initializers.doctor.measure import measure_traced
transformer = models.TransformerClassifier(vocabulary_size=50, sequence_length=8, width=16, heads=2, blocks=1,
                                           classes=3)
print(initializers.initialize_weights(transformer, "auto", seed=0, depth_scaled_residuals=True))
tokens = random_inputs(transformer, 4, seed=0)
assert any(r.status == "converged" for r in initializers.lsuv(transformer, tokens, seed=0))
report = examine(transformer, tokens, methods=("current", "auto"))
assert all(0 < r.forward_gain < float("inf") and r.merges for r in report.results.values())
recurrent = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
initializers.initialize_weights(recurrent, "auto", seed=0)
assert examine(recurrent, methods=("current", "auto")).results["auto"].backward_gain > 0
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
rows, _, _ = measure_traced(mlp, x[:10], lambda outputs: loss(y[:10], outputs))
for row, gradient in zip(rows, by_autodiff[0]):
    assert abs(row.gradient_rms - float(np.sqrt(np.mean(gradient ** 2)))) <= 1e-4 * row.gradient_rms
# Xiao et al.'s vanilla CNN: the stacked layer's loop (keras.ops.scan) trains on JAX.
deep = models.VanillaCNN(50, channels=8, input_shape=(12, 12, 1), num_classes=3, seed=0)
initializers.initialize_weights(deep, "auto", seed=0)
deep.compile(optimizer=keras.optimizers.SGD(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
assert np.isfinite(deep.train_on_batch(np.ones((4, 12, 12, 1), "float32"), np.arange(4) % 3))
# μP (issue 20) on JAX: per-weight learning rates scale each weight's update exactly.
from initializers import mup
from initializers.diagnostics import coordinates
build = lambda width: models.DeepMLP(8, 3, depth=2, width=width, activation="relu")
for make in (lambda: keras.optimizers.SGD(0.05, momentum=0.9), lambda: keras.optimizers.Adam(1e-3)):
    deltas = []
    for optimizer in (make(), mup.with_lr_multipliers(make(), {"hidden2/kernel": 0.25, "logits/bias": 4.0})):
        net = build(16)
        initializers.initialize_weights(net, "he_normal", seed=0)
        before = [keras.ops.convert_to_numpy(v) for v in net.trainable_weights]
        net.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        net.train_on_batch(x[:10], y[:10])
        deltas.append([keras.ops.convert_to_numpy(v) - b for v, b in zip(net.trainable_weights, before)])
    for variable, plain, scaled in zip(build(16).trainable_weights, *deltas):
        factor = {"hidden2/kernel": 0.25, "logits/bias": 4.0}.get(variable.path, 1.0)
        np.testing.assert_allclose(scaled, factor * plain, rtol=2e-4, atol=3e-7, err_msg=variable.path)
records = coordinates.coord_check(build, [8, 16], [(x[:10], y[:10])], steps=1, seeds=(0,))
assert len(records) == 2 * 2 * 2 * 3
assert sys.modules["tensorflow"] is None, "tensorflow was imported"
"""


def _imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_no_tensorflow_import_in_library_sources():
    for folder in ("initializers", "models"):
        for path in (ROOT / folder).rglob("*.py"):
            for module in _imported_modules(path):
                assert module.split(".")[0] != "tensorflow", f"{path} imports {module}"


def test_library_runs_on_jax_backend_without_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=ROOT,
        env={**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "HeNormal" in result.stdout
