"""Per-layer statistics of activations or gradients: moments, percentiles, saturation,
histogram (what Glorot & Bengio 2010 plot in their Figs. 2-4 and 6-8)."""

import numpy as np

from initializers.diagnostics.probing import at_least_float32, layer_activations, probes
from initializers._table import format_table as _format_rows

# Saturation thresholds (the paper plots the distributions but fixes no threshold;
# these are our choice): tanh / softsign near their asymptotes +-1, sigmoid near 0
# or 1, ReLU: exactly zero ("dead" for this example).
SATURATION_RULES = {
    "tanh": lambda h: np.abs(h) >= 0.9,
    "softsign": lambda h: np.abs(h) >= 0.9,
    "sigmoid": lambda h: (h <= 0.1) | (h >= 0.9),
    "relu": lambda h: h == 0,
}


def summarize(values, activation=None, bins=50, value_range=None, percentiles=(2, 98)):
    """Mean, std, percentiles, saturation fraction and histogram of one layer's values.

    Non-finite values (a diverging network) are left out of every statistic and
    counted in `nonfinite` (their fraction); with no finite value at all the
    statistics are None and the histogram is empty.

    Args:
        values: array of any shape (all elements count).
        activation: name used for the saturation rule (`SATURATION_RULES`);
            other activations report `saturation=None`.
        bins, value_range: histogram bins and range (default: the data's range).
        percentiles: the two percentiles to report (Glorot & Bengio plot the 98th).
    """
    flat = at_least_float32(values).ravel()
    finite = np.isfinite(flat)
    nonfinite = 0.0 if finite.all() else float(1.0 - finite.mean())
    if nonfinite:
        flat = flat[finite]
    low_name, high_name = f"p{percentiles[0]:g}", f"p{percentiles[1]:g}"
    if flat.size == 0:
        counts, edges = np.histogram(flat, bins=bins, range=value_range)
        return {"mean": None, "std": None, low_name: None, high_name: None, "saturation": None,
                "nonfinite": nonfinite,
                "histogram": {"counts": counts.tolist(), "edges": edges.tolist()}}
    low, high = np.percentile(flat, percentiles)
    counts, edges = np.histogram(flat, bins=bins, range=value_range)
    rule = SATURATION_RULES.get(activation)
    return {
        "mean": float(flat.mean(dtype=np.float64)),
        "std": float(flat.std(dtype=np.float64)),
        low_name: float(low),
        high_name: float(high),
        "saturation": float(rule(flat).mean()) if rule else None,
        "nonfinite": nonfinite,
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }


def statistics_rows(model_probes, values, bins=50, value_range=None):
    """`summarize` of each probe's values: dicts with `layer`, `activation` and the fields."""
    return [
        {"layer": probe.weight_layer.name, "activation": probe.activation,
         **summarize(value, probe.activation, bins=bins, value_range=value_range)}
        for probe, value in zip(model_probes, values)
    ]


def activation_statistics(model, inputs, bins=50, value_range=None):
    """`summarize` of every probed layer's activations on `inputs` (one forward pass).

    Returns:
        A list of dicts with `layer`, `activation` and the `summarize` fields.
    """
    model_probes = probes(model)
    return statistics_rows(model_probes, layer_activations(model, inputs, model_probes),
                           bins, value_range)


def format_table(statistics):
    """A readable fixed-width table of `activation_statistics` rows."""
    columns = ("layer", "activation", "mean", "std", "p2", "p98", "saturation")
    return _format_rows(columns, [[row.get(c) for c in columns] for row in statistics])
