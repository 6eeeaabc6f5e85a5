"""Very deep vanilla CNNs (Xiao et al. 2018) that build and compile in seconds at any depth.

The net of Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington 2018 ("Dynamical Isometry
and a Mean Field Theory of CNNs", Sec. 5): strided convolutions to downsample, then
`depth` identical 3x3 convolution + tanh layers without BatchNorm or shortcuts, global
average pooling and a dense readout. The `depth` identical layers are one Keras layer,
`StackedConvolution`, holding a stacked kernel (depth, k, k, C, C) and biases (depth, C)
applied with `keras.ops.scan`: the graph holds one convolution whatever the depth,
so building and compiling take the same time at 10 layers as at 10,000.
"""

import keras
from keras import ops

from initializers import compute_fans, fresh_initializer, get, layer_seed
from initializers._base import validate_seed
from initializers.reinit import resolve_bias_initializer
from initializers.variance_scaling import VarianceScalingBase

from models._checks import (
    check_odd_kernel_size,
    check_positive_ints,
    check_readout_and_downsampling,
    check_stem_channels,
)

PADDINGS = ("circular", "same")
READOUTS = ("average", "flatten")


def _circular_pad(x, before, after):
    """Pads the two spatial axes of a (batch, height, width, channels) tensor by wrapping
    around: the padding Xiao et al. use, under which a delta-orthogonal or
    convolution-orthogonal kernel is an exact isometry."""
    for axis in (1, 2):
        size = x.shape[axis]
        head = ops.take(x, list(range(size - before, size)), axis=axis)
        tail = ops.take(x, list(range(after)), axis=axis)
        x = ops.concatenate([head, x, tail], axis=axis)
    return x


@keras.saving.register_keras_serializable(package="models")
class StackedInitializer(keras.initializers.Initializer):
    """Draws a (depth, *kernel) tensor whose slices are independent draws of `initializer`
    with the fans of one slice, as `depth` separate layers would get them: in one call for
    i.i.d. rules (variance scaling) and for the orthogonal families (`stack`: one batched
    QR), else slice by slice, each with its own instance (`initializers.fresh_initializer`,
    seeds derived from `seed`)."""

    def __init__(self, initializer, seed=None):
        self.initializer = get(initializer)
        self.seed = validate_seed(seed)

    def __call__(self, shape, dtype=None):
        depth, slice_shape = shape[0], tuple(shape[1:])
        if hasattr(self.initializer, "stack"):  # orthogonal families: one batched draw
            return fresh_initializer(self.initializer, 0, self.seed).stack(depth, slice_shape, dtype)
        if isinstance(self.initializer, VarianceScalingBase) and self.seed is not None:
            # i.i.d. draws: one call for every slice (the fans are one slice's).
            fan_in, fan_out = compute_fans(slice_shape)
            one = fresh_initializer(self.initializer, 0, self.seed)
            return one.sample(tuple(shape), fan_in, fan_out, dtype=dtype)
        slices = [fresh_initializer(self.initializer, index, self.seed)(slice_shape, dtype=dtype)
                  for index in range(depth)]
        return ops.stack(slices, axis=0)

    def get_config(self):
        return {"initializer": keras.saving.serialize_keras_object(self.initializer), "seed": self.seed}


@keras.saving.register_keras_serializable(package="models")
class StackedConvolution(keras.layers.Layer):
    """`depth` identical layers x -> activation(conv(x, W_l) + b_l), channels in = out.

    One stacked kernel (depth, k, k, C, C) and biases (depth, C), applied by
    `keras.ops.scan` (one step per layer), so the graph does not grow with depth; every
    backend.

    Args:
        depth: number of convolution layers.
        kernel_size: odd spatial size k of every kernel.
        activation: the nonlinearity after every layer (Xiao et al.: tanh).
        kernel_initializer: any identifier `initializers.get` accepts, drawn slice by slice
            with one slice's fans (`StackedInitializer`).
        bias_initializer: the biases' distribution (sigma_b of mean-field theory): a Keras
            name ("zeros", "keras.RandomNormal" dicts), one of ours, or a number (a constant).
        padding: "circular" (Xiao et al.) or "same" (zeros).
        seed: base seed of the per-slice draws (None: fresh draws).
    """

    def __init__(self, depth, kernel_size=3, activation="tanh", kernel_initializer="delta_orthogonal",
                 bias_initializer="zeros", padding="circular", seed=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_ints(depth=depth)
        check_odd_kernel_size(kernel_size)
        if padding not in PADDINGS:
            raise ValueError(f"`padding` must be one of {PADDINGS}. Received: padding={padding!r}")
        self.depth, self.kernel_size, self.padding, self.seed = depth, kernel_size, padding, seed
        # `initialize_weights`, LSUV and the doctor draw the kernel slice by slice.
        self.kernel_slices = depth
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = get(kernel_initializer)
        self.bias_initializer = resolve_bias_initializer(bias_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        k = self.kernel_size
        self.kernel = self.add_weight(shape=(self.depth, k, k, channels, channels), name="kernel",
                                      initializer=StackedInitializer(self.kernel_initializer, self.seed))
        self.bias = self.add_weight(shape=(self.depth, channels), name="bias", initializer=self.bias_initializer)

    def call(self, inputs):
        half = self.kernel_size // 2

        def layer(x, weights):
            kernel, bias = weights
            if self.padding == "circular":
                x = _circular_pad(x, half, half)
            conv = ops.conv(x, kernel, strides=1, padding="valid" if self.padding == "circular" else "same")
            return self.activation(conv + bias), None

        # `scan` hands each step its own slice of the stacked weights, and its gradient
        # stacks the slices' gradients; indexing the stack in a `fori_loop` instead makes
        # TensorFlow add a dense full-stack gradient at every step (O(depth^2): 95 s per
        # update at 10,000 layers vs 15 s with JAX, measured).
        weights = (ops.convert_to_tensor(self.kernel), ops.convert_to_tensor(self.bias))  # JAX scans arrays
        outputs, _ = ops.scan(layer, inputs, weights)
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth": self.depth, "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.saving.serialize_keras_object(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "padding": self.padding, "seed": self.seed}


def VanillaCNN(
    depth,
    channels=64,
    input_shape=(28, 28, 1),
    num_classes=10,
    downsampling=2,
    kernel_size=3,
    activation="tanh",
    kernel_initializer="delta_orthogonal",
    bias_initializer="zeros",
    padding="circular",
    seed=None,
    readout="average",
    name="vanilla_cnn",
):
    """Xiao et al. 2018's vanilla CNN: `downsampling` stride-2 convolutions (the first
    maps the input's channels to `channels`), `depth` identical convolutions
    (`StackedConvolution`), global average pooling (or a flatten), a dense readout (logits).

    Example:

    >>> model = VanillaCNN(1000, channels=16, input_shape=(28, 28, 1))  # builds in seconds
    >>> model.output_shape
    (None, 10)

    Args:
        depth: the identical layers (Xiao et al. train 1,250 to 10,000).
        channels: C of every identical layer (their MNIST demo: 64).
        input_shape, num_classes: the data's.
        downsampling: stride-2 convolutions before the identical layers (0 or more).
        kernel_size, activation, kernel_initializer, bias_initializer, padding, seed: of
            every convolution (see `StackedConvolution`; the strided ones use the same
            initializer, "same" zero padding, and their own seeds).
        readout: "average" (global average pooling, Xiao et al.) or "flatten" (every
            position feeds the dense readout). Near the critical point with a small
            sigma_b^2 the identical layers are close to linear, and a linear circular
            convolution commutes with spatial averaging: after "average" the logits see
            little more than the channel means of the stack's input until training makes
            the layers nonlinear; "flatten" keeps the positions (a faster-learning
            miniature for small budgets).
        name: model name.
    """
    check_readout_and_downsampling(readout, READOUTS, downsampling)
    base = validate_seed(seed)
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for index in range(downsampling):
        # The first strided convolution reads the input's channels (c_in <= C).
        initializer = fresh_initializer(get(kernel_initializer), index, base)
        bias = fresh_initializer(resolve_bias_initializer(bias_initializer), index, base, stream=1)
        x = keras.layers.Conv2D(channels, kernel_size, strides=2, padding="same", activation=activation,
                                kernel_initializer=initializer, bias_initializer=bias,
                                name=f"downsample_{index}")(x)
    check_stem_channels(downsampling, input_shape, channels)
    x = StackedConvolution(depth, kernel_size, activation, kernel_initializer, bias_initializer, padding,
                           seed=None if base is None else layer_seed(base, downsampling), name="identical_layers")(x)
    if readout == "average":
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
