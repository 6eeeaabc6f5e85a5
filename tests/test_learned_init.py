"""Learned initialization in the library: `initializers.gradinit` (Zhu et al. 2021) and
`initializers.metainit` (Dauphin & Schoenholz 2019) on a user's deep ReLU net started from
Var = 1/n, on every kind of model, all-or-nothing; the higher-order gradients they rest on;
the doctor's learned candidates; the driver's smoke profile."""

import json

import keras
import numpy as np
import pytest

import initializers
from initializers import (
    InputMismatchError,
    LearnedInitError,
    UnsupportedModelError,
    gradinit,
    initialize_weights,
    learned_options,
    metainit,
)
from initializers import _autodiff
from initializers.doctor import examine


def deep_relu_mlp(depth=30, width=64, inputs=32, classes=10):
    """A user's plain Dense ReLU net, drawn with Var = 1/n (LeCun / He et al.'s "Xavier"): its
    signal halves in variance at every ReLU layer."""
    x = keras.Input((inputs,))
    h = x
    for index in range(depth - 1):
        h = keras.layers.Dense(width, activation="relu", name=f"hidden{index}")(h)
    model = keras.Model(x, keras.layers.Dense(classes, name="logits")(h))
    initialize_weights(model, "lecun_normal", seed=0)
    return model


def _data(examples=512, inputs=32, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((examples, inputs)).astype("float32")
    return x, x[:, :classes].argmax(axis=1)


def _weights(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.weights]


def _forward_gain(model, batch):
    return examine(model, batch, methods=("current",)).results["current"].forward_gain


def test_nested_gradients_are_higher_derivatives():
    """f(x) = sum(x^3): gradient 3x^2; the Hessian-vector product along the gradient,
    d/dx (|g|^2 / 2) = 6x * 3x^2; and one level more, differentiated again."""
    x = keras.ops.convert_to_tensor(np.array([0.5, -1.0, 2.0], dtype="float32"))
    cube = lambda t: keras.ops.sum(t ** 3)  # noqa: E731
    value, gradient = _autodiff.value_and_grad(cube)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gradient), 3 * np.array([0.25, 1.0, 4.0]), rtol=1e-6)

    def half_square(t):
        return 0.5 * keras.ops.sum(_autodiff.value_and_grad(cube)(t)[1] ** 2)

    (_, product) = _autodiff.value_and_grad(half_square)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(product), 18 * np.array([0.5, -1.0, 2.0]) ** 3, rtol=1e-5)

    def third(t):  # sum of the product: sum 18 x^3 -> its gradient 54 x^2
        return keras.ops.sum(_autodiff.value_and_grad(half_square)(t)[1])

    (_, derivative) = _autodiff.value_and_grad(third)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(derivative), 54 * np.array([0.25, 1.0, 4.0]), rtol=1e-5)


@pytest.mark.parametrize("method, at_least", [("gradinit", 100), ("metainit", 10)])
def test_learned_inits_raise_a_stalled_deep_relu_net_by_orders_of_magnitude(method, at_least):
    """The issue's acceptance check: a user's own 30-layer Dense ReLU model at Var = 1/n, whose
    forward signal at init is ~1e-4 (the doctor's forward gain), gets it back: GradInit by
    >= 100x (measured here: 740x after 150 iterations), MetaInit by >= 10x (measured, with the
    paper's random data: 70x after 30 iterations, 48x after 60, 30x after 150: it raises the
    early layers, then shrinks the last ones, docs/learned_init.md); every kernel's factor is
    recorded, biases at 0 are left."""
    model = deep_relu_mlp()
    x, y = _data()
    before = _forward_gain(model, x[:64])
    if method == "gradinit":
        iterations = 150
        records = gradinit(model, (x, y), optimizer="momentum", learning_rate=1e-2, iterations=iterations, seed=0)
        assert {"objective", "updated_loss", "gradient_norm", "constrained"} <= set(records.history[0])
    else:
        iterations = 30
        records = metainit(model, iterations=iterations, seed=0)  # the paper's default data: N(0, 1), random labels
        assert records.history[-1]["gradient_quotient"] < records.history[0]["gradient_quotient"]
    after = _forward_gain(model, x[:64])
    assert before < 1e-3 and after / before >= at_least, (before, after)
    assert len(records) == len(model.trainable_variables) and len(records.history) == iterations
    kernels = [r for r in records if r.weight == "kernel"]
    assert all(r.status == "learned" and r.factor > 0 for r in kernels) and len(kernels) == 30
    assert all(r.status.startswith("not scaled") and r.factor == 1.0 for r in records if r.weight == "bias")
    layer = model.get_layer("hidden5")
    record = next(r for r in records if r.layer == "hidden5" and r.weight == "kernel")
    assert np.linalg.norm(keras.ops.convert_to_numpy(layer.kernel)) == pytest.approx(record.norm, rel=1e-5)
    assert record.norm == pytest.approx(record.norm_before * record.factor, rel=1e-6)
    assert "factor" in str(records) and json.dumps(records.summary())


def test_gradinit_takes_a_keras_optimizer_and_its_rate():
    model = deep_relu_mlp(depth=4)
    records = gradinit(model, _data(), optimizer=keras.optimizers.Adam(3e-4), iterations=3, seed=0)
    assert records.settings["optimizer"] == "adam" and records.settings["learning_rate"] == pytest.approx(3e-4)
    with pytest.raises(ValueError, match="learning_rate"):
        gradinit(model, _data(), optimizer="sgd", iterations=1)
    with pytest.raises(ValueError, match="optimizer"):
        gradinit(model, _data(), optimizer="rmsprop", learning_rate=0.1)


def test_gradinit_constraint_steps_lower_the_gradient_norm():
    """With a bound gamma below the gradient norm, every step is the constraint's: the
    alphas follow d||g|| / d alpha (a second derivative), and the norm falls."""
    model = deep_relu_mlp(depth=6, width=32)
    initialize_weights(model, "he_normal", seed=0)
    records = gradinit(model, _data(), optimizer="sgd", learning_rate=0.1, iterations=30, gradient_norm_bound=1e-9,
                       scale_learning_rate=0.05, seed=0)
    norms = [h["gradient_norm"] for h in records.history]
    assert all(h["constrained"] for h in records.history)
    assert np.mean(norms[-5:]) < 0.5 * np.mean(norms[:5])


@pytest.mark.parametrize("method", ["gradinit", "metainit"])
def test_learned_inits_leave_the_model_unchanged_when_they_raise(method):
    run = (lambda m, d, **kw: gradinit(m, d, optimizer="sgd", learning_rate=0.1, iterations=3, **kw)) \
        if method == "gradinit" else (lambda m, d, **kw: metainit(m, d, iterations=3, **kw))
    model = deep_relu_mlp(depth=4)
    before = _weights(model)
    x, y = _data()
    with pytest.raises(InputMismatchError, match="takes arrays of shape"):  # inputs of the wrong shape
        run(model, (x[:, :5], y))
    with pytest.raises(InputMismatchError, match="labels"):
        run(model, (x, y[:10]))
    with pytest.raises(InputMismatchError, match="examples"):
        run(model, (x[:2], y[:2]))
    with pytest.raises(InputMismatchError, match="pair"):
        run(model, x)
    # An objective that overflows mid-way: the first kernel huge, the loss not finite.
    model.get_layer("hidden0").kernel.assign(np.full((32, 64), 1e30, "float32"))
    huge = _weights(model)
    with pytest.raises(LearnedInitError, match="not finite"):
        run(model, (x, y))
    for value, variable in zip(huge, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    model.get_layer("hidden0").kernel.assign(before[0])
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    no_kernel = keras.Sequential([keras.Input((3,)), keras.layers.Normalization(mean=0.0, variance=1.0)])
    with pytest.raises(UnsupportedModelError, match="kernel"):
        run(no_kernel, (np.zeros((8, 3), "float32"), np.zeros(8, "int64")))


class _SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.first, self.second, self.out = (keras.layers.Dense(16, activation="relu"),
                                             keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4))

    def call(self, x):
        return self.out(self.second(self.first(x)) + self.first(x))


def _model_zoo():
    """(name, model, (inputs, labels)): nested functional, subclassed, attention, recurrent,
    and two named inputs."""
    rng = np.random.default_rng(0)
    zoo = []
    inner = keras.Sequential([keras.layers.Dense(16, activation="relu"), keras.layers.Dense(16, activation="relu")])
    x = keras.Input((8,))
    zoo.append(("nested", keras.Model(x, keras.layers.Dense(4)(inner(x))),
                (rng.standard_normal((64, 8)).astype("float32"),)))
    subclassed = _SubclassedNet()
    subclassed(np.zeros((1, 8), "float32"))
    zoo.append(("subclassed", subclassed, (rng.standard_normal((64, 8)).astype("float32"),)))
    tokens = keras.Input((6, 8))
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.MultiHeadAttention(2, 4)(tokens, tokens))
    zoo.append(("attention", keras.Model(tokens, keras.layers.Dense(4)(pooled)),
                (rng.standard_normal((64, 6, 8)).astype("float32"),)))
    sequence = keras.Input((5, 3))
    zoo.append(("recurrent", keras.Model(sequence, keras.layers.Dense(4)(keras.layers.LSTM(8)(sequence))),
                (rng.standard_normal((64, 5, 3)).astype("float32"),)))
    image, extra = keras.Input((8,), name="image"), keras.Input((2,), name="extra")
    joined = keras.layers.Concatenate()([keras.layers.Dense(8, activation="relu")(image), extra])
    zoo.append(("two_inputs", keras.Model({"image": image, "extra": extra}, keras.layers.Dense(4)(joined)),
                ({"image": rng.standard_normal((64, 8)).astype("float32"),
                  "extra": rng.standard_normal((64, 2)).astype("float32")},)))
    return [(name, model, (inputs[0], rng.integers(0, 4, 64))) for name, model, inputs in zoo]


@pytest.mark.parametrize("method", ["gradinit", "metainit"])
def test_learned_inits_run_on_every_kind_of_model(method):
    for name, model, data in _model_zoo():
        initialize_weights(model, "lecun_normal", seed=0)
        if method == "gradinit":
            records = gradinit(model, data, optimizer="adam", learning_rate=1e-3, iterations=2, batch_size=16, seed=0)
        else:
            records = metainit(model, data, iterations=2, batch_size=16, seed=0)
        assert len(records) == len(model.trainable_variables), name
        assert all(np.isfinite(r.factor) for r in records) and any(r.status == "learned" for r in records), name
        if name == "recurrent" and method == "metainit":  # matrices only: the LSTM's kernels, not its bias
            assert {r.weight: r.status for r in records if r.layer.endswith("lstm_cell")}["bias"] \
                == "not scaled: vector"


def test_metainit_without_data_needs_known_input_shapes():
    x = keras.Input((None, 3))
    model = keras.Model(x, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling1D()(x)))
    with pytest.raises(UnsupportedModelError, match="pass `data`"):
        metainit(model, iterations=1)


def test_learned_options_name_the_base_init():
    assert learned_options("he_normal") is None
    assert learned_options({"class_name": "gradinit", "config": {"base": "lecun_normal", "iterations": 5}}) \
        == ("gradinit", "lecun_normal", {"iterations": 5})
    with pytest.raises(ValueError, match="base"):
        learned_options({"class_name": "metainit", "config": {}})
    assert initializers.gradinit is gradinit


def test_doctor_offers_learned_candidates_and_undoes_them():
    """On request the doctor measures GradInit and MetaInit from the model as given (here the
    stalled 30-layer net: both raise its forward gain) and leaves the model as it was."""
    model = deep_relu_mlp(depth=30, width=64)
    before = _weights(model)
    x, _ = _data(examples=24)
    report = examine(model, x, methods=("current", "gradinit", "metainit"), seed=0)  # GradInit: SGD at 0.01
    current = report.results["current"].forward_gain
    for method in ("gradinit", "metainit"):
        assert report.results[method].forward_gain > 3 * current, (method, report.results[method].forward_gain)
    assert report.recommended_data_free is None or report.recommended_data_free not in ("gradinit", "metainit")
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    regressor = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    with pytest.raises(UnsupportedModelError, match="classes"):
        examine(regressor, np.ones((6, 4), "float32"), methods=("current", "gradinit"))


def test_doctor_command_line_applies_a_learned_init(tmp_path):
    from initializers.doctor.cli import main

    model = deep_relu_mlp(depth=8, width=32)
    path = tmp_path / "net.keras"
    model.save(path)
    out = tmp_path / "fixed.keras"
    code = main([str(path), "--methods", "current", "gradinit", "--apply", "gradinit", "--output", str(out),
                 "--out", str(tmp_path / "doctor"), "--lr", "0.01", "--quiet", "--batch-size", "12"])
    assert code in (0, 1) and out.exists()
    changed = initializers.load_model(out)
    assert not np.allclose(keras.ops.convert_to_numpy(changed.get_layer("hidden3").kernel),
                           keras.ops.convert_to_numpy(model.get_layer("hidden3").kernel))


_JAX_SAME_FACTORS = """
import json, sys
import numpy as np, keras
from initializers import gradinit, initialize_weights, metainit
x_in = keras.Input((8,))
h = keras.layers.Dense(16, activation="relu", name="a")(x_in)
h = keras.layers.Dense(16, activation="relu", name="b")(h)
model = keras.Model(x_in, keras.layers.Dense(4, name="c")(h))
rng = np.random.default_rng(0)  # the same weights on both backends (keras.random draws differ)
for variable in model.weights:
    variable.assign(rng.standard_normal(variable.shape).astype("float32") / np.sqrt(variable.shape[0]))
x = rng.standard_normal((96, 8)).astype("float32"); y = rng.integers(0, 4, 96)
drawn = [keras.ops.convert_to_numpy(v) for v in model.weights]
records = gradinit(model, (x, y), optimizer="sgd", learning_rate=0.1, iterations=5, batch_size=32, seed=0)
for variable, value in zip(model.weights, drawn):
    variable.assign(value)
meta = metainit(model, (x, y), iterations=2, batch_size=32, seed=0)
print(json.dumps({"backend": keras.backend.backend(), "drawn": [d.tolist() for d in drawn],
                  "gradinit": [r.factor for r in records],
                  "objective": [h["objective"] for h in records.history],
                  "quotient": meta.history[0]["gradient_quotient"]}))
"""


def test_learned_inits_give_the_same_numbers_on_jax_and_tensorflow():
    """The same model, draws and batches: GradInit's factors and objective, and MetaInit's
    first gradient quotient (a third-order quantity's base: g and H g), agree across
    backends to float32 precision (JAX in a subprocess without TensorFlow)."""
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    results = {}
    for backend in ("tensorflow", "jax"):
        script = ('import sys; sys.modules["tensorflow"] = None\n' if backend == "jax" else "") + _JAX_SAME_FACTORS
        output = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "PYTHONPATH": str(root), "KERAS_BACKEND": backend})
        assert output.returncode == 0, output.stderr[-2000:]
        results[backend] = json.loads(output.stdout.strip().splitlines()[-1])
    tf_result, jax_result = results["tensorflow"], results["jax"]
    assert tf_result["backend"] == "tensorflow" and jax_result["backend"] == "jax"
    for a, b in zip(tf_result["drawn"], jax_result["drawn"]):  # the same starting weights
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(tf_result["objective"], jax_result["objective"], rtol=1e-4)
    np.testing.assert_allclose(tf_result["gradinit"], jax_result["gradinit"], rtol=1e-4)
    assert tf_result["quotient"] == pytest.approx(jax_result["quotient"], rel=1e-3)


def test_learned_init_claims_on_constructed_tables():
    from reproductions.learned_init import claims

    def row(errors, chance=0.9, depth=30):
        return {"label": "x", "final_test_error": {"per_seed": errors}, "chance": chance, "depth": depth}

    table = {"plain": {"xavier": row([0.9, 0.89, 0.91]), "gradinit": row([0.1, 0.2, 0.3]),
                       "metainit": row([0.1, None, 0.3]), "lsuv": row([0.1, 0.1, 0.85])},
             "residual": {"gradinit": row([0.3, 0.3, 0.3], depth=100), "metainit": row([0.3] * 3, depth=100),
                          "he": row([None, None, None], depth=100)}}
    learned = {"plain": {m: {"kinds": ["conv", "conv", "dense"], "factors": [[1.2, 1.1, 0.3], [1.3, 1.05, 0.2]]}
                         for m in ("gradinit", "metainit")}}
    found = {c["id"]: c for c in claims.claims(table, learned)}
    assert {k: c["holds"] for k, c in found.items()} == {
        "xavier_stalls_plain30": True, "gradinit_trains_plain30": True, "metainit_trains_plain30": False,
        "lsuv_trains_plain30": False, "learned_raise_hidden_scales": True, "gradinit_trains_residual100": True,
        "metainit_trains_residual100": True, "he_fails_residual100": True}
    margin = {key: item["margin"]["margin"] for key, item in found.items()}
    assert margin["xavier_stalls_plain30"] == pytest.approx(0.89 - 0.88)
    assert margin["gradinit_trains_plain30"] == pytest.approx(0.8 - 0.3)
    assert margin["metainit_trains_plain30"] == pytest.approx(0.8 - 0.9)  # a diverged seed counts as chance
    assert margin["learned_raise_hidden_scales"] == pytest.approx(0.05)  # the dense head's 0.2 is not a conv
    assert found["lsuv_trains_plain30"]["fragile"]  # one seed of three fails: leaving it out flips the verdict


def test_driver_smoke_profile_end_to_end_and_plot_only(tmp_path):
    from report_schema import check_report_schema

    from reproductions import learned_init
    from reproductions.configs import learned_init as config

    configs, seeds = config.get_experiment("quick")
    assert len(configs) * len(seeds) == 36 and configs[0].tags == {"experiment": "plain", "depth": 30,
                                                                   "row": "metainit"}
    assert configs[1].initializer["config"]["data"] == "train"  # MetaInit on the run's training batches
    plain = {c.tags["row"]: c for c in configs if c.tags["experiment"] == "plain"}
    assert plain["gradinit"].initializer["config"]["base"] == "lecun_normal" and plain["he"].learning_rate == 1e-3
    workdir = tmp_path / "learned"
    learned_init.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--jobs", "1"])
    report = json.loads((workdir / "report.json").read_text())
    check_report_schema(report, "learned_init", {
        "xavier_stalls_plain11", "gradinit_trains_plain11", "metainit_trains_plain11",
        "metainit_data_trains_plain11", "lsuv_trains_plain11",
        "learned_raise_hidden_scales", "gradinit_trains_residual10", "metainit_trains_residual10",
        "he_fails_residual10"})
    for name in ("plain11_curves.png", "residual10_curves.png", "learned_factors.png"):
        assert (workdir / name).stat().st_size > 10_000
    summary = json.loads((workdir / "runs" / "plain11_gradinit-seed0" / "learned_init.json").read_text())
    assert summary["method"] == "gradinit" and len(summary["history"]) == 3
    assert summary["settings"]["learning_rate"] == 1e-3 and summary["settings"]["optimizer"] == "sgd"
    init = json.loads((workdir / "runs" / "plain11_gradinit-seed0" / "init.json").read_text())
    assert {r["method"] for r in init} == {"LecunNormal", "gradinit"}  # the draw's records, then the learned ones
    assert len(report["learned"]["plain"]["gradinit"]["factors"][0]) == 11
    text = (workdir / "report.md").read_text()
    learned_init.main(["--profile", "smoke", "--workdir", str(workdir), "--quiet", "--plot-only"])
    assert (workdir / "report.md").read_text() == text
