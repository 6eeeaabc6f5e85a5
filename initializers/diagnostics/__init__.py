"""Measuring signal propagation in any built Keras model: the measurement layer.

What Glorot & Bengio 2010 and He et al. 2015 look at to explain why deep nets do
or do not train: per-layer activation statistics and histograms (Glorot & Bengio
Figs. 2-4 and 6), back-propagated and weight gradients (Figs. 7-8; He et al.'s
"diminishing" gradients, Fig. 3), and the singular values of the layer-to-layer
Jacobians (about 0.5 with the "standard" init vs 0.8 with the normalized one,
Sec. 4.2.2). Backend-agnostic (`keras.ops`, numpy, and the running backend's
autodiff), one forward pass of one multi-output model for every layer's values.

Modules:
* `probing`: which signal of each weight layer is read, and the one forward pass;
* `statistics`: moments, percentiles, saturation and histograms per layer;
* `jacobian`: layer-to-layer Jacobian singular values of Dense chains;
* `gradients`: exact numpy backpropagation (Dense chains) and autodiff (any model),
  kernel-gradient norms;
* `recorders`: Keras callbacks recording the above on a fixed batch during training;
* `plots`: figures in the style of Glorot & Bengio's;
* `coordinates`: the coordinate check of Yang et al. 2022 (μP vs SP: layer output
  sizes against width over the first steps of training);
* `mean_field`: the mean-field theory of deep random nets (Poole et al. 2016;
  Schoenholz et al. 2017): q*, chi_1, correlation depth, critical sigma_w^2.

The recorders' JSON-lines files are read back with `read_records` (or
`initializers.jsonio.read_jsonl`).

Example:

>>> from initializers import diagnostics
>>> stats = diagnostics.activation_statistics(model, batch)      # one dict per layer
>>> print(diagnostics.format_table(stats))
>>> diagnostics.jacobian_singular_values(model, batch)            # Dense chains only
>>> backprop, weights = diagnostics.gradient_statistics(model, batch, labels)  # any model
"""

from initializers.diagnostics.coordinates import coord_check, growth, plot_coord_check
from initializers.diagnostics.gradients import (
    autodiff_gradients,
    backend_gradients,
    backpropagate,
    gradient_statistics,
    kernel_gradient_norms,
    kernel_weights,
)
from initializers.diagnostics.jacobian import DERIVATIVE_FROM_OUTPUT, jacobian_singular_values
from initializers.diagnostics.probing import Probe, layer_activations, probes
from initializers.diagnostics.recorders import (
    ActivationStatsRecorder,
    KernelGradientNormRecorder,
    read_records,
)
from initializers.diagnostics.statistics import (
    SATURATION_RULES,
    activation_statistics,
    format_table,
    summarize,
)

__all__ = [
    "ActivationStatsRecorder",
    "DERIVATIVE_FROM_OUTPUT",
    "KernelGradientNormRecorder",
    "Probe",
    "SATURATION_RULES",
    "activation_statistics",
    "autodiff_gradients",
    "backend_gradients",
    "backpropagate",
    "coord_check",
    "format_table",
    "gradient_statistics",
    "growth",
    "jacobian_singular_values",
    "kernel_gradient_norms",
    "kernel_weights",
    "layer_activations",
    "plot_coord_check",
    "probes",
    "read_records",
    "summarize",
]
