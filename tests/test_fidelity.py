"""The fidelity gauge: gains at initialization over draws, and the profile-vs-paper table."""

import json

import keras
import numpy as np
import pytest

from initializers import HeNormal, LecunNormal
from initializers.doctor.gains import Spread, initialization_gains
from reproductions import fidelity


def _relu_mlp(initializer, width=512, hidden=10):
    def build():
        inputs = keras.Input((width,))
        x = inputs
        for _ in range(hidden):
            x = keras.layers.Dense(width, activation="relu", kernel_initializer=initializer())(x)
        return keras.Model(inputs, keras.layers.Dense(10, kernel_initializer=initializer())(x))
    return build


def test_he_keeps_the_signal_of_a_wide_relu_mlp():
    gains = initialization_gains(_relu_mlp(HeNormal), draws=3, batch_size=64)
    assert 0.85 < gains["forward"].median < 1.18
    assert 0.5 < gains["backward"].median < 2.0
    assert len(gains["forward"].per_draw) == 3
    assert gains["forward"].low <= gains["forward"].median <= gains["forward"].high


def test_xavier_halves_the_second_moment_per_relu_layer():
    # Var[w] = 1/fan_in: each ReLU layer halves the second moment (He et al. 2015, Eq. 9 with
    # n Var[w] = 1), so 9 layers between the first and last hidden ones give 2^(-9/2) in RMS.
    gains = initialization_gains(_relu_mlp(LecunNormal), draws=3, batch_size=64)
    expected = 2.0 ** (-9 / 2)
    assert expected / 1.3 < gains["forward"].median < expected * 1.3


def test_draws_are_reproducible_and_differ_from_each_other():
    build = _relu_mlp(HeNormal, width=32, hidden=6)
    first = initialization_gains(build, draws=2, seed=5)
    again = initialization_gains(build, draws=2, seed=5)
    assert first == again
    assert first["forward"].per_draw[0] != first["forward"].per_draw[1]
    assert Spread.from_dict(first["forward"].as_dict()) == first["forward"]


def test_draws_must_be_positive():
    with pytest.raises(ValueError, match="Received: draws=0"):
        initialization_gains(_relu_mlp(HeNormal), draws=0)


TINY = {"width_multiplier": 1 / 96, "input_shape": [16, 16, 1], "num_classes": 4}


def _fake_paper_size(monkeypatch, tmp_path, depths, value=0.5):
    spread = Spread.of([value, value]).as_dict()
    path = tmp_path / "paper_size_gains.json"
    path.write_text(json.dumps({"gains": {str(d): {key: {"forward": spread, "backward": spread}
                                                   for key, _, _ in fidelity.GAUGED_INITIALIZERS}
                                          for d in depths}}))
    monkeypatch.setattr(fidelity, "PAPER_SIZE_FILE", path)


def test_measure_fidelity_rows_and_ratios(monkeypatch, tmp_path):
    _fake_paper_size(monkeypatch, tmp_path, depths=[7])
    result = fidelity.measure_fidelity([{**TINY, "depth": 7}, {**TINY, "depth": 8}, {**TINY, "depth": 7}], draws=1)
    assert [(row["depth"], row["init"]) for row in result["rows"]] == [
        (7, "he"), (7, "xavier"), (8, "he"), (8, "xavier")]
    measured = result["rows"][0]
    assert measured["forward_ratio"] == pytest.approx(measured["forward"]["median"] / 0.5)
    assert result["rows"][2]["paper_forward"] is None and result["rows"][2]["forward_ratio"] is None
    assert result["within"] == fidelity.largest_factor(result["rows"][:2])
    text = "\n".join(fidelity.fidelity_markdown(result))
    assert "no paper-size reference at depth 8" in text and "| 7 | He (fan_in) |" in text


def test_largest_factor_is_symmetric():
    rows = [{"forward_ratio": 0.2, "backward_ratio": 3.0}, {"forward_ratio": None, "backward_ratio": 1.0}]
    assert fidelity.largest_factor(rows) == pytest.approx(5.0)
    assert fidelity.largest_factor([]) is None
    verdict = fidelity.fidelity_markdown({"rows": [], "within": 12.0, "paper_size": "p", "draws": 3,
                                          "batch_size": 8})[0]
    assert "**not** within 10x" in verdict


def test_ensure_fidelity_measures_once_per_set_of_nets(monkeypatch, tmp_path):
    from reproductions.run_config import RunConfig

    _fake_paper_size(monkeypatch, tmp_path, depths=[7])
    calls = []
    real_gauge = fidelity.gauge
    monkeypatch.setattr(fidelity, "gauge", lambda kwargs, draws=3, seed=0: calls.append(kwargs)
                        or real_gauge(kwargs, draws, seed))
    configs = [RunConfig(name="a", model="plain_net", model_kwargs={**TINY, "depth": 7}, initializer="he_normal"),
               RunConfig(name="b", model="simple_mlp", model_kwargs={}, initializer="he_normal")]
    first = fidelity.ensure_fidelity(tmp_path / "work", configs, draws=1)
    assert len(calls) == 1 and (tmp_path / "work" / fidelity.FILE_NAME).exists()
    assert fidelity.ensure_fidelity(tmp_path / "work", configs, draws=1) == first and len(calls) == 1
    assert fidelity.ensure_fidelity(tmp_path / "work", configs, draws=2)["draws"] == 2  # more draws asked
    assert len(calls) == 2
    other = [configs[0].replace(name="c", model_kwargs={**TINY, "depth": 8})]
    fidelity.ensure_fidelity(tmp_path / "work", other, draws=1)
    assert len(calls) == 3  # other nets: measured again
    assert fidelity.ensure_fidelity(tmp_path / "work", configs[1:]) is None  # no plain net


def test_multiply_adds_counts_conv_and_dense():
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)     # 8*8*4 outputs x 3*3*2 taps
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(5)(x)                       # 256 x 5
    assert fidelity.multiply_adds(keras.Model(inputs, outputs)) == 8 * 8 * 4 * 18 + 256 * 5


def test_paper_size_reference_covers_the_he_depths():
    stored = json.loads(fidelity.PAPER_SIZE_FILE.read_text())
    assert {"22", "30"} <= set(stored["gains"])
    for per_init in stored["gains"].values():
        assert set(per_init) == {key for key, _, _ in fidelity.GAUGED_INITIALIZERS}
        assert all(np.isfinite(per_init[key]["forward"]["median"]) for key in per_init)
