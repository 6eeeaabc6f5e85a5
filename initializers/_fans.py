"""Fan computation: from a kernel shape (as Keras does) and from the layer itself.

Keras computes fans from the kernel shape alone, assuming a `Dense` kernel
`(fan_in, fan_out)` or a convolution kernel `(*spatial, in_channels, out_channels)`.
That is wrong for several layers (the fans are n_l of He et al. 2015, Sec. 2.2: the
number of inputs one output unit sees):

* `DepthwiseConv2D` kernels are `(kh, kw, C, M)`: every output sees only `kh*kw`
  inputs (one channel), so fan_in is `kh*kw`, not `kh*kw*C`.
* `Conv2DTranspose` kernels are `(kh, kw, out_channels, in_channels)`: the channel
  axes are swapped relative to `Conv2D`.
* Grouped convolutions (`groups > 1`) connect each input channel to only
  `filters / groups` outputs.

`layer_fans(layer)` returns the fans that follow from what the layer computes.
"""

import math
from typing import NamedTuple

import keras

from initializers._base import validate_shape


class Fans(NamedTuple):
    """Number of inputs feeding one output unit (`fan_in`) and number of outputs
    fed by one input unit (`fan_out`), as defined by He et al. 2015 (n_l and
    n-hat_l in Sec. 2.2) and Glorot & Bengio 2010 (n_i and n_{i+1})."""

    fan_in: int
    fan_out: int


def compute_fans(shape):
    """Fans from a kernel shape alone, with the same convention as Keras.

    Rank 1: `fan_in = fan_out = shape[0]`; rank 2: `(fan_in, fan_out)`; rank >= 3:
    a convolution kernel `(*spatial, in_channels, out_channels)` whose receptive
    field size multiplies both channel counts.

    Args:
        shape: Tuple of ints, the kernel shape.

    Returns:
        `Fans(fan_in, fan_out)`.
    """
    shape = validate_shape(shape)
    if len(shape) == 0:
        return Fans(1, 1)
    if len(shape) == 1:
        return Fans(shape[0], shape[0])
    if len(shape) == 2:
        return Fans(shape[0], shape[1])
    receptive_field = math.prod(shape[:-2])
    return Fans(shape[-2] * receptive_field, shape[-1] * receptive_field)


_CONV_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_TRANSPOSE_CONV_LAYERS = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)
_DEPTHWISE_LAYERS = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE_LAYERS = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)

# The weight layers: layers with a kernel of a known fan layout. This is the one
# definition of "weight layer" in the repository (`initializers.weight_layers`,
# `initialize_weights`, the diagnostics' probes and the model builders use it).
WEIGHT_LAYER_TYPES = (
    (keras.layers.Dense,)
    + _CONV_LAYERS
    + _TRANSPOSE_CONV_LAYERS
    + _DEPTHWISE_LAYERS
    + _SEPARABLE_LAYERS
)
SUPPORTED_LAYER_TYPES = WEIGHT_LAYER_TYPES  # the name `layer_fans` errors have always used


def _depthwise_fans(kernel_shape):
    # (*spatial, C, M): each output channel reads one input channel through the
    # spatial window; each input channel feeds M outputs at every window position.
    receptive_field = math.prod(kernel_shape[:-2])
    return Fans(receptive_field, receptive_field * kernel_shape[-1])


def layer_fans(layer):
    """Fans of every kernel of a built layer, computed from what the layer does.

    Supported: `Dense`, `Conv1D/2D/3D` (with `groups`), `Conv1D/2D/3DTranspose`,
    `DepthwiseConv1D/2D`, `SeparableConv1D/2D`.

    | layer | kernel shape | fan_in | fan_out |
    |---|---|---|---|
    | Dense | (n_in, n_out) | n_in | n_out |
    | ConvND | (*k, C/g, F) | prod(k) * C/g | prod(k) * F/g |
    | ConvNDTranspose | (*k, F, C) | prod(k) * C | prod(k) * F |
    | DepthwiseConvND | (*k, C, M) | prod(k) | prod(k) * M |
    | SeparableConvND | depthwise (*k, C, M), pointwise (1.., C*M, F) | prod(k); C*M | prod(k)*M; F |

    For transposed convolutions with stride s, each output position actually
    receives about prod(k)/s^d of the kernel taps; like the Keras convention we
    count the full receptive field. The channel axes are what shape-based fans get
    wrong: Keras (`(*k, out, in)` read as `(*k, in, out)`) and PyTorch
    (`torch.nn.init._calculate_fan_in_and_fan_out` reads a ConvTranspose weight
    `(in, out / groups, *k)` as `(out, in, *k)`) both swap fan_in and fan_out.

    Args:
        layer: A built Keras layer of a supported type.

    Returns:
        A dict mapping the kernel's attribute name (`"kernel"`, or
        `"depthwise_kernel"` and `"pointwise_kernel"`) to `Fans`.

    Raises:
        ValueError: if the layer is not built, or has no kernel of a known layout.
    """
    if not isinstance(layer, SUPPORTED_LAYER_TYPES):
        supported = ", ".join(cls.__name__ for cls in SUPPORTED_LAYER_TYPES)
        raise ValueError(
            f"Layer '{layer.name}' of type {type(layer).__name__} has no kernel with a "
            f"known fan layout. Supported layer types: {supported}. "
            f"Received: layer={layer.name}"
        )
    if not layer.built:
        raise ValueError(
            f"Layer '{layer.name}' is not built, so its kernel shape is unknown. Call "
            f"the layer (or its model) on an input first. Received: layer={layer.name}"
        )
    if isinstance(layer, _SEPARABLE_LAYERS):
        pointwise = tuple(layer.pointwise_kernel.shape)
        return {
            "depthwise_kernel": _depthwise_fans(tuple(layer.depthwise_kernel.shape)),
            "pointwise_kernel": Fans(pointwise[-2], pointwise[-1]),
        }
    shape = tuple(layer.kernel.shape)
    if isinstance(layer, keras.layers.Dense):
        return {"kernel": Fans(shape[0], shape[1])}
    if isinstance(layer, _DEPTHWISE_LAYERS):
        return {"kernel": _depthwise_fans(shape)}
    receptive_field = math.prod(shape[:-2])
    if isinstance(layer, _TRANSPOSE_CONV_LAYERS):
        # Kernel is (*k, out_channels, in_channels).
        return {"kernel": Fans(receptive_field * shape[-1], receptive_field * shape[-2])}
    # Regular convolution, kernel (*k, in_channels / groups, filters).
    groups = int(getattr(layer, "groups", 1) or 1)
    return {
        "kernel": Fans(receptive_field * shape[-2], receptive_field * shape[-1] // groups)
    }
