"""Paper-style plot helpers: what they draw, and their errors."""

import numpy as np
import pytest
from matplotlib.patches import StepPatch

from initializers import diagnostics
from initializers.diagnostics.plots import plot_layer_histograms, plot_training_statistics


def _rows(stds, seed=0):
    rng = np.random.default_rng(seed)
    return [{"layer": f"hidden{i}", **diagnostics.summarize(rng.normal(0, std, 2000).clip(-1, 1), "tanh",
                                                            bins=40, value_range=(-1, 1))}
            for i, std in enumerate(stds, start=1)]


def test_layer_histograms_draw_normalized_densities(tmp_path):
    path = tmp_path / "fig6.png"
    figure = plot_layer_histograms({"standard": _rows([0.3, 0.1, 0.03]), "normalized": _rows([0.4] * 3)},
                                   path=path, xlabel="activation value", layers=["hidden1", "hidden2", "hidden3"])
    assert path.stat().st_size > 0
    axes = figure.axes
    assert [a.get_title() for a in axes] == ["standard", "normalized"]
    for axis in axes:
        patches = [p for p in axis.patches if isinstance(p, StepPatch)]
        assert len(patches) == 3
        for patch in patches:
            values, edges, _ = patch.get_data()
            assert np.sum(values * np.diff(edges)) == pytest.approx(1.0)  # a density
    # The narrower layer has the taller peak (what Fig. 6 shows).
    peaks = [p.get_data()[0].max() for p in axes[0].patches]
    assert peaks[0] < peaks[1] < peaks[2]
    only = plot_layer_histograms({"standard": _rows([0.3, 0.1])}, layers=["hidden2"])
    assert len(only.axes[0].patches) == 1


def test_training_statistics_lines_and_errorbars(tmp_path):
    records = [{"step": step, "layers": _rows([0.3, 0.2], seed=step)} for step in (0, 100, 200)]
    figure = plot_training_statistics({"tanh": records, "softsign": records}, ("p98", "std"),
                                      errorbar=False, path=tmp_path / "fig3.png")
    lines = figure.axes[0].get_lines()
    assert len(lines) == 4  # 2 layers x 2 statistics
    assert list(lines[0].get_xdata()) == [0, 100, 200]
    assert list(lines[0].get_ydata()) == [r["layers"][0]["p98"] for r in records]
    bars = plot_training_statistics({"sigmoid": records}, ("mean", "std"), steps_per_x_unit=100)
    assert len(bars.axes[0].containers) == 2  # one errorbar container per layer
    assert list(bars.axes[0].get_lines()[0].get_xdata()) == [0, 1, 2]


def test_plot_errors():
    with pytest.raises(ValueError, match="exactly two"):
        plot_training_statistics({"a": [{"step": 0, "layers": []}]}, ("mean",), errorbar=True)
    with pytest.raises(ValueError, match="no records"):
        plot_training_statistics({"a": []})
    with pytest.raises(ValueError, match="at least one panel"):
        plot_layer_histograms({})


def test_training_statistics_layer_filter():
    records = [{"step": step, "layers": _rows([0.3, 0.2, 0.1], seed=step)} for step in (0, 100)]
    figure = plot_training_statistics({"tanh": records}, ("p98", "std"), errorbar=False,
                                      layers=["hidden1", "hidden3"])
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["hidden1 p98", "hidden1 std", "hidden3 p98", "hidden3 std"]
