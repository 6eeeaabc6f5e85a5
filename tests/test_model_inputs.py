"""Every model's inputs: the doctor, LSUV and `initialize_weights` on models with several
inputs (a list or a dict of named `keras.Input`s, of different widths), at any batch size,
on masked sequences, and one clear error (CLI: exit 2) for a batch that does not fit."""

import json

import keras
import numpy as np
import pytest

from initializers import InputMismatchError, initialize_weights, lsuv
from initializers._inputs import batch_size, conform_batch
from initializers.doctor import examine
from initializers.doctor.cli import main as doctor_main

WIDTHS = {"a": 10, "b": 5}


def two_branch_model(structure="list", keys=("a", "b")):
    """Two Dense branches (10 and 5 features) concatenated: the issue's two-input model.
    `structure`: "list" (`keras.Model([a, b], ...)`) or "dict" (`keras.Model({key: input})`,
    with dict keys that may differ from the inputs' names)."""
    a, b = keras.Input((WIDTHS["a"],), name="a"), keras.Input((WIDTHS["b"],), name="b")
    merged = keras.layers.Concatenate()([keras.layers.Dense(32, activation="relu")(a),
                                         keras.layers.Dense(32, activation="relu")(b)])
    outputs = keras.layers.Dense(3)(keras.layers.Dense(32, activation="relu")(merged))
    return keras.Model(dict(zip(keys, (a, b))) if structure == "dict" else [a, b], outputs)


def arrays(size, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((size, WIDTHS[name])).astype("float32") for name in ("a", "b")]


def weights_of(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.weights]


def assert_unchanged(model, before):
    for variable, value in zip(model.weights, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


@pytest.mark.parametrize("size", [8, 3, 1])
def test_two_input_model_given_a_list_regression(size):
    # The case: a list of two arrays of batch 8 failed in the doctor's gradient tap
    # ("Incompatible shapes [8,32] vs. [2,32]": len(list) taken for the batch size).
    model, batch = two_branch_model("list"), arrays(size)
    report = examine(model, batch, methods=("current", "he"))
    assert report.batch_shape == ((size, 10), (size, 5))
    assert all(np.isfinite(r.forward_gain) and np.isfinite(r.backward_gain) for r in report.results.values())
    records = lsuv(model, batch, seed=0)
    assert [r.status for r in records if r.weight == "kernel"] == ["converged"] * 4
    assert len(initialize_weights(model, "auto", seed=0)) == 4


# Keras warns when a dict's keys are not the inputs' names; such models still load and run.
@pytest.mark.filterwarnings("ignore:When providing `inputs` as a dict")
@pytest.mark.parametrize("keys", [("a", "b"), ("first", "second")])
def test_dict_inputs_by_name_and_the_same_arrays_as_a_list(keys):
    # A model built with a dict of inputs (keys equal to the inputs' names, or not) takes a
    # dict by key or a list in the model's order; both give the same measurements.
    model = two_branch_model("dict", keys)
    listed = arrays(8)
    named = dict(zip(keys, listed))
    by_name = examine(model, named, methods=("current",)).results["current"]
    by_order = examine(model, listed, methods=("current",)).results["current"]
    assert by_name.forward_gain == pytest.approx(by_order.forward_gain, rel=1e-6)
    assert by_name.backward_gain == pytest.approx(by_order.backward_gain, rel=1e-6)
    first = lsuv(model, named, seed=1)
    second = lsuv(model, listed, seed=1)
    assert [r.scale for r in first] == pytest.approx([r.scale for r in second], rel=1e-5)
    default = examine(model, methods=("current",))  # random inputs drawn per input, by key
    assert default.batch_shape == ((8, 10), (8, 5))


@pytest.mark.filterwarnings("ignore:When providing `inputs` as a dict")
def test_conform_batch_gives_the_models_structure_and_the_batch_size():
    a, b = arrays(4)
    model = two_branch_model("dict", ("first", "second"))
    conformed, size = conform_batch(model, [a, b])
    assert size == 4 and list(conformed) == ["first", "second"] and conformed["second"] is b
    conformed, size = conform_batch(two_branch_model("list"), {"b": b, "a": a})
    assert size == 4 and conformed[0] is a and conformed[1] is b
    single = keras.Sequential([keras.Input((10,)), keras.layers.Dense(2)])
    assert conform_batch(single, [a])[0] is a and batch_size({"x": a, "y": b}) == 4


BAD_BATCHES = {
    "wrong width": (lambda a, b: [a, b[:, :4]], "Input 'b' of model", "(None, 5)", "(8, 4)"),
    "swapped": (lambda a, b: [b, a], "Input 'a' of model", "(None, 10)", "(8, 5)"),
    "one array": (lambda a, b: a, "takes 2 inputs ('a', 'b')", "one array", ""),
    "three arrays": (lambda a, b: [a, b, b], "takes 2 inputs", "list of 3 arrays", ""),
    "batch sizes differ": (lambda a, b: [a, b[:3]], "batch sizes differ", "'a': 8", "'b': 3"),
    "missing input": (lambda a, b: {"a": a}, "no array for input 'b'", "", ""),
    "extra input": (lambda a, b: {"a": a, "b": b, "c": b}, "an array for 'c', which is not an input", "", ""),
    "empty": (lambda a, b: [a[:0], b[:0]], "empty", "", ""),
    "extra axis": (lambda a, b: [a[None], b], "Input 'a' of model", "(1, 8, 10)", ""),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
@pytest.mark.parametrize("tool", ["doctor", "lsuv"])
def test_a_batch_that_does_not_fit_fails_in_one_line_naming_the_input_and_both_shapes(case, tool):
    make, *expected = BAD_BATCHES[case]
    model = two_branch_model("list")
    before = weights_of(model)
    with pytest.raises(InputMismatchError) as info:
        (examine if tool == "doctor" else lsuv)(model, make(*arrays(8)))
    for text in expected:
        assert text in info.value.reason
    assert "\n" not in str(info.value)
    assert_unchanged(model, before)


def test_labels_that_do_not_match_the_batch_size_fail():
    with pytest.raises(InputMismatchError, match="one label per example"):
        examine(two_branch_model("list"), arrays(8), labels=np.zeros(5, "int64"))


def test_masked_padded_sequences():
    # Token ids padded with 0 under Embedding(mask_zero=True): Keras carries the mask into
    # the LSTM; the tools measure the model as it runs (traced, at its leaf layers).
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    hidden = keras.layers.LSTM(16)(keras.layers.Embedding(50, 16, mask_zero=True)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(4)(hidden))
    batch = np.random.default_rng(0).integers(1, 50, (6, 12)).astype("int32")
    batch[:, 8:] = 0
    batch[0, 3:] = 0
    initialize_weights(model, "auto", seed=0)
    statuses = {r.layer: r.status for r in lsuv(model, batch, seed=0)}
    assert statuses[model.layers[-1].name] == "converged"
    report = examine(model, batch, methods=("current", "auto"))
    assert report.batch_shape == (6, 12) and set(report.results) == {"current", "auto"}
    with pytest.raises(InputMismatchError, match=r"takes arrays of shape \(None, None\)"):
        examine(model, batch[None])


def _two_input_file(tmp_path, structure="list"):
    path = tmp_path / "two_inputs.keras"
    two_branch_model(structure).save(path)
    return path


def test_cli_reads_one_npz_array_per_input(tmp_path):
    model_path = _two_input_file(tmp_path, "dict")
    a, b = arrays(16)
    np.savez(tmp_path / "data.npz", a=a, b=b, y=np.arange(16) % 3)
    code = doctor_main([str(model_path), "--data", str(tmp_path / "data.npz"), "--batch-size", "5",
                        "--methods", "current", "he", "--out", str(tmp_path / "r"), "--quiet"])
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert code in (0, 1) and report["batch_shape"] == [[5, 10], [5, 5]]


def test_cli_data_module_returning_a_dict_and_random_data(tmp_path, monkeypatch):
    model_path = _two_input_file(tmp_path)
    (tmp_path / "two_input_data.py").write_text(
        "import numpy as np\n\ndef batch(batch_size, seed):\n"
        "    rng = np.random.default_rng(seed)\n"
        "    return ({'a': rng.standard_normal((batch_size, 10)), 'b': rng.standard_normal((batch_size, 5))},\n"
        "            rng.integers(0, 3, batch_size))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for data, out in (("two_input_data:batch", "module"), ("random", "random")):
        code = doctor_main([str(model_path), "--data", data, "--methods", "current", "--out", str(tmp_path / out),
                            "--quiet", "--batch-size", "3"])
        report = json.loads((tmp_path / out / "report.json").read_text())
        assert code in (0, 1) and report["batch_shape"] == [[3, 10], [3, 5]]


@pytest.mark.parametrize("arrays_in_file, reason", [
    ({"a": np.zeros((8, 10)), "b": np.zeros((8, 4))}, "Input 'b' of model"),
    ({"a": np.zeros((8, 10))}, "has no array 'b'"),
    ({"x": np.zeros((8, 10))}, "has no array 'a'"),
])
def test_cli_data_that_does_not_fit_exits_2_with_one_line(tmp_path, capsys, arrays_in_file, reason):
    model_path = _two_input_file(tmp_path)
    np.savez(tmp_path / "bad.npz", **arrays_in_file)
    code = doctor_main([str(model_path), "--data", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r"),
                        "--quiet"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and error.startswith("error:") and reason in error and "\n" not in error
    if "Input 'b'" in reason:
        assert "(None, 5)" in error and "(8, 4)" in error
