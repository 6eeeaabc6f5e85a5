"""Very deep residual CNNs, with or without normalization, that build in seconds at any depth.

The CIFAR ResNet of He et al. 2016 as Zhang, Dauphin & Ma 2019 (Fixup, Fig. 2 and its
code) train it without normalization, shrunk for a CPU: stride-2 convolutions to downsample,
then `blocks` identical basic blocks x <- relu(x + branch(x)), branch(x) = conv2(relu(conv1
(x))) (3x3, channels in = out, no biases: ResNet's convolutions have none), global average
pooling (or a flatten) and a dense readout. The blocks are one Keras layer, `ResidualStack`,
holding stacked kernels (blocks, k, k, C, C) applied with `keras.ops.scan` as
`models.StackedConvolution` does: the graph holds one block whatever the depth.

Options of every block (the rows of the Fixup reproduction):
* `normalization="batch"`: conv -> BatchNorm in the branch (conv1-BN-relu-conv2-BN), the
  baseline, with batch statistics in training and moving averages (momentum 0.9, PyTorch's
  0.1) at inference;
* `scalars="multiplier"`: a learnable scalar at the end of every branch,
  `multiplier_initial` at init: SkipInit (De & Smith 2020, alpha = 0 or small) and ReZero
  (Bachlechner et al. 2020, alpha = 0);
* `scalars="fixup"`: Fixup's multiplier (1 at init) and scalar biases (0 at init) before
  each convolution and activation of the branch and before the merge (Zhang et al. 2019,
  Sec. 3; their code's `FixupBasicBlock`), and one before the readout.
The weights themselves are drawn by `kernel_initializer`, or afterwards by
`initializers.initialize_weights(model, method)`, which reads the stack's branches
(`residual_branch_kernels`) for method "fixup".
"""

import math

import keras
from keras import ops

from initializers import ScalarBias, fresh_initializer, get, layer_seed
from initializers._base import validate_seed

from models._checks import (
    check_odd_kernel_size,
    check_positive_ints,
    check_readout_and_downsampling,
    check_stem_channels,
)
from models.vanilla_cnn import READOUTS, StackedInitializer

NORMALIZATIONS = (None, "batch")
SCALARS = (None, "multiplier", "fixup")
# PyTorch's BatchNorm defaults (momentum 0.1 there = 0.9 here; eps 1e-5), as in the code of
# the ResNets Fixup compares against: after a short budget the moving averages have
# caught up with the batch statistics (0.9^100 ~ 3e-5 of the start is left).
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5
FIXUP_BIASES = 4  # before conv1, before the relu, before conv2, before the merge


@keras.saving.register_keras_serializable(package="models")
class ResidualStack(keras.layers.Layer):
    """`blocks` identical basic blocks x <- relu(x + branch(x)), channels in = out.

    branch(x) = conv2(relu(conv1(x))) with 3x3 "same" convolutions without biases; with
    `normalization="batch"` each convolution is followed by BatchNorm; with
    `scalars="multiplier"` the branch ends with a learnable scalar (`multiplier_initial`);
    with `scalars="fixup"` with Fixup's scalar multiplier and four scalar biases. Applied
    by `keras.ops.scan` (one step per block), so the graph does not grow with depth.

    For `initialize_weights`: the stacked kernels `kernel_in` and `kernel_out` are drawn
    slice by slice (`stacked_kernels`, `kernel_slices`); slice i of both is residual branch
    i (`residual_branch_kernels`, what method "fixup" scales and zeroes); the scalars and
    BatchNorm's weights are left as they are (`unchanged_weights`), except that "fixup" sets
    the scalars (`fixup_scalars`).

    Args:
        blocks: number of residual blocks (2 weight layers each).
        kernel_size: odd spatial size of every kernel.
        normalization: None or "batch".
        scalars: None, "multiplier" or "fixup".
        multiplier_initial: the multipliers' value at init with `scalars="multiplier"`.
        kernel_initializer: any identifier `initializers.get` accepts, drawn slice by slice.
        seed: base seed of the per-slice draws (None: fresh draws).
    """

    stacked_kernels = ("kernel_in", "kernel_out")
    residual_branch_kernels = ("kernel_in", "kernel_out")

    def __init__(self, blocks, kernel_size=3, normalization=None, scalars=None, multiplier_initial=1.0,
                 kernel_initializer="he_normal", seed=None, **kwargs):
        super().__init__(**kwargs)
        check_positive_ints(blocks=blocks)
        check_odd_kernel_size(kernel_size)
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"`normalization` must be one of {NORMALIZATIONS}. Received: normalization={normalization!r}")
        if scalars not in SCALARS:
            raise ValueError(f"`scalars` must be one of {SCALARS}. Received: scalars={scalars!r}")
        self.blocks, self.kernel_size = blocks, kernel_size
        self.normalization, self.scalars = normalization, scalars
        self.multiplier_initial = float(multiplier_initial)
        self.kernel_initializer = get(kernel_initializer)
        self.seed = validate_seed(seed)
        self.kernel_slices = blocks
        self.activation = keras.activations.get("relu")  # what both kernels' outputs meet (for "auto")

    def build(self, input_shape):
        channels, k, blocks = input_shape[-1], self.kernel_size, self.blocks
        shape = (blocks, k, k, channels, channels)
        base = self.seed
        self.kernel_in = self.add_weight(shape=shape, name="kernel_in", initializer=StackedInitializer(
            self.kernel_initializer, None if base is None else layer_seed(base, 0)))
        self.kernel_out = self.add_weight(shape=shape, name="kernel_out", initializer=StackedInitializer(
            self.kernel_initializer, None if base is None else layer_seed(base, 1)))
        self.unchanged_weights = []
        self.norm_weights = {}
        if self.normalization == "batch":
            for which in ("in", "out"):
                for name, value, trainable in (("gamma", "ones", True), ("beta", "zeros", True),
                                               ("moving_mean", "zeros", False), ("moving_variance", "ones", False)):
                    variable = self.add_weight(shape=(blocks, channels), name=f"{name}_{which}", initializer=value,
                                               trainable=trainable)
                    self.norm_weights[f"{name}_{which}"] = variable
                    self.unchanged_weights.append(variable)
        self.multiplier = self.fixup_biases = None
        if self.scalars is not None:
            initial = 1.0 if self.scalars == "fixup" else self.multiplier_initial
            self.multiplier = self.add_weight(shape=(blocks,), name="multiplier",
                                              initializer=keras.initializers.Constant(initial))
            self.unchanged_weights.append(self.multiplier)
        if self.scalars == "fixup":
            self.fixup_biases = self.add_weight(shape=(blocks, FIXUP_BIASES), name="fixup_biases", initializer="zeros")
            self.unchanged_weights.append(self.fixup_biases)

    def fixup_scalars(self):
        """[(variable, value)] that `initialize_weights(model, "fixup")` sets: the
        multipliers to 1, the scalar biases to 0 (Zhang et al. 2019, Sec. 3)."""
        found = []
        if self.multiplier is not None:
            found.append((self.multiplier, 1.0))
        if self.fixup_biases is not None:
            found.append((self.fixup_biases, 0.0))
        return found

    def _slices(self, training):
        """The per-block weights handed to the scan, by name (arrays: JAX scans arrays)."""
        names = ["kernel_in", "kernel_out"]
        if self.normalization == "batch":
            names += ["gamma_in", "beta_in", "gamma_out", "beta_out"]
            if not training:
                names += ["moving_mean_in", "moving_variance_in", "moving_mean_out", "moving_variance_out"]
        if self.multiplier is not None:
            names.append("multiplier")
        if self.fixup_biases is not None:
            names.append("fixup_biases")
        variables = {**self.norm_weights, "kernel_in": self.kernel_in, "kernel_out": self.kernel_out,
                     "multiplier": self.multiplier, "fixup_biases": self.fixup_biases}
        return names, tuple(ops.convert_to_tensor(variables[name]) for name in names)

    def call(self, inputs, training=False):
        training = bool(training)
        names, weights = self._slices(training)
        batch_norm = self.normalization == "batch"

        def normalize(h, w, which):
            if training:
                mean, variance = ops.moments(h, axes=[0, 1, 2])
            else:
                mean, variance = w[f"moving_mean_{which}"], w[f"moving_variance_{which}"]
            h = (h - mean) * ops.rsqrt(variance + BATCH_NORM_EPSILON)
            return h * w[f"gamma_{which}"] + w[f"beta_{which}"], (mean, variance)

        def block(carry, sliced):
            x, statistics = carry if isinstance(carry, tuple) else (carry, None)
            index, w = sliced[0], dict(zip(names, sliced[1:]))
            bias = (lambda h, i: h + w["fixup_biases"][i]) if self.scalars == "fixup" else (lambda h, i: h)
            moments = []
            h = ops.conv(bias(x, 0), w["kernel_in"], strides=1, padding="same")
            if batch_norm:
                h, found = normalize(h, w, "in")
                moments += found
            h = ops.relu(bias(h, 1))
            h = ops.conv(bias(h, 2), w["kernel_out"], strides=1, padding="same")
            if batch_norm:
                h, found = normalize(h, w, "out")
                moments += found
            if self.multiplier is not None:
                h = h * w["multiplier"]
            h = bias(h, 3)
            if statistics is not None:
                # The block's batch moments into row `index` of the carried (blocks, 4, C) array:
                # Keras's scan wants per-step outputs shaped like the carry, so they ride in it.
                found = ops.stop_gradient(ops.stack(moments)[None])
                statistics = ops.stop_gradient(
                    ops.slice_update(statistics, (index, 0, 0), ops.cast(found, statistics.dtype)))
            x = ops.relu(x + h)
            return ((x, statistics) if statistics is not None else x), None

        indices = ops.arange(self.blocks, dtype="int32")
        if not (batch_norm and training):
            outputs, _ = ops.scan(block, inputs, (indices, *weights))
            return outputs
        statistics = ops.zeros((self.blocks, 4, inputs.shape[-1]), dtype=inputs.dtype)
        (outputs, statistics), _ = ops.scan(block, (inputs, statistics), (indices, *weights))
        # One update of the moving averages per call, as keras.layers.BatchNormalization does.
        momentum = BATCH_NORM_MOMENTUM
        for column, name in enumerate(("moving_mean_in", "moving_variance_in", "moving_mean_out",
                                       "moving_variance_out")):
            variable = self.norm_weights[name]
            batch_value = ops.cast(statistics[:, column], variable.dtype)
            variable.assign(variable * momentum + batch_value * (1 - momentum))
        return outputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "blocks": self.blocks, "kernel_size": self.kernel_size,
                "normalization": self.normalization, "scalars": self.scalars,
                "multiplier_initial": self.multiplier_initial,
                "kernel_initializer": keras.saving.serialize_keras_object(self.kernel_initializer),
                "seed": self.seed}


def weight_layers_of(blocks, downsampling=3):
    """Weight layers of a `ResidualCNN`: the stem's convolutions, 2 per block, the readout."""
    return downsampling + 2 * blocks + 1


def blocks_for(weight_layers, downsampling=3):
    """The number of blocks of a `ResidualCNN` with `weight_layers` weight layers."""
    blocks = (weight_layers - downsampling - 1) / 2
    if blocks < 1 or blocks != int(blocks):
        raise ValueError(f"A ResidualCNN with {downsampling} downsampling convolutions has {downsampling + 1} + "
                         f"2 x blocks weight layers (blocks >= 1). Received: weight_layers={weight_layers}")
    return int(blocks)


def ResidualCNN(
    blocks,
    channels=16,
    input_shape=(28, 28, 1),
    num_classes=10,
    downsampling=3,
    normalization=None,
    scalars=None,
    multiplier_initial=1.0,
    kernel_initializer="he_normal",
    readout="average",
    seed=None,
    name="residual_cnn",
):
    """Stride-2 convolutions -> `blocks` basic residual blocks (`ResidualStack`) -> pooling
    (or flatten) -> dense logits: `weight_layers_of(blocks, downsampling)` weight layers.

    Example:

    >>> model = ResidualCNN(500, channels=8, scalars="fixup")   # 1,004 weight layers, built in seconds
    >>> print(initializers.initialize_weights(model, "fixup", seed=0))

    Args:
        blocks: residual blocks (Fixup's Fig. 2 goes to 10,000 layers: 5,000 blocks).
        channels: C of every block (the stem's first convolution maps the input to C).
        input_shape, num_classes: the data's.
        downsampling: stride-2 convolutions (3x3, "same", relu; with BatchNorm before the
            relu under `normalization="batch"`) before the blocks.
        normalization, scalars, multiplier_initial: of every block (see `ResidualStack`;
            BatchNorm also follows the stem's convolutions; with `scalars="fixup"` a
            scalar bias comes before the readout, as in Fixup's code).
        kernel_initializer: identifier of every kernel (one fresh instance per layer or
            slice); re-draw with `initialize_weights` for Fixup.
        readout: "average" (global average pooling, the paper's ResNet) or "flatten".
        seed: base seed of the draws (None: fresh).
        name: model name.
    """
    check_readout_and_downsampling(readout, READOUTS, downsampling)
    check_positive_ints(channels=channels, num_classes=num_classes)
    base = validate_seed(seed)
    check_stem_channels(downsampling, input_shape, channels)
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for index in range(downsampling):
        initializer = fresh_initializer(get(kernel_initializer), index, base)
        x = keras.layers.Conv2D(channels, 3, strides=2, padding="same", use_bias=False,
                                kernel_initializer=initializer, name=f"downsample_{index}")(x)
        if normalization == "batch":
            x = keras.layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON,
                                                name=f"downsample_{index}_norm")(x)
        x = keras.layers.ReLU(name=f"downsample_{index}_relu")(x)
    x = ResidualStack(blocks, 3, normalization, scalars, multiplier_initial, kernel_initializer,
                      seed=None if base is None else layer_seed(base, downsampling), name="blocks")(x)
    x = (keras.layers.GlobalAveragePooling2D(name="pool") if readout == "average"
         else keras.layers.Flatten(name="flatten"))(x)
    if scalars == "fixup":
        x = ScalarBias(name="readout_bias")(x)
    initializer = fresh_initializer(get(kernel_initializer), downsampling + 1, base)
    logits = keras.layers.Dense(num_classes, kernel_initializer=initializer, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def skipinit_multiplier(blocks):
    """SkipInit's small multiplier, 1/sqrt(blocks): what BatchNorm does to a branch at
    initialization relative to the skip, by De & Smith 2020's analysis (the variance of
    the stream after d blocks grows like d, so the normalized branch is ~1/sqrt(d) of it)."""
    return 1.0 / math.sqrt(blocks)
