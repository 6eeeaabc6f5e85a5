"""Where a model's signal is read: one probe per weight layer, one forward pass for all.

A probe reads a weight layer's post-activation signal: the output of the layer
that applies the nonlinearity its kernel's output meets (`initializers.
activation_source`: the layer itself, or e.g. the ReLU after a
BatchNormalization), else the weight layer's linear output. Every probed layer's
values come from one forward pass of a single multi-output model, not one
sub-model per layer.
"""

import dataclasses

import keras
import numpy as np

from initializers._graph import activation_source, weight_layers
from initializers._inputs import symbolic_inputs
from initializers.errors import UnsupportedModelError


@dataclasses.dataclass(frozen=True)
class Probe:
    """Where a weight layer's post-activation signal is read."""

    weight_layer: keras.layers.Layer  # the layer with the kernel (initializers.weight_layers)
    output_layer: keras.layers.Layer  # the layer whose output is phi(W h + b)
    activation: str


def probes(model):
    """One `Probe` per weight layer of a built functional or Sequential model, in
    forward order (see the module docstring for what is probed).

    Raises:
        UnsupportedModelError: (a ValueError) unbuilt model, no weight layer, or
            weight layers inside a nested model (probe the nested model itself).
    """
    if not getattr(model, "built", False):
        raise UnsupportedModelError(f"Model '{model.name}' is not built.", f"model={model.name}")
    top_level = {id(layer) for layer in model.layers}
    found = []
    for layer in weight_layers(model):
        if id(layer) not in top_level:
            raise UnsupportedModelError(
                f"Layer '{layer.name}' sits inside a nested model; the probes read layers of "
                "the model's own graph. Probe the nested model itself.", f"model={model.name}")
        source = activation_source(layer, model)
        found.append(Probe(layer, source.output_layer, source.activation))
    if not found:
        raise UnsupportedModelError(f"Model '{model.name}' has no Dense or Conv layer (no weight layer) "
                                    "to probe.", f"model={model.name}")
    return found


def probe_model(model, tensors):
    """A single multi-output model computing the given symbolic tensors of `model`."""
    return keras.Model(symbolic_inputs(model), list(tensors))


def run(model_of_probes, inputs):
    """One forward pass of a probe model, outputs as numpy arrays (float32 or wider)."""
    outputs = model_of_probes(inputs, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [at_least_float32(keras.ops.convert_to_numpy(o)) for o in outputs]


def at_least_float32(array):
    """float16/bfloat16/int arrays as float32; float32 and float64 as they are. Statistics
    of a float32 network in float32 (accumulated in float64) cost half of float64's."""
    array = np.asarray(array)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float32)


def forward(model, tensors, inputs):
    """Values of the given symbolic tensors of `model` on `inputs`, one forward pass."""
    return run(probe_model(model, tensors), inputs)


def layer_activations(model, inputs, model_probes=None):
    """Post-activation outputs of every probed layer, from one forward pass.

    Returns:
        A list of numpy arrays (float32, or float64 for a float64 model), one per probe,
        in forward order.
    """
    model_probes = model_probes or probes(model)
    return forward(model, [p.output_layer.output for p in model_probes], inputs)
